//! Tests of `cluster_network_policy.rs`.

use crate::eval::{Cni, PolicySet, read_objects};

const TOPOLOGY: &str = r#"
namespaces:
  - {name: shop, labels: {env: prod}}
  - {name: monitoring, labels: {env: ops}}
pods:
  - {namespace: shop, name: web, labels: {app: web}, ip: 10.244.1.10, nodeName: n1, ports: [{name: http, port: 8080}]}
  - {namespace: shop, name: db, labels: {app: db}, ip: 10.244.1.11, ports: [{name: pg, port: 5432}]}
  - {namespace: monitoring, name: prom, labels: {app: prom}, ip: 10.244.2.10}
nodes:
  - {name: n1, ip: 172.18.0.2, labels: {role: worker}}
dnsNames:
  - {name: api.example.com, addresses: [192.0.2.10]}
"#;

fn verdicts(manifests: &str, cni: Option<Cni>, flows: &[(&str, &str, u16)]) -> Vec<bool> {
    crate::eval::testing::tcp_verdicts(TOPOLOGY, manifests, cni, flows)
}

fn cnp(name: &str, tier: &str, priority: u32, ingress: &str, egress: &str) -> String {
    format!(
        "---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  tier: {tier}\n  priority: {priority}\n  subject: {{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: shop}}}}}}\n  ingress: {ingress}\n  egress: {egress}\n"
    )
}

const DENY_ALL_INGRESS_NP: &str = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}}\n";
const FROM_PROM: &str = "[{action: ACTION, from: [{namespaces: {matchLabels: {env: ops}}}]}]";

#[test]
fn admin_accept_beats_a_network_policy_deny_and_admin_deny_beats_its_allow() {
    let accept = cnp("a", "Admin", 10, &FROM_PROM.replace("ACTION", "Accept"), "[]");
    let flows = [("monitoring/prom", "shop/web", 8080), ("shop/db", "shop/web", 8080)];
    assert_eq!(verdicts(&(accept.clone() + DENY_ALL_INGRESS_NP), None, &flows), [true, false]);
    let deny = cnp("d", "Admin", 10, &FROM_PROM.replace("ACTION", "Deny"), "[]");
    let allow_all = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: all, namespace: shop}\nspec:\n  podSelector: {}\n  ingress: [{}]\n";
    assert_eq!(verdicts(&(deny + allow_all), None, &flows), [false, true]);
}

#[test]
fn priority_then_rule_order_and_pass_defers() {
    let pass = cnp("p", "Admin", 5, &FROM_PROM.replace("ACTION", "Pass"), "[]");
    let deny = cnp("d", "Admin", 10, &FROM_PROM.replace("ACTION", "Deny"), "[]");
    let flows = [("monitoring/prom", "shop/web", 8080)];
    // Pass (priority 5) leaves the Admin tier before the Deny (10) is reached; no
    // NetworkPolicy isolates web, so it is allowed.
    assert_eq!(verdicts(&(pass.clone() + &deny), None, &flows), [true]);
    // With a NetworkPolicy isolating web, Pass hands the verdict to it.
    assert_eq!(verdicts(&(pass + DENY_ALL_INGRESS_NP), None, &flows), [false]);
    // Rule order inside one policy: the first match decides.
    let ordered = cnp(
        "o",
        "Admin",
        1,
        "[{action: Deny, from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: prom}}}}]}, {action: Accept, from: [{namespaces: {}}]}]",
        "[]",
    );
    assert_eq!(
        verdicts(&ordered, None, &[("monitoring/prom", "shop/web", 80), ("shop/db", "shop/web", 80)]),
        [false, true]
    );
}

#[test]
fn baseline_applies_only_when_no_network_policy_isolates() {
    let baseline = cnp("b", "Baseline", 10, "[{action: Deny, from: [{namespaces: {}}]}]", "[]");
    let allow_prom = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress: [{from: [{namespaceSelector: {}}]}]\n";
    let flows = [("monitoring/prom", "shop/web", 80), ("monitoring/prom", "shop/db", 80)];
    assert_eq!(verdicts(&(baseline + allow_prom), None, &flows), [false, true]);
}

