//! A mutation fuzzer that runs on the stable toolchain: it mutates the shipped examples, their
//! rendered manifests, derived topologies and flows, and `--set` strings, and feeds them to
//! the library as the CLI would (including printing every diagnostic as a snippet). A panic or
//! an input that takes over 10 s fails the run and leaves the input under `target/fuzz/`.
//!
//! CI runs each target briefly. A long run of one target (targets: values, set, manifests,
//! topology, flows):
//!
//! ```text
//! NETPOL_FUZZ_SECONDS=1800 NETPOL_FUZZ_TARGET=values cargo test --release --test fuzz -- --ignored --nocapture
//! ```
//!
//! `NETPOL_FUZZ_SEED` replays a run.

use std::time::{Duration, Instant};

use netpol::engine::Engine;
use netpol::eval::{PolicySet, derive::derive};
use netpol::intent::lower::LowerOptions;
use netpol::render::{lower_values, render_intent};
use netpol::values::Input;
use netpol::vocab::source::Sources;

#[path = "integration/common.rs"]
mod common;

/// The slowest any one input may be.
const MAX_INPUT_TIME: Duration = Duration::from_secs(10);

/// xorshift64*: small, fast, and the same sequence on every machine for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

/// Fragments that YAML parsers, the values format and the snippet printer find interesting.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ": ",
    "- ",
    "\n",
    "  ",
    ",",
    "&a ",
    "*a",
    "!!str ",
    "!!int ",
    "null",
    "~",
    "0",
    "-1",
    "99999",
    "65536",
    "1e400",
    "\u{feff}",
    "é",
    "\u{0}",
    "\"",
    "'",
    "#",
    "|",
    ">",
    "? ",
    "<<: *a",
    "0.0.0.0/0",
    "::/0",
    "10.244.0.0/16",
    "port",
    "from",
    "to",
    "namespace",
    "workloads",
    "ports",
    "egress",
    "ingress",
    "cidr",
    "except",
    "podLabels",
    "fqdn",
    "entity",
    "true",
    "false",
    "yes",
    "on",
    "2024-01-01",
    "http",
    "UDP",
    "SCTP",
    "ICMP",
    "matchLabels",
    "podSelector",
    "namespaceSelector",
    "endpointSelector",
    "toFQDNs",
    "spec",
    "kind",
    "List",
];

