//! `netpol lint`: every rule's README examples (bad found, good silent), ignores, output
//! formats, exit codes, and the shipped examples linting clean.

use std::collections::BTreeSet;

use crate::common::{examples, run, run_on, write};

/// One example of the README's "Lint rules": (code, bad?, manifests?, text).
fn readme_examples() -> Vec<(String, bool, bool, String)> {
    let readme = std::fs::read_to_string("README.md").expect("README");
    let mut out = Vec::new();
    for block in readme.split("```yaml\n").skip(1) {
        let Some(body) = block.split("```").next() else { continue };
        let Some(header) = body.lines().next().and_then(|l| l.strip_prefix("# lint-example: ")) else {
            continue;
        };
        let words: Vec<&str> = header.split_whitespace().collect();
        let [code, kind, input] = words.as_slice() else { panic!("bad lint-example header: {header}") };
        out.push((code.to_string(), *kind == "bad", *input == "manifests", body.to_string()));
    }
    out
}

/// The codes of the findings that count, from `-o json`.
fn codes(json: &str) -> Vec<String> {
    let report: serde_json::Value = serde_json::from_str(json).expect("lint JSON");
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().unwrap_or("").to_string())
        .collect()
}

fn lint_text(text: &str, manifests: bool, extra: &[&str]) -> (i32, String, String) {
    let flag = if manifests { "--manifests" } else { "-f" };
    let mut args = vec!["lint", flag, "VALUES"];
    args.extend_from_slice(extra);
    run_on(&args, text)
}

#[test]
fn every_rule_has_a_bad_and_a_good_readme_example() {
    let examples = readme_examples();
    let all: BTreeSet<String> = (201..=216).map(|n| format!("NP{n}")).collect();
    for kind in [true, false] {
        let covered: BTreeSet<String> =
            examples.iter().filter(|e| e.1 == kind).map(|e| e.0.clone()).collect();
        assert_eq!(covered, all, "README examples (bad: {kind})");
    }
}

#[test]
fn lint_finds_each_bad_example_and_is_silent_on_each_good_one() {
    for (code, bad, manifests, text) in readme_examples() {
        let (status, out, err) = lint_text(&text, manifests, &["-o", "json"]);
        assert!(status == 0 || status == 1, "{code}: {err}");
        let found = codes(&out).iter().filter(|c| **c == code).count();
        if bad {
            assert!(found > 0, "{code}: the bad example is not reported\n{out}");
        } else {
            assert_eq!(found, 0, "{code}: the good example is reported\n{out}");
        }
    }
}

#[test]
fn the_shipped_examples_lint_clean_or_carry_their_ignores() {
    for path in examples() {
        let path = path.to_string_lossy().into_owned();
        let (status, out, err) = run(&["lint", "-f", &path, "--deny", "warnings", "-o", "json"]);
        assert_eq!(status, 0, "{path}: {err}{out}");
        assert_eq!(codes(&out), Vec::<String>::new(), "{path}: {out}");
    }
}

#[test]
fn errors_fail_the_run_and_deny_warnings_makes_warnings_errors() {
    let error = "workloads:\n  w:\n    namespace: shop\n    egress: {enabled: true, dns: false}\n";
    let (status, out, _) = run_on(&["lint", "-f", "VALUES"], error);
    assert_eq!(status, 1, "{out}");
    assert!(out.contains("error[NP205]"), "{out}");
    let warning = "namespaces:\n  shop:\n    defaultDeny: {ingress: true}\n";
    let (status, out, _) = run_on(&["lint", "-f", "VALUES"], warning);
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("warning[NP204]") && out.ends_with("lint: 0 errors, 1 warning, 0 notes\n"), "{out}");
    let (status, out, _) = run_on(&["lint", "-f", "VALUES", "--deny", "warnings"], warning);
    assert_eq!(status, 1, "{out}");
    assert!(out.contains("error[NP204]"), "{out}");
}

