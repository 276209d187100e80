//! The intent's own meaning, judged directly: the reference every engine's verdict is checked
//! against (`netpol check`).
//!
//! Per direction at a pod: a guardrail that selects the pod and has a matching deny rule drops
//! the flow (nothing re-opens it); otherwise, if policies speak about the direction for the pod,
//! the flow is allowed iff one of their rules matches (allowlists and default-denies are
//! additive, as in Kubernetes); otherwise the direction is open.

use std::collections::BTreeMap;

use super::{Context, Decision, Direction, Endpoint, Flow, Layer, NAMESPACED_ORDER, Outcome, Rank, Step};
use crate::intent::{
    Entity, Fqdn, Guardrail, Intent, LabelSelector, Namespaces, Peer, Policy, PortSel, Rule,
};

/// The intent as one evaluator layer.
#[derive(Debug)]
pub struct IntentLayer {
    guardrails: Vec<Guardrail>,
    by_namespace: BTreeMap<String, Vec<Policy>>,
    /// Per pod, which policies of its namespace select it (indices into `by_namespace`).
    selecting: super::topology::SelectionCache,
    /// Built when signatures are first asked for: per direction, the
    /// distinct peers of the rules, each with the namespace that scopes it (`None`: a
    /// guardrail's, scoped by the subject's namespace).
    peers: std::sync::OnceLock<super::PerDirection<ScopedPeers>>,
}

/// Peers, each with the namespace that scopes it.
type ScopedPeers = Vec<(Option<String>, Peer)>;

impl IntentLayer {
    pub fn new(intent: &Intent) -> Self {
        let mut by_namespace: BTreeMap<String, Vec<Policy>> = BTreeMap::new();
        for p in &intent.policies {
            by_namespace.entry(p.namespace.clone()).or_default().push(p.clone());
        }
        IntentLayer {
            guardrails: intent.guardrails.clone(),
            by_namespace,
            selecting: Default::default(),
            peers: std::sync::OnceLock::new(),
        }
    }

    /// Whether a policy with engine-specific passthrough rules applies to this direction: its
    /// verdict then depends on rules the intent does not model.
    pub(crate) fn passthrough_applies(&self, dir: Direction, flow: &Flow<'_>) -> Option<String> {
        let subject = flow.subject(dir)?;
        self.by_namespace.get(&subject.namespace)?.iter().find_map(|p| {
            let raw = &p.passthrough;
            let any = [&raw.cilium, &raw.calico, &raw.cluster_network_policy].iter().any(|r| match dir {
                Direction::Ingress => !r.ingress.is_empty(),
                Direction::Egress => !r.egress.is_empty(),
            });
            (any && selector_matches(&p.subject, &subject.labels))
                .then(|| format!("{}/{}", p.namespace, p.name))
        })
    }
}

impl Layer for IntentLayer {
    fn rank(&self) -> Rank {
        Rank { order: NAMESPACED_ORDER, name: "intent".to_string() }
    }

