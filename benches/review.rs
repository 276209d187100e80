//! `netpol diff` and `netpol docs` on values with 1,000 workloads (the render benchmark's
//! values), exactly as the command line runs them: parse, lower, render, judge, lay out.
//! `diff` changes one workload's port, the shape of a typical pull request.

use clap::Parser;
use criterion::{Criterion, criterion_group, criterion_main};

use netpol::cli::{Cli, Command, review};
use netpol::vocab::source::Sources;

#[path = "common/values.rs"]
mod values;
use values::generated_values;

fn parsed(args: &[&str]) -> Command {
    Cli::try_parse_from(std::iter::once("netpol").chain(args.iter().copied()))
        .expect("arguments parse")
        .command
}

fn bench_review(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("netpol-review-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("values-1000.yaml");
    std::fs::write(&path, generated_values(1_000)).expect("write values");
    let values = path.to_string_lossy().into_owned();
    let mut group = c.benchmark_group("review-1000-workloads");
    group.sample_size(10);

    let Command::Diff(diff) =
        parsed(&["diff", "--base", &values, "-f", &values, "--set", "workloads.app-5.ports.http.port=8081"])
    else {
        unreachable!("a diff command")
    };
    group.bench_function("diff-one-workload-changed", |b| {
        b.iter(|| review::diff(&diff, false, &mut Sources::default()).expect("diffs").0.len())
    });
    let Command::Diff(diff_markdown) = parsed(&[
        "diff",
        "--base",
        &values,
        "-f",
        &values,
        "--set",
        "workloads.app-5.ports.http.port=8081",
        "-o",
        "markdown",
    ]) else {
        unreachable!("a diff command")
    };
    group.bench_function("diff-markdown", |b| {
        b.iter(|| review::diff(&diff_markdown, false, &mut Sources::default()).expect("diffs").0.len())
    });
    for format in ["markdown", "html", "dot"] {
        let Command::Docs(docs) = parsed(&["docs", "-f", &values, "-o", format]) else {
            unreachable!("a docs command")
        };
        group.bench_function(format!("docs-{format}"), |b| {
            b.iter(|| review::docs(&docs, &mut Sources::default()).expect("documents").0.len())
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench_review);
criterion_main!(benches);