#[test]
fn lint_ignore_in_values_silences_by_code_and_path_and_counts_it() {
    let values = "\
lint:
  ignore:
    - code: NP203
      path: workloads.public
      reason: the storefront
workloads:
  public: {namespace: shop, ports: {http: {port: 8080}}}
  private: {namespace: shop, ports: {http: {port: 9090}}}
guardrails: {denyMetadataService: true}
namespaces: {shop: {defaultDeny: {ingress: true}}}
";
    let (_, out, err) = run_on(&["lint", "-f", "VALUES", "-o", "json"], values);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let open: Vec<&str> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["origin"]["path"].as_str())
        .collect();
    assert_eq!(open, ["workloads.private.ports.http"], "{out}");
    assert_eq!(report["summary"]["silenced"], 1, "{out}");
    assert_eq!(report["silenced"][0]["by"]["kind"], "values", "{out}");
    assert_eq!(report["silenced"][0]["by"]["reason"], "the storefront", "{out}");
    let (_, text, _) = run_on(&["lint", "-f", "VALUES"], values);
    assert!(text.contains("silenced (1):") && text.contains("1 silenced"), "{text}");
}

#[test]
fn an_inline_comment_silences_the_finding_on_its_line_or_below_it() {
    let values = "\
guardrails: {denyMetadataService: true}
namespaces: {shop: {defaultDeny: {ingress: true}}}
workloads:
  a: {namespace: shop, ports: {http: {port: 8080}}}  # netpol-lint: ignore NP203 -- public
  b:
    namespace: shop
    ports:
      # netpol-lint: ignore NP201, NP203
      http: {port: 9090}
  c: {namespace: shop, ports: {http: {port: 7070}}}  # netpol-lint: ignore NP201
";
    let (_, out, _) = run_on(&["lint", "-f", "VALUES", "-o", "json"], values);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let open: Vec<&str> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["origin"]["path"].as_str())
        .collect();
    assert_eq!(open, ["workloads.c.ports.http"], "{out}");
    assert_eq!(report["summary"]["silenced"], 2, "{out}");
    assert_eq!(report["silenced"][0]["by"]["kind"], "comment", "{out}");
}

#[test]
fn an_unknown_code_in_lint_ignore_is_an_error_at_its_line() {
    let values = "lint:\n  ignore:\n    - code: NP240\nnamespaces: {shop: {}}\n";
    let (status, _, err) = run_on(&["lint", "-f", "VALUES"], values);
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("`NP240` is not a lint rule code") && err.contains(":3:"), "{err}");
    assert!(err.contains("lint.ignore[0].code"), "{err}");
    // Render ignores the key: it is lint's.
    let (status, _, err) = run_on(&["render", "-f", "VALUES"], values);
    assert_eq!(status, 0, "{err}");
}

#[test]
fn sarif_has_every_rule_and_located_results_with_suppressions() {
    let values = "\
lint: {ignore: [{code: NP204}]}
workloads:
  a: {namespace: shop, ports: {http: {port: 8080}}}
";
    let (_, out, err) = run_on(&["lint", "-f", "VALUES", "-o", "sarif"], values);
    let log: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "netpol");
    assert_eq!(run["tool"]["driver"]["rules"].as_array().map(Vec::len), Some(16));
    let results = run["results"].as_array().expect("results");
    let open = results.iter().find(|r| r["ruleId"] == "NP203").expect("NP203 result");
    assert_eq!(open["level"], "warning");
    let region = &open["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 3, "{open}");
    assert_eq!(open["locations"][0]["logicalLocations"][0]["fullyQualifiedName"], "workloads.a.ports.http");
    let silenced = results.iter().find(|r| r["ruleId"] == "NP204").expect("NP204 result");
    assert_eq!(silenced["suppressions"][0]["kind"], "external", "{silenced}");
}

#[test]
fn manifests_findings_name_the_object_and_field_at_their_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = "\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  egress:
    - to: [{podSelector: {}}]
      ports: [{port: http}]
";
    let path = write(dir.path(), "policies.yaml", manifests);
    let (status, out, err) = run(&["lint", "--manifests", &path, "-o", "json"]);
    assert_eq!(status, 1, "{err}{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let named =
        report["findings"].as_array().into_iter().flatten().find(|f| f["code"] == "NP215").expect("NP215");
    assert_eq!(named["manifest"]["object"], "NetworkPolicy shop/api");
    assert_eq!(named["manifest"]["field"], "spec.egress[0].ports[0].port");
    assert_eq!(named["origin"]["line"], 8, "{named}");
    // Egress isolated without DNS is an error: the run fails.
    assert!(codes(&out).contains(&"NP205".to_string()), "{out}");
}

