//! `netpol check`: render every engine, judge each rendering on the topology derived from the
//! intent, and list every flow where an engine disagrees with the intent.

use serde::Serialize;

use super::derive::{Derived, derive};
use super::intent::IntentLayer;
use super::{Cni, Direction, Flow, FlowSpec, PolicySet, Verdict};
use crate::engine::{Engine, Manifest};
use crate::error::{Diagnostic, Error, Result};
use crate::intent::Intent;

/// Differences an engine is documented to have (README "Documented limitations").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limitation {
    /// Cilium CIDR rules never match pods, nodes or an in-cluster API server.
    CiliumCidrSkipsClusterEndpoints,
    /// Rules merged verbatim for one engine are not part of the engine-agnostic intent.
    Passthrough,
    /// Guardrails rendered for kubernetes with `--accept-weaker-guardrails` only approximate a deny.
    WeakerGuardrails,
    /// ClusterNetworkPolicy ingress peers are pods only: traffic from nodes, the API server or
    /// outside the cluster is never denied on that engine.
    ClusterNetworkPolicyIngressFromNonPods,
}

impl Limitation {
    pub fn describe(self) -> &'static str {
        match self {
            Limitation::CiliumCidrSkipsClusterEndpoints => {
                "Cilium CIDR rules never match pods, nodes or the API server"
            }
            Limitation::Passthrough => "engine-specific passthrough rules are outside the intent",
            Limitation::WeakerGuardrails => "kubernetes can only approximate guardrails",
            Limitation::ClusterNetworkPolicyIngressFromNonPods => {
                "ClusterNetworkPolicy cannot deny ingress from anything but pods"
            }
        }
    }
}

/// One flow where an engine and the intent disagree.
#[derive(Clone, Debug, Serialize)]
pub struct Difference {
    pub from: String,
    pub to: String,
    pub port: u16,
    pub protocol: String,
    pub intent: bool,
    pub engine: bool,
    /// The documented limitation that explains it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limitation: Option<Limitation>,
    pub intent_rule: String,
    pub engine_rule: String,
}

/// What `check` found for one engine.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineCheck {
    pub engine: String,
    /// Set when the engine cannot render the values (the render error, which is loud anyway).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_rendered: Option<String>,
    pub flows: usize,
    pub differences: Vec<Difference>,
}

impl EngineCheck {
    /// Differences no documented limitation explains.
    pub fn unexplained(&self) -> usize {
        self.differences.iter().filter(|d| d.limitation.is_none()).count()
    }
}

/// The CNI whose semantics judge an engine's output.
pub fn cni_of(engine: Engine) -> Cni {
    match engine {
        Engine::Cilium => Cni::Cilium,
        Engine::Calico => Cni::Calico,
        Engine::Kubernetes | Engine::ClusterNetworkPolicy => Cni::Kubernetes,
    }
}

/// Parse rendered manifests back into objects, as `kubectl apply` would read them.
pub fn objects_of(manifests: &[Manifest]) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::with_capacity(manifests.len());
    for m in manifests {
        let text = &m.yaml;
        let value: serde_json::Value = serde_saphyr::from_str_with_options(text, super::yaml_options())
            .map_err(|e| Error::invalid(Diagnostic::new(format!("re-reading rendered output: {e}"))))?;
        out.push(value);
    }
    Ok(out)
}

/// Judge one engine's rendering against its intent on the topology derived from that intent.
pub fn check_engine(engine: Engine, intent: &Intent, manifests: &[Manifest]) -> Result<EngineCheck> {
    check_engine_on(engine, intent, manifests, &derive(intent))
}

/// The topology of several engines' intents at once (their policies differ only in how each
/// engine spells a peer), so that every engine is judged on the same endpoints and flows.
pub fn derive_common<'a>(intents: impl IntoIterator<Item = &'a Intent>) -> Derived {
    let mut common: Option<Intent> = None;
    for intent in intents {
        match &mut common {
            None => common = Some(intent.clone()),
            Some(c) => {
                c.policies.extend(intent.policies.iter().cloned());
                c.guardrails.extend(intent.guardrails.iter().cloned());
            }
        }
    }
    derive(&common.unwrap_or_default())
}

/// Judge one engine's rendering against its intent on a given derived topology.
pub fn check_engine_on(
    engine: Engine,
    intent: &Intent,
    manifests: &[Manifest],
    derived: &Derived,
) -> Result<EngineCheck> {
    let objects = objects_of(manifests)?;
    let cni = cni_of(engine);
    let rendered = PolicySet::new(&objects, Some(cni))?;
    let reference = PolicySet::from_layers(Cni::Kubernetes, vec![Box::new(IntentLayer::new(intent))]);
    let reference_on_cni = PolicySet::from_layers(cni, vec![Box::new(IntentLayer::new(intent))]);
    let intent_layer = IntentLayer::new(intent);
    let flows = derived.flows();
    let mut differences = Vec::new();
    for spec in &flows {
        let flow = spec.resolve(&derived.topology).map_err(|e| {
            Error::invalid(Diagnostic::new(format!("derived flow {} -> {}: {e}", spec.from, spec.to)))
        })?;
        let expected = reference.evaluate(&derived.topology, &flow);
        let got = rendered.evaluate(&derived.topology, &flow);
        if expected.allowed == got.allowed {
            continue;
        }
        let limitation =
            explain_difference(engine, intent, &intent_layer, &reference_on_cni, derived, &flow, &got);
        differences.push(Difference {
            from: spec.from.clone(),
            to: spec.to.clone(),
            port: flow.port,
            protocol: flow.protocol.as_str().to_string(),
            intent: expected.allowed,
            engine: got.allowed,
            limitation,
            intent_rule: deciding(&expected),
            engine_rule: deciding(&got),
        });
    }
    Ok(EngineCheck { engine: engine.to_string(), not_rendered: None, flows: flows.len(), differences })
}

fn deciding(v: &Verdict) -> String {
    v.deciding().map(|(d, s)| format!("{}: {s}", d.field())).unwrap_or_default()
}

fn explain_difference(
    engine: Engine,
    intent: &Intent,
    intent_layer: &IntentLayer,
    reference_on_cni: &PolicySet,
    derived: &Derived,
    flow: &Flow<'_>,
    got: &Verdict,
) -> Option<Limitation> {
    if [Direction::Egress, Direction::Ingress]
        .iter()
        .any(|d| intent_layer.passthrough_applies(*d, flow).is_some())
    {
        return Some(Limitation::Passthrough);
    }
    if engine == Engine::ClusterNetworkPolicy && got.allowed && flow.source.policy_pod().is_none() {
        return Some(Limitation::ClusterNetworkPolicyIngressFromNonPods);
    }
    if engine == Engine::Cilium && reference_on_cni.evaluate(&derived.topology, flow).allowed == got.allowed {
        return Some(Limitation::CiliumCidrSkipsClusterEndpoints);
    }
    if engine == Engine::Kubernetes && intent.accept_weaker_guardrails && !intent.guardrails.is_empty() {
        return Some(Limitation::WeakerGuardrails);
    }
    None
}

/// The derived flows as written in a flows file (for `netpol topology --flows`).
pub fn derived_flows(intent: &Intent) -> (Derived, Vec<FlowSpec>) {
    let derived = derive(intent);
    let flows = derived.flows();
    (derived, flows)
}
