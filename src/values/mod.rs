//! The values format: parsing with locations, Helm-style merging, `--set`, typed values.

pub mod checked;
pub mod de;
pub mod merge;
pub mod profiles;
pub mod schema;
pub mod set;
pub mod tree;
pub mod types;

use std::path::Path;

use crate::error::{Diagnostic, Error, Result};
use crate::vocab::source::{KeyPath, Loc, Seg, Sources};
use tree::{Node, Value};

/// One input, in command-line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// `-f PATH`; `-` is standard input.
    File(String),
    /// `--set a.b=c`.
    Set(String),
    /// `--set-string a.b=c`.
    SetString(String),
    /// `--profiles-dir DIR`: more profiles values may name (wherever it is given).
    ProfilesDir(String),
}

/// The merged values tree, its typed form, and the texts it came from.
#[derive(Debug)]
pub struct Loaded {
    pub root: Node,
    pub sources: Sources,
    pub values: types::Values,
}

impl Loaded {
    /// Where `path` was written (the deepest existing ancestor if it was defaulted).
    pub fn origin(&self, path: &KeyPath) -> crate::vocab::Origin {
        let loc = self.root.locate(&path.0);
        self.sources.origin(loc, path)
    }
}

/// Where a source's text starts (line 1, column 1), for problems of a whole file.
pub(crate) fn source_start(source: crate::vocab::source::SourceId) -> Loc {
    Loc { source, line: 1, column: 1 }
}

/// The inputs parsed and merged (later wins, Helm rules), profiles applied: the untyped tree.
fn merged(
    inputs: &[Input],
    sources: &mut Sources,
    stdin: &mut dyn FnMut() -> std::io::Result<String>,
) -> Result<Node> {
    let mut root: Option<Node> = None;
    let mut stdin_used = false;
    let mut profile_dirs = Vec::new();
    for input in inputs {
        let overlay = match input {
            Input::ProfilesDir(dir) => {
                profile_dirs.push(dir.clone());
                continue;
            }
            Input::File(path) => {
                let (name, text) = if path == "-" {
                    if stdin_used {
                        return Err(Error::Usage("`-f -` (standard input) can be given only once".into()));
                    }
                    stdin_used = true;
                    let text = stdin().map_err(|source| Error::Io { path: "<stdin>".into(), source })?;
                    ("<stdin>".to_string(), text)
                } else {
                    let text = crate::input::read_path(Path::new(path))?;
                    (path.clone(), text)
                };
                let text: std::sync::Arc<str> = text.into();
                let id = sources.add(name, text.clone());
                tree::parse(&text, id, sources).map_err(Error::invalid)?
            }
            Input::Set(arg) | Input::SetString(arg) => {
                let typing =
                    if matches!(input, Input::Set(_)) { set::Typing::Infer } else { set::Typing::String };
                let flag = if typing == set::Typing::Infer { "--set" } else { "--set-string" };
                let id = sources.add(format!("{flag} {arg}"), arg.as_str());
                set::parse_set(arg, typing, Loc { source: id, line: 0, column: 0 })
                    .map_err(|e| Error::invalid(Diagnostic::syntax(format!("{flag}: {e}"))))?
            }
        };
        match &mut root {
            None => root = Some(overlay),
            Some(base) => merge::merge(base, overlay),
        }
    }
    let root =
        root.ok_or_else(|| Error::Usage("no values given: pass -f FILE (or -f - for stdin)".into()))?;
    if !matches!(root.value, Value::Map(_)) {
        let origin = sources.origin(root.loc, &KeyPath::default());
        return Err(Error::invalid(
            Diagnostic::syntax(format!("the values must be a map, found {}", root.kind())).at(&origin),
        ));
    }
    let mut root = root;
    let catalogue = profiles::Catalogue::with_dirs(&profile_dirs, sources)?;
    profiles::apply(&mut root, sources, &catalogue).map_err(Error::invalid)?;
    Ok(root)
}

/// Values with problems in their types, and what is left of them (`R`: the loaded values, or
/// while typing, the pruned tree and its typed form).
#[derive(Debug)]
pub(crate) struct Pruned<R = Loaded> {
    /// Every problem found (up to [`MAX_ERRORS`]), in file order.
    pub problems: Vec<Diagnostic>,
    /// The values with each problem's entry left out, when that left valid values: only for
    /// finding further problems in later stages, never for output.
    pub rest: Option<R>,
    /// The entries left out.
    pub omitted: Vec<KeyPath>,
}

