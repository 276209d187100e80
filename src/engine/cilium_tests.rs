//! Tests of `cilium.rs`.

use super::*;
use crate::intent::testing::*;
use crate::intent::{LabelExpression, Protocol};
use serde_json::{Value, json};

fn render_ok(i: &Intent) -> Vec<Manifest> {
    Cilium.render(i).expect("renders").manifests
}

fn bodies(policies: Vec<Policy>) -> Vec<Value> {
    render_ok(&intent(policies)).iter().map(Manifest::body).collect()
}

fn spec_of(policy: Policy) -> Value {
    let out = bodies(vec![policy]);
    assert_eq!(out.len(), 1, "{out:?}");
    out[0]["spec"].clone()
}

fn errors(i: &Intent) -> Vec<Diagnostic> {
    Cilium.render(i).expect_err("must fail").diagnostics()
}

fn ns_selector(labels: &[(&str, &str)]) -> LabelSelector {
    LabelSelector::from_labels(labels.iter().copied())
}

fn expr(key: &str, operator: LabelOperator, values: &[&str]) -> LabelExpression {
    LabelExpression { key: key.into(), operator, values: values.iter().map(|v| v.to_string()).collect() }
}

fn pods(namespaces: Namespaces, pods: LabelSelector) -> Peer {
    Peer::Pods { namespaces, pods }
}

fn guardrail(name: &str, ingress_deny: Vec<Rule>, egress_deny: Vec<Rule>) -> Guardrail {
    Guardrail {
        name: name.into(),
        namespaces: LabelSelector::default(),
        pods: LabelSelector::default(),
        ingress_deny,
        egress_deny,
        description: format!("guardrail {name}"),
        origin: origin(&format!("guardrails.{name}")),
    }
}

fn fqdn_rule(name: &str) -> Rule {
    rule("api", vec![Peer::Fqdn(Fqdn::Name(name.into()))], vec![tcp(443)])
}

const L3: [&str; 7] =
    ["fromEndpoints", "fromCIDRSet", "fromEntities", "toEndpoints", "toCIDRSet", "toEntities", "toFQDNs"];

/// Every generated rule carries exactly one L3 peer kind (ENGINES.md 3.4), and no list is empty.
fn assert_cilium_shape(spec: &Value) {
    for list in ["ingress", "egress", "ingressDeny", "egressDeny"] {
        let Some(v) = spec.get(list) else { continue };
        let rules = v.as_array().expect("a list");
        assert!(!rules.is_empty(), "empty {list} list in {spec}");
        for r in rules {
            let kinds = L3.iter().filter(|k| r.get(**k).is_some()).count();
            assert!(kinds <= 1, "{list} rule with {kinds} L3 kinds: {r}");
            assert!(kinds == 1 || (r == &json!({}) && !list.ends_with("Deny")), "{list} rule: {r}");
        }
    }
}

#[test]
fn default_deny_is_the_empty_rule_never_a_deny() {
    let m = render_ok(&intent(vec![default_deny("identity", 2000, false)]));
    assert_eq!(
        (m[0].kind, m[0].name.as_str(), m[0].namespace.as_deref(), m[0].group),
        ("CiliumNetworkPolicy", "default-deny", Some("identity"), OutputGroup::Namespace)
    );
    let body = m[0].body();
    assert_eq!(body["apiVersion"], json!("cilium.io/v2"));
    assert_eq!(body["kind"], json!("CiliumNetworkPolicy"));
    assert_eq!(
        body["metadata"],
        json!({
            "name": "default-deny",
            "namespace": "identity",
            "labels": {"app.kubernetes.io/instance": "test", "app.kubernetes.io/managed-by": "netpol"}
        })
    );
    assert_eq!(
        body["spec"],
        json!({
            "description": "default deny",
            "endpointSelector": {},
            "enableDefaultDeny": {"ingress": true, "egress": true},
            "ingress": [{}],
            "egress": [{}]
        })
    );
}

#[test]
fn common_annotations_are_carried() {
    let mut i = intent(vec![default_deny("identity", 2000, false)]);
    i.annotations.insert("owner".into(), "platform".into());
    i.guardrails.push(metadata_guardrail());
    for m in render_ok(&i) {
        assert_eq!(m.body()["metadata"]["annotations"], json!({"owner": "platform"}), "{}", m.kind);
    }
}

