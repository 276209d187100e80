//! Cilium `cilium.io/v2`: CiliumNetworkPolicy for namespaced policies and
//! CiliumClusterwideNetworkPolicy for guardrails (ENGINES.md section 3).
//!
//! Cilium has no precedence: per endpoint and direction a matching deny drops, else a matching
//! allow passes, else the endpoint's default-deny decides. So allowlists and the namespace
//! default-deny are plain allow policies (`[{}]` enables default-deny and allows nothing), and
//! guardrails are deny rules, which always win, with `enableDefaultDeny: false` so they never
//! isolate unrelated traffic.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Backend, Engine, Entry, Layer, Manifest, ObjectMeta, Problems, Rendered};
use crate::error::{Diagnostic, Result};
use crate::intent::{
    Entity, Fqdn, Guardrail, Intent, LabelExpression, LabelOperator, LabelSelector, NAMESPACE_NAME_LABEL,
    Namespaces, Peer, Policy, PortMatch, PortSel, Rule, RulePurpose,
};

pub struct Cilium;

const API_VERSION: &str = "cilium.io/v2";
/// The identity label of a pod's namespace.
const POD_NAMESPACE: &str = "k8s:io.kubernetes.pod.namespace";
/// Prefix of namespace labels in endpoint selectors.
const NAMESPACE_LABELS: &str = "io.cilium.k8s.namespace.labels.";
/// Cilium rejects more ports than this in one `toPorts` entry.
const MAX_PORTS: usize = 40;

#[derive(Serialize)]
struct CiliumPolicy {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: Spec,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    endpoint_selector: Selector,
    enable_default_deny: DefaultDeny,
    #[serde(skip_serializing_if = "Option::is_none")]
    ingress: Option<Vec<Entry<CiliumRule>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ingress_deny: Option<Vec<Entry<CiliumRule>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    egress: Option<Vec<Entry<CiliumRule>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    egress_deny: Option<Vec<Entry<CiliumRule>>>,
}

#[derive(Serialize, Default)]
struct DefaultDeny {
    ingress: bool,
    egress: bool,
}

#[derive(Serialize, Default, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Selector {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    match_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    match_expressions: Vec<Expression>,
}

#[derive(Serialize, Clone, PartialEq)]
struct Expression {
    key: String,
    operator: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    values: Vec<String>,
}

/// One Cilium rule (ingress, egress or their deny forms): exactly one L3 field, plus ports.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct CiliumRule {
    #[serde(rename = "fromEndpoints", skip_serializing_if = "Option::is_none")]
    from_endpoints: Option<Vec<Selector>>,
    #[serde(rename = "fromCIDRSet", skip_serializing_if = "Option::is_none")]
    from_cidr_set: Option<Vec<CidrRule>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_entities: Option<Vec<&'static str>>,
    #[serde(rename = "toEndpoints", skip_serializing_if = "Option::is_none")]
    to_endpoints: Option<Vec<Selector>>,
    #[serde(rename = "toCIDRSet", skip_serializing_if = "Option::is_none")]
    to_cidr_set: Option<Vec<CidrRule>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_entities: Option<Vec<&'static str>>,
    #[serde(rename = "toFQDNs", skip_serializing_if = "Option::is_none")]
    to_fqdns: Option<Vec<FqdnSelector>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_ports: Option<Vec<PortRule>>,
}

#[derive(Serialize, Clone)]
struct CidrRule {
    cidr: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    except: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FqdnSelector {
    #[serde(skip_serializing_if = "Option::is_none")]
    match_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    match_pattern: Option<String>,
}

#[derive(Serialize, Clone)]
struct PortRule {
    ports: Vec<PortProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rules: Option<L7Rules>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct PortProtocol {
    port: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_port: Option<u16>,
    protocol: &'static str,
}

#[derive(Serialize, Clone)]
struct L7Rules {
    dns: Vec<FqdnPattern>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct FqdnPattern {
    match_pattern: &'static str,
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Ingress,
    Egress,
}

impl Backend for Cilium {
    fn engine(&self) -> Engine {
        Engine::Cilium
    }