#[test]
fn ports_named_ports_networks_nodes_and_domain_names() {
    let egress = "[{action: Accept, to: [{networks: [10.244.1.0/24]}], protocols: [{tcp: {destinationPort: {range: {start: 5000, end: 5500}}}}]}, {action: Accept, to: [{domainNames: ['*.example.com']}], protocols: [{tcp: {destinationPort: {number: 443}}}]}, {action: Accept, to: [{nodes: {matchLabels: {role: worker}}}]}, {action: Deny, to: [{networks: [0.0.0.0/0]}]}]";
    let web_ingress = "---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: web-in}\nspec:\n  tier: Admin\n  priority: 4\n  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}\n  ingress: [{action: Accept, from: [{namespaces: {}}], protocols: [{destinationNamedPort: http}]}, {action: Deny, from: [{namespaces: {}}]}]\n";
    let admin = cnp("e", "Admin", 3, "[]", egress) + web_ingress;
    let flows = [
        ("shop/web", "shop/db", 5432),
        ("shop/web", "shop/db", 6000),
        ("shop/web", "ip:192.0.2.10", 443),
        ("shop/web", "ip:192.0.2.10", 80),
        ("shop/web", "node:n1", 10250),
        ("monitoring/prom", "shop/web", 8080),
        ("monitoring/prom", "shop/web", 8081),
    ];
    assert_eq!(verdicts(&admin, None, &flows), [true, false, true, false, true, true, false]);
    // On Cilium, networks never match pods: the Accept misses and the catch-all Deny misses too.
    let on_cilium = verdicts(&admin, Some(Cni::Cilium), &flows[..2]);
    assert_eq!(on_cilium, [true, true], "neither rule matches a pod by address on cilium");
}

#[test]
fn egress_accept_does_not_bypass_the_destination() {
    let out = cnp("out", "Admin", 1, "[]", "[{action: Accept, to: [{namespaces: {}}]}]");
    let db_isolated = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db, namespace: shop}\nspec: {podSelector: {matchLabels: {app: db}}}\n";
    assert_eq!(verdicts(&(out + db_isolated), None, &[("shop/web", "shop/db", 5432)]), [false]);
}

#[test]
fn v1alpha1_admin_and_baseline_admin_network_policies() {
    let anp = "---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: a}\nspec:\n  priority: 1\n  subject: {pods: {namespaceSelector: {matchLabels: {env: prod}}, podSelector: {matchLabels: {app: web}}}}\n  ingress:\n  - {action: Allow, from: [{namespaces: {matchLabels: {env: ops}}}], ports: [{portNumber: {protocol: TCP, port: 8080}}]}\n  - {action: Pass, from: [{namespaces: {matchLabels: {env: prod}}}]}\n  - {action: Deny, from: [{namespaces: {}}]}\n";
    let banp = "---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\nmetadata: {name: default}\nspec:\n  subject: {namespaces: {}}\n  ingress:\n  - {action: Deny, from: [{namespaces: {}}], ports: [{portRange: {protocol: TCP, start: 5000, end: 6000}}]}\n";
    let flows = [
        ("monitoring/prom", "shop/web", 8080),
        ("monitoring/prom", "shop/web", 9090),
        ("shop/db", "shop/web", 80),
        ("monitoring/prom", "shop/db", 5432),
        ("monitoring/prom", "shop/db", 80),
    ];
    assert_eq!(verdicts(&(anp.to_string() + banp), None, &flows), [true, false, true, false, true]);
    let bad = "---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\nmetadata: {name: other}\nspec: {subject: {namespaces: {}}}\n";
    let objects = read_objects(bad, "m").expect("objects");
    assert!(PolicySet::new(&objects, None).is_err(), "the baseline is a singleton named default");
}

#[test]
fn malformed_policies_are_errors() {
    for bad in [
        cnp("x", "Middle", 1, "[]", "[]"),
        cnp("x", "Admin", 1, "[{action: Allow, from: [{namespaces: {}}]}]", "[]"),
        cnp("x", "Admin", 1, "[{action: Accept, from: [{networks: [10.0.0.0/8]}]}]", "[]"),
        cnp("x", "Admin", 1, "[]", "[{action: Deny, to: [{domainNames: [a.example.com]}]}]"),
        cnp("x", "Admin", 1, "[]", "[{action: Deny, to: [{namespaces: {}, networks: [10.0.0.0/8]}]}]"),
        cnp("x", "Admin", 1, "[{action: Accept, from: [{namespaces: {}}], protocols: [{icmp: {}}]}]", "[]"),
    ] {
        let objects = read_objects(&bad, "m").expect("objects");
        assert!(PolicySet::new(&objects, None).is_err(), "{bad}");
    }
}
