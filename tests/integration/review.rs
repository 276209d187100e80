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
