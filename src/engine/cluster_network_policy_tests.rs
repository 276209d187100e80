//! Tests of `cluster_network_policy.rs`.

use super::*;
use crate::intent::testing::*;
use serde_json::json;

fn nets(v: &[&str]) -> Vec<IpNet> {
    v.iter().map(|s| s.parse().expect("cidr")).collect()
}

#[test]
fn subtraction_is_exact() {
    let out = subtract("0.0.0.0/0".parse().expect("cidr"), &nets(&["10.0.0.0/8", "169.254.169.254/32"]));
    assert!(!out.iter().any(|n| n.contains(&"10.1.2.3".parse::<std::net::IpAddr>().expect("ip"))));
    assert!(!out.iter().any(|n| n.contains(&"169.254.169.254".parse::<std::net::IpAddr>().expect("ip"))));
    assert!(out.iter().any(|n| n.contains(&"169.254.169.253".parse::<std::net::IpAddr>().expect("ip"))));
    assert!(out.iter().any(|n| n.contains(&"11.0.0.0".parse::<std::net::IpAddr>().expect("ip"))));
    let total: u128 = out.iter().map(|n| 1u128 << (32 - n.prefix_len())).sum();
    assert_eq!(total, (1u128 << 32) - (1u128 << 24) - 1);
    assert_eq!(subtract("10.0.0.0/8".parse().expect("cidr"), &[]), nets(&["10.0.0.0/8"]));
}

fn render(policies: Vec<Policy>) -> Vec<Manifest> {
    ClusterNetworkPolicy.render(&intent(policies)).expect("renders").manifests
}

#[test]
fn allowlists_accept_then_a_separate_lockdown_denies() {
    let r = rule("metrics", vec![pods_in("monitoring", &[("app", "prom")])], vec![tcp(8080)]);
    let out = render(vec![allowlist("shop", "web", Some(vec![r]), Some(vec![dns_rule()]))]);
    assert_eq!(out.len(), 2);
    let accept = &out[0].body()["spec"];
    assert_eq!(accept["tier"], json!("Baseline"));
    assert_eq!(accept["priority"], json!(ALLOW_PRIORITY));
    assert_eq!(
        accept["subject"],
        json!({"pods": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}, "podSelector": {"matchLabels": {"app": "web"}}}})
    );
    assert_eq!(
        accept["ingress"],
        json!([{"name": "metrics", "action": "Accept",
        "from": [{"pods": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}, "podSelector": {"matchLabels": {"app": "prom"}}}}],
        "protocols": [{"tcp": {"destinationPort": {"number": 8080}}}]}])
    );
    assert_eq!(
        accept["egress"][0]["protocols"],
        json!([{"udp": {"destinationPort": {"number": 53}}}, {"tcp": {"destinationPort": {"number": 53}}}])
    );
    let lockdown = &out[1];
    assert_eq!(lockdown.name, "shop-web-lockdown");
    assert_eq!(lockdown.body()["spec"]["priority"], json!(DENY_PRIORITY));
    assert_eq!(
        lockdown.body()["spec"]["ingress"],
        json!([{"name": "deny-all", "action": "Deny", "from": [{"namespaces": {}}]}])
    );
    assert_eq!(
        lockdown.body()["spec"]["egress"],
        json!([{"name": "deny-all", "action": "Deny", "to": [{"namespaces": {}}, {"networks": ["0.0.0.0/0", "::/0"]}]}])
    );
}

