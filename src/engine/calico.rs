//! Calico `projectcalico.org/v3` (ENGINES.md section 4): NetworkPolicy in the `default` tier for
//! namespaced policies; a `netpol-guardrails` Tier ahead of every other tier with one
//! GlobalNetworkPolicy per guardrail.
//!
//! Calico evaluates tiers by order, policies by order, rules first-match. Allowlists sit at
//! order 1000 and the namespace default-deny at `defaultDeny.order` (larger): the default-deny
//! has no rules, so a pod it selects falls through to the tier's end-of-tier Deny only when no
//! allowlist allowed the traffic. Guardrails deny in their own tier, whose `defaultAction: Pass`
//! hands everything else on to the default tier.
//!
//! Every IR rule becomes one Calico rule per peer and protocol (Calico takes one protocol per
//! rule; allow and deny rules are unions, so splitting is exact), in IR rule order, then peer
//! order, then TCP, UDP, SCTP.

use serde::Serialize;

use super::{Backend, Engine, Entry, Manifest, ObjectMeta, OutputGroup, Problems, Rendered, naming};
use crate::error::{Diagnostic, Result};
use crate::intent::{
    ALLOWLIST_ORDER, Entity, Guardrail, Intent, LabelOperator, LabelSelector, Namespaces, Origin, Peer,
    Policy, PolicyRole, PortMatch, PortSel, Protocol, Rule,
};
use crate::vocab::Direction;
use crate::vocab::capability::Capability;
use crate::vocab::object::{Kind, Object};

pub struct Calico;

/// The tier guardrails live in: before `kube-admin` (1000) and `default` (1 000 000).
pub(crate) const GUARDRAIL_TIER: &str = "netpol-guardrails";
pub(crate) const GUARDRAIL_TIER_ORDER: u32 = 100;
/// Order of the first guardrail policy inside its tier; the next ones follow in steps of 10.
pub(crate) const GUARDRAIL_FIRST_ORDER: u32 = 100;
const GUARDRAIL_ORDER_STEP: u32 = 10;

/// Calico's limits (CRD `maxItems`/`maxLength`, ENGINES.md 4.7): rules per list, ports and nets
/// per entity rule, characters per selector.
const MAX_RULES: usize = 1024;
const MAX_PORTS: usize = 50;
const MAX_NETS: usize = 256;
const MAX_SELECTOR: usize = 1024;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicySpec {
    tier: &'static str,
    order: u32,
    selector: String,
    /// GlobalNetworkPolicy only.
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace_selector: Option<String>,
    types: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ingress: Vec<Entry<CalicoRule>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    egress: Vec<Entry<CalicoRule>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TierSpec {
    order: u32,
    default_action: &'static str,
}

#[derive(Serialize, Default)]
struct CalicoRule {
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<EntityRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<EntityRule>,
}

#[derive(Serialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct EntityRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace_selector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    selector: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nets: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    not_nets: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<CalicoPort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    services: Option<ServiceRef>,
}

/// A Calico port: a number, or a string (`"a:b"` range or a named port).
#[derive(Serialize, Clone)]
#[serde(untagged)]
enum CalicoPort {
    Number(u16),
    Text(String),
}

#[derive(Serialize, Clone)]
struct ServiceRef {
    name: &'static str,
    namespace: &'static str,
}

/// The API server's Service, `default/kubernetes`.
const API_SERVICE: ServiceRef = ServiceRef { name: "kubernetes", namespace: "default" };

/// Namespaced policy, or a GlobalNetworkPolicy (where rule selectors span every namespace).
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Namespaced,
    Global,
}

impl Backend for Calico {
    fn engine(&self) -> Engine {
        Engine::Calico
    }

