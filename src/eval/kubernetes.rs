//! Kubernetes NetworkPolicy semantics (ENGINES.md 2.2): a pod is isolated for a direction when
//! a policy selecting it has that direction in its (inferred) `policyTypes`; an isolated pod
//! accepts a connection iff some rule of some selecting policy matches; a pod-to-pod flow needs
//! the source's egress and the destination's ingress.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use super::{Endpoint, Pod, PortRef, Topology, Verdict};
use crate::error::{Diagnostic, Error, Result};

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy {
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: Spec,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

fn default_namespace() -> String {
    "default".to_string()
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub pod_selector: Selector,
    pub policy_types: Option<Vec<String>>,
    pub ingress: Option<Vec<IngressRule>>,
    pub egress: Option<Vec<EgressRule>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct IngressRule {
    pub from: Option<Vec<PolicyPeer>>,
    pub ports: Option<Vec<PolicyPort>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct EgressRule {
    pub to: Option<Vec<PolicyPeer>>,
    pub ports: Option<Vec<PolicyPort>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPeer {
    pub pod_selector: Option<Selector>,
    pub namespace_selector: Option<Selector>,
    pub ip_block: Option<IpBlock>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IpBlock {
    pub cidr: String,
    #[serde(default)]
    pub except: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPort {
    pub protocol: Option<String>,
    pub port: Option<PortRef>,
    pub end_port: Option<u16>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

impl Selector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator.as_str() {
                    "In" => value.is_some_and(|v| r.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

/// The NetworkPolicies among `objects`; any other kind is not modelled yet and is an error.
pub fn read_policies(objects: &[serde_json::Value]) -> Result<Vec<NetworkPolicy>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for o in objects {
        let api = o.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("");
        let kind = o.get("kind").and_then(|v| v.as_str()).unwrap_or("");
        if (api, kind) != ("networking.k8s.io/v1", "NetworkPolicy") {
            problems.push(Diagnostic::new(format!(
                "{kind} ({api}) is not modelled by the evaluator yet: only networking.k8s.io/v1 NetworkPolicy is"
            )));
            continue;
        }
        match serde_json::from_value::<NetworkPolicy>(o.clone()) {
            Ok(p) => out.push(p),
            Err(e) => problems.push(Diagnostic::new(format!("NetworkPolicy: {e}"))),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(Error::Invalid(problems)) }
}

impl NetworkPolicy {
    /// `policyTypes`, inferred when omitted: Ingress always, Egress if an egress section exists.
    fn applies_to(&self, direction: Direction) -> bool {
        match &self.spec.policy_types {
            Some(types) => types.iter().any(|t| t == direction.as_str()),
            None => direction == Direction::Ingress || self.spec.egress.is_some(),
        }
    }

    fn selects(&self, pod: &Pod) -> bool {
        self.metadata.namespace == pod.namespace && self.spec.pod_selector.matches(&pod.labels)
    }
}

/// One rule seen direction-independently: its peers and its ports.
type RuleView<'a> = (Option<&'a Vec<PolicyPeer>>, Option<&'a Vec<PolicyPort>>);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }
}

/// Judge one flow: egress at the source, then ingress at the destination.
pub fn evaluate(
    policies: &[NetworkPolicy],
    topology: &Topology,
    from: &Endpoint<'_>,
    to: &Endpoint<'_>,
    port: &PortRef,
    protocol: &str,
) -> Verdict {
    let mut reasons = Vec::new();
    let egress = match from {
        Endpoint::Pod(p) if !p.host_network => {
            direction(policies, topology, p, to, Direction::Egress, to, port, protocol, &mut reasons)
        }
        _ => {
            reasons.push("egress: the source is not a pod, no policy applies".to_string());
            true
        }
    };
    if !egress {
        return Verdict { allowed: false, reasons };
    }
    let ingress = match to {
        Endpoint::Pod(p) if !p.host_network => {
            direction(policies, topology, p, from, Direction::Ingress, to, port, protocol, &mut reasons)
        }
        _ => {
            reasons.push("ingress: the destination is not a pod, no policy applies".to_string());
            true
        }
    };
    Verdict { allowed: ingress, reasons }
}

/// The verdict of `subject`'s policies for traffic with `peer` in one direction. `destination`
/// is where named ports resolve.
#[allow(clippy::too_many_arguments)]
fn direction(
    policies: &[NetworkPolicy],
    topology: &Topology,
    subject: &Pod,
    peer: &Endpoint<'_>,
    dir: Direction,
    destination: &Endpoint<'_>,
    port: &PortRef,
    protocol: &str,
    reasons: &mut Vec<String>,
) -> bool {
    let word = dir.as_str().to_ascii_lowercase();
    let selecting: Vec<&NetworkPolicy> =
        policies.iter().filter(|p| p.selects(subject) && p.applies_to(dir)).collect();
    if selecting.is_empty() {
        reasons.push(format!("{word}: {}/{} is not isolated for {word}", subject.namespace, subject.name));
        return true;
    }
    for policy in &selecting {
        let rules: Vec<RuleView<'_>> = match dir {
            Direction::Ingress => {
                policy.spec.ingress.iter().flatten().map(|r| (r.from.as_ref(), r.ports.as_ref())).collect()
            }
            Direction::Egress => {
                policy.spec.egress.iter().flatten().map(|r| (r.to.as_ref(), r.ports.as_ref())).collect()
            }
        };
        for (i, (peers, ports)) in rules.into_iter().enumerate() {
            let peer_ok = peers.is_none_or(|ps| {
                ps.is_empty()
                    || ps.iter().any(|p| peer_matches(p, &policy.metadata.namespace, topology, peer))
            });
            let port_ok = ports.is_none_or(|ps| {
                ps.is_empty() || ps.iter().any(|p| port_matches(p, destination, port, protocol))
            });
            if peer_ok && port_ok {
                reasons.push(format!(
                    "{word}: allowed by {}/{} {word}[{i}]",
                    policy.metadata.namespace, policy.metadata.name
                ));
                return true;
            }
        }
    }
    let names: Vec<String> =
        selecting.iter().map(|p| format!("{}/{}", p.metadata.namespace, p.metadata.name)).collect();
    reasons.push(format!("{word}: denied: isolated by {} and no rule matches", names.join(", ")));
    false
}

fn peer_matches(
    peer: &PolicyPeer,
    policy_namespace: &str,
    topology: &Topology,
    endpoint: &Endpoint<'_>,
) -> bool {
    if let Some(block) = &peer.ip_block {
        // Implementation-defined for pod IPs; this model matches any address (as Calico does).
        let Some(ip) = endpoint.ip() else { return false };
        return in_block(block, ip);
    }
    let Endpoint::Pod(pod) = endpoint else { return false };
    if pod.host_network {
        return false;
    }
    let namespace_ok = match &peer.namespace_selector {
        Some(sel) => sel.matches(&topology.namespace_labels(&pod.namespace)),
        None => pod.namespace == policy_namespace,
    };
    let pod_ok = peer.pod_selector.as_ref().is_none_or(|sel| sel.matches(&pod.labels));
    (peer.namespace_selector.is_some() || peer.pod_selector.is_some()) && namespace_ok && pod_ok
}

fn in_block(block: &IpBlock, ip: IpAddr) -> bool {
    let Ok(cidr) = block.cidr.parse::<IpNet>() else { return false };
    cidr.contains(&ip)
        && !block.except.iter().filter_map(|e| e.parse::<IpNet>().ok()).any(|e| e.contains(&ip))
}

fn port_matches(p: &PolicyPort, destination: &Endpoint<'_>, port: &PortRef, protocol: &str) -> bool {
    if p.protocol.as_deref().unwrap_or("TCP") != protocol {
        return false;
    }
    // The flow's port as a number, resolving a name on the destination pod.
    let resolve = |name: &str| match destination {
        Endpoint::Pod(pod) => pod
            .ports
            .iter()
            .find(|c| c.name.as_deref() == Some(name) && c.protocol == protocol)
            .map(|c| c.port),
        Endpoint::Address(_) => None,
    };
    let flow_port = match port {
        PortRef::Number(n) => Some(*n),
        PortRef::Name(name) => resolve(name),
    };
    match &p.port {
        None => true,
        Some(PortRef::Number(start)) => {
            flow_port.is_some_and(|n| n >= *start && n <= p.end_port.unwrap_or(*start).max(*start))
        }
        // A named port in a rule resolves on the destination; unresolvable allows nothing.
        Some(PortRef::Name(name)) => match (resolve(name), flow_port) {
            (Some(resolved), Some(n)) => resolved == n,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{FlowSpec, judge, read_objects, read_topology};

    const TOPOLOGY: &str = r#"
namespaces:
  - {name: shop, labels: {team: a}}
  - {name: monitoring, labels: {team: ops}}
pods:
  - {namespace: shop, name: web, labels: {app: web}, ip: 10.244.1.10, ports: [{name: http, port: 8080}]}
  - {namespace: shop, name: db, labels: {app: db}, ip: 10.244.1.11, ports: [{name: pg, port: 5432}]}
  - {namespace: monitoring, name: prom, labels: {app: prom}, ip: 10.244.2.10}
  - {namespace: monitoring, name: other, labels: {app: other}, ip: 10.244.2.11}
"#;

    fn verdicts(manifests: &str, flows: &[(&str, &str, PortRef, &str)]) -> Vec<bool> {
        let topology = read_topology(TOPOLOGY, "t").expect("topology");
        let objects = read_objects(manifests, "m").expect("objects");
        let flows: Vec<FlowSpec> = flows
            .iter()
            .map(|(f, t, p, proto)| FlowSpec {
                from: f.to_string(),
                to: t.to_string(),
                port: p.clone(),
                protocol: proto.to_string(),
            })
            .collect();
        judge(&objects, &topology, &flows).expect("judged").into_iter().map(|j| j.allowed).collect()
    }

    use PortRef::{Name, Number};

    #[test]
    fn no_policy_means_open_and_ingress_is_isolated_by_default_types() {
        assert_eq!(verdicts("", &[("monitoring/prom", "shop/web", Number(8080), "TCP")]), [true]);
        let m = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec:\n  podSelector: {}\n";
        assert_eq!(
            verdicts(
                m,
                &[
                    ("monitoring/prom", "shop/web", Number(8080), "TCP"),
                    ("shop/web", "monitoring/prom", Number(9090), "TCP")
                ]
            ),
            [false, true],
            "no policyTypes: Ingress only"
        );
    }

    #[test]
    fn egress_type_is_inferred_from_an_egress_section() {
        let m = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: e, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  egress: []\n";
        assert_eq!(verdicts(m, &[("shop/web", "monitoring/prom", Number(80), "TCP")]), [false]);
    }

    #[test]
    fn namespace_and_pod_selector_in_one_peer_is_and_in_two_is_or() {
        let and = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {team: ops}}\n      podSelector: {matchLabels: {app: prom}}\n";
        let or = and.replace(
            "      podSelector: {matchLabels: {app: prom}}",
            "    - podSelector: {matchLabels: {app: db}}",
        );
        let flows = [
            ("monitoring/prom", "shop/web", Number(8080), "TCP"),
            ("monitoring/other", "shop/web", Number(8080), "TCP"),
            ("shop/db", "shop/web", Number(8080), "TCP"),
        ];
        assert_eq!(verdicts(and, &flows), [true, false, false]);
        assert_eq!(verdicts(&or, &flows), [true, true, true]);
    }

    #[test]
    fn ports_named_ports_end_ports_and_ip_blocks() {
        let m = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: http}]\n  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.244.2.0/24]}}]\n    ports: [{port: 9000, endPort: 9010, protocol: UDP}]\n";
        let flows = [
            ("monitoring/prom", "shop/web", Number(8080), "TCP"),
            ("monitoring/prom", "shop/web", Name("http".into()), "TCP"),
            ("monitoring/prom", "shop/web", Number(8081), "TCP"),
            ("ip:10.1.2.3", "shop/web", Number(9005), "UDP"),
            ("monitoring/prom", "shop/web", Number(9005), "UDP"),
            ("ip:10.1.2.3", "shop/web", Number(9011), "UDP"),
        ];
        assert_eq!(verdicts(m, &flows), [true, true, false, true, false, false]);
    }

    #[test]
    fn both_sides_must_allow() {
        let m = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: e, namespace: monitoring}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: i, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  policyTypes: [Ingress]\n";
        let flows = [
            ("monitoring/prom", "shop/web", Number(8080), "TCP"),
            ("monitoring/prom", "shop/db", Number(5432), "TCP"),
        ];
        assert_eq!(verdicts(m, &flows), [true, false]);
    }

    #[test]
    fn unmodelled_kinds_are_reported() {
        let objects =
            read_objects("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\n", "m")
                .expect("parses");
        assert!(read_policies(&objects).is_err());
    }
}
