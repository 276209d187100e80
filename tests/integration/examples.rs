//! Every example × every engine, snapshotted. A snapshot records either the rendered YAML or,
//! where the engine cannot express the example, the exact error a user would see.

use crate::common::examples;
use std::path::Path;

use netpol::engine::Engine;
use netpol::intent::lower::LowerOptions;
use netpol::render::{lower_values, render_intent};
use netpol::values::Input;
use netpol::vocab::source::Sources;

/// What `netpol render -f EXAMPLE --engine ENGINE` writes: on success its warnings (as YAML
/// comments) and stdout, on failure its stderr.
pub fn render_example(example: &Path, engine: Engine) -> (bool, String) {
    let out = crate::common::netpol()
        .env_remove("NO_COLOR")
        .args(["render", "-f"])
        .arg(example)
        .args(["--engine", engine.as_str()])
        .output()
        .expect("runs");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 stdout");
    let stderr = String::from_utf8(out.stderr).expect("UTF-8 stderr");
    if out.status.success() {
        let warnings: String = stderr.lines().map(|l| format!("# {l}\n")).collect();
        (true, warnings + &stdout)
    } else {
        assert!(stdout.is_empty(), "{}: partial output on failure", example.display());
        (false, stderr)
    }
}

#[test]
fn every_example_for_every_engine_matches_its_snapshot() {
    let files = examples();
    assert!(files.len() >= 8, "examples/ lost files: {files:?}");
    for file in files {
        let stem = file.file_stem().and_then(|s| s.to_str()).expect("UTF-8 name").to_string();
        for engine in Engine::ALL {
            let (_, text) = render_example(&file, engine);
            insta::with_settings!({
                snapshot_path => "../../snapshots",
                prepend_module_to_snapshot => false,
                omit_expression => true,
                description => format!("netpol render -f {} --engine {engine}", file.display()),
            }, {
                insta::assert_snapshot!(format!("{stem}@{engine}"), text);
            });
        }
    }
}

/// The YAML the CLI writes reads back (as kubectl's reader would) to exactly the objects of
/// `-o json`: the writer loses, adds or retypes nothing.
#[test]
fn every_rendered_yaml_reads_back_to_the_json_objects() {
    for file in examples() {
        for engine in Engine::ALL {
            let run = |format: &str| {
                crate::common::netpol()
                    .args(["render", "-f"])
                    .arg(&file)
                    .args(["--engine", engine.as_str(), "-o", format])
                    .output()
                    .expect("runs")
            };
            let yaml = run("yaml");
            if !yaml.status.success() {
                continue;
            }
            let json: serde_json::Value =
                serde_json::from_slice(&run("json").stdout).expect("-o json is JSON");
            let text = String::from_utf8(yaml.stdout).expect("UTF-8");
            let documents: Vec<serde_json::Value> =
                serde_saphyr::from_multiple(&text).expect("the YAML reads back");
            let documents: Vec<serde_json::Value> = documents.into_iter().filter(|d| !d.is_null()).collect();
            assert_eq!(
                Some(&serde_json::Value::Array(documents)),
                json.get("items"),
                "{} for {engine}",
                file.display()
            );
        }
    }
}

/// `netpol check` for every example: one intent, every engine that renders it judged by its
/// own semantics on the one topology derived from that intent, agrees on every flow (or
/// differs only by a documented limitation).
#[test]
fn every_example_passes_check_against_one_intent() {
    for file in examples() {
        let inputs = [Input::File(file.to_string_lossy().into_owned())];
        let mut sources = Sources::default();
        let mut no_stdin = || Ok(String::new());
        let lowered = lower_values(&inputs, &LowerOptions::default(), &mut sources, &mut no_stdin)
            .unwrap_or_else(|e| panic!("{}: {:?}", file.display(), e.diagnostics()));
        if lowered.disabled_reason.is_some() {
            continue;
        }
        let intent = lowered.intent;
        let derived = netpol::eval::derive::derive(&intent);
        let mut judged = 0;
        for engine in Engine::ALL {
            let Ok((manifests, warnings)) = render_intent(engine, &intent) else { continue };
            judged += 1;
            let report = netpol::eval::check::check_engine_on(engine, &intent, &manifests, &derived)
                .unwrap_or_else(|e| panic!("{} for {engine}: {:?}", file.display(), e.diagnostics()));
            assert!(report.flows > 0, "{} for {engine}: nothing judged", file.display());
            let unexplained: Vec<_> = report.differences.iter().filter(|d| d.limitation.is_none()).collect();
            assert!(
                unexplained.is_empty(),
                "{} for {engine}: {} flows differ, e.g. {:#?}",
                file.display(),
                unexplained.len(),
                unexplained.iter().take(3).collect::<Vec<_>>()
            );
            // What check files under a limitation, render announced: a warning names the
            // namespace of the pod whose policy is affected.
            let messages: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();
            for d in &report.differences {
                assert!(
                    crate::common::announced(d, &warnings),
                    "{} for {engine}: {} -> {} differs ({:?}) and render said nothing about it: {messages:#?}",
                    file.display(),
                    d.from,
                    d.to,
                    d.limitation
                );
            }
        }
        assert!(judged > 0, "{}: no engine renders it", file.display());
    }
}

#[test]
fn rendering_twice_gives_the_same_bytes() {
    for file in examples() {
        for engine in Engine::ALL {
            assert_eq!(render_example(&file, engine), render_example(&file, engine), "{}", file.display());
        }
    }
}
