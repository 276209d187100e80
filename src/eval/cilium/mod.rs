//! Cilium semantics (ENGINES.md 3.2–3.5): CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy
//! and Kubernetes NetworkPolicy are pooled, without order. Per pod and direction: a matching
//! deny rule drops; else a matching allow rule allows; else the pod is dropped if some selecting
//! rule put it in default-deny for that direction, and allowed otherwise.
//!
//! Peers are identities: a pod's labels plus its namespace, namespace labels, service account
//! and cluster; nodes, the API server and the world are reserved identities. CIDR rules never
//! match pods, nodes or the API server. Host policies (`nodeSelector`) judge nodes, which are
//! never subjects here, so they are read and left out.

mod read;

pub(crate) use read::layers;

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::kubernetes;
use super::{
    Context, Decision, Direction, Endpoint, Flow, Layer, NAMESPACED_ORDER, Outcome, PerDirection, Pod, Rank,
    Step,
};
use crate::intent::{Fqdn, Protocol};
use crate::vocab::labels::LabelSelector;
use crate::wire::kubernetes::NetworkPolicy;

const NAMESPACE_KEY: &str = "io.kubernetes.pod.namespace";
const NAMESPACE_LABELS_PREFIX: &str = "io.cilium.k8s.namespace.labels.";
const SERVICE_ACCOUNT_KEY: &str = "io.cilium.k8s.policy.serviceaccount";
const CLUSTER_KEY: &str = "io.cilium.k8s.policy.cluster";

/// One rule (a `spec` or an item of `specs`) that selects pods, as the evaluator uses it.
#[derive(Debug)]
struct Spec {
    /// `CiliumNetworkPolicy ns/name` (with `specs[i]` when the object has several).
    label: String,
    /// The policy's namespace; `None` for a clusterwide policy.
    namespace: Option<String>,
    subject: LabelSelector,
    default_deny: PerDirection<Option<bool>>,
    rules: PerDirection<Vec<Rule>>,
    denies: PerDirection<Vec<Rule>>,
}

#[derive(Debug)]
struct Rule {
    label: String,
    peers: Peers,
    /// `None`: every port and protocol.
    ports: Option<Vec<Port>>,
    /// DNS names this rule lets the DNS proxy see (`rules.dns`).
    dns: Vec<Fqdn>,
    /// Something matched at L3/L4 that the evaluator does not judge (L7).
    l7: Option<&'static str>,
}

#[derive(Debug)]
enum Peers {
    /// No L3 field: every peer (a rule with only ports, or only L7).
    Any,
    /// An empty rule `{}`: nothing (it only switches default-deny on).
    Nothing,
    Endpoints(Vec<LabelSelector>),
    Cidrs(Vec<(IpNet, Vec<IpNet>)>),
    Entities(Vec<String>),
    Nodes(Vec<LabelSelector>),
    Fqdns(Vec<Fqdn>),
    /// A peer kind the evaluator does not model: reported, never matched.
    Unmodelled(&'static str),
}

#[derive(Debug)]
enum Port {
    Range(Option<Protocol>, u16, u16),
    Named(Option<Protocol>, String),
}

#[derive(Debug)]
struct CiliumLayer {
    specs: Vec<Spec>,
    by_namespace: BTreeMap<String, Vec<usize>>,
    clusterwide: Vec<usize>,
    network_policies: BTreeMap<String, Vec<NetworkPolicy>>,
    selecting: super::topology::SelectionCache,
    /// Built when signatures are first asked for: per direction, the distinct peers of the
    /// rules (spec, deny?, rule), and the distinct peers of the NetworkPolicies.
    peers: std::sync::OnceLock<RulePeers>,
}

/// One identity label of `pod` as Cilium sees it: the pod's labels, its namespace, its
/// namespace's labels (prefixed), its service account and its cluster.
pub(super) fn identity_label<'a>(
    pod: &'a Pod,
    namespace_labels: &'a BTreeMap<String, String>,
    key: &str,
) -> Option<&'a str> {
    match key {
        NAMESPACE_KEY => Some(pod.namespace.as_str()),
        SERVICE_ACCOUNT_KEY => Some(pod.service_account.as_deref().unwrap_or("default")),
        CLUSTER_KEY => Some("default"),
        _ => match key.strip_prefix(NAMESPACE_LABELS_PREFIX) {
            Some(namespace_key) => namespace_labels.get(namespace_key).map(String::as_str),
            None => pod.labels.get(key).map(String::as_str),
        },
    }
}

