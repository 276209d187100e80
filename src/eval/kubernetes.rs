//! Kubernetes NetworkPolicy semantics (ENGINES.md 2.2): a pod is isolated for a direction when
//! a policy selecting it has that direction in its (inferred) `policyTypes`; an isolated pod
//! accepts a connection iff some rule of some selecting policy matches; a pod-to-pod flow needs
//! the source's egress and the destination's ingress. Cilium and Calico reuse the rule matching
//! here for the NetworkPolicies they enforce.

use std::collections::BTreeMap;

use super::labels::SelectorIndex;
use super::{
    Context, Decision, Direction, Endpoint, Flow, Layer, NAMESPACED_ORDER, Outcome, PerDirection, Pod,
    PortRef, Rank, Step,
};
use crate::error::{Diagnostic, Error, Result};
use crate::eval::topology::protocol_text;
use crate::vocab::labels::LabelSelector;
use crate::wire::kubernetes::{IpBlock, NetworkPolicy, PolicyPeer, PolicyPort};

/// Parse the NetworkPolicies among `objects` (all of which must be NetworkPolicies).
pub fn parse(objects: &[&serde_json::Value], warnings: &mut Vec<Diagnostic>) -> Result<Vec<NetworkPolicy>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for o in objects {
        let label = super::object_label(o);
        match super::from_wire::<NetworkPolicy>(o, "", o, &label, warnings) {
            Ok(p) => out.push(p),
            Err(e) => problems.push(e.diagnostic(o, &label)),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(Error::Invalid(problems)) }
}

/// The evaluator layers for a cluster that enforces only NetworkPolicy.
pub(crate) fn layers(
    objects: &[&serde_json::Value],
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<Box<dyn Layer>>> {
    Ok(vec![Box::new(NetworkPolicyLayer::new(parse(objects, warnings)?))])
}

/// All NetworkPolicies of a cluster, indexed by namespace.
#[derive(Debug)]
pub(crate) struct NetworkPolicyLayer {
    /// Sorted by namespace and name, so explanations list policies in a stable order.
    policies: Vec<NetworkPolicy>,
    by_namespace: BTreeMap<String, SelectorIndex>,
    /// The distinct peers of each direction's rules, built when signatures are first asked for.
    peers: std::sync::OnceLock<DistinctPeers>,
}

/// The distinct peers of NetworkPolicy rules, per direction, each with the namespace of its
/// policy.
pub(crate) type DistinctPeers = PerDirection<Vec<(String, PolicyPeer)>>;

/// The distinct peers of `policies`' rules, per direction.
pub(crate) fn distinct_peers<'a>(
    policies: impl IntoIterator<Item = &'a NetworkPolicy> + Clone,
) -> DistinctPeers {
    let of = |dir: Direction| {
        super::classes::distinct(policies.clone().into_iter().flat_map(|p| {
            let peers: Vec<&PolicyPeer> = match dir {
                Direction::Ingress => {
                    p.spec.ingress.iter().flatten().flat_map(|r| r.from.iter().flatten()).collect()
                }
                Direction::Egress => {
                    p.spec.egress.iter().flatten().flat_map(|r| r.to.iter().flatten()).collect()
                }
            };
            peers.into_iter().map(|peer| (p.metadata.namespace.clone(), peer.clone()))
        }))
    };
    PerDirection::from_fn(of)
}

/// The ids of `peers` (of the direction that sees `end` as peer) that match `pod`.
pub(crate) fn push_matching_peers(
    peers: &DistinctPeers,
    ctx: &Context<'_>,
    end: super::End,
    pod: &Pod,
    out: &mut Vec<u32>,
) {
    let list = &peers[end.peer_direction()];
    let endpoint = Endpoint::Pod(pod);
    super::classes::push_matching(list, out, |(namespace, peer)| {
        peer_matches(peer, namespace, ctx, &endpoint)
    });
}

impl NetworkPolicyLayer {
    pub fn new(mut policies: Vec<NetworkPolicy>) -> Self {
        policies.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
        let mut by_namespace: BTreeMap<String, SelectorIndex> = BTreeMap::new();
        for (i, p) in policies.iter().enumerate() {
            by_namespace.entry(p.metadata.namespace.clone()).or_default().insert(&p.spec.pod_selector, i);
        }
        NetworkPolicyLayer { policies, by_namespace, peers: std::sync::OnceLock::new() }
    }

