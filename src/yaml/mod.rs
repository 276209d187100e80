//! A small canonical YAML writer, in the block style kubectl prints: from JSON values here,
//! straight from typed structs in `stream`. At the bottom of the crate: engines write their
//! objects with it, and the output layer its lists.
//!
//! Strings are written plain only when no YAML 1.1 or 1.2 reader could take them for anything
//! but a string (so `no`, `on`, `1.0`, `0x1F`, `2024-01-01`, `"53"` stay strings when kubectl
//! reads them); everything else is double-quoted with JSON escapes, which YAML accepts.

pub mod stream;

use serde_json::Value;

/// Write `value` as a YAML document body (no `---`), ending with a newline.
pub fn to_string(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            write_scalar(&mut out, scalar);
            out.push('\n');
        }
    }
    out
}

pub(crate) fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, level: usize) {
    for (key, value) in map {
        indent(out, level);
        write_string(out, key);
        out.push(':');
        write_child(out, value, level);
    }
}

fn write_seq(out: &mut String, items: &[Value], level: usize) {
    for item in items {
        indent(out, level);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                // The first key shares the dash's line; the others align with it.
                out.push(' ');
                let mut first = true;
                for (key, value) in map {
                    if !first {
                        indent(out, level + 2);
                    }
                    first = false;
                    write_string(out, key);
                    out.push(':');
                    write_child(out, value, level + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, level + 2);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar);
                out.push('\n');
            }
        }
    }
}

/// The value of a map entry, after `key:`. Sequences sit at the key's indentation, as kubectl
/// prints them.
fn write_child(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, level + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, level);
        }
        scalar => {
            out.push(' ');
            write_scalar(out, scalar);
            out.push('\n');
        }
    }
}

fn write_scalar(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

pub(crate) fn write_string(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        out.push_str(&Value::String(s.to_string()).to_string());
    }
}

/// Whether `s` reads back as exactly this string in YAML 1.1 and 1.2, unquoted. One pass over
/// the bytes: every scalar of every object goes through here.
fn is_plain_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else { return false };
    if !(first.is_ascii_alphanumeric() || first == b'_' || first == b'/') {
        return false;
    }
    let mut has_colon = false;
    let mut previous = 0u8;
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'(' | b')' | b'=' => {}
            // Flow indicators, anchors, tags, quotes and aliases change how a plain scalar reads.
            b'{' | b'}' | b',' | b'&' | b'|' | b'!' | b'\'' | b'*' => return false,
            b':' => has_colon = true,
            // A comment marker after a space.
            b'#' if previous == b' ' => return false,
            b' ' if previous == b':' => return false,
            b' ' => {}
            _ => return false,
        }
        previous = b;
    }
    // Trailing spaces and a trailing mapping marker.
    if matches!(previous, b' ' | b':') {
        return false;
    }
    if has_colon && !first.is_ascii_alphabetic() {
        // `1:30` is a sexagesimal number in YAML 1.1.
        return false;
    }
    // Anything a resolver might read as null or boolean (numbers start with a digit, below).
    const WORDS: [&str; 14] =
        ["null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", ".nan", "-.inf", "+.inf"];
    if s.len() <= 5 && WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        return false;
    }
    if is_ipv4_cidr(s) {
        return true;
    }
    if first.is_ascii_digit() {
        // Numbers (1, 1.5, 1e3, 0x1F, 0o17, 1_000), timestamps (2024-01-01) and versions all
        // start with a digit: quote them all rather than guess which reader takes which.
        return false;
    }
    true
}

/// `10.0.0.0/8`: no resolver reads a slash-separated dotted quad as anything but a string.
fn is_ipv4_cidr(s: &str) -> bool {
    s.split_once('/').is_some_and(|(addr, bits)| {
        addr.split('.').count() == 4
            && addr.split('.').all(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()))
            && !bits.is_empty()
            && bits.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_style_like_kubectl() {
        let v = json!({
            "apiVersion": "v1",
            "spec": {"ports": [{"port": "53", "protocol": "UDP"}, {"port": 80}], "empty": {}, "list": []},
            "nested": [["a"], []],
        });
        assert_eq!(
            to_string(&v),
            "apiVersion: v1\nspec:\n  ports:\n  - port: \"53\"\n    protocol: UDP\n  - port: 80\n  empty: {}\n  list: []\nnested:\n-\n  - a\n- []\n"
        );
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "no",
            "On",
            "y",
            "true",
            "null",
            "~",
            "1.0",
            "0x1F",
            "2024-01-01",
            "007",
            "",
            " x",
            "a: b",
            "a #b",
            "-x",
            "*",
            "1:30",
            "@x",
            "10.0.0.1",
            "::/0",
        ] {
            let out = to_string(&json!(s));
            assert!(out.starts_with('"'), "{s:?} written as {out}");
        }
        for s in [
            "kube-system",
            "k8s-app",
            "app.kubernetes.io/name",
            "all()",
            "TCP",
            "has(projectcalico.org/namespace)",
            "k8s:io.kubernetes.pod.namespace",
            "10.0.0.0/8",
        ] {
            assert_eq!(to_string(&json!(s)), format!("{s}\n"));
        }
    }

    #[test]
    fn output_parses_back_to_the_same_value() {
        let v = json!({"a": [{"b": ["c", {"d": "no"}], "e": 1}], "f": "x y", "g": "k == 'v'", "h": "a\nb"});
        let text = to_string(&v);
        let back: serde_json::Value = serde_saphyr::from_str(&text).expect("parses");
        assert_eq!(back, v, "{text}");
    }
}
