//! Namespace-wide allows (`allow.fromMonitoring`, `fromNamespaces`, `sameNamespace`, the
//! namespace's own `ingress`, profiles) select every pod of the namespace, and network policies
//! only ever add: so they also open a workload's port that the workload's own `ports.<name>.from`
//! narrows. That is the engines' semantics and netpol keeps it, but a reader of the workload
//! sees only its `from` list, so render says when a namespace allow reaches past it.

//!
//! The other advisories here are of the same kind, things the values most likely did not mean:
//! a peer namespace that is a misspelling of a known one, and an ingress allow from pods whose
//! own namespace denies them the egress (a half connection).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Diagnostic;
use crate::intent::{
    NAMESPACE_NAME_LABEL, Namespaces, Origin, Peer, Policy, PolicyRole, PortMatch, PortSel, Rule,
};
use crate::vocab::peer::namespace_by_name;

/// Namespaces every cluster has.
pub(crate) const WELL_KNOWN_NAMESPACES: [&str; 4] =
    ["default", "kube-node-lease", "kube-public", "kube-system"];

/// Whether `got` is a transposition, a dropped or an extra character away from `known`: the
/// slips of a typist. Names that differ in one substituted character (`team-a`, `team-b`) are
/// usually different namespaces and are left alone.
fn is_slip(got: &str, known: &str) -> bool {
    if got == known {
        return false;
    }
    let mut a: Vec<char> = got.chars().collect();
    let mut b: Vec<char> = known.chars().collect();
    if a.len() == b.len() {
        let differing: Vec<usize> = (0..a.len()).filter(|&i| a.get(i) != b.get(i)).collect();
        return matches!(differing.as_slice(), [i, j] if *j == i + 1 && a.get(*i) == b.get(*j) && a.get(*j) == b.get(*i));
    }
    if a.len() < b.len() {
        std::mem::swap(&mut a, &mut b);
    }
    // `a` is one longer: removing one character of it gives `b`.
    a.len() == b.len() + 1
        && (0..a.len())
            .any(|skip| a.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, c)| c).eq(b.iter()))
}

/// One warning per (place, name) where a peer or connection names a namespace nothing
/// declares and that is a slip of one that is (`ingress-ngnix` for `ingress-nginx`).
pub(crate) fn misspelt_namespaces(
    policies: &[Policy],
    connection_ends: &[(String, Origin)],
    known: &BTreeSet<String>,
) -> Vec<Diagnostic> {
    let mut uses: Vec<(&str, &Origin)> = Vec::new();
    for policy in policies {
        // A connection's peers are its ends, which are checked where they are written.
        let rules = policy.ingress.iter().chain(policy.egress.iter()).flatten();
        for rule in rules.filter(|r| !r.origin.path.starts_with("connections")) {
            for peer in &rule.peers {
                if let Peer::Pods { namespaces: Namespaces::Matching(selector), .. } = peer
                    && let Some(name) = namespace_by_name(selector)
                {
                    uses.push((name, &rule.origin));
                }
            }
        }
    }
    uses.extend(connection_ends.iter().map(|(name, origin)| (name.as_str(), origin)));
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut out = Vec::new();
    for (name, origin) in uses {
        if known.contains(name) || !seen.insert((name, origin.path.as_str())) {
            continue;
        }
        if let Some(near) = known.iter().find(|k| is_slip(name, k)) {
            out.push(
                Diagnostic::suspicious(format!(
                    "namespace `{name}` is declared nowhere in the values and is not a cluster namespace netpol knows"
                ))
                .at(origin)
                .with_help(format!("did you mean `{near}`?")),
            );
        }
    }
    sort_by_location(&mut out);
    out
}

