//! The command line, as users run it: every flag, every error, exit codes, and the rule that
//! nothing is written unless the whole render succeeded.

use crate::common::{netpol, stdout_of, write};

/// Run with `values` as the only file; expect exit `code`, empty stdout, and `needles` on stderr.
fn fails_with(values: &str, extra: &[&str], code: i32, needles: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "values.yaml", values);
    let mut args = vec!["render", "-f", file.as_str()];
    args.extend_from_slice(extra);
    let out = netpol().args(&args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{values}\n{stderr}");
    assert!(out.stdout.is_empty(), "partial output on stdout for {values}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` missing from:\n{stderr}");
    }
}

const CHART: &str = "networkPolicy:\n  enabled: true\n";

#[test]
fn renders_a_shipped_example() {
    let out = stdout_of(&["render", "-f", "examples/controller-default-deny.yaml"]);
    assert!(out.starts_with(
        "# Rendered by netpol for the kubernetes engine from examples/controller-default-deny.yaml.\n---\n"
    ));
    assert!(out.contains("kind: NetworkPolicy"));
    assert!(out.contains("name: release-name-controller-default-deny"));
}

#[test]
fn engine_flag_overrides_the_values() {
    let out = stdout_of(&["render", "-f", "examples/controller-engine.yaml", "--engine", "kubernetes"]);
    assert!(out.contains("apiVersion: networking.k8s.io/v1"), "{out}");
    assert!(!out.contains("cilium.io"));
}

#[test]
fn unknown_engine_is_a_usage_error() {
    netpol().args(["render", "-f", "examples/minimal.yaml", "--engine", "flannel"]).assert().code(2);
}

#[test]
fn missing_values_flag_is_a_usage_error() {
    netpol().args(["render"]).assert().code(2);
}

#[test]
fn values_files_merge_like_helm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = write(
        dir.path(),
        "a.yaml",
        "networkPolicy:\n  enabled: true\n  metrics:\n    from: [{namespace: monitoring}]\nports:\n  metrics: 9090\n",
    );
    let b = write(
        dir.path(),
        "b.yaml",
        "networkPolicy:\n  metrics:\n    from: [{namespace: observability}]\nwebhook:\n  enabled: false\n",
    );
    let out = stdout_of(&["render", "-f", &a, "-f", &b]);
    assert!(out.contains("observability") && !out.contains("monitoring"), "lists replace:\n{out}");
    assert!(out.contains("port: 9090"), "maps deep-merge:\n{out}");
    assert!(!out.contains("9443"), "later file switched the webhook off:\n{out}");
    // null removes a key: the metrics port falls back to its default.
    let c = write(dir.path(), "c.yaml", "ports:\n  metrics: null\n");
    let out = stdout_of(&["render", "-f", &a, "-f", &c]);
    assert!(out.contains("port: 8080"), "{out}");
}

#[test]
fn set_and_set_string_use_helm_paths() {
    let out = stdout_of(&[
        "render",
        "-f",
        "examples/controller-ingress-from.yaml",
        "--set",
        "ports.gate=9000,networkPolicy.gate.from[0].namespaceSelector.matchLabels.team=flagger",
        "--set-string",
        "commonLabels.version=2",
    ]);
    assert!(out.contains("port: 9000"), "{out}");
    assert!(out.contains("team: flagger"), "{out}");
    assert!(out.contains("version: '2'") || out.contains("version: \"2\""), "{out}");
}

#[test]
fn set_errors_are_reported() {
    fails_with(CHART, &["--set", "ports.metrics"], 1, &["key=value"]);
    fails_with(CHART, &["--set", "ports.metrics=http-metrics-port-too-long"], 1, &["not a valid port name"]);
}

#[test]
fn values_from_stdin() {
    let out = netpol().args(["render", "-f", "-"]).write_stdin(CHART).output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("name: release-name-controller"), "{text}");
}

#[test]
fn namespace_and_release_work_like_helm_template() {
    let out = stdout_of(&[
        "render",
        "my-release",
        "-f",
        "examples/controller-engine.yaml",
        "-n",
        "flux-system",
        "--engine",
        "kubernetes",
    ]);
    assert!(out.contains("namespace: flux-system"), "{out}");
    assert!(out.contains("name: my-release-controller"), "{out}");
    assert!(out.contains("app.kubernetes.io/instance: my-release"), "{out}");
    let out = stdout_of(&["render", "-f", "examples/minimal.yaml", "--release", "shop"]);
    assert!(out.contains("app.kubernetes.io/instance: shop"), "{out}");
    netpol().args(["render", "a", "--release", "b", "-f", "examples/minimal.yaml"]).assert().code(2);
    netpol().args(["render", "-f", "examples/minimal.yaml", "-n", "Not_A_Namespace"]).assert().code(2);
}

