//! `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy (placeholder until the backend lands).
use super::{Backend, Engine, Rendered};
use crate::error::{Error, Result};
use crate::intent::Intent;

pub struct ClusterNetworkPolicy;

impl Backend for ClusterNetworkPolicy {
    fn engine(&self) -> Engine {
        Engine::ClusterNetworkPolicy
    }

    fn render(&self, _intent: &Intent) -> Result<Rendered> {
        Err(Error::Usage("the clusterNetworkPolicy engine is not implemented yet".into()))
    }
}
