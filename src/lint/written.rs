//! Lint rules that read the values' rules as written (through the intent, which keeps where
//! each rule was written): peers nothing declares, rules another rule covers, ports nobody
//! declares, selectors joined by OR, dependencies on unmanaged namespaces.

use std::collections::{BTreeMap, BTreeSet};

use super::finding;
use crate::error::{Code, Diagnostic};
use crate::eval::Topology;
use crate::intent::lower::Lowered;
use crate::intent::{
    Intent, LabelSelector, Namespaces, Peer, Policy, PolicyRole, PortMatch, PortSel, Rule, RulePurpose,
};
use crate::values::Loaded;
use crate::vocab::peer::namespace_by_name;

/// Every written-rule finding of the values.
pub(super) fn lint(loaded: &Loaded, lowered: &Lowered, topology: Option<&Topology>) -> Vec<Diagnostic> {
    let intent = &lowered.intent;
    let mut out: Vec<Diagnostic> = crate::intent::advice::namespace_allows_widening(&intent.policies)
        .into_iter()
        .map(|d| super::as_finding(d, Code::NamespaceAllowWidens))
        .collect();
    let known = known_namespaces(loaded, intent);
    for policy in &intent.policies {
        for (direction, rules) in [("ingress", &policy.ingress), ("egress", &policy.egress)] {
            for rule in rules.iter().flatten() {
                out.extend(unknown_peers(policy, rule, &known, intent));
                out.extend(named_ports(policy, rule, direction == "egress", intent));
                out.extend(unmanaged_peers(rule, intent));
                out.extend(either_selector(rule));
                out.extend(undeclared_numbers(policy, rule, direction == "egress", intent));
            }
        }
    }
    out.extend(shadowed(&intent.policies));
    if let Some(topology) = topology {
        out.extend(selecting_nothing(intent, topology));
    }
    out
}

/// Namespaces the values know of: declared, holding a workload or a policy, left unmanaged,
/// named by the cluster facts or the guardrails, and those every cluster has.
fn known_namespaces(loaded: &Loaded, intent: &Intent) -> BTreeSet<String> {
    let values = &loaded.values;
    let cluster = &values.cluster;
    let mut known: BTreeSet<String> =
        crate::intent::advice::WELL_KNOWN_NAMESPACES.iter().map(|n| n.to_string()).collect();
    known.extend(values.namespaces.keys().cloned());
    known.extend(intent.cluster.workloads.iter().map(|w| w.namespace.clone()));
    known.extend(intent.policies.iter().map(|p| p.namespace.clone()));
    known.extend(intent.unmanaged_namespaces.iter().cloned());
    known.extend(values.guardrails.system_namespaces.iter().map(|n| n.0.clone()));
    known.insert(cluster.dns.namespace.0.clone());
    let facts = [&cluster.ingress_controller, &cluster.gateway, &cluster.monitoring];
    known.extend(facts.into_iter().flatten().map(|p| p.namespace.0.clone()));
    if cluster.monitoring.is_none() {
        known.insert(crate::values::types::PodsRef::monitoring().namespace.0);
    }
    if cluster.ingress_controller.is_none() {
        known.insert("ingress-nginx".to_string());
    }
    known
}

/// The namespace a pod peer of `policy` lives in, when it names exactly one.
fn peer_namespace<'a>(policy: &'a Policy, namespaces: &'a Namespaces) -> Option<&'a str> {
    match namespaces {
        Namespaces::Own => Some(policy.namespace.as_str()),
        Namespaces::Matching(selector) => namespace_by_name(selector),
    }
}

