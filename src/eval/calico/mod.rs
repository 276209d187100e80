//! Calico `projectcalico.org/v3` semantics (ENGINES.md 4.2–4.4): tiers by order, in a tier the
//! policies that select the endpoint for the direction by order (ties by name), rules
//! first-match: Allow and Deny end evaluation, Pass leaves the tier, Log continues; no match
//! in a tier that selected the endpoint takes the tier's default action (Deny unless Pass). A
//! tier that selects nothing is skipped; after the last tier the namespace profile allows.
//! Kubernetes NetworkPolicies sit in the `default` tier at order 1000.

mod read;
pub mod selector;

pub(crate) use read::layers;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use self::selector::{Sel, Subject};
use super::kubernetes;
use super::{Context, Decision, Direction, Endpoint, Flow, Layer, Outcome, Pod, Rank, Step};
use crate::intent::Protocol;
use crate::vocab::PerDirection;
use crate::wire::kubernetes::NetworkPolicy;

const DEFAULT_TIER: &str = "default";
/// The order Calico gives converted Kubernetes NetworkPolicies in the default tier.
const NETWORK_POLICY_ORDER: f64 = 1000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Allow,
    Deny,
    Pass,
    Log,
}

#[derive(Debug)]
struct Rule {
    label: String,
    action: Action,
    protocol: Option<Option<Protocol>>,
    not_protocol: Option<Option<Protocol>>,
    ip_version: Option<u8>,
    source: Entity,
    destination: Entity,
    /// L7 (HTTP) constraints: judged at L3/L4 only, and reported.
    http: bool,
}

#[derive(Debug, Default)]
struct Entity {
    nets: Vec<IpNet>,
    not_nets: Vec<IpNet>,
    selector: Option<Sel>,
    not_selector: Option<Sel>,
    namespace_selector: Option<Sel>,
    ports: Vec<PortMatch>,
    not_ports: Vec<PortMatch>,
    service_account_names: Vec<String>,
    /// Service accounts chosen by their labels, which a topology does not carry.
    service_account_selector: bool,
    service: Option<(String, String)>,
}

#[derive(Debug)]
enum PortMatch {
    Range(u16, u16),
    Named(String),
}

#[derive(Debug)]
enum Body {
    Calico { rules: PerDirection<Vec<Rule>> },
    Kubernetes(Box<NetworkPolicy>),
}

#[derive(Debug)]
struct Policy {
    label: String,
    /// Name Calico sorts by (`knp.default.<name>` for converted NetworkPolicies).
    sort_name: String,
    order: f64,
    namespace: Option<String>,
    selector: Sel,
    namespace_selector: Option<Sel>,
    types: PerDirection<bool>,
    body: Body,
}

#[derive(Debug)]
struct Tier {
    name: String,
    order: f64,
    pass_by_default: bool,
    policies: Vec<Policy>,
}

/// A (Global)NetworkSet: external addresses with labels that selectors can match.
#[derive(Debug)]
struct NetworkSet {
    namespace: Option<String>,
    labels: BTreeMap<String, String>,
    nets: Vec<IpNet>,
}

/// An endpoint as Calico's rules see it.
struct View<'a> {
    ip: Option<IpAddr>,
    /// A workload endpoint (a pod Calico networks) or a network set: something with labels.
    labels: Option<std::borrow::Cow<'a, BTreeMap<String, String>>>,
    /// The namespace of a workload or a namespaced network set; `None` for global things.
    namespace: Option<&'a str>,
    pod: Option<&'a Pod>,
    api_server: bool,
}

#[derive(Debug)]
struct TierLayer {
    tier: Tier,
    sets: std::sync::Arc<Vec<NetworkSet>>,
    /// Which policies select each pod, whatever the direction (the direction's type is
    /// checked per flow).
    selecting: crate::eval::topology::SelectionCache,
    /// Built when signatures are first asked for: the distinct `[source, destination]` sides of
    /// every rule as (policy, direction, rule), and the distinct NetworkPolicy peers.
    entities: std::sync::OnceLock<RuleSides>,
    /// The policies by a label their selector requires (of the pod's labels as Calico sees
    /// them), so that finding the policies that select a pod does not test every policy.
    index: crate::eval::labels::SelectorIndex,
    /// Each pod's labels as Calico sees them (with its namespace and service account), built
    /// once: judging a flow must not build two label maps.
    calico_labels: crate::eval::topology::PerPod<BTreeMap<String, String>>,
}

