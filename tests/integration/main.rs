//! Every integration test in one binary: one link instead of one per file, one shared helper
//! module (`common`), as ripgrep's test suite does. `tests/fuzz.rs` stays its own binary because
//! CI builds it in release mode for the fuzzing run.

mod common;

mod analyse;
mod api_server;
mod cli;
mod diagnostics;
mod dual_stack;
mod equivalence;
mod examples;
mod fast_path;
mod guardrail_exceptions;
mod hostile_input;
mod layering;
mod lint;
mod manifest_reading;
mod named_ports;
mod namespaces;
mod output_dir;
mod passthrough_schemas;
mod pipes;
mod properties;
mod review;
mod schema;
mod shell;
