//! Guardrail exceptions: pods and ports a guardrail must leave alone (cluster DNS, an admission
//! webhook), carved out of the guardrail's deny rules in the intent itself.
//!
//! Every engine then renders the same, narrower denies, and no engine needs a way to "un-deny":
//! Cilium, whose deny beats every allow, has none, and ordered engines (Calico's tier, the
//! Admin tier of ClusterNetworkPolicy) get denies that simply do not cover the exception. What a
//! guardrail denies is a set of (pod, port) pairs; removing the exception E = (pods P, ports S)
//! from a deny of (pods X, ports Q) leaves
//!
//! - X ∖ P on Q: one copy of X per requirement r of P, with the negation of r added
//!   (¬(r₁ ∧ … ∧ rₙ) = ¬r₁ ∨ … ∨ ¬rₙ), and
//! - X ∩ P on Q ∖ S.
//!
//! The same split applies to the pods a guardrail selects (its ingress side), giving one
//! guardrail object per piece.

use super::{
    Guardrail, LabelExpression, LabelOperator, LabelSelector, NAMESPACE_NAME_LABEL, Namespaces, Origin, Peer,
    PortMatch, PortSel, Protocol, Rule,
};
use crate::sorted::SortedMap;

/// Pods in some namespaces, on some ports, that guardrails do not deny.
#[derive(Clone, Debug, PartialEq)]
pub struct Exception {
    /// A DNS label used in the names of the guardrail pieces it creates (`dns`, `allow-0`).
    pub name: String,
    pub namespaces: LabelSelector,
    pub pods: LabelSelector,
    /// Empty: every port. Never a named port (its number is only known on the pod).
    pub ports: Vec<PortMatch>,
    pub origin: Origin,
}

/// What netpol knows of a namespace's labels, to skip exceptions that provably cannot meet a
/// guardrail. `None`: unknown, so the exception is applied.
pub(crate) type KnownLabels<'a> = &'a dyn Fn(&str) -> Option<SortedMap<String, String>>;

