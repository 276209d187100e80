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

use super::{Backend, Engine, Entry, Layer, Manifest, ObjectMeta, Problems, Rendered, naming};
use crate::error::{Diagnostic, Result};
use crate::intent::{
    ALLOWLIST_ORDER, Entity, Guardrail, Intent, LabelOperator, LabelSelector, Namespaces, Origin, Peer,
    Policy, PolicyRole, PortMatch, PortSel, Protocol, Rule,
};
use crate::vocab::capability::Capability;

pub struct Calico;

const API_VERSION: &str = "projectcalico.org/v3";
/// The tier guardrails live in: before `kube-admin` (1000) and `default` (1 000 000).
pub const GUARDRAIL_TIER: &str = "netpol-guardrails";
pub const GUARDRAIL_TIER_ORDER: u32 = 100;
/// Order of the first guardrail policy inside its tier; the next ones follow in steps of 10.
pub const GUARDRAIL_FIRST_ORDER: u32 = 100;
const GUARDRAIL_ORDER_STEP: u32 = 10;

/// Calico's limits (CRD `maxItems`/`maxLength`, ENGINES.md 4.7): rules per list, ports and nets
/// per entity rule, characters per selector.
const MAX_RULES: usize = 1024;
const MAX_PORTS: usize = 50;
const MAX_NETS: usize = 256;
const MAX_SELECTOR: usize = 1024;