#[test]
fn a_policy_isolates_only_the_directions_it_speaks_about() {
    let open = || Some(vec![rule("web", vec![], vec![tcp(80)])]);
    let spec = spec_of(allowlist("shop", "web", open(), None));
    assert_eq!(spec["enableDefaultDeny"], json!({"ingress": true, "egress": false}));
    assert!(spec.get("egress").is_none(), "{spec}");
    let spec = spec_of(allowlist("shop", "web", None, open()));
    assert_eq!(spec["enableDefaultDeny"], json!({"ingress": false, "egress": true}));
    assert!(spec.get("ingress").is_none(), "{spec}");
    // Isolated but nothing allowed in one direction: the empty rule, never `[]`.
    let spec = spec_of(allowlist("shop", "web", open(), Some(vec![])));
    assert_eq!(spec["enableDefaultDeny"], json!({"ingress": true, "egress": true}));
    assert_eq!(spec["egress"], json!([{}]));
    assert_eq!(spec["endpointSelector"], json!({"matchLabels": {"app": "web"}}));
    assert_cilium_shape(&spec);
}

#[test]
fn a_policy_without_directions_renders_nothing() {
    assert!(bodies(vec![allowlist("shop", "web", None, None)]).is_empty());
}

#[test]
fn one_peer_kind_per_rule_in_a_fixed_order_with_the_same_ports() {
    let r = rule(
        "mixed",
        vec![
            pods_in("monitoring", &[("app", "prom")]),
            own_pods(&[("app", "front")]),
            cidr("10.0.0.0/8", &["10.1.0.0/16"]),
            cidr("fd00::/8", &[]),
            Peer::Entity(Entity::World),
            Peer::ApiServer { cidrs: vec!["10.0.0.1/32".parse().expect("cidr")] },
            Peer::Fqdn(Fqdn::Name("api.example.com".into())),
            Peer::Fqdn(Fqdn::Pattern("*.example.com".into())),
        ],
        vec![tcp(8080)],
    );
    let spec = spec_of(allowlist("shop", "web", None, Some(vec![dns_rule(), r])));
    assert_cilium_shape(&spec);
    let egress = spec["egress"].as_array().expect("list").clone();
    assert_eq!(egress.len(), 5, "{egress:?}");
    assert!(egress[0].get("toEndpoints").is_some(), "the DNS rule first");
    assert_eq!(
        egress[1]["toEndpoints"],
        json!([
            {"matchLabels": {"app": "prom", "k8s:io.kubernetes.pod.namespace": "monitoring"}},
            {"matchLabels": {"app": "front", "k8s:io.kubernetes.pod.namespace": "shop"}}
        ])
    );
    assert_eq!(
        egress[2]["toCIDRSet"],
        json!([{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}, {"cidr": "fd00::/8"}])
    );
    // The API server is its identity, whatever its CIDRs: CIDR rules never match it.
    assert_eq!(egress[3]["toEntities"], json!(["kube-apiserver", "world"]));
    // toFQDNs never shares a rule with toCIDRSet.
    assert_eq!(
        egress[4]["toFQDNs"],
        json!([{"matchName": "api.example.com"}, {"matchPattern": "*.example.com"}])
    );
    for r in &egress[1..] {
        assert_eq!(r["toPorts"], json!([{"ports": [{"port": "8080", "protocol": "TCP"}]}]), "{r}");
    }
}

