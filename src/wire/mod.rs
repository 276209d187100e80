//! The engines' objects as manifests hold them: what the evaluator reads policies netpol did not
//! write into, and what a passthrough rule in values is checked against. It sits below both, so
//! that lowering can check a passthrough rule without reaching up into the evaluator.

pub mod calico;
pub mod cilium;
pub mod cluster_network_policy;
pub mod kubernetes;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The part of `metadata` the evaluators read; the rest (uid, annotations, managed fields of an
/// exported object) is left alone.
#[derive(Deserialize)]
pub struct Metadata {
    pub name: String,
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A port by number or by container port name, as NetworkPolicy and flows files write it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(untagged)]
pub enum PortRef {
    Number(u16),
    Name(String),
}
