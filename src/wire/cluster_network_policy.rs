//! ClusterNetworkPolicy (v1alpha2) and its predecessors AdminNetworkPolicy and
//! BaselineAdminNetworkPolicy (v1alpha1) as manifests hold them, and the v1alpha2 rule model a
//! passthrough rule in values is checked against. Read leniently (status, unknown metadata) but
//! with every peer and port form checked by the evaluator.

use ipnet::IpNet;
use serde::Deserialize;

use super::Metadata;

use crate::vocab::labels::LabelSelector;

// The wire shapes of both API versions, read leniently (status, unknown metadata) but with
// every peer and port form checked below.
#[derive(Deserialize)]
pub struct Object {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub tier: Option<String>,
    pub priority: Option<i64>,
    pub subject: WireSubject,
    #[serde(default)]
    pub ingress: Vec<WireRule>,
    #[serde(default)]
    pub egress: Vec<WireRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireSubject {
    pub namespaces: Option<LabelSelector>,
    pub pods: Option<WirePods>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WirePods {
    #[serde(default)]
    pub namespace_selector: LabelSelector,
    #[serde(default)]
    pub pod_selector: LabelSelector,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRule {
    pub name: Option<String>,
    pub action: String,
    pub from: Option<Vec<WirePeer>>,
    pub to: Option<Vec<WirePeer>>,
    /// v1alpha2.
    pub protocols: Option<Vec<WireProtocol>>,
    /// v1alpha1.
    pub ports: Option<Vec<WirePort>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WirePeer {
    pub namespaces: Option<LabelSelector>,
    pub pods: Option<WirePods>,
    pub networks: Option<Vec<IpNet>>,
    pub nodes: Option<LabelSelector>,
    pub domain_names: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WireProtocol {
    pub tcp: Option<WireDestination>,
    pub udp: Option<WireDestination>,
    pub sctp: Option<WireDestination>,
    pub destination_named_port: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WireDestination {
    pub destination_port: Option<WireNumberOrRange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireNumberOrRange {
    pub number: Option<u16>,
    pub range: Option<WireRange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRange {
    pub start: u16,
    pub end: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WirePort {
    pub port_number: Option<WirePortNumber>,
    pub named_port: Option<String>,
    pub port_range: Option<WirePortRange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WirePortNumber {
    pub protocol: Option<String>,
    pub port: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WirePortRange {
    pub protocol: Option<String>,
    pub start: u16,
    pub end: u16,
}

/// A rule as netpol renders it: `policy.networking.k8s.io/v1alpha2` only (the evaluator also
/// reads v1alpha1's `ports`), ingress peers being namespaces or pods as the schema has them.
/// The parts are the evaluator's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct PassthroughRule {
    pub name: Option<String>,
    pub action: String,
    pub from: Option<Vec<IngressPeer>>,
    pub to: Option<Vec<WirePeer>>,
    pub protocols: Option<Vec<WireProtocol>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct IngressPeer {
    pub namespaces: Option<LabelSelector>,
    pub pods: Option<WirePods>,
}

/// Read one passthrough rule, as written in values, with the model this evaluator reads the
/// kind's rules with: unknown fields and wrong types are located errors with "did you mean".
pub fn check_passthrough_rule(
    node: &crate::values::tree::Node,
    path: &crate::vocab::source::KeyPath,
) -> std::result::Result<(), crate::values::de::DeError> {
    crate::values::de::from_node::<PassthroughRule>(node, path).map(|_| ())
}