/// LabelSelector keys may carry a source (`k8s:`, `any:`); reserved identities keep theirs.
fn strip_source(key: &str) -> &str {
    key.strip_prefix("k8s:").or_else(|| key.strip_prefix("any:")).unwrap_or(key)
}

/// Whether `selector` selects `pod` by its identity labels, looked up without building them.
fn identity_matches(selector: &LabelSelector, ctx: &Context<'_>, pod: &Pod) -> bool {
    let namespace_labels = ctx.topology.namespace_labels(&pod.namespace);
    selector.matches_with(|k| identity_label(pod, &namespace_labels, strip_source(k)))
}

fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector.matches_with(|k| labels.get(strip_source(k)).map(String::as_str))
}

fn names_namespace(selector: &LabelSelector) -> bool {
    let named = |k: &str| {
        let k = strip_source(k);
        k == NAMESPACE_KEY || k.starts_with(NAMESPACE_LABELS_PREFIX)
    };
    selector.match_labels.keys().any(|k| named(k)) || selector.match_expressions.iter().any(|e| named(&e.key))
}

impl Spec {
    fn selects(&self, ctx: &Context<'_>, pod: &Pod) -> bool {
        if self.namespace.as_deref().is_some_and(|ns| ns != pod.namespace) {
            return false;
        }
        // The endpoint selector of a namespaced policy is pinned to its namespace, which the
        // check above has made the pod's.
        identity_matches(&self.subject, ctx, pod)
    }

    /// Whether this rule switches default-deny on for `dir`.
    fn default_deny(&self, dir: Direction) -> bool {
        let d = dir;
        self.default_deny[d].unwrap_or_else(|| !self.rules[d].is_empty() || !self.denies[d].is_empty())
    }
}

impl Rule {
    /// Whether the rule matches at L3/L4.
    fn matches(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>, namespace: Option<&str>) -> bool {
        self.ports_match(flow) && self.peer_matches(ctx, dir, flow, namespace)
    }

    fn ports_match(&self, flow: &Flow<'_>) -> bool {
        self.ports.as_ref().is_none_or(|ports| {
            ports.iter().any(|p| match p {
                Port::Range(protocol, start, end) => {
                    protocol.is_none_or(|pr| pr == flow.protocol) && (*start..=*end).contains(&flow.port)
                }
                Port::Named(protocol, name) => {
                    protocol.is_none_or(|pr| pr == flow.protocol) && flow.destination_port_named(name)
                }
            })
        })
    }

    fn peer_matches(
        &self,
        ctx: &Context<'_>,
        dir: Direction,
        flow: &Flow<'_>,
        namespace: Option<&str>,
    ) -> bool {
        let endpoint = flow.peer(dir);
        let own_node = flow.subject(dir).and_then(|p| p.node_name.as_deref());
        match &self.peers {
            Peers::Any => true,
            Peers::Nothing | Peers::Unmodelled(_) => false,
            Peers::Endpoints(selectors) => {
                let Some(pod) = endpoint.policy_pod() else {
                    return reserved_match(ctx, selectors, endpoint, own_node);
                };
                selectors.iter().any(|s| {
                    let scoped = match namespace {
                        // A namespaced policy's peers stay in its namespace unless they name one.
                        Some(ns) if !names_namespace(s) => pod.namespace == ns,
                        _ => true,
                    };
                    scoped && identity_matches(s, ctx, pod)
                })
            }
            Peers::Cidrs(cidrs) => {
                ctx.cni.cidr_can_match(endpoint)
                    && endpoint.ip().is_some_and(|ip| {
                        cidrs
                            .iter()
                            .any(|(n, except)| n.contains(&ip) && !except.iter().any(|e| e.contains(&ip)))
                    })
            }
            Peers::Entities(entities) => entities.iter().any(|e| entity_matches(ctx, e, endpoint, own_node)),
            Peers::Nodes(selectors) => match endpoint {
                Endpoint::Node(n) => selectors.iter().any(|s| selector_matches(s, &n.labels)),
                Endpoint::Pod(p) if p.host_network => p
                    .node_name
                    .as_deref()
                    .and_then(|name| ctx.topology.node(name))
                    .is_some_and(|n| selectors.iter().any(|s| selector_matches(s, &n.labels))),
                _ => false,
            },
            Peers::Fqdns(names) => match endpoint {
                Endpoint::External(ip) => ctx
                    .topology
                    .names_of(*ip)
                    .any(|actual| names.iter().any(|f| super::reference::fqdn_matches(f, actual))),
                _ => false,
            },
        }
    }
}

