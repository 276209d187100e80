//! Render generated values with 100, 1,000 and 10,000 workloads for each engine: parse,
//! merge, lower, render and emit YAML, as `netpol render` does.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use netpol::engine::Engine;
use netpol::intent::lower::LowerOptions;
use netpol::render::render;
use netpol::values::Input;
use netpol::vocab::source::Sources;

#[path = "common/values.rs"]
mod values;
use values::generated_values;

fn bench_render(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("netpol-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut group = c.benchmark_group("render");
    group.sample_size(10);
    for n in [100usize, 1_000, 10_000] {
        let path = dir.join(format!("values-{n}.yaml"));
        let text = generated_values(n);
        std::fs::write(&path, &text).expect("write values");
        group.throughput(Throughput::Elements(n as u64));
        for engine in Engine::ALL {
            let inputs = [Input::File(path.to_string_lossy().into_owned())];
            let options = LowerOptions { engine: Some(engine), ..LowerOptions::default() };
            group.bench_with_input(BenchmarkId::new(engine.as_str(), n), &inputs, |b, inputs| {
                b.iter(|| {
                    let mut sources = Sources::default();
                    let mut no_stdin = || Ok(String::new());
                    let out = render(inputs, &options, &mut sources, &mut no_stdin).expect("renders");
                    netpol::emit::to_yaml(&out.manifests, &out.header).expect("YAML").len()
                })
            });
        }
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