#[test]
fn ingress_peers_use_the_from_fields() {
    let r = rule(
        "mixed",
        vec![
            pods_in("monitoring", &[]),
            cidr("192.168.0.0/16", &[]),
            Peer::Entity(Entity::Ingress),
            Peer::ApiServer { cidrs: vec![] },
        ],
        vec![],
    );
    let spec = spec_of(allowlist("shop", "web", Some(vec![r]), None));
    assert_cilium_shape(&spec);
    assert_eq!(
        spec["ingress"],
        json!([
            {"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "monitoring"}}]},
            {"fromCIDRSet": [{"cidr": "192.168.0.0/16"}]},
            {"fromEntities": ["ingress", "kube-apiserver"]}
        ])
    );
}

#[test]
fn entities_are_spelled_as_cilium_does_and_deduplicated() {
    let peers = Entity::ALL.iter().map(|e| Peer::Entity(*e)).chain([Peer::Entity(Entity::Host)]).collect();
    let spec = spec_of(allowlist("shop", "web", Some(vec![rule("e", peers, vec![])]), None));
    assert_eq!(
        spec["ingress"],
        json!([{"fromEntities": [
            "all", "cluster", "health", "host", "ingress", "init", "remote-node", "unmanaged", "world"
        ]}])
    );
}

#[test]
fn any_peer_is_entity_all_never_the_empty_rule() {
    let spec = spec_of(allowlist(
        "shop",
        "web",
        Some(vec![rule("open", vec![], vec![tcp(80)])]),
        Some(vec![rule("anything", vec![], vec![])]),
    ));
    assert_eq!(
        spec["ingress"],
        json!([{"fromEntities": ["all"], "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}])
    );
    assert_eq!(spec["egress"], json!([{"toEntities": ["all"]}]));
}

#[test]
fn pod_selectors_always_name_their_namespace() {
    let by_label = pods(Namespaces::Matching(ns_selector(&[("team", "a")])), LabelSelector::default());
    let every_ns = pods(Namespaces::Matching(LabelSelector::default()), ns_selector(&[("app", "x")]));
    let everything = pods(Namespaces::Matching(LabelSelector::default()), LabelSelector::default());
    let name_and_label = pods(
        Namespaces::Matching(ns_selector(&[("kubernetes.io/metadata.name", "a"), ("team", "b")])),
        LabelSelector::default(),
    );
    let with_expressions = pods(
        Namespaces::Matching(LabelSelector {
            match_labels: Default::default(),
            match_expressions: vec![expr("env", LabelOperator::In, &["prod", "stage"])],
        }),
        LabelSelector {
            match_labels: crate::sorted::SortedMap::from([("app".to_string(), "db".to_string())]),
            match_expressions: vec![expr("tier", LabelOperator::Exists, &[])],
        },
    );
    let own_everything = pods(Namespaces::Own, LabelSelector::default());
    let r = rule(
        "r",
        vec![by_label, every_ns, everything, name_and_label, with_expressions, own_everything],
        vec![],
    );
    let spec = spec_of(allowlist("shop", "web", None, Some(vec![r])));
    let exists = json!({"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"});
    assert_eq!(
        spec["egress"][0]["toEndpoints"],
        json!([
            {"matchLabels": {"io.cilium.k8s.namespace.labels.team": "a"}, "matchExpressions": [exists]},
            {"matchLabels": {"app": "x"}, "matchExpressions": [exists]},
            {"matchExpressions": [exists]},
            {"matchLabels": {
                "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": "a",
                "io.cilium.k8s.namespace.labels.team": "b"
            }, "matchExpressions": [exists]},
            {"matchLabels": {"app": "db"}, "matchExpressions": [
                {"key": "tier", "operator": "Exists"},
                {"key": "io.cilium.k8s.namespace.labels.env", "operator": "In", "values": ["prod", "stage"]},
                exists
            ]},
            {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "shop"}}
        ])
    );
    assert!(spec["egress"][0].get("toPorts").is_none());
}

#[test]
fn namespace_label_selectors_name_the_pod_namespace_key_on_every_release() {
    // `team NotIn [a]` also matches identities without namespace labels (world, host…).
    let only_exclusions = pods(
        Namespaces::Matching(LabelSelector {
            match_labels: Default::default(),
            match_expressions: vec![
                expr("team", LabelOperator::NotIn, &["a"]),
                expr("legacy", LabelOperator::DoesNotExist, &[]),
            ],
        }),
        LabelSelector::default(),
    );
    let mixed = pods(
        Namespaces::Matching(LabelSelector {
            match_labels: Default::default(),
            match_expressions: vec![
                expr("team", LabelOperator::NotIn, &["a"]),
                expr("env", LabelOperator::Exists, &[]),
            ],
        }),
        LabelSelector::default(),
    );
    let spec =
        spec_of(allowlist("shop", "web", Some(vec![rule("r", vec![only_exclusions, mixed], vec![])]), None));
    assert_eq!(
        spec["ingress"][0]["fromEndpoints"],
        json!([
            {"matchExpressions": [
                {"key": "io.cilium.k8s.namespace.labels.team", "operator": "NotIn", "values": ["a"]},
                {"key": "io.cilium.k8s.namespace.labels.legacy", "operator": "DoesNotExist"},
                {"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}
            ]},
            {"matchExpressions": [
                {"key": "io.cilium.k8s.namespace.labels.team", "operator": "NotIn", "values": ["a"]},
                {"key": "io.cilium.k8s.namespace.labels.env", "operator": "Exists"},
                {"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}
            ]}
        ])
    );
}

#[test]
fn subject_selectors_are_written_as_given() {
    let mut p = allowlist("shop", "web", Some(vec![]), None);
    p.subject = LabelSelector {
        match_labels: crate::sorted::SortedMap::from([("app".to_string(), "web".to_string())]),
        match_expressions: vec![expr("track", LabelOperator::NotIn, &["canary"])],
    };
    let spec = spec_of(p);
    assert_eq!(
        spec["endpointSelector"],
        json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["canary"]}]})
    );
}

#[test]
fn ports_are_strings_with_explicit_protocols() {
    let ports = vec![
        PortMatch { protocol: Protocol::Udp, port: PortSel::Any },
        PortMatch { protocol: Protocol::Tcp, port: PortSel::Range(30000, 30010) },
        PortMatch { protocol: Protocol::Sctp, port: PortSel::Named("metrics".into()) },
        PortMatch { protocol: Protocol::Tcp, port: PortSel::Number(65535) },
    ];
    let spec = spec_of(allowlist("shop", "web", Some(vec![rule("p", vec![], ports)]), None));
    assert_eq!(
        spec["ingress"][0]["toPorts"],
        json!([{"ports": [
            {"port": "0", "protocol": "UDP"},
            {"port": "30000", "endPort": 30010, "protocol": "TCP"},
            {"port": "metrics", "protocol": "SCTP"},
            {"port": "65535", "protocol": "TCP"}
        ]}])
    );
    // Strings in the YAML text too, never integers.
    let m = render_ok(&intent(vec![allowlist(
        "shop",
        "web",
        Some(vec![rule("p", vec![], vec![tcp(80)])]),
        None,
    )]));
    assert!(m[0].yaml.contains("port: \"80\""), "{}", m[0].yaml);
}

#[test]
fn more_than_forty_ports_are_split_across_to_ports_entries() {
    let at = |n: usize| {
        let ports: Vec<PortMatch> = (1..=n).map(|p| tcp(u16::try_from(p).expect("port"))).collect();
        let spec = spec_of(allowlist("shop", "web", Some(vec![rule("many", vec![], ports)]), None));
        spec["ingress"][0]["toPorts"]
            .as_array()
            .expect("list")
            .iter()
            .map(|e| e["ports"].as_array().map_or(0, Vec::len))
            .collect::<Vec<_>>()
    };
    assert_eq!(at(40), vec![40]);
    assert_eq!(at(41), vec![40, 1]);
    assert_eq!(at(85), vec![40, 40, 5]);
}

#[test]
fn fqdn_egress_puts_dns_visibility_on_every_dns_rule() {
    let mut dns = dns_rule();
    dns.peers.push(cidr("169.254.20.10/32", &[])); // node-local DNS cache
    let plain = rule("web", vec![pods_in("shop", &[])], vec![tcp(80)]);
    let spec = spec_of(allowlist("shop", "web", None, Some(vec![dns, plain, fqdn_rule("api.example.com")])));
    assert_cilium_shape(&spec);
    let egress = spec["egress"].as_array().expect("list").clone();
    assert_eq!(egress.len(), 4);
    let visible = json!([{
        "ports": [{"port": "53", "protocol": "UDP"}, {"port": "53", "protocol": "TCP"}],
        "rules": {"dns": [{"matchPattern": "*"}]}
    }]);
    assert_eq!(
        egress[0]["toEndpoints"],
        json!([{"matchLabels": {"k8s-app": "kube-dns", "k8s:io.kubernetes.pod.namespace": "kube-system"}}])
    );
    assert_eq!(egress[0]["toPorts"], visible);
    assert_eq!(egress[1]["toCIDRSet"], json!([{"cidr": "169.254.20.10/32"}]));
    assert_eq!(egress[1]["toPorts"], visible);
    assert!(egress[2]["toPorts"][0].get("rules").is_none(), "only DNS rules get L7: {}", egress[2]);
    assert_eq!(egress[3]["toFQDNs"], json!([{"matchName": "api.example.com"}]));
    assert!(egress[3]["toPorts"][0].get("rules").is_none());
}

#[test]
fn without_fqdns_the_dns_rule_stays_plain_l4() {
    let spec = spec_of(allowlist("shop", "web", None, Some(vec![dns_rule()])));
    assert_eq!(
        spec["egress"][0]["toPorts"],
        json!([{"ports": [{"port": "53", "protocol": "UDP"}, {"port": "53", "protocol": "TCP"}]}])
    );
}

#[test]
fn fqdn_without_a_dns_rule_is_an_error_naming_the_policy() {
    let d = errors(&intent(vec![allowlist("shop", "web", None, Some(vec![fqdn_rule("api.example.com")]))]));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("needs a DNS egress rule"), "{d:?}");
    assert!(d[0].message.contains("policy `web` in namespace `shop`"), "{d:?}");
    assert!(d[0].help.as_deref().is_some_and(|h| h.contains("dns: true")), "{d:?}");
    assert_eq!(d[0].origin, Some(origin("api")));
}

