//! The shape every object netpol writes shares (`apiVersion`, `kind`, `metadata`, `spec`), and
//! the kinds it writes, each once.

use serde::Serialize;

/// An object's `apiVersion` and `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    pub api_version: &'static str,
    pub kind: &'static str,
}

impl Kind {
    pub const NETWORK_POLICY: Kind = Kind { api_version: "networking.k8s.io/v1", kind: "NetworkPolicy" };
    pub const CILIUM_NETWORK_POLICY: Kind = Kind { api_version: "cilium.io/v2", kind: "CiliumNetworkPolicy" };
    pub const CILIUM_CLUSTERWIDE_NETWORK_POLICY: Kind =
        Kind { api_version: "cilium.io/v2", kind: "CiliumClusterwideNetworkPolicy" };
    pub const CALICO_NETWORK_POLICY: Kind =
        Kind { api_version: "projectcalico.org/v3", kind: "NetworkPolicy" };
    pub const CALICO_GLOBAL_NETWORK_POLICY: Kind =
        Kind { api_version: "projectcalico.org/v3", kind: "GlobalNetworkPolicy" };
    pub const CALICO_TIER: Kind = Kind { api_version: "projectcalico.org/v3", kind: "Tier" };
    pub const CLUSTER_NETWORK_POLICY: Kind =
        Kind { api_version: "policy.networking.k8s.io/v1alpha2", kind: "ClusterNetworkPolicy" };
}

/// One whole object: `metadata` and `spec` typed by the engine that writes it.
#[derive(Serialize)]
pub struct Object<M, S> {
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: M,
    pub spec: S,
}

impl<M, S> Object<M, S> {
    pub fn new(kind: Kind, metadata: M, spec: S) -> Self {
        Object { api_version: kind.api_version, kind: kind.kind, metadata, spec }
    }
}
