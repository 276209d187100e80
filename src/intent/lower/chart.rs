//! The controller chart of the 004 document (`networkPolicy`), lowered as one workload.

use crate::error::Diagnostic;
use crate::intent::{LabelSelector, Passthrough, Policy, PolicyRole, Protocol, RulePurpose};
use crate::values::types::Values;
use crate::vocab::naming;
use crate::vocab::source::KeyPath;

use super::*;

impl Cx<'_> {
    /// The controller chart of the 004 document, as one workload.
    pub(super) fn chart(&mut self, values: &Values, release: &str, namespace: &str, out: &mut Vec<Policy>) {
        let Some(chart) = &values.network_policy else { return };
        let np = KeyPath::default().key("networkPolicy");
        let name = values.name_override.as_ref().map_or(DEFAULT_CHART_NAME, |n| n.0.as_str());
        let fullname = match &values.fullname_override {
            Some(f) => f.0.clone(),
            None if release.contains(name) => release.to_string(),
            None => format!("{release}-{name}"),
        };
        let fullname = naming::fit(&fullname);
        let subject = match &values.selector_labels {
            Some(labels) => LabelSelector { match_labels: labels.0.clone(), match_expressions: Vec::new() },
            None => LabelSelector::from_labels([
                ("app.kubernetes.io/name", name),
                ("app.kubernetes.io/instance", release),
            ]),
        };

        let mut ingress = Vec::new();
        let toggles = [
            ("webhook", values.webhook.enabled.unwrap_or(true), &chart.webhook.from, &values.ports.webhook),
            ("metrics", true, &chart.metrics.from, &values.ports.metrics),
            ("gate", values.gate.enabled.unwrap_or(false), &chart.gate.from, &values.ports.gate),
        ];
        for (rule_name, enabled, from, port) in toggles {
            let path = np.key(rule_name).key("from");
            if !enabled {
                if !from.is_empty() {
                    let origin = self.origin(&path);
                    self.warnings.push(
                        Diagnostic::suspicious(format!(
                            "`networkPolicy.{rule_name}.from` is set but `{rule_name}.enabled` is false: no {rule_name} rule is rendered"
                        ))
                        .at(&origin),
                    );
                }
                continue;
            }
            let origin = self.origin(&if from.is_empty() {
                KeyPath::default().key("ports").key(rule_name)
            } else {
                path.clone()
            });
            let ports = vec![port_of(port, Protocol::Tcp)];
            ingress.push(self.rule(rule_name, from, ports, origin, RulePurpose::Plain));
        }
        for (i, extra) in chart.additional_ingress.iter().enumerate() {
            let path = np.key("additionalIngress").index(i);
            ingress.push(self.ingress_rule(&format!("additional-ingress-{i}"), extra, &path));
        }
        let egress = self.egress(&chart.egress, &np.key("egress"), true);
        let policy = Policy {
            name: fullname.clone(),
            namespace: namespace.to_string(),
            role: PolicyRole::Allow,
            subject,
            ingress: Some(ingress),
            egress,
            passthrough: self.passthrough([&chart.cilium, &chart.calico, &chart.cluster_network_policy], &np),
            description: format!("allowlist of the {name} pods of release {release}"),
            origin: self.origin(&np),
        };
        let egress_locked = policy.egress.is_some();
        out.push(policy);
        if chart.default_deny.enabled {
            let path = np.key("defaultDeny");
            out.push(Policy {
                name: naming::join(&[&fullname, "default-deny"]),
                namespace: namespace.to_string(),
                role: PolicyRole::DefaultDeny(self.deny_order(chart.default_deny.order, &path.key("order"))),
                subject: LabelSelector::default(),
                ingress: Some(Vec::new()),
                // Egress joins the default-deny only when the controller's own egress is
                // allowlisted; otherwise the deny would silently cut the controller off.
                egress: egress_locked.then(Vec::new),
                passthrough: Passthrough::default(),
                description: format!("namespace default-deny owned by release {release}"),
                origin: self.origin(&path),
            });
        }
    }
}