    /// The policies of `pod`'s namespace that select it for `dir`, in no particular order.
    fn selecting_unordered<'a>(
        &'a self,
        ctx: &'a Context<'_>,
        pod: &'a Pod,
        dir: Direction,
    ) -> impl Iterator<Item = &'a NetworkPolicy> + 'a {
        self.by_namespace
            .get(&pod.namespace)
            .into_iter()
            .flat_map(|index| index.candidates(&pod.labels))
            .filter_map(|i| self.policies.get(i))
            .filter(move |p| p.isolates(dir) && p.selects(ctx, pod))
    }
}

impl Layer for NetworkPolicyLayer {
    fn rank(&self) -> Rank {
        Rank { order: NAMESPACED_ORDER, name: "networkpolicy".to_string() }
    }

    fn decision(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Decision {
        self.judge(ctx, dir, flow, None)
    }

    fn signature(&self, ctx: &Context<'_>, end: super::End, pod: &Pod, out: &mut Vec<u32>) -> bool {
        let dir = end.subject_direction();
        let selecting: Vec<u32> = self
            .by_namespace
            .get(&pod.namespace)
            .into_iter()
            .flat_map(|index| index.candidates(&pod.labels))
            .filter(|&i| self.policies.get(i).is_some_and(|p| p.isolates(dir) && p.selects(ctx, pod)))
            .filter_map(|i| u32::try_from(i).ok())
            .collect();
        super::classes::push_sorted(selecting, out);
        let peers = self.peers.get_or_init(|| distinct_peers(&self.policies));
        push_matching_peers(peers, ctx, end, pod, out);
        true
    }

    fn decide(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Outcome {
        super::traced(|trace| self.judge(ctx, dir, flow, trace))
    }
}

impl NetworkPolicyLayer {
    /// The one decision path. With a `trace`, it records the step that decided: the first
    /// policy by name with a matching rule, or every isolating policy. Without one it formats
    /// nothing, allocates nothing and stops at the first match in any order, which decides
    /// the same (NetworkPolicies are additive).
    fn judge(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>, trace: super::Trace<'_>) -> Decision {
        let Some(subject) = flow.subject(dir) else {
            super::record(trace, || Step::builtin(Decision::Pass, "not a pod".into()));
            return Decision::Pass;
        };
        let mut isolating: Vec<&NetworkPolicy> = Vec::new();
        let mut isolated = false;
        let mut first_match: Option<(&NetworkPolicy, usize)> = None;
        for policy in self.selecting_unordered(ctx, subject, dir) {
            isolated = true;
            match policy.matching_rule(ctx, dir, flow) {
                Some(_) if trace.is_none() => return Decision::Allow,
                Some(i) if first_match.is_none_or(|(p, _)| policy.metadata.name < p.metadata.name) => {
                    first_match = Some((policy, i));
                }
                Some(_) => {}
                None if trace.is_some() => isolating.push(policy),
                None => {}
            }
        }
        let decision = match (first_match, isolated) {
            (Some(_), _) => Decision::Allow,
            (None, true) => Decision::Deny,
            (None, false) => Decision::Pass,
        };
        super::record(trace, || match first_match {
            Some((policy, i)) => Step {
                object: policy.label(),
                rule: format!("{}[{i}]", dir.field()),
                decision,
                note: "the rule matches".to_string(),
            },
            None if isolated => {
                isolating.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
                Step {
                    object: isolating.iter().map(|p| p.label()).collect::<Vec<_>>().join(", "),
                    rule: String::new(),
                    decision,
                    note: format!("isolated for {} and no rule matches", dir.field()),
                }
            }
            None => Step::builtin(
                decision,
                format!(
                    "no NetworkPolicy isolates {}/{} for {}",
                    subject.namespace,
                    subject.name,
                    dir.field()
                ),
            ),
        });
        decision
    }
}

impl NetworkPolicy {
    pub fn label(&self) -> String {
        format!("NetworkPolicy {}/{}", self.metadata.namespace, self.metadata.name)
    }

    /// `policyTypes`, inferred when omitted: Ingress always, Egress if an egress section exists.
    pub fn isolates(&self, dir: Direction) -> bool {
        match &self.spec.policy_types {
            Some(types) => types.iter().any(|t| t == dir.as_str()),
            None => dir == Direction::Ingress || self.spec.egress.is_some(),
        }
    }

    pub(crate) fn selects(&self, ctx: &Context<'_>, pod: &Pod) -> bool {
        self.metadata.namespace == pod.namespace && selects_pod(ctx, &self.spec.pod_selector, pod)
    }

    /// The index of the first rule for `dir` that matches the flow's peer and port.
    pub(crate) fn matching_rule(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Option<usize> {
        let matches = |(peers, ports): RuleView<'_>| {
            let peer_ok = peers.is_none_or(|ps| {
                ps.is_empty()
                    || ps.iter().any(|p| peer_matches(p, &self.metadata.namespace, ctx, flow.peer(dir)))
            });
            peer_ok && ports.is_none_or(|ps| ps.is_empty() || ps.iter().any(|p| port_matches(p, flow)))
        };
        match dir {
            Direction::Ingress => self
                .spec
                .ingress
                .iter()
                .flatten()
                .map(|r| (r.from.as_ref(), r.ports.as_ref()))
                .position(matches),
            Direction::Egress => {
                self.spec.egress.iter().flatten().map(|r| (r.to.as_ref(), r.ports.as_ref())).position(matches)
            }
        }
    }
}

/// One rule seen direction-independently: its peers and its ports.
type RuleView<'a> = (Option<&'a Vec<PolicyPeer>>, Option<&'a Vec<PolicyPort>>);

/// Whether a NetworkPolicy peer matches an endpoint. Whether an ipBlock matches pod IPs is the
/// CNI's choice (`ctx.cni`).
pub(crate) fn peer_matches(
    peer: &PolicyPeer,
    policy_namespace: &str,
    ctx: &Context<'_>,
    endpoint: &Endpoint<'_>,
) -> bool {
    if let Some(block) = &peer.ip_block {
        if !ctx.cni.cidr_can_match(endpoint) {
            return false;
        }
        let Some(ip) = endpoint.ip() else { return false };
        return in_block(block, ip);
    }
    let Some(pod) = endpoint.policy_pod() else { return false };
    let namespace_ok = match &peer.namespace_selector {
        Some(sel) => sel.matches(&ctx.topology.namespace_labels(&pod.namespace)),
        None => pod.namespace == policy_namespace,
    };
    let pod_ok = peer.pod_selector.as_ref().is_none_or(|sel| selects_pod(ctx, sel, pod));
    (peer.namespace_selector.is_some() || peer.pod_selector.is_some()) && namespace_ok && pod_ok
}

/// Whether a NetworkPolicy selector selects `pod`. Cilium matches NetworkPolicy selectors
/// against the pod's identity labels (namespace, namespace labels, service account, cluster)
/// as it does its own policies' (ENGINES.md 3.2); other CNIs against the pod's labels.
fn selects_pod(ctx: &Context<'_>, selector: &LabelSelector, pod: &Pod) -> bool {
    if ctx.cni != super::Cni::Cilium {
        return selector.matches(&pod.labels);
    }
    let namespace_labels = ctx.topology.namespace_labels(&pod.namespace);
    selector.matches_with(|key| super::cilium::identity_label(pod, &namespace_labels, key))
}

fn in_block(block: &IpBlock, ip: std::net::IpAddr) -> bool {
    block.cidr.contains(&ip) && !block.except.iter().any(|e| e.contains(&ip))
}

/// Whether a NetworkPolicy port entry matches the flow (protocol default TCP; a named port
/// resolves on the destination pod; `endPort` makes a range).
pub(crate) fn port_matches(p: &PolicyPort, flow: &Flow<'_>) -> bool {
    let protocol = p.protocol.as_deref().map_or(Some(crate::intent::Protocol::Tcp), protocol_text::parse);
    if protocol != Some(flow.protocol) {
        return false;
    }
    match &p.port {
        None => true,
        Some(PortRef::Number(start)) => {
            flow.port >= *start && flow.port <= p.end_port.unwrap_or(*start).max(*start)
        }
        Some(PortRef::Name(name)) => flow.destination_port_named(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{PolicySet, read_objects};

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
        crate::eval::testing::verdicts(TOPOLOGY, manifests, None, flows)
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
        assert!(PolicySet::new(&objects, Some(crate::eval::Cni::Kubernetes)).is_err());
        let objects = read_objects("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", "m")
            .expect("parses");
        assert!(PolicySet::new(&objects, None).is_err());
    }
}