/// Per side (`[source, destination]`), the distinct sides of the rules as (policy, direction,
/// rule); and the distinct peers of the NetworkPolicies.
type RuleSides = ([Vec<(usize, Direction, usize)>; 2], kubernetes::DistinctPeers);

/// One side of a rule as the distinct-side table compares them: with the policy's namespace.
struct SideKey<'a> {
    namespace: Option<&'a str>,
    entity: &'a Entity,
    at: (usize, Direction, usize),
}

impl std::fmt::Debug for SideKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {:?}", self.namespace, self.entity)
    }
}

fn pod_labels(pod: &Pod) -> BTreeMap<String, String> {
    let mut labels = pod.labels.clone();
    labels.insert("projectcalico.org/namespace".into(), pod.namespace.clone());
    labels.insert("projectcalico.org/orchestrator".into(), "k8s".into());
    if let Some(sa) = &pod.service_account {
        labels.insert("projectcalico.org/serviceaccount".into(), sa.clone());
    }
    labels
}

/// The label Calico gives every namespace: its name.
const NAMESPACE_NAME_KEY: &str = "projectcalico.org/name";

impl TierLayer {
    fn view<'a>(&'a self, topology: &crate::eval::Topology, endpoint: &Endpoint<'a>) -> View<'a> {
        if let Some(pod) = endpoint.policy_pod() {
            return View {
                ip: pod.ip,
                labels: Some(self.calico_labels.get(topology, pod, pod_labels)),
                namespace: Some(&pod.namespace),
                pod: Some(pod),
                api_server: false,
            };
        }
        let ip = endpoint.ip();
        // The most specific network set holding the address lends it its labels.
        let set = ip.and_then(|ip| {
            self.sets
                .iter()
                .filter_map(|s| {
                    s.nets
                        .iter()
                        .filter(|n| n.contains(&ip))
                        .map(|n| n.prefix_len())
                        .max()
                        .map(|len| (len, s))
                })
                .max_by_key(|(len, _)| *len)
                .map(|(_, s)| s)
        });
        View {
            ip,
            labels: set.map(|s| std::borrow::Cow::Borrowed(&s.labels)),
            namespace: set.and_then(|s| s.namespace.as_deref()),
            pod: None,
            api_server: matches!(endpoint, Endpoint::ApiServer(_)),
        }
    }
}

/// How an endpoint meets one side of a rule, before the flow's port is looked at.
enum EndpointMatch {
    No,
    /// A lone notSelector of a global policy, met by an address outside Calico: only the
    /// ports remain to check.
    Unscoped,
    /// The endpoint matches; a Service reference and the ports remain to check.
    Yes,
}

impl Entity {
    /// Whether the endpoint `v` matches this side of a rule of a policy in `policy_ns`.
    fn matches(
        &self,
        ctx: &Context<'_>,
        v: &View<'_>,
        policy_ns: Option<&str>,
        flow: &Flow<'_>,
        ports_apply: bool,
    ) -> bool {
        match self.endpoint_matches(ctx, v, policy_ns) {
            EndpointMatch::No => false,
            EndpointMatch::Unscoped => self.ports_match(flow, ports_apply),
            EndpointMatch::Yes => {
                // A Service match is its endpoints' addresses and ports (ENGINES.md 4.6): for
                // `default/kubernetes`, the API server on its endpoint ports.
                if let Some((name, ns)) = &self.service
                    && !(name == "kubernetes"
                        && ns == "default"
                        && v.api_server
                        && ctx.topology.api_server.serves(flow.protocol, flow.port))
                {
                    return false;
                }
                self.ports_match(flow, ports_apply)
            }
        }
    }

