//! Diagnostics fit CI: every problem of the values in one run, in file order, with the same
//! model for humans and as JSON.

use crate::common::run_on;

const SEVERAL_MISTAKES: &str = "namespaces:
  b:
    allow:
      fromMonitorng: true
  a:
    allow:
      fromMonitorng: true
workloads:
  web:
    namespace: shop
    prots:
      http: {port: 8080}
  api:
    namespace: Shop_X
    ports:
      grpc: {port: 9000, from: [{namespace: a, podLabelz: {}}]}
";

#[test]
fn every_mistake_is_reported_in_file_order() {
    let (code, stdout, stderr) = run_on(&["render", "-f", "VALUES"], SEVERAL_MISTAKES);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "nothing rendered: {stdout}");
    let lines: Vec<usize> = stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--> "))
        .filter_map(|at| at.rsplit(':').nth(1)?.parse().ok())
        .collect();
    assert_eq!(lines, [4, 7, 11, 14, 16], "{stderr}");
    for needle in [
        "did you mean `fromMonitoring`?",
        "did you mean `ports`?",
        "`Shop_X` is not a valid name",
        "did you mean `podLabels`?",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
}

#[test]
fn a_problem_caused_by_leaving_out_an_earlier_one_is_not_reported() {
    // The bad port drops `http`'s `port`, which is required: "missing key" would only repeat it.
    let (code, _, stderr) = run_on(
        &["render", "-f", "VALUES", "--error-format", "json"],
        "workloads:\n  web:\n    namespace: shop\n    ports:\n      http: {port: 99999}\n    egres: {}\n",
    );
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stderr).expect("JSON diagnostics");
    let messages: Vec<&str> =
        json["diagnostics"].as_array().expect("list").iter().filter_map(|d| d["message"].as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages.iter().all(|m| !m.contains("missing")), "{messages:?}");
}

/// Problems lowering finds (here: something the engine cannot express) come in the same run
/// as problems in the values' types, in file order; one that only follows from leaving out a
/// bad entry (a named port whose declaration was dropped) does not.
#[test]
fn problems_of_every_stage_are_reported_together() {
    let values = "cluster: {podCIDR: 10.244.0.0/16}
workloads:
  web:
    namespace: shop
    prots: {http: {port: 80}}
    egress:
      enabled: true
      to:
        - to: [{fqdn: example.com}]
          ports: [443]
  api:
    namespace: shop
    ports:
      http: {port: 99999}
connections:
  - {from: {namespace: shop}, to: {namespace: shop}, ports: [http]}
";
    let (code, _, stderr) =
        run_on(&["render", "-f", "VALUES", "--engine", "kubernetes", "--error-format", "json"], values);
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stderr).expect("JSON diagnostics");
    let found: Vec<(String, u64)> = json["diagnostics"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| {
            (d["code"].as_str().unwrap_or_default().to_string(), d["origin"]["line"].as_u64().unwrap_or(0))
        })
        .collect();
    let expected: Vec<(String, u64)> =
        [("NP002", 5), ("NP007", 9), ("NP003", 14)].iter().map(|(c, l)| (c.to_string(), *l)).collect();
    assert_eq!(found, expected, "{stderr}");
}

/// Leaving out the bad port `http` would make the connection's `http` a typo of `https`: that
/// follows from the first problem and is not reported.
#[test]
fn a_later_stage_does_not_repeat_what_an_omission_caused() {
    let values = "workloads:
  api:
    namespace: shop
    ports:
      http: {port: 99999}
  admin:
    namespace: shop
    ports:
      https: {port: 8443}
connections:
  - {from: {namespace: shop}, to: {namespace: shop}, ports: [http]}
";
    let (code, _, stderr) = run_on(&["render", "-f", "VALUES", "--error-format", "json"], values);
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stderr).expect("JSON diagnostics");
    let codes: Vec<&str> =
        json["diagnostics"].as_array().expect("list").iter().filter_map(|d| d["code"].as_str()).collect();
    assert_eq!(codes, ["NP003"], "{stderr}");
}

/// `--error-format json` works on every subcommand, and every diagnostic carries its code,
/// severity, message, location and help.
#[test]
fn every_subcommand_speaks_json_diagnostics() {
    let typo = "workloads:\n  web:\n    namespace: shop\n    prots: {}\n";
    let commands: [&[&str]; 5] = [
        &["render", "-f", "VALUES"],
        &["check", "-f", "VALUES"],
        &["topology", "-f", "VALUES"],
        &["matrix", "-f", "VALUES"],
        &["explain", "-f", "VALUES", "--from", "shop/web", "--to", "shop/web", "--port", "80"],
    ];
    for args in commands {
        let mut args = args.to_vec();
        args.extend(["--error-format", "json"]);
        let (code, stdout, stderr) = run_on(&args, typo);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}");
        let json: serde_json::Value =
            serde_json::from_str(&stderr).unwrap_or_else(|e| panic!("{args:?}: {e}: {stderr}"));
        let d = &json["diagnostics"][0];
        assert_eq!(d["code"], "NP002", "{args:?}");
        assert_eq!(d["severity"], "error");
        assert_eq!(d["origin"]["line"], 4);
        assert_eq!(d["origin"]["column"], 5);
        assert_eq!(d["origin"]["path"], "workloads.web.prots");
        assert_eq!(d["help"], "did you mean `ports`?");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("m.yaml");
    std::fs::write(&manifests, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: a}\nspec: {podSelector: 7}\n")
        .expect("write");
    let topology = dir.path().join("t.yaml");
    std::fs::write(&topology, "pods: []\n").expect("write");
    let (code, _, stderr) = run_on(
        &[
            "eval",
            "--manifests",
            &manifests.to_string_lossy(),
            "--topology",
            &topology.to_string_lossy(),
            "--error-format",
            "json",
        ],
        "",
    );
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stderr).expect("JSON diagnostics");
    assert_eq!(json["diagnostics"][0]["code"], "NP009", "{stderr}");
}

