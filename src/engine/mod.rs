//! Engine backends: one module per engine behind one trait, turning the intent into typed
//! objects. Each backend translates every construct it can express exactly and reports
//! everything else as a diagnostic that names the engines that can.

pub mod calico;
pub mod cilium;
pub mod cluster_network_policy;
pub mod kubernetes;
#[cfg(test)]
pub mod testing;

use serde::Serialize;

use crate::error::{Diagnostic, Error, Result};
use crate::intent::{Guardrail, Intent, Policy};
pub use crate::vocab::{Engine, naming};

impl Engine {
    /// The backend that renders for this engine.
    pub fn backend(self) -> &'static dyn Backend {
        match self {
            Engine::Kubernetes => &kubernetes::Kubernetes,
            Engine::Cilium => &cilium::Cilium,
            Engine::Calico => &calico::Calico,
            Engine::ClusterNetworkPolicy => &cluster_network_policy::ClusterNetworkPolicy,
        }
    }
}

/// One rendered object, ready to be emitted.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Where the object sorts: tiers and guardrails first, then namespaced policies.
    pub group: OutputGroup,
    /// The whole object (apiVersion, kind, metadata, spec) as one YAML document body. Kept as
    /// text, not as a JSON tree: a 10,000-workload render would otherwise hold ten times its
    /// output in memory.
    pub yaml: String,
    /// Where the policy or guardrail it renders was written, for errors about the object.
    pub origin: Option<crate::intent::Origin>,
}

/// Output order classes; objects sort by (group, namespace, name, kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutputGroup {
    /// Objects other objects refer to (Calico tiers).
    Foundation,
    /// Cluster-wide guardrails: the highest precedence the engine offers.
    Guardrail,
    /// Namespace default-denies and allowlists (cluster-scoped for ClusterNetworkPolicy).
    Namespace,
}

impl Manifest {
    /// Build a manifest from a typed object; `body` must serialise to a JSON object.
    pub fn new<T: Serialize>(
        kind: crate::vocab::object::Kind,
        name: String,
        namespace: Option<String>,
        group: OutputGroup,
        object: &T,
    ) -> Result<Self> {
        // Straight to text: a policy of a million peers as a JSON tree first would take several
        // times the memory of its text. A shape the direct writer does not take goes through
        // the tree, with the same bytes.
        let yaml = match crate::yaml::stream::to_string(object) {
            Ok(yaml) => yaml,
            Err(_) => {
                let body = serde_json::to_value(object).map_err(|e| {
                    Error::invalid(Diagnostic::new(format!("cannot serialise {} {name}: {e}", kind.kind)))
                })?;
                crate::yaml::to_string(&body)
            }
        };
        Ok(Manifest {
            api_version: kind.api_version,
            kind: kind.kind,
            name,
            namespace,
            group,
            yaml,
            origin: None,
        })
    }

    /// The same object, remembering the values it came from.
    pub(crate) fn written_at(mut self, origin: &crate::intent::Origin) -> Self {
        self.origin = Some(origin.clone());
        self
    }

    /// The object as a JSON tree, read back from its YAML (the writer is lossless: every
    /// example's objects are checked to read back to the same text).
    pub(crate) fn try_body(&self) -> Result<serde_json::Value> {
        serde_saphyr::from_str(&self.yaml).map_err(|e| {
            Error::invalid(Diagnostic::new(format!("cannot read back {} {}: {e}", self.kind, self.name)))
        })
    }

    /// [`Manifest::try_body`], or `null` if the text does not read back.
    #[cfg(test)]
    pub(crate) fn body(&self) -> serde_json::Value {
        self.try_body().unwrap_or(serde_json::Value::Null)
    }

    pub(crate) fn sort_key(&self) -> (OutputGroup, &str, &str, &str) {
        (self.group, self.namespace.as_deref().unwrap_or(""), &self.name, self.kind)
    }
}

