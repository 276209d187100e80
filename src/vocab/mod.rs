//! The vocabulary every layer shares, with no dependency on any layer above it: the engines'
//! names and Kubernetes' naming rules.

pub mod naming;

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
    pub fn aliases(self) -> &'static [&'static str] {
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
