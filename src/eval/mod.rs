//! Semantic evaluation: does a set of policies allow a flow? A first slice of issue #4:
//! Kubernetes `networking.k8s.io/v1` NetworkPolicy semantics (ENGINES.md 2.2) over a declared
//! topology, used by `netpol eval`. Other kinds are reported as not modelled, never guessed.

pub mod kubernetes;

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::{Diagnostic, Error, Result};

/// The cluster a verdict is computed for.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Topology {
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    #[serde(default)]
    pub pods: Vec<Pod>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Namespace {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub ip: Option<IpAddr>,
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
    #[serde(default)]
    pub host_network: bool,
    pub service_account: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
    #[serde(default = "tcp")]
    pub protocol: String,
}

fn tcp() -> String {
    "TCP".to_string()
}

impl Topology {
    pub fn namespace_labels(&self, ns: &str) -> BTreeMap<String, String> {
        let mut labels =
            self.namespaces.iter().find(|n| n.name == ns).map(|n| n.labels.clone()).unwrap_or_default();
        // The API server sets this label on every namespace.
        labels.insert("kubernetes.io/metadata.name".to_string(), ns.to_string());
        labels
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods.iter().find(|p| p.namespace == namespace && p.name == name)
    }
}

/// One flow to judge, as written in a flows file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    pub from: String,
    pub to: String,
    pub port: PortRef,
    #[serde(default = "tcp")]
    pub protocol: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

/// A flow endpoint: a pod of the topology or a bare address.
#[derive(Clone, Debug)]
pub enum Endpoint<'a> {
    Pod(&'a Pod),
    Address(IpAddr),
}

impl<'a> Endpoint<'a> {
    /// `namespace/pod` or `ip:A.B.C.D`.
    pub fn parse(text: &str, topology: &'a Topology) -> std::result::Result<Self, String> {
        if let Some(ip) = text.strip_prefix("ip:") {
            return ip.parse().map(Endpoint::Address).map_err(|_| format!("`{ip}` is not an IP address"));
        }
        let (ns, name) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is neither `namespace/pod` nor `ip:ADDRESS`"))?;
        topology.pod(ns, name).map(Endpoint::Pod).ok_or_else(|| format!("no pod `{text}` in the topology"))
    }

    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Endpoint::Pod(p) => p.ip,
            Endpoint::Address(ip) => Some(*ip),
        }
    }
}

/// A verdict and what decided it, in the order the engine considered it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Verdict {
    pub allowed: bool,
    /// One line per direction: which policy and rule decided, or why nothing applied.
    pub reasons: Vec<String>,
}

/// The judged flow, as printed by `netpol eval`.
#[derive(Clone, Debug, Serialize)]
pub struct JudgedFlow {
    pub from: String,
    pub to: String,
    pub port: PortRef,
    pub protocol: String,
    pub allowed: bool,
    pub reasons: Vec<String>,
}

/// Parse a topology file.
pub fn read_topology(text: &str, name: &str) -> Result<Topology> {
    serde_saphyr::from_str(text).map_err(|e| Error::invalid(Diagnostic::new(format!("{name}: {e}"))))
}

/// Parse a flows file: a YAML list of `{from, to, port, protocol}`.
pub fn read_flows(text: &str, name: &str) -> Result<Vec<FlowSpec>> {
    serde_saphyr::from_str(text).map_err(|e| Error::invalid(Diagnostic::new(format!("{name}: {e}"))))
}

/// Every object of a manifests file (multi-document YAML, or a `List`).
pub fn read_objects(text: &str, name: &str) -> Result<Vec<serde_json::Value>> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| Error::invalid(Diagnostic::new(format!("{name}: {e}"))))?;
    let mut out = Vec::new();
    for d in docs {
        match d.get("kind").and_then(|k| k.as_str()) {
            Some("List") => {
                out.extend(d.get("items").and_then(|i| i.as_array()).cloned().unwrap_or_default())
            }
            Some(_) => out.push(d),
            None if d.is_null() => {}
            None => {
                return Err(Error::invalid(Diagnostic::new(format!("{name}: a document without `kind`"))));
            }
        }
    }
    Ok(out)
}

/// Judge every flow against the objects; objects of kinds the evaluator does not model are an
/// error, so a verdict is never computed from a partial policy set.
pub fn judge(
    objects: &[serde_json::Value],
    topology: &Topology,
    flows: &[FlowSpec],
) -> Result<Vec<JudgedFlow>> {
    let policies = kubernetes::read_policies(objects)?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        let ends =
            Endpoint::parse(&f.from, topology).and_then(|a| Endpoint::parse(&f.to, topology).map(|b| (a, b)));
        let protocol = f.protocol.to_ascii_uppercase();
        match ends {
            Ok((from, to)) => {
                let v = kubernetes::evaluate(&policies, topology, &from, &to, &f.port, &protocol);
                out.push(JudgedFlow {
                    from: f.from.clone(),
                    to: f.to.clone(),
                    port: f.port.clone(),
                    protocol: f.protocol.clone(),
                    allowed: v.allowed,
                    reasons: v.reasons,
                });
            }
            Err(e) => problems.push(Diagnostic::new(format!("flow {i}: {e}"))),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(Error::Invalid(problems)) }
}
