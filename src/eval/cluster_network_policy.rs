//! ClusterNetworkPolicy (`policy.networking.k8s.io/v1alpha2`) and the v1alpha1
//! AdminNetworkPolicy / BaselineAdminNetworkPolicy many clusters still run (ENGINES.md 5.2,
//! 5.6): two tiers around the CNI's NetworkPolicies. In a tier, policies by priority (ties by
//! name: the API leaves them unspecified), rules in order; the first rule whose peers and ports
//! match decides: Accept/Allow is final, Deny is final, Pass leaves the tier. No match leaves
//! the tier too. Host-network pods are never subjects nor pod peers.

use ipnet::IpNet;

use super::topology::protocol_text;
use super::{
    ADMIN_ORDER, BASELINE_ORDER, Context, Decision, Direction, Endpoint, Flow, Layer, Outcome, Pod, Rank,
    Step,
};
use crate::error::{Diagnostic, Error, Result};
use crate::intent::{Fqdn, Protocol};
use crate::vocab::labels::LabelSelector;
use crate::wire::cluster_network_policy::{Object, WireNumberOrRange, WirePort, WireProtocol, WireRule};

/// One tier's policies, sorted by (priority, name).
#[derive(Debug)]
struct Tier {
    name: &'static str,
    order: f64,
    policies: Vec<Policy>,
    selecting: super::topology::SelectionCache,
    /// Built when signatures are first asked for: per direction, the
    /// distinct peers of the rules as (policy, rule, peer).
    peers: std::sync::OnceLock<super::PerDirection<Vec<(usize, usize, usize)>>>,
    /// The policies by a pod label their subject requires, so that finding the policies that
    /// select a pod does not test every policy.
    index: super::labels::SelectorIndex,
}

#[derive(Debug)]
struct Policy {
    /// `ClusterNetworkPolicy name`, for steps.
    label: String,
    priority: i64,
    name: String,
    subject: Subject,
    ingress: Vec<Rule>,
    egress: Vec<Rule>,
}

#[derive(Debug)]
enum Subject {
    Namespaces(LabelSelector),
    Pods { namespaces: LabelSelector, pods: LabelSelector },
}

#[derive(Debug)]
struct Rule {
    /// `ingress[0]`, with the rule's name when it has one.
    label: String,
    decision: Decision,
    action: String,
    peers: Vec<Peer>,
    /// `None`: every port.
    ports: Option<Vec<Port>>,
}

#[derive(Debug)]
enum Peer {
    Namespaces(LabelSelector),
    Pods { namespaces: LabelSelector, pods: LabelSelector },
    Networks(Vec<IpNet>),
    Nodes(LabelSelector),
    DomainNames(Vec<String>),
}

#[derive(Debug)]
enum Port {
    Range(Protocol, u16, u16),
    Named(String),
}

