//! Deserialise typed values from a [`Node`] tree, so that every error knows the file, line,
//! column and key path of the offending node, and unknown keys come with a suggestion.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::tree::{Key, Node, Value};
use crate::error::Diagnostic;
use crate::vocab::source::{KeyPath, Loc, Sources};

/// A deserialisation error, located once at the innermost node it came from.
#[derive(Debug)]
pub struct DeError {
    code: crate::error::Code,
    message: String,
    help: Option<String>,
    at: Option<(Loc, KeyPath)>,
}

impl DeError {
    /// The next step offered ("did you mean `from`?", "expected one of: …").
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    pub(crate) fn into_diagnostic(self, sources: &Sources) -> Diagnostic {
        let mut d = Diagnostic::new(self.message).coded(self.code);
        if let Some((loc, path)) = self.at {
            d = d.at(&sources.origin(loc, &path));
        }
        if let Some(help) = self.help {
            d = d.with_help(help);
        }
        d
    }

    /// The key path of the node the error is about, if it is located.
    pub(crate) fn key_path(&self) -> Option<&KeyPath> {
        self.at.as_ref().map(|(_, path)| path)
    }

    fn locate(mut self, loc: Loc, path: &Path<'_>) -> Self {
        if self.at.is_none() {
            self.at = Some((loc, path.to_key_path()));
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError { code: crate::error::Code::InvalidValue, message: msg.to_string(), help: None, at: None }
    }

    fn missing_field(field: &'static str) -> Self {
        DeError {
            code: crate::error::Code::MissingKey,
            message: format!("missing key `{field}`"),
            help: None,
            at: None,
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError {
            code: crate::error::Code::UnknownKey,
            message: format!("unknown key `{field}`"),
            help: Some(suggest(field, expected)),
            at: None,
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError {
            code: crate::error::Code::InvalidValue,
            message: format!("unknown value `{variant}`"),
            help: Some(suggest(variant, expected)),
            at: None,
        }
    }
}

/// The known name closest to `got`, if it is close enough to be what was meant.
pub(crate) fn close_match<'a>(got: &str, expected: &[&'a str]) -> Option<&'a str> {
    expected
        .iter()
        .map(|e| (strsim::jaro_winkler(&got.to_lowercase(), &e.to_lowercase()), *e))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// "did you mean `x`?" when a known name is close, else the list of known names.
pub(crate) fn suggest(got: &str, expected: &[&str]) -> String {
    match close_match(got, expected) {
        Some(name) => format!("did you mean `{name}`?"),
        None if expected.is_empty() => "no keys are allowed here".to_string(),
        None => format!(
            "expected one of: {}",
            expected.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Deserialise `T` from `node`, whose key path is `path`.
pub(crate) fn from_node<'a, T: de::Deserialize<'a>>(node: &'a Node, path: &KeyPath) -> Result<T, DeError> {
    let root = Path::Root(path);
    T::deserialize(NodeDe { node, path: &root }).map_err(|e| e.locate(node.loc, &root))
}

/// The key path of the node being deserialised, as a chain on the stack: it is turned into a
/// [`KeyPath`] only when an error needs it, so large inputs do not pay for it.
enum Path<'p> {
    Root(&'p KeyPath),
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl Path<'_> {
    fn to_key_path(&self) -> KeyPath {
        match self {
            Path::Root(p) => (*p).clone(),
            Path::Key(parent, k) => parent.to_key_path().key(k),
            Path::Index(parent, i) => parent.to_key_path().index(*i),
        }
    }
}

struct NodeDe<'de, 'p> {
    node: &'de Node,
    path: &'p Path<'p>,
}

impl NodeDe<'_, '_> {
    fn wrap<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| e.locate(self.node.loc, self.path))
    }
}

impl<'de> Deserializer<'de> for NodeDe<'de, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Seq(items) => {
                visitor.visit_seq(SeqDe { items: items.iter().enumerate(), path: self.path })
            }
            Value::Map(entries) => {
                visitor.visit_map(MapDe { entries: entries.iter(), value: None, path: self.path })
            }
        };
        self.wrap(r)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.value {
            Value::Null => self.wrap(visitor.visit_none()),
            _ => {
                let (loc, path) = (self.node.loc, self.path);
                visitor.visit_some(self).map_err(|e| e.locate(loc, path))
            }
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let (loc, path) = (self.node.loc, self.path);
        visitor.visit_newtype_struct(self).map_err(|e| e.locate(loc, path))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Str(s) => {
                let r = visitor.visit_enum(de::value::BorrowedStrDeserializer::<DeError>::new(s));
                self.wrap(r)
            }
            _ => self.wrap(Err(de::Error::custom(format!("expected a string, found {}", self.node.kind())))),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct SeqDe<'p, I> {
    items: I,
    path: &'p Path<'p>,
}

