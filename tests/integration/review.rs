//! `diff`, `docs`, `test` and `probe`: the library's answers checked against brute force, and
//! the commands end to end.

use netpol::engine::Engine;
use netpol::eval::derive::derive_all;
use netpol::intent::Intent;
use netpol::intent::lower::LowerOptions;
use netpol::review::diff::{Side, diff_engine_with};
use netpol::review::render_for;
use netpol::values::Input;
use netpol::vocab::source::Sources;

use crate::common::{examples, run, stdout_of, write};

fn intent_of(path: &std::path::Path) -> Intent {
    let inputs = [Input::File(path.display().to_string())];
    let mut sources = Sources::default();
    let mut no_stdin = || Ok(String::new());
    netpol::render::lower_values(&inputs, &LowerOptions::default(), &mut sources, &mut no_stdin)
        .expect("example lowers")
        .intent
}

/// Changes a reviewer sees every day: a policy removed, a rule removed, a peer removed.
fn changes_of(intent: &Intent) -> Vec<(String, Intent)> {
    let mut changes = Vec::new();
    let count = intent.policies.len();
    for k in [0, count / 3, count / 2, count.saturating_sub(1)] {
        let Some(policy) = intent.policies.get(k) else { continue };
        let mut without = intent.clone();
        without.policies.remove(k);
        changes.push((format!("without policy {}/{}", policy.namespace, policy.name), without));
        for (direction, rules) in [("ingress", &policy.ingress), ("egress", &policy.egress)] {
            if rules.as_ref().is_some_and(|r| !r.is_empty()) {
                let mut fewer = intent.clone();
                if let Some(p) = fewer.policies.get_mut(k) {
                    let list = if direction == "ingress" { &mut p.ingress } else { &mut p.egress };
                    if let Some(list) = list {
                        list.remove(0);
                    }
                }
                changes.push((format!("policy {} without its first {direction} rule", policy.name), fewer));
            }
        }
    }
    changes
}

#[test]
fn diff_judging_only_flows_a_changed_object_decides_finds_what_judging_every_flow_finds() {
    let mut compared = 0;
    let mut with_changes = 0;
    for path in examples() {
        let base = intent_of(&path);
        for (what, new) in changes_of(&base) {
            let derived = derive_all(&[&new, &base]);
            for engine in Engine::ALL {
                let (Ok((before, _)), Ok((after, _))) =
                    (render_for(engine, &base, None), render_for(engine, &new, None))
                else {
                    continue;
                };
                let old = Side { objects: &before.objects, policies: &before.policies };
                let now = Side { objects: &after.objects, policies: &after.policies };
                let pruned = diff_engine_with(engine.as_str(), &old, &now, &derived, true).expect("pruned");
                let every =
                    diff_engine_with(engine.as_str(), &old, &now, &derived, false).expect("every flow");
                assert_eq!(
                    pruned.flow_changes(),
                    every.flow_changes(),
                    "{} {what} on {engine}: pruning lost or invented changes",
                    path.display()
                );
                assert!(pruned.judged <= every.judged);
                compared += 1;
                with_changes += usize::from(!every.flow_changes().is_empty());
            }
        }
    }
    assert!(compared > 100, "compared {compared} changes");
    assert!(with_changes * 2 > compared, "most changes change some flow: {with_changes} of {compared}");
}

#[test]
fn an_unchanged_policy_set_judges_no_flow_and_changes_nothing() {
    let path = std::path::Path::new("examples/lucity.yaml");
    let intent = intent_of(path);
    let derived = derive_all(&[&intent]);
    for engine in Engine::ALL {
        let Ok((rendered, _)) = render_for(engine, &intent, None) else { continue };
        let side = Side { objects: &rendered.objects, policies: &rendered.policies };
        let diff = diff_engine_with(engine.as_str(), &side, &side, &derived, true).expect("diff");
        assert_eq!((diff.judged, diff.flow_changes().len()), (0, 0), "{engine}");
        assert!(diff.objects.unchanged > 0 && diff.objects.changed.is_empty());
    }
}