/// The Admin and Baseline layers of `objects` (ClusterNetworkPolicy, AdminNetworkPolicy,
/// BaselineAdminNetworkPolicy); a tier without objects is left out.
pub(crate) fn layers(
    objects: &[&serde_json::Value],
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<Box<dyn Layer>>> {
    let mut admin = Tier {
        name: "kube-admin",
        order: ADMIN_ORDER,
        policies: Vec::new(),
        selecting: Default::default(),
        peers: std::sync::OnceLock::new(),
        index: Default::default(),
    };
    let mut baseline = Tier {
        name: "kube-baseline",
        order: BASELINE_ORDER,
        policies: Vec::new(),
        selecting: Default::default(),
        peers: std::sync::OnceLock::new(),
        index: Default::default(),
    };
    let mut problems = Vec::new();
    for o in objects {
        let label = super::object_label(o);
        let parsed = super::from_wire::<Object>(o, "", o, &label, warnings)
            .and_then(|object| policy(object, &label).map_err(super::WireError::from));
        match parsed {
            Ok((true, p)) => admin.policies.push(p),
            Ok((false, p)) => baseline.policies.push(p),
            Err(e) => problems.push(e.diagnostic(o, &label)),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let mut out: Vec<Box<dyn Layer>> = Vec::new();
    for mut tier in [admin, baseline] {
        if tier.policies.is_empty() {
            continue;
        }
        tier.policies.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
        for (i, p) in tier.policies.iter().enumerate() {
            let required = match &p.subject {
                Subject::Pods { pods, .. } => pods.match_labels.iter().next(),
                Subject::Namespaces(_) => None,
            };
            tier.index.insert_under(required.map(|(k, v)| (k.as_str(), v.as_str())), i);
        }
        out.push(Box::new(tier));
    }
    Ok(out)
}

/// The tier (true = Admin) and the policy of one object.
fn policy(object: Object, label: &str) -> std::result::Result<(bool, Policy), String> {
    let v1alpha1 = object.api_version.ends_with("/v1alpha1");
    let (admin, priority) = match (object.kind.as_str(), v1alpha1) {
        ("ClusterNetworkPolicy", false) => {
            let admin = match object.spec.tier.as_deref() {
                Some("Admin") => true,
                Some("Baseline") => false,
                other => return Err(format!("tier {other:?} is neither Admin nor Baseline")),
            };
            (admin, object.spec.priority.ok_or("spec.priority is required")?)
        }
        ("AdminNetworkPolicy", true) => (true, object.spec.priority.ok_or("spec.priority is required")?),
        ("BaselineAdminNetworkPolicy", true) => {
            if object.metadata.name != "default" {
                return Err("a BaselineAdminNetworkPolicy must be named `default` (it is a singleton)".into());
            }
            (false, 0)
        }
        (kind, _) => return Err(format!("{kind} is not a kind of {}", object.api_version)),
    };
    let subject = match (object.spec.subject.namespaces, object.spec.subject.pods) {
        (Some(ns), None) => Subject::Namespaces(ns),
        (None, Some(p)) => Subject::Pods { namespaces: p.namespace_selector, pods: p.pod_selector },
        _ => return Err("spec.subject needs exactly one of `namespaces` and `pods`".into()),
    };
    let rules = |wire: Vec<WireRule>, dir: Direction| -> std::result::Result<Vec<Rule>, String> {
        wire.into_iter().enumerate().map(|(i, r)| rule(r, i, dir, v1alpha1, admin)).collect()
    };
    let policy = Policy {
        label: label.to_string(),
        priority,
        name: object.metadata.name,
        subject,
        ingress: rules(object.spec.ingress, Direction::Ingress)?,
        egress: rules(object.spec.egress, Direction::Egress)?,
    };
    Ok((admin, policy))
}

fn rule(
    r: WireRule,
    i: usize,
    dir: Direction,
    v1alpha1: bool,
    admin: bool,
) -> std::result::Result<Rule, String> {
    let label = match &r.name {
        Some(name) => format!("{}[{i}] ({name})", dir.field()),
        None => format!("{}[{i}]", dir.field()),
    };
    let decision = match (r.action.as_str(), v1alpha1) {
        ("Accept", false) | ("Allow", true) => Decision::Allow,
        ("Deny", _) => Decision::Deny,
        ("Pass", false) => Decision::Pass,
        ("Pass", true) if admin => Decision::Pass,
        (other, _) => return Err(format!("{label}: action `{other}` is not one this kind takes")),
    };
    let wire_peers = match dir {
        Direction::Ingress => r.from,
        Direction::Egress => r.to,
    }
    .ok_or_else(|| {
        format!("{label}: `{}` is required", if dir == Direction::Ingress { "from" } else { "to" })
    })?;
    let mut peers = Vec::new();
    for (j, p) in wire_peers.into_iter().enumerate() {
        let forms = [
            p.namespaces.is_some(),
            p.pods.is_some(),
            p.networks.is_some(),
            p.nodes.is_some(),
            p.domain_names.is_some(),
        ];
        if forms.iter().filter(|f| **f).count() != 1 {
            return Err(format!(
                "{label} peer {j}: exactly one of namespaces, pods, networks, nodes, domainNames"
            ));
        }
        if dir == Direction::Ingress
            && (p.networks.is_some() || p.nodes.is_some() || p.domain_names.is_some())
        {
            return Err(format!("{label} peer {j}: ingress peers are namespaces and pods only"));
        }
        if p.domain_names.is_some() && decision != Decision::Allow {
            return Err(format!("{label} peer {j}: domainNames are valid only in Accept rules"));
        }
        peers.push(if let Some(ns) = p.namespaces {
            Peer::Namespaces(ns)
        } else if let Some(pods) = p.pods {
            Peer::Pods { namespaces: pods.namespace_selector, pods: pods.pod_selector }
        } else if let Some(nets) = p.networks {
            Peer::Networks(nets)
        } else if let Some(nodes) = p.nodes {
            Peer::Nodes(nodes)
        } else {
            Peer::DomainNames(p.domain_names.unwrap_or_default())
        });
    }
    let ports = match (r.protocols, r.ports) {
        (Some(_), Some(_)) => return Err(format!("{label}: `protocols` and `ports` are two API versions")),
        (Some(protocols), None) => Some(
            protocols.into_iter().map(|p| v1alpha2_port(p, &label)).collect::<std::result::Result<_, _>>()?,
        ),
        (None, Some(ports)) => {
            Some(ports.into_iter().map(|p| v1alpha1_port(p, &label)).collect::<std::result::Result<_, _>>()?)
        }
        (None, None) => None,
    };
    Ok(Rule { label, decision, action: r.action, peers, ports })
}

fn v1alpha2_port(p: WireProtocol, label: &str) -> std::result::Result<Port, String> {
    let forms = [
        p.tcp.map(|d| (Protocol::Tcp, d)),
        p.udp.map(|d| (Protocol::Udp, d)),
        p.sctp.map(|d| (Protocol::Sctp, d)),
    ];
    let mut numbered = forms.into_iter().flatten();
    match (numbered.next(), numbered.next(), p.destination_named_port) {
        (Some((protocol, d)), None, None) => match d.destination_port {
            None => Ok(Port::Range(protocol, 1, 65535)),
            Some(WireNumberOrRange { number: Some(n), range: None }) => Ok(Port::Range(protocol, n, n)),
            Some(WireNumberOrRange { number: None, range: Some(r) }) if r.start <= r.end => {
                Ok(Port::Range(protocol, r.start, r.end))
            }
            _ => {
                Err(format!("{label}: destinationPort needs one of `number` and a `range` with start ≤ end"))
            }
        },
        (None, None, Some(name)) => Ok(Port::Named(name)),
        _ => Err(format!("{label}: each protocols entry is one of tcp, udp, sctp, destinationNamedPort")),
    }
}

fn v1alpha1_port(p: WirePort, label: &str) -> std::result::Result<Port, String> {
    let protocol = |text: Option<String>| {
        text.as_deref()
            .map_or(Some(Protocol::Tcp), protocol_text::parse)
            .ok_or_else(|| format!("{label}: protocol {text:?} is not TCP, UDP or SCTP"))
    };
    match (p.port_number, p.named_port, p.port_range) {
        (Some(n), None, None) => Ok(Port::Range(protocol(n.protocol)?, n.port, n.port)),
        (None, Some(name), None) => Ok(Port::Named(name)),
        (None, None, Some(r)) if r.start <= r.end => Ok(Port::Range(protocol(r.protocol)?, r.start, r.end)),
        _ => {
            Err(format!("{label}: each ports entry is one of portNumber, namedPort, portRange (start ≤ end)"))
        }
    }
}

impl Policy {
    fn selects(&self, ctx: &Context<'_>, pod: &Pod) -> bool {
        let ns = ctx.topology.namespace_labels(&pod.namespace);
        match &self.subject {
            Subject::Namespaces(sel) => sel.matches(&ns),
            Subject::Pods { namespaces, pods } => namespaces.matches(&ns) && pods.matches(&pod.labels),
        }
    }
}

impl Rule {
    fn matches(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> bool {
        let peer = flow.peer(dir);
        self.peers.iter().any(|p| peer_matches(p, ctx, peer))
            && self.ports.as_ref().is_none_or(|ports| {
                ports.iter().any(|p| match p {
                    Port::Range(protocol, start, end) => {
                        *protocol == flow.protocol && (*start..=*end).contains(&flow.port)
                    }
                    Port::Named(name) => flow.destination_port_named(name),
                })
            })
    }
}

fn peer_matches(peer: &Peer, ctx: &Context<'_>, endpoint: &Endpoint<'_>) -> bool {
    match peer {
        Peer::Namespaces(sel) => {
            endpoint.policy_pod().is_some_and(|p| sel.matches(&ctx.topology.namespace_labels(&p.namespace)))
        }
        Peer::Pods { namespaces, pods } => endpoint.policy_pod().is_some_and(|p| {
            namespaces.matches(&ctx.topology.namespace_labels(&p.namespace)) && pods.matches(&p.labels)
        }),
        Peer::Networks(nets) => {
            ctx.cni.cidr_can_match(endpoint)
                && endpoint.ip().is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
        }
        Peer::Nodes(sel) => match endpoint {
            Endpoint::Node(n) => sel.matches(&n.labels),
            // A host-network pod is its node.
            Endpoint::Pod(p) if p.host_network => p
                .node_name
                .as_deref()
                .and_then(|name| ctx.topology.node(name))
                .is_some_and(|n| sel.matches(&n.labels)),
            _ => false,
        },
        Peer::DomainNames(names) => match endpoint {
            Endpoint::External(ip) => ctx.topology.names_of(*ip).any(|actual| {
                names.iter().any(|pattern| {
                    // `*` matches one or more whole labels.
                    let fqdn = match pattern.strip_prefix("*.") {
                        Some(rest) => Fqdn::Pattern(format!("**.{rest}")),
                        None => Fqdn::Name(pattern.clone()),
                    };
                    super::reference::fqdn_matches(&fqdn, actual)
                })
            }),
            _ => false,
        },
    }
}

impl Layer for Tier {
    fn rank(&self) -> Rank {
        Rank { order: self.order, name: self.name.to_string() }
    }

    fn decide(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Outcome {
        super::traced(|trace| self.judge(ctx, dir, flow, trace))
    }

    fn signature(&self, ctx: &Context<'_>, end: super::End, pod: &Pod, out: &mut Vec<u32>) -> bool {
        fn rules_of(p: &Policy, dir: Direction) -> &Vec<Rule> {
            match dir {
                Direction::Ingress => &p.ingress,
                Direction::Egress => &p.egress,
            }
        }
        let dir = end.subject_direction();
        let mut selecting = Vec::new();
        self.find_selecting(ctx, pod, |i, p| {
            if !rules_of(p, dir).is_empty() {
                selecting.extend(u32::try_from(i).ok());
            }
            None::<()>
        });
        super::classes::push_sorted(selecting, out);
        let peers = self.peers.get_or_init(|| {
            let of = |dir: Direction| {
                let all = self.policies.iter().enumerate().flat_map(|(pi, p)| {
                    rules_of(p, dir).iter().enumerate().flat_map(move |(ri, r)| {
                        r.peers.iter().enumerate().map(move |(ki, peer)| PeerKey { peer, at: (pi, ri, ki) })
                    })
                });
                super::classes::distinct(all).into_iter().map(|k| k.at).collect()
            };
            super::PerDirection::from_fn(of)
        });
        let pd = end.peer_direction();
        let list = &peers[pd];
        let endpoint = Endpoint::Pod(pod);
        super::classes::push_matching(list, out, |&(pi, ri, ki)| {
            self.policies
                .get(pi)
                .and_then(|p| rules_of(p, pd).get(ri))
                .and_then(|r| r.peers.get(ki))
                .is_some_and(|peer| peer_matches(peer, ctx, &endpoint))
        });
        true
    }

    fn decision(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Decision {
        self.judge(ctx, dir, flow, None)
    }
}

impl Tier {
    /// The one decision path: the first rule, by priority, of the policies selecting the pod.
    /// With a `trace` it records the step that decided; without one it formats nothing.
    fn judge(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>, trace: super::Trace<'_>) -> Decision {
        let Some(subject) = flow.subject(dir) else {
            super::record(trace, || Step::builtin(Decision::Pass, "not a pod".into()));
            return Decision::Pass;
        };
        let matched = self.find_selecting(ctx, subject, |_, policy| {
            let rules = match dir {
                Direction::Ingress => &policy.ingress,
                Direction::Egress => &policy.egress,
            };
            rules.iter().find(|r| r.matches(ctx, dir, flow)).map(|rule| (policy, rule))
        });
        let decision = matched.map_or(Decision::Pass, |(_, rule)| rule.decision);
        super::record(trace, || match matched {
            Some((policy, rule)) => Step {
                object: policy.label.clone(),
                rule: rule.label.clone(),
                decision,
                note: match rule.decision {
                    Decision::Pass => {
                        format!(
                            "{} (priority {}): leaves the {} tier",
                            rule.action, policy.priority, self.name
                        )
                    }
                    _ => format!("{} (priority {})", rule.action, policy.priority),
                },
            },
            None => Step::builtin(decision, format!("no {} rule matches", self.name)),
        });
        decision
    }
}

/// A peer as the distinct-peer table compares them (cluster-scoped: no namespace to add).
struct PeerKey<'a> {
    peer: &'a Peer,
    at: (usize, usize, usize),
}

impl std::fmt::Debug for PeerKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.peer)
    }
}

impl Tier {
    /// Visit the policies that select `pod`, in priority order, until `visit` gives a value.
    fn find_selecting<'a, R>(
        &'a self,
        ctx: &Context<'_>,
        pod: &Pod,
        mut visit: impl FnMut(usize, &'a Policy) -> Option<R>,
    ) -> Option<R> {
        let selects = |i: usize, p: &Pod| self.policies.get(i).is_some_and(|policy| policy.selects(ctx, p));
        let all = |p: &Pod| self.index.candidates_in_order(&p.labels);
        self.selecting.find_map(ctx.topology, pod, all, selects, |i| visit(i, self.policies.get(i)?))
    }
}

#[cfg(test)]
#[path = "cluster_network_policy_tests.rs"]
mod tests;
