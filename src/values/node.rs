//! A YAML document as a tree of nodes that remember where they were written.
//!
//! Files are parsed once into this tree; Helm-style merging and `--set` operate on it; typed
//! values are deserialised from it (see `de`), so every error can name file, line, column and
//! key path.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::error::Diagnostic;
use crate::intent::Origin;

/// Index of a source (file, stdin, `--set`, profile) in [`Sources`].
pub type SourceId = usize;

/// Where a node was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loc {
    pub source: SourceId,
    /// 1-based; 0 = unknown (e.g. a `--set` value).
    pub line: u32,
    pub column: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in the order written; keys are unique (duplicates are rejected by the parser).
    Map(Vec<(Key, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub loc: Loc,
}

impl Node {
    pub fn new(value: Value, loc: Loc) -> Self {
        Node { value, loc }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The name of the value's type, for messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    /// Follow `path` as far as it exists; returns the deepest node reached and its location.
    pub fn locate(&self, path: &[Seg]) -> Loc {
        let mut node = self;
        let mut loc = self.loc;
        for seg in path {
            let next = match (seg, &node.value) {
                (Seg::Key(k), Value::Map(entries)) => {
                    entries.iter().find(|(key, _)| &key.name == k).map(|(key, v)| (key.loc, v))
                }
                (Seg::Index(i), Value::Seq(items)) => items.get(*i).map(|v| (v.loc, v)),
                _ => None,
            };
            match next {
                Some((l, n)) => {
                    loc = l;
                    node = n;
                }
                None => break,
            }
        }
        loc
    }

    /// Convert to JSON (for verbatim passthrough). Keys stay strings; maps become sorted.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => serde_json::Value::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => serde_json::Value::Object(
                entries.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect(),
            ),
        }
    }
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

    pub fn index(&self, i: usize) -> KeyPath {
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
    pub name: String,
    pub text: String,
}

impl Sources {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> SourceId {
        self.entries.push(Source { name: name.into(), text: text.into() });
        self.entries.len() - 1
    }

    pub fn get(&self, id: SourceId) -> Option<&Source> {
        self.entries.get(id)
    }

    /// The text of the source called `name`.
    pub fn by_name(&self, name: &str) -> Option<&str> {
        self.entries.iter().find(|s| s.name == name).map(|s| s.text.as_str())
    }

    pub fn name(&self, id: SourceId) -> &str {
        self.entries.get(id).map_or("<unknown>", |s| s.name.as_str())
    }

    /// The names of the sources that are files (for the output header).
    pub fn file_names(&self) -> Vec<&str> {
        self.entries.iter().map(|s| s.name.as_str()).filter(|n| !n.starts_with(['<', '-'])).collect()
    }

    pub fn origin(&self, loc: Loc, path: &KeyPath) -> Origin {
        Origin {
            file: self.name(loc.source).to_string(),
            line: loc.line,
            column: loc.column,
            path: path.to_string(),
        }
    }
}

/// Largest values file accepted (bytes); generous for generated inputs with 10,000 workloads.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// Parse one YAML text into a node tree. An empty document is an empty map.
pub fn parse(text: &str, source: SourceId, sources: &Sources) -> Result<Node, Diagnostic> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(Diagnostic::new(format!(
            "{} is {} bytes; the limit is {MAX_INPUT_BYTES}",
            sources.name(source),
            text.len()
        )));
    }
    if text.trim().is_empty() || text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(Node::new(Value::Map(Vec::new()), Loc { source, line: 1, column: 1 }));
    }
    let mut options = serde_saphyr::Options::default();
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = budget.max_events.max(50_000_000);
    budget.max_nodes = budget.max_nodes.max(50_000_000);
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(MAX_INPUT_BYTES);
    options.budget = Some(budget);
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    // Only `true`/`false` are booleans: `no`, `on`, `y` stay strings (YAML 1.2), so a country
    // code or a label value is never flipped into a boolean behind the user's back.
    options.strict_booleans = true;
    let raw: Spanned<Raw> = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let mut d = Diagnostic::new(format!(
            "{}: invalid YAML: {}",
            sources.name(source),
            first_line(&e.to_string())
        ));
        if let Some(loc) = e.location() {
            d.origin = Some(Origin {
                file: sources.name(source).to_string(),
                line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
                column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
                path: String::new(),
            });
        }
        d
    })?;
    let mut node = into_node(raw, source);
    if matches!(node.value, Value::Null) {
        node.value = Value::Map(Vec::new());
    }
    check_unique_keys(&node, sources, &KeyPath::default())?;
    Ok(node)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Belt and braces: a map with a repeated key would make the later entry win silently.