/// One warning per (workload rule, source namespace) where a workload admits pods of another
/// managed namespace whose egress is denied by default and where no egress allow of that
/// namespace reaches the workload's namespace: the ingress allow alone lets nothing through.
pub(crate) fn half_connections(
    policies: &[Policy],
    namespace_labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<Diagnostic> {
    let egress_denied: BTreeSet<&str> = policies
        .iter()
        .filter(|p| {
            matches!(p.role, PolicyRole::DefaultDeny(_)) && p.egress.is_some() && p.subject.is_empty()
        })
        .map(|p| p.namespace.as_str())
        .collect();
    let labels_of = |ns: &str| {
        let mut labels = namespace_labels.get(ns).cloned().unwrap_or_default();
        labels.insert(NAMESPACE_NAME_LABEL.to_string(), ns.to_string());
        labels
    };
    // Whether some egress allow of namespace `source` may reach namespace `destination`.
    let lets_out = |source: &str, destination: &str| {
        let destination_labels = labels_of(destination);
        policies.iter().filter(|p| p.namespace == source && p.role == PolicyRole::Allow).any(|p| {
            p.egress.iter().flatten().any(|rule| {
                rule.peers.is_empty()
                    || rule.peers.iter().any(|peer| match peer {
                        Peer::Pods { namespaces: Namespaces::Matching(selector), .. } => {
                            selector.matches_with(|k| destination_labels.get(k).map(String::as_str))
                        }
                        Peer::Pods { namespaces: Namespaces::Own, .. } => source == destination,
                        Peer::Cidr { .. } | Peer::Entity(_) => true,
                        _ => false,
                    })
            })
        })
    };
    let mut out = Vec::new();
    for workload in policies.iter().filter(|p| p.role == PolicyRole::Allow && is_workload(p)) {
        for rule in workload.ingress.iter().flatten() {
            let mut reported: BTreeSet<&str> = BTreeSet::new();
            for peer in &rule.peers {
                let Peer::Pods { namespaces: Namespaces::Matching(selector), .. } = peer else { continue };
                let Some(source) = namespace_by_name(selector) else { continue };
                if source == workload.namespace
                    || !egress_denied.contains(source)
                    || lets_out(source, &workload.namespace)
                    || !reported.insert(source)
                {
                    continue;
                }
                out.push(
                    Diagnostic::suspicious(format!(
                        "half connection: rule `{}` of workload `{}/{}` admits pods of namespace `{source}`, whose egress is denied by default with nothing letting it out to `{}`: the source side denies it",
                        rule.name, workload.namespace, workload.name, workload.namespace
                    ))
                    .at(&rule.origin)
                    .with_help("declare it under `connections` (netpol then renders both sides), or add the egress allow to the source namespace"),
                );
            }
        }
    }
    sort_by_location(&mut out);
    out
}

fn sort_by_location(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        let at = |d: &Diagnostic| d.origin.as_ref().map(|o| (o.file.clone(), o.line, o.column));
        at(a).cmp(&at(b))
    });
}

/// One warning per (namespace allow, workload) pair where the allow opens one of the
/// workload's narrowed ports to peers its own rules on that port do not list.
pub(crate) fn namespace_allows_widening(policies: &[Policy]) -> Vec<Diagnostic> {
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
    sort_by_location(&mut out);
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
                Diagnostic::suspicious(format!(
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
    use crate::intent::testing::{allowlist, default_deny, own_pods, pods_in, rule, tcp};

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

    #[test]
    fn slips_are_transpositions_and_single_insertions_or_deletions() {
        assert!(is_slip("ingress-ngnix", "ingress-nginx"));
        assert!(is_slip("monitring", "monitoring"));
        assert!(is_slip("monitorings", "monitoring"));
        assert!(!is_slip("team-a", "team-b"), "a substitution names another namespace");
        assert!(!is_slip("shop", "shop"));
        assert!(!is_slip("web", "payments"));
    }

    #[test]
    fn a_misspelt_peer_namespace_warns_with_the_known_name() {
        let known: BTreeSet<String> = ["ingress-nginx", "shop"].map(String::from).into();
        let web = allowlist(
            "shop",
            "web",
            Some(vec![rule("http", vec![pods_in("ingress-ngnix", &[])], vec![tcp(80)])]),
            None,
        );
        let d = misspelt_namespaces(std::slice::from_ref(&web), &[], &known);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].help.as_deref(), Some("did you mean `ingress-nginx`?"));
        let unknown_but_not_close = allowlist(
            "shop",
            "web",
            Some(vec![rule("http", vec![pods_in("flux-system", &[])], vec![])]),
            None,
        );
        assert!(misspelt_namespaces(&[unknown_but_not_close], &[], &known).is_empty());
    }

    #[test]
    fn an_ingress_allow_from_a_namespace_that_denies_the_egress_is_half_a_connection() {
        let mut api = allowlist(
            "shop",
            "api",
            Some(vec![rule("http", vec![pods_in("web", &[])], vec![tcp(8080)])]),
            None,
        );
        api.origin.path = "namespaces.shop.workloads.api".into();
        let web_lockdown = default_deny("web", 2000, true);
        let d = half_connections(&[api.clone(), web_lockdown.clone()], &BTreeMap::new());
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.starts_with("half connection: rule `http` of workload `shop/api`"), "{d:?}");
        // An egress allow of `web` towards `shop` completes it.
        let web_out = allowlist(
            "web",
            "frontend",
            None,
            Some(vec![rule("to-shop", vec![pods_in("shop", &[])], vec![])]),
        );
        assert!(half_connections(&[api.clone(), web_lockdown, web_out], &BTreeMap::new()).is_empty());
        // Without an egress default-deny in `web` there is nothing to complete.
        assert!(half_connections(&[api], &BTreeMap::new()).is_empty());
    }
}
