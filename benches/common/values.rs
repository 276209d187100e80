//! The generated values the render and review benchmarks share.

/// Values with `n` workloads over 50 namespaces, each with two ports, peers of every
/// expressible kind and egress with DNS, the API server and an external CIDR.
pub fn generated_values(n: usize) -> String {
    let mut text =
        String::from("release: bench\ncluster:\n  apiServer:\n    cidrs: [10.0.0.1/32]\nworkloads:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  app-{i}:\n    namespace: ns-{ns}\n    ports:\n      http:\n        port: 8080\n        from:\n          - namespace: ingress-nginx\n          - podLabels: {{app: app-{prev}}}\n      metrics:\n        port: 9090\n        from:\n          - namespace: monitoring\n            podLabels: {{app.kubernetes.io/name: prometheus}}\n    egress:\n      enabled: true\n      apiServer: true\n      to:\n        - to:\n            - namespace: ns-{ns}\n              podLabels: {{app: app-{next}}}\n          ports: [5432]\n        - to:\n            - cidr: 198.51.100.0/24\n          ports: [443]\n",
            ns = i % 50,
            prev = i.saturating_sub(1),
            next = i + 1,
        ));
    }
    text
}
