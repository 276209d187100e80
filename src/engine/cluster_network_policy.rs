//! SIG-Network `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy (ENGINES.md section 5).
//!
//! Namespace policies render in the Baseline tier, so developer-written NetworkPolicies still
//! take precedence (as the 004 chart documents); guardrails render in the Admin tier, ahead of
//! everything. A ClusterNetworkPolicy isolates nothing by itself, so an allowlist is a set of
//! Accept rules followed, in a later object, by Deny rules for the same pods.
//!
//! Priorities (lower first): every Accept-only object shares [`ALLOW_PRIORITY`] and every
//! Deny-only object [`DENY_PRIORITY`] (or the user's `defaultDeny.order`). When objects of one
//! priority all carry the same action, the order among them cannot change a verdict, so sharing
//! is exact; and keeping each allowlist's Deny out of its Accept object preserves the union of
//! two allowlists that select the same pod (a Deny inside one would pre-empt the other).
//!
//! Limits of this engine, documented rather than hidden: there is no ingress peer for sources
//! outside the pod network and no `except`. The Deny rules therefore only ever name pods (and,
//! for egress, networks), so external clients, nodes and the API server are never denied
//! ingress here; and a CIDR with exceptions is rendered as the exact set of prefixes it covers.

use ipnet::IpNet;
use serde::Serialize;

use super::{Backend, Engine, Entry, Manifest, ObjectMeta, OutputGroup, Problems, Rendered, naming};
use crate::error::{Diagnostic, Result};
use crate::intent::{
    Entity, Guardrail, Intent, LabelSelector, Namespaces, Peer, Policy, PolicyRole, PortMatch, PortSel,
    Protocol, Rule,
};
use crate::vocab::Direction;
use crate::vocab::capability::Capability;
use crate::vocab::object::{Kind, Object};

pub struct ClusterNetworkPolicy;

/// Priority of every Accept-only object in the Baseline tier.
pub(crate) const ALLOW_PRIORITY: u32 = 100;
/// Priority of Deny-only objects when the user did not choose one.
pub(crate) const DENY_PRIORITY: u32 = 1000;
/// Highest priority the API accepts.
pub(crate) const MAX_PRIORITY: u32 = 1000;
/// First priority of guardrails in the Admin tier.
pub(crate) const GUARDRAIL_PRIORITY: u32 = 10;
/// The API's cap on rules per direction, peers per rule, protocols per rule, networks per peer.
const CAP: usize = 25;

