//! The evaluator reads manifests as the API server does: an explicit null is the empty value
//! for every field, and a field no schema knows is reported, never ignored in silence.

const TOPOLOGY: &str = r#"
namespaces:
  - {name: shop, labels: {kubernetes.io/metadata.name: shop}}
  - {name: tools, labels: {kubernetes.io/metadata.name: tools}}
pods:
  - {namespace: shop, name: web, labels: {app: web}, ip: 10.244.0.2, ports: [{port: 80, protocol: TCP}]}
  - {namespace: tools, name: probe, labels: {app: probe}, ip: 10.244.0.3, ports: [{port: 9000, protocol: TCP}]}
"#;

const FLOWS: &str = r#"
- {from: tools/probe, to: shop/web, port: 80, protocol: TCP}
- {from: shop/web, to: tools/probe, port: 9000, protocol: TCP}
"#;

/// `eval` the two flows against `manifests`: the verdicts and stderr.
fn verdicts(manifests: &str) -> (Vec<bool>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let out = crate::common::netpol()
        .arg("eval")
        .arg("--manifests")
        .arg(write("m.yaml", manifests))
        .arg("--topology")
        .arg(write("t.yaml", TOPOLOGY))
        .arg("--flows")
        .arg(write("f.yaml", FLOWS))
        .args(["-o", "json"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{manifests}\n{stderr}");
    let judged: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let allowed =
        judged.as_array().expect("a list").iter().map(|f| f["allowed"].as_bool().expect("allowed")).collect();
    (allowed, stderr)
}

#[test]
fn a_null_pod_selector_selects_every_pod_of_the_namespace() {
    let (allowed, _) = verdicts(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: lockdown, namespace: shop}\nspec:\n  podSelector:\n  policyTypes: [Ingress]\n",
    );
    assert_eq!(allowed, [false, true]);
}

#[test]
fn null_is_empty_for_selectors_lists_and_maps_of_every_kind() {
    for manifest in [
        // A null matchLabels and matchExpressions: the empty selector.
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: shop}\nspec:\n  podSelector: {matchLabels: , matchExpressions: }\n  policyTypes: [Ingress]\n  ingress:\n",
        // Cilium: a null ingress list isolates nothing by itself; enableDefaultDeny does.
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x, namespace: shop}\nspec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress: [{fromEndpoints: [{matchLabels: {app: nobody}}], toPorts: }]\n  egress:\n",
        // Calico: null selectors and rules.
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: x, namespace: shop}\nspec:\n  selector: app == 'web'\n  types: [Ingress]\n  ingress:\n  egress:\n",
        // ClusterNetworkPolicy: null lists inside a rule.
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: x}\nspec:\n  tier: Admin\n  priority: 1\n  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}\n  ingress: [{action: Deny, from: [{namespaces: {matchLabels: , matchExpressions: }}], protocols: }]\n  egress:\n",
    ] {
        let (allowed, stderr) = verdicts(manifest);
        assert_eq!(allowed, [false, true], "{manifest}\n{stderr}");
    }
}

#[test]
fn an_unknown_field_is_reported_with_its_object_and_path() {
    let (allowed, stderr) = verdicts(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: typo, namespace: shop}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress:\n    - from: [{podSelector: {matchLabelz: {app: nobody}}}]\n",
    );
    // As the API server does, the unknown field is dropped (so the selector is empty)…
    assert_eq!(allowed, [false, true]);
    // …and never in silence.
    assert!(
        stderr.contains(
            "NetworkPolicy shop/typo: unknown field `spec.ingress[0].from[0].podSelector.matchLabelz`"
        ),
        "{stderr}"
    );
}

/// `eval` on `manifests` that it refuses: its stderr, human and JSON.
fn refused(manifests: &str) -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("m.yaml"), manifests).expect("write");
    std::fs::write(dir.path().join("t.yaml"), TOPOLOGY).expect("write");
    let run = |format: &str| {
        let out = crate::common::netpol()
            .current_dir(dir.path())
            .args(["eval", "--manifests", "m.yaml", "--topology", "t.yaml", "--error-format", format])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{manifests}");
        assert!(out.stdout.is_empty(), "nothing is judged");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let json = serde_json::from_str(&run("json")).expect("JSON diagnostics");
    (run("human"), json)
}

