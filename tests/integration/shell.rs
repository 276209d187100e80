//! Completions, man pages and `profiles show`: generated from the clap definitions and the
//! embedded profiles.

use crate::common::{run, stdout_of};

#[test]
fn completions_are_generated_for_every_shell() {
    for (shell, marker) in [
        ("bash", "_netpol()"),
        ("zsh", "#compdef netpol"),
        ("fish", "complete -c netpol"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[netpol]"),
    ] {
        let script = stdout_of(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: {}", &script[..script.len().min(200)]);
        assert!(
            script.contains("diff") && script.contains("fail-on-widening"),
            "{shell} completes the new commands"
        );
    }
    let (code, _, err) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn man_writes_one_page_per_command_and_never_replaces_a_file_it_did_not_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pages = dir.path().join("man1");
    let target = pages.display().to_string();
    let (code, _, err) = run(&["man", &target]);
    assert_eq!(code, 0, "{err}");
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .expect("pages written")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    for expected in
        ["netpol.1", "netpol-render.1", "netpol-diff.1", "netpol-docs.1", "netpol-test.1", "netpol-probe.1"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    assert!(names.iter().all(|n| n.ends_with(".1")), "no partial files left: {names:?}");
    let render = std::fs::read_to_string(pages.join("netpol-render.1")).expect("page");
    assert!(render.contains("\\-\\-output\\-dir") || render.contains("output-dir"), "{render}");
    // A second run replaces netpol's own pages.
    assert_eq!(run(&["man", &target]).0, 0);
    // A page of the same name netpol did not write stops the run before anything is written.
    std::fs::write(pages.join("netpol-diff.1"), "my own notes\n").expect("write");
    std::fs::remove_file(pages.join("netpol.1")).expect("remove");
    let (code, _, err) = run(&["man", &target]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("netpol-diff.1 exists and netpol did not write it"), "{err}");
    assert_eq!(std::fs::read_to_string(pages.join("netpol-diff.1")).expect("kept"), "my own notes\n");
    assert!(!pages.join("netpol.1").exists(), "nothing written after the refusal");
}

#[test]
fn profiles_show_prints_a_profile_as_values() {
    let shown = stdout_of(&["profiles", "show", "tenant"]);
    let file = std::fs::read_to_string("profiles/tenant.yaml").expect("profile file");
    assert_eq!(shown, file);
    let listed = stdout_of(&["profiles"]);
    assert_eq!(listed, stdout_of(&["profiles", "list"]));
    assert!(listed.lines().any(|l| l.starts_with("tenant ")), "{listed}");
    let (code, _, err) = run(&["profiles", "show", "tenat"]);
    assert_eq!(code, 2);
    assert!(err.contains("no profile `tenat`: did you mean `tenant`?"), "{err}");
}
