//! `netpol lint` on values with 1,000 workloads over 50 namespaces (the render benchmark's
//! values), exactly as the command line runs it: parse, lower, derive, judge, lay out.

use clap::Parser;
use criterion::{Criterion, criterion_group, criterion_main};

use netpol::cli::{Cli, Command, lint};
use netpol::vocab::source::Sources;

#[path = "common/values.rs"]
mod values;
use values::generated_values;

fn bench_lint(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("netpol-lint-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("values-1000.yaml");
    std::fs::write(&path, generated_values(1_000)).expect("write values");
    let values = path.to_string_lossy().into_owned();
    let mut group = c.benchmark_group("lint-1000-workloads");
    group.sample_size(10);
    for format in ["text", "sarif"] {
        let parsed =
            Cli::try_parse_from(["netpol", "lint", "-f", &values, "-o", format]).expect("arguments parse");
        let Command::Lint(args) = parsed.command else { unreachable!("a lint command") };
        group.bench_function(format, |b| {
            b.iter(|| lint::lint(&args, false, &mut Sources::default()).expect("lints").0.len())
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench_lint);
criterion_main!(benches);
