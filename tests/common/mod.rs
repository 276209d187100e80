//! What the CLI tests share: run the binary on values written to a temporary file, and list
//! the shipped examples.

// Each test file is its own crate and uses part of this module.
#![allow(dead_code)]

use assert_cmd::Command;

/// Exit code, stdout and stderr of one run. `VALUES` in `args` stands for the values file.
pub fn netpol(args: &[&str], values: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("values.yaml");
    std::fs::write(&path, values).expect("write");
    let path = path.to_string_lossy().into_owned();
    let args: Vec<&str> = args.iter().map(|a| if *a == "VALUES" { path.as_str() } else { a }).collect();
    let out = Command::cargo_bin("netpol").expect("bin").args(&args).output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
