//! Every example × every engine, snapshotted. A snapshot records either the rendered YAML or,
//! where the engine cannot express the example, the exact error a user would see.

use std::path::Path;

use netpol::engine::Engine;
use netpol::intent::lower::LowerOptions;
use netpol::render::render;
use netpol::values::Input;
use netpol::values::node::Sources;

/// Render `example` for `engine`: YAML on success, the diagnostics (plain text) on failure.
pub fn render_example(example: &Path, engine: Engine) -> (bool, String) {
    let inputs = [Input::File(example.to_string_lossy().into_owned())];
    let options = LowerOptions { engine: Some(engine), ..LowerOptions::default() };
    let mut sources = Sources::default();
    let mut no_stdin = || Ok(String::new());
    match render(&inputs, &options, &mut sources, &mut no_stdin) {
        Ok(out) => {
            let mut text = String::new();
            for w in &out.warnings {
                text.push_str(&format!(
                    "# {}\n",
                    netpol::diag::human(w, Some(&sources), false).replace('\n', "\n# ")
                ));
            }
            (true, text + &netpol::emit::to_yaml(&out.manifests, &out.header).expect("YAML"))
        }
        Err(e) => (
            false,
            e.diagnostics()
                .iter()
                .map(|d| netpol::diag::human(d, Some(&sources), false))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    }
}

fn examples() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir("examples")
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
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
                snapshot_path => "../snapshots",
                prepend_module_to_snapshot => false,
                omit_expression => true,
                description => format!("netpol render -f {} --engine {engine}", file.display()),
            }, {
                insta::assert_snapshot!(format!("{stem}@{engine}"), text);
            });
        }
    }
}

#[test]
fn every_rendered_object_reads_back_to_the_same_yaml() {
    for file in examples() {
        let mut outputs = Vec::new();
        for engine in Engine::ALL {
            let inputs = [Input::File(file.to_string_lossy().into_owned())];
            let options = LowerOptions { engine: Some(engine), ..LowerOptions::default() };
            let mut sources = Sources::default();
            let mut no_stdin = || Ok(String::new());
            match render(&inputs, &options, &mut sources, &mut no_stdin) {
                Ok(output) if output.disabled_reason.is_none() => outputs.push(output),
                _ => {}
            }
        }
        assert!(!outputs.is_empty(), "{}: no engine renders it", file.display());
        let derived = netpol::eval::check::derive_common(outputs.iter().map(|o| &o.intent));
        for output in &outputs {
            let engine = output.engine;
            let report =
                netpol::eval::check::check_engine_on(engine, &output.intent, &output.manifests, &derived)
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
        }
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

/// `netpol check` for every example: each engine that renders it, judged by its own semantics
/// on the topology derived from the example, agrees with the intent on every flow (or differs
/// only by a documented limitation).
#[test]
fn every_example_passes_check() {
    for file in examples() {
        for engine in Engine::ALL {
            let inputs = [Input::File(file.to_string_lossy().into_owned())];
            let options = LowerOptions { engine: Some(engine), ..LowerOptions::default() };
            let mut sources = Sources::default();
            let mut no_stdin = || Ok(String::new());
            let Ok(output) = render(&inputs, &options, &mut sources, &mut no_stdin) else { continue };
            if output.disabled_reason.is_some() {
                continue;
            }
            let report = netpol::eval::check::check_engine(engine, &output.intent, &output.manifests)
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
        }
    }
}