/// Whether a node (or a host-network pod on it) is where the API server listens: Cilium then
/// adds the `kube-apiserver` identity to the node's (ENGINES.md 3.4).
pub(super) fn hosts_api_server(ctx: &Context<'_>, endpoint: &Endpoint<'_>) -> bool {
    match endpoint {
        Endpoint::ApiServer(_) => true,
        Endpoint::Node(_) | Endpoint::Pod(Pod { host_network: true, .. }) => {
            endpoint.ip().is_some_and(|ip| ctx.topology.api_server.addresses.contains(&ip))
        }
        _ => false,
    }
}

/// `reserved:*` keys in endpoint selectors name reserved identities (the host, the world…).
fn reserved_match(
    ctx: &Context<'_>,
    selectors: &[LabelSelector],
    endpoint: &Endpoint<'_>,
    own_node: Option<&str>,
) -> bool {
    let identity = match endpoint {
        Endpoint::Node(n) if own_node == Some(n.name.as_str()) => "reserved:host",
        Endpoint::Node(_) => "reserved:remote-node",
        Endpoint::Pod(p) if p.node_name.as_deref() == own_node && own_node.is_some() => "reserved:host",
        Endpoint::Pod(_) => "reserved:remote-node",
        Endpoint::ApiServer(_) => "reserved:kube-apiserver",
        Endpoint::External(_) => "reserved:world",
    };
    // A node the API server listens on carries the kube-apiserver label as well.
    let api_server = hosts_api_server(ctx, endpoint).then_some("reserved:kube-apiserver");
    let carries = |k: &str| {
        let k = k.strip_prefix("any:").unwrap_or(k);
        k == identity || Some(k) == api_server
    };
    selectors.iter().any(|s| !s.is_empty() && s.matches_with(|k| carries(k).then_some("")))
}

fn entity_matches(ctx: &Context<'_>, entity: &str, endpoint: &Endpoint<'_>, own_node: Option<&str>) -> bool {
    let on_own_node = |name: Option<&str>| own_node.is_some() && name == own_node;
    match entity {
        "all" => true,
        "world" | "world-ipv4" | "world-ipv6" => match endpoint {
            Endpoint::External(ip) => match entity {
                "world-ipv4" => ip.is_ipv4(),
                "world-ipv6" => ip.is_ipv6(),
                _ => true,
            },
            _ => false,
        },
        "cluster" => !matches!(endpoint, Endpoint::External(_)),
        "host" => match endpoint {
            Endpoint::Node(n) => on_own_node(Some(&n.name)),
            Endpoint::Pod(p) if p.host_network => on_own_node(p.node_name.as_deref()),
            _ => false,
        },
        "remote-node" => match endpoint {
            Endpoint::Node(n) => !on_own_node(Some(&n.name)),
            Endpoint::Pod(p) if p.host_network => !on_own_node(p.node_name.as_deref()),
            _ => false,
        },
        "kube-apiserver" => hosts_api_server(ctx, endpoint),
        // Cilium's own proxies and bookkeeping identities are not in a topology.
        _ => false,
    }
}