/// Remove every exception from every guardrail. Guardrails whose subjects must be split get one
/// object per piece, named `<name>`, `<name>-<exception>` and `<name>-<n>`.
pub fn apply(guardrails: Vec<Guardrail>, exceptions: &[Exception], known: KnownLabels<'_>) -> Vec<Guardrail> {
    let mut out = guardrails;
    for exception in exceptions {
        out = out.into_iter().flat_map(|g| split_guardrail(g, exception, known)).collect();
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn split_guardrail(g: Guardrail, e: &Exception, known: KnownLabels<'_>) -> Vec<Guardrail> {
    let egress_deny: Vec<Rule> = g.egress_deny.iter().flat_map(|r| split_rule(r, e, known)).collect();
    let subject_overlaps = !g.ingress_deny.is_empty() && may_overlap(&g.namespaces, &g.pods, e, known);
    if !subject_overlaps {
        return vec![Guardrail { egress_deny, ..g }];
    }
    // The ingress side: the subject minus the exception pods denies as before; the exception
    // pods keep the deny on the remaining ports.
    let mut pieces: Vec<Guardrail> = outside_of(&g.namespaces, &g.pods, e)
        .into_iter()
        .enumerate()
        .map(|(n, (namespaces, pods))| Guardrail {
            name: if n == 0 {
                g.name.clone()
            } else {
                crate::vocab::naming::join(&[&g.name, &n.to_string()])
            },
            namespaces,
            pods,
            egress_deny: Vec::new(),
            ..g.clone()
        })
        .collect();
    let inside_ingress: Vec<Rule> =
        g.ingress_deny.iter().filter_map(|r| without_ports(r, &e.ports)).collect();
    if let (false, Some(namespaces), Some(pods)) =
        (inside_ingress.is_empty(), and(&g.namespaces, &e.namespaces), and(&g.pods, &e.pods))
    {
        pieces.push(Guardrail {
            name: crate::vocab::naming::join(&[&g.name, &e.name]),
            namespaces,
            pods,
            ingress_deny: inside_ingress,
            egress_deny: Vec::new(),
            description: format!("{} (except {})", g.description, e.name),
            ..g.clone()
        });
    }
    // The egress side is not split by subject: it stays with every pod the guardrail selects.
    if !egress_deny.is_empty() || pieces.is_empty() {
        let name =
            if pieces.is_empty() { g.name.clone() } else { crate::vocab::naming::join(&[&g.name, "egress"]) };
        pieces.push(Guardrail { name, egress_deny, ingress_deny: Vec::new(), ..g });
    }
    pieces
}

/// One deny rule minus the exception: pod peers split, other peers (addresses, entities) kept.
fn split_rule(rule: &Rule, e: &Exception, known: KnownLabels<'_>) -> Vec<Rule> {
    let mut outside_peers = Vec::new();
    let mut inside_peers = Vec::new();
    for peer in &rule.peers {
        match peer {
            Peer::Pods { namespaces: Namespaces::Matching(ns), pods } if may_overlap(ns, pods, e, known) => {
                for (ns, pods) in outside_of(ns, pods, e) {
                    outside_peers.push(Peer::Pods { namespaces: Namespaces::Matching(ns), pods });
                }
                if let (Some(ns), Some(pods)) = (and(ns, &e.namespaces), and(pods, &e.pods)) {
                    inside_peers.push(Peer::Pods { namespaces: Namespaces::Matching(ns), pods });
                }
            }
            other => outside_peers.push(other.clone()),
        }
    }
    if inside_peers.is_empty() {
        return vec![rule.clone()];
    }
    let mut out = Vec::new();
    if !outside_peers.is_empty() {
        out.push(Rule { peers: outside_peers, ..rule.clone() });
    }
    if let Some(mut inside) = without_ports(rule, &e.ports) {
        inside.peers = inside_peers;
        inside.name = crate::vocab::naming::join(&[&rule.name, "except", &e.name]);
        out.push(inside);
    }
    out
}

/// Could pods in (namespaces, pods) be exception pods? Only a namespace whose labels netpol
/// knows, and that the guardrail's namespace selector provably rejects, rules it out.
fn may_overlap(
    namespaces: &LabelSelector,
    pods: &LabelSelector,
    e: &Exception,
    known: KnownLabels<'_>,
) -> bool {
    if and(namespaces, &e.namespaces).is_none() || and(pods, &e.pods).is_none() {
        return false;
    }
    match exception_namespace(e).and_then(known) {
        Some(labels) => namespaces.matches_with(|k| labels.get(k).map(String::as_str)),
        None => true,
    }
}

/// The one namespace an exception names (`kubernetes.io/metadata.name: N`), if it names one.
fn exception_namespace(e: &Exception) -> Option<&str> {
    let s = &e.namespaces;
    if s.match_expressions.is_empty() && s.match_labels.len() == 1 {
        return s.match_labels.get(NAMESPACE_NAME_LABEL).map(String::as_str);
    }
    None
}

/// (namespaces, pods) minus the exception's pods, as a union of selector pairs.
fn outside_of(
    namespaces: &LabelSelector,
    pods: &LabelSelector,
    e: &Exception,
) -> Vec<(LabelSelector, LabelSelector)> {
    let mut out = Vec::new();
    for negated in negations(&e.namespaces) {
        if let Some(ns) = with(namespaces, negated) {
            out.push((ns, pods.clone()));
        }
    }
    for negated in negations(&e.pods) {
        if let Some(p) = with(pods, negated) {
            out.push((namespaces.clone(), p));
        }
    }
    out
}

/// The negation of each requirement of a selector (an empty selector has none: nothing is
/// outside "everything").
fn negations(selector: &LabelSelector) -> Vec<LabelExpression> {
    let labels = selector.match_labels.iter().map(|(k, v)| LabelExpression {
        key: k.clone(),
        operator: LabelOperator::NotIn,
        values: vec![v.clone()],
    });
    let expressions = selector.match_expressions.iter().map(|x| {
        let operator = match x.operator {
            LabelOperator::In => LabelOperator::NotIn,
            LabelOperator::NotIn => LabelOperator::In,
            LabelOperator::Exists => LabelOperator::DoesNotExist,
            LabelOperator::DoesNotExist => LabelOperator::Exists,
        };
        LabelExpression { key: x.key.clone(), operator, values: x.values.clone() }
    });
    labels.chain(expressions).collect()
}

/// Both selectors at once; `None` when they provably select nothing together.
fn and(a: &LabelSelector, b: &LabelSelector) -> Option<LabelSelector> {
    let mut out = a.clone();
    for (k, v) in b.match_labels.iter() {
        match out.match_labels.get(k) {
            Some(existing) if existing != v => return None,
            Some(_) => {}
            None if out.match_expressions.iter().any(|x| &x.key == k) => {
                let x =
                    LabelExpression { key: k.clone(), operator: LabelOperator::In, values: vec![v.clone()] };
                out = with(&out, x)?;
            }
            None => {
                out.match_labels.insert(k.clone(), v.clone());
            }
        }
    }
    b.match_expressions.iter().try_fold(out, |s, x| with(&s, x.clone()))
}

/// `selector` with one more requirement, folded into what it already says about that key;
/// `None` when the result selects nothing.
fn with(selector: &LabelSelector, x: LabelExpression) -> Option<LabelSelector> {
    let mut out = selector.clone();
    if let Some(value) = out.match_labels.get(&x.key) {
        let holds = match x.operator {
            LabelOperator::In => x.values.contains(value),
            LabelOperator::NotIn => !x.values.contains(value),
            LabelOperator::Exists => true,
            LabelOperator::DoesNotExist => false,
        };
        return holds.then_some(out);
    }
    let same_key = out.match_expressions.iter().position(|y| y.key == x.key);
    let folded = match same_key.and_then(|i| out.match_expressions.get(i).map(|y| (i, y))) {
        Some((i, y)) => match (y.operator, x.operator) {
            (LabelOperator::In, LabelOperator::NotIn) | (LabelOperator::NotIn, LabelOperator::In) => {
                let (keep, drop) = if y.operator == LabelOperator::In {
                    (&y.values, &x.values)
                } else {
                    (&x.values, &y.values)
                };
                let values: Vec<String> = keep.iter().filter(|v| !drop.contains(v)).cloned().collect();
                if values.is_empty() {
                    return None;
                }
                Some((i, LabelExpression { key: x.key.clone(), operator: LabelOperator::In, values }))
            }
            (LabelOperator::In, LabelOperator::In) => {
                let values: Vec<String> = y.values.iter().filter(|v| x.values.contains(v)).cloned().collect();
                if values.is_empty() {
                    return None;
                }
                Some((i, LabelExpression { key: x.key.clone(), operator: LabelOperator::In, values }))
            }
            (LabelOperator::Exists, LabelOperator::DoesNotExist)
            | (LabelOperator::DoesNotExist, LabelOperator::Exists)
            | (LabelOperator::In, LabelOperator::DoesNotExist)
            | (LabelOperator::DoesNotExist, LabelOperator::In) => return None,
            _ => None,
        },
        None => None,
    };
    match folded {
        Some((i, expression)) => {
            if let Some(slot) = out.match_expressions.get_mut(i) {
                *slot = expression;
            }
        }
        None => {
            if !out.match_expressions.contains(&x) {
                out.match_expressions.push(x);
            }
        }
    }
    out.match_expressions.sort();
    Some(out)
}

/// `rule` on its ports minus `excepted`; `None` when nothing is left. An empty `excepted` is
/// every port.
fn without_ports(rule: &Rule, excepted: &[PortMatch]) -> Option<Rule> {
    if excepted.is_empty() {
        return None;
    }
    let ports = subtract_ports(&rule.ports, excepted);
    (!ports.is_empty()).then(|| Rule { ports, ..rule.clone() })
}

const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

fn range_of(port: &PortSel) -> Option<(u16, u16)> {
    match port {
        PortSel::Any => Some((1, u16::MAX)),
        PortSel::Number(p) => Some((*p, *p)),
        PortSel::Range(a, b) => Some((*a, *b)),
        PortSel::Named(_) => None,
    }
}

/// `ports` minus `excepted`, per protocol. Empty `ports` is every port of every protocol. A
/// named port in `ports` is kept as it is: which number it names is known only on the pod.
pub(crate) fn subtract_ports(ports: &[PortMatch], excepted: &[PortMatch]) -> Vec<PortMatch> {
    let every = PROTOCOLS.map(|protocol| PortMatch { protocol, port: PortSel::Any });
    let ports = if ports.is_empty() { &every[..] } else { ports };
    let mut out = Vec::new();
    for protocol in PROTOCOLS {
        let mut ranges: Vec<(u16, u16)> =
            ports.iter().filter(|p| p.protocol == protocol).filter_map(|p| range_of(&p.port)).collect();
        for cut in excepted.iter().filter(|p| p.protocol == protocol).filter_map(|p| range_of(&p.port)) {
            ranges = ranges.into_iter().flat_map(|r| cut_range(r, cut)).collect();
        }
        ranges.sort_unstable();
        ranges.dedup();
        out.extend(ranges.into_iter().map(|(a, b)| PortMatch {
            protocol,
            port: match (a, b) {
                (1, u16::MAX) => PortSel::Any,
                (a, b) if a == b => PortSel::Number(a),
                (a, b) => PortSel::Range(a, b),
            },
        }));
        out.extend(
            ports.iter().filter(|p| p.protocol == protocol && matches!(p.port, PortSel::Named(_))).cloned(),
        );
    }
    out
}

fn cut_range((a, b): (u16, u16), (c, d): (u16, u16)) -> Vec<(u16, u16)> {
    if d < a || c > b {
        return vec![(a, b)];
    }
    let mut out = Vec::new();
    if c > a {
        out.push((a, c - 1));
    }
    if d < b {
        out.push((d + 1, b));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::testing::{origin, rule, tcp, udp};

    fn ns_in(names: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: Default::default(),
            match_expressions: vec![LabelExpression {
                key: NAMESPACE_NAME_LABEL.into(),
                operator: LabelOperator::In,
                values: {
                    let mut values: Vec<String> = names.iter().map(|n| n.to_string()).collect();
                    values.sort();
                    values
                },
            }],
        }
    }

    fn dns() -> Exception {
        Exception {
            name: "dns".into(),
            namespaces: LabelSelector::namespace_named("kube-system"),
            pods: LabelSelector::from_labels([("k8s-app", "kube-dns")]),
            ports: vec![udp(53), tcp(53)],
            origin: origin("cluster.dns"),
        }
    }

    fn unknown(_: &str) -> Option<SortedMap<String, String>> {
        None
    }

    #[test]
    fn port_subtraction_leaves_the_rest_of_every_protocol() {
        let left = subtract_ports(&[], &[udp(53), tcp(53)]);
        let spelled: Vec<String> =
            left.iter().map(|p| format!("{}:{:?}", p.protocol.as_str(), p.port)).collect();
        assert_eq!(
            spelled,
            [
                "TCP:Range(1, 52)",
                "TCP:Range(54, 65535)",
                "UDP:Range(1, 52)",
                "UDP:Range(54, 65535)",
                "SCTP:Any"
            ]
        );
        assert!(subtract_ports(&[tcp(53)], &[tcp(53)]).is_empty());
        assert_eq!(subtract_ports(&[tcp(1)], &[tcp(53)]), vec![tcp(1)]);
        let edge = subtract_ports(
            &[PortMatch { protocol: Protocol::Tcp, port: PortSel::Any }],
            &[tcp(1), tcp(65535)],
        );
        assert_eq!(edge, vec![PortMatch { protocol: Protocol::Tcp, port: PortSel::Range(2, 65534) }]);
    }

    #[test]
    fn an_egress_deny_to_system_namespaces_spares_dns_pods_on_53() {
        let deny = rule(
            "to-system-namespaces",
            vec![Peer::Pods {
                namespaces: Namespaces::Matching(ns_in(&["kube-system", "ingress-nginx"])),
                pods: LabelSelector::default(),
            }],
            vec![],
        );
        let rules = split_rule(&deny, &dns(), &unknown);
        assert_eq!(rules.len(), 2, "{rules:#?}");
        let outside = &rules[0];
        // ingress-nginx entirely, and kube-system pods that are not kube-dns.
        assert_eq!(outside.peers.len(), 2, "{outside:#?}");
        let Peer::Pods { namespaces: Namespaces::Matching(first), pods } = &outside.peers[0] else {
            panic!()
        };
        assert_eq!(first, &ns_in(&["ingress-nginx"]));
        assert!(pods.is_empty());
        let Peer::Pods { namespaces: Namespaces::Matching(second), pods } = &outside.peers[1] else {
            panic!()
        };
        assert_eq!(second, &ns_in(&["ingress-nginx", "kube-system"]));
        assert_eq!(pods.match_expressions[0].operator, LabelOperator::NotIn);
        let inside = &rules[1];
        assert_eq!(inside.name, "to-system-namespaces-except-dns");
        assert!(!inside.ports.contains(&udp(53)) && !inside.ports.contains(&tcp(53)));
        assert!(
            inside.ports.contains(&PortMatch { protocol: Protocol::Tcp, port: PortSel::Range(54, 65535) })
        );
    }

    #[test]
    fn an_ingress_deny_on_system_namespaces_is_split_by_subject() {
        let g = Guardrail {
            name: "system-namespaces-deny-tenants".into(),
            namespaces: ns_in(&["kube-system"]),
            pods: LabelSelector::default(),
            ingress_deny: vec![rule("from-tenants", vec![], vec![])],
            egress_deny: vec![],
            description: "d".into(),
            origin: origin("guardrails"),
        };
        let pieces = apply(vec![g], &[dns()], &unknown);
        let names: Vec<&str> = pieces.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["system-namespaces-deny-tenants", "system-namespaces-deny-tenants-dns"]);
        // Not kube-dns: every port denied. kube-dns: every port but 53.
        assert_eq!(pieces[0].pods.match_expressions[0].operator, LabelOperator::NotIn);
        assert!(pieces[0].ingress_deny[0].ports.is_empty());
        assert_eq!(pieces[1].pods, LabelSelector::from_labels([("k8s-app", "kube-dns")]));
        assert!(!pieces[1].ingress_deny[0].ports.contains(&udp(53)));
    }

    #[test]
    fn a_split_subject_keeps_its_egress_deny_on_every_pod() {
        // A tenant namespace that also runs the DNS pods: ingress is split around them, egress
        // still applies to the whole namespace.
        let g = Guardrail {
            name: "isolate-tenant-a".into(),
            namespaces: LabelSelector::namespace_named("kube-system"),
            pods: LabelSelector::default(),
            ingress_deny: vec![rule("from-other-tenants", vec![], vec![])],
            egress_deny: vec![rule(
                "to-other-tenants",
                vec![Peer::Cidr { cidr: "10.0.0.0/8".parse().expect("cidr"), except: vec![] }],
                vec![],
            )],
            description: "d".into(),
            origin: origin("guardrails"),
        };
        let pieces = apply(vec![g.clone()], &[dns()], &unknown);
        let egress: Vec<&Guardrail> = pieces.iter().filter(|p| !p.egress_deny.is_empty()).collect();
        assert_eq!(egress.len(), 1, "{pieces:#?}");
        assert_eq!((&egress[0].namespaces, &egress[0].pods), (&g.namespaces, &g.pods));
        assert_eq!(egress[0].name, "isolate-tenant-a-egress");
        assert!(pieces.iter().filter(|p| p.name != egress[0].name).all(|p| p.egress_deny.is_empty()));
    }

    #[test]
    fn namespaces_known_not_to_match_are_left_alone() {
        let tenants_only = LabelSelector {
            match_labels: Default::default(),
            match_expressions: vec![LabelExpression {
                key: "tenant".into(),
                operator: LabelOperator::Exists,
                values: vec![],
            }],
        };
        let deny = rule(
            "to-other-tenants",
            vec![Peer::Pods {
                namespaces: Namespaces::Matching(tenants_only),
                pods: LabelSelector::default(),
            }],
            vec![],
        );
        let known =
            |ns: &str| Some(SortedMap::from_iter([(NAMESPACE_NAME_LABEL.to_string(), ns.to_string())]));
        assert_eq!(split_rule(&deny, &dns(), &known), vec![deny.clone()]);
        // Unknown labels: the exception applies.
        assert_eq!(split_rule(&deny, &dns(), &unknown).len(), 2);
    }
}
