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

#[test]
fn profiles_dir_adds_user_profiles_to_list_show_and_render() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = dir.path().join("profiles");
    std::fs::create_dir(&profiles).expect("mkdir");
    crate::common::write(
        &profiles,
        "team-web.yaml",
        "description: \"Our web namespaces\"\nnamespace:\n  defaultDeny: {ingress: true}\n  allow: {dns: true}\n",
    );
    let profiles = profiles.to_string_lossy().into_owned();
    let listed = crate::common::stdout_of(&["profiles", "--profiles-dir", &profiles]);
    assert!(
        listed.lines().any(|l| l.starts_with("team-web")
            && l.contains("Our web namespaces")
            && l.contains("team-web.yaml")),
        "{listed}"
    );
    assert!(listed.lines().any(|l| l.starts_with("tenant")), "built-in ones stay: {listed}");
    let shown = crate::common::stdout_of(&["profiles", "show", "team-web", "--profiles-dir", &profiles]);
    assert!(shown.contains("defaultDeny: {ingress: true}"), "{shown}");
    let values = "namespaces:\n  shop:\n    profile: team-web\n";
    let (status, out, err) =
        crate::common::run_on(&["render", "-f", "VALUES", "--profiles-dir", &profiles], values);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("name: default-deny") && out.contains("port: 53"), "{out}");
    // Without the directory the name is unknown, and the help says where profiles come from.
    let (status, _, err) = crate::common::run_on(&["render", "-f", "VALUES"], values);
    assert_eq!(status, 1);
    assert!(err.contains("unknown profile `team-web`") && err.contains("--profiles-dir"), "{err}");
}

#[test]
fn a_user_profile_may_not_take_a_built_in_name_or_lack_its_namespace_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::common::write(
        dir.path(),
        "tenant.yaml",
        "description: mine\nnamespace: {defaultDeny: {ingress: true}}\n",
    );
    crate::common::write(dir.path(), "empty.yaml", "description: nothing\n");
    let profiles = dir.path().to_string_lossy().into_owned();
    let (status, _, err) = crate::common::run_on(
        &["render", "-f", "VALUES", "--profiles-dir", &profiles],
        "namespaces: {shop: {}}\n",
    );
    assert_eq!(status, 1, "{err}");
    assert!(
        err.contains("error[NP005]: profile `tenant`") && err.contains("has the name of a built-in profile"),
        "{err}"
    );
    assert!(err.contains("tenant.yaml:1:1"), "{err}");
    assert!(
        err.contains("profile empty has no `namespace:` block") && err.contains("empty.yaml:1:1"),
        "{err}"
    );
    let (status, _, err) = crate::common::run(&["profiles", "--profiles-dir", &profiles]);
    assert_eq!(status, 1, "{err}");
    let (status, _, err) =
        crate::common::run(&["profiles", "--profiles-dir", "/nonexistent/netpol-profiles"]);
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("NP008"), "{err}");
}
