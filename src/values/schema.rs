//! The JSON Schema (draft 2020-12) of the values file, derived from the loader's own types
//! (`types`) so it cannot drift from what `render` accepts. The leaf types that check their
//! input by hand (`checked`) describe themselves here, with the same rules in schema words.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::checked::{
    Cidr, CidrList, DnsLabel, ENTITY_NAMES, Labels, PeerSpec, PortSpec, PortValue, RawJson, SelectorSpec,
};
use super::types::{Switch, Values};
use crate::sorted::SortedMap;
use crate::vocab::{Engine, Protocol};

/// Where the committed schema lives, relative to the repository root.
pub const SCHEMA_FILE: &str = "schema/values.schema.json";

/// The schema of the values file, as pretty JSON with a final newline.
pub fn values_schema() -> String {
    let mut schema =
        schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<Values>();
    schema.insert("title".into(), "netpol values".into());
    schema.insert(
        "description".into(),
        "Values for `netpol render`: the 004 controller chart's shape or the general shape (workloads, namespaces, connections, guardrails).".into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// `schema` with a description beside it (a `$ref` keeps its own).
fn described(mut schema: Schema, text: &str) -> Schema {
    schema.insert("description".into(), text.into());
    schema
}

const PORT_NAME: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

impl JsonSchema for Cidr {
    fn schema_name() -> Cow<'static, str> {
        "Cidr".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An IPv4 or IPv6 range in CIDR notation, e.g. 10.0.0.0/8 or fd00::/8.",
            "pattern": "^[0-9a-fA-F:.]+/[0-9]{1,3}$"
        })
    }
}

impl JsonSchema for CidrList {
    fn schema_name() -> Cow<'static, str> {
        "CidrList".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let cidr = generator.subschema_for::<Cidr>();
        json_schema!({
            "description": "A CIDR, or one per address family on a dual-stack cluster.",
            "oneOf": [cidr, {"type": "array", "items": cidr}]
        })
    }
}

impl JsonSchema for DnsLabel {
    fn schema_name() -> Cow<'static, str> {
        "DnsLabel".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A DNS label (RFC 1123): lower-case letters, digits and `-`, at most 63 characters.",
            "pattern": PORT_NAME,
            "maxLength": 63
        })
    }
}

impl JsonSchema for Labels {
    fn schema_name() -> Cow<'static, str> {
        "Labels".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "Kubernetes labels: `key: value` (numbers and booleans are read as their text).",
            "additionalProperties": {"type": ["string", "number", "boolean"]}
        })
    }
}

impl JsonSchema for SelectorSpec {
    fn schema_name() -> Cow<'static, str> {
        "LabelSelector".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let labels =
            described(generator.subschema_for::<Labels>(), "Labels the object must carry, all of them.");
        json_schema!({
            "type": ["object", "null"],
            "description": "A Kubernetes label selector; empty or null selects everything.",
            "additionalProperties": false,
            "properties": {
                "matchLabels": labels,
                "matchExpressions": {
                    "description": "Requirements on labels, all of which must hold.",
                    "type": ["array", "null"],
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["key", "operator"],
                        "properties": {
                            "key": {"type": "string", "description": "The label key."},
                            "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"], "description": "How the key's value is tested."},
                            "values": {"type": ["array", "null"], "items": {"type": ["string", "number", "boolean"]}, "description": "The values for In and NotIn."}
                        }
                    }
                }
            }
        })
    }
}

impl JsonSchema for PortValue {
    fn schema_name() -> Cow<'static, str> {
        "PortValue".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A port number (1-65535) or a container port name.",
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 65535},
                {"type": "string", "pattern": "^([0-9]+|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$", "maxLength": 15}
            ]
        })
    }
}

