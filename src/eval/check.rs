//! `netpol check`: render every engine, judge each rendering on the topology derived from the
//! intent, and list every flow where an engine disagrees with the intent.

use serde::Serialize;

use super::derive::{Derived, derive};
use super::intent::IntentLayer;
use super::{Cni, Direction, Endpoint, Flow, FlowSpec, PolicySet, Verdict};
use crate::engine::{Engine, Manifest};
use crate::error::{Diagnostic, Error, Result};
use crate::intent::{Intent, Protocol};

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
    let mut reports = check_engines_on(&[(engine, manifests)], intent, derived)?;
    reports.pop().ok_or_else(|| Error::Usage("check judged no engine".into()))
}

/// Judge several engines' renderings against the one intent on one derived topology, in one
/// pass over the flows: the intent's verdict on a flow is computed once for every engine, all
/// verdicts take the fast decision path, and only a flow where an engine and the intent differ
/// is judged again with the full explanation. Sources are split over two threads.
pub fn check_engines_on(
    rendered: &[(Engine, &[Manifest])],
    intent: &Intent,
    derived: &Derived,
) -> Result<Vec<EngineCheck>> {
    let mut sets = Vec::with_capacity(rendered.len());
    for (engine, manifests) in rendered {
        let objects = objects_of(manifests)?;
        sets.push((*engine, PolicySet::new(&objects, Some(cni_of(*engine)))?));
    }
    let reference = PolicySet::from_layers(Cni::Kubernetes, vec![Box::new(IntentLayer::new(intent))]);
    let references_on_cni: Vec<PolicySet> = sets
        .iter()
        .map(|(engine, _)| PolicySet::from_layers(cni_of(*engine), vec![Box::new(IntentLayer::new(intent))]))
        .collect();
    let intent_layer = IntentLayer::new(intent);
    let topology = &derived.topology;
    let mut endpoints = Vec::with_capacity(derived.endpoints.len());
    for name in &derived.endpoints {
        let endpoint = Endpoint::parse(name, topology)
            .map_err(|e| Error::invalid(Diagnostic::new(format!("derived endpoint {name}: {e}"))))?;
        endpoints.push(endpoint);
    }
    let ports: Vec<Vec<(Protocol, u16)>> = endpoints.iter().map(|e| derived.ports_towards(e)).collect();

    // Per source range: the flows judged and, per engine, the differences in flow order.
    let judge_sources = |sources: std::ops::Range<usize>| -> (usize, Vec<Vec<Difference>>) {
        let mut flows = 0;
        let mut differences: Vec<Vec<Difference>> = vec![Vec::new(); sets.len()];
        for i in sources {
            let (Some(source), Some(from)) = (endpoints.get(i), derived.endpoints.get(i)) else { continue };
            for (j, (destination, to)) in endpoints.iter().zip(&derived.endpoints).enumerate() {
                let is_pod = |e: &Endpoint<'_>| matches!(e, Endpoint::Pod(_));
                if i == j || !(is_pod(source) || is_pod(destination)) {
                    continue;
                }
                for &(protocol, port) in ports.get(j).map(Vec::as_slice).unwrap_or_default() {
                    flows += 1;
                    let flow = Flow { source: *source, destination: *destination, protocol, port };
                    let expected = reference.allowed(topology, &flow);
                    for (k, (engine, set)) in sets.iter().enumerate() {
                        if set.allowed(topology, &flow) == expected {
                            continue;
                        }
                        let explained_expected = reference.evaluate(topology, &flow);
                        let got = set.evaluate(topology, &flow);
                        let on_cni = references_on_cni.get(k).unwrap_or(&reference);
                        let limitation =
                            explain_difference(*engine, intent, &intent_layer, on_cni, derived, &flow, &got);
                        if let Some(list) = differences.get_mut(k) {
                            list.push(Difference {
                                from: from.clone(),
                                to: to.clone(),
                                port,
                                protocol: protocol.as_str().to_string(),
                                intent: expected,
                                engine: got.allowed,
                                limitation,
                                intent_rule: deciding(&explained_expected),
                                engine_rule: deciding(&got),
                            });
                        }
                    }
                }
            }
        }
        (flows, differences)
    };
    let parts = crate::parallel::in_halves(endpoints.len(), 64, judge_sources);
    let flows: usize = parts.iter().map(|(n, _)| n).sum();
    let mut reports: Vec<EngineCheck> = sets
        .iter()
        .map(|(engine, _)| EngineCheck {
            engine: engine.to_string(),
            not_rendered: None,
            flows,
            differences: Vec::new(),
        })
        .collect();
    for (_, differences) in parts {
        for (report, list) in reports.iter_mut().zip(differences) {
            report.differences.extend(list);
        }
    }
    Ok(reports)
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
