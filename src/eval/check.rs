//! `netpol check`: render every engine, judge each rendering on the topology derived from the
//! intent, and list every flow where an engine disagrees with the intent.

use serde::Serialize;

use super::derive::Derived;
use super::reference::IntentLayer;
use std::collections::BTreeMap;

use super::classes::{Classes, classes, representatives};
use super::{Cni, Direction, End, Endpoint, Flow, PolicySet, Verdict};
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
    pub(crate) fn describe(self) -> &'static str {
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
            .map_err(|e| Error::invalid(Diagnostic::evaluator(format!("re-reading rendered output: {e}"))))?;
        out.push(value);
    }
    Ok(out)
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
/// is judged again with the full explanation. Endpoints that no policy tells apart are judged
/// once per class (see `eval::classes`); source classes are split over two threads.
pub fn check_engines_on(
    rendered: &[(Engine, &[Manifest])],
    intent: &Intent,
    derived: &Derived,
) -> Result<Vec<EngineCheck>> {
    judge_engines(rendered, intent, derived, true)
}

/// [`check_engines_on`] without classes: every flow judged on its own (the reference the
/// class walk is tested against).
pub fn check_engines_flow_by_flow(
    rendered: &[(Engine, &[Manifest])],
    intent: &Intent,
    derived: &Derived,
) -> Result<Vec<EngineCheck>> {
    judge_engines(rendered, intent, derived, false)
}

fn judge_engines(
    rendered: &[(Engine, &[Manifest])],
    intent: &Intent,
    derived: &Derived,
    judge_by_class: bool,
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
            .map_err(|e| Error::invalid(Diagnostic::evaluator(format!("derived endpoint {name}: {e}"))))?;
        endpoints.push(endpoint);
    }
    let ports: Vec<Vec<(Protocol, u16)>> = endpoints.iter().map(|e| derived.ports_towards(e)).collect();
    let (sources, destinations) = if judge_by_class {
        let mut all: Vec<&PolicySet> = vec![&reference];
        all.extend(sets.iter().map(|(_, set)| set));
        (
            classes(&all, topology, &endpoints, End::Source),
            classes(&all, topology, &endpoints, End::Destination),
        )
    } else {
        (Classes::singletons(endpoints.len()), Classes::singletons(endpoints.len()))
    };
    // How many endpoints are in both a source class and a destination class: their flows to
    // themselves are not flows.
    let mut shared: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (s, d) in sources.of.iter().zip(&destinations.of) {
        *shared.entry((*s, *d)).or_default() += 1;
    }

    // Per range of source classes: the flows judged and, per engine, the differences with
    // their position in flow order.
    type Found = Vec<Vec<((usize, usize, Protocol, u16), Difference)>>;
    // One flow between endpoints `i` and `j`, judged again with both explanations: the
    // difference, keyed by its place in flow order, if engine `k` really differs there.
    let explain =
        |k: usize, engine: Engine, set: &PolicySet, i: usize, j: usize, protocol: Protocol, port: u16| {
            let (source, destination) = (endpoints.get(i)?, endpoints.get(j)?);
            let flow = Flow { source: *source, destination: *destination, protocol, port };
            let expected = reference.evaluate(topology, &flow);
            let got = set.evaluate(topology, &flow);
            if got.allowed == expected.allowed {
                return None;
            }
            let on_cni = references_on_cni.get(k).unwrap_or(&reference);
            let limitation = explain_difference(engine, intent, &intent_layer, on_cni, derived, &flow, &got);
            let difference = Difference {
                from: derived.endpoints.get(i)?.clone(),
                to: derived.endpoints.get(j)?.clone(),
                port,
                protocol: protocol.as_str().to_string(),
                intent: expected.allowed,
                engine: got.allowed,
                limitation,
                intent_rule: deciding(&expected),
                engine_rule: deciding(&got),
            };
            Some(((i, j, protocol, port), difference))
        };
    let judge_classes = |classes_range: std::ops::Range<usize>| -> (usize, Found) {
        let mut flows = 0;
        let mut differences: Found = vec![Vec::new(); sets.len()];
        for source_class in classes_range {
            let Some(from_members) = sources.members.get(source_class) else { continue };
            for (destination_class, to_members) in destinations.members.iter().enumerate() {
                // One flow stands for the class pair: any two distinct members.
                let Some((i, j)) = representatives(from_members, to_members) else { continue };
                let (Some(source), Some(destination)) = (endpoints.get(i), endpoints.get(j)) else {
                    continue;
                };
                let is_pod = |e: &Endpoint<'_>| matches!(e, Endpoint::Pod(_));
                if !(is_pod(source) || is_pod(destination)) {
                    continue;
                }
                let pairs = from_members.len() * to_members.len()
                    - shared.get(&(source_class, destination_class)).copied().unwrap_or(0);
                let probed = ports.get(j).map(Vec::as_slice).unwrap_or_default();
                flows += pairs * probed.len();
                for &(protocol, port) in probed {
                    let flow = Flow { source: *source, destination: *destination, protocol, port };
                    let expected = reference.allowed(topology, &flow);
                    for (k, (engine, set)) in sets.iter().enumerate() {
                        if set.allowed(topology, &flow) == expected {
                            continue;
                        }
                        // The class pair differs: explain every flow it stands for.
                        let members = from_members
                            .iter()
                            .flat_map(|&i| to_members.iter().map(move |&j| (i, j)))
                            .filter(|(i, j)| i != j);
                        let explained =
                            members.filter_map(|(i, j)| explain(k, *engine, set, i, j, protocol, port));
                        if let Some(list) = differences.get_mut(k) {
                            list.extend(explained);
                        }
                    }
                }
            }
        }
        (flows, differences)
    };
    let parts = crate::parallel::in_halves(sources.members.len(), 64, judge_classes);
    let flows: usize = parts.iter().map(|(n, _)| n).sum();
    let mut found: Found = vec![Vec::new(); sets.len()];
    for (_, differences) in parts {
        for (all, list) in found.iter_mut().zip(differences) {
            all.extend(list);
        }
    }
    let reports = sets
        .iter()
        .zip(found)
        .map(|((engine, _), mut list)| {
            list.sort_by_key(|(at, _)| *at);
            EngineCheck {
                engine: engine.to_string(),
                not_rendered: None,
                flows,
                differences: list.into_iter().map(|(_, d)| d).collect(),
            }
        })
        .collect();
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