#[test]
fn json_output_is_a_list() {
    let out = stdout_of(&["render", "-f", "examples/controller-default-deny.yaml", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
}

#[test]
fn output_dir_gets_one_file_per_object_and_a_kustomization() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("out");
    std::fs::create_dir(&target).expect("mkdir");
    // A file an earlier render wrote and this one no longer has is removed.
    std::fs::write(target.join("stale.yaml"), "# Rendered by netpol for the kubernetes engine.\n")
        .expect("write");
    netpol()
        .args(["render", "-f", "examples/controller-default-deny.yaml", "--output-dir"])
        .arg(&target)
        .assert()
        .success()
        .stdout("");
    let mut names: Vec<String> = std::fs::read_dir(&target)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "default_networkpolicy_release-name-controller-default-deny.yaml",
            "default_networkpolicy_release-name-controller.yaml",
            "kustomization.yaml"
        ]
    );
    let kustomization = std::fs::read_to_string(target.join("kustomization.yaml")).expect("read");
    assert!(
        kustomization.contains("- default_networkpolicy_release-name-controller.yaml"),
        "{kustomization}"
    );
}

#[test]
fn a_failed_render_leaves_the_output_dir_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("out");
    std::fs::create_dir(&target).expect("mkdir");
    std::fs::write(target.join("keep.yaml"), "# Rendered by netpol: old").expect("write");
    let bad = write(
        dir.path(),
        "bad.yaml",
        "networkPolicy:\n  enabled: true\n  egress:\n    to: [{to: [{cidr: 10.0.0.1/8}]}]\n",
    );
    netpol().args(["render", "-f", &bad, "--output-dir"]).arg(&target).assert().code(1);
    assert_eq!(std::fs::read_to_string(target.join("keep.yaml")).expect("kept"), "# Rendered by netpol: old");
    assert_eq!(std::fs::read_dir(&target).expect("dir").count(), 1);
}

#[test]
fn disabled_chart_renders_nothing_and_says_so() {
    let out = netpol()
        .args(["render", "-f", "-"])
        .write_stdin("networkPolicy:\n  enabled: false\n")
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("networkPolicy.enabled is false"));
}

#[test]
fn unknown_keys_name_file_line_column_path_and_a_suggestion() {
    fails_with(
        "networkPolicy:\n  enabled: true\n  metrics:\n    form: []\n",
        &[],
        1,
        &["unknown key `form`", "values.yaml:4:5", "networkPolicy.metrics.form", "did you mean `from`?"],
    );
}

#[test]
fn wrong_types_are_errors() {
    fails_with("networkPolicy:\n  enabled: maybe\n", &[], 1, &["networkPolicy.enabled", "values.yaml:2:12"]);
    fails_with("workloads: [a, b]\n", &[], 1, &["workloads"]);
}

#[test]
fn invalid_cidrs_are_errors() {
    let v = "networkPolicy:\n  enabled: true\n  egress:\n    enabled: true\n    to:\n      - to:\n          - ipBlock:\n              cidr: 10.0.0.1/8\n";
    fails_with(
        v,
        &[],
        1,
        &["host bits", "10.0.0.0/8", "networkPolicy.egress.to[0].to[0].ipBlock.cidr", "values.yaml:8:21"],
    );
    let v = "networkPolicy:\n  enabled: true\n  metrics:\n    from: [{ipBlock: {cidr: 10.0.0.0/33}}]\n";
    fails_with(v, &[], 1, &["not a valid CIDR"]);
}

#[test]
fn except_outside_its_cidr_is_an_error() {
    let v = "networkPolicy:\n  enabled: true\n  metrics:\n    from:\n      - ipBlock:\n          cidr: 10.0.0.0/16\n          except: [10.1.0.0/24]\n";
    fails_with(v, &[], 1, &["not strictly inside", "networkPolicy.metrics.from[0]"]);
    let v = "networkPolicy:\n  enabled: true\n  metrics:\n    from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}}]\n";
    fails_with(v, &[], 1, &["not strictly inside"]);
}

#[test]
fn ports_outside_the_range_are_errors() {
    fails_with(
        "ports:\n  metrics: 70000\nnetworkPolicy:\n  enabled: true\n",
        &[],
        1,
        &["outside 1..65535", "ports.metrics"],
    );
    fails_with("ports:\n  metrics: 0\nnetworkPolicy:\n  enabled: true\n", &[], 1, &["outside 1..65535"]);
}

