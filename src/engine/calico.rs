//! Calico `projectcalico.org/v3` (placeholder until the backend lands).
use super::{Backend, Engine, Rendered};
use crate::error::{Error, Result};
use crate::intent::Intent;

pub struct Calico;

impl Backend for Calico {
    fn engine(&self) -> Engine {
        Engine::Calico
    }

    fn render(&self, _intent: &Intent) -> Result<Rendered> {
        Err(Error::Usage("the calico engine is not implemented yet".into()))
    }
}
