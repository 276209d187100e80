//! `netpol check` at platform size: values with 300, 1,000 and 10,000 workloads (one port each, over
//! 20 namespaces) rendered for all four engines and judged against the one intent on every
//! derived flow, as `netpol check -f` does.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use netpol::engine::Engine;
use netpol::eval::check::check_engines_on;
use netpol::eval::derive::derive;
use netpol::intent::lower::LowerOptions;
use netpol::render::{lower_values, render_intent};
use netpol::values::Input;
use netpol::vocab::source::Sources;

fn simple_workloads(n: usize) -> String {
    let mut text = String::from("cluster: {podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12}\nworkloads:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  w-{i}:\n    namespace: ns-{}\n    ports:\n      http: {{port: 8080}}\n",
            i % 20
        ));
    }
    text
}

fn bench_check(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("netpol-check-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    for n in [300usize, 1_000, 10_000] {
        let path = dir.join(format!("values-{n}.yaml"));
        std::fs::write(&path, simple_workloads(n)).expect("write values");
        let inputs = [Input::File(path.to_string_lossy().into_owned())];
        group.bench_with_input(BenchmarkId::new("all-engines", n), &inputs, |b, inputs| {
            b.iter(|| {
                let mut sources = Sources::default();
                let mut no_stdin = || Ok(String::new());
                let lowered = lower_values(inputs, &LowerOptions::default(), &mut sources, &mut no_stdin)
                    .expect("lowers");
                let intent = lowered.intent;
                let rendered: Vec<_> = Engine::ALL
                    .iter()
                    .map(|engine| (*engine, render_intent(*engine, &intent).expect("renders").0))
                    .collect();
                let judged: Vec<_> = rendered.iter().map(|(e, m)| (*e, m.as_slice())).collect();
                let reports = check_engines_on(&judged, &intent, &derive(&intent)).expect("judged");
                reports.iter().map(|r| r.flows).sum::<usize>()
            })
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench_check);
criterion_main!(benches);