#[test]
fn end_port_below_port_or_with_a_named_port_is_an_error() {
    let v =
        "networkPolicy:\n  enabled: true\n  additionalIngress:\n    - ports: [{port: 9000, endPort: 8000}]\n";
    fails_with(v, &[], 1, &["endPort 8000 is below port 9000", "additionalIngress[0].ports[0]"]);
    let v = "networkPolicy:\n  enabled: true\n  additionalIngress:\n    - ports: [{port: metrics, endPort: 8000}]\n";
    fails_with(v, &[], 1, &["named port"]);
}

#[test]
fn invalid_labels_are_errors() {
    fails_with(
        "commonLabels:\n  'bad key!': x\nnetworkPolicy: {enabled: true}\n",
        &[],
        1,
        &["label key `bad key!`"],
    );
    fails_with(
        "commonLabels:\n  team: '-bad-'\nnetworkPolicy: {enabled: true}\n",
        &[],
        1,
        &["label value `-bad-`"],
    );
    let long = "a".repeat(64);
    fails_with(
        &format!("selectorLabels:\n  app: {long}\nnetworkPolicy: {{enabled: true}}\n"),
        &[],
        1,
        &["label value"],
    );
}

#[test]
fn names_over_the_limits_are_errors() {
    let long = "w".repeat(64);
    fails_with(
        &format!("workloads:\n  {long}:\n    ports: {{http: {{port: 80}}}}\n"),
        &[],
        1,
        &["at most 63", "workloads"],
    );
    fails_with(&format!("nameOverride: {long}\nnetworkPolicy: {{enabled: true}}\n"), &[], 1, &["at most 63"]);
}

#[test]
fn duplicate_keys_are_errors() {
    fails_with("networkPolicy:\n  enabled: true\n  enabled: false\n", &[], 1, &["uplicate"]);
}

#[test]
fn invalid_yaml_is_an_error() {
    fails_with("networkPolicy: [\n", &[], 1, &["invalid YAML"]);
}

#[test]
fn missing_file_is_an_error() {
    netpol().args(["render", "-f", "does/not/exist.yaml"]).assert().code(1).stdout("");
}

#[test]
fn inexpressible_constructs_name_the_engines_that_can() {
    let v = "workloads:\n  app:\n    egress:\n      enabled: true\n      to:\n        - to: [{fqdn: api.example.com}]\n";
    fails_with(v, &[], 1, &["cannot express FQDN egress", "workload", "cilium"]);
}

#[test]
fn error_format_json() {
    let out = netpol()
        .args(["render", "-f", "-", "--error-format", "json"])
        .write_stdin("networkPolicy:\n  enabeld: true\n")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).expect("JSON on stderr");
    let d = &v["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["origin"]["line"], 2);
    assert_eq!(d["origin"]["path"], "networkPolicy.enabeld");
    assert_eq!(d["help"], "did you mean `enabled`?");
}

#[test]
fn egress_without_dns_is_flagged() {
    let out = netpol()
        .args(["render", "-f", "-"])
        .write_stdin("networkPolicy:\n  enabled: true\n  egress:\n    enabled: true\n    dns: false\n    to: [{to: [{ipBlock: {cidr: 10.0.0.1/32}}]}]\n")
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("without DNS"));
}

#[test]
fn help_and_version() {
    netpol().arg("--help").assert().success();
    netpol().args(["render", "--help"]).assert().success();
    netpol().arg("--version").assert().success();
}

#[test]
fn accept_weaker_guardrails_turns_the_refusal_into_a_warning() {
    let v = "guardrails: {denyMetadataService: true}\nworkloads:\n  a:\n    ports: {http: {port: 80}}\n";
    fails_with(v, &[], 1, &["cannot express a guardrail", "--accept-weaker-guardrails"]);
    let out = netpol()
        .args(["render", "-f", "-", "--accept-weaker-guardrails"])
        .write_stdin(v)
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not enforced by the kubernetes engine"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("name: a"));
}

#[test]
fn profiles_are_listed() {
    let out = stdout_of(&["profiles"]);
    for name in [
        "zero-trust",
        "standard-app",
        "database",
        "external-api",
        "homelab",
        "build-sandbox",
        "platform",
        "tenant",
        "controller",
    ] {
        assert!(out.lines().any(|l| l.starts_with(name)), "{name} missing:\n{out}");
    }
}

#[test]
fn unknown_profile_is_an_error_with_a_suggestion() {
    fails_with(
        "namespaces:\n  shop:\n    profile: standard\n",
        &[],
        1,
        &["unknown profile `standard`", "did you mean `standard-app`?", "values.yaml:3:14"],
    );
}

#[test]
fn nested_duplicate_keys_name_their_path() {
    fails_with(
        "workloads:\n  a:\n    ports: {}\n    ports: {}\n",
        &[],
        1,
        &["duplicate key `ports`", "workloads.a.ports"],
    );
}

