//! `netpol matrix` at scale: 1,000 pods with 10 ports each and 1,000 NetworkPolicies, every
//! ordered pod pair judged on every port of the destination pod (10 million flows), and the
//! result written as a table and as CSV.

use std::collections::BTreeSet;

use criterion::{Criterion, criterion_group, criterion_main};

use netpol::eval::{PolicySet, matrix, read_objects, topology};

/// A topology of `n` pods over 50 namespaces, each pod with ten container ports (two named).
pub fn generated_topology(n: usize) -> String {
    let mut text = String::from("namespaces:\n");
    for ns in 0..50 {
        text.push_str(&format!("  - {{name: ns-{ns}, labels: {{team: t-{}}}}}\n", ns % 5));
    }
    text.push_str("pods:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  - {{namespace: ns-{}, name: app-{i}, labels: {{app: app-{i}, tier: t{}}}, ip: 10.244.{}.{}, ports: [{{name: http, port: 8080}}, {{name: metrics, port: 9090}}, {{port: 8081}}, {{port: 8082}}, {{port: 8083}}, {{port: 8084}}, {{port: 8085}}, {{port: 8086}}, {{port: 8087}}, {{port: 8088}}]}}\n",
            i % 50,
            i % 3,
            i / 250,
            i % 250 + 1,
        ));
    }
    text
}

/// `n` NetworkPolicies, one per pod, each with 10 ports over its ingress and egress rules.
pub fn generated_policies(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: app-{i}, namespace: ns-{ns}}}\nspec:\n  podSelector: {{matchLabels: {{app: app-{i}}}}}\n  policyTypes: [Ingress, Egress]\n  ingress:\n  - from:\n    - podSelector: {{matchLabels: {{tier: t{tier}}}}}\n    - namespaceSelector: {{matchLabels: {{team: t-{team}}}}}\n      podSelector: {{matchLabels: {{app: app-{prev}}}}}\n    ports: [{{port: http}}, {{port: 8081}}, {{port: 8082}}, {{port: 8083}}, {{port: 8084}}]\n  - from:\n    - namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: ns-0}}}}\n    ports: [{{port: metrics}}, {{port: 9091}}, {{port: 9092, endPort: 9099}}, {{port: 53, protocol: UDP}}, {{port: 443}}]\n  egress:\n  - to:\n    - namespaceSelector: {{matchLabels: {{team: t-{team}}}}}\n    ports: [{{port: 8080}}, {{port: 9090}}]\n  - to:\n    - ipBlock: {{cidr: 10.244.0.0/16, except: [10.244.3.0/24]}}\n    ports: [{{port: 8080}}]\n",
            ns = i % 50,
            tier = i % 3,
            team = (i % 50) % 5,
            prev = i.saturating_sub(1),
        ));
    }
    text
}

fn bench_matrix(c: &mut Criterion) {
    let mut group = c.benchmark_group("matrix");
    group.sample_size(10);
    for n in [100usize, 1_000] {
        let topology = topology::read(&generated_topology(n), "topology").expect("topology");
        let objects = read_objects(&generated_policies(n), "policies").expect("policies");
        let policies = PolicySet::new(&objects, None).expect("policy set");
        let endpoints: Vec<String> =
            topology.pods.iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect();
        group.bench_function(format!("{n}-pods-{n}-policies"), |b| {
            b.iter(|| matrix::compute(&policies, &topology, &endpoints, &BTreeSet::new(), false))
        });
        let m = matrix::compute(&policies, &topology, &endpoints, &BTreeSet::new(), false);
        group.bench_function(format!("{n}-pods-table"), |b| {
            b.iter(|| m.write_table(&mut std::io::sink()).expect("written"))
        });
        group.bench_function(format!("{n}-pods-csv"), |b| {
            b.iter(|| m.write_csv(&mut std::io::sink()).expect("written"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_matrix);
criterion_main!(benches);