    fn decision(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Decision {
        self.judge(ctx, dir, flow, None)
    }

    fn signature(&self, ctx: &Context<'_>, end: super::End, pod: &super::Pod, out: &mut Vec<u32>) -> bool {
        let dir = end.subject_direction();
        let ns_labels = ctx.topology.namespace_labels(&pod.namespace);
        let mut selecting: Vec<u32> = Vec::new();
        for (i, g) in self.guardrails.iter().enumerate() {
            let rules = denies(g, dir);
            if !rules.is_empty()
                && selector_matches(&g.namespaces, &ns_labels)
                && selector_matches(&g.pods, &pod.labels)
            {
                selecting.extend(u32::try_from(i).ok());
            }
        }
        // Policies are told apart by their index within the pod's namespace, which the pod's
        // traits fix.
        let offset = self.guardrails.len();
        for (i, p) in self.by_namespace.get(&pod.namespace).into_iter().flatten().enumerate() {
            let rules = allows(p, dir);
            if rules.is_some() && selector_matches(&p.subject, &pod.labels) {
                selecting.extend(u32::try_from(offset + i).ok());
            }
        }
        super::classes::push_sorted(selecting, out);
        let peers = self.peers.get_or_init(|| {
            let of = |dir: Direction| {
                let guarded = self.guardrails.iter().flat_map(|g| {
                    denies(g, dir).iter().flat_map(|r| r.peers.iter().map(|peer| (None, peer.clone())))
                });
                let allowed = self.by_namespace.values().flatten().flat_map(|p| {
                    allows(p, dir)
                        .into_iter()
                        .flatten()
                        .flat_map(|r| r.peers.iter().map(|peer| (Some(p.namespace.clone()), peer.clone())))
                });
                super::classes::distinct(guarded.chain(allowed))
            };
            super::PerDirection::from_fn(of)
        });
        let pd = end.peer_direction();
        let list = &peers[pd];
        let endpoint = Endpoint::Pod(pod);
        // A flow whose `pd` peer is the pod; for a policy-enforced pod no peer reads the rest.
        let flow =
            Flow { source: endpoint, destination: endpoint, protocol: crate::intent::Protocol::Tcp, port: 0 };
        super::classes::push_matching(list, out, |(scope, peer)| {
            // A guardrail's unqualified peer is scoped by the subject's namespace: matching it
            // in the pod's own namespace records what the selector sees, and the pod's traits
            // record the namespace.
            let own = scope.as_deref().unwrap_or(&pod.namespace);
            peer_matches(peer, own, ctx, pd, &flow, &endpoint)
        });
        true
    }

    fn decide(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Outcome {
        super::traced(|trace| self.judge(ctx, dir, flow, trace))
    }
}

impl IntentLayer {
    /// The one decision path: a guardrail deny first, then the policies that select the pod,
    /// in order. With a `trace` it records the step that decided; without one it formats
    /// nothing.
    fn judge(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>, trace: super::Trace<'_>) -> Decision {
        let Some(subject) = flow.subject(dir) else {
            super::record(trace, || Step::builtin(Decision::Pass, "not a pod".into()));
            return Decision::Pass;
        };
        let ns_labels = ctx.topology.namespace_labels(&subject.namespace);
        let denied = self.guardrails.iter().find_map(|g| {
            if !(selector_matches(&g.namespaces, &ns_labels) && selector_matches(&g.pods, &subject.labels)) {
                return None;
            }
            denies(g, dir)
                .iter()
                .find(|r| rule_matches(r, &subject.namespace, ctx, dir, flow))
                .map(|r| (g, r))
        });
        if let Some((g, rule)) = denied {
            super::record(trace, || Step {
                object: format!("guardrail {}", g.name),
                rule: rule.name.clone(),
                decision: Decision::Deny,
                note: format!("denied cluster-wide ({})", rule.origin),
            });
            return Decision::Deny;
        }
        let policies = self.by_namespace.get(&subject.namespace).map(Vec::as_slice).unwrap_or_default();
        let candidates = |p: &super::Pod| 0..self.by_namespace.get(&p.namespace).map_or(0, Vec::len);
        let selects = |i: usize, p: &super::Pod| {
            self.by_namespace
                .get(&p.namespace)
                .and_then(|list| list.get(i))
                .is_some_and(|policy| selector_matches(&policy.subject, &p.labels))
        };
        let explaining = trace.is_some();
        let mut speaking: Vec<&Policy> = Vec::new();
        let mut spoke = false;
        let allowed = self.selecting.find_map(ctx.topology, subject, candidates, selects, |i| {
            let p = policies.get(i)?;
            let rules = allows(p, dir)?;
            if let Some(rule) = rules.iter().find(|r| rule_matches(r, &p.namespace, ctx, dir, flow)) {
                return Some((p, rule));
            }
            spoke = true;
            if explaining {
                speaking.push(p);
            }
            None
        });
        let decision = match (allowed, spoke) {
            (Some(_), _) => Decision::Allow,
            (None, true) => Decision::Deny,
            (None, false) => Decision::Pass,
        };
        super::record(trace, || match allowed {
            Some((p, rule)) => Step {
                object: format!("policy {}/{}", p.namespace, p.name),
                rule: rule.name.clone(),
                decision,
                note: format!("allowed ({})", rule.origin),
            },
            None if spoke => Step {
                object: speaking
                    .iter()
                    .map(|p| format!("policy {}/{}", p.namespace, p.name))
                    .collect::<Vec<_>>()
                    .join(", "),
                rule: String::new(),
                decision,
                note: format!("{} is limited to the listed rules and none matches", dir.field()),
            },
            None => Step::builtin(
                decision,
                format!("no policy speaks about {} of {}/{}", dir.field(), subject.namespace, subject.name),
            ),
        });
        decision
    }
}

/// A guardrail's deny rules for one direction.
fn denies(g: &Guardrail, dir: Direction) -> &[Rule] {
    match dir {
        Direction::Ingress => &g.ingress_deny,
        Direction::Egress => &g.egress_deny,
    }
}

/// A policy's rules for one direction; `None` when it does not speak about the direction.
fn allows(p: &Policy, dir: Direction) -> Option<&Vec<Rule>> {
    match dir {
        Direction::Ingress => p.ingress.as_ref(),
        Direction::Egress => p.egress.as_ref(),
    }
}

/// A normalised selector against a label map (`lookup` may add implicit labels).
pub(crate) fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector.matches(labels)
}

fn rule_matches(
    rule: &Rule,
    own_namespace: &str,
    ctx: &Context<'_>,
    dir: Direction,
    flow: &Flow<'_>,
) -> bool {
    let peer = flow.peer(dir);
    (rule.peers.is_empty() || rule.peers.iter().any(|p| peer_matches(p, own_namespace, ctx, dir, flow, peer)))
        && (rule.ports.is_empty()
            || rule.ports.iter().any(|m| {
                m.protocol == flow.protocol
                    && match &m.port {
                        PortSel::Any => true,
                        PortSel::Number(n) => flow.port == *n,
                        PortSel::Range(a, b) => (*a..=*b).contains(&flow.port),
                        PortSel::Named(name) => flow.destination_port_named(name),
                    }
            }))
}

fn peer_matches(
    peer: &Peer,
    own_namespace: &str,
    ctx: &Context<'_>,
    dir: Direction,
    flow: &Flow<'_>,
    endpoint: &Endpoint<'_>,
) -> bool {
    match peer {
        Peer::Pods { namespaces, pods } => {
            let Some(pod) = endpoint.policy_pod() else { return false };
            let namespace_ok = match namespaces {
                Namespaces::Own => pod.namespace == own_namespace,
                Namespaces::Matching(sel) => {
                    selector_matches(sel, &ctx.topology.namespace_labels(&pod.namespace))
                }
            };
            namespace_ok && selector_matches(pods, &pod.labels)
        }
        Peer::Cidr { cidr, except } => {
            ctx.cni.cidr_can_match(endpoint)
                && endpoint
                    .ip()
                    .is_some_and(|ip| cidr.contains(&ip) && !except.iter().any(|e| e.contains(&ip)))
        }
        Peer::ApiServer { cidrs } => match endpoint {
            Endpoint::ApiServer(_) => true,
            // Cilium knows the API server by identity, which a node it listens on carries too;
            // other CNIs by its addresses.
            other if ctx.cni == super::Cni::Cilium => super::cilium::hosts_api_server(ctx, other),
            other => other.ip().is_some_and(|ip| cidrs.iter().any(|c| c.contains(&ip))),
        },
        Peer::Entity(entity) => entity_matches(*entity, ctx, dir, flow, endpoint),
        Peer::Fqdn(fqdn) => match endpoint {
            Endpoint::External(ip) => ctx.topology.names_of(*ip).any(|name| fqdn_matches(fqdn, name)),
            _ => false,
        },
        // The CNI's own gateway proxy is no endpoint of the modelled topology (as Cilium's
        // `ingress` entity is not).
        Peer::GatewayProxy => false,
    }
}

fn entity_matches(
    entity: Entity,
    ctx: &Context<'_>,
    dir: Direction,
    flow: &Flow<'_>,
    endpoint: &Endpoint<'_>,
) -> bool {
    let own_node = flow.subject(dir).and_then(|p| p.node_name.as_deref());
    let is_own_node = |name: &str| own_node == Some(name);
    match entity {
        Entity::All => true,
        Entity::World => matches!(endpoint, Endpoint::External(ip) if !ctx.topology.is_in_cluster(*ip)),
        Entity::Cluster => !matches!(endpoint, Endpoint::External(ip) if !ctx.topology.is_in_cluster(*ip)),
        Entity::Host => match endpoint {
            Endpoint::Node(n) => is_own_node(&n.name),
            Endpoint::Pod(p) if p.host_network => p.node_name.as_deref().is_some_and(is_own_node),
            _ => false,
        },
        Entity::RemoteNode => match endpoint {
            Endpoint::Node(n) => !is_own_node(&n.name),
            Endpoint::Pod(p) if p.host_network => !p.node_name.as_deref().is_some_and(is_own_node),
            _ => false,
        },
        // Cilium's own proxies and bookkeeping identities have no counterpart in a topology.
        Entity::Ingress | Entity::Health | Entity::Init | Entity::Unmanaged => false,
    }
}

/// Cilium's `matchPattern`: `*` alone is everything; `**.` as a prefix is any depth of
/// subdomains; elsewhere `*` is any characters but `.`.
pub(crate) fn fqdn_matches(fqdn: &Fqdn, name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    match fqdn {
        Fqdn::Name(n) => n.trim_end_matches('.').eq_ignore_ascii_case(&name),
        Fqdn::Pattern(p) => pattern_matches(&p.trim_end_matches('.').to_ascii_lowercase(), &name),
    }
}

fn pattern_matches(pattern: &str, name: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix("**.") {
        return name.len() > suffix.len() + 1
            && name.ends_with(suffix)
            && name.as_bytes().get(name.len() - suffix.len() - 1) == Some(&b'.')
            && glob(suffix, &name[name.len() - suffix.len()..]);
    }
    glob(pattern, name)
}

/// `*` matches any run of characters other than `.`.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else { return false };
            (0..=rest.len())
                .take_while(|&i| i == 0 || rest.as_bytes().get(i - 1) != Some(&b'.'))
                .any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::derive::derive;
    use crate::eval::{Cni, FlowSpec, PolicySet, PortRef};
    use crate::intent::testing::{
        allowlist, cidr, default_deny, intent, metadata_guardrail, own_pods, rule, tcp,
    };

