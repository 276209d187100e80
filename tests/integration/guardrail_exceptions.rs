//! Tenant guardrails must not cut the platform off: cluster DNS (53/UDP, 53/TCP on the DNS pods)
//! and the `guardrails.allow` exceptions stay reachable from tenants on every engine that
//! enforces guardrails, while every other flow into system namespaces stays denied. Each engine's
//! rendering is judged by that engine's own evaluator on a hand-written cluster.

use netpol::engine::Engine;
use netpol::eval::check::objects_of;
use netpol::eval::topology;
use netpol::eval::{FlowSpec, PolicySet, PortRef};
use netpol::intent::lower::LowerOptions;
use netpol::render::render;
use netpol::values::Input;
use netpol::vocab::source::Sources;

const VALUES: &str = r#"
cluster: {podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12, tenantLabel: t}
guardrails:
  systemNamespaces: [kube-system, ingress-nginx]
  denyCrossTenant: true
  allow:
    - to: {namespace: ingress-nginx, podLabels: {app: controller}}
      ports: [8443]
namespaces:
  a:
    labels: {t: a}
    allow: {dns: true}
    # Egress anywhere in the cluster, so that only the guardrails decide.
    egress: [{to: [{namespace: kube-system}, {namespace: ingress-nginx}, {namespace: b}]}]
  b: {labels: {t: b}, allow: {dns: true}}
"#;

const CLUSTER: &str = r#"
namespaces:
  - {name: a, labels: {kubernetes.io/metadata.name: a, t: a}}
  - {name: b, labels: {kubernetes.io/metadata.name: b, t: b}}
  - {name: kube-system, labels: {kubernetes.io/metadata.name: kube-system}}
  - {name: ingress-nginx, labels: {kubernetes.io/metadata.name: ingress-nginx}}
pods:
  - {namespace: a, name: client, labels: {app: client}, ip: 10.244.1.1}
  - {namespace: b, name: server, labels: {app: server}, ip: 10.244.1.2, ports: [{port: 8080, protocol: TCP}]}
  - namespace: kube-system
    name: coredns
    labels: {k8s-app: kube-dns}
    ip: 10.244.0.2
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}, {port: 9153, protocol: TCP}]
  - {namespace: kube-system, name: metrics-server, labels: {k8s-app: metrics-server}, ip: 10.244.0.3, ports: [{port: 443, protocol: TCP}]}
  - namespace: ingress-nginx
    name: controller
    labels: {app: controller}
    ip: 10.244.0.4
    ports: [{port: 8443, protocol: TCP}, {port: 80, protocol: TCP}]
"#;

/// (destination, port, protocol, allowed) from `a/client`.
const EXPECTED: [(&str, u16, &str, bool); 8] = [
    ("kube-system/coredns", 53, "UDP", true),
    ("kube-system/coredns", 53, "TCP", true),
    ("kube-system/coredns", 9153, "TCP", false),
    ("kube-system/coredns", 54, "UDP", false),
    ("kube-system/metrics-server", 443, "TCP", false),
    ("ingress-nginx/controller", 8443, "TCP", true),
    ("ingress-nginx/controller", 80, "TCP", false),
    ("b/server", 8080, "TCP", false),
];

fn verdicts(engine: Engine, values: &str) -> Vec<(String, bool)> {
    let mut sources = Sources::default();
    let options = LowerOptions { engine: Some(engine), ..LowerOptions::default() };
    let mut stdin = || Ok(values.to_string());
    let output = render(&[Input::File("-".into())], &options, &mut sources, &mut stdin)
        .unwrap_or_else(|e| panic!("{engine}: {e}"));
    let objects = objects_of(&output.manifests).expect("manifests read back");
    let policies = PolicySet::new(&objects, Some(netpol::eval::check::cni_of(engine))).expect("policy set");
    let cluster = topology::read(CLUSTER, "cluster.yaml").expect("topology");
    EXPECTED
        .iter()
        .map(|(to, port, protocol, _)| {
            let spec = FlowSpec {
                from: "a/client".into(),
                to: to.to_string(),
                port: PortRef::Number(*port),
                protocol: protocol.to_string(),
                allowed: None,
            };
            let flow = spec.resolve(&cluster).expect("flow resolves");
            let explained = policies.evaluate(&cluster, &flow).allowed;
            assert_eq!(
                explained,
                policies.allowed(&cluster, &flow),
                "{engine}: fast and explaining paths differ"
            );
            (format!("{to} {port}/{protocol}"), explained)
        })
        .collect()
}

#[test]
fn dns_and_declared_exceptions_pass_every_guardrail_engine_and_nothing_else_does() {
    for engine in [Engine::Cilium, Engine::Calico, Engine::ClusterNetworkPolicy] {
        let got = verdicts(engine, VALUES);
        let want: Vec<(String, bool)> = EXPECTED
            .iter()
            .map(|(to, port, protocol, allowed)| (format!("{to} {port}/{protocol}"), *allowed))
            .collect();
        assert_eq!(got, want, "{engine}");
    }
}

#[test]
fn the_dns_pods_follow_cluster_dns() {
    // DNS pods elsewhere: coredns in kube-system is then just another system pod.
    let moved = VALUES
        .replace("cluster: {", "cluster: {dns: {namespace: kube-system, podLabels: {k8s-app: node-dns}}, ");
    for engine in [Engine::Cilium, Engine::Calico, Engine::ClusterNetworkPolicy] {
        let got = verdicts(engine, &moved);
        assert!(got.iter().take(2).all(|(_, allowed)| !allowed), "{engine}: {got:?}");
    }
}

#[test]
fn exceptions_must_name_pods_and_numbered_ports() {
    for (allow, needle) in [
        ("{to: {podLabels: {app: x}}}", "needs the namespace of its pods"),
        ("{to: {cidr: 10.0.0.0/8}}", "names pods"),
        ("{to: {namespace: x}, ports: [http]}", "needs port numbers"),
    ] {
        let values = format!(
            "cluster: {{tenantLabel: t}}\nguardrails:\n  systemNamespaces: [kube-system]\n  allow: [{allow}]\nnamespaces: {{a: {{labels: {{t: a}}}}}}\n"
        );
        let mut sources = Sources::default();
        let options = LowerOptions { engine: Some(Engine::Cilium), ..LowerOptions::default() };
        let mut stdin = || Ok(values.clone());
        let error = render(&[Input::File("-".into())], &options, &mut sources, &mut stdin).expect_err(allow);
        assert!(error.to_string().contains(needle), "{allow}: {error}");
    }
}