#[test]
fn default_deny_priority_maps_or_is_rejected() {
    let out = render(vec![default_deny("identity", 2000, false)]);
    assert_eq!(out[0].body()["spec"]["priority"], json!(DENY_PRIORITY));
    assert_eq!(
        out[0].body()["spec"]["subject"],
        json!({"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "identity"}}})
    );
    let out = render(vec![default_deny("identity", 900, true)]);
    assert_eq!(out[0].body()["spec"]["priority"], json!(900));
    let err =
        ClusterNetworkPolicy.render(&intent(vec![default_deny("identity", 2000, true)])).expect_err("range");
    assert!(err.to_string().contains("the range is 0..1000"), "{err}");
    let err =
        ClusterNetworkPolicy.render(&intent(vec![default_deny("identity", 50, true)])).expect_err("order");
    assert!(err.to_string().contains("before the allowlists"), "{err}");
}

#[test]
fn port_forms_and_any_peer() {
    let ports = vec![
        crate::intent::PortMatch { protocol: Protocol::Udp, port: PortSel::Any },
        crate::intent::PortMatch { protocol: Protocol::Sctp, port: PortSel::Range(5000, 5010) },
        crate::intent::PortMatch { protocol: Protocol::Tcp, port: PortSel::Named("metrics".into()) },
    ];
    let out = render(vec![allowlist("shop", "web", None, Some(vec![rule("open", vec![], ports)]))]);
    let spec = out[0].body()["spec"].clone();
    let e = &spec["egress"][0];
    assert_eq!(e["to"], json!([{"namespaces": {}}]));
    assert_eq!(
        e["protocols"],
        json!([
            {"udp": {"destinationPort": {"range": {"start": 1, "end": 65535}}}},
            {"sctp": {"destinationPort": {"range": {"start": 5000, "end": 5010}}}},
            {"destinationNamedPort": "metrics"}
        ])
    );
    // The API forbids named ports beside `networks`: those take the numbered ports only.
    let e = &spec["egress"][1];
    assert_eq!(e["name"], "open-2");
    assert_eq!(e["to"], json!([{"networks": ["0.0.0.0/0", "::/0"]}]));
    assert_eq!(
        e["protocols"],
        json!([
            {"udp": {"destinationPort": {"range": {"start": 1, "end": 65535}}}},
            {"sctp": {"destinationPort": {"range": {"start": 5000, "end": 5010}}}}
        ])
    );
    // A named port toward a CIDR: refused unless the values declare the name on one port,
    // which is then rendered as its number, with a warning.
    let only_named =
        vec![crate::intent::PortMatch { protocol: Protocol::Tcp, port: PortSel::Named("m".into()) }];
    let policy =
        allowlist("shop", "web", None, Some(vec![rule("m", vec![cidr("10.0.0.0/8", &[])], only_named)]));
    let error = ClusterNetworkPolicy.render(&intent(vec![policy.clone()])).expect_err("refused");
    assert!(error.to_string().contains("named port `m` toward a CIDR peer"), "{error}");
    let mut declared = intent(vec![policy]);
    declared.cluster.workloads.push(crate::intent::DeclaredWorkload {
        namespace: "shop".into(),
        name: "db".into(),
        subject: LabelSelector::from_labels([("app", "db")]),
        ports: vec![("m".into(), 9090, Protocol::Tcp)],
    });
    let rendered = ClusterNetworkPolicy.render(&declared).expect("translated");
    assert_eq!(rendered.warnings.len(), 1, "{:?}", rendered.warnings);
    let spec = rendered.manifests[0].body()["spec"].clone();
    assert_eq!(
        spec["egress"][0]["protocols"],
        json!([{"tcp": {"destinationPort": {"number": 9090}}}]),
        "{spec}"
    );
}

#[test]
fn ingress_from_the_api_server_renders_nothing_and_says_so() {
    let r = rule("api", vec![Peer::ApiServer { cidrs: vec![] }], vec![tcp(9443)]);
    let rendered = ClusterNetworkPolicy
        .render(&intent(vec![allowlist("shop", "web", Some(vec![r]), None)]))
        .expect("renders");
    assert!(
        rendered.warnings.iter().any(|w| w.message.contains("ingress from the API server needs no rule")),
        "{:?}",
        rendered.warnings
    );
    assert!(!rendered.manifests[0].yaml.contains("name: api"), "{}", rendered.manifests[0].yaml);
}

#[test]
fn guardrail_denies_that_would_be_narrowed_are_errors() {
    for peers in [vec![], vec![Peer::Entity(Entity::All)], vec![Peer::ApiServer { cidrs: vec![] }]] {
        let mut i = intent(vec![]);
        let mut g = metadata_guardrail();
        g.egress_deny.clear();
        g.ingress_deny = vec![rule("in", peers.clone(), vec![tcp(22)])];
        i.guardrails.push(g);
        let e = ClusterNetworkPolicy.render(&i).expect_err("refused");
        let text = format!("{:?}", e.diagnostics());
        assert!(
            text.contains("denying ingress from") && text.contains("cilium, calico"),
            "{peers:?}: {text}"
        );
    }
    // Egress from anyone is expressible: every namespace and every network.
    let mut i = intent(vec![]);
    let mut g = metadata_guardrail();
    g.egress_deny = vec![rule("out", vec![], vec![tcp(25)])];
    i.guardrails.push(g);
    let m = &ClusterNetworkPolicy.render(&i).expect("renders").manifests[0];
    assert_eq!(
        m.body()["spec"]["egress"][0]["to"],
        json!([{"namespaces": {}}, {"networks": ["0.0.0.0/0", "::/0"]}])
    );
}

#[test]
fn egress_cidr_except_becomes_exact_networks_and_ingress_cidr_is_an_error() {
    let r = rule("internet", vec![cidr("0.0.0.0/0", &["10.0.0.0/8"])], vec![tcp(443)]);
    let out = render(vec![allowlist("shop", "web", None, Some(vec![r]))]);
    let networks =
        out[0].body()["spec"]["egress"][0]["to"][0]["networks"].as_array().expect("networks").clone();
    assert_eq!(networks.len(), 8);
    assert!(!networks.contains(&json!("10.0.0.0/8")));
    let r = rule("from-cidr", vec![cidr("10.0.0.0/8", &[])], vec![]);
    let err = ClusterNetworkPolicy
        .render(&intent(vec![allowlist("shop", "web", Some(vec![r]), None)]))
        .expect_err("ingress cidr");
    assert!(err.to_string().contains("ingress CIDR peer"), "{err}");
    // Ingress from the API server needs no rule: nothing here ever denies it.
    let r = rule("webhook", vec![Peer::ApiServer { cidrs: vec![] }], vec![tcp(9443)]);
    let out = render(vec![allowlist("shop", "web", Some(vec![r]), None)]);
    assert_eq!(out.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["shop-web-lockdown"]);
}

#[test]
fn caps_split_rules_and_objects() {
    let peers: Vec<Peer> = (0..30).map(|i| pods_in(&format!("ns-{i}"), &[])).collect();
    let mut rules = vec![rule("many-peers", peers, vec![tcp(80)])];
    rules.extend((0..30).map(|i| rule(&format!("r{i}"), vec![], vec![tcp(1000 + i)])));
    let out = render(vec![allowlist("shop", "web", Some(rules), None)]);
    let names: Vec<&str> = out.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["shop-web", "shop-web-2", "shop-web-lockdown"]);
    let first = out[0].body()["spec"]["ingress"].as_array().expect("rules").clone();
    assert_eq!(first.len(), 25);
    assert_eq!(first[0]["from"].as_array().map(Vec::len), Some(25));
    assert_eq!(first[1]["name"], json!("many-peers-2"));
    assert_eq!(out[1].body()["spec"]["priority"], json!(ALLOW_PRIORITY));
}

#[test]
fn guardrails_are_admin_denies() {
    let mut i = intent(vec![]);
    i.guardrails.push(metadata_guardrail());
    let m = &ClusterNetworkPolicy.render(&i).expect("renders").manifests[0];
    assert_eq!(m.group, OutputGroup::Guardrail);
    assert_eq!(
        m.body()["spec"],
        json!({"tier": "Admin", "priority": GUARDRAIL_PRIORITY, "subject": {"namespaces": {}},
        "egress": [{"name": "metadata", "action": "Deny", "to": [{"networks": ["169.254.169.254/32"]}]}]})
    );
}