#[test]
fn a_dns_rule_that_cannot_carry_the_dns_proxy_rule_is_an_error() {
    for (ports, what) in [
        (vec![], "every port"),
        (vec![PortMatch { protocol: Protocol::Udp, port: PortSel::Any }], "every port of a protocol"),
        (vec![PortMatch { protocol: Protocol::Udp, port: PortSel::Range(53, 54) }], "a port range"),
    ] {
        let mut dns = dns_rule();
        dns.ports = ports;
        let d = errors(&intent(vec![allowlist(
            "shop",
            "web",
            None,
            Some(vec![dns, fqdn_rule("a.example.com")]),
        )]));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains(&format!("allows {what},")), "{d:?}");
        assert!(d[0].message.contains("egress rule `dns`"), "{d:?}");
    }
    // The same DNS rule is fine when no FQDN needs the proxy.
    let mut dns = dns_rule();
    dns.ports = vec![PortMatch { protocol: Protocol::Udp, port: PortSel::Range(53, 54) }];
    assert_eq!(bodies(vec![allowlist("shop", "web", None, Some(vec![dns]))]).len(), 1);
}

#[test]
fn fqdn_in_ingress_is_an_error() {
    let r = rule("in", vec![Peer::Fqdn(Fqdn::Name("a.example.com".into()))], vec![]);
    let d = errors(&intent(vec![allowlist("shop", "web", Some(vec![r]), None)]));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("FQDN peer in an ingress rule"), "{d:?}");
    assert!(d[0].message.contains("ingress rule `in`"), "{d:?}");
}