impl<'de, I: Iterator<Item = (usize, &'de Node)>> SeqAccess<'de> for SeqDe<'_, I> {
    type Error = DeError;

    /// Exact, so typed lists are allocated once at their size.
    fn size_hint(&self) -> Option<usize> {
        self.items.size_hint().1
    }

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => {
                let path = Path::Index(self.path, i);
                seed.deserialize(NodeDe { node, path: &path })
                    .map(Some)
                    .map_err(|e| e.locate(node.loc, &path))
            }
        }
    }
}

struct MapDe<'p, 'de, I> {
    entries: I,
    value: Option<(&'de Node, &'de str)>,
    path: &'p Path<'p>,
}

impl<'de, I: Iterator<Item = &'de (Key, Node)>> MapAccess<'de> for MapDe<'_, 'de, I> {
    type Error = DeError;

    fn size_hint(&self) -> Option<usize> {
        self.entries.size_hint().1
    }

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, node)) => {
                let name: &'de str = &key.name;
                self.value = Some((node, name));
                seed.deserialize(name.into_deserializer())
                    .map(Some)
                    .map_err(|e: DeError| e.locate(key.loc, &Path::Key(self.path, name)))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (node, name) = self.value.take().ok_or_else(|| de::Error::custom("value without a key"))?;
        let path = Path::Key(self.path, name);
        seed.deserialize(NodeDe { node, path: &path }).map_err(|e| e.locate(node.loc, &path))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::values::tree::parse;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Top {
        network_policy: Option<Inner>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        enabled: bool,
        #[serde(default)]
        ports: Vec<u16>,
    }

    fn load(text: &str) -> Result<Top, Diagnostic> {
        let mut sources = Sources::default();
        let id = sources.add("values.yaml", text);
        let node = parse(text, id, &sources)?;
        from_node(&node, &KeyPath::default()).map_err(|e| e.into_diagnostic(&sources))
    }

    #[test]
    fn typed_values_deserialise() {
        let top =
            load("networkPolicy:\n  enabled: true\n  ports: [80, 443]\nlabels: {a: b}\n").expect("valid");
        assert_eq!(top.network_policy, Some(Inner { enabled: true, ports: vec![80, 443] }));
    }

    #[test]
    fn unknown_keys_are_located_and_get_a_suggestion() {
        let d = load("networkPolicy:\n  enabled: true\n  prots: [80]\n").expect_err("typo");
        assert_eq!(d.message, "unknown key `prots`");
        assert_eq!(d.help.as_deref(), Some("did you mean `ports`?"));
        let o = d.origin.expect("located");
        assert_eq!(
            (&*o.file, o.line, o.column, o.path.as_str()),
            ("values.yaml", 3, 3, "networkPolicy.prots")
        );
    }

    #[test]
    fn wrong_types_point_at_the_value() {
        let d = load("networkPolicy:\n  enabled: true\n  ports: [80, 99999]\n").expect_err("range");
        let o = d.origin.expect("located");
        assert_eq!((o.line, o.column, o.path.as_str()), (3, 15, "networkPolicy.ports[1]"));
        let d = load("networkPolicy:\n  enabled: yes\n").expect_err("not a bool");
        assert_eq!(d.origin.expect("located").path, "networkPolicy.enabled");
    }

    #[test]
    fn missing_keys_point_at_the_map() {
        let d = load("networkPolicy:\n  ports: []\n").expect_err("missing");
        assert!(d.message.contains("enabled"), "{}", d.message);
        assert_eq!(d.origin.expect("located").path, "networkPolicy");
    }
}
