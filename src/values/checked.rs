//! Validated leaf types of the values format. Each checks on deserialisation what the API
//! servers would check later (ENGINES.md 2.5), so the error points at the line the user wrote.

use std::collections::BTreeMap;
use std::fmt;

use ipnet::IpNet;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::vocab::Protocol;
use crate::vocab::labels::{LabelExpression, LabelOperator, LabelSelector};
use crate::vocab::peer::{Entity, Fqdn, Namespaces, Peer, PortMatch, PortSel};

/// A canonical CIDR (host bits zero), e.g. `10.0.0.0/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cidr(pub IpNet);

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_cidr(&s).map(Cidr).map_err(de::Error::custom)
    }
}

/// One CIDR or a list of them: `cluster.podCIDR: 10.244.0.0/16` on a single-stack cluster,
/// `[10.244.0.0/16, "fd00:10:244::/56"]` on a dual-stack one (as kube-controller-manager's
/// `--cluster-cidr` takes one range per family).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CidrList(pub Vec<IpNet>);

impl<'de> Deserialize<'de> for CidrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CidrList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CIDR or a list of CIDRs")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CidrList, E> {
                parse_cidr(v).map(|net| CidrList(vec![net])).map_err(E::custom)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<CidrList, A::Error> {
                let mut nets = Vec::new();
                while let Some(Cidr(net)) = seq.next_element()? {
                    if !nets.contains(&net) {
                        nets.push(net);
                    }
                }
                Ok(CidrList(nets))
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let net: IpNet = s.parse().map_err(|_| {
        if s.parse::<std::net::IpAddr>().is_ok() {
            let bits = if s.contains(':') { 128 } else { 32 };
            format!("`{s}` is an address, not a CIDR; write `{s}/{bits}`")
        } else {
            format!("`{s}` is not a valid CIDR")
        }
    })?;
    if net.trunc() != net {
        return Err(format!("`{s}` has host bits set; the canonical form is `{}`", net.trunc()));
    }
    if s.split('/').next().is_some_and(|a| a.split('.').any(|o| o.len() > 1 && o.starts_with('0'))) {
        return Err(format!("`{s}` has leading zeros; write `{net}`"));
    }
    Ok(net)
}

/// `except` entries must be strictly inside `cidr` and of the same family.
pub(crate) fn check_except(cidr: IpNet, except: &[IpNet]) -> Result<(), String> {
    for e in except {
        let inside = match (cidr, e) {
            (IpNet::V4(c), IpNet::V4(x)) => c.contains(x) && x.prefix_len() > c.prefix_len(),
            (IpNet::V6(c), IpNet::V6(x)) => c.contains(x) && x.prefix_len() > c.prefix_len(),
            _ => false,
        };
        if !inside {
            return Err(format!("except `{e}` is not strictly inside cidr `{cidr}`"));
        }
    }
    Ok(())
}

/// A DNS-1123 label: namespace and object names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DnsLabel(pub String);

impl<'de> Deserialize<'de> for DnsLabel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        check_dns_label(&s).map(|()| DnsLabel(s)).map_err(de::Error::custom)
    }
}

pub(crate) fn check_dns_label(s: &str) -> Result<(), String> {
    if crate::vocab::naming::is_dns_label(s) {
        Ok(())
    } else if s.len() > 63 {
        Err(format!("`{s}` is {} characters; names are at most 63", s.len()))
    } else {
        Err(format!(
            "`{s}` is not a valid name: use lower-case letters, digits and `-`, starting and ending with a letter or digit"
        ))
    }
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(crate::vocab::naming::is_dns_label)
}