impl CiliumLayer {
    /// The rules that select `pod`: its namespace's, then the clusterwide ones.
    fn selecting<'a>(&'a self, ctx: &'a Context<'_>, pod: &'a Pod) -> impl Iterator<Item = &'a Spec> + 'a {
        let candidates = |p: &Pod| -> Vec<usize> {
            self.by_namespace
                .get(&p.namespace)
                .into_iter()
                .flatten()
                .chain(self.clusterwide.iter())
                .copied()
                .collect()
        };
        let selects = |i: usize, p: &Pod| self.specs.get(i).is_some_and(|s| s.selects(ctx, p));
        let mut out = Vec::new();
        self.selecting.find_map(ctx.topology, pod, candidates, selects, |i| {
            out.extend(self.specs.get(i));
            None::<()>
        });
        out.into_iter()
    }

    /// Whether the pod's selecting rules let the DNS proxy see `name` (FQDN rules need it).
    fn dns_visible(&self, ctx: &Context<'_>, pod: &Pod, flow: &Flow<'_>) -> bool {
        let Endpoint::External(ip) = flow.destination else { return false };
        let names: Vec<&str> = ctx.topology.names_of(ip).collect();
        self.selecting(ctx, pod).any(|s| {
            s.rules
                .egress
                .iter()
                .flat_map(|r| r.dns.iter())
                .any(|f| names.iter().any(|n| super::reference::fqdn_matches(f, n)))
        })
    }

    fn judge(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>, explain: bool) -> Outcome {
        let Some(subject) = flow.subject(dir) else {
            return Outcome::new(Decision::Pass, Step::builtin(Decision::Pass, "not a pod".into()));
        };
        let d = dir;
        let specs: Vec<&Spec> = self.selecting(ctx, subject).collect();
        let step = |object: &str, rule: &str, decision: Decision, note: String| Step {
            object: object.to_string(),
            rule: rule.to_string(),
            decision,
            note,
        };
        let mut unmodelled = Vec::new();
        for s in &specs {
            for r in &s.denies[d] {
                if let Peers::Unmodelled(what) = &r.peers {
                    unmodelled.push(format!(
                        "{} {}: {what} peers are not modelled (this deny is not applied)",
                        s.label, r.label
                    ));
                }
            }
            if let Some(r) = s.denies[d].iter().find(|r| r.matches(ctx, dir, flow, s.namespace.as_deref())) {
                let note = if explain {
                    "a deny rule matches; denies beat every allow".to_string()
                } else {
                    String::new()
                };
                return Outcome {
                    decision: Decision::Deny,
                    steps: vec![step(&s.label, &r.label, Decision::Deny, note)],
                    unmodelled,
                };
            }
        }
        for s in &specs {
            for r in &s.rules[d] {
                if let Peers::Unmodelled(what) = &r.peers {
                    unmodelled.push(format!(
                        "{} {}: {what} peers are not modelled (treated as matching nothing)",
                        s.label, r.label
                    ));
                    continue;
                }
                if !r.matches(ctx, dir, flow, s.namespace.as_deref()) {
                    continue;
                }
                if matches!(r.peers, Peers::Fqdns(_)) && !self.dns_visible(ctx, subject, flow) {
                    unmodelled.push(format!(
                        "{} {}: the FQDN matches but no DNS rule (rules.dns) lets the proxy learn it; not allowed",
                        s.label, r.label
                    ));
                    continue;
                }
                if let Some(l7) = r.l7 {
                    unmodelled.push(format!("{} {}: {l7} not modelled; allowed at L3/L4", s.label, r.label));
                }
                return Outcome {
                    decision: Decision::Allow,
                    steps: vec![step(&s.label, &r.label, Decision::Allow, "the rule matches".into())],
                    unmodelled,
                };
            }
        }
        let nps = self.network_policies.get(&subject.namespace).into_iter().flatten();
        let mut isolating: Vec<String> = Vec::new();
        for p in nps.filter(|p| p.isolates(dir) && p.selects(ctx, subject)) {
            if let Some(i) = p.matching_rule(ctx, dir, flow) {
                return Outcome {
                    decision: Decision::Allow,
                    steps: vec![step(
                        &p.label(),
                        &format!("{}[{i}]", dir.field()),
                        Decision::Allow,
                        "the rule matches".into(),
                    )],
                    unmodelled,
                };
            }
            isolating.push(p.label());
        }
        isolating.extend(specs.iter().filter(|s| s.default_deny(dir)).map(|s| s.label.clone()));
        if isolating.is_empty() {
            return Outcome {
                decision: Decision::Pass,
                steps: vec![Step::builtin(
                    Decision::Pass,
                    format!(
                        "{}/{} is not in default-deny for {}",
                        subject.namespace,
                        subject.name,
                        dir.field()
                    ),
                )],
                unmodelled,
            };
        }
        Outcome {
            decision: Decision::Deny,
            steps: vec![step(
                &isolating.join(", "),
                "",
                Decision::Deny,
                format!("default-deny for {} and no allow rule matches", dir.field()),
            )],
            unmodelled,
        }
    }
}

