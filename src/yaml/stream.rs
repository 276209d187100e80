//! The YAML writer of [`super`], fed by serde directly: a typed object is written as
//! text without first becoming a `serde_json::Value`, which for a policy of a million peers is
//! several times the size of the text. The output is byte-for-byte what
//! `yaml::to_string(&serde_json::to_value(object))` writes (a property test holds them equal).

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::{indent, write_string};

/// Why an object could not be written directly; the caller then takes the `Value` path.
#[derive(Debug)]
pub struct Unsupported(String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

/// Write `object` as a YAML document body, as [`super::to_string`] writes its JSON value.
pub fn to_string<T: Serialize + ?Sized>(object: &T) -> Result<String, Unsupported> {
    let mut out = String::with_capacity(256);
    object.serialize(Writer { out: &mut out, slot: Slot::Top })?;
    out.shrink_to_fit();
    Ok(out)
}

/// Where a value is written: what is already on the line decides how it starts.
#[derive(Clone, Copy)]
enum Slot {
    /// The document itself.
    Top,
    /// After `key:` of an entry indented by `level`.
    MapValue { level: usize },
    /// After the `-` of an item indented by `level`.
    SeqItem { level: usize },
}

impl Slot {
    /// The indentation of a map's entries in this slot.
    fn map_level(self) -> usize {
        match self {
            Slot::Top => 0,
            Slot::MapValue { level } => level + 2,
            Slot::SeqItem { level } => level + 2,
        }
    }

    /// The indentation of a sequence's items: kubectl puts a map's list at the key's level.
    fn seq_level(self) -> usize {
        match self {
            Slot::Top => 0,
            Slot::MapValue { level } => level,
            Slot::SeqItem { level } => level + 2,
        }
    }
}

struct Writer<'a> {
    out: &'a mut String,
    slot: Slot,
}

impl<'a> Writer<'a> {
    /// A scalar (already formatted) in this slot.
    fn scalar(self, text: &str) -> Result<(), Unsupported> {
        if !matches!(self.slot, Slot::Top) {
            self.out.push(' ');
        }
        self.out.push_str(text);
        self.out.push('\n');
        Ok(())
    }

    fn string(self, s: &str) -> Result<(), Unsupported> {
        if !matches!(self.slot, Slot::Top) {
            self.out.push(' ');
        }
        write_string(self.out, s);
        self.out.push('\n');
        Ok(())
    }

    fn map(self) -> MapWriter<'a> {
        MapWriter { out: self.out, slot: self.slot, entries: 0, key: None }
    }

    fn seq(self) -> SeqWriter<'a> {
        SeqWriter { out: self.out, slot: self.slot, items: 0 }
    }
}

struct MapWriter<'a> {
    out: &'a mut String,
    slot: Slot,
    entries: usize,
    /// The key of `serialize_key`, until its value comes.
    key: Option<String>,
}

impl MapWriter<'_> {
    fn entry<V: Serialize + ?Sized>(&mut self, key: &str, value: &V) -> Result<(), Unsupported> {
        let level = self.slot.map_level();
        match (self.entries, self.slot) {
            // The first key of a map that is a list item shares the dash's line.
            (0, Slot::SeqItem { .. }) => self.out.push(' '),
            (0, Slot::MapValue { .. }) => {
                self.out.push('\n');
                indent(self.out, level);
            }
            _ => indent(self.out, level),
        }
        self.entries += 1;
        write_string(self.out, key);
        self.out.push(':');
        value.serialize(Writer { out: self.out, slot: Slot::MapValue { level } })
    }

    fn end(self) -> Result<(), Unsupported> {
        if self.entries == 0 {
            Writer { out: self.out, slot: self.slot }.scalar("{}")?;
        }
        Ok(())
    }
}

struct SeqWriter<'a> {
    out: &'a mut String,
    slot: Slot,
    items: usize,
}

impl SeqWriter<'_> {
    fn item<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Unsupported> {
        if self.items == 0 && !matches!(self.slot, Slot::Top) {
            self.out.push('\n');
        }
        self.items += 1;
        let level = self.slot.seq_level();
        indent(self.out, level);
        self.out.push('-');
        value.serialize(Writer { out: self.out, slot: Slot::SeqItem { level } })
    }

    fn end(self) -> Result<(), Unsupported> {
        if self.items == 0 {
            Writer { out: self.out, slot: self.slot }.scalar("[]")?;
        }
        Ok(())
    }
}

