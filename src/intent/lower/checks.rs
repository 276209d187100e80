//! The final checks, once every policy exists: named ports resolve, unmanaged namespaces get nothing, names are unique.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Diagnostic;
use crate::intent::{Origin, Policy, PortSel, Protocol};

use super::*;

impl Cx<'_> {
    /// A named port takes the protocol of the port it names, so that every engine (including
    /// ClusterNetworkPolicy, whose named ports have no protocol) matches the same traffic. A
    /// name declared with two protocols is refused; a name close to a declared one but declared
    /// nowhere is a typo.
    pub(super) fn resolve_named_ports(
        &mut self,
        declared: &[crate::intent::DeclaredWorkload],
        policies: &mut [Policy],
    ) {
        let facts = crate::intent::ClusterFacts { workloads: declared.to_vec(), ..Default::default() };
        let mut names: Vec<&str> =
            declared.iter().flat_map(|w| w.ports.iter().map(|(n, _, _)| n.as_str())).collect();
        names.sort_unstable();
        names.dedup();
        // A connection renders on both sides: report each written port once.
        let mut reported: BTreeSet<(String, String)> = BTreeSet::new();
        for policy in policies.iter_mut() {
            for rule in policy.ingress.iter_mut().chain(policy.egress.iter_mut()).flatten() {
                let mut changed = false;
                for port in rule.ports.iter_mut() {
                    let PortSel::Named(name) = &port.port else { continue };
                    let found = facts.named_port(name);
                    let mut protocols: Vec<Protocol> = found.iter().map(|(p, _)| *p).collect();
                    protocols.dedup();
                    match protocols.as_slice() {
                        [only] => {
                            changed |= port.protocol != *only;
                            port.protocol = *only;
                        }
                        [] if !names.is_empty() => {
                            let hint = crate::values::de::suggest(name, &names);
                            if hint.starts_with("did you mean")
                                && reported.insert((rule.origin.path.clone(), name.clone()))
                            {
                                self.problems.push(
                                    Diagnostic::unknown_name(format!(
                                        "named port `{name}` in rule `{}` of `{}/{}` is declared by no workload",
                                        rule.name, policy.namespace, policy.name
                                    ))
                                    .at(&rule.origin)
                                    .with_help(hint),
                                );
                            }
                        }
                        [] => {}
                        _ if !reported.insert((rule.origin.path.clone(), name.clone())) => {}
                        several => {
                            let spelled: Vec<String> =
                                found.iter().map(|(p, n)| format!("{n}/{}", p.as_str())).collect();
                            let _ = several;
                            self.problems.push(
                                Diagnostic::conflict(format!(
                                    "named port `{name}` in rule `{}` of `{}/{}` names ports of different protocols ({}): engines would match different traffic",
                                    rule.name,
                                    policy.namespace,
                                    policy.name,
                                    spelled.join(", ")
                                ))
                                .at(&rule.origin)
                                .with_help("give the ports different names, or write the port number and protocol"),
                            );
                        }
                    }
                }
                if changed {
                    rule.ports.sort();
                    rule.ports.dedup();
                }
            }
        }
    }

    /// Namespaces left alone: no policy may land in them.
    pub(super) fn unmanaged(&mut self, policies: &mut Vec<Policy>) -> Vec<String> {
        let values = &self.loaded.values;
        let mut names: BTreeSet<String> = values.unmanaged_namespaces.iter().map(|n| n.0.clone()).collect();
        names.extend(values.namespaces.iter().filter(|(_, v)| v.unmanaged).map(|(k, _)| k.clone()));
        for p in policies.iter() {
            if names.contains(&p.namespace) {
                self.problems.push(
                    Diagnostic::conflict(format!(
                        "policy `{}` would land in namespace `{}`, which is declared unmanaged",
                        p.name, p.namespace
                    ))
                    .at(&p.origin),
                );
            }
        }
        policies.retain(|p| !names.contains(&p.namespace));
        names.into_iter().collect()
    }

    pub(super) fn check_unique_names(&mut self, policies: &[Policy]) {
        let mut seen: BTreeMap<(&str, &str), &Origin> = BTreeMap::new();
        for p in policies {
            if let Some(first) = seen.insert((&p.namespace, &p.name), &p.origin) {
                self.problems.push(
                    Diagnostic::conflict(format!(
                        "two policies are named `{}` in namespace `{}`",
                        p.name, p.namespace
                    ))
                    .at(&p.origin)
                    .with_help(format!("the other one comes from {first}")),
                );
            }
        }
    }
}