    fn foundation(&self, intent: &Intent) -> Result<Vec<Manifest>> {
        if intent.guardrails.is_empty() {
            return Ok(Vec::new());
        }
        let tier = Object::new(
            Kind::CALICO_TIER,
            ObjectMeta::new(intent, GUARDRAIL_TIER, None),
            TierSpec { order: GUARDRAIL_TIER_ORDER, default_action: "Pass" },
        );
        Ok(vec![Manifest::new(
            Kind::CALICO_TIER,
            GUARDRAIL_TIER.to_string(),
            None,
            OutputGroup::Foundation,
            &tier,
        )?])
    }

    fn guardrail(
        &self,
        intent: &Intent,
        index: usize,
        g: &Guardrail,
        problems: &mut Problems,
    ) -> Result<Rendered> {
        let order = u32::try_from(index)
            .unwrap_or(u32::MAX)
            .saturating_mul(GUARDRAIL_ORDER_STEP)
            .saturating_add(GUARDRAIL_FIRST_ORDER);
        Ok(Rendered::objects(render_guardrail(intent, g, order, problems)?))
    }

    fn policy(&self, intent: &Intent, policy: &Policy, problems: &mut Problems) -> Result<Rendered> {
        Ok(Rendered::objects(render_policy(intent, policy, problems)?))
    }
}

fn render_policy(intent: &Intent, policy: &Policy, problems: &mut Problems) -> Result<Option<Manifest>> {
    let raw = &policy.passthrough.calico;
    let context = format!("policy `{}` in namespace `{}`", policy.name, policy.namespace);
    let order = match &policy.role {
        PolicyRole::Allow => ALLOWLIST_ORDER,
        PolicyRole::DefaultDeny(order) => {
            if order.value <= ALLOWLIST_ORDER {
                let mut d = Diagnostic::new(format!(
                    "defaultDeny.order {} would put the default-deny of namespace `{}` before its allowlists (order {ALLOWLIST_ORDER})",
                    order.value, policy.namespace
                ))
                .with_help(format!(
                    "the order must be greater than {ALLOWLIST_ORDER} so the allowlists win; e.g. the default 2000"
                ));
                if let Some(at) = &order.written_at {
                    d = d.at(at);
                }
                problems.push(d);
            }
            order.value
        }
    };
    let mut types = Vec::new();
    if policy.ingress.is_some() || !raw.ingress.is_empty() {
        types.push("Ingress");
    }
    if policy.egress.is_some() || !raw.egress.is_empty() {
        types.push("Egress");
    }
    if types.is_empty() {
        return Ok(None);
    }
    let subject = expr(&policy.subject, "the policy's pods", &context, &policy.origin, problems);
    let ingress =
        allow_list(policy.ingress.as_deref(), &raw.ingress, Direction::Ingress, policy, &context, problems);
    let egress =
        allow_list(policy.egress.as_deref(), &raw.egress, Direction::Egress, policy, &context, problems);
    let object = Object::new(
        Kind::CALICO_NETWORK_POLICY,
        ObjectMeta::new(intent, &policy.name, Some(&policy.namespace)),
        PolicySpec {
            tier: "default",
            order,
            selector: subject,
            namespace_selector: None,
            types,
            ingress,
            egress,
        },
    );
    Manifest::new(
        Kind::CALICO_NETWORK_POLICY,
        policy.name.clone(),
        Some(policy.namespace.clone()),
        OutputGroup::Namespace,
        &object,
    )
    .map(Some)
}

/// The generated allow rules of one direction, then the user's verbatim Calico rules.
fn allow_list(
    rules: Option<&[Rule]>,
    verbatim: &[serde_json::Value],
    direction: Direction,
    policy: &Policy,
    context: &str,
    problems: &mut Problems,
) -> Vec<Entry<CalicoRule>> {
    let mut list =
        translate_all(rules.unwrap_or(&[]), direction, Scope::Namespaced, "Allow", context, problems);
    list.extend(verbatim.iter().cloned().map(Entry::Verbatim));
    check_rule_count(list.len(), direction, context, &policy.origin, problems);
    list
}

