//! projectcalico.org/v3 policies, tiers and network sets as manifests hold them, and the rule
//! model a Calico passthrough rule in values is checked against.

use ipnet::IpNet;
use serde::Deserialize;

use super::Metadata;

#[derive(Deserialize)]
pub struct Object {
    pub kind: String,
    pub metadata: Metadata,
    /// An absent (or null) spec is the empty spec.
    #[serde(default = "empty_object")]
    pub spec: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TierSpec {
    pub order: Option<f64>,
    pub default_action: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PolicySpec {
    pub tier: Option<String>,
    pub order: Option<f64>,
    pub selector: Option<String>,
    pub namespace_selector: Option<String>,
    pub service_account_selector: Option<String>,
    pub types: Option<Vec<String>>,
    #[serde(default)]
    pub ingress: Vec<WireRule>,
    #[serde(default)]
    pub egress: Vec<WireRule>,
    pub do_not_track: Option<bool>,
    pub pre_dnat: Option<bool>,
    pub apply_on_forward: Option<bool>,
    pub performance_hints: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WireRule {
    pub action: String,
    pub protocol: Option<serde_json::Value>,
    pub not_protocol: Option<serde_json::Value>,
    pub ip_version: Option<u8>,
    pub icmp: Option<serde_json::Value>,
    #[serde(rename = "notICMP")]
    pub not_icmp: Option<serde_json::Value>,
    #[serde(default)]
    pub source: WireEntity,
    #[serde(default)]
    pub destination: WireEntity,
    pub http: Option<serde_json::Value>,
    pub metadata: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WireEntity {
    #[serde(default)]
    pub nets: Vec<IpNet>,
    #[serde(default)]
    pub not_nets: Vec<IpNet>,
    pub selector: Option<String>,
    pub not_selector: Option<String>,
    pub namespace_selector: Option<String>,
    #[serde(default)]
    pub ports: Vec<serde_json::Value>,
    #[serde(default)]
    pub not_ports: Vec<serde_json::Value>,
    pub service_accounts: Option<WireServiceAccounts>,
    pub services: Option<WireService>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireServiceAccounts {
    #[serde(default)]
    pub names: Vec<String>,
    pub selector: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireService {
    pub name: String,
    pub namespace: Option<String>,
}

pub(crate) fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Read one passthrough rule, as written in values, with the model this evaluator reads the
/// kind's rules with: unknown fields and wrong types are located errors with "did you mean".
pub fn check_passthrough_rule(
    node: &crate::values::tree::Node,
    path: &crate::vocab::source::KeyPath,
) -> std::result::Result<(), crate::values::de::DeError> {
    crate::values::de::from_node::<WireRule>(node, path).map(|_| ())
}
