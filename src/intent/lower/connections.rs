//! Connections: one pair of rules (egress at the source, ingress at the destination) per declared flow.

use crate::error::Diagnostic;
use crate::intent::{
    LabelSelector, Namespaces, Passthrough, Peer, Policy, PolicyRole, PortMatch, Rule, RulePurpose,
};
use crate::values::types::Endpoint;
use crate::vocab::naming;
use crate::vocab::source::KeyPath;

use super::*;

impl Cx<'_> {
    /// Cross-namespace connections: an egress policy at the source, an ingress policy at the
    /// destination, each selecting only the pods of its side.
    pub(super) fn connections(&mut self, out: &mut Vec<Policy>) {
        let values = &self.loaded.values;
        for (i, c) in values.connections.iter().enumerate() {
            let path = KeyPath::default().key("connections").index(i);
            let name = c.name.as_ref().map_or_else(|| format!("connection-{i}"), |n| n.0.clone());
            let from = self.endpoint_selector(&c.from, &path.key("from"));
            let to = self.endpoint_selector(&c.to, &path.key("to"));
            let (Some(from), Some(to)) = (from, to) else { continue };
            if let Some(diagnostic) = self.crosses_tenants(&c.from.namespace.0, &c.to.namespace.0, &path) {
                self.problems.push(diagnostic);
                continue;
            }
            let mut ports: Vec<PortMatch> = c.ports.iter().map(|p| p.0.clone()).collect();
            ports.sort();
            ports.dedup();
            let origin = self.origin(&path);
            let side = |ns: &str, pods: &LabelSelector, rule_name: String| Rule {
                peers: vec![Peer::Pods {
                    namespaces: Namespaces::Matching(LabelSelector::namespace_named(ns)),
                    pods: pods.clone(),
                }],
                ports: ports.clone(),
                name: naming::fit(&rule_name),
                purpose: RulePurpose::Plain,
                origin: origin.clone(),
            };
            let egress = side(&c.to.namespace.0, &to, format!("to-{}", c.to.namespace.0));
            let ingress = side(&c.from.namespace.0, &from, format!("from-{}", c.from.namespace.0));
            out.push(Policy {
                name: naming::join(&[&name, "to", &c.to.namespace.0]),
                namespace: c.from.namespace.0.clone(),
                role: PolicyRole::Allow,
                subject: from,
                ingress: None,
                egress: Some(vec![egress]),
                passthrough: Passthrough::default(),
                description: format!("connection {name}: egress side"),
                origin: origin.clone(),
            });
            out.push(Policy {
                name: naming::join(&[&name, "from", &c.from.namespace.0]),
                namespace: c.to.namespace.0.clone(),
                role: PolicyRole::Allow,
                subject: to,
                ingress: Some(vec![ingress]),
                egress: None,
                passthrough: Passthrough::default(),
                description: format!("connection {name}: ingress side"),
                origin,
            });
        }
    }

    pub(super) fn endpoint_selector(&mut self, e: &Endpoint, path: &KeyPath) -> Option<LabelSelector> {
        let values = &self.loaded.values;
        match (&e.workload, &e.pod_labels) {
            (Some(_), Some(_)) => {
                let origin = self.origin(path);
                self.problems
                    .push(Diagnostic::new("give either `workload` or `podLabels`, not both").at(&origin));
                None
            }
            (None, Some(labels)) => {
                Some(LabelSelector { match_labels: labels.0.clone(), match_expressions: Vec::new() })
            }
            (None, None) => Some(LabelSelector::default()),
            (Some(name), None) => {
                let in_namespace = values.namespaces.get(&e.namespace.0).and_then(|n| n.workloads.get(name));
                let top = values
                    .workloads
                    .get(name)
                    .filter(|w| w.namespace.as_ref().is_some_and(|n| n.0 == e.namespace.0));
                match in_namespace.or(top) {
                    Some(w) => Some(workload_subject(name, w)),
                    None => {
                        let namespace = &e.namespace.0;
                        // Every declared workload with its namespace: a near name in this
                        // namespace is a typo of the workload; the same name elsewhere, of the
                        // namespace.
                        let mut declared: Vec<(&str, &str)> = values
                            .namespaces
                            .iter()
                            .flat_map(|(ns, n)| n.workloads.keys().map(move |w| (ns.as_str(), w.as_str())))
                            .chain(values.workloads.iter().filter_map(|(w, v)| {
                                v.namespace.as_ref().map(|ns| (ns.0.as_str(), w.as_str()))
                            }))
                            .collect();
                        declared.sort_unstable();
                        let here: Vec<&str> =
                            declared.iter().filter(|(ns, _)| ns == namespace).map(|(_, w)| *w).collect();
                        let elsewhere: Vec<&str> =
                            declared.iter().filter(|(_, w)| w == name).map(|(ns, _)| *ns).collect();
                        let (key, help) = match (
                            crate::values::de::close_match(name, &here),
                            elsewhere.first(),
                        ) {
                            (Some(near), _) => ("workload", Some(format!("did you mean `{near}`?"))),
                            (None, Some(ns)) => (
                                "namespace",
                                Some(format!(
                                    "workload `{name}` is declared in namespace `{ns}`; did you mean `namespace: {ns}`?"
                                )),
                            ),
                            (None, None) if here.is_empty() => ("workload", None),
                            (None, None) => (
                                "workload",
                                Some(format!(
                                    "workloads of namespace `{namespace}`: {}",
                                    here.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ")
                                )),
                            ),
                        };
                        let origin = self.origin(&path.key(key));
                        let mut d = Diagnostic::unknown_name(format!(
                            "no workload `{name}` in namespace `{namespace}`"
                        ))
                        .at(&origin);
                        if let Some(help) = help {
                            d = d.with_help(help);
                        }
                        self.problems.push(d);
                        None
                    }
                }
            }
        }
    }
}