#[test]
fn human_diagnostics_show_their_code() {
    let (_, _, stderr) =
        run_on(&["render", "-f", "VALUES"], "workloads:\n  web:\n    namespace: shop\n    prots: {}\n");
    assert!(stderr.contains("error[NP002]: unknown key `prots`"), "{stderr}");
}

#[test]
fn what_an_engine_cannot_express_lists_the_engines_that_can() {
    let values = "workloads:\n  api:\n    namespace: shop\n    egress:\n      enabled: true\n      to:\n        - to: [{fqdn: api.example.com}]\n          ports: [443]\n";
    let (code, _, stderr) =
        run_on(&["render", "-f", "VALUES", "--engine", "kubernetes", "--error-format", "json"], values);
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stderr).expect("JSON diagnostics");
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "NP007", "{stderr}");
    let engines: Vec<&str> = d["enginesThatCan"]
        .as_array()
        .or(d["engines_that_can"].as_array())
        .expect("a list")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(engines.contains(&"cilium"), "{engines:?}");
}

#[test]
fn a_name_clash_points_at_both_values() {
    // Cluster-scoped names join namespace and name: `a` + `b-c` and `a-b` + `c` meet.
    let values = "workloads:\n  b-c:\n    namespace: a\n    ports: {http: {port: 80}}\n  c:\n    namespace: a-b\n    ports: {http: {port: 81}}\n";
    let (code, _, stderr) = run_on(
        &["render", "-f", "VALUES", "--engine", "clusterNetworkPolicy", "--error-format", "json"],
        values,
    );
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stderr).expect("JSON diagnostics");
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "NP005", "{stderr}");
    assert!(d["origin"].is_object() && d["related"].as_array().is_some_and(|r| !r.is_empty()), "{stderr}");
}

/// Topology and flows files get located, snippet-style errors with "did you mean", like values.
#[test]
fn topology_and_flows_errors_are_located_like_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_string_lossy().into_owned()
    };
    let manifests = write("m.yaml", "kind: List\nitems: []\n");
    let good_topology = write("t.yaml", "pods:\n  - {namespace: a, name: b, ip: 10.0.0.1}\n");
    let bad_topology = write("bad-t.yaml", "pods:\n  - {namespace: a, name: b, labls: {}}\n");
    let flows =
        write("f.yaml", "- {from: a/b, to: a/b, port: 80}\n- {from: a/b, to: a/b, port: 80, protcol: TCP}\n");
    let (code, _, stderr) = run_on(&["eval", "--manifests", &manifests, "--topology", &bad_topology], "");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("bad-t.yaml:2:29") && stderr.contains("did you mean `labels`?"), "{stderr}");
    let (code, _, stderr) =
        run_on(&["eval", "--manifests", &manifests, "--topology", &good_topology, "--flows", &flows], "");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("f.yaml:2:34") && stderr.contains("did you mean `protocol`?"), "{stderr}");
    assert!(stderr.contains("error[NP009]"), "{stderr}");
}

/// Passthrough rules are read with each engine's rule model before they are merged: a misspelt
/// field, a peer field of the other direction or a wrong type is a located error, on every
/// engine (the output would fail the official schema).
#[test]
fn passthrough_rules_are_checked_not_copied_blind() {
    let cases = [
        ("cilium", "ingress", "- fromEndpoint: [{matchLabels: {app: api}}]", "did you mean `fromEndpoints`?"),
        ("cilium", "egress", "- fromEndpoints: [{}]", "`fromEndpoints` is a field of ingress rules"),
        (
            "cilium",
            "egress",
            "- toPorts: [{ports: [{port: \"443\"}]}]\n          toCIDR: [notacidr]",
            "toCIDR",
        ),
        (
            "calico",
            "ingress",
            "- action: Allow\n          sorce: {selector: \"app == 'x'\"}",
            "did you mean `source`?",
        ),
        (
            "clusterNetworkPolicy",
            "egress",
            "- action: Accept\n          from: [{namespaces: {}}]",
            "`from` is a field of ingress rules",
        ),
        (
            "clusterNetworkPolicy",
            "ingress",
            "- actoin: Accept\n          from: [{namespaces: {}}]",
            "did you mean `action`?",
        ),
    ];
    for (engine, dir, rule, needle) in cases {
        let values = format!(
            "workloads:\n  web:\n    namespace: shop\n    ports:\n      http: {{port: 8080}}\n    {engine}:\n      {dir}:\n        {rule}\n"
        );
        for target in ["kubernetes", "cilium", "calico", "clusterNetworkPolicy"] {
            let (code, stdout, stderr) = run_on(&["render", "-f", "VALUES", "--engine", target], &values);
            assert_eq!(code, 1, "{engine} {dir} on {target}: {stderr}");
            assert!(stdout.is_empty());
            assert!(stderr.contains(needle), "{engine} {dir} on {target}: {stderr}");
            assert!(
                stderr.contains("values.yaml:8:") || stderr.contains("values.yaml:9:"),
                "located: {stderr}"
            );
        }
    }
}
