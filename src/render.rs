//! The main job: values in, manifests out, through every stage of the pipeline.

use crate::emit::{self, Header};
use crate::engine::{Engine, Manifest};
use crate::error::{Diagnostic, Error, Result};
use crate::intent::Intent;
use crate::intent::lower::{self, LowerOptions};
use crate::values::{self, Input};
use crate::vocab::source::Sources;

/// Everything a render produced, before it is written anywhere.
#[derive(Debug)]
pub struct Output {
    pub engine: Engine,
    pub intent: Intent,
    pub manifests: Vec<Manifest>,
    pub warnings: Vec<Diagnostic>,
    pub header: Header,
    /// Why nothing was rendered, when the values switch rendering off.
    pub disabled_reason: Option<String>,
}

/// Load, lower and render. Nothing is written: callers emit only after this succeeded.
/// The texts read are left in `sources` either way, for quoting in error messages.
pub fn render(
    inputs: &[Input],
    options: &LowerOptions,
    sources: &mut Sources,
    stdin: &mut dyn FnMut() -> std::io::Result<String>,
) -> Result<Output> {
    let (loaded, lowered) = load_and_lower(inputs, options, sources, stdin)?;
    let sources_read: Vec<String> = loaded.sources.file_names().into_iter().map(str::to_string).collect();
    // The values tree is no longer needed: free it before the engine renders, so the two never
    // peak together. (Freed on a second thread, it overlapped the render: 1,000,000 CIDR peers
    // peaked at 460 MB that way, 417 MB this way, and no slower.)
    drop(loaded);
    let mut warnings = lowered.warnings;
    let mut manifests = Vec::new();
    if lowered.disabled_reason.is_none() {
        let (rendered, engine_warnings) = render_intent(lowered.engine, &lowered.intent)?;
        manifests = rendered;
        warnings.extend(engine_warnings);
    }
    let header = Header {
        engine: lowered.engine.to_string(),
        sources: sources_read,
        unmanaged_namespaces: lowered.intent.unmanaged_namespaces.clone(),
    };
    Ok(Output {
        engine: lowered.engine,
        intent: lowered.intent,
        manifests,
        warnings,
        header,
        disabled_reason: lowered.disabled_reason,
    })
}

/// Load and lower only: the one engine-neutral intent, with the engine the values or flags
/// chose (which the intent does not depend on).
pub fn lower_values(
    inputs: &[Input],
    options: &LowerOptions,
    sources: &mut Sources,
    stdin: &mut dyn FnMut() -> std::io::Result<String>,
) -> Result<lower::Lowered> {
    load_and_lower(inputs, options, sources, stdin).map(|(_, lowered)| lowered)
}

/// Load and lower. When the values have problems in their types, the valid rest of them is
/// lowered (and rendered) too, so that problems the later stages find (a clash, something the
/// engine cannot express) are reported in the same run; those an omitted entry may have caused
/// are not.
pub fn load_and_lower(
    inputs: &[Input],
    options: &LowerOptions,
    sources: &mut Sources,
    stdin: &mut dyn FnMut() -> std::io::Result<String>,
) -> Result<(values::Loaded, lower::Lowered)> {
    let pruned = match values::load_or_prune(inputs, sources, stdin)? {
        Ok(loaded) => {
            let lowered = lower::lower(&loaded, options)?;
            return Ok((loaded, lowered));
        }
        Err(pruned) => pruned,
    };
    let mut problems = pruned.problems;
    let later = match &pruned.rest {
        None => None,
        Some(rest) => match lower::lower(rest, options) {
            Err(e) => Some(e),
            Ok(lowered) if lowered.disabled_reason.is_none() => {
                render_intent(lowered.engine, &lowered.intent).err()
            }
            Ok(_) => None,
        },
    };
    if let Some(Error::Invalid(more)) = later {
        let omitted: Vec<String> = pruned.omitted.iter().map(ToString::to_string).collect();
        problems.extend(more.into_iter().filter(|d| independent_of_omissions(d, &omitted)));
        crate::error::sort_in_file_order(&mut problems);
        problems.truncate(values::MAX_ERRORS);
    }
    Err(Error::Invalid(problems))
}

/// Whether a problem a later stage found in pruned values stands on its own: an error, not
/// about a name or key an omission may have removed, and not at or around an omitted entry.
fn independent_of_omissions(d: &Diagnostic, omitted: &[String]) -> bool {
    use crate::error::{Code, Severity};
    if d.severity != Severity::Error || matches!(d.code, Code::UnknownName | Code::MissingKey) {
        return false;
    }
    let Some(origin) = &d.origin else { return false };
    let nested =
        |inner: &str, outer: &str| outer.is_empty() || crate::vocab::source::path_within(inner, outer);
    !omitted.iter().any(|o| nested(&origin.path, o) || nested(o, &origin.path))
}

/// Render one intent for one engine: the objects in output order, and the engine's warnings.
pub fn render_intent(engine: Engine, intent: &Intent) -> Result<(Vec<Manifest>, Vec<Diagnostic>)> {
    let rendered = crate::engine::render_parallel(engine.backend(), intent)?;
    let mut manifests = rendered.manifests;
    emit::sort(&mut manifests);
    refuse_name_clashes(&manifests)?;
    Ok((manifests, rendered.warnings))
}

/// Two objects with one (kind, namespace, name) would overwrite each other on `kubectl apply`,
/// silently dropping rules. Cluster-scoped names are built from namespaced ones, so they can
/// meet (`a-b` + `c` and `a` + `b-c`).
fn refuse_name_clashes(manifests: &[Manifest]) -> Result<()> {
    let mut seen = std::collections::BTreeMap::new();
    let mut problems = Vec::new();
    for m in manifests {
        let key = (m.api_version, m.kind, m.namespace.as_deref(), m.name.as_str());
        match seen.get(&key) {
            None => {
                seen.insert(key, m.origin.as_ref());
            }
            Some(first) => {
                let scope =
                    m.namespace.as_deref().map(|ns| format!(" in namespace {ns}")).unwrap_or_default();
                let other = first.map(|o| format!(" (the other comes from {o})")).unwrap_or_default();
                let mut d = Diagnostic::new(format!(
                    "two {} objects are both named `{}`{scope}{other}",
                    m.kind, m.name
                ))
                .with_help(
                    "rename one of the workloads or guardrails (`nameOverride`, or the key in the values)",
                );
                if let Some(origin) = &m.origin {
                    d = d.at(origin);
                }
                if let Some(first) = first {
                    d = d.also_at(first);
                }
                problems.push(d.coded(crate::error::Code::Conflict));
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(crate::error::Error::Invalid(problems)) }
}