impl Layer for CiliumLayer {
    fn rank(&self) -> Rank {
        Rank { order: NAMESPACED_ORDER, name: "cilium".to_string() }
    }

    fn decide(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Outcome {
        self.judge(ctx, dir, flow, true)
    }

    fn decision(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Decision {
        self.judge(ctx, dir, flow, false).decision
    }

    fn signature(&self, ctx: &Context<'_>, end: super::End, pod: &Pod, out: &mut Vec<u32>) -> bool {
        let d = end.subject_direction();
        // A spec with no rules for the direction and default-deny off for it has no say.
        let speaks = |s: &Spec| {
            !s.rules[d].is_empty() || !s.denies[d].is_empty() || s.default_deny(end.subject_direction())
        };
        let candidates = self.by_namespace.get(&pod.namespace).into_iter().flatten().chain(&self.clusterwide);
        let mut selecting: Vec<u32> = candidates
            .filter(|&&i| self.specs.get(i).is_some_and(|s| speaks(s) && s.selects(ctx, pod)))
            .filter_map(|&i| u32::try_from(i).ok())
            .collect();
        let offset = self.specs.len();
        let dir = end.subject_direction();
        for (i, np) in self.network_policies.get(&pod.namespace).into_iter().flatten().enumerate() {
            if np.isolates(dir) && np.selects(ctx, pod) {
                // NetworkPolicies are told apart by name within the pod's namespace, which
                // the pod's traits fix.
                selecting.extend(u32::try_from(offset + i).ok());
            }
        }
        super::classes::push_sorted(selecting, out);
        let (rule_peers, np_peers) = self.peers.get_or_init(|| {
            let of = |pd: Direction| {
                let all = self.specs.iter().enumerate().flat_map(|(si, s)| {
                    let allows = s.rules[pd].iter().enumerate().map(move |(ri, r)| (si, false, ri, r));
                    let denies = s.denies[pd].iter().enumerate().map(move |(ri, r)| (si, true, ri, r));
                    allows.chain(denies)
                });
                super::classes::distinct(all.map(|(si, deny, ri, r)| {
                    let namespace = self.specs.get(si).and_then(|s| s.namespace.clone());
                    PeerKey { namespace, peers: &r.peers, at: (si, deny, ri) }
                }))
                .into_iter()
                .map(|k| k.at)
                .collect()
            };
            (PerDirection::from_fn(of), kubernetes::distinct_peers(self.network_policies.values().flatten()))
        });
        let pd = end.peer_direction();
        let list = &rule_peers[pd];
        let endpoint = Endpoint::Pod(pod);
        // A flow whose `pd` peer is the pod; for a policy-enforced pod no rule reads the rest.
        let flow = Flow { source: endpoint, destination: endpoint, protocol: Protocol::Tcp, port: 0 };
        super::classes::push_matching(list, out, |&(si, deny, ri)| {
            let Some(s) = self.specs.get(si) else { return false };
            let rules = if deny { &s.denies[pd] } else { &s.rules[pd] };
            rules.get(ri).is_some_and(|r| r.peer_matches(ctx, pd, &flow, s.namespace.as_deref()))
        });
        kubernetes::push_matching_peers(np_peers, ctx, end, pod, out);
        true
    }
}

/// Per direction, the distinct peers of the rules as (spec, deny?, rule); and the distinct
/// peers of the NetworkPolicies.
type RulePeers = (PerDirection<Vec<(usize, bool, usize)>>, kubernetes::DistinctPeers);

/// A rule's peers as the distinct-peer table compares them: with the policy's namespace (which
/// scopes unqualified selectors), not with where the rule sits (`at`).
struct PeerKey<'a> {
    namespace: Option<String>,
    peers: &'a Peers,
    at: (usize, bool, usize),
}

impl std::fmt::Debug for PeerKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {:?}", self.namespace, self.peers)
    }
}

#[cfg(test)]
mod tests;
