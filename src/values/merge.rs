//! Helm's rules for combining values: maps deep-merge, the later source wins, lists and
//! scalars replace, and `null` removes a key.

use super::tree::{Node, Value, map_index};

/// Merge `overlay` onto `base` in place.
pub fn merge(base: &mut Node, overlay: Node) {
    match (&mut base.value, overlay.value) {
        (Value::Map(base_entries), Value::Map(overlay_entries)) => {
            for (key, value) in overlay_entries {
                match (map_index(base_entries, &key.name), &value.value) {
                    (Ok(i), Value::Null) => {
                        base_entries.remove(i);
                    }
                    (Err(_), Value::Null) => {}
                    (Ok(i), _) => {
                        if let Some((k, v)) = base_entries.get_mut(i) {
                            k.loc = key.loc;
                            merge(v, value);
                        }
                    }
                    (Err(i), _) => base_entries.insert(i, (key, strip_nulls(value))),
                }
            }
            base.loc = overlay.loc;
        }
        (slot, other) => {
            *slot = other;
            base.loc = overlay.loc;
            let taken = std::mem::replace(base, Node::new(Value::Null, overlay.loc));
            *base = strip_nulls(taken);
        }
    }
}

/// A `null` inside a newly added map means "no such key" in Helm, not a null value.
fn strip_nulls(mut node: Node) -> Node {
    if let Value::Map(entries) = &mut node.value {
        entries.retain(|(_, v)| !matches!(v.value, Value::Null));
        for (_, v) in entries.iter_mut() {
            let taken = std::mem::replace(v, Node::new(Value::Null, v.loc));
            *v = strip_nulls(taken);
        }
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::tree::parse;
    use crate::vocab::source::Sources;

    fn yaml(text: &str) -> Node {
        let mut sources = Sources::default();
        let id = sources.add("t.yaml", text);
        parse(text, id, &sources).expect("test YAML")
    }

    #[test]
    fn maps_deep_merge_and_later_wins() {
        let mut base = yaml("a: {b: 1, c: 2}\nlist: [1, 2, 3]\n");
        merge(&mut base, yaml("a: {c: 3, d: 4}\nlist: [9]\n"));
        assert_eq!(base.to_json(), serde_json::json!({"a": {"b": 1, "c": 3, "d": 4}, "list": [9]}));
    }

    #[test]
    fn null_removes_a_key() {
        let mut base = yaml("a: {b: 1, c: 2}\n");
        merge(&mut base, yaml("a: {b: null}\nx: {y: null, z: 1}\n"));
        assert_eq!(base.to_json(), serde_json::json!({"a": {"c": 2}, "x": {"z": 1}}));
    }

    #[test]
    fn scalars_and_maps_replace_each_other() {
        let mut base = yaml("a: 1\nb: {c: 1}\n");
        merge(&mut base, yaml("a: {x: 1}\nb: 2\n"));
        assert_eq!(base.to_json(), serde_json::json!({"a": {"x": 1}, "b": 2}));
    }
}