const TWO_OBJECTS: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: fine, namespace: shop}\nspec:\n  podSelector: {}\n---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: typo, namespace: shop}\nspec:\n  endpointSelector: {}\n  ingress:\n    - toPorts: [{ports: [{port: \"80\"}]}]\n    - fromEndpoint: [{}]\n";

#[test]
fn a_field_no_engine_knows_is_an_error_at_its_line_and_column() {
    let (human, json) = refused(TWO_OBJECTS);
    assert!(
        human.contains("error[NP009]: CiliumNetworkPolicy shop/typo: spec.ingress[1].fromEndpoint"),
        "{human}"
    );
    assert!(human.contains("--> m.yaml:14:7"), "{human}");
    assert!(human.contains("    - fromEndpoint: [{}]"), "the line is quoted: {human}");
    let d = &json["diagnostics"][0];
    assert_eq!(d["origin"]["line"], 14, "{json}");
    assert_eq!(d["origin"]["column"], 7, "{json}");
    assert_eq!(d["manifest"]["object"], "CiliumNetworkPolicy shop/typo", "{json}");
    assert_eq!(d["manifest"]["field"], "spec.ingress[1].fromEndpoint", "{json}");
}

#[test]
fn a_wrong_type_is_located_at_the_value() {
    let (human, json) = refused(
        "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: networking.k8s.io/v1\n    kind: NetworkPolicy\n    metadata: {name: a, namespace: shop}\n    spec:\n      podSelector: {}\n      ingress:\n        - ports: [{port: 80, endPort: many}]\n",
    );
    assert!(human.contains("--> m.yaml:10:"), "{human}");
    assert_eq!(json["diagnostics"][0]["manifest"]["field"], "spec.ingress[0].ports[0].endPort", "{json}");
}

#[test]
fn broken_yaml_and_a_document_without_kind_are_located() {
    let (human, _) = refused("apiVersion: v1\nkind: List\nitems: [\n");
    assert!(human.contains("--> m.yaml:"), "{human}");
    let (human, json) =
        refused("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n---\nmetadata: {name: x}\n");
    assert!(human.contains("document 2 has no `kind`"), "{human}");
    assert_eq!(json["diagnostics"][0]["origin"]["line"], 4, "{json}");
}

/// `topology --flows` writes files of hundreds of thousands of flows; `eval --flows` reads
/// them back (the YAML reader's default node budget stopped at about 35,000 entries).
#[test]
fn eval_reads_a_flows_file_of_forty_thousand_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topology = dir.path().join("topology.yaml");
    std::fs::write(
        &topology,
        "pods:\n  - {namespace: a, name: x, labels: {}, ip: 10.244.0.10}\n  - {namespace: b, name: y, labels: {}, ip: 10.244.0.11}\n",
    )
    .expect("write");
    let manifests = dir.path().join("manifests.yaml");
    std::fs::write(&manifests, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: lockdown, namespace: b}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n").expect("write");
    let flows = dir.path().join("flows.yaml");
    let text: String = (0..40_000)
        .map(|i| format!("- from: a/x\n  to: b/y\n  port: {}\n  protocol: TCP\n", i % 65_000 + 1))
        .collect();
    std::fs::write(&flows, text).expect("write");
    let out = crate::common::netpol()
        .args(["eval", "-o", "json", "--manifests"])
        .arg(&manifests)
        .arg("--topology")
        .arg(&topology)
        .arg("--flows")
        .arg(&flows)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let judged: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let list = judged.as_array().expect("a list");
    assert_eq!(list.len(), 40_000);
    assert!(list.iter().all(|j| j["allowed"] == false));
}

#[test]
fn a_pod_listed_twice_in_a_topology_is_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("m.yaml"), "").expect("write");
    let topology = format!("{TOPOLOGY}  - {{namespace: shop, name: web, ip: 10.244.0.9}}\n");
    std::fs::write(dir.path().join("t.yaml"), topology).expect("write");
    let out = crate::common::netpol()
        .current_dir(dir.path())
        .args(["eval", "--manifests", "m.yaml", "--topology", "t.yaml"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pod shop/web is listed twice"), "{stderr}");
    assert!(stderr.contains("--> t.yaml:8:5"), "{stderr}");
}