#[derive(Serialize)]
struct Spec {
    tier: &'static str,
    priority: u32,
    subject: Subject,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ingress: Vec<Entry<CnpRule>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    egress: Vec<Entry<CnpRule>>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
enum Subject {
    Namespaces(LabelSelector),
    Pods(PodsSelector),
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct PodsSelector {
    namespace_selector: LabelSelector,
    pod_selector: LabelSelector,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
enum CnpPeer {
    Namespaces(LabelSelector),
    Pods(PodsSelector),
    Networks(Vec<String>),
}

#[derive(Serialize)]
struct CnpRule {
    name: String,
    action: &'static str,
    #[serde(rename = "from", skip_serializing_if = "Option::is_none")]
    from: Option<Vec<CnpPeer>>,
    #[serde(rename = "to", skip_serializing_if = "Option::is_none")]
    to: Option<Vec<CnpPeer>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    protocols: Vec<serde_json::Value>,
}

impl Backend for ClusterNetworkPolicy {
    fn engine(&self) -> Engine {
        Engine::ClusterNetworkPolicy
    }

    fn guardrail(
        &self,
        intent: &Intent,
        index: usize,
        g: &Guardrail,
        problems: &mut Problems,
    ) -> Result<Rendered> {
        let priority = u32::try_from(index).ok().and_then(|i| GUARDRAIL_PRIORITY.checked_add(i));
        match priority {
            Some(priority) if priority <= MAX_PRIORITY => {
                Ok(Rendered::objects(render_guardrail(intent, g, priority, problems)?))
            }
            // Said once, at the first guardrail past the tier's priorities.
            _ => {
                if u32::try_from(index).is_ok_and(|i| i == MAX_PRIORITY - GUARDRAIL_PRIORITY + 1) {
                    problems.push(Diagnostic::new(format!(
                        "too many guardrails for the Admin tier's priorities (0..{MAX_PRIORITY})"
                    )));
                }
                Ok(Rendered::default())
            }
        }
    }

    fn policy(&self, intent: &Intent, policy: &Policy, problems: &mut Problems) -> Result<Rendered> {
        Ok(Rendered::objects(render_policy(intent, policy, problems)?))
    }
}

fn render_policy(intent: &Intent, policy: &Policy, problems: &mut Problems) -> Result<Vec<Manifest>> {
    let context = format!("policy `{}` in namespace `{}`", policy.name, policy.namespace);
    if policy.ingress.is_some() {
        // What `check` files under a documented limitation is said at render time, once per
        // object.
        problems.warn(
            Diagnostic::warning(format!(
                "ClusterNetworkPolicy cannot isolate ingress from anything but pods: for {context}, ingress from nodes, the API server and outside the cluster stays open"
            ))
            .at(&policy.origin)
            .with_help("engines that can: kubernetes, cilium, calico"),
        );
    }
    let base = naming::join(&[&policy.namespace, &policy.name]);
    let own = LabelSelector::namespace_named(&policy.namespace);
    let subject = subject(&own, &policy.subject);
    let mut out = Vec::new();
    match &policy.role {
        PolicyRole::DefaultDeny(order) => {
            let priority = match order.written_at.as_ref() {
                None => DENY_PRIORITY,
                Some(at) if order.value > MAX_PRIORITY => {
                    problems.push(
                        Diagnostic::new(format!(
                            "defaultDeny.order {} is not a valid ClusterNetworkPolicy priority: the range is 0..{MAX_PRIORITY}",
                            order.value
                        ))
                        .at(at)
                        .with_help(format!(
                            "for this engine use a priority between {} and {MAX_PRIORITY}; leave the knob unset to get {DENY_PRIORITY}",
                            ALLOW_PRIORITY + 1
                        )),
                    );
                    return Ok(out);
                }
                Some(at) if order.value <= ALLOW_PRIORITY => {
                    problems.push(
                        Diagnostic::new(format!(
                            "defaultDeny.order {} would put the default-deny before the allowlists (priority {ALLOW_PRIORITY})",
                            order.value
                        ))
                        .at(at)
                        .with_help(format!("use a priority between {} and {MAX_PRIORITY}", ALLOW_PRIORITY + 1)),
                    );
                    return Ok(out);
                }
                Some(_) => order.value,
            };
            out.push(object(
                intent,
                base,
                "Baseline",
                priority,
                subject,
                deny_all(policy.ingress.is_some(), policy.egress.is_some()),
            )?);
        }
        PolicyRole::Allow => {
            let raw = &policy.passthrough.cluster_network_policy;
            let mut ingress = accept_rules(
                policy.ingress.as_deref().unwrap_or(&[]),
                Direction::Ingress,
                Some(&own),
                "Accept",
                &context,
                &intent.cluster,
                problems,
            );
            ingress.extend(raw.ingress.iter().cloned().map(Entry::Verbatim));
            let mut egress = accept_rules(
                policy.egress.as_deref().unwrap_or(&[]),
                Direction::Egress,
                Some(&own),
                "Accept",
                &context,
                &intent.cluster,
                problems,
            );
            egress.extend(raw.egress.iter().cloned().map(Entry::Verbatim));
            let chunks = ingress.len().div_ceil(CAP).max(egress.len().div_ceil(CAP));
            let mut ingress = ingress.into_iter();
            let mut egress = egress.into_iter();
            for i in 0..chunks {
                let name = if i == 0 { base.clone() } else { naming::join(&[&base, &(i + 1).to_string()]) };
                let rules = (ingress.by_ref().take(CAP).collect(), egress.by_ref().take(CAP).collect());
                out.push(object(intent, name, "Baseline", ALLOW_PRIORITY, subject.clone(), rules)?);
            }
            let (deny_in, deny_out) = deny_all(policy.ingress.is_some(), policy.egress.is_some());
            if !deny_in.is_empty() || !deny_out.is_empty() {
                let name = naming::join(&[&base, "lockdown"]);
                out.push(object(intent, name, "Baseline", DENY_PRIORITY, subject, (deny_in, deny_out))?);
            }
        }
    }
    Ok(out)
}

fn render_guardrail(
    intent: &Intent,
    g: &Guardrail,
    priority: u32,
    problems: &mut Problems,
) -> Result<Vec<Manifest>> {
    if g.ingress_deny.is_empty() && g.egress_deny.is_empty() {
        return Ok(Vec::new());
    }
    let context = format!("guardrail `{}`", g.name);
    let ingress =
        accept_rules(&g.ingress_deny, Direction::Ingress, None, "Deny", &context, &intent.cluster, problems);
    let egress =
        accept_rules(&g.egress_deny, Direction::Egress, None, "Deny", &context, &intent.cluster, problems);
    if ingress.len() > CAP || egress.len() > CAP {
        problems.push(
            Diagnostic::new(format!("{context} has more than {CAP} rules in one direction")).at(&g.origin),
        );
        return Ok(Vec::new());
    }
    let mut m = object(
        intent,
        g.name.clone(),
        "Admin",
        priority,
        subject(&g.namespaces, &g.pods),
        (ingress, egress),
    )?;
    m.group = OutputGroup::Guardrail;
    Ok(vec![m])
}

fn object(
    intent: &Intent,
    name: String,
    tier: &'static str,
    priority: u32,
    subject: Subject,
    (ingress, egress): (Vec<Entry<CnpRule>>, Vec<Entry<CnpRule>>),
) -> Result<Manifest> {
    let object = Object::new(
        Kind::CLUSTER_NETWORK_POLICY,
        ObjectMeta::new(intent, &name, None),
        Spec { tier, priority, subject, ingress, egress },
    );
    Manifest::new(Kind::CLUSTER_NETWORK_POLICY, name, None, OutputGroup::Namespace, &object)
}

/// Deny every pod source (ingress) and every destination (egress) for the directions asked.
fn deny_all(ingress: bool, egress: bool) -> (Vec<Entry<CnpRule>>, Vec<Entry<CnpRule>>) {
    let all_pods = serde_json::json!({"namespaces": {}});
    let everything = serde_json::json!({"networks": ["0.0.0.0/0", "::/0"]});
    let i = if ingress {
        vec![Entry::Verbatim(serde_json::json!({"name": "deny-all", "action": "Deny", "from": [all_pods]}))]
    } else {
        Vec::new()
    };
    let e = if egress {
        vec![Entry::Verbatim(
            serde_json::json!({"name": "deny-all", "action": "Deny", "to": [all_pods, everything]}),
        )]
    } else {
        Vec::new()
    };
    (i, e)
}

fn subject(namespaces: &LabelSelector, pods: &LabelSelector) -> Subject {
    if pods.is_empty() {
        Subject::Namespaces(namespaces.clone())
    } else {
        Subject::Pods(PodsSelector { namespace_selector: namespaces.clone(), pod_selector: pods.clone() })
    }
}

/// IR rules → CNP rules with `action`, split to respect the 25-item caps. `own` is the
/// policy's namespace (None for cluster-wide guardrails).
fn accept_rules(
    rules: &[Rule],
    direction: Direction,
    own: Option<&LabelSelector>,
    action: &'static str,
    context: &str,
    facts: &crate::intent::ClusterFacts,
    problems: &mut Problems,
) -> Vec<Entry<CnpRule>> {
    let mut out = Vec::new();
    for rule in rules {
        let deny = action == "Deny";
        let Some(peers) = peers(rule, direction, own, deny, context, problems) else { continue };
        let protocols = protocols(&rule.ports);
        let (network_peers, pod_peers): (Vec<CnpPeer>, Vec<CnpPeer>) =
            peers.into_iter().partition(|p| matches!(p, CnpPeer::Networks(_)));
        let mut groups: Vec<(Vec<CnpPeer>, Vec<serde_json::Value>)> = Vec::new();
        let has_named = rule.ports.iter().any(|p| matches!(p.port, PortSel::Named(_)));
        // "Anyone" is every pod (`namespaces: {}`, which keeps the named ports) plus every
        // address; a named port never matches an address that is not a pod, so the networks
        // half takes the numbered ports alone, exactly.
        let anyone = rule.peers.is_empty() || rule.peers.contains(&Peer::Entity(Entity::All));
        if has_named && !network_peers.is_empty() && anyone {
            let numbered: Vec<PortMatch> =
                rule.ports.iter().filter(|p| !matches!(p.port, PortSel::Named(_))).cloned().collect();
            if !pod_peers.is_empty() {
                groups.push((pod_peers, protocols));
            }
            if !numbered.is_empty() {
                groups.push((network_peers, self::protocols(&numbered)));
            }
        } else if has_named && !network_peers.is_empty() {
            // The API forbids named ports beside `networks` peers. A name the values declare
            // with one number becomes that number (on every address of the networks, which
            // is wider than "pods that name it": said aloud); any other name is refused.
            let mut numbered = Vec::new();
            for port in &rule.ports {
                let PortSel::Named(name) = &port.port else {
                    numbered.push(port.clone());
                    continue;
                };
                match facts.named_port(name).as_slice() {
                    [(protocol, number)] => {
                        numbered.push(PortMatch { protocol: *protocol, port: PortSel::Number(*number) });
                        problems.warn(
                            Diagnostic::warning(format!(
                                "ClusterNetworkPolicy cannot name a port beside `networks` peers: named port `{name}` is rendered as {number}/{} ({context}, rule `{}`), which also matches that port on addresses that are not pods naming it",
                                protocol.as_str(),
                                rule.name
                            ))
                            .at(&rule.origin),
                        );
                    }
                    found => {
                        let why = if found.is_empty() {
                            "the values declare no port with that name".to_string()
                        } else {
                            format!("the values declare it as {} ports", found.len())
                        };
                        problems.push(
                            Diagnostic::unsupported(
                                Engine::ClusterNetworkPolicy,
                                Capability::NamedPortToCidr,
                                &format!("the named port `{name}` toward a CIDR peer ({why})"),
                                &format!("{context}, rule `{}`", rule.name),
                            )
                            .at(&rule.origin)
                            .with_help("write the port number, or declare the name on exactly one port"),
                        );
                    }
                }
            }
            if !pod_peers.is_empty() {
                groups.push((pod_peers, protocols));
            }
            // Empty only when every port was refused above: never render "every port".
            if !numbered.is_empty() {
                groups.push((network_peers, self::protocols(&numbered)));
            }
        } else {
            groups.push((pod_peers.into_iter().chain(network_peers).collect(), protocols));
        }
        let mut n = 0;
        for (peers, protocols) in &groups {
            let peer_chunks: Vec<&[CnpPeer]> = peers.chunks(CAP).collect();
            let protocol_chunks: Vec<&[serde_json::Value]> =
                if protocols.is_empty() { vec![&[]] } else { protocols.chunks(CAP).collect() };
            for peer_chunk in &peer_chunks {
                for protocol_chunk in &protocol_chunks {
                    n += 1;
                    let name = if n == 1 { rule.name.clone() } else { format!("{}-{n}", rule.name) };
                    let r = CnpRule {
                        name: name.chars().take(100).collect(),
                        action,
                        from: (direction == Direction::Ingress).then(|| peer_chunk.to_vec()),
                        to: (direction == Direction::Egress).then(|| peer_chunk.to_vec()),
                        protocols: protocol_chunk.to_vec(),
                    };
                    out.push(Entry::Rendered(r));
                }
            }
        }
    }
    out
}

fn peers(
    rule: &Rule,
    direction: Direction,
    own: Option<&LabelSelector>,
    deny: bool,
    context: &str,
    problems: &mut Problems,
) -> Option<Vec<CnpPeer>> {
    let where_ = format!("{context}, rule `{}`", rule.name);
    let mut out = Vec::new();
    let mut ok = true;
    let any = |out: &mut Vec<CnpPeer>| {
        out.push(CnpPeer::Namespaces(LabelSelector::default()));
        if direction == Direction::Egress {
            out.push(CnpPeer::Networks(vec!["0.0.0.0/0".into(), "::/0".into()]));
        }
    };
    // Ingress peers name pods only: a Deny from "anyone" or from the API server would leave
    // every other source open, so it is refused rather than silently narrowed.
    let refuse_deny = |what: &str, problems: &mut Problems| {
        problems.push(
            Diagnostic::unsupported(
                Engine::ClusterNetworkPolicy,
                Capability::DenyIngressFromNonPods,
                &format!("denying ingress from {what}: ingress peers are namespaces and pods only"),
                &where_,
            )
            .at(&rule.origin),
        );
    };
    let any_ingress_deny = deny
        && direction == Direction::Ingress
        && (rule.peers.is_empty() || rule.peers.contains(&Peer::Entity(Entity::All)));
    if any_ingress_deny {
        refuse_deny("anyone", problems);
        return None;
    }
    if rule.peers.is_empty() {
        any(&mut out);
    }
    if super::only_gateway_proxy(rule, super::Engine::ClusterNetworkPolicy, problems) {
        return None;
    }
    let mut networks: Vec<IpNet> = Vec::new();
    for peer in &rule.peers {
        match peer {
            // No gateway proxy of the CNI's own: the gateway's pods are the rule's other peers.
            Peer::GatewayProxy => {}
            Peer::Pods { namespaces, pods } => {
                let ns = match (namespaces, own) {
                    (Namespaces::Own, Some(own)) => own,
                    (Namespaces::Own, None) => {
                        ok = false;
                        problems.push(
                            Diagnostic::new(format!(
                                "a cluster-wide rule has no namespace of its own ({where_})"
                            ))
                            .at(&rule.origin),
                        );
                        continue;
                    }
                    (Namespaces::Matching(ns), _) => ns,
                };
                out.push(if pods.is_empty() {
                    CnpPeer::Namespaces(ns.clone())
                } else {
                    CnpPeer::Pods(PodsSelector {
                        namespace_selector: ns.clone(),
                        pod_selector: pods.clone(),
                    })
                });
            }
            Peer::Cidr { cidr, except } if direction == Direction::Egress => {
                networks.extend(subtract(*cidr, except))
            }
            Peer::ApiServer { cidrs } if direction == Direction::Egress && !cidrs.is_empty() => {
                networks.extend(cidrs.iter().copied())
            }
            Peer::ApiServer { .. } if direction == Direction::Egress => {
                ok = false;
                problems.push(
                    Diagnostic::new(format!(
                        "the clusterNetworkPolicy engine reaches the API server only by its endpoint addresses, and none are set ({where_})"
                    ))
                    .at(&rule.origin)
                    .with_help("set cluster.apiServer.cidrs; engines that can without addresses: cilium, calico"),
                );
            }
            Peer::ApiServer { .. } if deny => {
                ok = false;
                refuse_deny("the API server", problems);
            }
            // The API server is not a pod, and this engine's Deny rules only ever name pods: its
            // traffic is never denied here, so no Accept is needed and none is written. Said,
            // so that the peer does not vanish without a word.
            Peer::ApiServer { .. } => problems.warn(
                Diagnostic::warning(format!(
                    "ingress from the API server needs no rule on ClusterNetworkPolicy, which never denies traffic from non-pods: the peer renders nothing ({where_})"
                ))
                .at(&rule.origin),
            ),
            Peer::Cidr { .. } => {
                ok = false;
                problems.push(
                    Diagnostic::unsupported(
                        Engine::ClusterNetworkPolicy,
                        Capability::IngressCidr,
                        "an ingress CIDR peer: ingress peers are namespaces and pods only",
                        &where_,
                    )
                    .at(&rule.origin)
                    .with_help("engines that can: kubernetes, cilium, calico. On this engine such sources are never denied (its Deny rules name pods only), so the peer can be dropped from the values"),
                );
            }
            Peer::Entity(Entity::All) => any(&mut out),
            Peer::Entity(e) => {
                ok = false;
                problems.push(
                    Diagnostic::unsupported(
                        Engine::ClusterNetworkPolicy,
                        Capability::Entity,
                        &format!("the Cilium entity `{}`", e.as_str()),
                        &where_,
                    )
                    .at(&rule.origin),
                );
            }
            Peer::Fqdn(_) => {
                ok = false;
                problems.push(
                    Diagnostic::unsupported(
                        Engine::ClusterNetworkPolicy,
                        Capability::FqdnEgress,
                        "FQDN egress (domainNames exists only in the experimental channel)",
                        &where_,
                    )
                    .at(&rule.origin),
                );
            }
        }
    }
    networks.sort();
    networks.dedup();
    for chunk in networks.chunks(CAP) {
        out.push(CnpPeer::Networks(chunk.iter().map(ToString::to_string).collect()));
    }
    // A rule whose only peers need no Accept here is left out, not widened to "anyone".
    (ok && !out.is_empty()).then_some(out)
}

fn protocols(ports: &[PortMatch]) -> Vec<serde_json::Value> {
    ports
        .iter()
        .map(|p| {
            let key = match p.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
            };
            let port = match &p.port {
                PortSel::Named(name) => return serde_json::json!({"destinationNamedPort": name}),
                PortSel::Number(n) => serde_json::json!({"number": n}),
                PortSel::Range(a, b) => serde_json::json!({"range": {"start": a, "end": b}}),
                // `tcp: {}` is rejected: every port is the full range.
                PortSel::Any => serde_json::json!({"range": {"start": 1, "end": 65535}}),
            };
            serde_json::json!({key: {"destinationPort": port}})
        })
        .collect()
}

/// `base` minus `except`, as the exact list of prefixes that remain.
pub(crate) fn subtract(base: IpNet, except: &[IpNet]) -> Vec<IpNet> {
    let relevant: Vec<IpNet> =
        except.iter().filter(|e| base.contains(*e) || e.contains(&base)).copied().collect();
    if relevant.is_empty() {
        return vec![base];
    }
    if relevant.iter().any(|e| e.contains(&base)) {
        return Vec::new();
    }
    match base.subnets(base.prefix_len() + 1) {
        Ok(halves) => halves.flat_map(|half| subtract(half, &relevant)).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
#[path = "cluster_network_policy_tests.rs"]
mod tests;
