//! Reviewing, documenting, testing and proving a policy set, from what netpol knows of it:
//! `diff` (what traffic a change adds or removes), `docs` (who may reach whom, per namespace),
//! `test` (expected verdicts in CI) and `probe` (connections tried on the live cluster). Each
//! builds a typed context; the text is laid out by the templates of [`crate::templates`].

pub mod diff;
pub mod docs;
pub mod probe;
pub mod test;

use crate::engine::{Engine, Manifest};
use crate::error::{Diagnostic, Result};
use crate::eval::check::{cni_of, objects_of};
use crate::eval::{Cni, PolicySet};
use crate::intent::Intent;

/// One engine's rendering of an intent, and the same objects read back as the evaluator's
/// policy set (what the cluster would enforce).
pub struct EngineRendering {
    pub engine: Engine,
    pub manifests: Vec<Manifest>,
    /// The manifests read back as `kubectl apply` reads them.
    pub objects: Vec<serde_json::Value>,
    pub policies: PolicySet,
}

/// Render `intent` for `engine` and read the objects back, judged as `cni` enforces them
/// (default: the engine's own). The warnings are the engine's.
pub fn render_for(
    engine: Engine,
    intent: &Intent,
    cni: Option<Cni>,
) -> Result<(EngineRendering, Vec<Diagnostic>)> {
    let (manifests, warnings) = crate::render::render_intent(engine, intent)?;
    let objects = objects_of(&manifests)?;
    let policies = PolicySet::new(&objects, Some(cni.unwrap_or_else(|| cni_of(engine))))?;
    Ok((EngineRendering { engine, manifests, objects, policies }, warnings))
}

/// Why an engine could not render the values: its errors, in one line.
pub(crate) fn not_rendered_reason(error: &crate::error::Error) -> String {
    error.diagnostics().iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("; ")
}