fn snapshot(name: &str, command: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => "../../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => command.to_string(),
    }, {
        insta::assert_snapshot!(name.to_string(), text);
    });
}

const LUCITY: &str = "examples/lucity.yaml";
const LUCITY_TESTS: &str = "examples/tests/lucity.yaml";
const LUCITY_CHANGE: &str = "examples/changes/lucity-docs-metrics.yaml";

#[test]
fn test_passes_the_lucity_expectations_on_every_engine() {
    let (code, out, err) = run(&["test", "-f", LUCITY, "--flows", LUCITY_TESTS, "--engine", "all"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with("44 passed, 0 failed\n"), "{out}");
    snapshot(
        "test@lucity",
        "netpol test -f examples/lucity.yaml --flows examples/tests/lucity.yaml --engine all",
        &out,
    );
}

#[test]
fn a_failing_expectation_prints_the_deciding_rule_and_exits_3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = write(
        dir.path(),
        "flows.yaml",
        "- {from: lucity-builds/buildkit, to: apiserver, port: 443, allowed: true}\n\
         - {from: lucity-builds/buildkit, to: lucity-system/lucity-infra-zot, port: 5000, allowed: true}\n",
    );
    let (code, out, _) = run(&["test", "-f", LUCITY, "--flows", &flows]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains(
            "FAIL kubernetes: lucity-builds/buildkit -> apiserver 443/TCP: expected allowed, got denied"
        ),
        "{out}"
    );
    assert!(out.contains("decided by egress: deny: NetworkPolicy lucity-builds/"), "{out}");
    assert!(out.contains(&format!("({flows}:1:3)")), "{out}");
    assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
    let (code, junit, _) = run(&["test", "-f", LUCITY, "--flows", &flows, "-o", "junit"]);
    assert_eq!(code, 3);
    assert!(junit.starts_with("<?xml") && junit.contains(r#"tests="2" failures="1""#), "{junit}");
    assert_eq!(junit.matches("<failure ").count(), 1, "{junit}");
    let (code, json, _) = run(&["test", "-f", LUCITY, "--flows", &flows, "-o", "json"]);
    assert_eq!(code, 3);
    let report: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(report["failed"], 1);
    assert_eq!(report["engines"][0]["cases"][0]["passed"], false);
}

#[test]
fn test_refuses_flows_without_expectations_or_unknown_pods_at_their_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = write(
        dir.path(),
        "flows.yaml",
        "- {from: lucity-builds/buildkit, to: apiserver, port: 443}\n- {from: lucity-builds/nope, to: apiserver, port: 443, allowed: false}\n",
    );
    let (code, out, err) = run(&["test", "-f", LUCITY, "--flows", &flows]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("error[NP004]: the flow lucity-builds/buildkit -> apiserver says no expected verdict"),
        "{err}"
    );
    assert!(err.contains(&format!("{flows}:1:3")) && err.contains(&format!("{flows}:2:3")), "{err}");
    assert!(err.contains("no pod `lucity-builds/nope` in the topology"), "{err}");
}

#[test]
fn test_of_manifests_needs_a_topology_and_json_takes_no_template() {
    let (code, _, err) = run(&["test", "--manifests", LUCITY, "--flows", LUCITY_TESTS]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--manifests needs --topology"), "{err}");
    let (code, _, err) =
        run(&["test", "-f", LUCITY, "--flows", LUCITY_TESTS, "-o", "json", "--template", LUCITY]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn test_of_rendered_manifests_in_the_derived_topology_agrees_with_test_of_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = write(dir.path(), "out.yaml", &stdout_of(&["render", "-f", LUCITY]));
    let topology = write(dir.path(), "topology.yaml", &stdout_of(&["topology", "-f", LUCITY]));
    let (code, out, err) =
        run(&["test", "--manifests", &manifests, "--topology", &topology, "--flows", LUCITY_TESTS]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("manifests (cni kubernetes): 11 passed, 0 failed"), "{out}");
}

#[test]
fn eval_honours_expectations_and_exits_3_when_one_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = write(dir.path(), "out.yaml", &stdout_of(&["render", "-f", LUCITY]));
    let topology = write(dir.path(), "topology.yaml", &stdout_of(&["topology", "-f", LUCITY]));
    let (code, out, err) =
        run(&["eval", "--manifests", &manifests, "--topology", &topology, "--flows", LUCITY_TESTS]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("expected: ").count(), 11, "{out}");
    let wrong = write(
        dir.path(),
        "flows.yaml",
        "- {from: lucity-builds/buildkit, to: apiserver, port: 443, allowed: true}\n",
    );
    let (code, _, err) =
        run(&["eval", "--manifests", &manifests, "--topology", &topology, "--flows", &wrong]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("1 of 1 expectations failed"), "{err}");
}

#[test]
fn a_broken_template_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let template = write(dir.path(), "broken.j2", "{{ passed }}\n{% for %}\n");
    let (code, out, err) = run(&["test", "-f", LUCITY, "--flows", LUCITY_TESTS, "--template", &template]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("error[NP011]") && err.contains(&format!("{template}:2:")), "{err}");
    let custom = write(dir.path(), "summary.j2", "{{ passed }}/{{ total }}\n");
    let out = stdout_of(&["test", "-f", LUCITY, "--flows", LUCITY_TESTS, "--template", &custom]);
    assert_eq!(out, "11/11\n");
}

#[test]
fn diff_lists_the_flows_a_change_opens_and_closes() {
    let args = ["diff", "--base", LUCITY, "-f", LUCITY, "-f", LUCITY_CHANGE];
    let (code, text, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("to lucity-system/lucity-docs\n    + from monitoring/netpol-plain: 9100/TCP"),
        "{text}"
    );
    assert!(text.contains("become denied") && text.contains("to ip:198.51.100.10"), "{text}");
    assert!(
        text.contains("~ NetworkPolicy lucity-system/lucity-docs")
            && text.contains("- NetworkPolicy lucity-builds/allow-internet"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "no colour off a terminal");
    snapshot(
        "diff@lucity.text",
        "netpol diff --base examples/lucity.yaml -f examples/lucity.yaml -f examples/changes/lucity-docs-metrics.yaml",
        &text,
    );
    let markdown = stdout_of(&[&args[..], &["-o", "markdown", "--engine", "all"]].concat());
    assert!(markdown.contains("(only on kubernetes, calico, clusterNetworkPolicy)"), "{markdown}");
    snapshot("diff@lucity.markdown", "netpol diff … -o markdown --engine all", &markdown);
    let json: serde_json::Value =
        serde_json::from_str(&stdout_of(&[&args[..], &["-o", "json"]].concat())).expect("JSON");
    assert_eq!(json["widening"], true);
    assert_eq!(json["added_count"], 1);
    let (code, _, _) = run(&[&args[..], &["--fail-on-widening"]].concat());
    assert_eq!(code, 3, "a widening change fails with --fail-on-widening");
    let narrowing = [
        "diff",
        "--base",
        LUCITY,
        "-f",
        LUCITY,
        "--set",
        "namespaces.lucity-builds.allow.internet=false",
        "--fail-on-widening",
    ];
    let (code, text, _) = run(&narrowing);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("flows become denied") && !text.contains("allowed:"), "{text}");
}

#[test]
fn diff_against_manifests_from_a_cluster_sees_no_change_in_the_same_policies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = write(dir.path(), "out.yaml", &stdout_of(&["render", "-f", LUCITY]));
    let text = stdout_of(&["diff", "--base-manifests", &manifests, "-f", LUCITY]);
    assert!(text.starts_with("No flow changes its verdict."), "{text}");
    let text = stdout_of(&["diff", "--base-manifests", &manifests, "-f", LUCITY, "-f", LUCITY_CHANGE]);
    assert!(text.contains("+ from monitoring/netpol-plain: 9100/TCP"), "{text}");
}