pub(crate) fn check_label_key(k: &str) -> Result<(), String> {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && !is_dns_subdomain(p)
    {
        return Err(format!("label key `{k}`: prefix `{p}` is not a DNS subdomain"));
    }
    if !is_label_name(name) {
        return Err(format!(
            "label key `{k}`: the name part must be 1-63 characters of letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

pub(crate) fn check_label_value(k: &str, v: &str) -> Result<(), String> {
    if v.is_empty() || is_label_name(v) {
        Ok(())
    } else {
        Err(format!(
            "label value `{v}` of `{k}`: values are empty or 1-63 characters of letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit"
        ))
    }
}

/// A label map with valid keys and values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels(pub crate::sorted::SortedMap<String, String>);

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, LabelValueText>::deserialize(d)?;
        let map: crate::sorted::SortedMap<String, String> = map.into_iter().map(|(k, v)| (k, v.0)).collect();
        for (k, v) in &map {
            check_label_key(k).and_then(|()| check_label_value(k, v)).map_err(de::Error::custom)?;
        }
        Ok(Labels(map))
    }
}

/// Label values are strings, but `version: 2` or `enabled: true` in YAML are not: accept
/// scalars and keep their text, as kubectl users expect.
struct LabelValueText(String);

impl<'de> Deserialize<'de> for LabelValueText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LabelValueText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a label value (a string)")
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LabelValueText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(LabelValueText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(LabelValueText(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(LabelValueText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A Kubernetes label selector as users write it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SelectorSpec(pub LabelSelector);

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSelector {
    #[serde(default)]
    match_labels: Option<Labels>,
    #[serde(default)]
    match_expressions: Option<Vec<RawExpression>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpression {
    key: String,
    operator: LabelOperatorName,
    #[serde(default)]
    values: Option<Vec<LabelValueText>>,
}

#[derive(Deserialize, Clone, Copy)]
enum LabelOperatorName {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl<'de> Deserialize<'de> for SelectorSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Option::<RawSelector>::deserialize(d)?;
        let Some(raw) = raw else { return Ok(SelectorSpec::default()) };
        let mut expressions = Vec::new();
        for e in raw.match_expressions.unwrap_or_default() {
            check_label_key(&e.key).map_err(de::Error::custom)?;
            let operator = match e.operator {
                LabelOperatorName::In => LabelOperator::In,
                LabelOperatorName::NotIn => LabelOperator::NotIn,
                LabelOperatorName::Exists => LabelOperator::Exists,
                LabelOperatorName::DoesNotExist => LabelOperator::DoesNotExist,
            };
            let mut values: Vec<String> = e.values.unwrap_or_default().into_iter().map(|v| v.0).collect();
            for v in &values {
                check_label_value(&e.key, v).map_err(de::Error::custom)?;
            }
            match operator {
                LabelOperator::In | LabelOperator::NotIn if values.is_empty() => {
                    return Err(de::Error::custom(format!(
                        "matchExpressions on `{}`: operator {} needs at least one value",
                        e.key,
                        operator.as_str()
                    )));
                }
                LabelOperator::Exists | LabelOperator::DoesNotExist if !values.is_empty() => {
                    return Err(de::Error::custom(format!(
                        "matchExpressions on `{}`: operator {} takes no values",
                        e.key,
                        operator.as_str()
                    )));
                }
                _ => {}
            }
            values.sort();
            values.dedup();
            expressions.push(LabelExpression { key: e.key, operator, values });
        }
        expressions.sort();
        expressions.dedup();
        Ok(SelectorSpec(LabelSelector {
            match_labels: raw.match_labels.unwrap_or_default().0,
            match_expressions: expressions,
        }))
    }
}

/// A port as users write it: a number or an IANA service name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortValue {
    Number(u16),
    Named(String),
}

impl<'de> Deserialize<'de> for PortValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PortValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port number (1-65535) or a port name")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortValue, E> {
                port_number(v).map(PortValue::Number).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortValue, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortValue, E> {
                if v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() {
                    let n: i64 = v.parse().unwrap_or(i64::MAX);
                    return port_number(n).map(PortValue::Number).map_err(E::custom);
                }
                check_port_name(v).map(|()| PortValue::Named(v.to_string())).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn port_number(v: i64) -> Result<u16, String> {
    u16::try_from(v).ok().filter(|p| *p >= 1).ok_or_else(|| format!("port {v} is outside 1..65535"))
}

/// IANA_SVC_NAME: 1-15 of `[-a-z0-9]`, at least one letter, no leading/trailing or double `-`.
pub(crate) fn check_port_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 15
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a valid port name: 1-15 lower-case letters, digits and single `-`, with at least one letter"
        ))
    }
}

/// One entry of a rule's `ports`: `8080`, `metrics`, or `{protocol, port, endPort}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec(pub PortMatch);

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPortSpec {
    protocol: Option<Protocol>,
    port: Option<PortValue>,
    end_port: Option<i64>,
}

impl<'de> Deserialize<'de> for PortSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PortSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port number, a port name or a map with protocol, port and endPort")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortSpec, E> {
                let port = port_number(v).map_err(E::custom)?;
                Ok(PortSpec(PortMatch { protocol: Protocol::Tcp, port: PortSel::Number(port) }))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortSpec, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortSpec, E> {
                let port = PortValue::deserialize(de::value::StrDeserializer::<E>::new(v))?;
                Ok(PortSpec(port_match(Protocol::Tcp, Some(port), None).map_err(E::custom)?))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PortSpec, A::Error> {
                let raw = RawPortSpec::deserialize(de::value::MapAccessDeserializer::new(map))?;
                port_match(raw.protocol.unwrap_or(Protocol::Tcp), raw.port, raw.end_port)
                    .map(PortSpec)
                    .map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn port_match(
    protocol: Protocol,
    port: Option<PortValue>,
    end_port: Option<i64>,
) -> Result<PortMatch, String> {
    let port = match (port, end_port) {
        (None, None) => PortSel::Any,
        (None, Some(_)) => return Err("endPort needs a numeric port".to_string()),
        (Some(PortValue::Named(n)), None) => PortSel::Named(n),
        (Some(PortValue::Named(n)), Some(_)) => {
            return Err(format!("endPort cannot be used with the named port `{n}`"));
        }
        (Some(PortValue::Number(p)), None) => PortSel::Number(p),
        (Some(PortValue::Number(p)), Some(end)) => {
            let end = port_number(end).map_err(|e| format!("endPort: {e}"))?;
            if end < p {
                return Err(format!("endPort {end} is below port {p}"));
            }
            if end == p { PortSel::Number(p) } else { PortSel::Range(p, end) }
        }
    };
    Ok(PortMatch { protocol, port })
}

/// A peer in `from`/`to`: raw Kubernetes fields or the short engine-agnostic forms.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerSpec(pub Peer);

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPeer {
    namespace_selector: Option<SelectorSpec>,
    pod_selector: Option<SelectorSpec>,
    ip_block: Option<RawIpBlock>,
    namespace: Option<DnsLabel>,
    pod_labels: Option<Labels>,
    cidr: Option<Cidr>,
    except: Option<Vec<Cidr>>,
    entity: Option<String>,
    fqdn: Option<String>,
    fqdn_pattern: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIpBlock {
    cidr: Cidr,
    #[serde(default)]
    except: Vec<Cidr>,
}

/// Entities as written in values: Cilium's names, plus `kube-apiserver`.
pub(crate) const ENTITY_NAMES: [&str; 10] = [
    "all",
    "world",
    "cluster",
    "host",
    "remote-node",
    "ingress",
    "health",
    "init",
    "unmanaged",
    "kube-apiserver",
];

impl<'de> Deserialize<'de> for PeerSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawPeer::deserialize(d)?;
        raw.into_peer().map(PeerSpec).map_err(de::Error::custom)
    }
}

impl RawPeer {
    fn into_peer(self) -> Result<Peer, String> {
        let pod_like = self.namespace_selector.is_some()
            || self.pod_selector.is_some()
            || self.namespace.is_some()
            || self.pod_labels.is_some();
        let kinds = [
            ("namespace/pod selectors", pod_like),
            ("ipBlock", self.ip_block.is_some()),
            ("cidr", self.cidr.is_some()),
            ("entity", self.entity.is_some()),
            ("fqdn", self.fqdn.is_some()),
            ("fqdnPattern", self.fqdn_pattern.is_some()),
        ];
        let present: Vec<&str> = kinds.iter().filter(|(_, p)| *p).map(|(n, _)| *n).collect();
        match present.len() {
            0 => {
                if self.except.is_some() {
                    return Err("`except` needs a `cidr`".to_string());
                }
                return Err("empty peer: give namespaceSelector/podSelector, namespace/podLabels, ipBlock, cidr, entity or fqdn (an empty `from`/`to` list, not an empty peer, means \"anyone\")".to_string());
            }
            1 => {}
            _ => return Err(format!("a peer is exactly one kind, found {}", present.join(" and "))),
        }
        if self.except.is_some() && self.cidr.is_none() {
            return Err("`except` goes with `cidr` (or inside `ipBlock`)".to_string());
        }
        if pod_like {
            if self.namespace.is_some() && self.namespace_selector.is_some() {
                return Err("give either `namespace` or `namespaceSelector`, not both".to_string());
            }
            if self.pod_labels.is_some() && self.pod_selector.is_some() {
                return Err("give either `podLabels` or `podSelector`, not both".to_string());
            }
            let namespaces = match (self.namespace, self.namespace_selector) {
                (Some(name), _) => Namespaces::Matching(LabelSelector::namespace_named(&name.0)),
                (None, Some(sel)) => Namespaces::Matching(sel.0),
                (None, None) => Namespaces::Own,
            };
            let pods = match (self.pod_labels, self.pod_selector) {
                (Some(labels), _) => LabelSelector { match_labels: labels.0, match_expressions: Vec::new() },
                (None, Some(sel)) => sel.0,
                (None, None) => LabelSelector::default(),
            };
            return Ok(Peer::Pods { namespaces, pods });
        }
        if let Some(block) = self.ip_block {
            return cidr_peer(block.cidr, block.except);
        }
        if let Some(cidr) = self.cidr {
            return cidr_peer(cidr, self.except.unwrap_or_default());
        }
        if let Some(entity) = self.entity {
            if entity == "kube-apiserver" {
                return Ok(Peer::ApiServer { cidrs: Vec::new() });
            }
            return Entity::ALL.into_iter().find(|e| e.as_str() == entity).map(Peer::Entity).ok_or_else(
                || format!("unknown entity `{entity}`; {}", super::de::suggest(&entity, &ENTITY_NAMES)),
            );
        }
        if let Some(name) = self.fqdn {
            check_fqdn(&name, false)?;
            return Ok(Peer::Fqdn(Fqdn::Name(name.trim_end_matches('.').to_string())));
        }
        if let Some(pattern) = self.fqdn_pattern {
            check_fqdn(&pattern, true)?;
            return Ok(Peer::Fqdn(Fqdn::Pattern(pattern)));
        }
        Err("empty peer".to_string())
    }
}

fn cidr_peer(cidr: Cidr, except: Vec<Cidr>) -> Result<Peer, String> {
    let mut except: Vec<IpNet> = except.into_iter().map(|c| c.0).collect();
    check_except(cidr.0, &except)?;
    except.sort();
    except.dedup();
    Ok(Peer::Cidr { cidr: cidr.0, except })
}

fn check_fqdn(name: &str, pattern: bool) -> Result<(), String> {
    let trimmed = name.trim_end_matches('.');
    let ok = !trimmed.is_empty()
        && trimmed.len() <= 253
        && trimmed.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (pattern && b == b'*'))
        });
    if ok {
        Ok(())
    } else if pattern {
        Err(format!("`{name}` is not a valid FQDN pattern (labels of letters, digits, `-`, `_` and `*`)"))
    } else {
        Err(format!("`{name}` is not a valid DNS name"))
    }
}

/// Raw engine-specific rules, kept verbatim.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawJson(pub serde_json::Value);

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if !v.is_object() {
            return Err(de::Error::custom(
                "a passthrough rule must be a map in the engine's own rule schema",
            ));
        }
        Ok(RawJson(v))
    }
}