/// [`load`], but values whose types have problems come back with the valid rest of them, so
/// that later stages can report their own problems in the same run.
pub(crate) fn load_or_prune(
    inputs: &[Input],
    sources: &mut Sources,
    stdin: &mut dyn FnMut() -> std::io::Result<String>,
) -> Result<std::result::Result<Loaded, Pruned>> {
    let root = merged(inputs, sources, stdin)?;
    Ok(match typed_or_pruned::<types::Values>(&root, sources) {
        Ok(values) => Ok(Loaded { root, sources: sources.clone(), values }),
        Err(pruned) => Err(Pruned {
            problems: pruned.problems,
            rest: pruned.rest.map(|(root, values)| Loaded { root, sources: sources.clone(), values }),
            omitted: pruned.omitted,
        }),
    })
}

/// Read one YAML document into `T` the way values are read, for inputs whose errors should look
/// like the values' (a topology, a flows file): every problem located at file, line, column
/// and key path, with "did you mean". The text is added to `sources` so errors can quote it.
pub(crate) fn read_located<T: serde::de::DeserializeOwned>(
    text: &str,
    name: &str,
    sources: &mut Sources,
) -> Result<T> {
    let id = sources.add(name.to_string(), text);
    let root = tree::parse(text, id, sources).map_err(Error::invalid)?;
    typed(&root, sources)
}

/// At most this many problems are reported from one values tree.
pub(crate) const MAX_ERRORS: usize = 20;

/// The typed values, or every problem in them (up to [`MAX_ERRORS`]), in file order. After a
/// problem, the entry it is in is left out and the rest read again: a misspelt key is dropped,
/// a bad value drops its key, a problem inside a list drops the list. A problem an earlier
/// omission caused (a required key now missing) is not reported again.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(root: &Node, sources: &Sources) -> Result<T> {
    typed_or_pruned(root, sources).map_err(|pruned| Error::Invalid(pruned.problems))
}

fn typed_or_pruned<T: serde::de::DeserializeOwned>(
    root: &Node,
    sources: &Sources,
) -> std::result::Result<T, Pruned<(Node, T)>> {
    let first = match de::from_node(root, &KeyPath::default()) {
        Ok(values) => return Ok(values),
        Err(e) => e,
    };
    let mut pruned = root.clone();
    let mut omitted: Vec<Vec<Seg>> = Vec::new();
    let mut problems = Vec::new();
    let mut next = Some(first);
    let mut rest = None;
    while let Some(error) = next.take() {
        let at: Vec<Seg> = error.key_path().map(|p| p.0.clone()).unwrap_or_default();
        let caused_by_omission = omitted.iter().any(|o| o.len() > at.len() && o.starts_with(&at));
        if !caused_by_omission {
            problems.push(error.into_diagnostic(sources));
        }
        let entry = omission_for(&at);
        if problems.len() >= MAX_ERRORS || entry.is_empty() || !remove_entry(&mut pruned, &entry) {
            break;
        }
        omitted.push(entry);
        match de::from_node::<T>(&pruned, &KeyPath::default()) {
            Ok(values) => rest = Some(values),
            Err(e) => next = Some(e),
        }
    }
    crate::error::sort_in_file_order(&mut problems);
    Err(Pruned {
        problems,
        rest: rest.map(|values| (pruned, values)),
        omitted: omitted.into_iter().map(KeyPath).collect(),
    })
}

/// The map entry to leave out after a problem at `at`: the key itself, or for a problem inside
/// a list, the key holding the list (removing an item would renumber the later ones).
fn omission_for(at: &[Seg]) -> Vec<Seg> {
    let end = at.iter().position(|s| matches!(s, Seg::Index(_))).unwrap_or(at.len());
    at.get(..end).map(<[Seg]>::to_vec).unwrap_or_default()
}

/// Remove the map entry at `path` (all keys); whether there was one.
fn remove_entry(root: &mut Node, path: &[Seg]) -> bool {
    let Some((Seg::Key(last), parents)) = path.split_last() else { return false };
    let mut node = root;
    for seg in parents {
        let Seg::Key(k) = seg else { return false };
        let Value::Map(entries) = &mut node.value else { return false };
        let Some((_, child)) = entries.iter_mut().find(|(key, _)| key.name.as_ref() == k.as_str()) else {
            return false;
        };
        node = child;
    }
    let Value::Map(entries) = &mut node.value else { return false };
    let before = entries.len();
    entries.retain(|(key, _)| key.name.as_ref() != last.as_str());
    entries.len() < before
}
