//! The located YAML tree: a document as nodes that remember where they were written.
//!
//! Files are parsed once into this tree; Helm-style merging and `--set` operate on it; typed
//! values are deserialised from it (see `de`), so every error can name file, line, column and
//! key path.

use serde_saphyr::granit_parser::{self, Event, ScalarStyle, Tag};

use crate::error::Diagnostic;
use crate::input::MAX_INPUT_BYTES;
use crate::vocab::Origin;
use crate::vocab::source::{KeyPath, Loc, Seg, SourceId, Sources};

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
    /// Entries sorted by key name, so lookups are binary searches even in maps of 10,000
    /// workloads; keys are unique (duplicates are rejected by the parser).
    Map(Vec<(Key, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// Shared among equal keys: a values file repeats a few dozen key names thousands of times.
    pub name: std::sync::Arc<str>,
    pub loc: Loc,
}

impl Node {
    pub fn new(value: Value, loc: Loc) -> Self {
        Node { value, loc }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => map_index(entries, key).ok().and_then(|i| entries.get(i)).map(|(_, v)| v),
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

    /// The node at `path`, if it exists.
    pub fn at(&self, path: &[Seg]) -> Option<&Node> {
        let mut node = self;
        for seg in path {
            node = match (seg, &node.value) {
                (Seg::Key(k), Value::Map(entries)) => {
                    &map_index(entries, k).ok().and_then(|i| entries.get(i))?.1
                }
                (Seg::Index(i), Value::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Follow `path` as far as it exists; returns the deepest node reached and its location.
    pub(crate) fn locate(&self, path: &[Seg]) -> Loc {
        let mut node = self;
        let mut loc = self.loc;
        for seg in path {
            let next = match (seg, &node.value) {
                (Seg::Key(k), Value::Map(entries)) => {
                    map_index(entries, k).ok().and_then(|i| entries.get(i)).map(|(key, v)| (key.loc, v))
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
                entries.iter().map(|(k, v)| (k.name.to_string(), v.to_json())).collect(),
            ),
        }
    }
}

/// Position of `key` in sorted map entries (`Err`: where it would be inserted).
pub(crate) fn map_index(entries: &[(Key, Node)], key: &str) -> Result<usize, usize> {
    entries.binary_search_by(|(k, _)| (*k.name).cmp(key))
}

/// Most nodes one input may expand to, aliases included: stops "billion laughs" inputs.
pub(crate) const MAX_NODES: usize = 5_000_000;
/// Deepest nesting accepted.
pub(crate) const MAX_DEPTH: usize = 200;

/// Parse one YAML text into a node tree. An empty document is an empty map.
///
/// Built directly from the parser's events (not through serde), which keeps a 10,000-workload
/// file fast and gives every node its line and column.
pub fn parse(text: &str, source: SourceId, sources: &Sources) -> Result<Node, Diagnostic> {
    let builder = build(text, source, sources, false)?;
    let mut node = builder
        .roots
        .into_iter()
        .next()
        .unwrap_or_else(|| Node::new(Value::Null, Loc { source, line: 1, column: 1 }));
    if matches!(node.value, Value::Null) {
        node.value = Value::Map(Vec::new());
    }
    check_unique_keys(&node, sources, &KeyPath::default())?;
    Ok(node)
}

/// Parse a multi-document YAML text (manifests) into one node per document, in order; an
/// empty document is a null node.
pub(crate) fn parse_documents(
    text: &str,
    source: SourceId,
    sources: &Sources,
) -> Result<Vec<Node>, Diagnostic> {
    let builder = build(text, source, sources, true)?;
    for root in &builder.roots {
        check_unique_keys(root, sources, &KeyPath::default())?;
    }
    Ok(builder.roots)
}

fn build(
    text: &str,
    source: SourceId,
    sources: &Sources,
    many_documents: bool,
) -> Result<TreeBuilder, Diagnostic> {
    let name = sources.name(source).to_string();
    if text.len() > MAX_INPUT_BYTES {
        return Err(Diagnostic::syntax(format!(
            "{name} is {} bytes; the limit is {MAX_INPUT_BYTES}",
            text.len()
        )));
    }
    let located = |message: String, line: usize, column: usize| {
        Diagnostic::syntax(message).at(&Origin {
            file: name.as_str().into(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
            path: String::new(),
        })
    };
    let mut builder = TreeBuilder {
        stack: Vec::new(),
        anchors: Vec::new(),
        nodes: 0,
        documents: 0,
        many_documents,
        roots: Vec::new(),
        key_names: Default::default(),
    };
    let mut consume = |item: ParsedEvent<'_>| -> Result<(), Diagnostic> {
        let (event, span) = item.map_err(|e| {
            let m = e.marker();
            located(format!("{name}: invalid YAML: {}", e.info()), m.line(), m.col() + 1)
        })?;
        let loc = Loc {
            source,
            line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
            column: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
        };
        builder
            .event(event, loc)
            .map_err(|message| located(format!("{name}: {message}"), loc.line as usize, loc.column as usize))
    };
    if text.len() < PIPELINE_FROM_BYTES {
        for item in granit_parser::Parser::new_from_str(text) {
            consume(item)?;
        }
    } else {
        // Large inputs: the parser runs on a second thread while this one builds the tree,
        // handing over events in batches.
        std::thread::scope(|scope| -> Result<(), Diagnostic> {
            let (send, receive) = std::sync::mpsc::sync_channel::<Vec<ParsedEvent<'_>>>(8);
            scope.spawn(move || {
                let mut batch = Vec::with_capacity(EVENT_BATCH);
                for item in granit_parser::Parser::new_from_str(text) {
                    let failed = item.is_err();
                    batch.push(item);
                    if batch.len() == EVENT_BATCH || failed {
                        // The receiver hangs up after an error: stop parsing then.
                        if send.send(std::mem::replace(&mut batch, Vec::with_capacity(EVENT_BATCH))).is_err()
                            || failed
                        {
                            return;
                        }
                    }
                }
                let _ = send.send(batch);
            });
            for batch in receive {
                for item in batch {
                    consume(item)?;
                }
            }
            Ok(())
        })?;
    }
    Ok(builder)
}

/// One parser event with its span, or the parser's error.
type ParsedEvent<'a> = Result<(Event<'a>, granit_parser::Span), granit_parser::ScanError>;
/// Inputs from this size on are parsed on a second thread while the tree is built.
const PIPELINE_FROM_BYTES: usize = 1 << 20;
const EVENT_BATCH: usize = 4096;

/// Collections under construction while events stream in.
enum Frame {
    Seq { node: Node, anchor: usize },
    Map { node: Node, anchor: usize, key: Option<Key> },
}

struct TreeBuilder {
    stack: Vec<Frame>,
    /// Anchored nodes by the parser's anchor id (ids start at 1).
    anchors: Vec<Option<(Node, usize)>>,
    nodes: usize,
    documents: usize,
    /// Manifests hold many documents; a values file holds one.
    many_documents: bool,
    roots: Vec<Node>,
    key_names: std::collections::BTreeSet<std::sync::Arc<str>>,
}

impl TreeBuilder {
    fn event(&mut self, event: Event<'_>, loc: Loc) -> Result<(), String> {
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => Ok(()),
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 && !self.many_documents {
                    return Err("a values file holds one YAML document; found a second `---` document".into());
                }
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(&text, style, tag.as_deref())?;
                self.finish(Node::new(value, loc), anchor)
            }
            Event::SequenceStart(_, anchor, _) => {
                self.open(Frame::Seq { node: Node::new(Value::Seq(Vec::new()), loc), anchor })
            }
            Event::MappingStart(_, anchor, _) => {
                self.open(Frame::Map { node: Node::new(Value::Map(Vec::new()), loc), anchor, key: None })
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                // Growth leaves up to half of a list unused; the tree lives through lowering.
                Some(Frame::Seq { mut node, anchor }) => {
                    if let Value::Seq(items) = &mut node.value {
                        items.shrink_to_fit();
                    }
                    self.finish(node, anchor)
                }
                Some(Frame::Map { mut node, anchor, key: _ }) => {
                    if let Value::Map(entries) = &mut node.value {
                        apply_merge_keys(entries)?;
                        entries.sort_by(|a, b| a.0.name.cmp(&b.0.name));
                        entries.shrink_to_fit();
                    }
                    self.finish(node, anchor)
                }
                None => Err("unbalanced collection end".into()),
            },
            Event::Alias(id) => {
                let (anchored, size) = self
                    .anchors
                    .get(id)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| "alias to an unknown anchor".to_string())?;
                // Count before copying, so an alias bomb is stopped before it allocates.
                self.nodes = self.nodes.saturating_add(*size);
                if self.nodes > MAX_NODES {
                    return Err(format!("more than {MAX_NODES} nodes after expanding aliases"));
                }
                let mut node = anchored.clone();
                relocate(&mut node, loc);
                self.nodes -= 1;
                self.finish(node, 0)
            }
            Event::UnresolvedAlias(name) => Err(format!("alias `*{name}` has no anchor")),
            // Comments and anchor metadata carry nothing for values.
            _ => Ok(()),
        }
    }

    fn open(&mut self, frame: Frame) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        self.stack.push(frame);
        Ok(())
    }

    /// A complete node: remember its anchor, then attach it to its parent.
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), String> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(format!("more than {MAX_NODES} nodes"));
        }
        if anchor > 0 {
            if self.anchors.len() <= anchor {
                self.anchors.resize(anchor + 1, None);
            }
            if let Some(slot) = self.anchors.get_mut(anchor) {
                *slot = Some((node.clone(), count_nodes(&node)));
            }
        }
        match self.stack.last_mut() {
            None => {
                self.roots.push(node);
                Ok(())
            }
            Some(Frame::Seq { node: parent, .. }) => {
                if let Value::Seq(items) = &mut parent.value {
                    items.push(node);
                }
                Ok(())
            }
            Some(Frame::Map { node: parent, key, .. }) => match key.take() {
                None => {
                    let name = match node.value {
                        Value::Str(s) => s,
                        Value::Int(i) => i.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Null => "null".to_string(),
                        Value::Seq(_) | Value::Map(_) => return Err("map keys must be scalars".into()),
                    };
                    let name = match self.key_names.get(name.as_str()) {
                        Some(shared) => shared.clone(),
                        None => {
                            let shared: std::sync::Arc<str> = name.into();
                            self.key_names.insert(shared.clone());
                            shared
                        }
                    };
                    *key = Some(Key { name, loc: node.loc });
                    Ok(())
                }
                Some(k) => {
                    if let Value::Map(entries) = &mut parent.value {
                        entries.push((k, node));
                    }
                    Ok(())
                }
            },
        }
    }
}

