//! The evaluators' fast decision path (used by `check` and `matrix` on millions of flows) must
//! decide exactly as their explaining path (used by `explain`), and `check`'s two-thread walk
//! must find exactly what a plain walk over the derived flows finds.

use crate::common::examples;
use netpol::engine::Engine;
use netpol::eval::check::{
    check_engine_on, check_engines_flow_by_flow, check_engines_on, cni_of, objects_of,
};
use netpol::eval::derive::derive;
use netpol::eval::reference::IntentLayer;
use netpol::eval::{Cni, PolicySet};
use netpol::intent::Intent;
use netpol::intent::lower::LowerOptions;
use netpol::render::{lower_values, render_intent};
use netpol::values::Input;
use netpol::vocab::source::Sources;

fn intent_of(file: &std::path::Path) -> Option<Intent> {
    let inputs = [Input::File(file.to_string_lossy().into_owned())];
    let mut sources = Sources::default();
    let mut no_stdin = || Ok(String::new());
    let lowered = lower_values(&inputs, &LowerOptions::default(), &mut sources, &mut no_stdin).ok()?;
    lowered.disabled_reason.is_none().then_some(lowered.intent)
}

/// The intent's own policy set and every engine's that renders, each with its name.
fn policy_sets(intent: &Intent) -> Vec<(String, PolicySet)> {
    let mut sets = vec![(
        "intent".to_string(),
        PolicySet::from_layers(Cni::Kubernetes, vec![Box::new(IntentLayer::new(intent))]),
    )];
    for engine in Engine::ALL {
        let Ok((manifests, _)) = render_intent(engine, intent) else { continue };
        let objects = objects_of(&manifests).expect("reads back");
        sets.push((engine.to_string(), PolicySet::new(&objects, Some(cni_of(engine))).expect("policies")));
    }
    sets
}

#[test]
fn fast_and_explaining_paths_agree_on_every_flow_of_every_example() {
    for file in examples() {
        let Some(intent) = intent_of(&file) else { continue };
        let derived = derive(&intent);
        let flows = derived.flows();
        for (name, set) in policy_sets(&intent) {
            for spec in &flows {
                let flow = spec.resolve(&derived.topology).expect("derived flows resolve");
                let fast = set.allowed(&derived.topology, &flow);
                let explained = set.evaluate(&derived.topology, &flow);
                assert_eq!(
                    fast,
                    explained.allowed,
                    "{} on {name}: {} -> {} {}/{}: fast path and explanation disagree: {:?}",
                    file.display(),
                    spec.from,
                    spec.to,
                    flow.port,
                    flow.protocol.as_str(),
                    explained.steps
                );
            }
        }
    }
}