#[test]
fn passthrough_is_appended_verbatim_after_the_generated_rules() {
    let raw_in = json!({"fromEndpoints": [{"matchLabels": {"app.kubernetes.io/name": "flagger"}}]});
    let raw_out = json!({"toFQDNs": [{"matchName": "bucket.example.com"}]});
    let mut p = allowlist("shop", "web", Some(vec![rule("open", vec![], vec![tcp(80)])]), None);
    p.passthrough.cilium.ingress.push(raw_in.clone());
    p.passthrough.cilium.egress.push(raw_out.clone());
    let spec = spec_of(p);
    assert_eq!(spec["ingress"].as_array().map(Vec::len), Some(2));
    assert_eq!(spec["ingress"][0]["fromEntities"], json!(["all"]));
    assert_eq!(spec["ingress"][1], raw_in);
    // Egress not spoken about: the raw rules are added, egress stays non-isolating.
    assert_eq!(spec["egress"], json!([raw_out]));
    assert_eq!(spec["enableDefaultDeny"], json!({"ingress": true, "egress": false}));
}

#[test]
fn passthrough_fqdn_egress_gets_dns_visibility_or_a_word() {
    let fqdn = json!({"toFQDNs": [{"matchName": "bucket.example.com"}]});
    // With a DNS rule in the policy, the DNS rule carries the proxy rule.
    let mut with_dns = allowlist("shop", "web", None, Some(vec![dns_rule()]));
    with_dns.passthrough.cilium.egress.push(fqdn.clone());
    let spec = spec_of(with_dns);
    assert_eq!(spec["egress"][0]["toPorts"][0]["rules"], json!({"dns": [{"matchPattern": "*"}]}));
    assert_eq!(spec["egress"][1], fqdn);
    // Egress isolated without DNS: refused, located at the passthrough key.
    let mut without_dns = allowlist("shop", "web", None, Some(vec![]));
    without_dns.passthrough.cilium.egress.push(fqdn.clone());
    without_dns.passthrough.cilium.origin = origin("workloads.web.cilium");
    let d = errors(&intent(vec![without_dns]));
    assert!(
        d[0].message.contains("passthrough `toFQDNs` egress")
            && d[0].message.contains("needs a DNS egress rule"),
        "{d:?}"
    );
    assert_eq!(d[0].origin.as_ref().map(|o| o.path.as_str()), Some("workloads.web.cilium"));
    // Egress left open by the policy: rendered, with a warning.
    let mut open = allowlist("shop", "web", Some(vec![]), None);
    open.passthrough.cilium.egress.push(fqdn.clone());
    let rendered = Cilium.render(&intent(vec![open])).expect("renders");
    assert_eq!(rendered.warnings.len(), 1, "{:?}", rendered.warnings);
    assert!(rendered.warnings[0].message.contains("restricts nothing"), "{:?}", rendered.warnings);
}

#[test]
fn passthrough_replaces_the_empty_rule_and_renders_alone() {
    let raw = json!({"toEntities": ["host"]});
    let mut p = allowlist("shop", "web", None, Some(vec![]));
    p.passthrough.cilium.egress.push(raw.clone());
    let spec = spec_of(p);
    assert_eq!(spec["egress"], json!([raw]));
    assert_eq!(spec["enableDefaultDeny"], json!({"ingress": false, "egress": true}));
    let mut only = allowlist("shop", "only", None, None);
    only.passthrough.cilium.ingress.push(raw.clone());
    let spec = spec_of(only);
    assert_eq!(spec["ingress"], json!([raw]));
    assert_eq!(spec["enableDefaultDeny"], json!({"ingress": false, "egress": false}));
}