/// A rule in an object's rule list: one netpol generated (typed), or one the user passed
/// through verbatim in the engine's own schema.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Entry<R> {
    Rendered(R),
    Verbatim(serde_json::Value),
}

/// What a backend produced: objects in any order (the caller sorts) and warnings.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    pub manifests: Vec<Manifest>,
    pub warnings: Vec<Diagnostic>,
}

impl Rendered {
    /// Objects without warnings: none, one, or several.
    pub(crate) fn objects(manifests: impl IntoIterator<Item = Manifest>) -> Self {
        Rendered { manifests: manifests.into_iter().collect(), warnings: Vec::new() }
    }

    fn extend(&mut self, other: Rendered) {
        self.manifests.extend(other.manifests);
        self.warnings.extend(other.warnings);
    }
}

/// One engine. Implementations translate exactly or report; they never drop or widen.
///
/// A backend renders one guardrail or one policy at a time; [`Backend::render`] is the one loop
/// over the intent that every engine shares.
pub trait Backend: Sync {
    fn engine(&self) -> Engine;

    /// Objects the others refer to, written once before any guardrail (Calico's tier).
    fn foundation(&self, _intent: &Intent) -> Result<Vec<Manifest>> {
        Ok(Vec::new())
    }

    /// The objects of the `index`th guardrail, and warnings about it. Inexpressible parts go to
    /// `problems`.
    fn guardrail(
        &self,
        intent: &Intent,
        index: usize,
        guardrail: &Guardrail,
        problems: &mut Problems,
    ) -> Result<Rendered>;

    /// The objects of one policy, and warnings about it. Inexpressible parts go to `problems`.
    fn policy(&self, intent: &Intent, policy: &Policy, problems: &mut Problems) -> Result<Rendered>;

    /// Render the whole intent. Every inexpressible construct is reported, not just the first:
    /// the error carries one diagnostic per problem.
    fn render(&self, intent: &Intent) -> Result<Rendered> {
        let mut problems = Problems::default();
        let mut rendered = render_guardrails(self, intent, &mut problems)?;
        rendered.extend(render_policies(self, intent, &intent.policies, &mut problems)?);
        rendered.warnings.extend(problems.take_warnings());
        problems.finish(rendered)
    }
}

/// The objects every rendering starts with: the foundation, then each guardrail.
fn render_guardrails<B: Backend + ?Sized>(
    backend: &B,
    intent: &Intent,
    problems: &mut Problems,
) -> Result<Rendered> {
    let mut rendered = Rendered::objects(backend.foundation(intent)?);
    for (index, guardrail) in intent.guardrails.iter().enumerate() {
        let part = backend.guardrail(intent, index, guardrail, problems)?;
        rendered.warnings.extend(part.warnings);
        rendered.manifests.extend(part.manifests.into_iter().map(|m| m.written_at(&guardrail.origin)));
    }
    Ok(rendered)
}

/// The objects of `policies`, some or all of the intent's, each rendered against the whole
/// intent (its guardrails and cluster facts).
fn render_policies<B: Backend + ?Sized>(
    backend: &B,
    intent: &Intent,
    policies: &[Policy],
    problems: &mut Problems,
) -> Result<Rendered> {
    let mut rendered = Rendered::default();
    for policy in policies {
        rendered.warnings.extend(foreign_passthrough(backend.engine(), policy));
        let part = backend.policy(intent, policy, problems)?;
        rendered.warnings.extend(part.warnings);
        rendered.manifests.extend(part.manifests.into_iter().map(|m| m.written_at(&policy.origin)));
    }
    Ok(rendered)
}

