//! What the backends' unit tests share.

use super::Manifest;

/// Run the shared `validate-manifests` tool (NETPOL_VALIDATE_MANIFESTS overrides its path) on
/// `manifests` and assert that every object passes the official schemas.
pub(crate) fn assert_schema_valid(manifests: &[Manifest], label: &str) {
    let tool = std::env::var("NETPOL_VALIDATE_MANIFESTS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/tools/validate-manifests").to_string()
    });
    let text = manifests.iter().map(|m| m.yaml.as_str()).collect::<Vec<_>>().join("---\n");
    let path = std::env::temp_dir().join(format!("netpol-{label}-{}.yaml", std::process::id()));
    std::fs::write(&path, text).expect("write");
    let out = std::process::Command::new(tool).arg(&path).output().expect("run validate-manifests");
    let _ = std::fs::remove_file(&path);
    let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && report.contains(&format!("{} passed, 0 failed", manifests.len())),
        "{report}"
    );
}
