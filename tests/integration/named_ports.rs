//! A named port means the same on every engine: it takes the protocol of the port it names,
//! resolves in the derived topology, and a misspelt or ambiguous name is a located error.

use crate::common::run_on;

const UDP_ADMIN: &str = "workloads:
  api:
    namespace: front
    ports:
      admin: {port: 8080, protocol: UDP}
connections:
  - from: {namespace: front}
    to: {namespace: front}
    ports: [admin]
";

#[test]
fn a_named_port_takes_the_protocol_it_names_on_every_engine() {
    for engine in ["kubernetes", "cilium", "calico", "clusterNetworkPolicy"] {
        let (code, out, err) = run_on(
            &[
                "explain",
                "-f",
                "VALUES",
                "--engine",
                engine,
                "--from",
                "front/netpol-plain",
                "--to",
                "front/api",
                "--port",
                "8080/UDP",
            ],
            UDP_ADMIN,
        );
        assert_eq!(code, 0, "{engine}: {err}");
        assert!(out.lines().next().is_some_and(|l| l.ends_with("ALLOWED")), "{engine}: {out}");
    }
    let (_, yaml, _) = run_on(&["render", "-f", "VALUES"], UDP_ADMIN);
    assert!(yaml.contains("- port: admin\n      protocol: UDP"), "{yaml}");
    let (code, out, err) = run_on(&["check", "-f", "VALUES"], UDP_ADMIN);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_misspelt_named_port_is_a_located_error_with_a_suggestion() {
    let (code, out, err) =
        run_on(&["render", "-f", "VALUES"], &UDP_ADMIN.replace("ports: [admin]", "ports: [admn]"));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("named port `admn`") && err.contains("did you mean `admin`?"), "{err}");
    assert!(err.contains("values.yaml:7:5"), "{err}");
    assert_eq!(err.matches("named port `admn`").count(), 1, "reported once: {err}");
}

#[test]
fn a_name_declared_with_two_protocols_is_refused() {
    let values = format!(
        "{UDP_ADMIN}  - from: {{namespace: front}}\n    to: {{namespace: back}}\n    ports: [admin]\n"
    ) + "namespaces:\n  back:\n    workloads:\n      dns:\n        ports:\n          admin: {port: 8080}\n";
    let (code, _, err) = run_on(&["render", "-f", "VALUES"], &values);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("names ports of different protocols (8080/TCP, 8080/UDP)"), "{err}");
}

#[test]
fn the_derived_topology_keeps_declared_port_names() {
    let values = "workloads:
  app:
    namespace: shop
    ports:
      metrics: {port: 9090, from: [{namespace: monitoring, podLabels: {app.kubernetes.io/name: prometheus}}]}
      http: {port: 8080, from: [{namespace: shop}]}
";
    let (code, out, err) = run_on(&["topology", "-f", "VALUES"], values);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("- name: metrics\n    port: 9090"), "{out}");
    let (code, out, err) = run_on(
        &[
            "explain",
            "-f",
            "VALUES",
            "--from",
            "monitoring/peer-prometheus",
            "--to",
            "shop/app",
            "--port",
            "metrics",
        ],
        values,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().next().is_some_and(|l| l.contains("9090/TCP") && l.ends_with("ALLOWED")), "{out}");
}

#[test]
fn cluster_network_policy_translates_a_declared_name_toward_a_cidr_and_refuses_others() {
    let values = "workloads:
  db:
    namespace: data
    ports:
      http: {port: 9090}
  web:
    namespace: shop
    egress:
      enabled: true
      dns: false
      to: [{to: [{cidr: 10.244.0.0/16}], ports: [http]}]
";
    let (code, out, err) = run_on(&["render", "-f", "VALUES", "--engine", "clusterNetworkPolicy"], values);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("named port `http` is rendered as 9090/TCP"), "{err}");
    assert!(out.contains("number: 9090"), "{out}");
    let undeclared = values.replace("ports: [http]}]", "ports: [grpc]}]");
    let (code, out, err) =
        run_on(&["render", "-f", "VALUES", "--engine", "clusterNetworkPolicy"], &undeclared);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("named port `grpc` toward a CIDR peer"), "{err}");
}

#[test]
fn a_workload_keeps_its_own_pod_and_every_port_when_a_connection_selects_it() {
    let values = "workloads:
  api:
    namespace: front
    podLabels: {app: api}
    ports:
      http: {port: 8080}
      metrics: {port: 9090}
connections:
  - name: back-to-api
    from: {namespace: back}
    to: {namespace: front, podLabels: {app: api}}
    ports: [8080]
";
    let (code, topology, err) = run_on(&["topology", "-f", "VALUES"], values);
    assert_eq!(code, 0, "{err}");
    assert!(
        topology.contains("  name: api\n  labels:\n    app: api\n  ip: \"10.244.0.11\"\n  ports:\n  - name: http\n    port: 8080\n    protocol: TCP\n  - name: metrics\n    port: 9090\n"),
        "{topology}"
    );
    assert!(!topology.contains("back-to-api"), "a pod named after the connection:\n{topology}");
}