#[test]
fn diff_needs_a_base_and_reads_standard_input_for_one_side_only() {
    let (code, _, err) = run(&["diff", "-f", LUCITY]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("give the base"), "{err}");
    let (code, _, err) = run(&["diff", "-f", "-", "--base-set", "release=x"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["diff", "-f", LUCITY, "--base", LUCITY, "--base-manifests", LUCITY]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn docs_writes_the_tables_of_the_source_pages() {
    let markdown = stdout_of(&["docs", "-f", LUCITY]);
    assert!(markdown.contains("## Namespace `lucity-builds`"), "{markdown}");
    assert!(markdown.contains("| **buildkit**<br>app.kubernetes.io/name=lucity-buildkit | pods lucity.dev/component=build of the namespace, pods app.kubernetes.io/component=builder in namespace lucity-system: 1234/TCP (buildkit)"), "{markdown}");
    assert!(markdown.contains("```mermaid\nflowchart LR\n"), "{markdown}");
    snapshot("docs@lucity.markdown", "netpol docs -f examples/lucity.yaml", &markdown);
    let html = stdout_of(&["docs", "-f", LUCITY, "-o", "html"]);
    assert!(
        html.starts_with("<!DOCTYPE html>") && !html.contains("<script") && !html.contains("src="),
        "self-contained"
    );
    let dot = stdout_of(&["docs", "-f", LUCITY, "-o", "dot"]);
    assert!(dot.starts_with("digraph netpol {") && dot.trim_end().ends_with('}'), "{dot}");
    snapshot("docs@lucity.dot", "netpol docs -f examples/lucity.yaml -o dot", &dot);
    let json: serde_json::Value =
        serde_json::from_str(&stdout_of(&["docs", "-f", LUCITY, "-o", "json"])).expect("JSON");
    assert!(json["graph"]["edges"].as_array().is_some_and(|e| e.len() > 10));
    for example in examples() {
        let path = example.display().to_string();
        for format in ["markdown", "html", "dot", "mermaid", "json"] {
            let (code, _, err) = run(&["docs", "-f", &path, "-o", format]);
            assert_eq!(code, 0, "docs -f {path} -o {format}: {err}");
        }
    }
}

#[test]
fn probe_writes_a_script_that_proves_enforcement_first_and_000s_checks() {
    let script = stdout_of(&["probe", "-f", LUCITY]);
    assert!(script.starts_with("#!/bin/sh\n") && script.contains("\nset -eu\n"), "{script}");
    let enforcement = script.find("# Are policies enforced at all?").expect("enforcement first");
    let first_probe = script[enforcement..].find("\nprobe '").map(|i| i + enforcement);
    assert!(
        script.find("\n# ingress: ").or(script.find("\n# egress: ")) > first_probe,
        "the enforcement probe comes first"
    );
    for line in [
        "probe 'lucity-builds/buildkit -> kubernetes.default.svc 443/TCP'",
        "probe 'lucity-builds/buildkit -> lucity-system/lucity-gateway 8080/TCP'",
        "probe 'lucity-builds/buildkit -> lucity-system/lucity-infra-zot 5000/TCP'",
    ] {
        assert!(script.contains(line), "{line}");
    }
    let expect =
        |line: &str| script.lines().find(|l| l.starts_with(line)).and_then(|l| l.split(' ').next_back());
    assert_eq!(expect("probe 'lucity-builds/buildkit -> kubernetes.default.svc 443/TCP'"), Some("closed"));
    assert_eq!(
        expect("probe 'lucity-builds/buildkit -> lucity-system/lucity-gateway 8080/TCP'"),
        Some("closed")
    );
    assert_eq!(
        expect("probe 'lucity-builds/buildkit -> lucity-system/lucity-infra-zot 5000/TCP'"),
        Some("open")
    );
    snapshot("probe@lucity", "netpol probe -f examples/lucity.yaml", &script);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "probe.sh", &script);
    let syntax = std::process::Command::new("sh").args(["-n", &path]).status().expect("sh runs");
    assert!(syntax.success(), "sh -n");
    if let Ok(status) = std::process::Command::new("shellcheck").args(["-s", "sh", &path]).status() {
        assert!(status.success(), "shellcheck");
    }
    let job = stdout_of(&["probe", "-f", LUCITY, "-o", "job", "--job-namespace", "probes"]);
    let kinds: Vec<&str> = job.lines().filter_map(|l| l.strip_prefix("kind: ")).collect();
    assert_eq!(kinds, ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Job"]);
    assert!(job.contains("namespace: probes") && job.contains("probe.sh: "), "{job}");
    let (code, _, err) = run(&["probe", "-f", LUCITY, "--internet-address", "example.com"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn the_review_commands_write_the_same_bytes_every_run() {
    for args in [
        &["docs", "-f", LUCITY][..],
        &["probe", "-f", LUCITY],
        &["diff", "--base", LUCITY, "-f", LUCITY, "-f", LUCITY_CHANGE, "--engine", "all"],
        &["test", "-f", LUCITY, "--flows", LUCITY_TESTS, "--engine", "all"],
    ] {
        assert_eq!(stdout_of(args), stdout_of(args), "{args:?}");
    }
}

#[test]
fn every_format_of_every_review_command_matches_its_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let failing = write(
        dir.path(),
        "flows.yaml",
        "- {from: lucity-builds/buildkit, to: apiserver, port: 443, allowed: true}\n\
         - {from: lucity-builds/buildkit, to: lucity-system/lucity-infra-zot, port: 5000, allowed: true}\n",
    );
    let (_, junit, _) = run(&["test", "-f", LUCITY, "--flows", &failing, "-o", "junit"]);
    snapshot(
        "test@lucity.junit",
        "netpol test -f examples/lucity.yaml --flows FLOWS -o junit (one failing)",
        &junit.replace(&failing, "FLOWS").replace(&failing.replace('/', "&#x2f;"), "FLOWS"),
    );
    for (format, name) in [("html", "docs@lucity.html"), ("mermaid", "docs@lucity.mermaid")] {
        let text = stdout_of(&["docs", "-f", LUCITY, "-o", format]);
        snapshot(name, &format!("netpol docs -f examples/lucity.yaml -o {format}"), &text);
    }
    let job = stdout_of(&["probe", "-f", LUCITY, "-o", "job"]);
    snapshot("probe@lucity.job", "netpol probe -f examples/lucity.yaml -o job", &job);
}

#[test]
fn diff_and_test_work_on_every_example() {
    let dir = tempfile::tempdir().expect("tempdir");
    for example in examples() {
        let path = example.display().to_string();
        let (code, text, err) = run(&["diff", "--base", &path, "-f", &path, "--engine", "all"]);
        assert_eq!(code, 0, "{path}: {err}");
        assert!(text.starts_with("No flow changes its verdict."), "{path}: {text}");
        // Expectations written from the verdicts `eval` gives the rendered policies hold in
        // `test`, on the same derived topology.
        let (code, manifests, _) = run(&["render", "-f", &path]);
        if code != 0 {
            continue;
        }
        let manifests = write(dir.path(), "out.yaml", &manifests);
        let topology = write(dir.path(), "topology.yaml", &stdout_of(&["topology", "-f", &path]));
        let flows: Vec<serde_json::Value> = serde_json::from_str(&stdout_of(&[
            "eval",
            "--manifests",
            &manifests,
            "--topology",
            &topology,
            "-o",
            "json",
        ]))
        .expect("JSON");
        let expectations: String = flows
            .iter()
            .step_by(flows.len() / 40 + 1)
            .map(|f| {
                format!(
                    "- {{from: {}, to: {}, port: {}, protocol: {}, allowed: {}}}\n",
                    f["from"], f["to"], f["port"], f["protocol"], f["allowed"]
                )
            })
            .collect();
        let expected = write(dir.path(), "expect.yaml", &expectations);
        let (code, out, err) = run(&["test", "-f", &path, "--flows", &expected]);
        assert_eq!(code, 0, "{path}: {out}{err}");
        assert!(out.ends_with(" 0 failed\n") && !out.starts_with("0 passed"), "{path}: {out}");
    }
}