    /// Whether a policy-enforced pod matches this side of a rule, whatever the flow's port:
    /// what the pod's class signature records.
    fn matches_pod(&self, ctx: &Context<'_>, v: &View<'_>, policy_ns: Option<&str>) -> bool {
        match self.endpoint_matches(ctx, v, policy_ns) {
            EndpointMatch::No => false,
            EndpointMatch::Unscoped => true,
            EndpointMatch::Yes => self.service.is_none() || v.api_server,
        }
    }

    /// The part of [`Entity::matches`] that reads the endpoint and not the flow's port.
    fn endpoint_matches(&self, ctx: &Context<'_>, v: &View<'_>, policy_ns: Option<&str>) -> EndpointMatch {
        let ip_in = |nets: &[IpNet]| v.ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)));
        if !self.nets.is_empty() && !ip_in(&self.nets) {
            return EndpointMatch::No;
        }
        if ip_in(&self.not_nets) {
            return EndpointMatch::No;
        }
        let scoped = self.selector.is_some()
            || self.not_selector.is_some()
            || self.namespace_selector.is_some()
            || !self.service_account_names.is_empty();
        if scoped {
            let Some(labels) = &v.labels else {
                // Only a notSelector alone, in a global policy, matches non-Calico addresses.
                let alone = self.selector.is_none()
                    && self.namespace_selector.is_none()
                    && self.service_account_names.is_empty()
                    && policy_ns.is_none();
                return if alone { EndpointMatch::Unscoped } else { EndpointMatch::No };
            };
            let in_scope = match (&self.namespace_selector, v.namespace, policy_ns) {
                (Some(sel), Some(ns), _) => sel.matches(&Subject {
                    labels: &ctx.topology.namespace_labels(ns),
                    global: false,
                    extra: Some((NAMESPACE_NAME_KEY, ns)),
                }),
                (Some(sel), None, _) => {
                    sel.matches(&Subject { labels: &BTreeMap::new(), global: true, extra: None })
                }
                (None, ns, Some(policy_ns)) => ns == Some(policy_ns),
                (None, _, None) => true,
            };
            let subject = Subject { labels, global: v.namespace.is_none(), extra: None };
            if !in_scope
                || self.selector.as_ref().is_some_and(|s| !s.matches(&subject))
                || self.not_selector.as_ref().is_some_and(|s| s.matches(&subject))
            {
                return EndpointMatch::No;
            }
            if !self.service_account_names.is_empty()
                && !v
                    .pod
                    .and_then(|p| p.service_account.as_ref())
                    .is_some_and(|sa| self.service_account_names.contains(sa))
            {
                return EndpointMatch::No;
            }
        }
        if self.service_account_selector {
            return EndpointMatch::No;
        }
        EndpointMatch::Yes
    }

    fn ports_match(&self, flow: &Flow<'_>, ports_apply: bool) -> bool {
        let hit = |p: &PortMatch| match p {
            PortMatch::Range(a, b) => (*a..=*b).contains(&flow.port),
            PortMatch::Named(name) => flow.destination_port_named(name),
        };
        if !ports_apply {
            // Source ports are ephemeral: a flow names none, so a rule on them never matches.
            return self.ports.is_empty() && self.not_ports.is_empty();
        }
        (self.ports.is_empty() || self.ports.iter().any(hit)) && !self.not_ports.iter().any(hit)
    }
}

impl TierLayer {
    /// `views`: the flow's source and destination as Calico sees them, built once per flow.
    fn rule_matches(
        &self,
        ctx: &Context<'_>,
        r: &Rule,
        policy_ns: Option<&str>,
        flow: &Flow<'_>,
        views: &(View<'_>, View<'_>),
    ) -> bool {
        if r.protocol.is_some_and(|p| p != Some(flow.protocol))
            || r.not_protocol.is_some_and(|p| p == Some(flow.protocol))
        {
            return false;
        }
        if let Some(version) = r.ip_version {
            let v4 = flow.source.ip().or(flow.destination.ip()).is_some_and(|ip| ip.is_ipv4());
            if (version == 4) != v4 {
                return false;
            }
        }
        let (source, destination) = views;
        r.source.matches(ctx, source, policy_ns, flow, false)
            && r.destination.matches(ctx, destination, policy_ns, flow, true)
    }