fn mutate(rng: &mut Rng, text: &str, corpus: &[String]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b = [0u8, 0xff, 0xc3, b'\n', b':', b' ', b'-', rng.next() as u8][rng.below(8)];
                }
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                bytes.splice(at..at, token.bytes());
            }
            2 => {
                let end = (at + rng.below(64)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(256)).min(bytes.len());
                let copy: Vec<u8> = bytes[at..end].to_vec();
                let to = rng.below(bytes.len() + 1);
                bytes.splice(to..to, copy);
            }
            4 => {
                let other = &corpus[rng.below(corpus.len())];
                let lines: Vec<&str> = other.lines().collect();
                if !lines.is_empty() {
                    let line = format!("{}\n", lines[rng.below(lines.len())]);
                    bytes.splice(at..at, line.bytes());
                }
            }
            _ => {
                // Deep or long: nesting and huge scalars find stack and excerpt limits.
                let piece = if rng.below(2) == 0 {
                    "[".repeat(1 + rng.below(400))
                } else {
                    "x".repeat(rng.below(20_000))
                };
                bytes.splice(at..at, piece.bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Print every diagnostic of an error the way the CLI does (the snippet printer is a target
/// too).
fn print(error: &netpol::error::Error, sources: &Sources) {
    for d in error.diagnostics() {
        let _ = netpol::diag::human(&d, Some(sources), false);
    }
    let _ = netpol::diag::json(&error.diagnostics());
}

fn values_input(input: Input, text: String) {
    let text_again = text.clone();
    let mut sources = Sources::default();
    let mut stdin = move || Ok(text.clone());
    match lower_values(std::slice::from_ref(&input), &LowerOptions::default(), &mut sources, &mut stdin) {
        Ok(lowered) => {
            for d in &lowered.warnings {
                let _ = netpol::diag::human(d, Some(&sources), false);
            }
            for engine in Engine::ALL {
                if let Err(e) = render_intent(engine, &lowered.intent) {
                    print(&e, &sources);
                }
            }
            let _ = derive(&lowered.intent);
        }
        Err(e) => print(&e, &sources),
    }
    // Lint reads the same values: it must not panic on them either.
    let mut sources = Sources::default();
    if let Input::File(_) = &input {
        let mut stdin = move || Ok(text_again.clone());
        if let Ok((loaded, lowered)) =
            netpol::render::load_and_lower(&[input], &LowerOptions::default(), &mut sources, &mut stdin)
        {
            match netpol::lint::lint_values(&loaded, &lowered, None, &sources) {
                Ok(report) => report.findings.iter().for_each(|d| {
                    let _ = netpol::diag::human(d, Some(&sources), false);
                }),
                Err(e) => print(&e, &sources),
            }
        }
    }
}

/// One rendering of an example, its derived topology and flows: what the other targets mutate.
struct Seeds {
    values: Vec<String>,
    manifests: Vec<String>,
    topologies: Vec<String>,
    flows: Vec<String>,
}

fn seeds() -> Seeds {
    let values: Vec<String> =
        common::examples().iter().map(|p| std::fs::read_to_string(p).expect("example")).collect();
    let (mut manifests, mut topologies, mut flows) = (Vec::new(), Vec::new(), Vec::new());
    for text in &values {
        let mut sources = Sources::default();
        let t = text.clone();
        let mut stdin = move || Ok(t.clone());
        let Ok(lowered) =
            lower_values(&[Input::File("-".into())], &LowerOptions::default(), &mut sources, &mut stdin)
        else {
            continue;
        };
        for engine in Engine::ALL {
            if let Ok((m, _)) = render_intent(engine, &lowered.intent) {
                manifests.push(m.iter().map(|m| format!("---\n{}", m.yaml)).collect::<String>());
            }
        }
        let derived = derive(&lowered.intent);
        let yaml = |v: serde_json::Value| netpol::yaml::to_string(&v);
        topologies.push(yaml(serde_json::to_value(&derived.topology).expect("json")));
        flows.push(yaml(
            serde_json::to_value(derived.flows().into_iter().take(200).collect::<Vec<_>>()).expect("json"),
        ));
    }
    Seeds { values, manifests, topologies, flows }
}

fn evaluate(manifests: &str, topology: &str, flows: &str) {
    let mut sources = Sources::default();
    let topology = match netpol::eval::topology::read_with_sources(topology, "topology", &mut sources) {
        Ok(t) => t,
        Err(e) => return print(&e, &sources),
    };
    let flows = match netpol::eval::read_flows_with_sources(flows, "flows", &mut sources) {
        Ok(f) => f,
        Err(e) => return print(&e, &sources),
    };
    let policies =
        match netpol::eval::read_objects(manifests, "manifests").and_then(|o| PolicySet::new(&o, None)) {
            Ok(p) => p,
            Err(e) => return print(&e, &sources),
        };
    let resolvable: Vec<_> = flows.into_iter().filter(|f| f.resolve(&topology).is_ok()).collect();
    let _ = netpol::eval::judge(&policies, &topology, &resolvable);
    let endpoints: Vec<String> =
        topology.pods.iter().take(30).map(|p| format!("{}/{}", p.namespace, p.name)).collect();
    let m = netpol::eval::matrix::compute(&policies, &topology, &endpoints, &Default::default(), false);
    let _ = m.write_table(&mut std::io::sink());
    if let Ok(objects) = netpol::eval::read_objects(manifests, "manifests") {
        let mut sources = Sources::default();
        match netpol::lint::lint_manifests(
            &objects,
            &policies,
            manifests,
            "manifests",
            Some(&topology),
            &mut sources,
        ) {
            Ok(report) => report.findings.iter().for_each(|d| {
                let _ = netpol::diag::human(d, Some(&sources), false);
            }),
            Err(e) => print(&e, &sources),
        }
    }
}

fn run(target: &str) {
    let seconds: u64 = std::env::var("NETPOL_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let seed: u64 =
        std::env::var("NETPOL_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_1234);
    let only = std::env::var("NETPOL_FUZZ_TARGET").ok();
    if only.as_deref().is_some_and(|t| t != target) {
        return;
    }
    let seeds = seeds();
    let mut rng =
        Rng(seed ^ target.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) | 1);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut slowest) = (0u64, Duration::ZERO);
    while Instant::now() < deadline {
        let pick = |rng: &mut Rng, list: &[String]| list[rng.below(list.len())].clone();
        let mutated = |rng: &mut Rng, list: &[String]| {
            let base = pick(rng, list);
            mutate(rng, &base, list)
        };
        let input: Vec<String> = match target {
            "values" => vec![mutated(&mut rng, &seeds.values)],
            "set" => {
                let base = [
                    "workloads.web.namespace=shop",
                    "workloads.web.ports.http.port=8080",
                    "namespaces.a.allow.dns=true",
                    "a\\.b[0].c={x,y}",
                ];
                let base = base[rng.below(base.len())];
                vec![mutate(&mut rng, base, &seeds.values)]
            }
            "manifests" => vec![
                mutated(&mut rng, &seeds.manifests),
                pick(&mut rng, &seeds.topologies),
                pick(&mut rng, &seeds.flows),
            ],
            "topology" => vec![
                pick(&mut rng, &seeds.manifests),
                mutated(&mut rng, &seeds.topologies),
                pick(&mut rng, &seeds.flows),
            ],
            _ => vec![
                pick(&mut rng, &seeds.manifests),
                pick(&mut rng, &seeds.topologies),
                mutated(&mut rng, &seeds.flows),
            ],
        };
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(|| match target {
            "values" => values_input(Input::File("-".into()), input[0].clone()),
            "set" => values_input(Input::Set(input[0].clone()), String::new()),
            _ => evaluate(&input[0], &input[1], &input[2]),
        });
        let took = started.elapsed();
        slowest = slowest.max(took);
        runs += 1;
        if outcome.is_err() || took > MAX_INPUT_TIME {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
            std::fs::create_dir_all(&dir).expect("fuzz dir");
            for (i, text) in input.iter().enumerate() {
                std::fs::write(dir.join(format!("{target}-{i}.yaml")), text).expect("save input");
            }
            panic!(
                "{target}: {} after {runs} inputs (seed {seed}); input saved under {}",
                if outcome.is_err() { "a panic".to_string() } else { format!("{took:?} on one input") },
                dir.display()
            );
        }
    }
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM")).map(str::to_string))
        .unwrap_or_default();
    println!("fuzz {target}: {runs} inputs in {seconds} s, slowest {slowest:?}, {peak}");
}

#[test]
#[ignore = "a fuzzing run; CI runs it briefly with --ignored"]
fn fuzz_values() {
    run("values");
}

#[test]
#[ignore = "a fuzzing run; CI runs it briefly with --ignored"]
fn fuzz_set() {
    run("set");
}

#[test]
#[ignore = "a fuzzing run; CI runs it briefly with --ignored"]
fn fuzz_manifests() {
    run("manifests");
}

#[test]
#[ignore = "a fuzzing run; CI runs it briefly with --ignored"]
fn fuzz_topology() {
    run("topology");
}

#[test]
#[ignore = "a fuzzing run; CI runs it briefly with --ignored"]
fn fuzz_flows() {
    run("flows");
}