#[test]
fn eval_judges_flows_against_existing_policies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = write(
        dir.path(),
        "np.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]\n    ports: [{port: 8080}]\n",
    );
    let topology = write(
        dir.path(),
        "t.yaml",
        "pods:\n  - {namespace: shop, name: web, labels: {app: web}, ip: 10.0.0.1}\n  - {namespace: monitoring, name: prom, ip: 10.0.0.2}\n  - {namespace: other, name: x, ip: 10.0.0.3}\n",
    );
    let flows = write(
        dir.path(),
        "f.yaml",
        "- {from: monitoring/prom, to: shop/web, port: 8080}\n- {from: other/x, to: shop/web, port: 8080, protocol: TCP}\n",
    );
    let out = stdout_of(&["eval", "--manifests", &manifests, "--topology", &topology, "--flows", &flows]);
    let judged: serde_json::Value = serde_saphyr::from_str(&out).expect("YAML list");
    assert_eq!(judged[0]["allowed"], true, "{out}");
    assert_eq!(judged[1]["allowed"], false, "{out}");
    assert_eq!(judged[1]["from"], "other/x");
    let out = stdout_of(&[
        "eval",
        "--manifests",
        &manifests,
        "--topology",
        &topology,
        "--flows",
        &flows,
        "-o",
        "json",
    ]);
    let judged: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(judged.as_array().map(Vec::len), Some(2));
    let bad = write(dir.path(), "bad.yaml", "- {from: nowhere/x, to: shop/web, port: 80}\n");
    netpol()
        .args(["eval", "--manifests", &manifests, "--topology", &topology, "--flows", &bad])
        .assert()
        .code(1)
        .stdout("");
}

#[test]
fn cluster_scoped_name_clashes_are_errors_not_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let values = write(
        dir.path(),
        "clash.yaml",
        "workloads:\n  c:\n    namespace: a-b\n    podLabels: {app: c}\n    ports:\n      http: {port: 80, from: [{namespace: x}]}\n  b-c:\n    namespace: a\n    podLabels: {app: bc}\n    ports:\n      http: {port: 80, from: [{namespace: x}]}\n",
    );
    let out =
        netpol().args(["render", "-f", &values, "--engine", "clusterNetworkPolicy"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("two ClusterNetworkPolicy objects are both named `a-b-c`"), "{err}");
    assert!(err.contains("workloads.c") && err.contains("workloads.b-c"), "both origins are named: {err}");
    // Namespaced engines keep the two apart.
    netpol().args(["render", "-f", &values, "--engine", "kubernetes"]).assert().success();
}

#[test]
fn strict_turns_warnings_into_errors_and_writes_nothing() {
    // Passthrough for another engine is a warning…
    let values = "workloads:\n  web:\n    namespace: shop\n    ports:\n      http: {port: 80}\n    calico:\n      ingress: [{action: Allow}]\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "values.yaml", values);
    let out = netpol().args(["render", "-f", &file]).output().expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning[NP102]: calico passthrough rules"));
    // …and an error under --strict, with nothing written anywhere.
    let target = dir.path().join("out");
    for extra in [vec![], vec!["--output-dir", target.to_str().expect("UTF-8")]] {
        let out = netpol().args(["render", "-f", &file, "--strict"]).args(&extra).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(out.stdout.is_empty());
        assert!(stderr.contains("error[NP102]: calico passthrough rules"), "{stderr}");
    }
    assert!(!target.exists());
}

#[test]
fn set_alone_is_values_and_helm_words_match_any_case() {
    let out = netpol()
        .args([
            "render",
            "--set",
            "workloads.web.namespace=shop",
            "--set",
            "workloads.web.ports.http.port=80",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("name: web"));
    let out = netpol().args(["render", "--set", "networkPolicy.enabled=False"]).output().expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("networkPolicy.enabled is false"));
}

#[test]
fn engine_names_users_type_are_accepted() {
    for (alias, api) in [
        ("k8s", "networking.k8s.io/v1"),
        ("cluster-network-policy", "policy.networking.k8s.io/v1alpha2"),
        ("clusterNetworkPolicy", "policy.networking.k8s.io/v1alpha2"),
    ] {
        let out = stdout_of(&["render", "-f", "examples/minimal.yaml", "--engine", alias]);
        assert!(out.contains(api), "{alias}: {out}");
    }
    let out =
        netpol().args(["render", "-f", "examples/minimal.yaml", "--engine", "cnp"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "`cnp` is Cilium's short name, not an alias");
}

#[test]
fn values_that_render_nothing_say_so() {
    for values in ["", "workloads: {}\n"] {
        let out = netpol().args(["render", "-f", "-"]).write_stdin(values).output().expect("runs");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to render"), "{values:?}");
    }
}
