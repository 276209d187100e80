//! Tests of `cilium.rs`.

use crate::eval::{Cni, FlowSpec, PolicySet, PortRef, judge, read_objects, topology};

const TOPOLOGY: &str = r#"
namespaces:
  - {name: shop, labels: {team: a}}
  - {name: monitoring, labels: {team: ops}}
pods:
  - {namespace: shop, name: web, labels: {app: web}, ip: 10.244.1.10, nodeName: n1, serviceAccount: web, ports: [{name: http, port: 8080}]}
  - {namespace: shop, name: db, labels: {app: db}, ip: 10.244.1.11, nodeName: n1, ports: [{name: pg, port: 5432}]}
  - {namespace: monitoring, name: prom, labels: {app: prom}, ip: 10.244.2.10, nodeName: n2, serviceAccount: prometheus}
  - {namespace: kube-system, name: dns, labels: {k8s-app: kube-dns}, ip: 10.244.3.10}
nodes:
  - {name: n1, ip: 172.18.0.2}
  - {name: n2, ip: 172.18.0.3}
apiServer: {addresses: [172.18.0.5]}
dnsNames:
  - {name: api.example.com, addresses: [192.0.2.10]}
  - {name: other.example.org, addresses: [192.0.2.11]}
"#;

fn verdicts(manifests: &str, flows: &[(&str, &str, u16, &str)]) -> Vec<bool> {
    verdicts_in(TOPOLOGY, manifests, flows)
}

fn verdicts_in(topology: &str, manifests: &str, flows: &[(&str, &str, u16, &str)]) -> Vec<bool> {
    let flows: Vec<_> = flows.iter().map(|&(f, t, p, proto)| (f, t, PortRef::Number(p), proto)).collect();
    crate::eval::testing::verdicts(topology, manifests, Some(Cni::Cilium), &flows)
}

fn cnp(name: &str, ns: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{spec}"
    )
}

fn ccnp(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n{spec}"
    )
}

#[test]
fn selection_switches_default_deny_on_even_for_empty_and_deny_only_rules() {
    let flows = [("monitoring/prom", "shop/web", 8080, "TCP"), ("shop/web", "monitoring/prom", 9090, "TCP")];
    assert_eq!(verdicts("", &flows), [true, true], "nothing selects: open");
    let empty = cnp("dd", "shop", "  endpointSelector: {}\n  ingress: [{}]\n");
    assert_eq!(verdicts(&empty, &flows), [false, true], "ingress: [{{}}] isolates ingress only");
    let deny_only = cnp(
        "d",
        "shop",
        "  endpointSelector: {}\n  ingressDeny: [{fromEndpoints: [{matchLabels: {app: nobody}}]}]\n",
    );
    assert_eq!(verdicts(&deny_only, &flows), [false, true], "an ingressDeny section isolates too");
    let additive = cnp(
        "d",
        "shop",
        "  endpointSelector: {}\n  enableDefaultDeny: {ingress: false}\n  ingressDeny: [{fromEndpoints: [{matchLabels: {app: nobody}}]}]\n",
    );
    assert_eq!(verdicts(&additive, &flows), [true, true], "enableDefaultDeny false makes it additive");
    let invalid = cnp("x", "shop", "  endpointSelector: {}\n  ingress: []\n");
    assert_eq!(
        verdicts(&invalid, &flows),
        [true, true],
        "a rule without a non-empty section is refused by the agent"
    );
}

/// The kube-apiserver identity is the API server's wherever it runs: on a node (kind,
/// kubeadm control planes) the node's address carries it too.
#[test]
fn the_kube_apiserver_entity_follows_the_api_server_onto_its_node() {
    let m = cnp(
        "api",
        "shop",
        "  endpointSelector: {matchLabels: {app: web}}\n  egress: [{toEntities: [kube-apiserver], toPorts: [{ports: [{port: \"6443\"}]}]}]\n",
    );
    let flows = [
        ("shop/web", "apiserver", 6443, "TCP"),
        ("shop/web", "node:n1", 6443, "TCP"),
        ("shop/web", "node:n2", 6443, "TCP"),
    ];
    assert_eq!(verdicts(&m, &flows), [true, false, false], "the API server apart from the nodes");
    let on_n1 = TOPOLOGY.replace("addresses: [172.18.0.5]", "addresses: [172.18.0.2]");
    assert_eq!(
        verdicts_in(&on_n1, &m, &flows[1..]),
        [true, false],
        "the API server on n1: n1 is kube-apiserver, n2 is not"
    );
}