/// [`Backend::render`] with the policies in two halves, the second on its own thread. Both
/// halves render against the whole intent, and the caller sorts the result, so the output is
/// the same as a single-threaded render.
pub(crate) fn render_parallel(backend: &dyn Backend, intent: &Intent) -> Result<Rendered> {
    if intent.policies.len() < crate::parallel::PARALLEL_FROM {
        return backend.render(intent);
    }
    let mut problems = Problems::default();
    let mut rendered = render_guardrails(backend, intent, &mut problems)?;
    let halves = crate::parallel::in_halves(intent.policies.len(), crate::parallel::PARALLEL_FROM, |range| {
        let mut problems = Problems::default();
        let policies = intent.policies.get(range).unwrap_or_default();
        (render_policies(backend, intent, policies, &mut problems), problems)
    });
    for (part, half_problems) in halves {
        rendered.extend(part?);
        problems.absorb(half_problems);
    }
    rendered.warnings.extend(problems.take_warnings());
    problems.finish(rendered)
}

/// Passthrough rules written for another engine: a values file may carry them for several
/// engines, and only the rendered engine's are merged. The others are reported, never dropped
/// in silence.
pub(crate) fn foreign_passthrough(engine: Engine, policy: &crate::intent::Policy) -> Vec<Diagnostic> {
    let p = &policy.passthrough;
    [
        (Engine::Cilium, &p.cilium),
        (Engine::Calico, &p.calico),
        (Engine::ClusterNetworkPolicy, &p.cluster_network_policy),
    ]
    .into_iter()
    .filter(|(owner, raw)| *owner != engine && !raw.is_empty())
    .map(|(owner, raw)| {
        Diagnostic::warning(format!(
            "{owner} passthrough rules of `{}/{}` apply only to the {owner} engine and are not rendered for {engine}",
            policy.namespace, policy.name
        ))
        .at(&raw.origin)
        .coded(crate::error::Code::Ignored)
    })
    .collect()
}

/// A rule whose only peer is the CNI's own gateway proxy names nothing on an engine without
/// one: report it (so the rule is skipped, never rendered as "anyone") and return true.
pub(crate) fn only_gateway_proxy(
    rule: &crate::intent::Rule,
    engine: Engine,
    problems: &mut Problems,
) -> bool {
    use crate::intent::Peer;
    let only = !rule.peers.is_empty() && rule.peers.iter().all(|p| *p == Peer::GatewayProxy);
    if only {
        problems.push(
            Diagnostic::new(format!(
                "`allow.fromGateway` needs to know where the gateway's pods run for the {engine} engine (rule `{}`)",
                rule.name
            ))
            .at(&rule.origin)
            .with_help("set cluster.gateway.namespace (and podLabels); the cilium engine also has its reserved `ingress` identity")
            .coded(crate::error::Code::Unsupported),
        );
    }
    only
}

/// Collects diagnostics while a backend keeps going, so that one run reports every problem.
#[derive(Default)]
pub struct Problems(Vec<Diagnostic>, Vec<Diagnostic>);

impl Problems {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// A warning found deep in a translation, for the backend to hand back with its objects.
    pub(crate) fn warn(&mut self, diagnostic: Diagnostic) {
        self.1.push(diagnostic);
    }

    /// Take over what another part of the same render reported.
    fn absorb(&mut self, other: Problems) {
        self.0.extend(other.0);
        self.1.extend(other.1);
    }

    pub(crate) fn take_warnings(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.1)
    }

    /// `Ok(value)` when nothing was reported.
    pub fn finish<T>(self, value: T) -> Result<T> {
        if self.0.is_empty() { Ok(value) } else { Err(Error::Invalid(self.0)) }
    }
}

/// Standard object metadata shared by every backend's typed structs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct ObjectMeta {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl ObjectMeta {
    /// Metadata carrying the intent's common labels and annotations.
    pub fn new(intent: &Intent, name: &str, namespace: Option<&str>) -> Self {
        ObjectMeta {
            name: name.to_string(),
            namespace: namespace.map(str::to_string),
            labels: intent.labels.clone(),
            annotations: intent.annotations.clone(),
        }
    }
}
