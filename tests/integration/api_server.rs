//! Egress to the API server when the values give no endpoint addresses: Calico matches the
//! `default/kubernetes` Service, which is its endpoints' addresses and ports, so the verdicts
//! and `check` agree with the intent on every port.

use crate::common::run_on;

const API_BY_SERVICE: &str = "workloads:
  web:
    namespace: shop
    ports: {http: {port: 8080}}
    egress: {enabled: true, apiServer: true}
";

#[test]
fn calico_reaches_the_api_server_by_service_on_its_ports_only() {
    let (code, out, err) = run_on(&["check", "-f", "VALUES", "--engine", "calico"], API_BY_SERVICE);
    assert_eq!(code, 0, "{out}{err}");
    let verdict = |port: &str| {
        let (code, out, err) = run_on(
            &[
                "explain",
                "-f",
                "VALUES",
                "--engine",
                "calico",
                "--from",
                "shop/web",
                "--to",
                "apiserver",
                "--port",
                port,
            ],
            API_BY_SERVICE,
        );
        assert_eq!(code, 0, "{err}");
        out.lines().next().unwrap_or_default().to_string()
    };
    assert!(verdict("6443").ends_with("ALLOWED"), "{}", verdict("6443"));
    assert!(verdict("443").ends_with("ALLOWED"));
    assert!(verdict("8080").ends_with("DENIED"), "{}", verdict("8080"));
    // Declared endpoint ports are the Service's ports.
    let custom = format!("cluster: {{apiServer: {{ports: [8443]}}}}\n{API_BY_SERVICE}");
    let (code, out, err) = run_on(&["check", "-f", "VALUES", "--engine", "calico"], &custom);
    assert_eq!(code, 0, "{out}{err}");
}
