//! Reading Calico's objects (and the NetworkPolicies Calico converts) into the evaluator's tiers.

use super::selector::Sel;
use crate::error::{Diagnostic, Error, Result};
use crate::eval::kubernetes;
use crate::eval::topology::protocol_text;
use crate::eval::{Layer, NAMESPACED_ORDER};
use crate::intent::Protocol;
use crate::wire::calico::{Object, PolicySpec, TierSpec, WireEntity, WireRule};
use ipnet::IpNet;
use std::collections::BTreeMap;

use super::*;
use crate::eval::PerDirection;

/// `spec.<key>` of an object.
pub(super) fn spec_field(key: &str) -> crate::vocab::source::KeyPath {
    crate::vocab::source::KeyPath(vec![
        crate::vocab::source::Seg::Key("spec".into()),
        crate::vocab::source::Seg::Key(key.into()),
    ])
}

/// The evaluator layers of a Calico cluster: one per tier.
pub(crate) fn layers(
    k8s: &[&serde_json::Value],
    objects: &[&serde_json::Value],
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<Box<dyn Layer>>> {
    let mut problems = Vec::new();
    let mut tiers: BTreeMap<String, Tier> = BTreeMap::new();
    tiers.insert(
        DEFAULT_TIER.into(),
        Tier {
            name: DEFAULT_TIER.into(),
            order: NAMESPACED_ORDER,
            pass_by_default: false,
            policies: Vec::new(),
        },
    );
    let mut policies: Vec<(String, Policy)> = Vec::new();
    let mut sets = Vec::new();
    for o in objects {
        // "Calico" tells its NetworkPolicy from the Kubernetes kind of the same name.
        let label = format!("Calico {}", crate::eval::object_label(o));
        let read = crate::eval::from_wire::<Object>(o, "", o, &label, warnings).and_then(|obj| {
            match obj.kind.as_str() {
                "Tier" => {
                    let spec: TierSpec = crate::eval::from_wire(&obj.spec, "spec.", o, &label, warnings)?;
                    let pass = match spec.default_action.as_deref() {
                        None | Some("Deny") => false,
                        Some("Pass") => true,
                        Some(other) => {
                            return Err(crate::eval::WireError {
                                field: spec_field("defaultAction"),
                                message: format!("`{other}` is neither Deny nor Pass"),
                            });
                        }
                    };
                    let order = spec.order.unwrap_or(f64::INFINITY);
                    let order = if obj.metadata.name == DEFAULT_TIER { NAMESPACED_ORDER } else { order };
                    tiers.insert(
                        obj.metadata.name.clone(),
                        Tier { name: obj.metadata.name, order, pass_by_default: pass, policies: Vec::new() },
                    );
                }
                "NetworkSet" | "GlobalNetworkSet" => {
                    let nets = obj
                        .spec
                        .get("nets")
                        .cloned()
                        .map(serde_json::from_value::<Vec<IpNet>>)
                        .transpose()
                        .map_err(|e| crate::eval::WireError {
                            field: spec_field("nets"),
                            message: e.to_string(),
                        })?
                        .unwrap_or_default();
                    let namespace = (obj.kind == "NetworkSet")
                        .then(|| obj.metadata.namespace.clone().unwrap_or_else(|| "default".into()));
                    sets.push(NetworkSet { namespace, labels: obj.metadata.labels, nets });
                }
                "NetworkPolicy" | "GlobalNetworkPolicy" => {
                    let namespace = (obj.kind == "NetworkPolicy")
                        .then(|| obj.metadata.namespace.clone().unwrap_or_else(|| "default".into()));
                    let spec: PolicySpec = crate::eval::from_wire(&obj.spec, "spec.", o, &label, warnings)?;
                    if let Some(p) = policy(spec, &label, &obj.metadata.name, namespace)? {
                        policies.push(p);
                    }
                }
                other => return Err(format!("{other} is not a Calico policy kind").into()),
            }
            Ok(())
        });
        if let Err(e) = read {
            problems.push(e.diagnostic(o, &label));
        }
    }
    for np in kubernetes::parse(k8s, warnings)? {
        let types = PerDirection::from_fn(|dir| np.isolates(dir));
        policies.push((
            DEFAULT_TIER.into(),
            Policy {
                label: np.label(),
                sort_name: format!("knp.default.{}", np.metadata.name),
                order: NETWORK_POLICY_ORDER,
                namespace: Some(np.metadata.namespace.clone()),
                selector: Sel::All,
                namespace_selector: None,
                types,
                body: Body::Kubernetes(Box::new(np)),
            },
        ));
    }
    for (tier, p) in policies {
        match tiers.get_mut(&tier) {
            Some(t) => t.policies.push(p),
            None => problems.push(Diagnostic::evaluator(format!(
                "{}: tier `{tier}` does not exist (no Tier object)",
                p.label
            ))),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let sets = std::sync::Arc::new(sets);
    Ok(tiers
        .into_values()
        .map(|mut t| {
            t.policies
                .sort_by(|a, b| a.order.total_cmp(&b.order).then_with(|| a.sort_name.cmp(&b.sort_name)));
            let mut index = crate::eval::labels::SelectorIndex::default();
            for (i, p) in t.policies.iter().enumerate() {
                let required = match &p.body {
                    Body::Kubernetes(np) => {
                        np.spec.pod_selector.match_labels.iter().next().map(|(k, v)| (k.as_str(), v.as_str()))
                    }
                    Body::Calico { .. } => p.selector.required_pair(),
                };
                index.insert_under(required, i);
            }
            Box::new(TierLayer {
                tier: t,
                sets: sets.clone(),
                selecting: Default::default(),
                entities: std::sync::OnceLock::new(),
                index,
                calico_labels: Default::default(),
            }) as Box<dyn Layer>
        })
        .collect())
}

pub(super) fn parse_selector(text: Option<&str>, what: &str) -> std::result::Result<Option<Sel>, String> {
    text.map(|t| selector::parse(t).map_err(|e| format!("{what} `{t}`: {e}"))).transpose()
}

/// The tier and the policy; `None` for policies that never judge pods (host endpoint only).
pub(super) fn policy(
    spec: PolicySpec,
    label: &str,
    name: &str,
    namespace: Option<String>,
) -> std::result::Result<Option<(String, Policy)>, String> {
    if spec.do_not_track == Some(true) || spec.pre_dnat == Some(true) {
        // Untracked and pre-DNAT policies apply to host endpoints only.
        return Ok(None);
    }
    let _ = (spec.apply_on_forward, spec.performance_hints);
    if spec.service_account_selector.as_deref().is_some_and(|s| !matches!(s.trim(), "" | "all()")) {
        return Err(
            "serviceAccountSelector chooses service accounts by labels, which the evaluator does not model"
                .into(),
        );
    }
    let types = match &spec.types {
        Some(types) => {
            let mut t = PerDirection::<bool>::default();
            for ty in types {
                match ty.as_str() {
                    "Ingress" => t.ingress = true,
                    "Egress" => t.egress = true,
                    other => return Err(format!("type `{other}` is neither Ingress nor Egress")),
                }
            }
            t
        }
        // Calico's default: Egress alone when only egress rules exist, else Ingress, plus
        // Egress when egress rules exist.
        None => PerDirection {
            ingress: !spec.ingress.is_empty() || spec.egress.is_empty(),
            egress: !spec.egress.is_empty(),
        },
    };
    let rules = |wire: Vec<WireRule>, field: &str| -> std::result::Result<Vec<Rule>, String> {
        wire.into_iter().enumerate().map(|(i, r)| rule(r, format!("{field}[{i}]"))).collect()
    };
    let tier = spec.tier.clone().unwrap_or_else(|| DEFAULT_TIER.into());
    let policy = Policy {
        label: label.to_string(),
        sort_name: name.to_string(),
        order: spec.order.unwrap_or(f64::INFINITY),
        namespace,
        selector: parse_selector(spec.selector.as_deref(), "selector")?.unwrap_or(Sel::All),
        namespace_selector: parse_selector(spec.namespace_selector.as_deref(), "namespaceSelector")?,
        types,
        body: Body::Calico {
            rules: PerDirection {
                ingress: rules(spec.ingress, "ingress")?,
                egress: rules(spec.egress, "egress")?,
            },
        },
    };
    Ok(Some((tier, policy)))
}

pub(super) fn protocol(v: &serde_json::Value) -> std::result::Result<Option<Protocol>, String> {
    // `None` inside: a protocol (ICMP, numbers other than TCP/UDP/SCTP) no modelled flow has.
    match v {
        serde_json::Value::String(s) => Ok(protocol_text::parse(s)),
        serde_json::Value::Number(n) => Ok(match n.as_u64() {
            Some(6) => Some(Protocol::Tcp),
            Some(17) => Some(Protocol::Udp),
            Some(132) => Some(Protocol::Sctp),
            Some(n) if n <= 255 => None,
            _ => return Err(format!("protocol {n} is not 0..255")),
        }),
        other => Err(format!("protocol {other} is neither a name nor a number")),
    }
}

pub(super) fn ports(
    values: &[serde_json::Value],
    label: &str,
) -> std::result::Result<Vec<PortMatch>, String> {
    values
        .iter()
        .map(|v| {
            let text = match v {
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => return Err(format!("{label}: port {other} is neither a number nor a string")),
            };
            let number = |t: &str| t.parse::<u16>().map_err(|_| format!("{label}: `{t}` is not a port"));
            match text.split_once(':') {
                Some((a, b)) => Ok(PortMatch::Range(number(a)?, number(b)?)),
                None if text.chars().all(|c| c.is_ascii_digit()) => {
                    let n = number(&text)?;
                    Ok(PortMatch::Range(n, n))
                }
                None => Ok(PortMatch::Named(text)),
            }
        })
        .collect()
}

pub(super) fn entity(e: WireEntity, label: &str) -> std::result::Result<Entity, String> {
    let (names, sa_selector) = match e.service_accounts {
        Some(sa) => (sa.names, sa.selector.is_some_and(|s| !matches!(s.trim(), "" | "all()"))),
        None => (Vec::new(), false),
    };
    Ok(Entity {
        nets: e.nets,
        not_nets: e.not_nets,
        selector: parse_selector(e.selector.as_deref(), "selector")?,
        not_selector: parse_selector(e.not_selector.as_deref(), "notSelector")?,
        namespace_selector: parse_selector(e.namespace_selector.as_deref(), "namespaceSelector")?,
        ports: ports(&e.ports, label)?,
        not_ports: ports(&e.not_ports, label)?,
        service_account_names: names,
        service_account_selector: sa_selector,
        service: e.services.map(|s| (s.name, s.namespace.unwrap_or_default())),
    })
}

pub(super) fn rule(r: WireRule, label: String) -> std::result::Result<Rule, String> {
    let action = match r.action.as_str() {
        "Allow" => Action::Allow,
        "Deny" => Action::Deny,
        "Pass" => Action::Pass,
        "Log" => Action::Log,
        other => return Err(format!("{label}: action `{other}` is not Allow, Deny, Pass or Log")),
    };
    let _ = (r.icmp, r.not_icmp, r.metadata);
    Ok(Rule {
        action,
        protocol: r.protocol.as_ref().map(protocol).transpose()?,
        not_protocol: r.not_protocol.as_ref().map(protocol).transpose()?,
        ip_version: r.ip_version,
        source: entity(r.source, &label)?,
        destination: entity(r.destination, &label)?,
        http: r.http.is_some(),
        label,
    })
}
