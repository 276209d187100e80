//! Cilium `cilium.io/v2` (placeholder until the backend lands).
use super::{Backend, Engine, Rendered};
use crate::error::{Error, Result};
use crate::intent::Intent;

pub struct Cilium;

impl Backend for Cilium {
    fn engine(&self) -> Engine {
        Engine::Cilium
    }

    fn render(&self, _intent: &Intent) -> Result<Rendered> {
        Err(Error::Usage("the cilium engine is not implemented yet".into()))
    }
}