    /// Visit the policies of the tier that select `pod` for `dir`, in order, until `visit`
    /// gives a value.
    fn find_selecting<'a, R>(
        &'a self,
        ctx: &Context<'_>,
        pod: &Pod,
        dir: Direction,
        mut visit: impl FnMut(usize, &'a Policy) -> Option<R>,
    ) -> Option<R> {
        let policies = &self.tier.policies;
        let selects =
            |i: usize, p: &Pod| policies.get(i).is_some_and(|policy| self.selects_pod(ctx, policy, p));
        let all = |p: &Pod| self.index.candidates_in_order(&pod_labels(p));
        self.selecting.find_map(ctx.topology, pod, all, selects, |i| {
            let policy = policies.get(i)?;
            if policy.types[dir] { visit(i, policy) } else { None }
        })
    }

    /// Whether `p` selects `pod` for some direction.
    fn selects_pod(&self, ctx: &Context<'_>, p: &Policy, pod: &Pod) -> bool {
        if p.namespace.as_deref().is_some_and(|ns| ns != pod.namespace) {
            return false;
        }
        if let Body::Kubernetes(np) = &p.body {
            return np.selects(ctx, pod);
        }
        p.namespace_selector.as_ref().is_none_or(|s| {
            s.matches(&Subject {
                labels: &ctx.topology.namespace_labels(&pod.namespace),
                global: false,
                extra: Some((NAMESPACE_NAME_KEY, &pod.namespace)),
            })
        }) && p.selector.matches(&Subject { labels: &pod_labels(pod), global: false, extra: None })
    }
}

impl Layer for TierLayer {
    fn rank(&self) -> Rank {
        Rank { order: self.tier.order, name: self.tier.name.clone() }
    }

    fn signature(&self, ctx: &Context<'_>, end: crate::eval::End, pod: &Pod, out: &mut Vec<u32>) -> bool {
        let policies = &self.tier.policies;
        let mut selecting = Vec::new();
        self.find_selecting(ctx, pod, end.subject_direction(), |i, _| {
            selecting.extend(u32::try_from(i).ok());
            None::<()>
        });
        crate::eval::classes::push_sorted(selecting, out);
        let (sides, np_peers) = self.entities.get_or_init(|| {
            // Both directions' rules read both sides: a rule's source is the peer of an
            // ingress rule and the subject itself (further narrowed) in an egress rule.
            let of = |side: usize| {
                let all = policies.iter().enumerate().flat_map(|(pi, p)| {
                    let rules: Vec<(Direction, usize, &Rule)> = match &p.body {
                        Body::Calico { rules } => rules
                            .iter()
                            .flat_map(|(d, list)| list.iter().enumerate().map(move |(ri, r)| (d, ri, r)))
                            .collect(),
                        Body::Kubernetes(_) => Vec::new(),
                    };
                    rules.into_iter().map(move |(d, ri, r)| SideKey {
                        namespace: p.namespace.as_deref(),
                        entity: if side == 0 { &r.source } else { &r.destination },
                        at: (pi, d, ri),
                    })
                });
                crate::eval::classes::distinct(all).into_iter().map(|k| k.at).collect()
            };
            let nps = policies.iter().filter_map(|p| match &p.body {
                Body::Kubernetes(np) => Some(np.as_ref()),
                Body::Calico { .. } => None,
            });
            ([of(0), of(1)], kubernetes::distinct_peers(nps))
        });
        let side = match end {
            crate::eval::End::Source => 0,
            crate::eval::End::Destination => 1,
        };
        let view = self.view(ctx.topology, &Endpoint::Pod(pod));
        crate::eval::classes::push_matching(&sides[side], out, |&(pi, d, ri)| {
            let Some(p) = policies.get(pi) else { return false };
            let Body::Calico { rules } = &p.body else { return false };
            rules[d].get(ri).is_some_and(|r| {
                let entity = if side == 0 { &r.source } else { &r.destination };
                entity.matches_pod(ctx, &view, p.namespace.as_deref())
            })
        });
        kubernetes::push_matching_peers(np_peers, ctx, end, pod, out);
        true
    }

