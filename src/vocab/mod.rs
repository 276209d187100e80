//! The vocabulary every layer shares, with no dependency on any layer above it: the engines'
//! names and Kubernetes' naming rules.

pub mod capability;
pub mod direction;
pub mod labels;
pub mod naming;
pub mod object;
pub mod peer;
pub mod source;

pub use direction::{Direction, PerDirection};
pub use source::Origin;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The policy dialect to render. Named by the user, never sniffed from a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Engine {
    #[serde(rename = "kubernetes")]
    Kubernetes,
    #[serde(rename = "cilium")]
    Cilium,
    #[serde(rename = "calico")]
    Calico,
    #[serde(rename = "clusterNetworkPolicy")]
    ClusterNetworkPolicy,
}

impl Engine {
    /// Other names users type for the engine (`cnp` is not one: it is Cilium's short name).
    pub(crate) fn aliases(self) -> &'static [&'static str] {
        match self {
            Engine::Kubernetes => &["k8s"],
            Engine::Cilium | Engine::Calico => &[],
            Engine::ClusterNetworkPolicy => &["cluster-network-policy"],
        }
    }

    pub const ALL: [Engine; 4] =
        [Engine::Kubernetes, Engine::Cilium, Engine::Calico, Engine::ClusterNetworkPolicy];

    /// The spelling used in values files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Kubernetes => "kubernetes",
            Engine::Cilium => "cilium",
            Engine::Calico => "calico",
            Engine::ClusterNetworkPolicy => "clusterNetworkPolicy",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Engine::ALL.into_iter().find(|e| e.as_str() == s || e.aliases().contains(&s)).ok_or_else(|| {
            format!("unknown engine `{s}`; expected one of: {}", Engine::ALL.map(Engine::as_str).join(", "))
        })
    }
}

/// A transport protocol a policy can name: parsed, displayed and serialised here only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];
    const NAMES: &'static [&'static str] = &["TCP", "UDP", "SCTP"];

    /// Upper-case spelling shared by Kubernetes, Cilium and Calico.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// `tcp`, `Tcp` or `TCP`: how the evaluator reads manifests, topologies and flows (the
    /// values file takes the upper-case spelling only, as Kubernetes does).
    pub(crate) fn from_any_case(text: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Protocol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The upper-case spelling only; anything else is an unknown value with "did you mean".
impl<'de> serde::Deserialize<'de> for Protocol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        Protocol::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| serde::de::Error::unknown_variant(&text, Protocol::NAMES))
    }
}
