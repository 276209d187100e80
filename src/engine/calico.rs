//! Calico `projectcalico.org/v3` (ENGINES.md section 4): NetworkPolicy in the `default` tier for
//! namespaced policies; a `netpol-guardrails` Tier ahead of every other tier with one
//! GlobalNetworkPolicy per guardrail.
//!
//! Calico evaluates tiers by order, policies by order, rules first-match. Allowlists sit at
//! order 1000 and the namespace default-deny at `defaultDeny.order` (larger): the default-deny
//! has no rules, so a pod it selects falls through to the tier's end-of-tier Deny only when no
//! allowlist allowed the traffic. Guardrails deny in their own tier, whose `defaultAction: Pass`
//! hands everything else on to the default tier.

use serde::Serialize;

use super::{Backend, Engine, Entry, Layer, Manifest, ObjectMeta, Problems, Rendered, naming};
use crate::error::{Diagnostic, Result};
use crate::intent::{
    ALLOWLIST_ORDER, Guardrail, Intent, LabelOperator, LabelSelector, Namespaces, Peer, Policy, PolicyRole,
    PortMatch, PortSel, Protocol, Rule,
};

pub struct Calico;

const API_VERSION: &str = "projectcalico.org/v3";
/// The tier guardrails live in: before `kube-admin` (1000) and `default` (1 000 000).
pub const GUARDRAIL_TIER: &str = "netpol-guardrails";
pub const GUARDRAIL_TIER_ORDER: u32 = 100;

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
    ports: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    services: Option<ServiceRef>,
}