impl JsonSchema for PortSpec {
    fn schema_name() -> Cow<'static, str> {
        "Port".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = described(
            generator.subschema_for::<PortValue>(),
            "The port number or name; absent: every port of the protocol.",
        );
        let protocol = described(generator.subschema_for::<Protocol>(), "TCP (default), UDP or SCTP.");
        json_schema!({
            "description": "A port: a number, a name, or `{protocol, port, endPort}` (TCP when no protocol is given; no port: every port of the protocol).",
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 65535},
                {"type": "string", "pattern": "^([0-9]+|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$", "maxLength": 15},
                {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "protocol": protocol,
                        "port": value,
                        "endPort": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "The last port of a range starting at `port`."}
                    }
                }
            ]
        })
    }
}

impl JsonSchema for PeerSpec {
    fn schema_name() -> Cow<'static, str> {
        "Peer".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let selector = generator.subschema_for::<SelectorSpec>();
        let labels = generator.subschema_for::<Labels>();
        let name = generator.subschema_for::<DnsLabel>();
        let cidr = generator.subschema_for::<Cidr>();
        let namespace = described(name, "Pods of this namespace (by name); alone: every pod of it.");
        let pod_labels =
            described(labels, "Pods with these labels (in `namespace`, else the policy's own namespace).");
        let namespace_selector = described(
            selector.clone(),
            "Pods of the namespaces this selects (with `podSelector`: both must match).",
        );
        let pod_selector = described(
            selector,
            "Pods this selects (in `namespaceSelector`'s namespaces, else the policy's own).",
        );
        let range = described(cidr.clone(), "An address range.");
        json_schema!({
            "type": "object",
            "description": "Who is on the other end: pods (`namespace`/`podLabels`, or `namespaceSelector`/`podSelector`, both must match), an address range (`cidr` with `except`, or `ipBlock`), a Cilium `entity`, or a DNS name (`fqdn`, `fqdnPattern`; egress only). One kind per peer.",
            "additionalProperties": false,
            "minProperties": 1,
            "properties": {
                "namespace": namespace,
                "podLabels": pod_labels,
                "namespaceSelector": namespace_selector,
                "podSelector": pod_selector,
                "cidr": range,
                "except": {"type": "array", "items": cidr, "description": "Ranges inside `cidr` that are left out."},
                "ipBlock": {
                    "type": "object",
                    "description": "An address range, Kubernetes-shaped.",
                    "additionalProperties": false,
                    "required": ["cidr"],
                    "properties": {
                        "cidr": range,
                        "except": {"type": "array", "items": cidr, "description": "Ranges inside `cidr` that are left out."}
                    }
                },
                "entity": {"enum": ENTITY_NAMES, "description": "A Cilium reserved identity, or `kube-apiserver`."},
                "fqdn": {"type": "string", "description": "An exact DNS name (Cilium, Calico Enterprise)."},
                "fqdnPattern": {"type": "string", "description": "A DNS name with `*` wildcards (Cilium)."}
            }
        })
    }
}

impl JsonSchema for RawJson {
    fn schema_name() -> Cow<'static, str> {
        "EngineRule".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "A rule in the engine's own schema, merged verbatim (checked against the engine's CRD when rendering)."
        })
    }
}

impl JsonSchema for Engine {
    fn schema_name() -> Cow<'static, str> {
        "Engine".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = Engine::ALL
            .iter()
            .flat_map(|e| std::iter::once(e.as_str()).chain(e.aliases().iter().copied()))
            .collect();
        json_schema!({"description": "The policy engine to render for.", "enum": names})
    }
}

impl JsonSchema for Protocol {
    fn schema_name() -> Cow<'static, str> {
        "Protocol".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = Protocol::ALL.iter().map(|p| p.as_str()).collect();
        json_schema!({"description": "A transport protocol, upper case.", "enum": names})
    }
}

impl<T: JsonSchema> JsonSchema for Switch<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Switch_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let options = generator.subschema_for::<T>();
        json_schema!({
            "description": "`true`, `false`, or a map of options (which means `true`).",
            "oneOf": [{"type": ["boolean", "null"]}, options]
        })
    }
}

impl<V: JsonSchema> JsonSchema for SortedMap<String, V> {
    fn schema_name() -> Cow<'static, str> {
        format!("Map_{}", V::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<V>();
        json_schema!({"type": "object", "additionalProperties": value})
    }
}