#[test]
fn with_a_topology_selectors_that_select_no_pod_are_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topology = write(
        dir.path(),
        "topology.yaml",
        "namespaces: [{name: shop}]\npods: [{namespace: shop, name: web-1, labels: {app.kubernetes.io/name: web}}]\n",
    );
    let values = "namespaces:\n  shop:\n    defaultDeny: {ingress: true}\n    workloads:\n      web: {ports: {http: {port: 80, from: [{podLabels: {app: gone}}]}}}\n";
    let (_, out, err) = run_on(&["lint", "-f", "VALUES", "--topology", &topology, "-o", "json"], values);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let nothing: Vec<&serde_json::Value> =
        report["findings"].as_array().into_iter().flatten().filter(|f| f["code"] == "NP208").collect();
    assert!(
        nothing.iter().any(|f| f["severity"] == "warning"
            && f["message"].as_str().is_some_and(|m| m.contains("selects no pod of the topology"))),
        "{out}"
    );
}

#[test]
fn usage_errors_of_lint() {
    let (status, _, err) = run(&["lint"]);
    assert_eq!(status, 2, "{err}");
    let (status, _, err) =
        run_on(&["lint", "-f", "VALUES", "-o", "json", "--template", "VALUES"], "namespaces: {}\n");
    assert_eq!(status, 2, "{err}");
    let (status, _, err) = run_on(&["lint", "-f", "VALUES", "--cni", "calico"], "namespaces: {}\n");
    assert_eq!(status, 2, "{err}");
}

#[test]
fn lint_text_of_lucity() {
    let (status, out, err) = run(&["lint", "-f", "examples/lucity.yaml"]);
    assert_eq!(status, 0, "{err}");
    insta::with_settings!({
        snapshot_path => "../../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => "netpol lint -f examples/lucity.yaml",
    }, {
        insta::assert_snapshot!("lint@lucity", out);
    });
}

/// The 001 page's pair, as manifests: Grafana may send to Keycloak, Keycloak's namespace
/// refuses it. The topology made from the objects has a pod for each peer the rules name.
#[test]
fn the_001_grafana_keycloak_pair_is_a_half_connection_in_manifests() {
    let manifests = "\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress, namespace: identity}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: grafana-to-keycloak, namespace: monitoring}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: grafana}}
  policyTypes: [Egress]
  egress:
    - to:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: identity}}
          podSelector: {matchLabels: {app.kubernetes.io/name: keycloak}}
      ports: [{port: 8080}]
    - to: [{namespaceSelector: {}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]
      ports: [{port: 53, protocol: UDP}]
";
    let (_, out, err) = lint_text(manifests, true, &["-o", "json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let half =
        report["findings"].as_array().into_iter().flatten().find(|f| f["code"] == "NP206").expect("NP206");
    assert_eq!(half["manifest"]["object"], "NetworkPolicy monitoring/grafana-to-keycloak", "{half}");
    assert_eq!(half["manifest"]["field"], "spec.egress[0]", "{half}");
    assert!(
        half["message"].as_str().is_some_and(|m| m.contains("8080/TCP") && m.contains("identity")),
        "{half}"
    );
    assert!(!codes(&out).contains(&"NP205".to_string()), "DNS is allowed: {out}");
}

#[test]
fn a_user_template_lays_out_the_text_report_and_cni_picks_the_evaluator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let template = write(
        dir.path(),
        "lint.j2",
        "{% for f in findings %}{{ f.code }} {{ f.severity }}\n{% endfor %}{{ errors }}/{{ warnings }}/{{ notes }}\n",
    );
    let values = "namespaces:\n  shop:\n    defaultDeny: {ingress: true}\n";
    let (status, out, err) = run_on(&["lint", "-f", "VALUES", "--template", &template], values);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "NP204 warning\n0/1/0\n");
    let manifests = "\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
";
    let (status, out, err) = lint_text(manifests, true, &["--cni", "calico", "-o", "json"]);
    assert_eq!(status, 0, "{err}");
    assert!(codes(&out).contains(&"NP204".to_string()), "{out}");
    assert!(!codes(&out).contains(&"NP201".to_string()), "the namespace denies ingress by default: {out}");
}
