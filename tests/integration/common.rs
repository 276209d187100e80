//! What the integration tests share: the binary, files written for one test, and the shipped
//! examples. One module for every test file, as the test files are one binary.

// The fuzz targets include this module on their own and use part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The netpol binary, with colour left to the terminal test (no inherited `NO_COLOR`).
pub fn netpol() -> Command {
    let mut cmd = Command::cargo_bin("netpol").expect("binary builds");
    cmd.env_remove("NO_COLOR");
    cmd
}

/// Where the netpol binary is, for tests that wire its standard streams themselves.
pub fn binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("netpol")
}

/// Writes `text` to `dir/name` and returns the path as an argument.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path.to_string_lossy().into_owned()
}

/// Exit code, stdout and stderr of one run.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = netpol().args(args).output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Stdout of a run that must succeed.
pub fn stdout_of(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

/// [`run`] on values written to a temporary file: `VALUES` in `args` stands for its path.
pub fn run_on(args: &[&str], values: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "values.yaml", values);
    let args: Vec<&str> = args.iter().map(|a| if *a == "VALUES" { path.as_str() } else { a }).collect();
    run(&args)
}

pub const ENGINES: [&str; 4] = ["kubernetes", "cilium", "calico", "clusterNetworkPolicy"];

/// The example values under `examples/`, in name order.
pub fn examples() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir("examples")
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Whether render's warnings announce a difference `check` files under a limitation: one
/// names the namespace of an end of the flow (`ns/…` or namespace `ns`), or the cluster-wide
/// guardrail whose deny the engine cannot enforce.
pub fn announced(
    difference: &netpol::eval::check::Difference,
    warnings: &[netpol::error::Diagnostic],
) -> bool {
    let guardrail = difference
        .intent_rule
        .split_once("deny: guardrail ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map(|name| format!("guardrail `{name}`"));
    if let Some(named) = guardrail
        && warnings.iter().any(|w| w.message.contains(named.as_str()))
    {
        return true;
    }
    let namespaces =
        [&difference.from, &difference.to].map(|e| e.split_once('/').map(|(ns, _)| ns.to_string()));
    let names = |ns: &str| [format!("`{ns}/"), format!("namespace `{ns}`")];
    namespaces
        .iter()
        .flatten()
        .any(|ns| names(ns).iter().any(|n| warnings.iter().any(|w| w.message.contains(n.as_str()))))
}
