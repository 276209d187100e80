//! `--set` and `--set-string` with Helm's path syntax: `a.b=c`, `list[0].name=x`,
//! `a\.b=c` for a key with a dot, `k={x,y}` for a list, several pairs separated by commas.

use super::tree::{Key, Node, Value, map_index};
use crate::vocab::source::Loc;

/// How the right-hand side of `--set` is typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Typing {
    /// `--set`: integers, `true`/`false` and `null` are typed; everything else is a string.
    Infer,
    /// `--set-string`: always a string.
    String,
}

/// Parse one `--set` argument into a values tree to merge over the files.
pub(crate) fn parse_set(arg: &str, typing: Typing, loc: Loc) -> Result<Node, String> {
    let mut root = Node::new(Value::Map(Vec::new()), loc);
    for pair in split_unescaped(arg, ',', true) {
        if pair.is_empty() {
            continue;
        }
        let (path, value) = split_once_unescaped(&pair, '=')
            .ok_or_else(|| format!("`{pair}` is not of the form key=value (in --set `{arg}`)"))?;
        let segments = parse_path(&path).map_err(|e| format!("{e} (in --set `{arg}`)"))?;
        if segments.len() > super::tree::MAX_DEPTH {
            return Err(format!(
                "key path of {} keys is deeper than the limit of {} (in --set `{arg}`)",
                segments.len(),
                super::tree::MAX_DEPTH
            ));
        }
        let value = typed_value(&value, typing, loc);
        insert(&mut root, &segments, value, loc).map_err(|e| format!("{e} (in --set `{arg}`)"))?;
    }
    Ok(root)
}

#[derive(Debug, PartialEq)]
enum PathSeg {
    Key(String),
    Index(usize),
}

/// Largest list index `--set` may create; Helm pads with nulls, and a huge index would
/// allocate without bound.
const MAX_SET_INDEX: usize = 10_000;

fn parse_path(path: &str) -> Result<Vec<PathSeg>, String> {
    let mut segs = Vec::new();
    for part in split_unescaped(path, '.', false) {
        let mut rest = part.as_str();
        let name_end = rest.find('[').unwrap_or(rest.len());
        let name = rest.get(..name_end).unwrap_or("");
        if name.is_empty() && segs.is_empty() && name_end == 0 {
            return Err(format!("key path `{path}` starts with an index"));
        }
        if !name.is_empty() {
            segs.push(PathSeg::Key(name.replace("\\.", ".").replace("\\,", ",").replace("\\=", "=")));
        } else if name_end != 0 {
            return Err(format!("empty key in `{path}`"));
        }
        rest = rest.get(name_end..).unwrap_or("");
        while let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']').ok_or_else(|| format!("unclosed `[` in `{path}`"))?;
            let digits = after.get(..close).unwrap_or("");
            let index: usize =
                digits.parse().map_err(|_| format!("`{digits}` is not a list index in `{path}`"))?;
            if index > MAX_SET_INDEX {
                return Err(format!("list index {index} in `{path}` is larger than {MAX_SET_INDEX}"));
            }
            segs.push(PathSeg::Index(index));
            rest = after.get(close + 1..).unwrap_or("");
        }
        if !rest.is_empty() {
            return Err(format!("unexpected `{rest}` in `{path}`"));
        }
    }
    if segs.is_empty() {
        return Err("empty key".to_string());
    }
    Ok(segs)
}

fn typed_value(raw: &str, typing: Typing, loc: Loc) -> Node {
    let unescaped = raw.replace("\\,", ",").replace("\\=", "=");
    if let Some(inner) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        let items = split_unescaped(inner, ',', false)
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| typed_value(&s, typing, loc))
            .collect();
        return Node::new(Value::Seq(items), loc);
    }
    let value = match typing {
        Typing::String => Value::Str(unescaped),
        // Helm matches these words whatever their case (`True`, `NULL`).
        Typing::Infer => match unescaped.as_str() {
            s if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            s if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            s if s.eq_ignore_ascii_case("null") => Value::Null,
            s => match s.parse::<i64>() {
                // Helm keeps leading zeros as strings ("007").
                Ok(i) if !(s.len() > 1 && s.starts_with('0')) => Value::Int(i),
                _ => Value::Str(unescaped),
            },
        },
    };
    Node::new(value, loc)
}

