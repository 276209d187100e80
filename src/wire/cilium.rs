//! CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy as manifests hold them, and the rule
//! model a Cilium passthrough rule in values is checked against.

use ipnet::IpNet;
use serde::Deserialize;

use super::Metadata;

use crate::vocab::labels::LabelSelector;

#[derive(Deserialize)]
pub struct Object {
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Option<RuleSpec>,
    pub specs: Option<Vec<RuleSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSpec {
    pub endpoint_selector: Option<LabelSelector>,
    pub node_selector: Option<LabelSelector>,
    pub enable_default_deny: Option<DefaultDeny>,
    #[serde(default)]
    pub ingress: Vec<PeerRule>,
    #[serde(default)]
    pub ingress_deny: Vec<PeerRule>,
    #[serde(default)]
    pub egress: Vec<PeerRule>,
    #[serde(default)]
    pub egress_deny: Vec<PeerRule>,
    #[allow(dead_code)]
    pub description: Option<String>,
    #[allow(dead_code)]
    pub labels: Option<serde_json::Value>,
    #[allow(dead_code)]
    pub log: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub struct DefaultDeny {
    pub ingress: Option<bool>,
    pub egress: Option<bool>,
}

/// An ingress or egress rule; the `from*` and `to*` peer fields share one shape.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PeerRule {
    #[serde(alias = "toEndpoints")]
    pub from_endpoints: Option<Vec<LabelSelector>>,
    #[serde(alias = "toRequires")]
    pub from_requires: Option<Vec<LabelSelector>>,
    #[serde(rename = "fromCIDR", alias = "toCIDR")]
    pub from_cidr: Option<Vec<IpNet>>,
    #[serde(rename = "fromCIDRSet", alias = "toCIDRSet")]
    pub from_cidr_set: Option<Vec<CidrRule>>,
    #[serde(alias = "toEntities")]
    pub from_entities: Option<Vec<String>>,
    #[serde(alias = "toNodes")]
    pub from_nodes: Option<Vec<LabelSelector>>,
    #[serde(alias = "toGroups")]
    pub from_groups: Option<serde_json::Value>,
    pub to_services: Option<serde_json::Value>,
    #[serde(rename = "toFQDNs")]
    pub to_fqdns: Option<Vec<FqdnSelector>>,
    pub to_ports: Option<Vec<PortRule>>,
    pub icmps: Option<serde_json::Value>,
    pub authentication: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CidrRule {
    pub cidr: Option<IpNet>,
    #[serde(default)]
    pub except: Vec<IpNet>,
    pub cidr_group_ref: Option<String>,
    pub cidr_group_selector: Option<serde_json::Value>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FqdnSelector {
    pub match_name: Option<String>,
    pub match_pattern: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortRule {
    #[serde(default)]
    pub ports: Vec<PortProtocol>,
    pub rules: Option<L7Rules>,
    #[allow(dead_code)]
    pub listener: Option<serde_json::Value>,
    #[allow(dead_code)]
    pub server_names: Option<serde_json::Value>,
    // Spelt as the CRD spells them: camelCase would give `terminatingTls`, which the API
    // server refuses.
    #[allow(dead_code)]
    #[serde(rename = "terminatingTLS")]
    pub terminating_tls: Option<serde_json::Value>,
    #[allow(dead_code)]
    #[serde(rename = "originatingTLS")]
    pub originating_tls: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortProtocol {
    pub port: Option<serde_json::Value>,
    pub end_port: Option<u16>,
    pub protocol: Option<String>,
}

#[derive(Deserialize)]
pub struct L7Rules {
    pub dns: Option<Vec<FqdnSelector>>,
    pub http: Option<serde_json::Value>,
    pub kafka: Option<serde_json::Value>,
    pub l7: Option<serde_json::Value>,
}

/// Read one passthrough rule, as written in values, with the model this evaluator reads the
/// kind's rules with: unknown fields and wrong types are located errors with "did you mean".
pub fn check_passthrough_rule(
    node: &crate::values::tree::Node,
    path: &crate::vocab::source::KeyPath,
) -> std::result::Result<(), crate::values::de::DeError> {
    crate::values::de::from_node::<PeerRule>(node, path).map(|_| ())
}