fn render_guardrail(
    intent: &Intent,
    g: &Guardrail,
    order: u32,
    problems: &mut Problems,
) -> Result<Option<Manifest>> {
    let mut types = Vec::new();
    if !g.ingress_deny.is_empty() {
        types.push("Ingress");
    }
    if !g.egress_deny.is_empty() {
        types.push("Egress");
    }
    if types.is_empty() {
        return Ok(None);
    }
    let context = format!("guardrail `{}`", g.name);
    // `has(projectcalico.org/namespace)` keeps host endpoints out: guardrails are about pods.
    let mut pod_selector = "has(projectcalico.org/namespace)".to_string();
    if !g.pods.is_empty() {
        pod_selector = format!("{pod_selector} && {}", selector(&g.pods));
    }
    check_selector_len(&pod_selector, "the guardrail's pods", &context, &g.origin, problems);
    let namespace_selector = (!g.namespaces.is_empty())
        .then(|| expr(&g.namespaces, "the guardrail's namespaces", &context, &g.origin, problems));
    let ingress =
        translate_all(&g.ingress_deny, Direction::Ingress, Scope::Global, "Deny", &context, problems);
    check_rule_count(ingress.len(), Direction::Ingress, &context, &g.origin, problems);
    let egress = translate_all(&g.egress_deny, Direction::Egress, Scope::Global, "Deny", &context, problems);
    check_rule_count(egress.len(), Direction::Egress, &context, &g.origin, problems);
    // Calico before v3.32 requires `<tier>.<name>` for policies outside the default tier; the
    // form stays valid afterwards.
    let name = naming::fit(&format!("{GUARDRAIL_TIER}.{}", g.name));
    let object = Object::new(
        Kind::CALICO_GLOBAL_NETWORK_POLICY,
        ObjectMeta::new(intent, &name, None),
        PolicySpec {
            tier: GUARDRAIL_TIER,
            order,
            selector: pod_selector,
            namespace_selector,
            types,
            ingress,
            egress,
        },
    );
    Manifest::new(Kind::CALICO_GLOBAL_NETWORK_POLICY, name, None, OutputGroup::Guardrail, &object).map(Some)
}

fn translate_all(
    rules: &[Rule],
    direction: Direction,
    scope: Scope,
    action: &'static str,
    context: &str,
    problems: &mut Problems,
) -> Vec<Entry<CalicoRule>> {
    rules
        .iter()
        .flat_map(|rule| translate(rule, direction, scope, action, context, problems))
        .map(Entry::Rendered)
        .collect()
}

/// The other end of a Calico rule.
enum Target {
    /// No peer fields: any source or destination.
    Any,
    /// Goes in `source` (ingress) or `destination` (egress), beside the ports.
    Entity(EntityRule),
    /// `destination.services` of the API server: it matches the Service's endpoint addresses
    /// *and ports*, and Calico allows no ports, protocol, selectors or nets beside it.
    EgressService,
}

