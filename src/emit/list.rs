//! A YAML or JSON list written item by item, for outputs too large to build first (`eval` of
//! every pod pair, `topology --flows`). The bytes equal those of the whole list serialised at
//! once.

use std::io::Write;

use serde::Serialize;

/// The list's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListFormat {
    Yaml,
    /// Pretty JSON, indented by two spaces, as `serde_json`'s pretty printer writes it.
    Json,
}

/// Writes the items of one list; `finish` closes it.
pub(crate) struct ListWriter {
    format: ListFormat,
    items: usize,
}

impl ListWriter {
    pub fn new(format: ListFormat) -> Self {
        ListWriter { format, items: 0 }
    }

    pub fn item(&mut self, out: &mut dyn Write, item: &impl Serialize) -> std::io::Result<()> {
        let value = serde_json::to_value(item).map_err(std::io::Error::other)?;
        match self.format {
            ListFormat::Yaml => {
                out.write_all(crate::yaml::to_string(&serde_json::Value::Array(vec![value])).as_bytes())?
            }
            ListFormat::Json => {
                out.write_all(if self.items == 0 { b"[\n" } else { b",\n" })?;
                let text = serde_json::to_string_pretty(&value).map_err(std::io::Error::other)?;
                for (n, line) in text.lines().enumerate() {
                    if n > 0 {
                        out.write_all(b"\n")?;
                    }
                    out.write_all(b"  ")?;
                    out.write_all(line.as_bytes())?;
                }
            }
        }
        self.items += 1;
        Ok(())
    }

    pub fn finish(self, out: &mut dyn Write) -> std::io::Result<()> {
        match (self.format, self.items) {
            (ListFormat::Yaml, 0) => {
                out.write_all(crate::yaml::to_string(&serde_json::Value::Array(Vec::new())).as_bytes())
            }
            (ListFormat::Yaml, _) => Ok(()),
            (ListFormat::Json, 0) => out.write_all(b"[]\n"),
            (ListFormat::Json, _) => out.write_all(b"\n]\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(items: &[serde_json::Value]) {
        for format in [ListFormat::Yaml, ListFormat::Json] {
            let mut out = Vec::new();
            let mut list = ListWriter::new(format);
            for item in items {
                list.item(&mut out, item).expect("written");
            }
            list.finish(&mut out).expect("written");
            let whole = serde_json::Value::Array(items.to_vec());
            let expected = match format {
                ListFormat::Yaml => crate::yaml::to_string(&whole),
                ListFormat::Json => format!("{whole:#}\n"),
            };
            assert_eq!(String::from_utf8(out).expect("utf-8"), expected, "{format:?}");
        }
    }

    #[test]
    fn item_by_item_equals_the_whole_list() {
        both(&[]);
        both(&[serde_json::json!({"from": "a/b", "port": 80, "reasons": ["x", "y"], "empty": []})]);
        both(&[
            serde_json::json!({"a": {"b": [1, {"c": "multi\nline"}]}}),
            serde_json::json!("plain"),
            serde_json::json!(3),
        ]);
    }
}
