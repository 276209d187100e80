//! `netpol schema`: the committed schema is current, every example validates against it, and
//! it refuses what the loader refuses (a misspelt key, a wrong type).

use crate::common::{examples, stdout_of};

const SCHEMA_FILE: &str = "schema/values.schema.json";

fn schema() -> serde_json::Value {
    serde_json::from_str(&stdout_of(&["schema"])).expect("the schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&schema()).expect("the schema is a valid draft 2020-12 schema")
}

fn yaml(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).expect("YAML")
}

fn problems(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    let instance = yaml(text);
    validator.iter_errors(&instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[test]
fn the_committed_schema_is_what_netpol_schema_prints() {
    let committed = std::fs::read_to_string(SCHEMA_FILE).expect("the committed schema");
    assert!(
        committed == stdout_of(&["schema"]),
        "{SCHEMA_FILE} is out of date: run `cargo run -- schema > {SCHEMA_FILE}`"
    );
}

#[test]
fn every_example_validates_and_names_the_schema_in_its_modeline() {
    let validator = validator();
    let mut files = examples();
    files.push("examples/changes/lucity-docs-metrics.yaml".into());
    for path in files {
        let text = std::fs::read_to_string(&path).expect("example");
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("# yaml-language-server: $schema=") && first.ends_with(SCHEMA_FILE),
            "{}: first line is `{first}`",
            path.display()
        );
        let found = problems(&validator, &text);
        assert!(found.is_empty(), "{}: {found:?}", path.display());
    }
}

#[test]
fn a_misspelt_key_and_a_wrong_type_fail_the_schema_as_they_fail_render() {
    let validator = validator();
    for bad in [
        "workloads:\n  web:\n    prots: {http: {port: 8080}}\n",
        "workloads:\n  web:\n    ports: {http: {port: eighty-eighty-eighty}}\n",
        "workloads:\n  web:\n    ports: {http: {port: 70000}}\n",
        "namespaces:\n  shop:\n    defaultDeny: {ingress: yes-please}\n",
        "engine: k9s\n",
        "workloads:\n  web:\n    ports: {http: {port: 80, protocol: tcp}}\n",
        "namespaces:\n  shop:\n    allow: {fromNamespaces: [Shop_X]}\n",
    ] {
        assert!(!problems(&validator, bad).is_empty(), "the schema accepts:\n{bad}");
        let (status, _, err) = crate::common::run_on(&["render", "-f", "VALUES"], bad);
        assert_eq!(status, 1, "render accepts:\n{bad}{err}");
    }
}

#[test]
fn every_key_is_described_and_engines_protocols_entities_are_enums() {
    fn walk(node: &serde_json::Value, at: &str, missing: &mut Vec<String>) {
        match node {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(properties)) = map.get("properties") {
                    for (key, property) in properties {
                        if property.get("description").is_none() {
                            missing.push(format!("{at}.{key}"));
                        }
                    }
                }
                for (key, value) in map {
                    walk(value, &format!("{at}/{key}"), missing);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, at, missing)),
            _ => {}
        }
    }
    let schema = schema();
    let mut missing = Vec::new();
    walk(&schema, "", &mut missing);
    assert!(missing.is_empty(), "keys without a description: {missing:?}");
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let defs = &schema["$defs"];
    assert!(defs["Engine"]["enum"].as_array().is_some_and(|e| e.iter().any(|v| v == "clusterNetworkPolicy")));
    assert_eq!(defs["Protocol"]["enum"], serde_json::json!(["TCP", "UDP", "SCTP"]));
    assert!(
        defs["Peer"]["properties"]["entity"]["enum"]
            .as_array()
            .is_some_and(|e| e.iter().any(|v| v == "kube-apiserver"))
    );
}
