//! Reading manifests given to the evaluator: every object of a file, and problems in them
//! located at the line and column of the object and field they concern.

use super::{Cni, PolicySet};
use crate::error::{Diagnostic, Error, Result};
use crate::intent::Origin;
use crate::values::tree::{self, Node, Value};
use crate::vocab::source::{KeyPath, Seg, Sources};

/// Every object of a manifests file (multi-document YAML, or a `List`).
pub fn read_objects(text: &str, name: &str) -> Result<Vec<serde_json::Value>> {
    read_objects_with_sources(text, name, &mut Sources::default())
}

pub(crate) fn read_objects_with_sources(
    text: &str,
    name: &str,
    sources: &mut Sources,
) -> Result<Vec<serde_json::Value>> {
    let docs: Vec<serde_json::Value> =
        match serde_saphyr::from_multiple_with_options(text, super::yaml_options()) {
            Ok(docs) => docs,
            Err(e) => {
                // Read again by the located reader, whose syntax errors carry a snippet.
                let id = sources.id_for(name, text);
                return Err(Error::invalid(match tree::parse_documents(text, id, sources) {
                    Err(located) => located.coded(crate::error::Code::Evaluator),
                    Ok(_) => Diagnostic::evaluator(format!("{name}: {e}")),
                }));
            }
        };
    let mut out = Vec::new();
    for (index, d) in docs.into_iter().enumerate() {
        match d.get("kind").and_then(|k| k.as_str()) {
            Some("List") => {
                out.extend(d.get("items").and_then(|i| i.as_array()).cloned().unwrap_or_default())
            }
            Some(_) => out.push(d),
            None if d.is_null() => {}
            None => {
                let mut problem =
                    vec![Diagnostic::evaluator(format!("{name}: document {} has no `kind`", index + 1))];
                if let Some(origin) = document_origin(text, name, sources, index) {
                    problem = problem.into_iter().map(|p| p.at(&origin)).collect();
                }
                return Err(Error::Invalid(problem));
            }
        }
    }
    Ok(out)
}

/// Where document `index` of a manifests file starts.
fn document_origin(text: &str, name: &str, sources: &mut Sources, index: usize) -> Option<Origin> {
    let id = sources.id_for(name, text);
    let documents = tree::parse_documents(text, id, sources).ok()?;
    let document = documents.get(index)?;
    Some(sources.origin(document.loc, &KeyPath::default()))
}

/// Read the policies of a manifests file: its objects, sorted to the evaluators of `cni`.
/// Errors and warnings about an object are located at the object and field they concern,
/// and the text is added to `sources` so that they are shown in place.
pub fn read_policies(text: &str, name: &str, cni: Option<Cni>, sources: &mut Sources) -> Result<PolicySet> {
    read_objects_and_policies(text, name, cni, sources).map(|(_, set)| set)
}

/// [`read_policies`], keeping the objects too (lint reads both).
pub(crate) fn read_objects_and_policies(
    text: &str,
    name: &str,
    cni: Option<Cni>,
    sources: &mut Sources,
) -> Result<(Vec<serde_json::Value>, PolicySet)> {
    let objects = read_objects_with_sources(text, name, sources)?;
    match PolicySet::new(&objects, cni) {
        Ok(mut set) => {
            locate_in_manifests(&mut set.warnings, text, name, sources);
            Ok((objects, set))
        }
        Err(Error::Invalid(mut problems)) => {
            locate_in_manifests(&mut problems, text, name, sources);
            Err(Error::Invalid(problems))
        }
        Err(other) => Err(other),
    }
}

/// Give each diagnostic that names a manifest object (and field) the line and column where
/// that field, or the deepest part of its path the file has, is written. The file is parsed
/// for positions only when there is something to locate.
pub(crate) fn locate_in_manifests(
    diagnostics: &mut [Diagnostic],
    text: &str,
    name: &str,
    sources: &mut Sources,
) {
    if !diagnostics.iter().any(|d| d.origin.is_none() && d.manifest_field().is_some()) {
        return;
    }
    let id = sources.id_for(name, text);
    let Ok(documents) = tree::parse_documents(text, id, sources) else { return };
    let mut objects: Vec<(String, &Node)> = Vec::new();
    for document in &documents {
        match document.get("items") {
            Some(Node { value: Value::Seq(items), .. }) if text_of(document, "kind") == Some("List") => {
                objects.extend(items.iter().map(|item| (label_of(item), item)))
            }
            _ => objects.push((label_of(document), document)),
        }
    }
    for d in diagnostics.iter_mut().filter(|d| d.origin.is_none()) {
        let Some(field) = d.manifest_field() else { continue };
        let Some((_, object)) = objects.iter().find(|(label, _)| *label == field.object) else { continue };
        let path = parse_field(&field.field);
        let origin =
            Origin { path: field.field.clone(), ..sources.origin(object.locate(&path), &KeyPath::default()) };
        d.origin = Some(origin);
    }
}

fn text_of<'n>(node: &'n Node, key: &str) -> Option<&'n str> {
    match node.get(key).map(|n| &n.value) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

/// [`super::object_label`] of a located node.
fn label_of(object: &Node) -> String {
    let kind = text_of(object, "kind").unwrap_or("object");
    let metadata = object.get("metadata");
    let name = metadata.and_then(|m| text_of(m, "name")).unwrap_or("<unnamed>");
    match metadata.and_then(|m| text_of(m, "namespace")) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// A field path as [`KeyPath`] displays it (`spec.ingress[0]["app.kubernetes.io/name"]`).
fn parse_field(text: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            if let Some(quoted) = inner.strip_prefix('"') {
                // A quoted key is written with Rust's debug escapes; keys rarely hold any.
                let end = quoted.find("\"]").unwrap_or(quoted.len());
                out.push(Seg::Key(quoted.get(..end).unwrap_or_default().replace("\\\"", "\"")));
                rest = quoted.get(end + 2..).unwrap_or_default();
            } else {
                let end = inner.find(']').unwrap_or(inner.len());
                match inner.get(..end).and_then(|n| n.parse().ok()) {
                    Some(index) => out.push(Seg::Index(index)),
                    None => return out,
                }
                rest = inner.get(end + 1..).unwrap_or_default();
            }
        } else {
            let rest_key = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_key.find(['.', '[']).unwrap_or(rest_key.len());
            out.push(Seg::Key(rest_key.get(..end).unwrap_or_default().to_string()));
            rest = rest_key.get(end..).unwrap_or_default();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_read_back_as_displayed() {
        for path in [
            KeyPath(vec![Seg::Key("spec".into()), Seg::Key("ingress".into()), Seg::Index(0)]),
            KeyPath(vec![
                Seg::Key("spec".into()),
                Seg::Key("podSelector".into()),
                Seg::Key("matchLabels".into()),
                Seg::Key("app.kubernetes.io/name".into()),
            ]),
            KeyPath(vec![Seg::Key("spec".into()), Seg::Index(3), Seg::Index(1), Seg::Key("x".into())]),
        ] {
            assert_eq!(parse_field(&path.to_string()), path.0, "{path}");
        }
    }
}