/// One IR rule → one Calico rule per peer and protocol (and per chunk of Calico's port limit).
fn translate(
    rule: &Rule,
    direction: Direction,
    scope: Scope,
    action: &'static str,
    context: &str,
    problems: &mut Problems,
) -> Vec<CalicoRule> {
    let at = format!("{context}, rule `{}`", rule.name);
    let mut targets: Vec<Target> = Vec::new();
    if rule.peers.is_empty() {
        targets.push(Target::Any);
    }
    if super::only_gateway_proxy(rule, super::Engine::Calico, problems) {
        return Vec::new();
    }
    for peer in &rule.peers {
        match peer {
            // No gateway proxy of the CNI's own: the gateway's pods are the rule's other peers.
            Peer::GatewayProxy => {}
            Peer::Pods { namespaces, pods } => match (namespaces, scope) {
                // A namespaced policy's rule selector without namespaceSelector stays in the
                // policy's namespace; `all()` = every pod there (never "any source").
                (Namespaces::Own, Scope::Namespaced) => targets.push(Target::Entity(EntityRule {
                    selector: Some(expr(pods, "a peer's pods", &at, &rule.origin, problems)),
                    ..EntityRule::default()
                })),
                (Namespaces::Own, Scope::Global) => problems.push(
                    Diagnostic::new(format!("a cluster-wide guardrail has no namespace of its own to select pods in ({at})"))
                        .at(&rule.origin)
                        .with_help("select the peer's namespaces explicitly"),
                ),
                (Namespaces::Matching(ns), _) => targets.push(Target::Entity(EntityRule {
                    namespace_selector: Some(expr(ns, "a peer's namespaces", &at, &rule.origin, problems)),
                    selector: (!pods.is_empty()).then(|| expr(pods, "a peer's pods", &at, &rule.origin, problems)),
                    ..EntityRule::default()
                })),
            },
            // Each CIDR peer is its own rule, so its `notNets` never subtract from another peer.
            Peer::Cidr { cidr, except } => targets.push(Target::Entity(EntityRule {
                nets: vec![cidr.to_string()],
                not_nets: except.iter().map(ToString::to_string).collect(),
                ..EntityRule::default()
            })),
            Peer::ApiServer { cidrs } if !cidrs.is_empty() => {
                // One address family per rule.
                for v4 in [true, false] {
                    let nets: Vec<String> = cidrs
                        .iter()
                        .filter(|c| matches!(c, ipnet::IpNet::V4(_)) == v4)
                        .map(ToString::to_string)
                        .collect();
                    for chunk in nets.chunks(MAX_NETS) {
                        targets.push(Target::Entity(EntityRule { nets: chunk.to_vec(), ..EntityRule::default() }));
                    }
                }
            }
            Peer::ApiServer { .. } => targets.push(match direction {
                Direction::Egress => Target::EgressService,
                // As a source, Calico matches the Service's endpoint addresses only (no ports),
                // and the subject's destination ports may stand beside it.
                Direction::Ingress => {
                    Target::Entity(EntityRule { services: Some(API_SERVICE), ..EntityRule::default() })
                }
            }),
            Peer::Entity(Entity::All) => targets.push(Target::Any),
            Peer::Entity(e) => problems.push(
                Diagnostic::unsupported(Engine::Calico, Capability::Entity, &format!("the Cilium entity `{}`", e.as_str()), &at)
                    .at(&rule.origin)
                    .with_help(
                        "engines that can express it: cilium; for Calico select the peer by namespace and pod labels or by CIDR",
                    ),
            ),
            Peer::Fqdn(_) => problems.push(
                Diagnostic::unsupported(
                    Engine::Calico,
                    Capability::FqdnEgress,
                    &format!("FQDN {} (Calico Enterprise only)", direction.field()),
                    &at,
                )
                .at(&rule.origin),
            ),
        }
    }
    let groups = protocol_groups(&rule.ports);
    let mut out = Vec::new();
    for target in targets {
        let peer = match target {
            Target::EgressService => {
                let destination = EntityRule { services: Some(API_SERVICE), ..EntityRule::default() };
                out.push(CalicoRule { action, protocol: None, source: None, destination: Some(destination) });
                continue;
            }
            Target::Any => None,
            Target::Entity(e) => Some(e),
        };
        for (protocol, ports) in &groups {
            // Ports are always the destination's: for ingress, the subject pod's own port.
            let mut destination = match direction {
                Direction::Egress => peer.clone().unwrap_or_default(),
                Direction::Ingress => EntityRule::default(),
            };
            destination.ports.clone_from(ports);
            let destination = has_fields(&destination).then_some(destination);
            let source = match direction {
                Direction::Ingress => peer.clone(),
                Direction::Egress => None,
            };
            out.push(CalicoRule { action, protocol: *protocol, source, destination });
        }
    }
    out
}

fn has_fields(e: &EntityRule) -> bool {
    e.namespace_selector.is_some()
        || e.selector.is_some()
        || !e.nets.is_empty()
        || !e.not_nets.is_empty()
        || !e.ports.is_empty()
        || e.services.is_some()
}