fn check_unique_keys(node: &Node, sources: &Sources, path: &KeyPath) -> Result<(), Diagnostic> {
    match &node.value {
        Value::Map(entries) => {
            let mut seen = BTreeSet::new();
            for (k, v) in entries {
                let p = path.key(&k.name);
                if !seen.insert(k.name.as_str()) {
                    return Err(
                        Diagnostic::new(format!("duplicate key `{}`", k.name)).at(&sources.origin(k.loc, &p))
                    );
                }
                check_unique_keys(v, sources, &p)?;
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                check_unique_keys(v, sources, &path.index(i))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn loc_of(l: &serde_saphyr::Location, source: SourceId) -> Loc {
    Loc {
        source,
        line: u32::try_from(l.line()).unwrap_or(u32::MAX),
        column: u32::try_from(l.column()).unwrap_or(u32::MAX),
    }
}

/// What the YAML parser hands us, before locations are attached to our own tree.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<RawKey>, Spanned<Raw>)>),
}

/// Map keys: YAML allows any scalar; we keep its text.
struct RawKey(String);

fn into_node(raw: Spanned<Raw>, source: SourceId) -> Node {
    {
        let this = raw;
        let loc = loc_of(&this.referenced, source);
        let value = match this.value {
            Raw::Null => Value::Null,
            Raw::Bool(b) => Value::Bool(b),
            Raw::Int(i) => Value::Int(i),
            Raw::Float(f) => Value::Float(f),
            Raw::Str(s) => Value::Str(s),
            Raw::Seq(items) => Value::Seq(items.into_iter().map(|i| into_node(i, source)).collect()),
            Raw::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        (Key { name: k.value.0, loc: loc_of(&k.referenced, source) }, into_node(v, source))
                    })
                    .collect(),
            ),
        };
        Node { value, loc }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
                Raw::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
                i64::try_from(v).map(Raw::Int).or(Ok(Raw::Float(v as f64)))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
                i64::try_from(v).map(Raw::Int).or(Ok(Raw::Float(v as f64)))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
                i64::try_from(v).map(Raw::Int).or(Ok(Raw::Float(v as f64)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
                    items.push(item);
                }
                Ok(Raw::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<Spanned<RawKey>, Spanned<Raw>>()? {
                    entries.push(entry);
                }
                Ok(Raw::Map(entries))
            }
        }
        d.deserialize_any(RawVisitor)
    }
}

impl<'de> Deserialize<'de> for RawKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = RawKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar map key")
            }
            fn visit_str<E>(self, v: &str) -> Result<RawKey, E> {
                Ok(RawKey(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawKey, E> {
                Ok(RawKey(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawKey, E> {
                Ok(RawKey(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawKey, E> {
                Ok(RawKey(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawKey, E> {
                Ok(RawKey(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<RawKey, E> {
                Ok(RawKey("null".to_string()))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Node, Diagnostic> {
        let mut sources = Sources::default();
        let id = sources.add("t.yaml", text);
        parse(text, id, &sources)
    }

    #[test]
    fn nodes_remember_lines_and_columns() {
        let node = parse_str("a:\n  b: [1, two]\n  c: {d: true}\n").expect("parses");
        let b = node.get("a").and_then(|a| a.get("b")).expect("a.b");
        assert_eq!((b.loc.line, b.loc.column), (2, 6));
        let path = [Seg::Key("a".into()), Seg::Key("c".into()), Seg::Key("d".into())];
        let loc = node.locate(&path);
        assert_eq!((loc.line, loc.column), (3, 7));
        match &b.value {
            Value::Seq(items) => {
                assert_eq!(items[0].value, Value::Int(1));
                assert_eq!(items[1].value, Value::Str("two".into()));
            }
            other => panic!("not a list: {other:?}"),
        }
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let err = parse_str("a: 1\na: 2\n").expect_err("duplicate");
        assert!(err.message.contains("duplicate") || err.message.contains("Duplicate"), "{}", err.message);
    }

    #[test]
    fn empty_documents_are_empty_maps() {
        assert_eq!(parse_str("# only a comment\n").expect("parses").value, Value::Map(Vec::new()));
    }

    #[test]
    fn yaml11_words_stay_strings() {
        let node = parse_str("a: no\nb: on\n").expect("parses");
        assert_eq!(node.get("a").map(|n| &n.value), Some(&Value::Str("no".into())));
    }

    #[test]
    fn key_paths_bracket_keys_with_dots() {
        let p = KeyPath::default().key("podLabels").key("app.kubernetes.io/name");
        assert_eq!(p.to_string(), "podLabels[\"app.kubernetes.io/name\"]");
        assert_eq!(KeyPath::default().key("a").index(2).key("b").to_string(), "a[2].b");
    }
}