#[test]
fn denies_beat_allows_from_every_kind() {
    let allow = cnp(
        "a",
        "shop",
        "  endpointSelector: {matchLabels: {app: web}}\n  ingress: [{fromEntities: [all]}]\n",
    );
    let deny = ccnp(
        "no-ops",
        "  endpointSelector: {}\n  enableDefaultDeny: {ingress: false, egress: false}\n  ingressDeny: [{fromEndpoints: [{matchLabels: {io.cilium.k8s.namespace.labels.team: ops}}]}]\n",
    );
    let flows = [("monitoring/prom", "shop/web", 8080, "TCP"), ("shop/db", "shop/web", 8080, "TCP")];
    assert_eq!(verdicts(&(allow.clone() + &deny), &flows), [false, true]);
    let np = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: shop}\nspec:\n  podSelector: {}\n  ingress: [{}]\n";
    let cnp_deny = cnp(
        "d",
        "shop",
        "  endpointSelector: {}\n  ingressDeny: [{fromEndpoints: [{matchLabels: {app: db}}]}]\n",
    );
    assert_eq!(
        verdicts(&(np.to_string() + &cnp_deny), &flows),
        [true, false],
        "a CNP deny beats a NetworkPolicy allow"
    );
}

#[test]
fn endpoints_are_scoped_to_the_namespace_in_cnp_and_to_pods_in_ccnp() {
    let same_ns = cnp(
        "s",
        "shop",
        "  endpointSelector: {matchLabels: {app: web}}\n  ingress: [{fromEndpoints: [{}]}]\n",
    );
    let flows = [
        ("shop/db", "shop/web", 8080, "TCP"),
        ("monitoring/prom", "shop/web", 8080, "TCP"),
        ("node:n2", "shop/web", 8080, "TCP"),
    ];
    assert_eq!(verdicts(&same_ns, &flows), [true, false, false]);
    let any_pod =
        ccnp("c", "  endpointSelector: {matchLabels: {app: web}}\n  ingress: [{fromEndpoints: [{}]}]\n");
    assert_eq!(verdicts(&any_pod, &flows), [true, true, false]);
    let by_ns_label = cnp(
        "by-label",
        "shop",
        "  endpointSelector: {matchLabels: {app: web}}\n  ingress: [{fromEndpoints: [{matchLabels: {k8s:io.cilium.k8s.namespace.labels.team: ops, io.cilium.k8s.policy.serviceaccount: prometheus}}]}]\n",
    );
    assert_eq!(
        verdicts(&by_ns_label, &flows),
        [false, true, false],
        "namespace labels lift the scoping; the service account is an identity label"
    );
}

#[test]
fn network_policy_selectors_see_identity_labels_under_cilium() {
    let topology = topology::read(
        "pods:
  - {namespace: shop, name: orders, labels: {app: orders}, ip: 10.244.1.10, serviceAccount: orders}
  - {namespace: shop, name: frontend, labels: {app: frontend}, ip: 10.244.1.11, serviceAccount: storefront}
  - {namespace: shop, name: batch, labels: {app: batch}, ip: 10.244.1.12, serviceAccount: jobs}
",
        "t",
    )
    .expect("topology");
    let judge_on = |manifests: &str, cni: Cni| -> Vec<bool> {
        let objects = read_objects(manifests, "m").expect("objects");
        let set = PolicySet::new(&objects, Some(cni)).expect("policies");
        let flows: Vec<FlowSpec> = ["shop/frontend", "shop/batch"]
            .iter()
            .map(|from| FlowSpec {
                from: from.to_string(),
                to: "shop/orders".to_string(),
                port: PortRef::Number(8080),
                protocol: "TCP".to_string(),
                allowed: None,
            })
            .collect();
        judge(&set, &topology, &flows).expect("judged").into_iter().map(|j| j.allowed).collect()
    };
    let by_service_account = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: orders, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ingress:
  - from: [{podSelector: {matchLabels: {io.cilium.k8s.policy.serviceaccount: storefront}}}]
ports: [{port: 8080}]
";
    assert_eq!(judge_on(by_service_account, Cni::Cilium), [true, false]);
    // Other CNIs see only the pod's labels: nothing carries the identity label.
    assert_eq!(judge_on(by_service_account, Cni::Kubernetes), [false, false]);
    // The identity label selects the policy's subject too.
    let subject_by_identity = by_service_account.replace(
        "podSelector: {matchLabels: {app: orders}}",
        "podSelector: {matchLabels: {io.cilium.k8s.policy.serviceaccount: orders}}",
    );
    assert_eq!(judge_on(&subject_by_identity, Cni::Cilium), [true, false]);
    assert_eq!(judge_on(&subject_by_identity, Cni::Kubernetes), [true, true], "selects nothing: open");
}

#[test]
fn entities_cidrs_and_the_api_server() {
    let egress = cnp(
        "e",
        "shop",
        "  endpointSelector: {matchLabels: {app: web}}\n  egress:\n  - toEntities: [kube-apiserver]\n  - toEntities: [host]\n    toPorts: [{ports: [{port: \"10250\"}]}]\n  - toCIDRSet: [{cidr: 0.0.0.0/0, except: [192.0.2.11/32]}]\n",
    );
    let flows = [
        ("shop/web", "apiserver", 443, "TCP"),
        ("shop/web", "node:n1", 10250, "TCP"),
        ("shop/web", "node:n2", 10250, "TCP"),
        ("shop/web", "ip:192.0.2.10", 443, "TCP"),
        ("shop/web", "ip:192.0.2.11", 443, "TCP"),
        ("shop/web", "shop/db", 5432, "TCP"),
    ];
    // 0.0.0.0/0 never reaches pods, nodes or the API server on Cilium.
    assert_eq!(verdicts(&egress, &flows), [true, true, false, true, false, false]);
    let world = cnp(
        "w",
        "shop",
        "  endpointSelector: {matchLabels: {app: web}}\n  egress: [{toEntities: [world]}, {toEntities: [cluster], toPorts: [{ports: [{port: \"5432\", protocol: TCP}]}]}]\n",
    );
    assert_eq!(verdicts(&world, &flows), [false, false, false, true, true, true]);
}