/// Ports grouped by protocol (TCP, UDP, SCTP), each group cut to Calico's port limit. No ports
/// at all: one group without a protocol (every port of every protocol). A protocol with an
/// "every port" entry needs no port list.
fn protocol_groups(ports: &[PortMatch]) -> Vec<(Option<&'static str>, Vec<CalicoPort>)> {
    if ports.is_empty() {
        return vec![(None, Vec::new())];
    }
    let mut out = Vec::new();
    for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
        let of: Vec<&PortSel> = ports.iter().filter(|p| p.protocol == protocol).map(|p| &p.port).collect();
        if of.is_empty() {
            continue;
        }
        if of.contains(&&PortSel::Any) {
            out.push((Some(protocol.as_str()), Vec::new()));
            continue;
        }
        let list: Vec<CalicoPort> = of
            .iter()
            .filter_map(|p| match p {
                PortSel::Number(n) => Some(CalicoPort::Number(*n)),
                PortSel::Range(a, b) => Some(CalicoPort::Text(format!("{a}:{b}"))),
                PortSel::Named(n) => Some(CalicoPort::Text(n.clone())),
                PortSel::Any => None,
            })
            .collect();
        for chunk in list.chunks(MAX_PORTS) {
            out.push((Some(protocol.as_str()), chunk.to_vec()));
        }
    }
    out
}

/// A label selector as a Calico selector expression; the empty selector is `all()`.
///
/// matchLabels `k == 'v'`, In `k in {'a', 'b'}`, NotIn `k not in {'a', 'b'}`, Exists `has(k)`,
/// DoesNotExist `!has(k)`, joined with ` && ` (labels first, then expressions in order).
pub fn selector(s: &LabelSelector) -> String {
    // Label values cannot hold quotes; should one ever, `"` still delimits it (Calico has no escapes).
    let quote = |v: &str| if v.contains('\'') { format!("\"{v}\"") } else { format!("'{v}'") };
    let mut terms: Vec<String> = s.match_labels.iter().map(|(k, v)| format!("{k} == {}", quote(v))).collect();
    for e in &s.match_expressions {
        let set = || e.values.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", ");
        terms.push(match e.operator {
            LabelOperator::In => format!("{} in {{{}}}", e.key, set()),
            LabelOperator::NotIn => format!("{} not in {{{}}}", e.key, set()),
            LabelOperator::Exists => format!("has({})", e.key),
            LabelOperator::DoesNotExist => format!("!has({})", e.key),
        });
    }
    if terms.is_empty() { "all()".to_string() } else { terms.join(" && ") }
}

/// [`selector`], reporting expressions longer than Calico accepts.
fn expr(s: &LabelSelector, what: &str, context: &str, origin: &Origin, problems: &mut Problems) -> String {
    let e = selector(s);
    check_selector_len(&e, what, context, origin, problems);
    e
}

fn check_selector_len(e: &str, what: &str, context: &str, origin: &Origin, problems: &mut Problems) {
    if e.len() > MAX_SELECTOR {
        problems.push(
            Diagnostic::new(format!(
                "the Calico selector of {what} is {} characters long; Calico accepts at most {MAX_SELECTOR} ({context})",
                e.len()
            ))
            .at(origin)
            .with_help("select by fewer or shorter labels"),
        );
    }
}

fn check_rule_count(n: usize, direction: Direction, context: &str, origin: &Origin, problems: &mut Problems) {
    if n > MAX_RULES {
        problems.push(
            Diagnostic::new(format!(
                "{n} Calico {} rules (one per peer and protocol); Calico accepts at most {MAX_RULES} per policy ({context})",
                direction.field()
            ))
            .at(origin)
            .with_help("merge peers into fewer selectors or CIDRs, or split the workload"),
        );
    }
}

#[cfg(test)]
#[path = "calico_tests.rs"]
mod tests;