    fn verdicts(i: &Intent, cni: Cni, flows: &[(&str, &str, u16)]) -> Vec<bool> {
        let d = derive(i);
        let set = PolicySet::from_layers(cni, vec![Box::new(IntentLayer::new(i))]);
        flows
            .iter()
            .map(|(from, to, port)| {
                let spec = FlowSpec {
                    from: from.to_string(),
                    to: to.to_string(),
                    port: PortRef::Number(*port),
                    protocol: "TCP".into(),
                    allowed: None,
                };
                let flow = spec.resolve(&d.topology).expect("flow resolves");
                set.evaluate(&d.topology, &flow).allowed
            })
            .collect()
    }

    #[test]
    fn allowlists_are_additive_and_guardrails_win() {
        let web = allowlist(
            "shop",
            "web",
            Some(vec![rule("http", vec![own_pods(&[("app", "api")])], vec![tcp(8080)])]),
            None,
        );
        let open_egress = allowlist("shop", "api", None, Some(vec![rule("any", vec![], vec![])]));
        let mut i = intent(vec![web, open_egress, default_deny("shop", 2000, false)]);
        let flows = [
            ("shop/api", "shop/web", 8080),
            ("shop/api", "shop/web", 8081),
            ("netpol-unrelated/netpol-plain", "shop/web", 8080),
            ("shop/api", "ip:169.254.169.254", 80),
            ("netpol-unrelated/netpol-plain", "ip:169.254.169.254", 80),
        ];
        assert_eq!(verdicts(&i, Cni::Kubernetes, &flows), [true, false, false, true, true]);
        i.guardrails.push(metadata_guardrail());
        assert_eq!(verdicts(&i, Cni::Kubernetes, &flows), [true, false, false, false, false]);
    }

