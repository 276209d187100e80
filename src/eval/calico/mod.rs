//! Calico `projectcalico.org/v3` semantics (ENGINES.md 4.2–4.4): tiers by order, in a tier the
//! policies that select the endpoint for the direction by order (ties by name), rules
//! first-match: Allow and Deny end evaluation, Pass leaves the tier, Log continues; no match
//! in a tier that selected the endpoint takes the tier's default action (Deny unless Pass). A
//! tier that selects nothing is skipped; after the last tier the namespace profile allows.
//! Kubernetes NetworkPolicies sit in the `default` tier at order 1000.

pub mod selector;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use self::selector::{Sel, Subject};
use super::kubernetes;
use super::topology::protocol_text;
use super::{
    Context, Decision, Direction, Endpoint, Flow, Layer, NAMESPACED_ORDER, Outcome, Pod, Rank, Step,
};
use crate::error::{Diagnostic, Error, Result};
use crate::intent::Protocol;
use crate::wire::calico::{Object, PolicySpec, TierSpec, WireEntity, WireRule};
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
    Calico { rules: [Vec<Rule>; 2] },
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
    types: [bool; 2],
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

fn index(dir: Direction) -> usize {
    match dir {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

/// `spec.<key>` of an object.
fn spec_field(key: &str) -> crate::vocab::source::KeyPath {
    crate::vocab::source::KeyPath(vec![
        crate::vocab::source::Seg::Key("spec".into()),
        crate::vocab::source::Seg::Key(key.into()),
    ])
}

/// The evaluator layers of a Calico cluster: one per tier.
pub fn layers(
    k8s: &[&serde_json::Value],
    objects: &[&serde_json::Value],
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<Box<dyn Layer>>> {
    let mut problems = Vec::new();
    let mut tiers: BTreeMap<String, Tier> = BTreeMap::new();
    tiers.insert(
        DEFAULT_TIER.into(),
        Tier {
            name: DEFAULT_TIER.into(),
            order: NAMESPACED_ORDER,
            pass_by_default: false,
            policies: Vec::new(),
        },
    );
    let mut policies: Vec<(String, Policy)> = Vec::new();
    let mut sets = Vec::new();
    for o in objects {
        // "Calico" tells its NetworkPolicy from the Kubernetes kind of the same name.
        let label = format!("Calico {}", super::object_label(o));
        let read = super::from_wire::<Object>(o, "", o, &label, warnings).and_then(|obj| {
            match obj.kind.as_str() {
                "Tier" => {
                    let spec: TierSpec = super::from_wire(&obj.spec, "spec.", o, &label, warnings)?;
                    let pass = match spec.default_action.as_deref() {
                        None | Some("Deny") => false,
                        Some("Pass") => true,
                        Some(other) => {
                            return Err(super::WireError {
                                field: spec_field("defaultAction"),
                                message: format!("`{other}` is neither Deny nor Pass"),
                            });
                        }
                    };
                    let order = spec.order.unwrap_or(f64::INFINITY);
                    let order = if obj.metadata.name == DEFAULT_TIER { NAMESPACED_ORDER } else { order };
                    tiers.insert(
                        obj.metadata.name.clone(),
                        Tier { name: obj.metadata.name, order, pass_by_default: pass, policies: Vec::new() },
                    );
                }
                "NetworkSet" | "GlobalNetworkSet" => {
                    let nets = obj
                        .spec
                        .get("nets")
                        .cloned()
                        .map(serde_json::from_value::<Vec<IpNet>>)
                        .transpose()
                        .map_err(|e| super::WireError { field: spec_field("nets"), message: e.to_string() })?
                        .unwrap_or_default();
                    let namespace = (obj.kind == "NetworkSet")
                        .then(|| obj.metadata.namespace.clone().unwrap_or_else(|| "default".into()));
                    sets.push(NetworkSet { namespace, labels: obj.metadata.labels, nets });
                }
                "NetworkPolicy" | "GlobalNetworkPolicy" => {
                    let namespace = (obj.kind == "NetworkPolicy")
                        .then(|| obj.metadata.namespace.clone().unwrap_or_else(|| "default".into()));
                    let spec: PolicySpec = super::from_wire(&obj.spec, "spec.", o, &label, warnings)?;
                    if let Some(p) = policy(spec, &label, &obj.metadata.name, namespace)? {
                        policies.push(p);
                    }
                }
                other => return Err(format!("{other} is not a Calico policy kind").into()),
            }
            Ok(())
        });
        if let Err(e) = read {
            problems.push(e.diagnostic(o, &label));
        }
    }
    for np in kubernetes::parse(k8s, warnings)? {
        let types = [np.isolates(Direction::Ingress), np.isolates(Direction::Egress)];
        policies.push((
            DEFAULT_TIER.into(),
            Policy {
                label: np.label(),
                sort_name: format!("knp.default.{}", np.metadata.name),
                order: NETWORK_POLICY_ORDER,
                namespace: Some(np.metadata.namespace.clone()),
                selector: Sel::All,
                namespace_selector: None,
                types,
                body: Body::Kubernetes(Box::new(np)),
            },
        ));
    }
    for (tier, p) in policies {
        match tiers.get_mut(&tier) {
            Some(t) => t.policies.push(p),
            None => problems.push(Diagnostic::evaluator(format!(
                "{}: tier `{tier}` does not exist (no Tier object)",
                p.label
            ))),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let sets = std::sync::Arc::new(sets);
    Ok(tiers
        .into_values()
        .map(|mut t| {
            t.policies
                .sort_by(|a, b| a.order.total_cmp(&b.order).then_with(|| a.sort_name.cmp(&b.sort_name)));
            let mut index = crate::eval::labels::SelectorIndex::default();
            for (i, p) in t.policies.iter().enumerate() {
                let required = match &p.body {
                    Body::Kubernetes(np) => {
                        np.spec.pod_selector.match_labels.iter().next().map(|(k, v)| (k.as_str(), v.as_str()))
                    }
                    Body::Calico { .. } => p.selector.required_pair(),
                };
                index.insert_under(required, i);
            }
            Box::new(TierLayer {
                tier: t,
                sets: sets.clone(),
                selecting: Default::default(),
                entities: std::sync::OnceLock::new(),
                index,
                calico_labels: Default::default(),
            }) as Box<dyn Layer>
        })
        .collect())
}

fn parse_selector(text: Option<&str>, what: &str) -> std::result::Result<Option<Sel>, String> {
    text.map(|t| selector::parse(t).map_err(|e| format!("{what} `{t}`: {e}"))).transpose()
}

/// The tier and the policy; `None` for policies that never judge pods (host endpoint only).
fn policy(
    spec: PolicySpec,
    label: &str,
    name: &str,
    namespace: Option<String>,
) -> std::result::Result<Option<(String, Policy)>, String> {
    if spec.do_not_track == Some(true) || spec.pre_dnat == Some(true) {
        // Untracked and pre-DNAT policies apply to host endpoints only.
        return Ok(None);
    }
    let _ = (spec.apply_on_forward, spec.performance_hints);
    if spec.service_account_selector.as_deref().is_some_and(|s| !matches!(s.trim(), "" | "all()")) {
        return Err(
            "serviceAccountSelector chooses service accounts by labels, which the evaluator does not model"
                .into(),
        );
    }
    let types = match &spec.types {
        Some(types) => {
            let mut t = [false; 2];
            for ty in types {
                match ty.as_str() {
                    "Ingress" => t[0] = true,
                    "Egress" => t[1] = true,
                    other => return Err(format!("type `{other}` is neither Ingress nor Egress")),
                }
            }
            t
        }
        // Calico's default: Egress alone when only egress rules exist, else Ingress, plus
        // Egress when egress rules exist.
        None => [!spec.ingress.is_empty() || spec.egress.is_empty(), !spec.egress.is_empty()],
    };
    let rules = |wire: Vec<WireRule>, field: &str| -> std::result::Result<Vec<Rule>, String> {
        wire.into_iter().enumerate().map(|(i, r)| rule(r, format!("{field}[{i}]"))).collect()
    };
    let tier = spec.tier.clone().unwrap_or_else(|| DEFAULT_TIER.into());
    let policy = Policy {
        label: label.to_string(),
        sort_name: name.to_string(),
        order: spec.order.unwrap_or(f64::INFINITY),
        namespace,
        selector: parse_selector(spec.selector.as_deref(), "selector")?.unwrap_or(Sel::All),
        namespace_selector: parse_selector(spec.namespace_selector.as_deref(), "namespaceSelector")?,
        types,
        body: Body::Calico { rules: [rules(spec.ingress, "ingress")?, rules(spec.egress, "egress")?] },
    };
    Ok(Some((tier, policy)))
}

fn protocol(v: &serde_json::Value) -> std::result::Result<Option<Protocol>, String> {
    // `None` inside: a protocol (ICMP, numbers other than TCP/UDP/SCTP) no modelled flow has.
    match v {
        serde_json::Value::String(s) => Ok(protocol_text::parse(s)),
        serde_json::Value::Number(n) => Ok(match n.as_u64() {
            Some(6) => Some(Protocol::Tcp),
            Some(17) => Some(Protocol::Udp),
            Some(132) => Some(Protocol::Sctp),
            Some(n) if n <= 255 => None,
            _ => return Err(format!("protocol {n} is not 0..255")),
        }),
        other => Err(format!("protocol {other} is neither a name nor a number")),
    }
}

fn ports(values: &[serde_json::Value], label: &str) -> std::result::Result<Vec<PortMatch>, String> {
    values
        .iter()
        .map(|v| {
            let text = match v {
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => return Err(format!("{label}: port {other} is neither a number nor a string")),
            };
            let number = |t: &str| t.parse::<u16>().map_err(|_| format!("{label}: `{t}` is not a port"));
            match text.split_once(':') {
                Some((a, b)) => Ok(PortMatch::Range(number(a)?, number(b)?)),
                None if text.chars().all(|c| c.is_ascii_digit()) => {
                    let n = number(&text)?;
                    Ok(PortMatch::Range(n, n))
                }
                None => Ok(PortMatch::Named(text)),
            }
        })
        .collect()
}

fn entity(e: WireEntity, label: &str) -> std::result::Result<Entity, String> {
    let (names, sa_selector) = match e.service_accounts {
        Some(sa) => (sa.names, sa.selector.is_some_and(|s| !matches!(s.trim(), "" | "all()"))),
        None => (Vec::new(), false),
    };
    Ok(Entity {
        nets: e.nets,
        not_nets: e.not_nets,
        selector: parse_selector(e.selector.as_deref(), "selector")?,
        not_selector: parse_selector(e.not_selector.as_deref(), "notSelector")?,
        namespace_selector: parse_selector(e.namespace_selector.as_deref(), "namespaceSelector")?,
        ports: ports(&e.ports, label)?,
        not_ports: ports(&e.not_ports, label)?,
        service_account_names: names,
        service_account_selector: sa_selector,
        service: e.services.map(|s| (s.name, s.namespace.unwrap_or_default())),
    })
}

fn rule(r: WireRule, label: String) -> std::result::Result<Rule, String> {
    let action = match r.action.as_str() {
        "Allow" => Action::Allow,
        "Deny" => Action::Deny,
        "Pass" => Action::Pass,
        "Log" => Action::Log,
        other => return Err(format!("{label}: action `{other}` is not Allow, Deny, Pass or Log")),
    };
    let _ = (r.icmp, r.not_icmp, r.metadata);
    Ok(Rule {
        action,
        protocol: r.protocol.as_ref().map(protocol).transpose()?,
        not_protocol: r.not_protocol.as_ref().map(protocol).transpose()?,
        ip_version: r.ip_version,
        source: entity(r.source, &label)?,
        destination: entity(r.destination, &label)?,
        http: r.http.is_some(),
        label,
    })
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
type RuleSides = ([Vec<(usize, usize, usize)>; 2], kubernetes::DistinctPeers);

/// One side of a rule as the distinct-side table compares them: with the policy's namespace.
struct SideKey<'a> {
    namespace: Option<&'a str>,
    entity: &'a Entity,
    at: (usize, usize, usize),
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
            if policy.types[index(dir)] { visit(i, policy) } else { None }
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
                    let rules: Vec<(usize, usize, &Rule)> = match &p.body {
                        Body::Calico { rules } => rules
                            .iter()
                            .enumerate()
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
            rules.get(d).and_then(|list| list.get(ri)).is_some_and(|r| {
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
                    for r in &rules[index(dir)] {
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