#[test]
fn fqdn_egress_needs_a_dns_rule() {
    let without_dns = cnp(
        "f",
        "shop",
        "  endpointSelector: {matchLabels: {app: web}}\n  egress:\n  - toFQDNs: [{matchPattern: '*.example.com'}]\n    toPorts: [{ports: [{port: \"443\"}]}]\n  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}}]\n    toPorts: [{ports: [{port: \"53\", protocol: ANY}]}]\n",
    );
    let flows = [
        ("shop/web", "dns:api.example.com", 443, "TCP"),
        ("shop/web", "dns:other.example.org", 443, "TCP"),
        ("shop/web", "kube-system/dns", 53, "UDP"),
    ];
    assert_eq!(verdicts(&without_dns, &flows), [false, false, true]);
    let with_dns = without_dns.replace(
        "toPorts: [{ports: [{port: \"53\", protocol: ANY}]}]",
        "toPorts: [{ports: [{port: \"53\", protocol: ANY}], rules: {dns: [{matchPattern: '*'}]}}]",
    );
    assert_eq!(verdicts(&with_dns, &flows), [true, false, true]);
}

#[test]
fn ports_named_ports_and_l7_notes() {
    let p = cnp(
        "p",
        "shop",
        "  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{port: http, protocol: TCP}]}]\n  - fromEndpoints: [{matchLabels: {app: web}}]\n    toPorts: [{ports: [{port: \"5400\", endPort: 5500}], rules: {http: [{method: GET}]}}]\n",
    );
    let flows = [
        ("monitoring/prom", "shop/web", 8080, "TCP"),
        ("monitoring/prom", "shop/web", 8081, "TCP"),
        ("shop/web", "shop/db", 5432, "TCP"),
        ("shop/web", "shop/db", 5432, "UDP"),
    ];
    assert_eq!(verdicts(&p, &flows), [true, false, true, true]);
    let topology = topology::read(TOPOLOGY, "t").expect("topology");
    let objects = read_objects(&p, "m").expect("objects");
    let set = PolicySet::new(&objects, Some(Cni::Cilium)).expect("policies");
    let flow = FlowSpec {
        from: "shop/web".into(),
        to: "shop/db".into(),
        port: PortRef::Number(5432),
        protocol: "TCP".into(),
        allowed: None,
    };
    let judged = judge(&set, &topology, &[flow]).expect("judged");
    assert!(judged[0].unmodelled.iter().any(|u| u.contains("L7")), "{:?}", judged[0]);
}

#[test]
fn netpols_own_rendering_is_judged_as_intended() {
    use crate::engine::Backend;
    use crate::intent::testing::{allowlist, dns_rule, intent, pods_in, rule, tcp};
    let web = allowlist(
        "shop",
        "web",
        Some(vec![rule("http", vec![pods_in("monitoring", &[("app", "prom")])], vec![tcp(8080)])]),
        Some(vec![dns_rule()]),
    );
    let rendered = crate::engine::cilium::Cilium.render(&intent(vec![web])).expect("renders");
    let text: String = rendered.manifests.iter().map(|m| format!("---\n{}", m.yaml)).collect();
    let flows = [
        ("monitoring/prom", "shop/web", 8080, "TCP"),
        ("monitoring/prom", "shop/web", 9090, "TCP"),
        ("shop/db", "shop/web", 8080, "TCP"),
        ("shop/web", "kube-system/dns", 53, "UDP"),
        ("shop/web", "monitoring/prom", 9090, "TCP"),
    ];
    assert_eq!(verdicts(&text, &flows), [true, false, false, true, false]);
}

#[test]
fn malformed_policies_are_errors() {
    for bad in [
        cnp("x", "shop", "  ingress: [{}]\n"),
        cnp(
            "x",
            "shop",
            "  endpointSelector: {}\n  ingress: [{fromEndpoints: [{}], fromEntities: [world]}]\n",
        ),
        cnp("x", "shop", "  endpointSelector: {}\n  egressDeny: [{toFQDNs: [{matchName: a.example.com}]}]\n"),
        cnp(
            "x",
            "shop",
            "  endpointSelector: {}\n  ingress: [{fromCIDRSet: [{cidr: 10.0.0.0/8, except: [192.168.0.0/16]}]}]\n",
        ),
        cnp("x", "shop", "  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: \"99999\"}]}]}]\n"),
        cnp("x", "shop", "  endpointSelector: {}\n  ingress: [{fromSomewhere: []}]\n"),
    ] {
        let objects = read_objects(&bad, "m").expect("objects");
        assert!(PolicySet::new(&objects, Some(Cni::Cilium)).is_err(), "{bad}");
    }
}
