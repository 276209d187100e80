//! The values format: parsing with locations, Helm-style merging, `--set`, typed values.

pub mod checked;
pub mod de;
pub mod merge;
pub mod node;
pub mod set;
pub mod types;

use std::path::Path;

use crate::error::{Diagnostic, Error, Result};
use node::{KeyPath, Loc, Node, Sources, Value};

/// One input, in command-line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// `-f PATH`; `-` is standard input.
    File(String),
    /// `--set a.b=c`.
    Set(String),
    /// `--set-string a.b=c`.
    SetString(String),
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
    pub fn origin(&self, path: &KeyPath) -> crate::intent::Origin {
        let loc = self.root.locate(&path.0);
        self.sources.origin(loc, path)
    }
}

/// Read, parse and merge the inputs (later wins, Helm rules), then type-check the result.
/// `stdin` supplies the text of `-f -`.
/// The texts read are added to `sources` even when loading fails, so errors can quote them.
pub fn load(
    inputs: &[Input],
    sources: &mut Sources,
    stdin: &mut dyn FnMut() -> std::io::Result<String>,
) -> Result<Loaded> {
    let mut root: Option<Node> = None;
    let mut stdin_used = false;
    for input in inputs {
        let overlay = match input {
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
                node::parse(&text, id, sources).map_err(Error::invalid)?
            }
            Input::Set(arg) | Input::SetString(arg) => {
                let typing =
                    if matches!(input, Input::Set(_)) { set::Typing::Infer } else { set::Typing::String };
                let flag = if typing == set::Typing::Infer { "--set" } else { "--set-string" };
                let id = sources.add(format!("{flag} {arg}"), arg.as_str());
                set::parse_set(arg, typing, Loc { source: id, line: 0, column: 0 })
                    .map_err(|e| Error::invalid(Diagnostic::new(format!("{flag}: {e}"))))?
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
            Diagnostic::new(format!("the values must be a map, found {}", root.kind())).at(&origin),
        ));
    }
    let mut root = root;
    crate::profiles::apply(&mut root, sources).map_err(Error::invalid)?;
    let values =
        de::from_node(&root, &KeyPath::default()).map_err(|e| Error::invalid(e.into_diagnostic(sources)))?;
    Ok(Loaded { root, sources: sources.clone(), values })
}
