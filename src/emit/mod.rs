//! Emission: canonical text from sorted manifests. YAML documents, a JSON `List`, or a
//! directory with one file per object and a `kustomization.yaml`.

use std::path::Path;

use serde::Serialize;

use crate::engine::Manifest;
use crate::error::{Diagnostic, Error, Result};

/// What the header comment of a YAML stream says. No version and no date: the same inputs give
/// the same bytes.
#[derive(Clone, Debug, Default)]
pub struct Header {
    pub engine: String,
    pub sources: Vec<String>,
    pub unmanaged_namespaces: Vec<String>,
}

impl Header {
    fn lines(&self) -> String {
        let mut out = format!("{} for the {} engine", output_dir::HEADER_PREFIX, self.engine);
        if !self.sources.is_empty() {
            out.push_str(&format!(" from {}", self.sources.join(", ")));
        }
        out.push_str(".\n");
        if !self.unmanaged_namespaces.is_empty() {
            out.push_str(&format!(
                "# Deliberately unmanaged (no policies rendered): {}.\n",
                self.unmanaged_namespaces.join(", ")
            ));
        }
        out
    }
}

/// Sort manifests into the documented output order: layer (tiers, guardrails, namespaced),
/// then namespace, name and kind.
pub fn sort(manifests: &mut [Manifest]) {
    manifests.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}

pub mod list;
pub mod output_dir;

fn yaml_of<T: Serialize>(value: &T) -> Result<String> {
    let value = serde_json::to_value(value)
        .map_err(|e| Error::invalid(Diagnostic::new(format!("cannot serialise YAML: {e}"))))?;
    Ok(crate::yaml::to_string(&value))
}

/// Multi-document YAML, each object preceded by `---`.
/// Write the multi-document YAML straight to `out`: the objects are already text, and joining
/// them first would hold the whole output twice.
pub(crate) fn write_yaml(
    manifests: &[Manifest],
    header: &Header,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    out.write_all(header.lines().as_bytes())?;
    for m in manifests {
        out.write_all(b"---\n")?;
        out.write_all(m.yaml.as_bytes())?;
    }
    Ok(())
}

pub fn to_yaml(manifests: &[Manifest], header: &Header) -> Result<String> {
    let documents = |part: &[Manifest]| {
        let mut out = String::new();
        for m in part {
            out.push_str("---\n");
            out.push_str(&m.yaml);
        }
        out
    };
    let mut out = header.lines();
    // Large outputs are written in two halves on two threads; the halves are joined in order.
    for part in crate::parallel::in_halves(manifests.len(), crate::parallel::PARALLEL_FROM, |range| {
        documents(manifests.get(range).unwrap_or_default())
    }) {
        out.push_str(&part);
    }
    Ok(out)
}

/// A Kubernetes `List` in pretty JSON (what `kubectl get -o json` prints).
pub fn to_json(manifests: &[Manifest]) -> Result<String> {
    let list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": manifests.iter().map(Manifest::try_body).collect::<Result<Vec<_>>>()?,
    });
    let mut out = serde_json::to_string_pretty(&list)
        .map_err(|e| Error::invalid(Diagnostic::new(format!("cannot serialise JSON: {e}"))))?;
    out.push('\n');
    Ok(out)
}

/// The file name of one object in an output directory: `<namespace|cluster>_<kind>_<name>.yaml`.
/// It depends only on the object, so adding an object never renames the others (`_` occurs in
/// no namespace, kind or name, so names cannot collide).
pub fn file_name(m: &Manifest) -> String {
    let scope = m.namespace.as_deref().unwrap_or("cluster");
    format!("{scope}_{}_{}.yaml", m.kind.to_lowercase(), m.name)
}

#[derive(Serialize)]
struct Kustomization<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    resources: &'a [String],
}

/// The files of an output directory, name → content, in output order.
pub(crate) fn to_files(manifests: &[Manifest], header: &Header) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for m in manifests {
        files.push((file_name(m), format!("{}---\n{}", header.lines(), m.yaml)));
    }
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let kustomization = Kustomization {
        api_version: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources: &names,
    };
    files.push(("kustomization.yaml".to_string(), format!("{}{}", header.lines(), yaml_of(&kustomization)?)));
    Ok(files)
}

/// Write an output directory; see [`output_dir`] for what is replaced and what is refused.
pub(crate) fn write_dir(dir: &Path, files: &[(String, String)], foreign: output_dir::Foreign) -> Result<()> {
    output_dir::write(dir, files, foreign)
}
