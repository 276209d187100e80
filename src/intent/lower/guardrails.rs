//! Guardrails: cluster-wide denies, their exceptions, and the namespaces they leave out.

use std::collections::BTreeSet;

use crate::error::Diagnostic;
use crate::intent::exceptions::Exception;
use crate::intent::{
    Guardrail, LabelOperator, LabelSelector, Namespaces, Peer, Policy, PortMatch, PortSel, Protocol,
};
use crate::vocab::naming;
use crate::vocab::source::KeyPath;

use super::*;

impl Cx<'_> {
    pub(super) fn guardrails(&mut self) -> Vec<Guardrail> {
        let values = &self.loaded.values;
        let g = &values.guardrails;
        let path = KeyPath::default().key("guardrails");
        let mut out = Vec::new();
        if g.deny_metadata_service {
            let origin = self.origin(&path.key("denyMetadataService"));
            let peers =
                metadata_nets().into_iter().map(|cidr| Peer::Cidr { cidr, except: Vec::new() }).collect();
            out.push(Guardrail {
                name: "deny-metadata-service".to_string(),
                namespaces: LabelSelector::default(),
                pods: LabelSelector::default(),
                ingress_deny: Vec::new(),
                egress_deny: vec![deny_rule("metadata-service", peers, &origin)],
                description: "no pod may reach the cloud metadata service".to_string(),
                origin,
            });
        }
        let needs_tenants = !g.system_namespaces.is_empty() || g.deny_cross_tenant;
        let label = match (&values.cluster.tenant_label, needs_tenants) {
            (_, false) => return out,
            (None, true) => {
                let origin = self.origin(&path);
                self.problems.push(
                    Diagnostic::new("tenant guardrails need to know which namespaces are tenants")
                        .at(&origin)
                        .with_help("set cluster.tenantLabel (e.g. `netpol.io/tenant`) and give tenant namespaces that label under namespaces.<name>.labels"),
                );
                return out;
            }
            (Some(label), true) => label.clone(),
        };
        if let Err(e) = crate::values::checked::check_label_key(&label) {
            let origin = self.origin(&KeyPath::default().key("cluster").key("tenantLabel"));
            self.problems.push(Diagnostic::new(e).at(&origin));
            return out;
        }
        let tenants = selector_of(vec![expression(&label, LabelOperator::Exists, &[])]);
        if !g.system_namespaces.is_empty() {
            let origin = self.origin(&path.key("systemNamespaces"));
            let names: Vec<&str> = g.system_namespaces.iter().map(|n| n.0.as_str()).collect();
            let system =
                selector_of(vec![expression(crate::intent::NAMESPACE_NAME_LABEL, LabelOperator::In, &names)]);
            out.push(Guardrail {
                name: "system-namespaces-deny-tenants".to_string(),
                namespaces: system.clone(),
                pods: LabelSelector::default(),
                ingress_deny: vec![deny_rule("from-tenants", vec![all_pods_of(tenants.clone())], &origin)],
                egress_deny: Vec::new(),
                description: "system namespaces accept nothing from tenant namespaces".to_string(),
                origin: origin.clone(),
            });
            out.push(Guardrail {
                name: "tenants-deny-system-namespaces".to_string(),
                namespaces: tenants,
                pods: LabelSelector::default(),
                ingress_deny: Vec::new(),
                egress_deny: vec![deny_rule("to-system-namespaces", vec![all_pods_of(system)], &origin)],
                description: "tenant namespaces may not reach system namespaces".to_string(),
                origin,
            });
        }
        if g.deny_cross_tenant {
            let origin = self.origin(&path.key("denyCrossTenant"));
            let tenant_values: BTreeSet<String> =
                values.namespaces.values().filter_map(|n| n.labels.0.get(&label).cloned()).collect();
            if tenant_values.is_empty() {
                self.warnings.push(
                    Diagnostic::suspicious(format!(
                        "guardrails.denyCrossTenant is on but no namespace carries the tenant label `{label}`"
                    ))
                    .at(&origin),
                );
            }
            for tenant in tenant_values {
                let others = selector_of(vec![
                    expression(&label, LabelOperator::Exists, &[]),
                    expression(&label, LabelOperator::NotIn, &[tenant.as_str()]),
                ]);
                out.push(Guardrail {
                    name: naming::join(&["isolate-tenant", &tenant]),
                    namespaces: LabelSelector::from_labels([(label.as_str(), tenant.as_str())]),
                    pods: LabelSelector::default(),
                    ingress_deny: vec![deny_rule(
                        "from-other-tenants",
                        vec![all_pods_of(others.clone())],
                        &origin,
                    )],
                    egress_deny: vec![deny_rule("to-other-tenants", vec![all_pods_of(others)], &origin)],
                    description: format!("tenant {tenant} is isolated from every other tenant"),
                    origin: origin.clone(),
                });
            }
        }
        let exceptions = self.guardrail_exceptions();
        let values = &self.loaded.values;
        let known = |ns: &str| {
            // What the values say of a namespace is all netpol knows; an undeclared namespace
            // carries only its name label (and so is no tenant).
            let mut labels: crate::sorted::SortedMap<String, String> = values
                .namespaces
                .get(ns)
                .map(|n| n.labels.0.clone().into_iter().collect())
                .unwrap_or_default();
            labels.insert(crate::intent::NAMESPACE_NAME_LABEL.to_string(), ns.to_string());
            Some(labels)
        };
        crate::intent::exceptions::apply(out, &exceptions, &known)
    }

    /// What the tenant guardrails leave reachable: cluster DNS on 53/UDP and 53/TCP, then
    /// `guardrails.allow`.
    pub(super) fn guardrail_exceptions(&mut self) -> Vec<Exception> {
        let values = &self.loaded.values;
        let dns = &values.cluster.dns;
        let mut out = vec![Exception {
            name: "dns".to_string(),
            namespaces: LabelSelector::namespace_named(&dns.namespace.0),
            pods: LabelSelector::from_labels(dns.pod_labels.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            ports: vec![
                PortMatch { protocol: Protocol::Udp, port: PortSel::Number(53) },
                PortMatch { protocol: Protocol::Tcp, port: PortSel::Number(53) },
            ],
            origin: self.origin(&KeyPath::default().key("cluster").key("dns")),
        }];
        let path = KeyPath::default().key("guardrails").key("allow");
        for (i, allow) in values.guardrails.allow.iter().enumerate() {
            let at = path.index(i);
            let origin = self.origin(&at);
            let (namespaces, pods) = match &allow.to.0 {
                Peer::Pods { namespaces: Namespaces::Matching(ns), pods } => (ns.clone(), pods.clone()),
                Peer::Pods { namespaces: Namespaces::Own, .. } => {
                    self.problems.push(
                        Diagnostic::new("a guardrail exception needs the namespace of its pods: guardrails are cluster-wide")
                            .at(&self.origin(&at.key("to")))
                            .with_help("add `namespace: NAME` or a `namespaceSelector`"),
                    );
                    continue;
                }
                _ => {
                    self.problems.push(
                        Diagnostic::new("a guardrail exception names pods (`namespace`, `podLabels`, `namespaceSelector`, `podSelector`): the tenant guardrails deny only pods")
                            .at(&self.origin(&at.key("to"))),
                    );
                    continue;
                }
            };
            let mut ports = Vec::new();
            for (j, port) in allow.ports.iter().enumerate() {
                if let PortSel::Named(name) = &port.0.port {
                    self.problems.push(
                        Diagnostic::new(format!("a guardrail exception needs port numbers, not the name `{name}`"))
                            .at(&self.origin(&at.key("ports").index(j)))
                            .with_help("a name is resolved on each pod, so the deny around it could not be computed; write the number"),
                    );
                    continue;
                }
                ports.push(port.0.clone());
            }
            out.push(Exception { name: format!("allow-{i}"), namespaces, pods, ports, origin });
        }
        out
    }

    /// Every CIDR allow excludes what a guardrail denies, so no engine (not even one without
    /// deny rules) renders an allow for a guarded address.
    pub(super) fn apply_guardrail_exclusions(&mut self, guardrails: &[Guardrail], policies: &mut [Policy]) {
        let denied = crate::intent::denied_everywhere(guardrails);
        if denied.is_empty() {
            return;
        }
        for policy in policies.iter_mut() {
            for rule in policy.egress.iter_mut().flatten() {
                for peer in rule.peers.iter_mut() {
                    let Peer::Cidr { cidr, except } = peer else { continue };
                    for d in &denied {
                        if d.contains(&*cidr) {
                            self.problems.push(
                                Diagnostic::conflict(format!(
                                    "egress rule `{}` of `{}/{}` allows {cidr}, which a guardrail denies ({d})",
                                    rule.name, policy.namespace, policy.name
                                ))
                                .at(&rule.origin),
                            );
                        } else if cidr.contains(d) && !except.iter().any(|e| e.contains(d)) {
                            except.push(*d);
                        }
                    }
                    except.sort();
                    except.dedup();
                }
            }
        }
    }
}