/// YAML merge keys (`<<: *base`): entries of the merged maps that the map does not set itself.
fn apply_merge_keys(entries: &mut Vec<(Key, Node)>) -> Result<(), String> {
    let Some(pos) = entries.iter().position(|(k, _)| &*k.name == "<<") else { return Ok(()) };
    let (_, merged) = entries.remove(pos);
    let sources = match merged.value {
        Value::Map(_) => vec![merged],
        Value::Seq(items) => items,
        _ => return Err("`<<` must merge a map or a list of maps".into()),
    };
    for source in sources {
        let Value::Map(extra) = source.value else {
            return Err("`<<` must merge a map or a list of maps".into());
        };
        for (k, v) in extra {
            if !entries.iter().any(|(existing, _)| existing.name == k.name) {
                entries.push((k, v));
            }
        }
    }
    Ok(())
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| count_nodes(v)).sum(),
        _ => 0,
    }
}

/// An alias expands where it is used: errors inside it point at the alias.
fn relocate(node: &mut Node, loc: Loc) {
    node.loc = loc;
}

/// Resolve a scalar with the YAML 1.2 core schema, strictly: only `true`/`false` are booleans
/// (`no`, `on`, `y` stay strings, so nothing is flipped behind the user's back), and numbers
/// with leading zeros stay strings (`007` is not 7).
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        return match tag.suffix() {
            "str" => Ok(Value::Str(text.to_string())),
            "null" => Ok(Value::Null),
            "bool" | "int" | "float" => match plain(text) {
                v @ (Value::Bool(_) | Value::Int(_) | Value::Float(_)) => Ok(v),
                _ => Err(format!("`{text}` is not a valid !!{}", tag.suffix())),
            },
            other => Err(format!("unsupported YAML tag `!{other}`")),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::Str(text.to_string()));
    }
    Ok(plain(text))
}