#[test]
fn check_finds_what_a_plain_walk_over_the_derived_flows_finds() {
    // 64 workloads over 4 namespaces, each admitting its neighbour and monitoring.
    let mut values = String::from(
        "cluster: {podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12}\nnamespaces:\n  ns-0: {defaultDeny: {ingress: true, egress: true}, allow: {dns: true, internet: true}}\nworkloads:\n",
    );
    for i in 0..64 {
        values.push_str(&format!(
            "  w-{i}:\n    namespace: ns-{}\n    podLabels: {{app: w-{i}}}\n    ports:\n      http: {{port: 8080, from: [{{podLabels: {{app: w-{}}}}}, {{namespace: monitoring}}]}}\n",
            i % 4,
            (i + 4) % 64
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, values).expect("write");
    let intent = intent_of(&file).expect("values lower");
    let derived = derive(&intent);
    // Enough endpoints that check splits its sources over two threads.
    assert!(derived.endpoints.len() > 64, "{} endpoints", derived.endpoints.len());
    let flows = derived.flows();
    let reference = PolicySet::from_layers(Cni::Kubernetes, vec![Box::new(IntentLayer::new(&intent))]);
    let mut engines_with_differences = 0;
    for engine in Engine::ALL {
        let Ok((manifests, _)) = render_intent(engine, &intent) else { continue };
        let objects = objects_of(&manifests).expect("reads back");
        let set = PolicySet::new(&objects, Some(cni_of(engine))).expect("policies");
        let mut expected = Vec::new();
        for spec in &flows {
            let flow = spec.resolve(&derived.topology).expect("resolves");
            let (want, got) = (
                reference.evaluate(&derived.topology, &flow).allowed,
                set.evaluate(&derived.topology, &flow).allowed,
            );
            if want != got {
                expected.push((
                    spec.from.clone(),
                    spec.to.clone(),
                    flow.port,
                    flow.protocol.as_str().to_string(),
                    want,
                    got,
                ));
            }
        }
        let report = check_engine_on(engine, &intent, &manifests, &derived).expect("judged");
        assert_eq!(report.flows, flows.len(), "{engine}");
        let found: Vec<_> = report
            .differences
            .iter()
            .map(|d| (d.from.clone(), d.to.clone(), d.port, d.protocol.clone(), d.intent, d.engine))
            .collect();
        assert_eq!(found, expected, "{engine}");
        engines_with_differences += usize::from(!expected.is_empty());
    }
    assert!(engines_with_differences > 0, "the walk compared nothing but agreement");
}

/// Judging by classes of pods that no policy tells apart finds, on every example and for all
/// engines at once, exactly the flows, differences, rules and limitations that judging every
/// flow on its own finds; and the classes do merge pods (else the test would prove nothing).
#[test]
fn judging_by_class_equals_judging_every_flow() {
    let mut merged_somewhere = false;
    for example in examples() {
        let Some(intent) = intent_of(&example) else { continue };
        let derived = derive(&intent);
        let rendered: Vec<_> = Engine::ALL
            .iter()
            .filter_map(|engine| render_intent(*engine, &intent).ok().map(|(m, _)| (*engine, m)))
            .collect();
        let judged: Vec<_> = rendered.iter().map(|(e, m)| (*e, m.as_slice())).collect();
        let by_class = check_engines_on(&judged, &intent, &derived).expect("judged");
        let every_flow = check_engines_flow_by_flow(&judged, &intent, &derived).expect("judged");
        assert_eq!(
            serde_json::to_value(&by_class).expect("json"),
            serde_json::to_value(&every_flow).expect("json"),
            "{}",
            example.display()
        );
        let mut sets: Vec<PolicySet> =
            vec![PolicySet::from_layers(Cni::Kubernetes, vec![Box::new(IntentLayer::new(&intent))])];
        for (engine, manifests) in &rendered {
            let objects = objects_of(manifests).expect("reads back");
            sets.push(PolicySet::new(&objects, Some(cni_of(*engine))).expect("policies"));
        }
        let endpoints: Vec<_> = derived
            .endpoints
            .iter()
            .map(|e| netpol::eval::Endpoint::parse(e, &derived.topology).expect("endpoint"))
            .collect();
        let all: Vec<&PolicySet> = sets.iter().collect();
        let classes =
            netpol::eval::classes::classes(&all, &derived.topology, &endpoints, netpol::eval::End::Source);
        merged_somewhere |= classes.members.len() < endpoints.len();
    }
    assert!(merged_somewhere, "no example has two pods in one class");
}

fn lowered(values: &str) -> Intent {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, values).expect("write");
    intent_of(&file).expect("values lower")
}

/// Above 512 items, lowering top-level workloads and rendering policies each run on two
/// threads; the output must be what one thread gives.
#[test]
fn threaded_lowering_and_rendering_give_the_single_thread_output() {
    let workload = |i: usize| {
        format!(
            "    namespace: ns-{}\n    ports:\n      http: {{port: 8080, from: [{{podLabels: {{app: w-{}}}}}]}}\n",
            i % 7,
            i + 1
        )
    };
    // The same 600 workloads at the top level (lowered on two threads) and under their
    // namespaces (lowered on one).
    let mut top = String::from("workloads:\n");
    let mut nested = String::from("namespaces:\n");
    for ns in 0..7 {
        nested.push_str(&format!("  ns-{ns}:\n    workloads:\n"));
        for i in (ns..600).step_by(7) {
            top.push_str(&format!("  w-{i}:\n{}", workload(i)));
            let indented: String = workload(i).lines().map(|l| format!("    {l}\n")).collect();
            nested.push_str(&format!("      w-{i}:\n{indented}"));
        }
    }
    let (threaded, single) = (lowered(&top), lowered(&nested));
    assert_eq!(threaded.policies.len(), 600);
    for engine in Engine::ALL {
        let (on_two_threads, _) = render_intent(engine, &threaded).expect("renders");
        let mut on_one_thread = engine.backend().render(&single).expect("renders").manifests;
        netpol::emit::sort(&mut on_one_thread);
        let yaml = |m: &[netpol::engine::Manifest]| m.iter().map(|m| m.yaml.clone()).collect::<Vec<_>>();
        assert_eq!(yaml(&on_two_threads), yaml(&on_one_thread), "{engine}");
    }
}

/// The matrix judged by classes writes, byte for byte, what judging every pair writes, in every
/// format, on every example with its derived topology and ports.
#[test]
fn matrix_by_class_equals_matrix_by_pair() {
    use netpol::eval::matrix::compute_with;
    for example in examples() {
        let Some(intent) = intent_of(&example) else { continue };
        let derived = derive(&intent);
        for engine in Engine::ALL {
            let Ok((manifests, _)) = render_intent(engine, &intent) else { continue };
            let objects = objects_of(&manifests).expect("reads back");
            let set = PolicySet::new(&objects, Some(cni_of(engine))).expect("policies");
            let [by_class, by_pair] = [true, false].map(|classes| {
                compute_with(&set, &derived.topology, &derived.endpoints, &derived.ports, false, classes)
            });
            type Writer = fn(&netpol::eval::matrix::Matrix, &mut dyn std::io::Write) -> std::io::Result<()>;
            let writers: [Writer; 3] = [
                netpol::eval::matrix::Matrix::write_table,
                netpol::eval::matrix::Matrix::write_csv,
                netpol::eval::matrix::Matrix::write_json,
            ];
            for write in writers {
                let [a, b] = [&by_class, &by_pair].map(|m| {
                    let mut out = Vec::new();
                    write(m, &mut out).expect("written");
                    String::from_utf8(out).expect("utf-8")
                });
                assert_eq!(a, b, "{} on {engine}", example.display());
            }
        }
    }
}

/// Both halves of a threaded render see the guardrails: under `--accept-weaker-guardrails` the
/// kubernetes engine spells "anyone" out minus the metadata address in every policy, not only
/// in the half rendered next to the guardrails.
#[test]
fn every_half_of_a_threaded_render_keeps_the_guardrails_exclusions() {
    let mut values = String::from(
        "cluster: {podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12, tenantLabel: tenant}\nguardrails:\n  denyMetadataService: true\nnamespaces:\n  shop:\n    labels: {tenant: a}\n    workloads:\n",
    );
    for i in 0..600 {
        values.push_str(&format!("      app-{i}:\n        egress:\n          enabled: true\n          to:\n            - ports: [443]\n"));
    }
    let mut intent = lowered(&values);
    intent.accept_weaker_guardrails = true;
    let (manifests, _) = render_intent(Engine::Kubernetes, &intent).expect("renders");
    assert_eq!(manifests.len(), 600);
    let open: Vec<&str> =
        manifests.iter().filter(|m| m.yaml.contains("cidr: 0.0.0.0/0")).map(|m| m.name.as_str()).collect();
    assert_eq!(open.len(), 600, "every policy spells out anyone");
    let unguarded: Vec<&str> = manifests
        .iter()
        .filter(|m| !m.yaml.contains("169.254.169.254/32"))
        .map(|m| m.name.as_str())
        .collect();
    assert!(unguarded.is_empty(), "policies that reach the metadata address: {unguarded:?}");
}
