//! Tests of `calico.rs`.

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
        (m.kind, m.name.as_str(), m.namespace.as_deref(), m.group),
        ("NetworkPolicy", "web", Some("shop"), OutputGroup::Namespace)
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
    let r = rule("m", vec![own_pods(&[("app", "x")]), cidr("10.0.0.0/8", &["10.1.0.0/16"])], vec![tcp(8080)]);
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
    assert_eq!(sizes, vec![(json!("TCP"), 50), (json!("TCP"), 50), (json!("TCP"), 20), (json!("UDP"), 1)]);
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
            (r["destination"]["nets"][0].clone(), r["protocol"].clone(), r["destination"]["ports"][0].clone())
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
    let mut p = allowlist("shop", "web", None, Some(vec![rule("c", vec![cidr("10.0.0.0/8", &[])], vec![])]));
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
    assert_eq!(tier.group, OutputGroup::Foundation);
    let g = &r.manifests[1];
    assert_eq!(
        (g.kind, g.name.as_str(), g.namespace.as_deref(), g.group),
        ("GlobalNetworkPolicy", "netpol-guardrails.deny-metadata-service", None, OutputGroup::Guardrail)
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
    let d =
        render_err(&intent(vec![allowlist("shop", "web", Some(vec![rule("r", vec![peer], vec![])]), None)]));
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
                    LabelExpression { key: "tier".into(), operator: LabelOperator::Exists, values: vec![] },
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
    web.passthrough.calico.ingress.push(json!({"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8}}));
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
        guardrail(&"g".repeat(63), vec![rule("w", vec![cidr("0.0.0.0/0", &["10.0.0.0/8"])], vec![])], vec![]),
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