/// NP208 from the values alone: a namespace nothing declares, or pod labels no declared
/// workload of that namespace carries.
fn unknown_peers(policy: &Policy, rule: &Rule, known: &BTreeSet<String>, intent: &Intent) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for peer in &rule.peers {
        let Peer::Pods { namespaces, pods } = peer else { continue };
        let Some(namespace) = peer_namespace(policy, namespaces) else { continue };
        if !known.contains(namespace) {
            out.push(
                finding(
                    Code::PeerSelectsNothing,
                    format!("rule `{}` names namespace `{namespace}`, which the values declare nowhere", rule.name),
                )
                .at(&rule.origin)
                .with_help(format!(
                    "declare it under `namespaces.{namespace}` (or list it in `unmanagedNamespaces`), or correct the name"
                )),
            );
            continue;
        }
        let declared: Vec<_> = intent.cluster.workloads.iter().filter(|w| w.namespace == namespace).collect();
        // Only where the values describe the namespace's pods, and only by labels.
        let described =
            !declared.is_empty() && declared.iter().all(|w| w.subject.match_expressions.is_empty());
        if pods.is_empty() || !described || intent.unmanaged_namespaces.iter().any(|n| n == namespace) {
            continue;
        }
        let carried = declared.iter().any(|w| carries(w, pods));
        if !carried {
            let names: Vec<String> = declared.iter().map(|w| w.name.clone()).collect();
            out.push(
                finding(
                    Code::PeerSelectsNothing,
                    format!(
                        "rule `{}` selects pods {pods} in namespace `{namespace}`, which no workload the values declare there carries",
                        rule.name
                    ),
                )
                .at(&rule.origin)
                .with_help(format!("workloads of `{namespace}`: {}", super::some_of(&names))),
            );
        }
    }
    out
}

/// Whether the labels a workload's pods carry (its `matchLabels`) satisfy `pods`.
fn carries(workload: &crate::intent::DeclaredWorkload, pods: &LabelSelector) -> bool {
    pods.matches_with(|key| workload.subject.match_labels.get(key).map(String::as_str))
}

/// NP210 (a name no workload declares) and NP215 (egress to a named port).
fn named_ports(policy: &Policy, rule: &Rule, egress: bool, intent: &Intent) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for port in &rule.ports {
        let PortSel::Named(name) = &port.port else { continue };
        if intent.cluster.named_port(name).is_empty() {
            out.push(
                finding(
                    Code::UndeclaredNamedPort,
                    format!(
                        "rule `{}` of `{}/{}` names port `{name}`, which no workload of the values declares",
                        rule.name, policy.namespace, policy.name
                    ),
                )
                .at(&rule.origin)
                .with_help("declare it under the workload's `ports`, or give the port number"),
            );
        }
        if egress {
            out.push(
                finding(
                    Code::EgressToNamedPort,
                    format!(
                        "egress rule `{}` of `{}/{}` allows port `{name}` by name: each destination pod resolves it to its own number",
                        rule.name, policy.namespace, policy.name
                    ),
                )
                .at(&rule.origin)
                .with_help("give the port number if the destinations name their ports differently"),
            );
        }
    }
    out
}

/// NP211: a rule reaching a namespace netpol leaves alone (cluster DNS excepted: every
/// cluster serves it).
fn unmanaged_peers(rule: &Rule, intent: &Intent) -> Vec<Diagnostic> {
    if rule.purpose == RulePurpose::Dns {
        return Vec::new();
    }
    let mut out = Vec::new();
    for peer in &rule.peers {
        let Peer::Pods { namespaces: Namespaces::Matching(selector), .. } = peer else { continue };
        let Some(namespace) = namespace_by_name(selector) else { continue };
        if intent.unmanaged_namespaces.iter().any(|n| n == namespace) {
            out.push(
                finding(
                    Code::UnmanagedDependency,
                    format!(
                        "rule `{}` depends on namespace `{namespace}`, which netpol does not manage: its own policies must let this traffic through",
                        rule.name
                    ),
                )
                .at(&rule.origin)
                .with_help(format!("check the policies of `{namespace}` admit it")),
            );
        }
    }
    out
}

