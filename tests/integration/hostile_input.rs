//! Inputs that used to crash the error printer or read without bound: every one is a located
//! error with exit 1, never a panic.

use crate::common::netpol;

fn render_bytes(bytes: &[u8]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("values.yaml");
    std::fs::write(&path, bytes).expect("write");
    let out = netpol().arg("render").arg("-f").arg(&path).output().expect("runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_nul_after_a_multibyte_character_is_pointed_at() {
    let (code, stderr) = render_bytes(b"a: \xc3\xa9\x00\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("values.yaml:1:5"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_byte_order_mark_does_not_shift_the_caret_into_a_panic() {
    let (code, stderr) = render_bytes(b"\xef\xbb\xbf x");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("values.yaml:1:2"), "{stderr}");
}

#[test]
fn invalid_utf8_names_the_line_and_column_of_the_first_bad_byte() {
    let (code, stderr) = render_bytes(b"a: 1\nb: x\xffy\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not valid UTF-8 (line 2, column 5)"), "{stderr}");
}

#[test]
fn wide_characters_before_an_error_keep_the_caret_on_the_key() {
    let (code, stderr) = render_bytes("workloads:\n  wé:\n    namespace: shop\n    pörts: {}\n".as_bytes());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("values.yaml:4:5"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn an_endless_input_stops_at_the_size_limit() {
    for args in [
        vec!["render", "-f", "/dev/zero"],
        vec!["eval", "--manifests", "/dev/zero", "--topology", "/dev/zero"],
    ] {
        let out = netpol().args(&args).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("larger than the limit"), "{args:?}: {stderr}");
    }
}
