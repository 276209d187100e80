//! Where things were written: the source texts (files, stdin, `--set`, profiles), positions in
//! them, key paths, and the origin every diagnostic and every piece of intent carries.

use std::fmt;

use serde::Serialize;

/// Index of a source (file, stdin, `--set`, profile) in [`Sources`].
pub(crate) type SourceId = usize;

/// Where a node was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loc {
    pub source: SourceId,
    /// 1-based; 0 = unknown (e.g. a `--set` value).
    pub line: u32,
    pub column: u32,
}

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A key path, displayed the way users write them: `workloads.keycloak.ports.http.from[0]`;
/// keys with dots or slashes are bracketed: `podLabels["app.kubernetes.io/name"]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn key(&self, k: &str) -> KeyPath {
        let mut p = self.0.clone();
        p.push(Seg::Key(k.to_string()));
        KeyPath(p)
    }

    pub(crate) fn index(&self, i: usize) -> KeyPath {
        let mut p = self.0.clone();
        p.push(Seg::Index(i));
        KeyPath(p)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if k.contains(['.', '/', '[', ']', ' ', '"']) || k.is_empty() => {
                    write!(f, "[{k:?}]")?
                }
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// The texts every node points into, by [`SourceId`].
#[derive(Clone, Debug, Default)]
pub struct Sources {
    entries: Vec<Source>,
}

#[derive(Clone, Debug)]
pub struct Source {
    /// As the user named it: a path, `<stdin>`, `--set`, `profile:NAME`.
    pub name: std::sync::Arc<str>,
    /// Shared, not copied, by every holder of the sources (a values file can be megabytes).
    pub text: std::sync::Arc<str>,
    /// Where each line starts, built when a diagnostic first quotes the text: 10,000
    /// warnings on a 240,000-line file must not each scan it from the top.
    line_starts: std::sync::Arc<std::sync::OnceLock<Vec<usize>>>,
}

impl Sources {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<std::sync::Arc<str>>) -> SourceId {
        let name: String = name.into();
        self.entries.push(Source { name: name.into(), text: text.into(), line_starts: Default::default() });
        self.entries.len() - 1
    }

    /// The source called `name`, added with `text` when it is not there yet.
    pub(crate) fn id_for(&mut self, name: &str, text: &str) -> SourceId {
        match self.entries.iter().position(|s| &*s.name == name) {
            Some(id) => id,
            None => self.add(name, text),
        }
    }

    pub fn get(&self, id: SourceId) -> Option<&Source> {
        self.entries.get(id)
    }

    /// Line `number` (1-based, without its line break) of the source called `name`.
    pub fn line(&self, name: &str, number: usize) -> Option<&str> {
        let source = self.entries.iter().find(|s| &*s.name == name)?;
        let text = &*source.text;
        let starts = source
            .line_starts
            .get_or_init(|| std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect());
        let start = *starts.get(number.checked_sub(1)?)?;
        let end = starts.get(number).map_or(text.len(), |next| next - 1);
        // Like `str::lines`: no empty last line after a final line break, none in an empty text.
        if start > text.len() || (start == text.len() && starts.get(number).is_none()) {
            return None;
        }
        let line = text.get(start..end)?;
        Some(line.strip_suffix('\r').unwrap_or(line))
    }

    pub fn name(&self, id: SourceId) -> &str {
        self.entries.get(id).map_or("<unknown>", |s| &*s.name)
    }

    /// The names of the sources that are files (for the output header).
    pub(crate) fn file_names(&self) -> Vec<&str> {
        self.entries
            .iter()
            .map(|s| &*s.name)
            .filter(|n| !n.starts_with(['<', '-']) && !n.starts_with("profile:"))
            .collect()
    }

    pub fn origin(&self, loc: Loc, path: &KeyPath) -> Origin {
        Origin {
            file: self.entries.get(loc.source).map_or_else(|| "<unknown>".into(), |s| s.name.clone()),
            line: loc.line,
            column: loc.column,
            path: path.to_string(),
        }
    }
}

/// Whether the key path `inner` is `outer` or a key or index under it (`a.b[0]` is within
/// `a.b`; `a.bc` is not). The empty path is within everything and contains only itself.
pub fn path_within(inner: &str, outer: &str) -> bool {
    inner.strip_prefix(outer).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Where a piece of intent came from, so that engine errors can point at the values.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Origin {
    /// The values file (or `--set`) the construct was written in; shared, not copied, by the
    /// many origins of one file.
    pub file: std::sync::Arc<str>,
    /// 1-based line; 0 when unknown (defaults, profiles).
    pub line: u32,
    /// 1-based column; 0 when unknown.
    pub column: u32,
    /// Dotted key path, e.g. `workloads.keycloak.ports.http.from[0]`.
    pub path: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.path)
        } else if self.file.is_empty() {
            write!(f, "{}", self.path)
        } else {
            write!(f, "{}: {}", self.file, self.path)
        }
    }
}