/// NP213: `[{namespaceSelector: …}, {podSelector: …}]` in one rule.
fn either_selector(rule: &Rule) -> Option<Diagnostic> {
    let namespaces_only = rule.peers.iter().find_map(|p| match p {
        // Every pod of namespaces picked by labels; one namespace by name (`namespace: x`)
        // is plainly meant whole.
        Peer::Pods { namespaces: Namespaces::Matching(selector), pods }
            if pods.is_empty() && namespace_by_name(selector).is_none() =>
        {
            Some(selector)
        }
        _ => None,
    })?;
    let pods_only = rule.peers.iter().find_map(|p| match p {
        Peer::Pods { namespaces: Namespaces::Own, pods } if !pods.is_empty() => Some(pods),
        _ => None,
    })?;
    Some(
        finding(
            Code::OrInsteadOfAnd,
            format!(
                "rule `{}` lists every pod of namespaces {namespaces_only} and, separately, pods {pods_only} of its own namespace: either matches",
                rule.name
            ),
        )
        .at(&rule.origin)
        .with_help("to admit only those pods of those namespaces, write one peer with both `namespaceSelector` and `podSelector`"),
    )
}

/// NP216: a port number the selected workloads do not declare.
fn undeclared_numbers(policy: &Policy, rule: &Rule, egress: bool, intent: &Intent) -> Vec<Diagnostic> {
    let numbers: Vec<&PortMatch> =
        rule.ports.iter().filter(|p| matches!(p.port, PortSel::Number(_) | PortSel::Range(..))).collect();
    if numbers.is_empty() || policy.role != PolicyRole::Allow || rule.purpose == RulePurpose::Dns {
        return Vec::new();
    }
    // The workloads on the far end of the rule (egress) or its subject (ingress), where the
    // values declare their ports.
    let workloads: Vec<&crate::intent::DeclaredWorkload> = intent
        .cluster
        .workloads
        .iter()
        .filter(|w| !w.ports.is_empty())
        .filter(|w| {
            if egress {
                rule.peers.iter().any(|peer| match peer {
                    Peer::Pods { namespaces, pods } => {
                        peer_namespace(policy, namespaces) == Some(w.namespace.as_str())
                            && !pods.is_empty()
                            && w.subject.match_expressions.is_empty()
                            && carries(w, pods)
                    }
                    _ => false,
                })
            } else {
                w.namespace == policy.namespace && w.subject == policy.subject
            }
        })
        .collect();
    if workloads.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for port in numbers {
        let (low, high) = match port.port {
            PortSel::Number(n) => (n, n),
            PortSel::Range(a, b) => (a, b),
            _ => continue,
        };
        let declared = workloads.iter().any(|w| {
            w.ports
                .iter()
                .any(|(_, number, protocol)| *protocol == port.protocol && (low..=high).contains(number))
        });
        if !declared {
            let names: Vec<String> =
                workloads.iter().map(|w| format!("{}/{}", w.namespace, w.name)).collect();
            let ports: BTreeSet<String> = workloads
                .iter()
                .flat_map(|w| w.ports.iter().map(|(_, n, p)| format!("{n}/{}", p.as_str())))
                .collect();
            out.push(
                finding(
                    Code::PortNotDeclared,
                    format!(
                        "rule `{}` allows {port}, which {} {} not declare",
                        rule.name,
                        super::some_of(&names),
                        if names.len() == 1 { "does" } else { "do" }
                    ),
                )
                .at(&rule.origin)
                .with_help(format!(
                    "policies match the pod's port (a Service's targetPort), not the Service port; declared: {}",
                    ports.into_iter().collect::<Vec<_>>().join(", ")
                )),
            );
        }
    }
    out
}

