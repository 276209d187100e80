//! `networking.k8s.io/v1` NetworkPolicy as manifests hold it. Cilium and Calico enforce these
//! too, so their evaluators read the same model.

use ipnet::IpNet;
use serde::Deserialize;

use super::PortRef;
use crate::vocab::labels::LabelSelector;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy {
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: Spec,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub pod_selector: LabelSelector,
    pub policy_types: Option<Vec<String>>,
    pub ingress: Option<Vec<IngressRule>>,
    pub egress: Option<Vec<EgressRule>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct IngressRule {
    pub from: Option<Vec<PolicyPeer>>,
    pub ports: Option<Vec<PolicyPort>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct EgressRule {
    pub to: Option<Vec<PolicyPeer>>,
    pub ports: Option<Vec<PolicyPort>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPeer {
    pub pod_selector: Option<LabelSelector>,
    pub namespace_selector: Option<LabelSelector>,
    pub ip_block: Option<IpBlock>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IpBlock {
    pub cidr: IpNet,
    #[serde(default)]
    pub except: Vec<IpNet>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPort {
    pub protocol: Option<String>,
    pub port: Option<PortRef>,
    pub end_port: Option<u16>,
}

pub(crate) fn default_namespace() -> String {
    "default".to_string()
}