    #[test]
    fn cidr_peers_match_pod_addresses_except_on_cilium() {
        let web = allowlist(
            "shop",
            "web",
            Some(vec![rule("pods", vec![cidr("10.244.0.0/16", &[])], vec![])]),
            None,
        );
        let i = intent(vec![web]);
        let flows = [("netpol-unrelated/netpol-plain", "shop/web", 80)];
        assert_eq!(verdicts(&i, Cni::Kubernetes, &flows), [true]);
        assert_eq!(verdicts(&i, Cni::Cilium, &flows), [false]);
    }

    #[test]
    fn fqdn_patterns() {
        let p = |s: &str| Fqdn::Pattern(s.to_string());
        assert!(fqdn_matches(&p("*"), "a.b.c"));
        assert!(fqdn_matches(&p("*.example.com"), "api.example.com"));
        assert!(!fqdn_matches(&p("*.example.com"), "a.api.example.com"));
        assert!(fqdn_matches(&p("**.example.com"), "a.api.example.com"));
        assert!(!fqdn_matches(&p("**.example.com"), "example.com"));
        assert!(fqdn_matches(&p("api-*.example.com"), "api-eu.example.com"));
        assert!(fqdn_matches(&Fqdn::Name("Example.com".into()), "example.com."));
    }
}
