//! Lint rules that read policy objects as written: peers that say OR where AND was meant,
//! egress to named ports, and (with a topology) selectors that select no pod.

use serde_json::Value;

use super::finding;
use crate::error::{Code, Diagnostic};
use crate::eval::Topology;
use crate::intent::LabelSelector;

pub(super) fn lint(objects: &[Value], topology: Option<&Topology>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for o in objects {
        let label = crate::eval::object_label(o);
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
        let group = o.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let Some(spec) = o.get("spec") else { continue };
        match (group.split('/').next().unwrap_or_default(), kind) {
            ("networking.k8s.io", "NetworkPolicy") => {
                out.extend(kubernetes_either_selector(spec, &label));
                out.extend(kubernetes_named_egress(spec, &label));
                if let Some(topology) = topology {
                    let namespace =
                        o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
                    out.extend(kubernetes_selecting_nothing(spec, &label, namespace, topology));
                }
            }
            ("cilium.io", _) => out.extend(cilium_named_egress(spec, &label)),
            ("projectcalico.org" | "crd.projectcalico.org", "NetworkPolicy" | "GlobalNetworkPolicy") => {
                out.extend(calico_named_egress(spec, &label))
            }
            _ => {}
        }
    }
    out
}

/// The items of a list field; none when it is absent or not a list.
pub(super) fn items(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn kubernetes_either_selector(spec: &Value, label: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (direction, peers_key) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in items(spec.get(direction)).iter().enumerate() {
            let peers = items(rule.get(peers_key));
            // A namespace picked by name alone is plainly meant whole.
            let by_name_only = |p: &Value| {
                selector(p.get("namespaceSelector"))
                    .is_some_and(|s| crate::vocab::peer::namespace_by_name(&s).is_some())
            };
            let namespaces_only = peers.iter().any(|p| {
                p.get("namespaceSelector").is_some() && p.get("podSelector").is_none() && !by_name_only(p)
            });
            let pods_only = peers.iter().any(|p| {
                p.get("podSelector").is_some()
                    && p.get("namespaceSelector").is_none()
                    && p.get("ipBlock").is_none()
            });
            if namespaces_only && pods_only {
                out.push(
                    finding(
                        Code::OrInsteadOfAnd,
                        format!(
                            "{label}: {direction}[{i}] lists a namespaceSelector and a podSelector as two peers: either matches"
                        ),
                    )
                    .in_manifest(label, format!("spec.{direction}[{i}].{peers_key}"))
                    .with_help("to admit only those pods of those namespaces, put both selectors in one peer (no `-` before `podSelector`)"),
                );
            }
        }
    }
    out
}

fn named(port: Option<&Value>) -> Option<&str> {
    port.and_then(Value::as_str).filter(|s| s.parse::<u32>().is_err() && !s.contains(':') && !s.contains('-'))
}

fn named_egress(label: &str, field: String, name: &str) -> Diagnostic {
    finding(
        Code::EgressToNamedPort,
        format!(
            "{label}: egress to port `{name}` by name: each destination pod resolves it to its own number"
        ),
    )
    .in_manifest(label, field)
    .with_help("give the port number if the destinations name their ports differently")
}

fn kubernetes_named_egress(spec: &Value, label: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, rule) in items(spec.get("egress")).iter().enumerate() {
        for (j, port) in items(rule.get("ports")).iter().enumerate() {
            if let Some(name) = named(port.get("port")) {
                out.push(named_egress(label, format!("spec.egress[{i}].ports[{j}].port"), name));
            }
        }
    }
    out
}

fn cilium_named_egress(spec: &Value, label: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, rule) in items(spec.get("egress")).iter().enumerate() {
        for (k, to_ports) in items(rule.get("toPorts")).iter().enumerate() {
            for (j, port) in items(to_ports.get("ports")).iter().enumerate() {
                if let Some(name) = named(port.get("port")) {
                    out.push(named_egress(
                        label,
                        format!("spec.egress[{i}].toPorts[{k}].ports[{j}].port"),
                        name,
                    ));
                }
            }
        }
    }
    out
}

fn calico_named_egress(spec: &Value, label: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, rule) in items(spec.get("egress")).iter().enumerate() {
        for (j, port) in items(rule.pointer("/destination/ports")).iter().enumerate() {
            if let Some(name) = named(Some(port)) {
                out.push(named_egress(label, format!("spec.egress[{i}].destination.ports[{j}]"), name));
            }
        }
    }
    out
}

/// A label selector as a manifest holds it; `None` when absent or malformed (the evaluator
/// reports malformed ones).
pub(super) fn selector(value: Option<&Value>) -> Option<LabelSelector> {
    value.and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// NP208 with a topology, for Kubernetes NetworkPolicies: the subject and each pod peer.
fn kubernetes_selecting_nothing(
    spec: &Value,
    label: &str,
    namespace: &str,
    topology: &Topology,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let warning = |message: String, field: String| super::selects_no_pod(message).in_manifest(label, field);
    if let Some(subject) = selector(spec.get("podSelector"))
        && !topology.pods.iter().any(|p| p.namespace == namespace && subject.matches(&p.labels))
    {
        out.push(warning(
            format!("{label}: podSelector selects no pod of the topology"),
            "spec.podSelector".into(),
        ));
    }
    for (direction, peers_key) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in items(spec.get(direction)).iter().enumerate() {
            for (j, peer) in items(rule.get(peers_key)).iter().enumerate() {
                if peer.get("ipBlock").is_some() {
                    continue;
                }
                let namespaces = selector(peer.get("namespaceSelector"));
                let pods = selector(peer.get("podSelector")).unwrap_or_default();
                let any = topology.pods.iter().any(|p| {
                    let in_namespace = match &namespaces {
                        None => p.namespace == namespace,
                        Some(s) => s.matches(&topology.namespace_labels(&p.namespace)),
                    };
                    in_namespace && pods.matches(&p.labels)
                });
                if !any {
                    out.push(warning(
                        format!("{label}: {direction}[{i}].{peers_key}[{j}] selects no pod of the topology"),
                        format!("spec.{direction}[{i}].{peers_key}[{j}]"),
                    ));
                }
            }
        }
    }
    out
}
