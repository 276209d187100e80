//! Standard streams that go away or fill up: no panic, no backtrace, the usual exit statuses.

use std::process::{Command, Stdio};

/// Every subcommand with arguments that print something on stdout.
fn subcommands(topology: &str, manifests: &str) -> Vec<Vec<String>> {
    let owned = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    vec![
        owned(&["render", "-f", "examples/lucity.yaml"]),
        owned(&["render", "-f", "examples/lucity.yaml", "-o", "json"]),
        owned(&["profiles"]),
        owned(&["matrix", "-f", "examples/lucity.yaml"]),
        owned(&["check", "-f", "examples/lucity.yaml"]),
        owned(&["topology", "-f", "examples/lucity.yaml", "--flows"]),
        owned(&["eval", "--manifests", manifests, "--topology", topology]),
        owned(&[
            "explain",
            "-f",
            "examples/minimal.yaml",
            "--from",
            "ingress-nginx/netpol-plain",
            "--to",
            "shop/web",
            "--port",
            "8080",
        ]),
    ]
}

fn fixtures(dir: &std::path::Path) -> (String, String) {
    let topology = dir.join("topology.yaml");
    let manifests = dir.join("manifests.yaml");
    let run = |args: &[&str]| {
        let out = Command::new(crate::common::binary()).args(args).output().expect("runs");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    std::fs::write(&topology, run(&["topology", "-f", "examples/lucity.yaml"])).expect("write");
    std::fs::write(&manifests, run(&["render", "-f", "examples/lucity.yaml"])).expect("write");
    (topology.to_string_lossy().into_owned(), manifests.to_string_lossy().into_owned())
}

#[test]
fn a_reader_that_goes_away_stops_every_subcommand_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (topology, manifests) = fixtures(dir.path());
    for args in subcommands(&topology, &manifests) {
        // The read end is closed before the child even starts, so its first write fails.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(crate::common::binary())
            .args(&args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.trim().is_empty(), "{args:?}: nothing is said: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_device_is_an_error_never_a_success() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (topology, manifests) = fixtures(dir.path());
    for args in subcommands(&topology, &manifests) {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let out = Command::new(crate::common::binary()).args(&args).stdout(full).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("No space left on device"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// A full device is reported in the error format asked for, streamed output included.
#[cfg(target_os = "linux")]
#[test]
fn a_full_device_is_reported_as_json_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (topology, manifests) = fixtures(dir.path());
    for mut args in subcommands(&topology, &manifests) {
        args.extend(["--error-format".to_string(), "json".to_string()]);
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let out = Command::new(crate::common::binary()).args(&args).stdout(full).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let json: serde_json::Value =
            serde_json::from_str(&stderr).unwrap_or_else(|e| panic!("{args:?}: {e}: {stderr}"));
        assert_eq!(json["diagnostics"][0]["code"], "NP008", "{args:?}: {stderr}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn an_unwritable_stderr_does_not_turn_success_into_a_crash() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    // A disabled chart says so on stderr and succeeds.
    let mut child = Command::new(crate::common::binary())
        .args(["render", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(full)
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(b"networkPolicy:\n  enabled: false\n").expect("write");
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}
