//! The models passthrough rules are read with (one per engine, shared with the evaluator)
//! against the official schemas: field by field, at every depth, the model accepts no field the
//! API server's schema does not know, so a passthrough rule netpol accepts is never refused by
//! `kubectl apply` for a field name. Fields the schema has and the model lacks are listed: a
//! user writing one gets a located "unknown key" error from netpol, never silence.

use netpol::values::de::DeError;
use netpol::values::tree::{self, Node};
use netpol::vocab::source::{KeyPath, Sources};
use serde_json::{Value, json};

type Check = fn(&Node, &KeyPath) -> Result<(), DeError>;

/// The schemas beside the repository, as CI has them.
fn schema(relative: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/schemas").join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e} (the official schemas sit in ../shared beside the repository)", path.display())
    });
    serde_saphyr::from_str(&text).expect("a CRD")
}

/// `spec.properties` of a CRD's first version.
fn spec_of(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
}

/// The properties both rule directions allow, merged: one model reads both.
fn rule_schema(spec: &Value) -> Value {
    let mut merged = serde_json::Map::new();
    for direction in ["ingress", "egress"] {
        if let Some(properties) = spec[direction]["items"]["properties"].as_object() {
            for (k, v) in properties {
                merged.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    json!({"type": "object", "properties": merged})
}

/// A rule holding only an unknown key at `path` (keys, and `0` for a list item).
fn probe(path: &[String]) -> Value {
    let mut value = json!({"zzUnknownField": 1});
    for key in path.iter().rev() {
        value = if key == "0" { json!([value]) } else { json!({ key.clone(): value }) };
    }
    value
}

/// Read `rule` with an engine's passthrough model.
fn read_rule(check: Check, rule: &Value) -> Result<(), DeError> {
    let text = rule.to_string();
    let mut sources = Sources::default();
    let id = sources.add("probe", text.as_str());
    let node = tree::parse(&text, id, &sources).expect("JSON is YAML");
    check(&node, &KeyPath::default())
}

/// The keys the model offers where the probe's unknown key sits: `None` where it takes any key
/// (a label map), or where the probe met another error first.
fn model_keys(check: Check, path: &[String]) -> Option<Vec<String>> {
    let error = read_rule(check, &probe(path)).err()?;
    let help = error.help()?;
    let list = help.strip_prefix("expected one of: ")?;
    Some(list.split(", ").map(|k| k.trim_matches('`').to_string()).collect())
}

/// Compare the model with the schema at `path`, then below every field they share.
fn compare(
    check: Check,
    schema: &Value,
    path: &mut Vec<String>,
    unknown_to_schema: &mut Vec<String>,
    lacking: &mut Vec<String>,
    probed: &mut usize,
) {
    let Some(properties) = schema["properties"].as_object() else { return };
    let Some(model) = model_keys(check, path) else { return };
    *probed += 1;
    let at = if path.is_empty() { "rule".to_string() } else { path.join(".") };
    for key in &model {
        if !properties.contains_key(key) {
            unknown_to_schema.push(format!("{at}.{key}"));
        }
    }
    for (key, child) in properties {
        if !model.contains(key) {
            lacking.push(format!("{at}.{key}"));
            continue;
        }
        path.push(key.clone());
        if child["properties"].is_object() {
            compare(check, child, path, unknown_to_schema, lacking, probed);
        } else if child["items"]["properties"].is_object() {
            path.push("0".into());
            compare(check, &child["items"], path, unknown_to_schema, lacking, probed);
            path.pop();
        }
        path.pop();
    }
}

fn assert_model_within_schema(engine: &str, check: Check, rule: &Value) {
    let (mut unknown, mut lacking, mut probed) = (Vec::new(), Vec::new(), 0);
    compare(check, rule, &mut Vec::new(), &mut unknown, &mut lacking, &mut probed);
    assert!(probed >= 3, "{engine}: only {probed} levels compared; the probe no longer reaches the model");
    assert!(
        unknown.is_empty(),
        "{engine}: the passthrough model accepts fields the schema does not know: {unknown:?}"
    );
    eprintln!("{engine}: {probed} levels compared; schema fields netpol refuses in passthrough: {lacking:?}");
}

#[test]
fn the_cilium_rule_model_accepts_only_fields_of_the_schema() {
    let crd = schema("cilium/ciliumnetworkpolicies.yaml");
    assert_model_within_schema(
        "cilium",
        netpol::wire::cilium::check_passthrough_rule,
        &rule_schema(spec_of(&crd)),
    );
}

#[test]
fn the_calico_rule_model_accepts_only_fields_of_the_schema() {
    let crd = schema("calico/projectcalico.org_networkpolicies.yaml");
    assert_model_within_schema(
        "calico",
        netpol::wire::calico::check_passthrough_rule,
        &rule_schema(spec_of(&crd)),
    );
}

#[test]
fn the_cluster_network_policy_rule_model_accepts_only_fields_of_the_schema() {
    // The experimental channel: netpol renders its egress `nodes` and `domainNames` peers.
    let crd = schema(
        "network-policy-api/v1alpha2/experimental/policy.networking.k8s.io_clusternetworkpolicies.yaml",
    );
    assert_model_within_schema(
        "clusterNetworkPolicy",
        netpol::wire::cluster_network_policy::check_passthrough_rule,
        &rule_schema(spec_of(&crd)),
    );
}

/// The Cilium TLS fields are spelt as the CRD spells them (`terminatingTLS`); serde's camelCase
/// spelling (`terminatingTls`) is refused, with the right one suggested.
#[test]
fn cilium_tls_fields_use_the_crd_spelling() {
    let check = |field: &str| {
        let rule = json!({"toPorts": [{field: {"secret": {"name": "tls"}}}]});
        read_rule(netpol::wire::cilium::check_passthrough_rule, &rule)
    };
    assert!(check("terminatingTLS").is_ok());
    assert!(check("originatingTLS").is_ok());
    let refused = check("terminatingTls").expect_err("not the CRD's spelling");
    assert_eq!(refused.help(), Some("did you mean `terminatingTLS`?"));
}

/// The evaluator also reads v1alpha1 rules (`ports`, ingress from `networks`); a passthrough
/// rule is rendered as v1alpha2, whose schema has neither.
#[test]
fn cluster_network_policy_passthrough_is_v1alpha2() {
    let check = |rule: Value| read_rule(netpol::wire::cluster_network_policy::check_passthrough_rule, &rule);
    assert!(check(json!({"action": "Accept", "to": [{"networks": ["10.0.0.0/8"]}]})).is_ok());
    assert!(
        check(json!({"action": "Accept", "ports": [{"portNumber": {"port": 80, "protocol": "TCP"}}]}))
            .is_err()
    );
    assert!(check(json!({"action": "Accept", "from": [{"networks": ["10.0.0.0/8"]}]})).is_err());
}