    fn render(&self, intent: &Intent) -> Result<Rendered> {
        let mut problems = Problems::default();
        let mut rendered = Rendered::default();
        for guardrail in &intent.guardrails {
            if let Some(m) = render_guardrail(intent, guardrail, &mut problems)? {
                rendered.manifests.push(m);
            }
        }
        for policy in &intent.policies {
            if let Some(m) = render_policy(intent, policy, &mut problems)? {
                rendered.manifests.push(m);
            }
        }
        problems.finish(rendered)
    }
}

fn render_policy(intent: &Intent, policy: &Policy, problems: &mut Problems) -> Result<Option<Manifest>> {
    let raw = &policy.passthrough.cilium;
    if policy.ingress.is_none() && policy.egress.is_none() && raw.is_empty() {
        return Ok(None);
    }
    let context = format!("policy `{}` in namespace `{}`", policy.name, policy.namespace);
    let has_fqdn = policy.egress.iter().flatten().any(|r| r.peers.iter().any(|p| matches!(p, Peer::Fqdn(_))));
    if has_fqdn && !policy.egress.iter().flatten().any(|r| r.purpose == RulePurpose::Dns) {
        let origin =
            policy.egress.iter().flatten().find(|r| r.peers.iter().any(|p| matches!(p, Peer::Fqdn(_))));
        let mut d = Diagnostic::new(format!(
            "FQDN egress in {context} needs a DNS egress rule: Cilium learns FQDN addresses only from DNS answers it proxies, so without one the FQDN rule silently allows nothing"
        ))
        .with_help("enable DNS egress (`egress.dns: true`)");
        if let Some(r) = origin {
            d = d.at(&r.origin);
        }
        problems.push(d);
    }
    let scope = Scope::Namespace(&policy.namespace);
    let mut ingress = policy
        .ingress
        .as_ref()
        .map(|rules| translate_all(rules, Direction::Ingress, scope, false, &context, problems));
    let mut egress = policy
        .egress
        .as_ref()
        .map(|rules| translate_all(rules, Direction::Egress, scope, has_fqdn, &context, problems));
    // Passthrough rules are the user's own Cilium rules: appended verbatim.
    if !raw.ingress.is_empty() {
        ingress.get_or_insert_with(Vec::new).extend(raw.ingress.iter().cloned().map(Entry::Verbatim));
    }
    if !raw.egress.is_empty() {
        egress.get_or_insert_with(Vec::new).extend(raw.egress.iter().cloned().map(Entry::Verbatim));
    }
    // An isolated direction with nothing allowed is the empty rule: default-deny, no allow.
    for list in [&mut ingress, &mut egress].into_iter().flatten() {
        if list.is_empty() {
            list.push(Entry::Rendered(CiliumRule::default()));
        }
    }
    let spec = Spec {
        description: (!policy.description.is_empty()).then(|| policy.description.clone()),
        endpoint_selector: selector(&policy.subject),
        enable_default_deny: DefaultDeny {
            ingress: policy.ingress.is_some(),
            egress: policy.egress.is_some(),
        },
        ingress,
        egress,
        ..Spec::default()
    };
    let object = CiliumPolicy {
        api_version: API_VERSION,
        kind: "CiliumNetworkPolicy",
        metadata: ObjectMeta::new(intent, &policy.name, Some(&policy.namespace)),
        spec,
    };
    Manifest::new(
        API_VERSION,
        "CiliumNetworkPolicy",
        policy.name.clone(),
        Some(policy.namespace.clone()),
        Layer::Namespace,
        &object,
    )
    .map(Some)
}

fn render_guardrail(intent: &Intent, g: &Guardrail, problems: &mut Problems) -> Result<Option<Manifest>> {
    if g.ingress_deny.is_empty() && g.egress_deny.is_empty() {
        return Ok(None);
    }
    let context = format!("guardrail `{}`", g.name);
    for rule in g.egress_deny.iter().chain(&g.ingress_deny) {
        if rule.peers.iter().any(|p| matches!(p, Peer::Fqdn(_))) {
            problems.push(
                Diagnostic::new(format!(
                    "Cilium deny rules cannot match FQDNs ({context}, rule `{}`)",
                    rule.name
                ))
                .at(&rule.origin)
                .with_help("deny the addresses by CIDR instead"),
            );
        }
    }
    let deny = |rules: &[Rule], direction, problems: &mut Problems| {
        (!rules.is_empty())
            .then(|| translate_all(rules, direction, Scope::Cluster, false, &context, problems))
    };
    let mut endpoint = selector(&g.pods);
    add_namespace_keys(&mut endpoint, &g.namespaces);
    let spec = Spec {
        description: (!g.description.is_empty()).then(|| g.description.clone()),
        endpoint_selector: endpoint,
        // A guardrail only takes traffic away: it must never put pods into default-deny.
        enable_default_deny: DefaultDeny { ingress: false, egress: false },
        ingress_deny: deny(&g.ingress_deny, Direction::Ingress, problems),
        egress_deny: deny(&g.egress_deny, Direction::Egress, problems),
        ..Spec::default()
    };
    let object = CiliumPolicy {
        api_version: API_VERSION,
        kind: "CiliumClusterwideNetworkPolicy",
        metadata: ObjectMeta::new(intent, &g.name, None),
        spec,
    };
    Manifest::new(
        API_VERSION,
        "CiliumClusterwideNetworkPolicy",
        g.name.clone(),
        None,
        Layer::Guardrail,
        &object,
    )
    .map(Some)
}

/// Where a rule lives: a namespaced policy (own-namespace peers possible) or the whole cluster.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Namespace(&'a str),
    Cluster,
}

fn translate_all(
    rules: &[Rule],
    direction: Direction,
    scope: Scope<'_>,
    dns_visibility: bool,
    context: &str,
    problems: &mut Problems,
) -> Vec<Entry<CiliumRule>> {
    rules
        .iter()
        .flat_map(|rule| translate(rule, direction, scope, dns_visibility, context, problems))
        .map(Entry::Rendered)
        .collect()
}

/// One IR rule → one Cilium rule per peer kind (Cilium rejects two L3 kinds in one rule), each
/// with the same ports.
fn translate(
    rule: &Rule,
    direction: Direction,
    scope: Scope<'_>,
    dns_visibility: bool,
    context: &str,
    problems: &mut Problems,
) -> Vec<CiliumRule> {
    let ports = to_ports(
        &rule.ports,
        dns_visibility && rule.purpose == RulePurpose::Dns && direction == Direction::Egress,
    );
    let mut endpoints = Vec::new();
    let mut cidrs = Vec::new();
    let mut entities: Vec<&'static str> = Vec::new();
    let mut fqdns = Vec::new();
    if rule.peers.is_empty() {
        entities.push(Entity::All.as_str());
    }
    for peer in &rule.peers {
        match peer {
            Peer::Pods { namespaces, pods } => match (namespaces, scope) {
                (Namespaces::Own, Scope::Namespace(ns)) => {
                    let mut s = selector(pods);
                    s.match_labels.insert(POD_NAMESPACE.to_string(), ns.to_string());
                    endpoints.push(s);
                }
                (Namespaces::Own, Scope::Cluster) => problems.push(
                    Diagnostic::new(format!(
                        "a cluster-wide rule has no namespace of its own ({context}, rule `{}`)",
                        rule.name
                    ))
                    .at(&rule.origin),
                ),
                (Namespaces::Matching(ns), _) => {
                    let mut s = selector(pods);
                    add_namespace_keys(&mut s, ns);
                    endpoints.push(s);
                }
            },
            Peer::Cidr { cidr, except } => cidrs.push(CidrRule {
                cidr: cidr.to_string(),
                except: except.iter().map(ToString::to_string).collect(),
            }),
            // CIDR rules never match an in-cluster API server: use its identity.
            Peer::ApiServer { .. } => entities.push("kube-apiserver"),
            Peer::Entity(e) => entities.push(e.as_str()),
            Peer::Fqdn(f) if direction == Direction::Egress => fqdns.push(match f {
                Fqdn::Name(n) => FqdnSelector { match_name: Some(n.clone()), match_pattern: None },
                Fqdn::Pattern(p) => FqdnSelector { match_name: None, match_pattern: Some(p.clone()) },
            }),
            Peer::Fqdn(_) => problems.push(
                Diagnostic::new(format!("FQDN peers are egress-only ({context}, rule `{}`)", rule.name))
                    .at(&rule.origin),
            ),
        }
    }
    entities.sort();
    entities.dedup();
    let ingress = direction == Direction::Ingress;
    let mut out = Vec::new();
    if !endpoints.is_empty() {
        out.push(if ingress {
            CiliumRule { from_endpoints: Some(endpoints), ..CiliumRule::default() }
        } else {
            CiliumRule { to_endpoints: Some(endpoints), ..CiliumRule::default() }
        });
    }
    if !cidrs.is_empty() {
        out.push(if ingress {
            CiliumRule { from_cidr_set: Some(cidrs), ..CiliumRule::default() }
        } else {
            CiliumRule { to_cidr_set: Some(cidrs), ..CiliumRule::default() }
        });
    }
    if !entities.is_empty() {
        out.push(if ingress {
            CiliumRule { from_entities: Some(entities), ..CiliumRule::default() }
        } else {
            CiliumRule { to_entities: Some(entities), ..CiliumRule::default() }
        });
    }
    if !fqdns.is_empty() {
        out.push(CiliumRule { to_fqdns: Some(fqdns), ..CiliumRule::default() });
    }
    for r in &mut out {
        r.to_ports.clone_from(&ports);
    }
    out
}

/// `toPorts`: ports as strings, at most 40 per entry. `dns` adds the DNS proxy rule that FQDN
/// egress depends on.
fn to_ports(ports: &[PortMatch], dns: bool) -> Option<Vec<PortRule>> {
    if ports.is_empty() {
        return None;
    }
    let list: Vec<PortProtocol> = ports
        .iter()
        .map(|p| {
            let (port, end_port) = match &p.port {
                PortSel::Any => ("0".to_string(), None),
                PortSel::Number(n) => (n.to_string(), None),
                PortSel::Range(a, b) => (a.to_string(), Some(*b)),
                PortSel::Named(n) => (n.clone(), None),
            };
            PortProtocol { port, end_port, protocol: p.protocol.as_str() }
        })
        .collect();
    Some(
        list.chunks(MAX_PORTS)
            .map(|chunk| PortRule {
                ports: chunk.to_vec(),
                rules: dns.then(|| L7Rules { dns: vec![FqdnPattern { match_pattern: "*" }] }),
            })
            .collect(),
    )
}

fn selector(s: &LabelSelector) -> Selector {
    Selector {
        match_labels: s.match_labels.clone(),
        match_expressions: s.match_expressions.iter().map(|e| expression(&e.key, e)).collect(),
    }
}

fn expression(key: &str, e: &LabelExpression) -> Expression {
    Expression { key: key.to_string(), operator: e.operator.as_str(), values: e.values.clone() }
}

/// Narrow an endpoint selector to namespaces matching `ns`, naming the namespace explicitly so
/// that neither CNP nor CCNP implicit scoping applies (ENGINES.md 3.2).
fn add_namespace_keys(s: &mut Selector, ns: &LabelSelector) {
    if ns.match_expressions.is_empty()
        && ns.match_labels.len() == 1
        && let Some(name) = ns.match_labels.get(NAMESPACE_NAME_LABEL)
    {
        s.match_labels.insert(POD_NAMESPACE.to_string(), name.clone());
        return;
    }
    if ns.is_empty() {
        // Every namespace: any pod at all, but only pods.
        s.match_expressions.push(Expression {
            key: POD_NAMESPACE.to_string(),
            operator: "Exists",
            values: Vec::new(),
        });
        return;
    }
    for (k, v) in &ns.match_labels {
        s.match_labels.insert(format!("{NAMESPACE_LABELS}{k}"), v.clone());
    }
    for e in &ns.match_expressions {
        s.match_expressions.push(expression(&format!("{NAMESPACE_LABELS}{}", e.key), e));
    }
    if ns
        .match_expressions
        .iter()
        .all(|e| matches!(e.operator, LabelOperator::NotIn | LabelOperator::DoesNotExist))
        && ns.match_labels.is_empty()
    {
        // A namespace selector of exclusions only still means "pods in some namespace".
        s.match_expressions.push(Expression {
            key: POD_NAMESPACE.to_string(),
            operator: "Exists",
            values: Vec::new(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::testing::*;
    use serde_json::json;

    fn render_one(policies: Vec<Policy>) -> Vec<serde_json::Value> {
        Cilium.render(&intent(policies)).expect("renders").manifests.into_iter().map(|m| m.body()).collect()
    }

    #[test]
    fn default_deny_is_the_empty_rule_never_a_deny() {
        let out = render_one(vec![default_deny("identity", 2000, false)]);
        let spec = &out[0]["spec"];
        assert_eq!(spec["ingress"], json!([{}]));
        assert_eq!(spec["egress"], json!([{}]));
        assert_eq!(spec["enableDefaultDeny"], json!({"ingress": true, "egress": true}));
        assert_eq!(spec["endpointSelector"], json!({}));
        assert!(spec.get("ingressDeny").is_none() && spec.get("egressDeny").is_none());
    }

    #[test]
    fn one_peer_kind_per_rule_with_string_ports() {
        let rule = rule(
            "mixed",
            vec![
                pods_in("monitoring", &[("app", "prom")]),
                cidr("10.0.0.0/8", &["10.1.0.0/16"]),
                Peer::Entity(Entity::World),
            ],
            vec![tcp(8080)],
        );
        let out = render_one(vec![allowlist("shop", "web", Some(vec![rule]), None)]);
        let ingress = out[0]["spec"]["ingress"].as_array().expect("list").clone();
        assert_eq!(ingress.len(), 3);
        assert_eq!(
            ingress[0]["fromEndpoints"],
            json!([{"matchLabels": {"app": "prom", "k8s:io.kubernetes.pod.namespace": "monitoring"}}])
        );
        assert_eq!(ingress[1]["fromCIDRSet"], json!([{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}]));
        assert_eq!(ingress[2]["fromEntities"], json!(["world"]));
        for r in &ingress {
            assert_eq!(r["toPorts"], json!([{"ports": [{"port": "8080", "protocol": "TCP"}]}]));
        }
        assert_eq!(out[0]["spec"]["enableDefaultDeny"], json!({"ingress": true, "egress": false}));
        assert!(out[0]["spec"].get("egress").is_none());
    }

    #[test]
    fn any_peer_is_entity_all_not_an_empty_rule() {
        let out =
            render_one(vec![allowlist("shop", "web", Some(vec![rule("open", vec![], vec![tcp(80)])]), None)]);
        assert_eq!(out[0]["spec"]["ingress"][0]["fromEntities"], json!(["all"]));
    }

    #[test]
    fn own_namespace_and_cross_namespace_selectors_name_the_namespace() {
        let ns_by_label = Peer::Pods {
            namespaces: Namespaces::Matching(LabelSelector::from_labels([("team", "a")])),
            pods: LabelSelector::default(),
        };
        let all_ns = Peer::Pods {
            namespaces: Namespaces::Matching(LabelSelector::default()),
            pods: LabelSelector::default(),
        };
        let r = rule("r", vec![own_pods(&[("app", "x")]), ns_by_label, all_ns], vec![]);
        let out = render_one(vec![allowlist("shop", "web", None, Some(vec![r]))]);
        assert_eq!(
            out[0]["spec"]["egress"][0]["toEndpoints"],
            json!([
                {"matchLabels": {"app": "x", "k8s:io.kubernetes.pod.namespace": "shop"}},
                {"matchLabels": {"io.cilium.k8s.namespace.labels.team": "a"}},
                {"matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}]}
            ])
        );
        assert!(out[0]["spec"]["egress"][0].get("toPorts").is_none());
    }

    #[test]
    fn api_server_is_the_entity_and_port_forms() {
        let ports = vec![
            PortMatch { protocol: crate::intent::Protocol::Udp, port: PortSel::Any },
            PortMatch { protocol: crate::intent::Protocol::Tcp, port: PortSel::Range(30000, 30010) },
            PortMatch { protocol: crate::intent::Protocol::Sctp, port: PortSel::Named("metrics".into()) },
        ];
        let r =
            rule("api", vec![Peer::ApiServer { cidrs: vec!["10.0.0.1/32".parse().expect("cidr")] }], ports);
        let out = render_one(vec![allowlist("shop", "web", None, Some(vec![r]))]);
        let e = &out[0]["spec"]["egress"][0];
        assert_eq!(e["toEntities"], json!(["kube-apiserver"]));
        assert_eq!(
            e["toPorts"][0]["ports"],
            json!([{"port": "0", "protocol": "UDP"}, {"port": "30000", "endPort": 30010, "protocol": "TCP"}, {"port": "metrics", "protocol": "SCTP"}])
        );
    }

    #[test]
    fn fqdn_egress_gets_dns_visibility_on_the_dns_rule() {
        let fqdn = rule("api", vec![Peer::Fqdn(Fqdn::Name("api.example.com".into()))], vec![tcp(443)]);
        let out = render_one(vec![allowlist("shop", "web", None, Some(vec![dns_rule(), fqdn]))]);
        let egress = &out[0]["spec"]["egress"];
        assert_eq!(egress[0]["toPorts"][0]["rules"], json!({"dns": [{"matchPattern": "*"}]}));
        assert_eq!(egress[1]["toFQDNs"], json!([{"matchName": "api.example.com"}]));
        // Without FQDNs the DNS rule is plain L4.
        let out = render_one(vec![allowlist("shop", "web", None, Some(vec![dns_rule()]))]);
        assert!(out[0]["spec"]["egress"][0]["toPorts"][0].get("rules").is_none());
    }

    #[test]
    fn fqdn_without_dns_is_an_error() {
        let fqdn = rule("api", vec![Peer::Fqdn(Fqdn::Pattern("*.example.com".into()))], vec![tcp(443)]);
        let err = Cilium
            .render(&intent(vec![allowlist("shop", "web", None, Some(vec![fqdn]))]))
            .expect_err("no DNS");
        assert!(err.to_string().contains("needs a DNS egress rule"), "{err}");
    }

    #[test]
    fn many_ports_are_chunked() {
        let ports: Vec<PortMatch> = (1..=45).map(tcp).collect();
        let out = render_one(vec![allowlist("shop", "web", Some(vec![rule("many", vec![], ports)]), None)]);
        let to_ports = out[0]["spec"]["ingress"][0]["toPorts"].as_array().expect("list").clone();
        assert_eq!(to_ports.len(), 2);
        assert_eq!(to_ports[0]["ports"].as_array().map(Vec::len), Some(40));
    }

    #[test]
    fn passthrough_is_appended_verbatim() {
        let mut p = allowlist("shop", "web", Some(vec![rule("open", vec![], vec![tcp(80)])]), None);
        p.passthrough
            .cilium
            .ingress
            .push(json!({"fromEndpoints": [{"matchLabels": {"app.kubernetes.io/name": "flagger"}}]}));
        p.passthrough.cilium.egress.push(json!({"toFQDNs": [{"matchName": "bucket.example.com"}]}));
        let out = render_one(vec![p]);
        assert_eq!(out[0]["spec"]["ingress"].as_array().map(Vec::len), Some(2));
        assert_eq!(out[0]["spec"]["egress"], json!([{"toFQDNs": [{"matchName": "bucket.example.com"}]}]));
        assert_eq!(out[0]["spec"]["enableDefaultDeny"], json!({"ingress": true, "egress": false}));
    }

    #[test]
    fn guardrails_are_clusterwide_denies_that_isolate_nothing() {
        let mut i = intent(vec![]);
        i.guardrails.push(metadata_guardrail());
        let r = Cilium.render(&i).expect("renders");
        let m = &r.manifests[0];
        assert_eq!(
            (m.kind, m.layer, m.namespace.as_deref()),
            ("CiliumClusterwideNetworkPolicy", Layer::Guardrail, None)
        );
        assert_eq!(m.body()["spec"]["enableDefaultDeny"], json!({"ingress": false, "egress": false}));
        assert_eq!(m.body()["spec"]["egressDeny"], json!([{"toCIDRSet": [{"cidr": "169.254.169.254/32"}]}]));
        assert!(m.body()["spec"].get("ingressDeny").is_none());
    }
}
