//! `--output-dir` in real directories: netpol replaces only what it wrote, refuses everything
//! else without changing a byte, swaps atomically, and survives concurrent and killed runs.

use std::path::{Path, PathBuf};

use crate::common::netpol;

const EXAMPLE: &str = "examples/lucity.yaml";

fn render_into(dir: &Path, extra: &[&str]) -> std::process::Output {
    netpol().args(["render", "-f", EXAMPLE, "--output-dir"]).arg(dir).args(extra).output().expect("runs")
}

/// Name → content of every entry (directories as `<dir>`), sorted.
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            let e = e.expect("entry");
            let kind = e.file_type().expect("type");
            let content = if kind.is_symlink() {
                "<link>".to_string()
            } else if kind.is_dir() {
                "<dir>".to_string()
            } else {
                std::fs::read_to_string(e.path()).expect("read")
            };
            (e.file_name().to_string_lossy().into_owned(), content)
        })
        .collect();
    entries.sort();
    entries
}

fn names(dir: &Path) -> Vec<String> {
    snapshot(dir).into_iter().map(|(n, _)| n).collect()
}

/// What a fresh render of the example writes.
fn expected_files() -> Vec<(String, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = render_into(&dir.path().join("out"), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    snapshot(&dir.path().join("out"))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn foreign_files_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("base");
    std::fs::create_dir_all(target.join(".git")).expect("mkdir");
    std::fs::write(target.join("deployment.yaml"), "kind: Deployment\n").expect("write");
    let before = snapshot(&target);
    let out = render_into(&target, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("which netpol did not write"), "{message}");
    assert!(message.contains("`.git`") || message.contains("`deployment.yaml`"), "{message}");
    assert!(message.contains("--force"), "{message}");
    assert_eq!(snapshot(&target), before);
    assert_eq!(names(dir.path()), ["base"], "no staging copies left beside it");
}

#[test]
fn force_replaces_only_netpols_files_and_keeps_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("base");
    std::fs::create_dir_all(target.join(".git")).expect("mkdir");
    std::fs::write(target.join(".git/HEAD"), "ref: main\n").expect("write");
    std::fs::write(target.join("deployment.yaml"), "kind: Deployment\n").expect("write");
    std::fs::write(
        target.join("old_networkpolicy_gone.yaml"),
        "# Rendered by netpol for the kubernetes engine.\n",
    )
    .expect("write");
    let out = render_into(&target, &["--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = snapshot(&target);
    let mut expected = expected_files();
    expected.push((".git".into(), "<dir>".into()));
    expected.push(("deployment.yaml".into(), "kind: Deployment\n".into()));
    expected.sort();
    assert_eq!(after, expected, "own stale file removed, foreign files kept");
    assert_eq!(std::fs::read_to_string(target.join(".git/HEAD")).expect("kept"), "ref: main\n");
    assert!(names(&target).iter().all(|n| !n.contains("netpol-tmp")));
}

#[test]
fn force_needs_an_output_dir() {
    let out = netpol().args(["render", "-f", EXAMPLE, "--force"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_directory_netpol_wrote_is_replaced_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("out");
    let first = netpol()
        .args(["render", "-f", "examples/minimal.yaml", "--output-dir"])
        .arg(&target)
        .output()
        .expect("runs");
    assert!(first.status.success());
    let out = render_into(&target, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(snapshot(&target), expected_files());
    assert_eq!(names(dir.path()), ["out"]);
}

#[test]
fn the_current_directory_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "mine").expect("write");
    let example = std::fs::canonicalize(EXAMPLE).expect("example");
    let out = netpol()
        .current_dir(dir.path())
        .args(["render", "-f"])
        .arg(&example)
        .args(["--output-dir", "."])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is the current directory"), "{}", stderr(&out));
    assert_eq!(names(dir.path()), ["notes.txt"]);
}

#[test]
fn a_missing_parent_is_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("a/b/c");
    let out = render_into(&target, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(snapshot(&target), expected_files());
    assert_eq!(names(&dir.path().join("a/b")), ["c"]);
}

#[test]
fn a_file_in_the_way_is_an_error_and_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("out");
    std::fs::write(&target, "precious").expect("write");
    let out = render_into(&target, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not a directory"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&target).expect("kept"), "precious");
    assert_eq!(names(dir.path()), ["out"]);
}

#[cfg(unix)]
#[test]
fn a_read_only_directory_is_an_error_and_keeps_its_content_and_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("out");
    assert!(render_into(&target, &[]).status.success());
    let before = snapshot(&target);
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let out = render_into(&target, &[]);
    let mode = std::fs::metadata(&target).expect("meta").permissions().mode() & 0o777;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).expect("chmod back");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert_eq!(mode, 0o555);
    assert_eq!(snapshot(&target), before);
}

#[cfg(unix)]
#[test]
fn a_symlinked_directory_is_followed_and_stays_a_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real");
    std::fs::create_dir(&real).expect("mkdir");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let out = render_into(&link, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link).expect("meta").file_type().is_symlink());
    assert_eq!(snapshot(&real), expected_files());
    assert_eq!(names(dir.path()), ["link", "real"]);
}

#[test]
fn staging_copies_of_killed_runs_are_removed_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    for leftover in [".out.netpol-new-4242", ".out.netpol-old-77"] {
        std::fs::create_dir(dir.path().join(leftover)).expect("mkdir");
        std::fs::write(dir.path().join(leftover).join("x.yaml"), "x").expect("write");
    }
    std::fs::create_dir(dir.path().join(".out.netpol-new-mine")).expect("mkdir");
    let out = render_into(&dir.path().join("out"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(names(dir.path()), [".out.netpol-new-mine", "out"]);
}

#[test]
fn concurrent_renders_into_one_directory_all_succeed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("out");
    let bin: PathBuf = crate::common::binary();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&bin)
                .args(["render", "-f", EXAMPLE, "--output-dir"])
                .arg(&target)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(snapshot(&target), expected_files());
    assert_eq!(names(dir.path()), ["out"]);
}

/// Kill renders at many moments: the directory always holds the old or the new complete set,
/// and the next run leaves no staging copy behind.
#[cfg(unix)]
#[test]
fn a_killed_render_leaves_the_old_or_the_new_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("out");
    let old = {
        let out = netpol()
            .args(["render", "-f", "examples/minimal.yaml", "--output-dir"])
            .arg(&target)
            .output()
            .expect("runs");
        assert!(out.status.success());
        snapshot(&target)
    };
    let new = expected_files();
    let bin: PathBuf = crate::common::binary();
    for delay_ms in (0..40).step_by(2) {
        let mut child = std::process::Command::new(&bin)
            .args(["render", "-f", EXAMPLE, "--output-dir"])
            .arg(&target)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let now = snapshot(&target);
        assert!(now == old || now == new, "after a kill at {delay_ms} ms the directory is neither set");
        if now == new {
            // Back to the old set for the next round.
            let out = netpol()
                .args(["render", "-f", "examples/minimal.yaml", "--output-dir"])
                .arg(&target)
                .output()
                .expect("runs");
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
    let out = render_into(&target, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(names(dir.path()), ["out"]);
}