#[test]
fn foreign_passthrough_is_left_out_with_a_warning_naming_its_engine() {
    let mut p = allowlist("shop", "web", Some(vec![]), None);
    p.passthrough.calico.ingress.push(json!({"action": "Allow"}));
    p.passthrough.calico.origin = origin("workloads.web.calico");
    p.passthrough.cluster_network_policy.egress.push(json!({"action": "Accept"}));
    p.passthrough.cluster_network_policy.origin = origin("workloads.web.clusterNetworkPolicy");
    let rendered = Cilium.render(&intent(vec![p])).expect("renders");
    assert!(!rendered.manifests[0].yaml.contains("Accept") && !rendered.manifests[0].yaml.contains("action"));
    let d = rendered.warnings;
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(
        d[0].message.contains("calico passthrough rules of `shop/web` apply only to the calico engine"),
        "{d:?}"
    );
    assert_eq!(d[0].origin, Some(origin("workloads.web.calico")));
    assert!(d[1].message.contains("not rendered for cilium"), "{d:?}");
}

#[test]
fn guardrails_are_clusterwide_denies_that_isolate_nothing() {
    let mut i = intent(vec![]);
    i.guardrails.push(metadata_guardrail());
    let m = render_ok(&i);
    assert_eq!(
        (m[0].kind, m[0].name.as_str(), m[0].group, m[0].namespace.as_deref()),
        ("CiliumClusterwideNetworkPolicy", "deny-metadata-service", OutputGroup::Guardrail, None)
    );
    let body = m[0].body();
    assert!(body["metadata"].get("namespace").is_none());
    assert_eq!(
        body["spec"],
        json!({
            "description": "metadata",
            "endpointSelector": {"matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}]},
            "enableDefaultDeny": {"ingress": false, "egress": false},
            "egressDeny": [{"toCIDRSet": [{"cidr": "169.254.169.254/32"}]}]
        })
    );
}

#[test]
fn guardrail_subjects_and_peers_name_their_namespaces() {
    let mut by_name = guardrail(
        "no-db-from-tenants",
        vec![
            rule(
                "tenants",
                vec![pods(
                    Namespaces::Matching(ns_selector(&[("tenant", "true")])),
                    ns_selector(&[("role", "client")]),
                )],
                vec![tcp(5432)],
            ),
            rule(
                "any-pod",
                vec![pods(Namespaces::Matching(LabelSelector::default()), LabelSelector::default())],
                vec![],
            ),
        ],
        vec![],
    );
    by_name.namespaces = LabelSelector::namespace_named("data");
    by_name.pods = ns_selector(&[("app", "db")]);
    let mut by_label = guardrail(
        "no-egress-from-sandboxes",
        vec![],
        vec![{
            // A DNS-purpose rule in a guardrail never carries L7: deny rules have none.
            let mut r = dns_rule();
            r.name = "dns".into();
            r
        }],
    );
    by_label.namespaces = ns_selector(&[("sandbox", "true")]);
    let mut i = intent(vec![]);
    i.guardrails = vec![by_name, by_label];
    let m = render_ok(&i);
    let (a, b) = (m[0].body()["spec"].clone(), m[1].body()["spec"].clone());
    assert_cilium_shape(&a);
    assert_eq!(
        a["endpointSelector"],
        json!({"matchLabels": {"app": "db", "k8s:io.kubernetes.pod.namespace": "data"}})
    );
    assert_eq!(
        a["ingressDeny"],
        json!([
            {
                "fromEndpoints": [{
                    "matchLabels": {"io.cilium.k8s.namespace.labels.tenant": "true", "role": "client"},
                    "matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}]
                }],
                "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}]
            },
            {"fromEndpoints": [{"matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}]}]}
        ])
    );
    assert!(a.get("egressDeny").is_none() && a.get("ingress").is_none() && a.get("egress").is_none());
    assert_eq!(
        b["endpointSelector"],
        json!({
            "matchLabels": {"io.cilium.k8s.namespace.labels.sandbox": "true"},
            "matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}]
        })
    );
    assert_eq!(
        b["egressDeny"][0]["toPorts"],
        json!([{"ports": [{"port": "53", "protocol": "UDP"}, {"port": "53", "protocol": "TCP"}]}])
    );
    assert!(b.get("ingressDeny").is_none());
}

#[test]
fn guardrail_deny_rules_translate_every_peer_kind() {
    let g = guardrail(
        "wide",
        vec![rule("from", vec![cidr("0.0.0.0/0", &["10.0.0.0/8"]), Peer::Entity(Entity::World)], vec![])],
        vec![
            rule(
                "to",
                vec![Peer::ApiServer { cidrs: vec![] }],
                vec![tcp(443), PortMatch { protocol: Protocol::Tcp, port: PortSel::Range(6443, 6444) }],
            ),
            rule("all", vec![], vec![udp(9)]),
        ],
    );
    let mut i = intent(vec![]);
    i.guardrails.push(g);
    let spec = render_ok(&i)[0].body()["spec"].clone();
    assert_cilium_shape(&spec);
    assert_eq!(
        spec["ingressDeny"],
        json!([{"fromCIDRSet": [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}]}, {"fromEntities": ["world"]}])
    );
    assert_eq!(
        spec["egressDeny"],
        json!([
            {"toEntities": ["kube-apiserver"], "toPorts": [{"ports": [
                {"port": "443", "protocol": "TCP"}, {"port": "6443", "endPort": 6444, "protocol": "TCP"}
            ]}]},
            {"toEntities": ["all"], "toPorts": [{"ports": [{"port": "9", "protocol": "UDP"}]}]}
        ])
    );
}

#[test]
fn a_guardrail_without_rules_renders_nothing() {
    let mut i = intent(vec![]);
    i.guardrails.push(guardrail("empty", vec![], vec![]));
    assert!(render_ok(&i).is_empty());
}

#[test]
fn guardrails_refuse_fqdns_and_own_namespace_peers() {
    let mut i = intent(vec![]);
    i.guardrails.push(guardrail(
        "bad",
        vec![rule("own", vec![own_pods(&[("app", "x")])], vec![])],
        vec![fqdn_rule("a.example.com")],
    ));
    let d = errors(&i);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].message.contains("no namespace of its own"), "{d:?}");
    assert!(d[0].message.contains("guardrail `bad`, ingress deny rule `own`"), "{d:?}");
    assert!(d[1].message.contains("FQDN peer in a guardrail"), "{d:?}");
    assert!(d[1].message.contains("egress deny rule `api`"), "{d:?}");
    assert!(d[1].help.as_deref().is_some_and(|h| h.contains("CIDR")), "{d:?}");
}

#[test]
fn label_keys_too_long_once_cilium_extends_them_are_errors() {
    // Cilium validates `any.io.cilium.k8s.namespace.labels.<key>`: 35 + key ≤ 63.
    let fits = "a".repeat(28);
    let overflows = "a".repeat(29);
    let peer = |key: &str| pods(Namespaces::Matching(ns_selector(&[(key, "x")])), LabelSelector::default());
    let ok = allowlist("shop", "web", Some(vec![rule("r", vec![peer(&fits)], vec![])]), None);
    assert_eq!(bodies(vec![ok]).len(), 1);
    // A prefixed key keeps the name part short.
    let prefixed = format!("example.com/{overflows}");
    let ok = allowlist("shop", "web", Some(vec![rule("r", vec![peer(&prefixed)], vec![])]), None);
    assert_eq!(bodies(vec![ok]).len(), 1);
    let bad = allowlist("shop", "web", Some(vec![rule("r", vec![peer(&overflows)], vec![])]), None);
    let d = errors(&intent(vec![bad]));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains(&format!("io.cilium.k8s.namespace.labels.{overflows}")), "{d:?}");
    assert!(d[0].message.contains("ingress rule `r`"), "{d:?}");
    assert!(d[0].help.as_deref().is_some_and(|h| h.contains("calico")), "{d:?}");
    // Pod label keys: `any.<key>` ≤ 63, in subjects of policies and guardrails too.
    let mut p = allowlist("shop", "web", Some(vec![]), None);
    p.subject = ns_selector(&[(&"b".repeat(59), "x")]);
    assert_eq!(bodies(vec![p.clone()]).len(), 1);
    p.subject = ns_selector(&[(&"b".repeat(60), "x")]);
    let mut i = intent(vec![p]);
    let mut g = metadata_guardrail();
    g.pods = ns_selector(&[(&"c".repeat(60), "x")]);
    i.guardrails.push(g);
    let d = errors(&i);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d.iter().all(|d| d.message.contains("the pods of")), "{d:?}");
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let p = allowlist(
        "shop",
        "web",
        Some(vec![rule("in", vec![Peer::Fqdn(Fqdn::Pattern("*.a.com".into()))], vec![])]),
        Some(vec![fqdn_rule("b.example.com")]),
    );
    let mut i = intent(vec![p]);
    i.guardrails.push(guardrail("g", vec![], vec![fqdn_rule("c.example.com")]));
    assert_eq!(errors(&i).len(), 3);
}