    fn decide(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Outcome {
        self.judge(ctx, dir, flow, true)
    }

    fn decision(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Decision {
        self.judge(ctx, dir, flow, false).decision
    }
}

impl TierLayer {
    /// The tier's verdict; with `explain`, also the steps and what is not modelled (the fast
    /// path of `check` and `matrix` formats nothing).
    fn judge(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>, explain: bool) -> Outcome {
        let Some(subject) = flow.subject(dir) else {
            return Outcome::new(Decision::Pass, Step::builtin(Decision::Pass, "not a pod".into()));
        };
        let mut steps = Vec::new();
        let mut unmodelled = Vec::new();
        let mut selected: Vec<&str> = Vec::new();
        let mut views: Option<(View<'_>, View<'_>)> = None;
        let mut selecting = Vec::new();
        self.find_selecting(ctx, subject, dir, |_, p| {
            selecting.push(p);
            None::<()>
        });
        for p in selecting {
            selected.push(&p.label);
            match &p.body {
                Body::Kubernetes(np) => {
                    if let Some(i) = np.matching_rule(ctx, dir, flow) {
                        if !explain {
                            return Outcome { decision: Decision::Allow, steps, unmodelled };
                        }
                        steps.push(Step {
                            object: p.label.clone(),
                            rule: format!("{}[{i}]", dir.field()),
                            decision: Decision::Allow,
                            note: format!("Allow (tier {}, order 1000)", self.tier.name),
                        });
                        return Outcome { decision: Decision::Allow, steps, unmodelled };
                    }
                }
                Body::Calico { rules } => {
                    for r in &rules[dir] {
                        let views = views.get_or_insert_with(|| {
                            (
                                self.view(ctx.topology, &flow.source),
                                self.view(ctx.topology, &flow.destination),
                            )
                        });
                        if !self.rule_matches(ctx, r, p.namespace.as_deref(), flow, views) {
                            continue;
                        }
                        let decision = match r.action {
                            Action::Allow => Decision::Allow,
                            Action::Deny => Decision::Deny,
                            Action::Pass => Decision::Pass,
                            Action::Log if !explain => continue,
                            Action::Log => {
                                steps.push(Step {
                                    object: p.label.clone(),
                                    rule: r.label.clone(),
                                    decision: Decision::Pass,
                                    note: "Log: logged, evaluation continues".into(),
                                });
                                continue;
                            }
                        };
                        if !explain {
                            return Outcome { decision, steps, unmodelled };
                        }
                        if r.http && r.action == Action::Allow {
                            unmodelled.push(format!(
                                "{} {}: HTTP rules not modelled; allowed at L3/L4",
                                p.label, r.label
                            ));
                        }
                        let note = match r.action {
                            Action::Pass => format!("Pass: leaves tier {}", self.tier.name),
                            _ => format!("{:?} (tier {}, order {})", r.action, self.tier.name, p.order),
                        };
                        steps.push(Step { object: p.label.clone(), rule: r.label.clone(), decision, note });
                        return Outcome { decision, steps, unmodelled };
                    }
                }
            }
        }
        if selected.is_empty() {
            if !explain {
                return Outcome { decision: Decision::Pass, steps, unmodelled };
            }
            steps.push(Step::builtin(
                Decision::Pass,
                format!("tier {} selects no policy for this endpoint", self.tier.name),
            ));
            return Outcome { decision: Decision::Pass, steps, unmodelled };
        }
        let decision = if self.tier.pass_by_default { Decision::Pass } else { Decision::Deny };
        if !explain {
            return Outcome { decision, steps, unmodelled };
        }
        steps.push(Step {
            object: format!("Tier {}", self.tier.name),
            rule: String::new(),
            decision,
            note: format!(
                "end of tier: selected by {} and no rule matched; default action {}",
                selected.join(", "),
                if self.tier.pass_by_default { "Pass" } else { "Deny" }
            ),
        });
        Outcome { decision, steps, unmodelled }
    }
}

#[cfg(test)]
mod tests;