#[derive(Serialize, Clone)]
struct ServiceRef {
    name: &'static str,
    namespace: &'static str,
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Ingress,
    Egress,
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
            let order = GUARDRAIL_TIER_ORDER + 10 * u32::try_from(i).unwrap_or(u32::MAX / 20);
            if let Some(m) = render_guardrail(intent, g, order, &mut problems)? {
                rendered.manifests.push(m);
            }
        }
        for p in &intent.policies {
            if let Some(m) = render_policy(intent, p, &mut problems)? {
                rendered.manifests.push(m);
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
                .with_help(format!("use an order greater than {ALLOWLIST_ORDER}, e.g. the default 2000"));
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
    let mut ingress = translate_all(
        policy.ingress.as_deref().unwrap_or(&[]),
        Direction::Ingress,
        Scope::Namespaced,
        "Allow",
        &context,
        problems,
    );
    ingress.extend(raw.ingress.iter().cloned().map(Entry::Verbatim));
    let mut egress = translate_all(
        policy.egress.as_deref().unwrap_or(&[]),
        Direction::Egress,
        Scope::Namespaced,
        "Allow",
        &context,
        problems,
    );
    egress.extend(raw.egress.iter().cloned().map(Entry::Verbatim));
    let object = Object {
        api_version: API_VERSION,
        kind: "NetworkPolicy",
        metadata: ObjectMeta::new(intent, &policy.name, Some(&policy.namespace)),
        spec: PolicySpec {
            tier: "default",
            order,
            selector: selector(&policy.subject),
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
    let name = naming::fit(&format!("{GUARDRAIL_TIER}.{}", g.name));
    let object = Object {
        api_version: API_VERSION,
        kind: "GlobalNetworkPolicy",
        metadata: ObjectMeta::new(intent, &name, None),
        spec: PolicySpec {
            tier: GUARDRAIL_TIER,
            order,
            selector: pod_selector,
            namespace_selector: (!g.namespaces.is_empty()).then(|| selector(&g.namespaces)),
            types,
            ingress: translate_all(
                &g.ingress_deny,
                Direction::Ingress,
                Scope::Global,
                "Deny",
                &context,
                problems,
            ),
            egress: translate_all(
                &g.egress_deny,
                Direction::Egress,
                Scope::Global,
                "Deny",
                &context,
                problems,
            ),
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

/// One IR rule → one Calico rule per peer and protocol: Calico takes one protocol per rule, and
/// allow (or deny) rules are a union, so splitting is exact.
fn translate(
    rule: &Rule,
    direction: Direction,
    scope: Scope,
    action: &'static str,
    context: &str,
    problems: &mut Problems,
) -> Vec<CalicoRule> {
    // (peer entity or None for "any", whether the peer is the API server Service)
    let mut peers: Vec<(Option<EntityRule>, bool)> = Vec::new();
    if rule.peers.is_empty() {
        peers.push((None, false));
    }
    for peer in &rule.peers {
        match peer {
            Peer::Pods { namespaces, pods } => {
                let entity = match (namespaces, scope) {
                    (Namespaces::Own, Scope::Namespaced) => {
                        EntityRule { selector: Some(selector(pods)), ..EntityRule::default() }
                    }
                    (Namespaces::Own, Scope::Global) => {
                        problems.push(
                            Diagnostic::new(format!(
                                "a cluster-wide rule has no namespace of its own ({context}, rule `{}`)",
                                rule.name
                            ))
                            .at(&rule.origin),
                        );
                        continue;
                    }
                    (Namespaces::Matching(ns), _) => EntityRule {
                        namespace_selector: Some(selector(ns)),
                        selector: (!pods.is_empty()).then(|| selector(pods)),
                        ..EntityRule::default()
                    },
                };
                peers.push((Some(entity), false));
            }
            Peer::Cidr { cidr, except } => peers.push((
                Some(EntityRule {
                    nets: vec![cidr.to_string()],
                    not_nets: except.iter().map(ToString::to_string).collect(),
                    ..EntityRule::default()
                }),
                false,
            )),
            Peer::ApiServer { cidrs } if !cidrs.is_empty() => {
                // One family per rule.
                for family in [true, false] {
                    let nets: Vec<String> = cidrs
                        .iter()
                        .filter(|c| matches!(c, ipnet::IpNet::V4(_)) == family)
                        .map(ToString::to_string)
                        .collect();
                    if !nets.is_empty() {
                        peers.push((Some(EntityRule { nets, ..EntityRule::default() }), false));
                    }
                }
            }
            // The `default/kubernetes` Service matches the API server's endpoint addresses and
            // ports; Calico allows nothing else beside `services` in the rule.
            Peer::ApiServer { .. } => peers.push((
                Some(EntityRule {
                    services: Some(ServiceRef { name: "kubernetes", namespace: "default" }),
                    ..EntityRule::default()
                }),
                true,
            )),
            Peer::Entity(crate::intent::Entity::All) => peers.push((None, false)),
            Peer::Entity(e) => problems.push(
                Diagnostic::unsupported(
                    "calico",
                    &format!("the Cilium entity `{}`", e.as_str()),
                    &format!("{context}, rule `{}`", rule.name),
                    &["cilium"],
                )
                .at(&rule.origin),
            ),
            Peer::Fqdn(_) => problems.push(
                Diagnostic::unsupported(
                    "calico",
                    "FQDN egress (Calico Enterprise only)",
                    &format!("{context}, rule `{}`", rule.name),
                    &["cilium"],
                )
                .at(&rule.origin),
            ),
        }
    }
    let groups = protocol_groups(&rule.ports);
    let mut out = Vec::new();
    for (peer, is_service) in peers {
        if is_service {
            let (source, destination) = match direction {
                Direction::Ingress => (peer, None),
                Direction::Egress => (None, peer),
            };
            out.push(CalicoRule { action, protocol: None, source, destination });
            continue;
        }
        for (protocol, ports) in &groups {
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

/// Ports grouped by protocol (TCP, UDP, SCTP). No ports at all: one group without a protocol.
/// A protocol with an "every port" entry needs no port list.
fn protocol_groups(ports: &[PortMatch]) -> Vec<(Option<&'static str>, Vec<serde_json::Value>)> {
    if ports.is_empty() {
        return vec![(None, Vec::new())];
    }
    let mut out = Vec::new();
    for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
        let of: Vec<&PortMatch> = ports.iter().filter(|p| p.protocol == protocol).collect();
        if of.is_empty() {
            continue;
        }
        let list = if of.iter().any(|p| p.port == PortSel::Any) {
            Vec::new()
        } else {
            of.iter()
                .map(|p| match &p.port {
                    PortSel::Number(n) => serde_json::json!(n),
                    PortSel::Range(a, b) => serde_json::json!(format!("{a}:{b}")),
                    PortSel::Named(n) => serde_json::json!(n),
                    PortSel::Any => serde_json::Value::Null,
                })
                .collect()
        };
        out.push((Some(protocol.as_str()), list));
    }
    out
}

/// A label selector as a Calico selector expression; the empty selector is `all()`.
pub fn selector(s: &LabelSelector) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::testing::*;
    use crate::intent::{Entity, Fqdn, LabelExpression};
    use serde_json::json;

    fn render_ok(policies: Vec<Policy>) -> Vec<serde_json::Value> {
        Calico.render(&intent(policies)).expect("renders").manifests.into_iter().map(|m| m.body()).collect()
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
    }

    #[test]
    fn default_deny_has_no_rules_and_a_larger_order() {
        let out = render_ok(vec![default_deny("identity", 2000, false)]);
        assert_eq!(
            out[0]["spec"],
            json!({"tier": "default", "order": 2000, "selector": "all()", "types": ["Ingress", "Egress"]})
        );
        let err =
            Calico.render(&intent(vec![default_deny("identity", 500, true)])).expect_err("before allowlists");
        assert!(err.to_string().contains("before its allowlists"), "{err}");
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
    fn any_peer_any_port_and_port_forms() {
        let ports = vec![
            PortMatch { protocol: Protocol::Udp, port: PortSel::Any },
            PortMatch { protocol: Protocol::Tcp, port: PortSel::Range(30000, 30010) },
            PortMatch { protocol: Protocol::Tcp, port: PortSel::Named("metrics".into()) },
        ];
        let out = render_ok(vec![allowlist(
            "shop",
            "web",
            Some(vec![rule("open", vec![], ports), rule("all", vec![], vec![])]),
            None,
        )]);
        assert_eq!(
            out[0]["spec"]["ingress"],
            json!([
                {"action": "Allow", "protocol": "TCP", "destination": {"ports": ["30000:30010", "metrics"]}},
                {"action": "Allow", "protocol": "UDP"},
                {"action": "Allow"},
            ])
        );
    }

    #[test]
    fn api_server_by_service_or_by_addresses() {
        let r = rule("api", vec![Peer::ApiServer { cidrs: vec![] }], vec![tcp(443), tcp(6443)]);
        let out = render_ok(vec![allowlist("shop", "web", None, Some(vec![r]))]);
        assert_eq!(
            out[0]["spec"]["egress"],
            json!([{"action": "Allow", "destination": {"services": {"name": "kubernetes", "namespace": "default"}}}])
        );
        let r = rule(
            "api",
            vec![Peer::ApiServer { cidrs: vec!["10.0.0.1/32".parse().expect("cidr")] }],
            vec![tcp(443)],
        );
        let out = render_ok(vec![allowlist("shop", "web", None, Some(vec![r]))]);
        assert_eq!(
            out[0]["spec"]["egress"],
            json!([{"action": "Allow", "protocol": "TCP", "destination": {"nets": ["10.0.0.1/32"], "ports": [443]}}])
        );
    }

    #[test]
    fn address_families_never_share_a_rule() {
        let cidrs = vec!["10.0.0.1/32".parse().expect("cidr"), "fd00::1/128".parse().expect("cidr")];
        let r = rule("api", vec![Peer::ApiServer { cidrs }], vec![tcp(443)]);
        let out = render_ok(vec![allowlist("shop", "web", None, Some(vec![r]))]);
        let egress = out[0]["spec"]["egress"].as_array().expect("rules").clone();
        assert_eq!(egress.len(), 2);
        assert_eq!(egress[0]["destination"]["nets"], json!(["10.0.0.1/32"]));
        assert_eq!(egress[1]["destination"]["nets"], json!(["fd00::1/128"]));
    }

    #[test]
    fn entities_and_fqdns_are_errors_naming_cilium() {
        let r = rule(
            "x",
            vec![Peer::Entity(Entity::World), Peer::Fqdn(Fqdn::Name("a.example.com".into()))],
            vec![],
        );
        let err = Calico
            .render(&intent(vec![allowlist("shop", "web", None, Some(vec![r]))]))
            .expect_err("inexpressible");
        let text = format!("{:?}", err.diagnostics());
        assert!(
            text.contains("entity `world`") && text.contains("FQDN") && text.contains("cilium"),
            "{text}"
        );
    }

    #[test]
    fn guardrails_get_their_own_tier_that_passes() {
        let mut i = intent(vec![]);
        i.guardrails.push(metadata_guardrail());
        let r = Calico.render(&i).expect("renders");
        assert_eq!(r.manifests[0].body()["spec"], json!({"order": 100, "defaultAction": "Pass"}));
        assert_eq!(r.manifests[0].layer, Layer::Foundation);
        let g = &r.manifests[1];
        assert_eq!(
            (g.kind, g.name.as_str()),
            ("GlobalNetworkPolicy", "netpol-guardrails.deny-metadata-service")
        );
        assert_eq!(g.body()["spec"]["tier"], json!("netpol-guardrails"));
        assert_eq!(g.body()["spec"]["selector"], json!("has(projectcalico.org/namespace)"));
        assert_eq!(
            g.body()["spec"]["egress"],
            json!([{"action": "Deny", "destination": {"nets": ["169.254.169.254/32"]}}])
        );
    }
}