#[test]
fn rendering_is_deterministic() {
    let i = rich_intent();
    let a: Vec<String> = render_ok(&i).into_iter().map(|m| m.yaml).collect();
    let b: Vec<String> = render_ok(&i).into_iter().map(|m| m.yaml).collect();
    assert_eq!(a, b);
}

/// Every construct the backend emits, for the schema check below.
fn rich_intent() -> Intent {
    let ports = vec![
        tcp(8080),
        udp(5353),
        PortMatch { protocol: Protocol::Sctp, port: PortSel::Any },
        PortMatch { protocol: Protocol::Tcp, port: PortSel::Range(30000, 30010) },
        PortMatch { protocol: Protocol::Tcp, port: PortSel::Named("metrics".into()) },
    ];
    let everyone = vec![
        pods_in("monitoring", &[("app", "prom")]),
        own_pods(&[("app", "front")]),
        pods(
            Namespaces::Matching(LabelSelector {
                match_labels: crate::sorted::SortedMap::from([("team".to_string(), "a".to_string())]),
                match_expressions: vec![expr("env", LabelOperator::NotIn, &["dev"])],
            }),
            LabelSelector::default(),
        ),
        pods(
            Namespaces::Matching(LabelSelector {
                match_labels: Default::default(),
                match_expressions: vec![expr("legacy", LabelOperator::DoesNotExist, &[])],
            }),
            LabelSelector::default(),
        ),
        pods(Namespaces::Matching(LabelSelector::default()), LabelSelector::default()),
        cidr("10.0.0.0/8", &["10.1.0.0/16"]),
        cidr("2001:db8::/32", &[]),
        Peer::Entity(Entity::World),
        Peer::Entity(Entity::RemoteNode),
        Peer::ApiServer { cidrs: vec![] },
    ];
    let mut egress_peers = everyone.clone();
    egress_peers.push(Peer::Fqdn(Fqdn::Name("api.example.com".into())));
    egress_peers.push(Peer::Fqdn(Fqdn::Pattern("*.example.com".into())));
    let many: Vec<PortMatch> = (1000..1045).map(tcp).collect();
    let mut web = allowlist(
        "shop",
        "web",
        Some(vec![rule("from-all", everyone.clone(), ports.clone()), rule("anyone", vec![], vec![])]),
        Some(vec![
            dns_rule(),
            rule("to-all", egress_peers, ports),
            rule("many", vec![pods_in("db", &[])], many),
            rule("world", vec![], vec![tcp(443)]),
        ]),
    );
    web.passthrough
        .cilium
        .ingress
        .push(json!({"fromEndpoints": [{"matchLabels": {"app.kubernetes.io/name": "flagger"}}]}));
    let mut passthrough_only = allowlist("shop", "raw", None, None);
    passthrough_only.passthrough.cilium.egress.push(json!({"toEntities": ["host"]}));
    let mut i = intent(vec![
        default_deny("shop", 2000, false),
        web,
        passthrough_only,
        allowlist("shop", "closed", Some(vec![]), Some(vec![])),
        allowlist("shop", "egress-only", None, Some(vec![dns_rule()])),
    ]);
    i.annotations.insert("owner".into(), "platform".into());
    let mut scoped = guardrail(
        "no-db-from-tenants",
        vec![rule("tenants", vec![pods_in("tenant", &[("role", "client")])], vec![tcp(5432)])],
        vec![rule(
            "everywhere",
            everyone
                .into_iter()
                .filter(|p| !matches!(p, Peer::Pods { namespaces: Namespaces::Own, .. }))
                .collect(),
            vec![udp(9)],
        )],
    );
    scoped.namespaces = ns_selector(&[("tier", "data")]);
    scoped.pods = ns_selector(&[("app", "db")]);
    let mut named = guardrail(
        "no-api-from-sandbox",
        vec![],
        vec![rule("api", vec![Peer::ApiServer { cidrs: vec![] }], vec![tcp(443)])],
    );
    named.namespaces = LabelSelector::namespace_named("sandbox");
    i.guardrails = vec![metadata_guardrail(), scoped, named];
    i
}

/// Validate a rich render against the official schemas and Cilium's agent-side rules that
/// the tool knows: `cargo test --lib engine::cilium -- --ignored` (needs the shared
/// validate-manifests tool; NETPOL_VALIDATE_MANIFESTS overrides its path).
#[test]
#[ignore = "needs ../shared/tools/validate-manifests"]
fn rich_render_passes_the_official_schemas() {
    let r = Cilium.render(&rich_intent()).expect("renders");
    assert_eq!(r.manifests.len(), 8);
    for m in &r.manifests {
        assert_cilium_shape(&m.body()["spec"]);
    }
    crate::engine::testing::assert_schema_valid(&r.manifests, "cilium-rich");
}