#[derive(Serialize)]
struct Object<S> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: S,
}

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

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

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

    fn render(&self, intent: &Intent) -> Result<Rendered> {
        let mut problems = Problems::default();
        let mut rendered = Rendered::default();
        if !intent.guardrails.is_empty() {
            let tier = Object {
                api_version: API_VERSION,
                kind: "Tier",
                metadata: ObjectMeta::new(intent, GUARDRAIL_TIER, None),
                spec: TierSpec { order: GUARDRAIL_TIER_ORDER, default_action: "Pass" },
            };
            rendered.manifests.push(Manifest::new(
                API_VERSION,
                "Tier",
                GUARDRAIL_TIER.to_string(),
                None,
                Layer::Foundation,
                &tier,
            )?);
        }
        for (i, g) in intent.guardrails.iter().enumerate() {
            let order = u32::try_from(i)
                .unwrap_or(u32::MAX)
                .saturating_mul(GUARDRAIL_ORDER_STEP)
                .saturating_add(GUARDRAIL_FIRST_ORDER);
            if let Some(m) = render_guardrail(intent, g, order, &mut problems)? {
                rendered.manifests.push(m.written_at(&g.origin));
            }
        }
        for p in &intent.policies {
            rendered.warnings.extend(super::foreign_passthrough(Engine::Calico, p));
            if let Some(m) = render_policy(intent, p, &mut problems)? {
                rendered.manifests.push(m.written_at(&p.origin));
            }
        }
        problems.finish(rendered)
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
    let object = Object {
        api_version: API_VERSION,
        kind: "NetworkPolicy",
        metadata: ObjectMeta::new(intent, &policy.name, Some(&policy.namespace)),
        spec: PolicySpec {
            tier: "default",
            order,
            selector: subject,
            namespace_selector: None,
            types,
            ingress,
            egress,
        },
    };
    Manifest::new(
        API_VERSION,
        "NetworkPolicy",
        policy.name.clone(),
        Some(policy.namespace.clone()),
        Layer::Namespace,
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
    let object = Object {
        api_version: API_VERSION,
        kind: "GlobalNetworkPolicy",
        metadata: ObjectMeta::new(intent, &name, None),
        spec: PolicySpec {
            tier: GUARDRAIL_TIER,
            order,
            selector: pod_selector,
            namespace_selector,
            types,
            ingress,
            egress,
        },
    };
    Manifest::new(API_VERSION, "GlobalNetworkPolicy", name, None, Layer::Guardrail, &object).map(Some)
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
                    &format!("FQDN {} (Calico Enterprise only)", direction.as_str()),
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
                direction.as_str()
            ))
            .at(origin)
            .with_help("merge peers into fewer selectors or CIDRs, or split the workload"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::testing::*;
    use crate::intent::{DenyOrder, Fqdn, LabelExpression};
    use serde_json::{Value, json};

    fn bodies(i: &Intent) -> Vec<Value> {
        Calico.render(i).expect("renders").manifests.iter().map(Manifest::body).collect()
    }

    fn render_ok(policies: Vec<Policy>) -> Vec<Value> {
        bodies(&intent(policies))
    }

    fn render_err(i: &Intent) -> Vec<Diagnostic> {
        Calico.render(i).expect_err("must be refused").diagnostics()
    }

    fn egress_of(rules: Vec<Rule>) -> Value {
        render_ok(vec![allowlist("shop", "web", None, Some(rules))])[0]["spec"]["egress"].clone()
    }

    fn ingress_of(rules: Vec<Rule>) -> Value {
        render_ok(vec![allowlist("shop", "web", Some(rules), None)])[0]["spec"]["ingress"].clone()
    }

    fn port(protocol: Protocol, port: PortSel) -> PortMatch {
        PortMatch { protocol, port }
    }

    fn ns_selector(labels: &[(&str, &str)]) -> LabelSelector {
        LabelSelector::from_labels(labels.iter().copied())
    }

    fn guardrail(name: &str, ingress_deny: Vec<Rule>, egress_deny: Vec<Rule>) -> Guardrail {
        Guardrail {
            name: name.into(),
            namespaces: LabelSelector::default(),
            pods: LabelSelector::default(),
            ingress_deny,
            egress_deny,
            description: String::new(),
            origin: origin(&format!("guardrails.{name}")),
        }
    }

    #[test]
    fn selector_expressions() {
        let s = LabelSelector {
            match_labels: [("app".to_string(), "web".to_string())].into(),
            match_expressions: vec![
                LabelExpression {
                    key: "tier".into(),
                    operator: LabelOperator::In,
                    values: vec!["a".into(), "b".into()],
                },
                LabelExpression { key: "x".into(), operator: LabelOperator::NotIn, values: vec!["c".into()] },
                LabelExpression { key: "y".into(), operator: LabelOperator::Exists, values: vec![] },
                LabelExpression { key: "z".into(), operator: LabelOperator::DoesNotExist, values: vec![] },
            ],
        };
        assert_eq!(selector(&s), "app == 'web' && tier in {'a', 'b'} && x not in {'c'} && has(y) && !has(z)");
        assert_eq!(selector(&LabelSelector::default()), "all()");
        let prefixed = ns_selector(&[("app.kubernetes.io/name", "keycloak"), ("a", "b")]);
        assert_eq!(selector(&prefixed), "a == 'b' && app.kubernetes.io/name == 'keycloak'");
    }

    #[test]
    fn allowlist_shape_metadata_order_selector_types() {
        let mut i = intent(vec![allowlist("shop", "web", Some(vec![]), None)]);
        i.annotations.insert("team".into(), "platform".into());
        let r = Calico.render(&i).expect("renders");
        assert_eq!(r.manifests.len(), 1, "no tier without guardrails");
        let m = &r.manifests[0];
        assert_eq!(
            (m.kind, m.name.as_str(), m.namespace.as_deref(), m.layer),
            ("NetworkPolicy", "web", Some("shop"), Layer::Namespace)
        );
        assert_eq!(
            m.body(),
            json!({
                "apiVersion": "projectcalico.org/v3",
                "kind": "NetworkPolicy",
                "metadata": {
                    "name": "web",
                    "namespace": "shop",
                    "labels": {"app.kubernetes.io/instance": "test", "app.kubernetes.io/managed-by": "netpol"},
                    "annotations": {"team": "platform"}
                },
                // Some(empty): the type is listed and nothing is allowed (no Deny rule).
                "spec": {"tier": "default", "order": 1000, "selector": "app == 'web'", "types": ["Ingress"]}
            })
        );
    }

    #[test]
    fn a_policy_silent_on_both_directions_renders_nothing() {
        assert!(render_ok(vec![allowlist("shop", "web", None, None)]).is_empty());
        let out = render_ok(vec![allowlist("shop", "web", Some(vec![]), Some(vec![]))]);
        assert_eq!(out[0]["spec"]["types"], json!(["Ingress", "Egress"]));
        let mut p = allowlist("shop", "web", None, None);
        p.subject = LabelSelector::default();
        p.egress = Some(vec![]);
        let out = render_ok(vec![p]);
        assert_eq!(out[0]["spec"]["selector"], json!("all()"));
        assert_eq!(out[0]["spec"]["types"], json!(["Egress"]));
    }

    #[test]
    fn default_deny_has_no_rules_and_a_larger_order() {
        let out = render_ok(vec![default_deny("identity", 2000, false)]);
        assert_eq!(
            out[0]["spec"],
            json!({"tier": "default", "order": 2000, "selector": "all()", "types": ["Ingress", "Egress"]})
        );
        assert_eq!(render_ok(vec![default_deny("identity", 1001, true)])[0]["spec"]["order"], json!(1001));
        for order in [500, ALLOWLIST_ORDER] {
            let d = render_err(&intent(vec![default_deny("identity", order, true)]));
            assert_eq!(d.len(), 1, "{d:?}");
            assert!(d[0].message.contains("before its allowlists"), "{d:?}");
            assert!(d[0].help.as_deref().is_some_and(|h| h.contains("greater than 1000")), "{d:?}");
            assert_eq!(d[0].origin.as_ref().map(|o| o.path.as_str()), Some("namespaces.x.defaultDeny.order"));
        }
        // Not written by the user (a profile, say): still refused, without a position.
        let mut p = default_deny("identity", 900, false);
        p.role = PolicyRole::DefaultDeny(DenyOrder { value: 900, written_at: None });
        let d = render_err(&intent(vec![p]));
        assert!(d[0].origin.is_none(), "{d:?}");
    }

    #[test]
    fn one_protocol_per_rule_and_numeric_ports_carry_it() {
        let out = render_ok(vec![allowlist("shop", "web", None, Some(vec![dns_rule()]))]);
        let spec = &out[0]["spec"];
        assert_eq!(spec["order"], json!(1000));
        assert_eq!(spec["types"], json!(["Egress"]));
        let dest = json!({"namespaceSelector": "kubernetes.io/metadata.name == 'kube-system'", "selector": "k8s-app == 'kube-dns'", "ports": [53]});
        assert_eq!(
            spec["egress"],
            json!([
                {"action": "Allow", "protocol": "TCP", "destination": dest},
                {"action": "Allow", "protocol": "UDP", "destination": dest},
            ])
        );
    }

    #[test]
    fn ingress_peers_go_in_source_ports_in_destination() {
        let r =
            rule("m", vec![own_pods(&[("app", "x")]), cidr("10.0.0.0/8", &["10.1.0.0/16"])], vec![tcp(8080)]);
        let out = render_ok(vec![allowlist("shop", "web", Some(vec![r]), None)]);
        assert_eq!(
            out[0]["spec"]["ingress"],
            json!([
                {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'x'"}, "destination": {"ports": [8080]}},
                {"action": "Allow", "protocol": "TCP", "source": {"nets": ["10.0.0.0/8"], "notNets": ["10.1.0.0/16"]}, "destination": {"ports": [8080]}},
            ])
        );
        assert_eq!(out[0]["spec"]["selector"], json!("app == 'web'"));
    }

    #[test]
    fn pod_peer_forms() {
        let every_ns =
            Peer::Pods { namespaces: Namespaces::Matching(LabelSelector::default()), pods: ns_selector(&[]) };
        let every_ns_pods = Peer::Pods {
            namespaces: Namespaces::Matching(LabelSelector::default()),
            pods: ns_selector(&[("a", "b")]),
        };
        let labelled_ns = Peer::Pods {
            namespaces: Namespaces::Matching(ns_selector(&[("team", "x")])),
            pods: ns_selector(&[]),
        };
        let r = rule("p", vec![own_pods(&[]), every_ns, every_ns_pods, labelled_ns], vec![]);
        assert_eq!(
            egress_of(vec![r]),
            json!([
                // Own namespace, every pod: `all()` scoped to the policy's namespace, never "anyone".
                {"action": "Allow", "destination": {"selector": "all()"}},
                {"action": "Allow", "destination": {"namespaceSelector": "all()"}},
                {"action": "Allow", "destination": {"namespaceSelector": "all()", "selector": "a == 'b'"}},
                {"action": "Allow", "destination": {"namespaceSelector": "team == 'x'"}},
            ])
        );
    }

    #[test]
    fn any_peer_any_port_and_port_forms() {
        let ports = vec![
            port(Protocol::Sctp, PortSel::Number(9)),
            port(Protocol::Udp, PortSel::Any),
            port(Protocol::Udp, PortSel::Number(53)),
            port(Protocol::Tcp, PortSel::Range(30000, 30010)),
            port(Protocol::Tcp, PortSel::Named("metrics".into())),
            port(Protocol::Tcp, PortSel::Number(80)),
        ];
        assert_eq!(
            ingress_of(vec![rule("open", vec![], ports), rule("all", vec![], vec![])]),
            json!([
                {"action": "Allow", "protocol": "TCP", "destination": {"ports": ["30000:30010", "metrics", 80]}},
                // "every UDP port" absorbs the single one.
                {"action": "Allow", "protocol": "UDP"},
                {"action": "Allow", "protocol": "SCTP", "destination": {"ports": [9]}},
                {"action": "Allow"},
            ])
        );
    }

    #[test]
    fn more_ports_than_calico_takes_are_split_across_rules() {
        let ports: Vec<PortMatch> = (1..=120).map(tcp).chain([udp(53)]).collect();
        let egress = egress_of(vec![rule("many", vec![cidr("10.0.0.0/8", &[])], ports)]);
        let rules = egress.as_array().expect("rules");
        let sizes: Vec<(Value, usize)> = rules
            .iter()
            .map(|r| (r["protocol"].clone(), r["destination"]["ports"].as_array().map_or(0, Vec::len)))
            .collect();
        assert_eq!(
            sizes,
            vec![(json!("TCP"), 50), (json!("TCP"), 50), (json!("TCP"), 20), (json!("UDP"), 1)]
        );
        assert_eq!(rules[2]["destination"]["ports"][19], json!(120));
        assert!(rules.iter().all(|r| r["destination"]["nets"] == json!(["10.0.0.0/8"])));
    }

    #[test]
    fn rule_order_is_rule_then_peer_then_protocol() {
        let a = rule("a", vec![cidr("10.0.0.0/8", &[]), cidr("192.168.0.0/16", &[])], vec![udp(1), tcp(2)]);
        let b = rule("b", vec![cidr("172.16.0.0/12", &[])], vec![tcp(3)]);
        let egress = egress_of(vec![a, b]);
        let seen: Vec<(Value, Value, Value)> = egress
            .as_array()
            .expect("rules")
            .iter()
            .map(|r| {
                (
                    r["destination"]["nets"][0].clone(),
                    r["protocol"].clone(),
                    r["destination"]["ports"][0].clone(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (json!("10.0.0.0/8"), json!("TCP"), json!(2)),
                (json!("10.0.0.0/8"), json!("UDP"), json!(1)),
                (json!("192.168.0.0/16"), json!("TCP"), json!(2)),
                (json!("192.168.0.0/16"), json!("UDP"), json!(1)),
                (json!("172.16.0.0/12"), json!("TCP"), json!(3)),
            ]
        );
    }

    #[test]
    fn each_cidr_peer_keeps_its_own_excepts() {
        let r = rule("c", vec![cidr("10.0.0.0/8", &["10.1.0.0/16"]), cidr("fd00::/8", &[])], vec![]);
        assert_eq!(
            egress_of(vec![r]),
            json!([
                {"action": "Allow", "destination": {"nets": ["10.0.0.0/8"], "notNets": ["10.1.0.0/16"]}},
                {"action": "Allow", "destination": {"nets": ["fd00::/8"]}},
            ])
        );
    }

    #[test]
    fn api_server_by_service_or_by_addresses() {
        // Egress: the Service carries the endpoints' addresses and ports; nothing may stand beside it.
        let r = rule("api", vec![Peer::ApiServer { cidrs: vec![] }], vec![tcp(443), tcp(6443)]);
        assert_eq!(
            egress_of(vec![r]),
            json!([{"action": "Allow", "destination": {"services": {"name": "kubernetes", "namespace": "default"}}}])
        );
        let r = rule(
            "api",
            vec![Peer::ApiServer { cidrs: vec!["10.0.0.1/32".parse().expect("cidr")] }],
            vec![tcp(443)],
        );
        assert_eq!(
            egress_of(vec![r]),
            json!([{"action": "Allow", "protocol": "TCP", "destination": {"nets": ["10.0.0.1/32"], "ports": [443]}}])
        );
    }

    #[test]
    fn ingress_from_the_api_server_service_keeps_the_subject_ports() {
        // As a source Calico matches the endpoints' addresses only: dropping the ports would let
        // the API server reach every port of the pod.
        let r = rule("webhook", vec![Peer::ApiServer { cidrs: vec![] }], vec![tcp(9443)]);
        assert_eq!(
            ingress_of(vec![r]),
            json!([{
                "action": "Allow",
                "protocol": "TCP",
                "source": {"services": {"name": "kubernetes", "namespace": "default"}},
                "destination": {"ports": [9443]}
            }])
        );
        let r = rule("webhook", vec![Peer::ApiServer { cidrs: vec![] }], vec![]);
        assert_eq!(
            ingress_of(vec![r]),
            json!([{"action": "Allow", "source": {"services": {"name": "kubernetes", "namespace": "default"}}}])
        );
    }

    #[test]
    fn address_families_never_share_a_rule() {
        let cidrs = vec!["fd00::1/128".parse().expect("cidr"), "10.0.0.1/32".parse().expect("cidr")];
        let r = rule("api", vec![Peer::ApiServer { cidrs }], vec![tcp(443)]);
        let egress = egress_of(vec![r]);
        let egress = egress.as_array().expect("rules");
        assert_eq!(egress.len(), 2);
        assert_eq!(egress[0]["destination"]["nets"], json!(["10.0.0.1/32"]));
        assert_eq!(egress[1]["destination"]["nets"], json!(["fd00::1/128"]));
    }

    #[test]
    fn more_api_server_addresses_than_calico_takes_are_split() {
        let cidrs = (0..300u32)
            .map(|n| {
                ipnet::IpNet::from(
                    ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(0x0a00_0000 + n), 32).expect("net"),
                )
            })
            .collect();
        let egress = egress_of(vec![rule("api", vec![Peer::ApiServer { cidrs }], vec![tcp(443)])]);
        let sizes: Vec<usize> = egress
            .as_array()
            .expect("rules")
            .iter()
            .map(|r| r["destination"]["nets"].as_array().map_or(0, Vec::len))
            .collect();
        assert_eq!(sizes, vec![256, 44]);
    }

    #[test]
    fn entity_all_is_any_peer() {
        let r = rule("all", vec![Peer::Entity(Entity::All)], vec![tcp(443)]);
        assert_eq!(
            egress_of(vec![r.clone()]),
            json!([{"action": "Allow", "protocol": "TCP", "destination": {"ports": [443]}}])
        );
        assert_eq!(
            ingress_of(vec![r]),
            json!([{"action": "Allow", "protocol": "TCP", "destination": {"ports": [443]}}])
        );
    }

    #[test]
    fn entities_and_fqdns_are_errors_naming_cilium() {
        let r = rule(
            "x",
            vec![
                Peer::Entity(Entity::World),
                Peer::Entity(Entity::Host),
                Peer::Fqdn(Fqdn::Name("a.example.com".into())),
                Peer::Fqdn(Fqdn::Pattern("*.example.com".into())),
            ],
            vec![],
        );
        let d = render_err(&intent(vec![allowlist("shop", "web", None, Some(vec![r]))]));
        assert_eq!(d.len(), 4, "every problem is reported: {d:?}");
        let text = format!("{d:?}");
        assert!(
            text.contains("entity `world`") && text.contains("entity `host`") && text.contains("FQDN"),
            "{text}"
        );
        assert!(d.iter().all(|d| d.message.contains("policy `web` in namespace `shop`, rule `x`")), "{d:?}");
        assert!(d.iter().all(|d| d.help.as_deref().is_some_and(|h| h.contains("cilium"))), "{d:?}");
        assert!(d.iter().all(|d| d.origin.as_ref().is_some_and(|o| o.path == "x")), "{d:?}");
    }

    #[test]
    fn calico_passthrough_is_appended_verbatim_and_opens_its_direction() {
        let mut p =
            allowlist("shop", "web", None, Some(vec![rule("c", vec![cidr("10.0.0.0/8", &[])], vec![])]));
        let raw_in = json!({"action": "Allow", "protocol": "ICMP", "source": {"nets": ["10.0.0.0/8"]}});
        let raw_out = json!({"action": "Allow", "destination": {"serviceAccounts": {"names": ["x"]}}});
        p.passthrough.calico.ingress.push(raw_in.clone());
        p.passthrough.calico.egress.push(raw_out.clone());
        let spec = render_ok(vec![p])[0]["spec"].clone();
        assert_eq!(spec["types"], json!(["Ingress", "Egress"]));
        assert_eq!(spec["ingress"], json!([raw_in]));
        assert_eq!(
            spec["egress"],
            json!([{"action": "Allow", "destination": {"nets": ["10.0.0.0/8"]}}, raw_out])
        );
    }

    #[test]
    fn foreign_passthrough_is_left_out_with_a_warning_naming_its_engine() {
        let mut p = allowlist("shop", "web", Some(vec![]), None);
        p.passthrough.cilium.egress.push(json!({"toFQDNs": [{"matchName": "a.example.com"}]}));
        p.passthrough.cilium.origin = origin("workloads.web.cilium");
        p.passthrough.cluster_network_policy.ingress.push(json!({"action": "Accept"}));
        let rendered = Calico.render(&intent(vec![p])).expect("renders");
        assert!(
            !rendered.manifests[0].yaml.contains("toFQDNs") && !rendered.manifests[0].yaml.contains("Accept")
        );
        let d = rendered.warnings;
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d.iter().all(|d| d.severity == crate::error::Severity::Warning));
        assert!(
            d[0].message.contains("cilium passthrough")
                && d[1].message.contains("clusterNetworkPolicy passthrough")
        );
        assert_eq!(d[0].origin.as_ref().map(|o| o.path.as_str()), Some("workloads.web.cilium"));
    }

    #[test]
    fn guardrails_get_their_own_tier_that_passes() {
        let mut i = intent(vec![]);
        i.guardrails.push(metadata_guardrail());
        let r = Calico.render(&i).expect("renders");
        let tier = &r.manifests[0];
        assert_eq!(
            (tier.kind, tier.name.as_str(), tier.namespace.as_deref()),
            ("Tier", "netpol-guardrails", None)
        );
        assert_eq!(tier.body()["spec"], json!({"order": 100, "defaultAction": "Pass"}));
        assert_eq!(tier.body()["metadata"]["labels"]["app.kubernetes.io/managed-by"], json!("netpol"));
        assert_eq!(tier.layer, Layer::Foundation);
        let g = &r.manifests[1];
        assert_eq!(
            (g.kind, g.name.as_str(), g.namespace.as_deref(), g.layer),
            ("GlobalNetworkPolicy", "netpol-guardrails.deny-metadata-service", None, Layer::Guardrail)
        );
        assert_eq!(
            g.body()["spec"],
            json!({
                "tier": "netpol-guardrails",
                "order": 100,
                // Never `all()`: that would also select host endpoints.
                "selector": "has(projectcalico.org/namespace)",
                "types": ["Egress"],
                "egress": [{"action": "Deny", "destination": {"nets": ["169.254.169.254/32"]}}]
            })
        );
        assert!(g.body()["metadata"].get("namespace").is_none());
    }

    #[test]
    fn guardrail_scope_peers_and_order() {
        let mut scoped = guardrail(
            "no-db-from-outside",
            vec![rule(
                "others",
                vec![
                    Peer::Pods {
                        namespaces: Namespaces::Matching(LabelSelector::default()),
                        pods: ns_selector(&[]),
                    },
                    pods_in("tenant", &[("role", "client")]),
                ],
                vec![tcp(5432)],
            )],
            vec![],
        );
        scoped.namespaces = ns_selector(&[("tier", "data")]);
        scoped.pods = ns_selector(&[("app", "db")]);
        let mut i = intent(vec![]);
        i.guardrails = vec![metadata_guardrail(), scoped, guardrail("empty", vec![], vec![])];
        let r = Calico.render(&i).expect("renders");
        assert_eq!(r.manifests.len(), 3, "a guardrail without deny rules renders nothing");
        assert_eq!(r.manifests[1].body()["spec"]["order"], json!(100));
        let spec = r.manifests[2].body()["spec"].clone();
        assert_eq!(
            spec,
            json!({
                "tier": "netpol-guardrails",
                "order": 110,
                "selector": "has(projectcalico.org/namespace) && app == 'db'",
                "namespaceSelector": "tier == 'data'",
                "types": ["Ingress"],
                "ingress": [
                    {"action": "Deny", "protocol": "TCP", "source": {"namespaceSelector": "all()"}, "destination": {"ports": [5432]}},
                    {"action": "Deny", "protocol": "TCP", "source": {"namespaceSelector": "kubernetes.io/metadata.name == 'tenant'", "selector": "role == 'client'"}, "destination": {"ports": [5432]}},
                ]
            })
        );
    }

    #[test]
    fn guardrail_api_server_deny_uses_the_service_with_its_namespace() {
        let mut i = intent(vec![]);
        i.guardrails.push(guardrail(
            "no-api",
            vec![],
            vec![rule("api", vec![Peer::ApiServer { cidrs: vec![] }], vec![])],
        ));
        let out = bodies(&i);
        assert_eq!(
            out[1]["spec"]["egress"],
            json!([{"action": "Deny", "destination": {"services": {"name": "kubernetes", "namespace": "default"}}}])
        );
    }

    #[test]
    fn long_guardrail_names_keep_the_tier_prefix_and_fit() {
        let mut i = intent(vec![]);
        let name = "x".repeat(63);
        i.guardrails.push(guardrail(&name, vec![], vec![rule("m", vec![cidr("10.0.0.0/8", &[])], vec![])]));
        let r = Calico.render(&i).expect("renders");
        let n = &r.manifests[1].name;
        assert!(n.starts_with("netpol-guardrails.xxx") && n.len() <= naming::MAX_NAME, "{n}");
        let labels: Vec<&str> = n.split('.').collect();
        assert_eq!(labels.len(), 2);
        assert!(labels.iter().all(|l| naming::is_dns_label(l)), "{n}");
    }

    #[test]
    fn guardrail_peers_in_their_own_namespace_and_other_engines_constructs_are_errors() {
        let mut g = guardrail(
            "bad",
            vec![rule("own", vec![own_pods(&[("app", "x")])], vec![])],
            vec![rule("fqdn", vec![Peer::Fqdn(Fqdn::Name("a.example.com".into()))], vec![])],
        );
        g.origin = origin("guardrails.bad");
        let mut i = intent(vec![]);
        i.guardrails.push(g);
        let d = render_err(&i);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d[0].message.contains("no namespace of its own")
                && d[0].message.contains("guardrail `bad`, rule `own`")
        );
        assert_eq!(d[0].origin.as_ref().map(|o| o.path.as_str()), Some("own"));
        assert!(d[1].message.contains("FQDN egress"), "{d:?}");
    }

    #[test]
    fn selectors_longer_than_calico_accepts_are_errors() {
        let labels: Vec<(String, String)> =
            (0..40).map(|n| (format!("label-key-{n:02}"), "v".repeat(20))).collect();
        let mut p = allowlist("shop", "web", Some(vec![]), None);
        p.subject = LabelSelector::from_labels(labels.clone());
        let d = render_err(&intent(vec![p]));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains("at most 1024"), "{d:?}");
        let peer = Peer::Pods { namespaces: Namespaces::Own, pods: LabelSelector::from_labels(labels) };
        let d = render_err(&intent(vec![allowlist(
            "shop",
            "web",
            Some(vec![rule("r", vec![peer], vec![])]),
            None,
        )]));
        assert_eq!(d[0].origin.as_ref().map(|o| o.path.as_str()), Some("r"), "{d:?}");
    }

    #[test]
    fn more_rules_than_calico_takes_are_an_error() {
        let peers: Vec<Peer> = (0..=255u8).map(|n| cidr(&format!("10.{n}.0.0/16"), &[])).collect();
        let ports = vec![tcp(1), udp(1), port(Protocol::Sctp, PortSel::Number(1))];
        let small = rule("r", peers[..100].to_vec(), ports.clone());
        assert_eq!(egress_of(vec![small]).as_array().map(Vec::len), Some(300));
        let big = rule("r", [peers.clone(), peers[..100].to_vec()].concat(), ports.clone());
        let big2 = rule("s", peers, ports);
        let d = render_err(&intent(vec![allowlist("shop", "web", None, Some(vec![big, big2]))]));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].message.contains("1836 Calico egress rules") && d[0].message.contains("at most 1024"),
            "{d:?}"
        );
    }

    /// Everything a rich intent renders obeys Calico's rules that no schema carries.
    #[test]
    fn rich_render_keeps_calico_rule_invariants() {
        for body in bodies(&rich_intent()) {
            let spec = &body["spec"];
            if body["kind"] == json!("Tier") {
                continue;
            }
            assert!(spec["order"].is_u64() && spec["types"].is_array(), "{body}");
            let is_gnp = body["kind"] == json!("GlobalNetworkPolicy");
            for direction in ["ingress", "egress"] {
                for r in spec[direction].as_array().into_iter().flatten() {
                    let action = if is_gnp { "Deny" } else { "Allow" };
                    if r.get("metadata").is_none() && r["protocol"] != json!("ICMP") {
                        assert_eq!(r["action"], json!(action), "{r}");
                    }
                    let dest = &r["destination"];
                    // Services only on the peer's side: ingress source, egress destination.
                    let own_side = if direction == "ingress" { dest } else { &r["source"] };
                    assert!(own_side.get("services").is_none(), "{r}");
                    if dest["ports"].as_array().is_some_and(|p| p.iter().any(Value::is_u64)) {
                        assert!(r["protocol"].is_string(), "numeric ports need a protocol: {r}");
                    }
                    if dest.get("services").is_some() {
                        assert_eq!(dest.as_object().map(|o| o.len()), Some(1), "{r}");
                        assert!(r.get("protocol").is_none(), "{r}");
                    }
                    for side in [&r["source"], dest] {
                        let nets: Vec<&str> = ["nets", "notNets"]
                            .iter()
                            .flat_map(|k| side[*k].as_array().into_iter().flatten())
                            .filter_map(Value::as_str)
                            .collect();
                        let v6 = nets.iter().filter(|n| n.contains(':')).count();
                        assert!(v6 == 0 || v6 == nets.len(), "mixed families: {r}");
                    }
                }
            }
        }
    }

    fn rich_intent() -> Intent {
        let everything = vec![
            own_pods(&[("app", "x")]),
            own_pods(&[]),
            pods_in("monitoring", &[("app", "prometheus")]),
            pods_in("monitoring", &[]),
            Peer::Pods {
                namespaces: Namespaces::Matching(LabelSelector {
                    match_labels: Default::default(),
                    match_expressions: vec![
                        LabelExpression {
                            key: "team".into(),
                            operator: LabelOperator::In,
                            values: vec!["a".into(), "b".into()],
                        },
                        LabelExpression {
                            key: "legacy".into(),
                            operator: LabelOperator::DoesNotExist,
                            values: vec![],
                        },
                    ],
                }),
                pods: LabelSelector {
                    match_labels: Default::default(),
                    match_expressions: vec![
                        LabelExpression {
                            key: "app".into(),
                            operator: LabelOperator::NotIn,
                            values: vec!["c".into()],
                        },
                        LabelExpression {
                            key: "tier".into(),
                            operator: LabelOperator::Exists,
                            values: vec![],
                        },
                    ],
                },
            },
            cidr("10.0.0.0/8", &["10.96.0.0/12", "10.1.0.0/16"]),
            cidr("fd00::/8", &["fd00:1::/32"]),
            Peer::ApiServer { cidrs: vec![] },
            Peer::ApiServer {
                cidrs: vec!["192.168.0.1/32".parse().expect("cidr"), "fd01::1/128".parse().expect("cidr")],
            },
        ];
        let ports = vec![
            tcp(443),
            port(Protocol::Tcp, PortSel::Range(8000, 8080)),
            port(Protocol::Tcp, PortSel::Named("http-metrics".into())),
            udp(53),
            port(Protocol::Sctp, PortSel::Any),
        ];
        let mut web = allowlist(
            "shop",
            "web",
            Some(vec![rule("from-all", everything.clone(), ports.clone()), rule("anyone", vec![], vec![])]),
            Some(vec![
                dns_rule(),
                rule("to-all", everything, ports),
                rule("api", vec![Peer::ApiServer { cidrs: vec![] }], vec![tcp(443)]),
                rule("world", vec![Peer::Entity(Entity::All)], vec![tcp(80)]),
            ]),
        );
        web.passthrough
            .calico
            .ingress
            .push(json!({"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8}}));
        let mut passthrough_only = allowlist("shop", "icmp-only", None, None);
        passthrough_only.passthrough.calico.egress.push(json!({"action": "Allow", "protocol": "ICMP"}));
        let mut i = intent(vec![
            default_deny("shop", 2000, false),
            web,
            passthrough_only,
            allowlist("shop", "closed", Some(vec![]), Some(vec![])),
        ]);
        let mut scoped = guardrail(
            "no-db-from-tenants",
            vec![rule("tenants", vec![pods_in("tenant", &[("role", "client")])], vec![tcp(5432)])],
            vec![rule(
                "everywhere",
                vec![Peer::Pods {
                    namespaces: Namespaces::Matching(LabelSelector::default()),
                    pods: LabelSelector::default(),
                }],
                vec![udp(9)],
            )],
        );
        scoped.namespaces = ns_selector(&[("tier", "data")]);
        scoped.pods = ns_selector(&[("app", "db")]);
        let api = guardrail(
            "no-api-egress",
            vec![],
            vec![rule("api", vec![Peer::ApiServer { cidrs: vec![] }], vec![tcp(443)])],
        );
        i.guardrails = vec![
            metadata_guardrail(),
            scoped,
            api,
            guardrail(
                &"g".repeat(63),
                vec![rule("w", vec![cidr("0.0.0.0/0", &["10.0.0.0/8"])], vec![])],
                vec![],
            ),
        ];
        i
    }

    /// Validate a rich render against the official schemas and Calico's server-side rules:
    /// `cargo test --lib engine::calico -- --ignored` (needs the shared validate-manifests tool;
    /// NETPOL_VALIDATE_MANIFESTS overrides its path).
    #[test]
    #[ignore = "needs ../shared/tools/validate-manifests"]
    fn rich_render_passes_the_official_schemas() {
        let r = Calico.render(&rich_intent()).expect("renders");
        crate::engine::testing::assert_schema_valid(&r.manifests, "calico-rich");
    }
}