fn float(v: f64) -> String {
    // As `serde_json::to_value` does: a non-finite float becomes null.
    serde_json::Number::from_f64(v).map_or_else(|| "null".to_string(), |n| n.to_string())
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = SeqWriter<'a>;
    type SerializeTuple = SeqWriter<'a>;
    type SerializeTupleStruct = SeqWriter<'a>;
    type SerializeTupleVariant = Impossible<(), Unsupported>;
    type SerializeMap = MapWriter<'a>;
    type SerializeStruct = MapWriter<'a>;
    type SerializeStructVariant = Impossible<(), Unsupported>;

    fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
        self.scalar(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), Unsupported> {
        self.scalar(&v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Unsupported> {
        self.scalar(&v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Unsupported> {
        self.scalar(&v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Unsupported> {
        self.scalar(&v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Unsupported> {
        self.scalar(&v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Unsupported> {
        self.scalar(&v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Unsupported> {
        self.scalar(&v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Unsupported> {
        self.scalar(&v.to_string())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Unsupported> {
        self.scalar(&float(f64::from(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Unsupported> {
        self.scalar(&float(v))
    }
    fn serialize_char(self, v: char) -> Result<(), Unsupported> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        self.string(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Unsupported> {
        Err(Unsupported("bytes".into()))
    }
    fn serialize_none(self) -> Result<(), Unsupported> {
        self.scalar("null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.scalar("null")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unsupported> {
        self.scalar("null")
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        let mut map = self.map();
        map.entry(variant, value)?;
        map.end()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<SeqWriter<'a>, Unsupported> {
        Ok(self.seq())
    }
    fn serialize_tuple(self, _: usize) -> Result<SeqWriter<'a>, Unsupported> {
        Ok(self.seq())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<SeqWriter<'a>, Unsupported> {
        Ok(self.seq())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported("tuple variant".into()))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapWriter<'a>, Unsupported> {
        Ok(self.map())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<MapWriter<'a>, Unsupported> {
        Ok(self.map())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported("struct variant".into()))
    }
}

impl ser::SerializeSeq for SeqWriter<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.item(value)
    }
    fn end(self) -> Result<(), Unsupported> {
        SeqWriter::end(self)
    }
}

impl ser::SerializeTuple for SeqWriter<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.item(value)
    }
    fn end(self) -> Result<(), Unsupported> {
        SeqWriter::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqWriter<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.item(value)
    }
    fn end(self) -> Result<(), Unsupported> {
        SeqWriter::end(self)
    }
}

impl ser::SerializeMap for MapWriter<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        self.key = Some(key.serialize(KeyWriter)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        let key = self.key.take().ok_or_else(|| Unsupported("a map value without its key".into()))?;
        self.entry(&key, value)
    }
    fn end(self) -> Result<(), Unsupported> {
        MapWriter::end(self)
    }
}

impl ser::SerializeStruct for MapWriter<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.entry(key, value)
    }
    fn end(self) -> Result<(), Unsupported> {
        MapWriter::end(self)
    }
}

/// Map keys as `serde_json` turns them into strings.
struct KeyWriter;

impl ser::Serializer for KeyWriter {
    type Ok = String;
    type Error = Unsupported;
    type SerializeSeq = Impossible<String, Unsupported>;
    type SerializeTuple = Impossible<String, Unsupported>;
    type SerializeTupleStruct = Impossible<String, Unsupported>;
    type SerializeTupleVariant = Impossible<String, Unsupported>;
    type SerializeMap = Impossible<String, Unsupported>;
    type SerializeStruct = Impossible<String, Unsupported>;
    type SerializeStructVariant = Impossible<String, Unsupported>;

    fn serialize_bool(self, v: bool) -> Result<String, Unsupported> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, Unsupported> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, Unsupported> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, Unsupported> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, Unsupported> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, Unsupported> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, Unsupported> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, Unsupported> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, Unsupported> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _: f32) -> Result<String, Unsupported> {
        Err(Unsupported("a float map key".into()))
    }
    fn serialize_f64(self, _: f64) -> Result<String, Unsupported> {
        Err(Unsupported("a float map key".into()))
    }
    fn serialize_char(self, v: char) -> Result<String, Unsupported> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, Unsupported> {
        Ok(v.to_string())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, Unsupported> {
        Err(Unsupported("a bytes map key".into()))
    }
    fn serialize_none(self) -> Result<String, Unsupported> {
        Err(Unsupported("a null map key".into()))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, Unsupported> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, Unsupported> {
        Err(Unsupported("a unit map key".into()))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Unsupported> {
        Err(Unsupported("a unit map key".into()))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, Unsupported> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, Unsupported> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Unsupported> {
        Err(Unsupported("a compound map key".into()))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unsupported> {
        Err(Unsupported("a compound map key".into()))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsupported> {
        Err(Unsupported("a compound map key".into()))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        Err(Unsupported("a compound map key".into()))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported("a compound map key".into()))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        Err(Unsupported("a compound map key".into()))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Unsupported> {
        Err(Unsupported("a compound map key".into()))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported("a compound map key".into()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[a-z0-9 :#'\"./-]{0,8}".prop_map(Value::String),
            prop_oneof![Just("no"), Just("on"), Just("1.0"), Just("10.0.0.0/8"), Just("")]
                .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-z./]{0,5}", inner), 0..4)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Written straight from serde, every value reads exactly as through a JSON value.
        #[test]
        fn equals_the_json_value_path(v in value()) {
            prop_assert_eq!(super::to_string(&v).expect("writes"), crate::yaml::to_string(&v));
        }
    }

    #[test]
    fn structs_options_and_enums_write_as_their_json() {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Rule {
            name: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<u8>,
            absent: Option<u8>,
            ports: Vec<u16>,
            empty: Vec<u16>,
            kind: Kind,
            wrapped: Wrapped,
            order: f64,
            labels: std::collections::BTreeMap<u16, &'static str>,
        }
        #[derive(serde::Serialize)]
        enum Kind {
            Allow,
            #[allow(dead_code)]
            Deny,
        }
        #[derive(serde::Serialize)]
        enum Wrapped {
            Port(u16),
        }
        let rule = Rule {
            name: "no",
            skipped: None,
            absent: None,
            ports: vec![53, 80],
            empty: Vec::new(),
            kind: Kind::Allow,
            wrapped: Wrapped::Port(8080),
            order: 100.0,
            labels: [(1, "a")].into_iter().collect(),
        };
        let via_json = crate::yaml::to_string(&serde_json::to_value(&rule).expect("json"));
        assert_eq!(super::to_string(&rule).expect("writes"), via_json);
        assert_eq!(
            super::to_string(&json!([[], {}, [[1]]])).expect("writes"),
            "- []\n- {}\n-\n  -\n    - 1\n"
        );
    }
}