fn plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if digits.len() > 1 && digits.starts_with('0') {
            return Value::Str(text.to_string());
        }
        return text.parse::<i64>().map(Value::Int).unwrap_or_else(|_| Value::Str(text.to_string()));
    }
    if let Some(Ok(i)) = text.strip_prefix("0x").map(|h| i64::from_str_radix(h, 16)) {
        return Value::Int(i);
    }
    if let Some(Ok(i)) = text.strip_prefix("0o").map(|o| i64::from_str_radix(o, 8)) {
        return Value::Int(i);
    }
    let looks_numeric =
        text.bytes().next().is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'))
            && text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
            && text.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric
        && (!digits.starts_with('0') || digits.starts_with("0."))
        && let Ok(f) = text.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(text.to_string())
}

/// Belt and braces: a map with a repeated key would make the later entry win silently.
fn check_unique_keys(node: &Node, sources: &Sources, path: &KeyPath) -> Result<(), Diagnostic> {
    match find_duplicate(node) {
        None => Ok(()),
        Some((mut trail, first, second)) => {
            trail.reverse();
            let mut p = path.clone();
            for seg in trail {
                p.0.push(seg);
            }
            let p = p.key(&second.name);
            Err(Diagnostic::syntax(format!("duplicate key `{}`", second.name))
                .at(&sources.origin(second.loc, &p))
                .with_help(format!("it is first set at line {}", first.loc.line)))
        }
    }
}