/// NP209: a rule that another rule of the same pods and direction covers entirely.
fn shadowed(policies: &[Policy]) -> Vec<Diagnostic> {
    let mut groups: BTreeMap<(&str, &LabelSelector), Vec<&Policy>> = BTreeMap::new();
    for p in policies.iter().filter(|p| p.role == PolicyRole::Allow) {
        groups.entry((p.namespace.as_str(), &p.subject)).or_default().push(p);
    }
    let mut out = Vec::new();
    for group in groups.values() {
        for direction in ["ingress", "egress"] {
            let rules: Vec<&Rule> = group
                .iter()
                .flat_map(|p| if direction == "ingress" { &p.ingress } else { &p.egress })
                .flatten()
                .collect();
            for (i, rule) in rules.iter().enumerate() {
                let by = rules.iter().enumerate().find(|(j, other)| {
                    *j != i
                        && other.origin.path != rule.origin.path
                        && covers(other, rule)
                        // Of two equal rules, the later one is the repeat.
                        && (!covers(rule, other) || *j < i)
                });
                if let Some((_, other)) = by {
                    let how = if covers(rule, other) { "repeats" } else { "is covered by" };
                    out.push(
                        finding(
                            Code::ShadowedRule,
                            format!(
                                "{direction} rule `{}` {how} rule `{}`: it allows nothing more",
                                rule.name, other.name
                            ),
                        )
                        .at(&rule.origin)
                        .also_at(&other.origin)
                        .with_help("remove one of them, or narrow the wider one"),
                    );
                }
            }
        }
    }
    out
}

/// Whether every flow `narrow` allows, `wide` allows too.
fn covers(wide: &Rule, narrow: &Rule) -> bool {
    let peers = wide.peers.is_empty()
        || (!narrow.peers.is_empty()
            && narrow.peers.iter().all(|n| wide.peers.iter().any(|w| peer_covers(w, n))));
    let ports = wide.ports.is_empty()
        || (!narrow.ports.is_empty()
            && narrow.ports.iter().all(|n| wide.ports.iter().any(|w| port_covers(w, n))));
    peers && ports
}

fn peer_covers(wide: &Peer, narrow: &Peer) -> bool {
    match (wide, narrow) {
        _ if wide == narrow => true,
        (Peer::Cidr { cidr: w, except }, Peer::Cidr { cidr: n, .. }) => except.is_empty() && w.contains(n),
        (Peer::Pods { namespaces: wn, pods: wp }, Peer::Pods { namespaces: nn, .. }) => {
            wn == nn && wp.is_empty()
        }
        _ => false,
    }
}

fn port_covers(wide: &PortMatch, narrow: &PortMatch) -> bool {
    if wide == narrow {
        return true;
    }
    if wide.protocol != narrow.protocol {
        return false;
    }
    let (low, high) = match narrow.port {
        PortSel::Number(n) => (n, n),
        PortSel::Range(a, b) => (a, b),
        _ => return matches!(wide.port, PortSel::Any),
    };
    match wide.port {
        PortSel::Any => true,
        PortSel::Number(n) => low == n && high == n,
        PortSel::Range(a, b) => a <= low && high <= b,
        PortSel::Named(_) => false,
    }
}

/// NP208 with a topology: policy subjects and pod peers that select no pod of it.
fn selecting_nothing(intent: &Intent, topology: &Topology) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let in_namespaces = |own: &str, namespaces: &Namespaces, pods: &LabelSelector| {
        topology.pods.iter().any(|pod| {
            let namespace_matches = match namespaces {
                Namespaces::Own => pod.namespace == own,
                Namespaces::Matching(selector) => {
                    selector.matches(&topology.namespace_labels(&pod.namespace))
                }
            };
            namespace_matches && pods.matches(&pod.labels)
        })
    };
    for policy in &intent.policies {
        if !in_namespaces(&policy.namespace, &Namespaces::Own, &policy.subject) {
            out.push(
                super::selects_no_pod(format!(
                    "policy `{}/{}` selects no pod of the topology ({})",
                    policy.namespace, policy.name, policy.subject
                ))
                .at(&policy.origin),
            );
        }
        for rule in policy.ingress.iter().chain(policy.egress.iter()).flatten() {
            for peer in &rule.peers {
                let Peer::Pods { namespaces, pods } = peer else { continue };
                if !in_namespaces(&policy.namespace, namespaces, pods) {
                    out.push(
                        super::selects_no_pod(format!(
                            "rule `{}` of `{}/{}`: {peer} selects no pod of the topology",
                            rule.name, policy.namespace, policy.name
                        ))
                        .at(&rule.origin),
                    );
                }
            }
        }
    }
    out
}
