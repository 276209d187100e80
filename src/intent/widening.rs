//! Namespace-wide allows (`allow.fromMonitoring`, `fromNamespaces`, `sameNamespace`, the
//! namespace's own `ingress`, profiles) select every pod of the namespace, and network policies
//! only ever add: so they also open a workload's port that the workload's own `ports.<name>.from`
//! narrows. That is the engines' semantics and netpol keeps it, but a reader of the workload
//! sees only its `from` list, so render says when a namespace allow reaches past it.

use crate::error::Diagnostic;
use crate::intent::{Peer, Policy, PolicyRole, PortMatch, PortSel, Rule};

/// One warning per (namespace allow, workload) pair where the allow opens one of the
/// workload's narrowed ports to peers its own rules on that port do not list.
pub fn namespace_allows_widening(policies: &[Policy]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let namespace_allows = policies.iter().filter(|p| {
        p.role == PolicyRole::Allow
            && p.subject.is_empty()
            && p.ingress.as_ref().is_some_and(|r| !r.is_empty())
    });
    for allow in namespace_allows {
        let workloads = policies.iter().filter(|w| {
            w.namespace == allow.namespace
                && w.role == PolicyRole::Allow
                && is_workload(w)
                && !w.subject.is_empty()
        });
        for workload in workloads {
            if let Some(d) = widening(allow, workload) {
                out.push(d);
            }
        }
    }
    out.sort_by(|a, b| {
        let at = |d: &Diagnostic| d.origin.as_ref().map(|o| (o.file.clone(), o.line, o.column));
        at(a).cmp(&at(b))
    });
    out
}

/// Workload policies are the ones written under a `workloads.<name>` key.
fn is_workload(policy: &Policy) -> bool {
    let path = &policy.origin.path;
    path.starts_with("workloads.") || (path.starts_with("namespaces.") && path.contains(".workloads."))
}

fn widening(allow: &Policy, workload: &Policy) -> Option<Diagnostic> {
    let own_rules = workload.ingress.as_deref().unwrap_or_default();
    for namespace_rule in allow.ingress.iter().flatten() {
        for own in own_rules.iter().filter(|r| !r.peers.is_empty()) {
            let Some(port) = shared_port(&namespace_rule.ports, &own.ports) else { continue };
            // The workload's peers on that port: every rule of it that covers the port.
            let on_port: Vec<&Rule> =
                own_rules.iter().filter(|r| shared_port(&r.ports, &own.ports).is_some()).collect();
            if on_port.iter().any(|r| r.peers.is_empty()) {
                continue;
            }
            let listed = |peer: &Peer| on_port.iter().any(|r| r.peers.contains(peer));
            if !namespace_rule.peers.is_empty() && namespace_rule.peers.iter().all(listed) {
                continue;
            }
            let whom = if namespace_rule.peers.is_empty() { "everyone" } else { "peers it does not list" };
            return Some(
                Diagnostic::warning(format!(
                    "`{}` also opens port {} of workload `{}/{}` to {whom}: namespace-wide allows add to a workload's own `from` (rule `{}`), they do not narrow to it",
                    namespace_rule.origin.path,
                    describe(port),
                    workload.namespace,
                    workload.name,
                    own.name,
                ))
                .at(&namespace_rule.origin)
                .with_help("list the namespace allow's peers in the workload's `from` as well to make this explicit, or give the namespace allow `ports` that leave the workload's port out"),
            );
        }
    }
    None
}

/// A port both lists match (an empty list is every port), as one of `b`'s entries.
fn shared_port<'a>(a: &[PortMatch], b: &'a [PortMatch]) -> Option<&'a PortMatch> {
    if b.is_empty() {
        return None;
    }
    b.iter().find(|pb| a.is_empty() || a.iter().any(|pa| overlaps(pa, pb)))
}

fn overlaps(a: &PortMatch, b: &PortMatch) -> bool {
    if a.protocol != b.protocol {
        return false;
    }
    let span = |p: &PortSel| match p {
        PortSel::Any => Some((1, u16::MAX)),
        PortSel::Number(n) => Some((*n, *n)),
        PortSel::Range(s, e) => Some((*s, *e)),
        PortSel::Named(_) => None,
    };
    match (&a.port, &b.port) {
        (PortSel::Named(x), PortSel::Named(y)) => x == y,
        (PortSel::Any, _) | (_, PortSel::Any) => true,
        (x, y) => match (span(x), span(y)) {
            (Some((s1, e1)), Some((s2, e2))) => s1 <= e2 && s2 <= e1,
            _ => false,
        },
    }
}

fn describe(port: &PortMatch) -> String {
    let number = match &port.port {
        PortSel::Any => "every port".to_string(),
        PortSel::Number(n) => n.to_string(),
        PortSel::Range(s, e) => format!("{s}-{e}"),
        PortSel::Named(name) => format!("`{name}`"),
    };
    format!("{number}/{}", port.protocol.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::testing::{allowlist, own_pods, pods_in, rule, tcp};

    fn namespace_allow(rules: Vec<Rule>) -> Policy {
        let mut p = allowlist("shop", "allow-from-monitoring", Some(rules), None);
        p.subject = crate::intent::LabelSelector::default();
        p.origin.path = "namespaces.shop.allow.fromMonitoring".into();
        p
    }

    fn workload(rules: Vec<Rule>) -> Policy {
        let mut p = allowlist("shop", "db", Some(rules), None);
        p.origin.path = "namespaces.shop.workloads.db".into();
        p
    }

    #[test]
    fn a_namespace_allow_on_a_narrowed_port_warns_once() {
        let prom = pods_in("monitoring", &[("app", "prom")]);
        let api = own_pods(&[("app", "api")]);
        let db = workload(vec![rule("postgres", vec![api.clone()], vec![tcp(5432)])]);
        let every_port = namespace_allow(vec![rule("from-monitoring", vec![prom.clone()], vec![])]);
        let d = namespace_allows_widening(&[every_port.clone(), db.clone()]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].message.contains("opens port 5432/TCP of workload `shop/db` to peers it does not list"),
            "{d:?}"
        );
        // Another port, or peers the workload lists too: nothing to say.
        let other_port = namespace_allow(vec![rule("from-monitoring", vec![prom.clone()], vec![tcp(9090)])]);
        assert!(namespace_allows_widening(&[other_port, db.clone()]).is_empty());
        let listed = workload(vec![rule("postgres", vec![api, prom.clone()], vec![tcp(5432)])]);
        assert!(namespace_allows_widening(&[every_port.clone(), listed]).is_empty());
        // A workload port open to everyone is not narrowed.
        let open = workload(vec![rule("postgres", vec![], vec![tcp(5432)])]);
        assert!(namespace_allows_widening(&[every_port, open]).is_empty());
    }
}