/// The first repeated key, with the path to its map (innermost segment first): the path is
/// only built when there is something to report.
fn find_duplicate(node: &Node) -> Option<(Vec<Seg>, &Key, &Key)> {
    match &node.value {
        Value::Map(entries) => {
            for pair in entries.windows(2) {
                if let [(a, _), (b, _)] = pair
                    && a.name == b.name
                {
                    let (first, second) =
                        if (a.loc.line, a.loc.column) < (b.loc.line, b.loc.column) { (a, b) } else { (b, a) };
                    return Some((Vec::new(), first, second));
                }
            }
            entries.iter().find_map(|(k, v)| {
                find_duplicate(v).map(|(mut trail, a, b)| {
                    trail.push(Seg::Key(k.name.to_string()));
                    (trail, a, b)
                })
            })
        }
        Value::Seq(items) => items.iter().enumerate().find_map(|(i, v)| {
            find_duplicate(v).map(|(mut trail, a, b)| {
                trail.push(Seg::Index(i));
                (trail, a, b)
            })
        }),
        _ => None,
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
    fn large_inputs_parsed_on_two_threads_keep_locations_and_errors() {
        let mut text = String::from("workloads:\n");
        let mut n = 0;
        while text.len() <= PIPELINE_FROM_BYTES + 1000 {
            text.push_str(&format!(
                "  w{n}: {{namespace: ns, ports: {{http: {{port: 8080, from: [{{namespace: a}}]}}}}}}\n"
            ));
            n += 1;
        }
        let node = parse_str(&text).expect("parses");
        let last = node.get("workloads").and_then(|w| w.get(&format!("w{}", n - 1))).expect("last workload");
        assert_eq!(last.loc.line as usize, n + 1);
        let broken = text.clone() + "  bad: [unclosed\n";
        let e = parse_str(&broken).expect_err("invalid");
        assert!(e.message.contains("invalid YAML"), "{}", e.message);
        assert_eq!(e.origin.as_ref().map(|o| o.line as usize), Some(n + 2));
        let duplicate = text + "  w0: {}\n";
        assert!(parse_str(&duplicate).expect_err("duplicate").message.contains("duplicate key"));
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
    fn anchors_aliases_and_merge_keys() {
        let node = parse_str("base: &b {port: 80, from: []}\nweb:\n  <<: *b\n  port: 8080\ncopy: *b\n")
            .expect("parses");
        assert_eq!(node.get("web").map(Node::to_json), Some(serde_json::json!({"port": 8080, "from": []})));
        assert_eq!(node.get("copy").map(Node::to_json), Some(serde_json::json!({"port": 80, "from": []})));
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse_str(&text).expect_err("bomb");
        assert!(err.message.contains("nodes"), "{}", err.message);
    }

    #[test]
    fn one_document_per_file() {
        assert!(parse_str("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn scalars_resolve_strictly() {
        let node =
            parse_str("a: 007\nb: '80'\nc: 1.5\nd: ~\ne: -3\nf: 1e3\ng: 10.0.0.1/8\n").expect("parses");
        let get = |k: &str| node.get(k).map(|n| n.value.clone());
        assert_eq!(get("a"), Some(Value::Str("007".into())));
        assert_eq!(get("b"), Some(Value::Str("80".into())));
        assert_eq!(get("c"), Some(Value::Float(1.5)));
        assert_eq!(get("d"), Some(Value::Null));
        assert_eq!(get("e"), Some(Value::Int(-3)));
        assert_eq!(get("f"), Some(Value::Float(1000.0)));
        assert_eq!(get("g"), Some(Value::Str("10.0.0.1/8".into())));
    }

    #[test]
    fn key_paths_bracket_keys_with_dots() {
        let p = KeyPath::default().key("podLabels").key("app.kubernetes.io/name");
        assert_eq!(p.to_string(), "podLabels[\"app.kubernetes.io/name\"]");
        assert_eq!(KeyPath::default().key("a").index(2).key("b").to_string(), "a[2].b");
    }
}

#[cfg(test)]
mod line_tests {
    use super::Sources;

    /// `line` answers what `str::lines().nth()` does, without scanning from the top each time.
    #[test]
    fn lines_by_number_match_str_lines() {
        for text in ["a\nbb\r\n\nccc", "one", "", "trailing\n", "x\n\ny\n"] {
            let mut sources = Sources::default();
            sources.add("f", text);
            for n in 1..6 {
                assert_eq!(sources.line("f", n), text.lines().nth(n - 1), "{text:?} line {n}");
            }
            assert_eq!(sources.line("f", 0), None);
        }
    }
}