fn insert(node: &mut Node, path: &[PathSeg], value: Node, loc: Loc) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        *node = value;
        return Ok(());
    };
    match first {
        PathSeg::Key(k) => {
            if !matches!(node.value, Value::Map(_)) {
                node.value = Value::Map(Vec::new());
            }
            let Value::Map(entries) = &mut node.value else { return Err("internal: not a map".into()) };
            let i = match map_index(entries, k) {
                Ok(i) => i,
                Err(i) => {
                    entries.insert(i, (Key { name: k.as_str().into(), loc }, Node::new(Value::Null, loc)));
                    i
                }
            };
            let (_, child) = entries.get_mut(i).ok_or("internal: missing entry")?;
            insert(child, rest, value, loc)
        }
        PathSeg::Index(i) => {
            if !matches!(node.value, Value::Seq(_)) {
                node.value = Value::Seq(Vec::new());
            }
            let Value::Seq(items) = &mut node.value else { return Err("internal: not a list".into()) };
            while items.len() <= *i {
                items.push(Node::new(Value::Null, loc));
            }
            let child = items.get_mut(*i).ok_or("internal: missing item")?;
            insert(child, rest, value, loc)
        }
    }
}

/// Split on `sep` where it is not escaped with `\`; with `respect_braces`, not inside `{…}`.
fn split_unescaped(s: &str, sep: char, respect_braces: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            '{' if respect_braces => {
                depth += 1;
                current.push(c);
            }
            '}' if respect_braces => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            c if c == sep && depth == 0 => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    out.push(current);
    out
}

fn split_once_unescaped(s: &str, sep: char) -> Option<(String, String)> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            return Some((s.get(..i)?.to_string(), s.get(i + c.len_utf8()..)?.to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_deeper_than_files_may_nest_are_refused() {
        let deep = format!("{}b=1", "a.".repeat(60_000));
        let e = parse_set(&deep, Typing::Infer, Loc::default()).expect_err("too deep");
        assert!(e.contains("deeper than the limit"), "{e:.200}");
        let fine = format!("{}b=1", "a.".repeat(50));
        assert!(parse_set(&fine, Typing::Infer, Loc::default()).is_ok());
    }

    fn set(arg: &str) -> serde_json::Value {
        parse_set(arg, Typing::Infer, Loc::default()).expect("valid --set").to_json()
    }

    #[test]
    fn nested_keys_and_types() {
        assert_eq!(
            set("networkPolicy.enabled=true,ports.webhook=9444,name=007,x=null"),
            json!({"networkPolicy": {"enabled": true}, "ports": {"webhook": 9444}, "name": "007", "x": null})
        );
    }

    #[test]
    fn list_indexes_and_escaped_dots() {
        assert_eq!(
            set("a.b[1].c=x,podLabels.app\\.kubernetes\\.io/name=kc"),
            json!({"a": {"b": [null, {"c": "x"}]}, "podLabels": {"app.kubernetes.io/name": "kc"}})
        );
    }

    #[test]
    fn brace_lists() {
        assert_eq!(set("a={1,two,true}"), json!({"a": [1, "two", true]}));
    }

    #[test]
    fn set_string_keeps_strings() {
        let v = parse_set("a=true,b=1", Typing::String, Loc::default()).expect("valid").to_json();
        assert_eq!(v, json!({"a": "true", "b": "1"}));
    }

    #[test]
    fn malformed_arguments_are_errors() {
        for bad in ["novalue", "a[x]=1", "a[1=2", "=1", "a[99999999]=1", "[0]=1"] {
            assert!(parse_set(bad, Typing::Infer, Loc::default()).is_err(), "{bad}");
        }
    }
}
