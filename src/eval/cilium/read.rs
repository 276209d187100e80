//! Reading CiliumNetworkPolicies and CiliumClusterwideNetworkPolicies into the evaluator's rules.

use crate::error::{Diagnostic, Error, Result};
use crate::eval::Layer;
use crate::eval::kubernetes;
use crate::eval::topology::protocol_text;
use crate::intent::Fqdn;
use crate::wire::cilium::{FqdnSelector, Object, PeerRule, PortProtocol, RuleSpec};
use crate::wire::kubernetes::NetworkPolicy;
use std::collections::BTreeMap;

use super::*;

/// The evaluator layer of a Cilium cluster: its NetworkPolicies and Cilium policies together.
pub(crate) fn layers(
    k8s: &[&serde_json::Value],
    objects: &[&serde_json::Value],
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<Box<dyn Layer>>> {
    let network_policies = kubernetes::parse(k8s, warnings)?;
    let mut specs = Vec::new();
    let mut problems = Vec::new();
    for o in objects {
        let label = crate::eval::object_label(o);
        match crate::eval::from_wire::<Object>(o, "", o, &label, warnings)
            .and_then(|obj| read(obj, &label).map_err(crate::eval::WireError::from))
        {
            Ok(mut s) => specs.append(&mut s),
            Err(e) => problems.push(e.diagnostic(o, &label)),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let mut by_namespace: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut clusterwide = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        match &s.namespace {
            Some(ns) => by_namespace.entry(ns.clone()).or_default().push(i),
            None => clusterwide.push(i),
        }
    }
    let mut nps: BTreeMap<String, Vec<NetworkPolicy>> = BTreeMap::new();
    for p in network_policies {
        nps.entry(p.metadata.namespace.clone()).or_default().push(p);
    }
    for list in nps.values_mut() {
        list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    }
    Ok(vec![Box::new(CiliumLayer {
        specs,
        by_namespace,
        clusterwide,
        network_policies: nps,
        selecting: Default::default(),
        peers: std::sync::OnceLock::new(),
    })])
}

pub(super) fn read(obj: Object, label: &str) -> std::result::Result<Vec<Spec>, String> {
    let namespace = match obj.kind.as_str() {
        "CiliumNetworkPolicy" => Some(obj.metadata.namespace.unwrap_or_else(|| "default".to_string())),
        _ => None,
    };
    let _ = &obj.metadata.name;
    let mut raw: Vec<RuleSpec> = Vec::new();
    let several = obj.specs.is_some();
    raw.extend(obj.spec);
    raw.extend(obj.specs.into_iter().flatten());
    if raw.is_empty() {
        return Err("needs `spec` or `specs`".into());
    }
    let mut out = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let label = if several { format!("{label} specs[{i}]") } else { label.to_string() };
        let subject = match (r.endpoint_selector, r.node_selector) {
            (Some(s), None) => s,
            // A host policy: it judges nodes, which are never subjects in a verdict here.
            (None, Some(_)) => continue,
            _ => return Err(format!("{label}: exactly one of endpointSelector and nodeSelector")),
        };
        if r.ingress.is_empty()
            && r.ingress_deny.is_empty()
            && r.egress.is_empty()
            && r.egress_deny.is_empty()
        {
            // The agent refuses such a rule ("must have at least one of …"): it does nothing.
            continue;
        }
        let convert =
            |rules: Vec<PeerRule>, field: &str, deny: bool| -> std::result::Result<Vec<Rule>, String> {
                rules.into_iter().enumerate().map(|(j, r)| rule(r, format!("{field}[{j}]"), deny)).collect()
            };
        let dd = r.enable_default_deny.as_ref();
        out.push(Spec {
            label,
            namespace: namespace.clone(),
            subject,
            default_deny: PerDirection {
                ingress: dd.and_then(|d| d.ingress),
                egress: dd.and_then(|d| d.egress),
            },
            rules: PerDirection {
                ingress: convert(r.ingress, "ingress", false)?,
                egress: convert(r.egress, "egress", false)?,
            },
            denies: PerDirection {
                ingress: convert(r.ingress_deny, "ingressDeny", true)?,
                egress: convert(r.egress_deny, "egressDeny", true)?,
            },
        });
    }
    Ok(out)
}

pub(super) fn fqdn(s: &FqdnSelector) -> Option<Fqdn> {
    match (&s.match_name, &s.match_pattern) {
        (Some(n), None) => Some(Fqdn::Name(n.clone())),
        (None, Some(p)) => Some(Fqdn::Pattern(p.clone())),
        _ => None,
    }
}

pub(super) fn rule(r: PeerRule, label: String, deny: bool) -> std::result::Result<Rule, String> {
    let mut l3 = Vec::new();
    if let Some(e) = r.from_endpoints {
        l3.push(Peers::Endpoints(e));
    }
    if let Some(c) = r.from_cidr {
        l3.push(Peers::Cidrs(c.into_iter().map(|n| (n, Vec::new())).collect()));
    }
    if let Some(set) = r.from_cidr_set {
        let mut cidrs = Vec::new();
        let mut grouped = false;
        for c in set {
            match c.cidr {
                Some(n) if c.cidr_group_ref.is_none() && c.cidr_group_selector.is_none() => {
                    if let Some(e) = c.except.iter().find(|e| !n.contains(*e)) {
                        return Err(format!("{label}: except {e} is not inside {n}"));
                    }
                    cidrs.push((n, c.except));
                }
                _ => grouped = true,
            }
        }
        l3.push(if grouped { Peers::Unmodelled("CIDR groups") } else { Peers::Cidrs(cidrs) });
    }
    if let Some(e) = r.from_entities {
        l3.push(Peers::Entities(e));
    }
    if let Some(n) = r.from_nodes {
        l3.push(Peers::Nodes(n));
    }
    if let Some(f) = r.to_fqdns {
        if deny {
            return Err(format!("{label}: deny rules cannot use toFQDNs"));
        }
        let names: Option<Vec<Fqdn>> = f.iter().map(fqdn).collect();
        l3.push(Peers::Fqdns(
            names.ok_or_else(|| format!("{label}: each toFQDNs item has one of matchName, matchPattern"))?,
        ));
    }
    if r.from_groups.is_some() {
        l3.push(Peers::Unmodelled("toGroups/fromGroups"));
    }
    if r.to_services.is_some() {
        l3.push(Peers::Unmodelled("toServices"));
    }
    if r.from_requires.as_ref().is_some_and(|v| !v.is_empty()) {
        l3.push(Peers::Unmodelled("fromRequires/toRequires"));
    }
    if l3.len() > 1 {
        return Err(format!("{label}: one L3 peer kind per rule (the agent rejects combinations)"));
    }
    let mut dns = Vec::new();
    let mut l7 = None;
    let mut ports: Option<Vec<Port>> = None;
    if let Some(to_ports) = r.to_ports {
        let mut list = Vec::new();
        for pr in to_ports {
            if pr.ports.is_empty() {
                list.push(Port::Range(None, 1, 65535));
            }
            for p in pr.ports {
                list.push(
                    port(&p)
                        .ok_or_else(|| format!("{label}: a port is not a number 0..65535 or a port name"))?,
                );
            }
            if let Some(rules) = pr.rules {
                if let Some(d) = rules.dns {
                    let names: Option<Vec<Fqdn>> = d.iter().map(fqdn).collect();
                    dns.extend(names.ok_or_else(|| {
                        format!("{label}: each rules.dns item has one of matchName, matchPattern")
                    })?);
                    l7.get_or_insert("DNS query filtering (rules.dns)");
                }
                if rules.http.is_some() || rules.kafka.is_some() || rules.l7.is_some() {
                    l7 = Some("L7 rules (HTTP, Kafka, generic L7)");
                }
            }
        }
        ports = Some(list);
    }
    let peers = match l3.pop() {
        Some(p) => p,
        None if ports.is_some() => Peers::Any,
        // An ICMP-only rule never matches TCP, UDP or SCTP flows; an empty one matches nothing.
        None => Peers::Nothing,
    };
    let peers = match (peers, r.icmps.is_some(), &ports) {
        (_, true, None) => Peers::Nothing,
        (p, _, _) => p,
    };
    let _ = r.authentication;
    Ok(Rule { label, peers, ports, dns, l7 })
}

pub(super) fn port(p: &PortProtocol) -> Option<Port> {
    let protocol = match p.protocol.as_deref() {
        None | Some("ANY") => None,
        Some(text) => Some(protocol_text::parse(text)?),
    };
    let text = match &p.port {
        None => return Some(Port::Range(protocol, 1, 65535)),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(_) => return None,
    };
    match text.parse::<u32>() {
        Ok(0) => Some(Port::Range(protocol, 1, 65535)),
        Ok(n) => {
            let n = u16::try_from(n).ok()?;
            Some(Port::Range(protocol, n, p.end_port.unwrap_or(n).max(n)))
        }
        Err(_) => Some(Port::Named(protocol, text.to_ascii_lowercase())),
    }
}
