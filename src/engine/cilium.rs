//! Cilium `cilium.io/v2`: CiliumNetworkPolicy for namespaced policies and
//! CiliumClusterwideNetworkPolicy for guardrails (ENGINES.md section 3).
//!
//! Cilium has no precedence: per endpoint and direction a matching deny drops, else a matching
//! allow passes, else the endpoint's default-deny decides. So allowlists and the namespace
//! default-deny are plain allow policies (`[{}]` enables default-deny and allows nothing), and
//! guardrails are deny rules, which always win, with `enableDefaultDeny: false` so they never
//! isolate unrelated traffic.
//!
//! Every policy states `enableDefaultDeny` for both directions: a policy isolates exactly the
//! directions it speaks about. Peer selectors always name the namespace (`k8s:` pod namespace
//! or `io.cilium.k8s.namespace.labels.*` keys), so neither CNP nor CCNP implicit scoping
//! (ENGINES.md 3.2) changes what they select.

use serde::Serialize;

use super::{Backend, Engine, Entry, Manifest, ObjectMeta, OutputGroup, Problems, Rendered};
use crate::error::{Diagnostic, Result};
use crate::intent::{
    Entity, Fqdn, Guardrail, Intent, LabelExpression, LabelOperator, LabelSelector, NAMESPACE_NAME_LABEL,
    Namespaces, Origin, Peer, Policy, PortMatch, PortSel, Rule, RulePurpose,
};
use crate::vocab::Direction;
use crate::vocab::capability::Capability;
use crate::vocab::object::{Kind, Object};

pub struct Cilium;

/// The identity label of a pod's namespace.
const POD_NAMESPACE: &str = "k8s:io.kubernetes.pod.namespace";
/// Prefix of namespace labels in endpoint selectors.
const NAMESPACE_LABELS: &str = "io.cilium.k8s.namespace.labels.";
/// The API server's reserved identity (CIDR rules never match an in-cluster API server).
const KUBE_APISERVER: &str = "kube-apiserver";
/// Cilium rejects more ports than this in one `toPorts` entry.
const MAX_PORTS: usize = 40;
/// Longest label name (the part after an optional `prefix/`), and longest prefix.
const MAX_LABEL_NAME: usize = 63;
const MAX_LABEL_PREFIX: usize = 253;

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    endpoint_selector: LabelSelector,
    enable_default_deny: DefaultDeny,
    #[serde(skip_serializing_if = "Option::is_none")]
    ingress: Option<Vec<Entry<CiliumRule>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ingress_deny: Option<Vec<Entry<CiliumRule>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    egress: Option<Vec<Entry<CiliumRule>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    egress_deny: Option<Vec<Entry<CiliumRule>>>,
}

#[derive(Serialize, Default)]
struct DefaultDeny {
    ingress: bool,
    egress: bool,
}

/// One Cilium rule (ingress, egress or their deny forms): exactly one L3 field, plus ports.
/// `{}` is the empty rule of a default-deny: it isolates and allows nothing.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct CiliumRule {
    #[serde(rename = "fromEndpoints", skip_serializing_if = "Option::is_none")]
    from_endpoints: Option<Vec<LabelSelector>>,
    #[serde(rename = "fromCIDRSet", skip_serializing_if = "Option::is_none")]
    from_cidr_set: Option<Vec<CidrRule>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_entities: Option<Vec<&'static str>>,
    #[serde(rename = "toEndpoints", skip_serializing_if = "Option::is_none")]
    to_endpoints: Option<Vec<LabelSelector>>,
    #[serde(rename = "toCIDRSet", skip_serializing_if = "Option::is_none")]
    to_cidr_set: Option<Vec<CidrRule>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_entities: Option<Vec<&'static str>>,
    #[serde(rename = "toFQDNs", skip_serializing_if = "Option::is_none")]
    to_fqdns: Option<Vec<FqdnSelector>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_ports: Option<Vec<PortRule>>,
}

#[derive(Serialize, Clone)]
struct CidrRule {
    cidr: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    except: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FqdnSelector {
    #[serde(skip_serializing_if = "Option::is_none")]
    match_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    match_pattern: Option<String>,
}

#[derive(Serialize, Clone)]
struct PortRule {
    ports: Vec<PortProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rules: Option<L7Rules>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct PortProtocol {
    /// Always a string: a number (`"0"` = any port) or an IANA service name.
    port: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_port: Option<u16>,
    protocol: &'static str,
}

#[derive(Serialize, Clone)]
struct L7Rules {
    dns: Vec<FqdnPattern>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct FqdnPattern {
    match_pattern: &'static str,
}

/// Where rules are translated: decides own-namespace peers, deny restrictions, DNS visibility,
/// and the wording of diagnostics.
struct Site<'a> {
    /// The policy's namespace; `None` in a cluster-wide guardrail.
    namespace: Option<&'a str>,
    direction: Direction,
    /// Deny rules (guardrails): no L7 and no FQDN.
    deny: bool,
    /// The policy has FQDN egress: its DNS rules carry Cilium's DNS proxy rule.
    dns_visibility: bool,
    /// `policy `x` in namespace `y`` or `guardrail `x``.
    context: &'a str,
}

impl Site<'_> {
    fn rule_context(&self, rule: &Rule) -> String {
        let kind = match (self.direction, self.deny) {
            (Direction::Ingress, false) => "ingress",
            (Direction::Egress, false) => "egress",
            (Direction::Ingress, true) => "ingress deny",
            (Direction::Egress, true) => "egress deny",
        };
        format!("{}, {kind} rule `{}`", self.context, rule.name)
    }
}

impl Backend for Cilium {
    fn engine(&self) -> Engine {
        Engine::Cilium
    }

    fn guardrail(
        &self,
        intent: &Intent,
        _index: usize,
        g: &Guardrail,
        problems: &mut Problems,
    ) -> Result<Rendered> {
        Ok(Rendered::objects(render_guardrail(intent, g, problems)?))
    }

    fn policy(&self, intent: &Intent, policy: &Policy, problems: &mut Problems) -> Result<Rendered> {
        let mut warnings = Vec::new();
        if intent.cluster.api_server.is_empty() {
            warnings.extend(cidr_api_server_warnings(policy));
        }
        warnings.extend(cidr_cluster_endpoints_warning(intent, policy));
        Ok(Rendered { manifests: render_policy(intent, policy, problems)?.into_iter().collect(), warnings })
    }
}

fn render_policy(intent: &Intent, policy: &Policy, problems: &mut Problems) -> Result<Option<Manifest>> {
    let context = format!("policy `{}` in namespace `{}`", policy.name, policy.namespace);
    let raw = &policy.passthrough.cilium;
    if policy.ingress.is_none() && policy.egress.is_none() && raw.is_empty() {
        return Ok(None);
    }
    let dns_visibility = needs_dns_visibility(policy, &context, problems);
    let endpoint_selector = policy.subject.clone();
    check_keys(&endpoint_selector, &format!("the pods of {context}"), &policy.origin, problems);
    let site = |direction| Site {
        namespace: Some(&policy.namespace),
        direction,
        deny: false,
        dns_visibility: dns_visibility && direction == Direction::Egress,
        context: &context,
    };
    let mut ingress =
        policy.ingress.as_ref().map(|rules| translate_all(rules, &site(Direction::Ingress), problems));
    let mut egress =
        policy.egress.as_ref().map(|rules| translate_all(rules, &site(Direction::Egress), problems));
    // Passthrough rules are the user's own Cilium rules: appended verbatim, without changing
    // which directions the policy isolates.
    if !raw.ingress.is_empty() {
        ingress.get_or_insert_with(Vec::new).extend(raw.ingress.iter().cloned().map(Entry::Verbatim));
    }
    if !raw.egress.is_empty() {
        egress.get_or_insert_with(Vec::new).extend(raw.egress.iter().cloned().map(Entry::Verbatim));
    }
    // An isolated direction with nothing allowed is the empty rule: default-deny, no allow.
    // Never `[]`: the agent rejects a rule list without rules and the policy does nothing.
    for list in [&mut ingress, &mut egress].into_iter().flatten() {
        if list.is_empty() {
            list.push(Entry::Rendered(CiliumRule::default()));
        }
    }
    let spec = Spec {
        description: (!policy.description.is_empty()).then(|| policy.description.clone()),
        endpoint_selector,
        enable_default_deny: DefaultDeny {
            ingress: policy.ingress.is_some(),
            egress: policy.egress.is_some(),
        },
        ingress,
        egress,
        ..Spec::default()
    };
    let object = Object::new(
        Kind::CILIUM_NETWORK_POLICY,
        ObjectMeta::new(intent, &policy.name, Some(&policy.namespace)),
        spec,
    );
    Manifest::new(
        Kind::CILIUM_NETWORK_POLICY,
        policy.name.clone(),
        Some(policy.namespace.clone()),
        OutputGroup::Namespace,
        &object,
    )
    .map(Some)
}

/// Cilium gives pods, nodes and the API server identities of their own, and a CIDR rule never
/// matches them (ENGINES.md 3.4), while every other engine's CIDR peer does. Say so once per
/// object whose CIDR peers cover any of those ranges, as `check` counts it as a limitation.
fn cidr_cluster_endpoints_warning(intent: &Intent, policy: &Policy) -> Option<Diagnostic> {
    let ranges = intent.cluster.endpoint_ranges();
    let mut first_rule = None;
    let mut covered: Vec<String> = Vec::new();
    let rules = policy.ingress.iter().flatten().chain(policy.egress.iter().flatten());
    for rule in rules {
        for peer in &rule.peers {
            let Peer::Cidr { cidr, except } = peer else { continue };
            for range in &ranges {
                let overlaps = cidr.contains(&range.net) || range.net.contains(cidr);
                if !overlaps || except.iter().any(|e| e.contains(&range.net)) {
                    continue;
                }
                let what = if range.assumed {
                    format!("{} in {} (assumed: {} is not set)", range.holds, range.net, range.key)
                } else {
                    format!("{} in {}", range.holds, range.net)
                };
                first_rule.get_or_insert(rule);
                if !covered.contains(&what) {
                    covered.push(what);
                }
            }
        }
    }
    let rule = first_rule?;
    Some(
        Diagnostic::warning(format!(
            "on cilium, the CIDR peers of `{}/{}` (rule `{}` and any other) never match {}: Cilium gives them identities of their own, so what other engines allow there stays denied",
            policy.namespace,
            policy.name,
            rule.name,
            covered.join(", ")
        ))
        .at(&rule.origin)
        .with_help("to reach them on cilium, add `entity: host`, `remote-node` or `kube-apiserver` peers, or pod selectors; exclude the ranges (`except`) if they are not meant"),
    )
}

/// Cilium CIDR rules never match an in-cluster API server. When the values do not say where
/// the API server is, an ipBlock on its usual ports probably means it: say so.
fn cidr_api_server_warnings(policy: &Policy) -> Vec<Diagnostic> {
    let api_port = |p: &PortMatch| matches!(p.port, PortSel::Number(443 | 6443));
    policy
        .egress
        .iter()
        .flatten()
        .filter(|rule| {
            rule.peers.iter().any(|p| matches!(p, Peer::Cidr { cidr, .. } if cidr.prefix_len() == cidr.max_prefix_len()))
                && rule.ports.iter().any(api_port)
        })
        .map(|rule| {
            Diagnostic::warning(format!(
                "egress rule `{}` of `{}/{}` allows a single address on an API server port; if it is the API server, Cilium will not match it by CIDR",
                rule.name, policy.namespace, policy.name
            ))
            .at(&rule.origin)
            .with_help("set cluster.apiServer.cidrs to the API server's endpoint addresses: netpol then renders Cilium's kube-apiserver entity")
        })
        .collect()
}

/// Whether the policy has FQDN egress, so that its DNS rules must carry Cilium's DNS proxy
/// rule: `toFQDNs` allows only addresses the agent saw in DNS answers it proxied. FQDN egress
/// without any DNS rule would silently allow nothing, which is reported.
///
/// The user's own passthrough `toFQDNs` rules need the same: with a DNS rule in the policy it
/// carries the proxy rule; in an egress direction the policy isolates without one, it is
/// refused; where the policy leaves egress open, the rule changes nothing, which is a warning.
fn needs_dns_visibility(policy: &Policy, context: &str, problems: &mut Problems) -> bool {
    let egress = policy.egress.as_deref().unwrap_or_default();
    let has_dns = egress.iter().any(|r| r.purpose == RulePurpose::Dns);
    let raw = &policy.passthrough.cilium;
    if raw.egress.iter().any(|rule| rule.get("toFQDNs").is_some()) {
        if policy.egress.is_none() {
            problems.warn(
                Diagnostic::warning(format!(
                    "the passthrough `toFQDNs` egress of {context} restricts nothing (the policy does not isolate egress) and allows nothing: Cilium matches FQDNs only for DNS answers its proxy saw, and this policy has no DNS egress rule to carry the proxy rule"
                ))
                .at(&raw.origin)
                .with_help("to restrict egress to these names, enable egress with DNS for these pods (for the chart shape `networkPolicy.egress.enabled: true`, `dns: true`)"),
            );
        } else if !has_dns {
            problems.push(
                Diagnostic::new(format!(
                    "the passthrough `toFQDNs` egress of {context} needs a DNS egress rule: Cilium learns FQDN addresses only from DNS answers it proxies, so without one it silently allows nothing"
                ))
                .at(&raw.origin)
                .with_help("enable DNS egress (`dns: true`) for these pods"),
            );
        } else {
            return true;
        }
    }
    let Some(first) = egress.iter().find(|r| r.peers.iter().any(|p| matches!(p, Peer::Fqdn(_)))) else {
        return false;
    };
    if !has_dns {
        problems.push(
            Diagnostic::new(format!(
                "FQDN egress in {context} needs a DNS egress rule: Cilium learns FQDN addresses only from DNS answers it proxies, so without one the FQDN rule `{}` silently allows nothing",
                first.name
            ))
            .at(&first.origin)
            .with_help("enable DNS egress (`dns: true`) for these pods"),
        );
    }
    true
}

fn render_guardrail(intent: &Intent, g: &Guardrail, problems: &mut Problems) -> Result<Option<Manifest>> {
    if g.ingress_deny.is_empty() && g.egress_deny.is_empty() {
        return Ok(None);
    }
    let context = format!("guardrail `{}`", g.name);
    let mut endpoint_selector = g.pods.clone();
    add_namespace_keys(&mut endpoint_selector, &g.namespaces);
    check_keys(&endpoint_selector, &format!("the pods of {context}"), &g.origin, problems);
    let mut deny = |rules: &[Rule], direction| {
        let site = Site { namespace: None, direction, deny: true, dns_visibility: false, context: &context };
        (!rules.is_empty()).then(|| translate_all(rules, &site, problems))
    };
    let ingress_deny = deny(&g.ingress_deny, Direction::Ingress);
    let egress_deny = deny(&g.egress_deny, Direction::Egress);
    let spec = Spec {
        description: (!g.description.is_empty()).then(|| g.description.clone()),
        endpoint_selector,
        // A guardrail only takes traffic away: it must never put pods into default-deny.
        enable_default_deny: DefaultDeny { ingress: false, egress: false },
        ingress_deny,
        egress_deny,
        ..Spec::default()
    };
    let object =
        Object::new(Kind::CILIUM_CLUSTERWIDE_NETWORK_POLICY, ObjectMeta::new(intent, &g.name, None), spec);
    Manifest::new(
        Kind::CILIUM_CLUSTERWIDE_NETWORK_POLICY,
        g.name.clone(),
        None,
        OutputGroup::Guardrail,
        &object,
    )
    .map(Some)
}

fn translate_all(rules: &[Rule], site: &Site<'_>, problems: &mut Problems) -> Vec<Entry<CiliumRule>> {
    rules.iter().flat_map(|rule| translate(rule, site, problems)).map(Entry::Rendered).collect()
}

/// One IR rule → one Cilium rule per peer kind (Cilium rejects two L3 kinds in one rule), in
/// the order endpoints, CIDRs, entities, FQDNs, each with the same ports. No peers (any peer)
/// is the entity `all`: an empty rule would allow nothing.
fn translate(rule: &Rule, site: &Site<'_>, problems: &mut Problems) -> Vec<CiliumRule> {
    let dns = site.dns_visibility && !site.deny && rule.purpose == RulePurpose::Dns;
    if dns {
        check_dns_ports(rule, site, problems);
    }
    let ports = to_ports(&rule.ports, dns);
    let mut endpoints = Vec::new();
    let mut cidrs = Vec::new();
    let mut entities: Vec<&'static str> = Vec::new();
    let mut fqdns = Vec::new();
    if rule.peers.is_empty() {
        entities.push(Entity::All.as_str());
    }
    for peer in &rule.peers {
        match peer {
            Peer::Pods { namespaces, pods } => {
                let mut s = pods.clone();
                match (namespaces, site.namespace) {
                    (Namespaces::Own, Some(ns)) => {
                        s.match_labels.insert(POD_NAMESPACE.to_string(), ns.to_string());
                    }
                    (Namespaces::Own, None) => {
                        problems.push(
                            Diagnostic::new(format!(
                                "a guardrail is cluster-wide and has no namespace of its own, so a peer in `the same namespace` selects nothing definite ({})",
                                site.rule_context(rule)
                            ))
                            .at(&rule.origin)
                            .with_help("name the peer's namespaces explicitly (by name or by labels)"),
                        );
                        continue;
                    }
                    (Namespaces::Matching(ns), _) => add_namespace_keys(&mut s, ns),
                }
                check_keys(&s, &site.rule_context(rule), &rule.origin, problems);
                endpoints.push(s);
            }
            Peer::Cidr { cidr, except } => cidrs.push(CidrRule {
                cidr: cidr.to_string(),
                except: except.iter().map(ToString::to_string).collect(),
            }),
            // CIDR rules never match an in-cluster API server: its identity always does.
            Peer::ApiServer { .. } => entities.push(KUBE_APISERVER),
            Peer::Entity(e) => entities.push(e.as_str()),
            Peer::GatewayProxy => entities.push(Entity::Ingress.as_str()),
            Peer::Fqdn(_) if site.deny => problems.push(
                Diagnostic::unsupported(
                    Engine::Cilium,
                    Capability::FqdnDeny,
                    "an FQDN peer in a guardrail (Cilium deny rules cannot match DNS names)",
                    &site.rule_context(rule),
                )
                .at(&rule.origin)
                .with_help("no engine can deny traffic by DNS name; deny the addresses by CIDR instead"),
            ),
            Peer::Fqdn(_) if site.direction == Direction::Ingress => problems.push(
                Diagnostic::unsupported(
                    Engine::Cilium,
                    Capability::FqdnIngress,
                    "an FQDN peer in an ingress rule (DNS names identify destinations only)",
                    &site.rule_context(rule),
                )
                .at(&rule.origin)
                .with_help("allow the sources by CIDR, namespace or pod labels instead"),
            ),
            Peer::Fqdn(f) => fqdns.push(match f {
                Fqdn::Name(n) => FqdnSelector { match_name: Some(n.clone()), match_pattern: None },
                Fqdn::Pattern(p) => FqdnSelector { match_name: None, match_pattern: Some(p.clone()) },
            }),
        }
    }
    entities.sort_unstable();
    entities.dedup();
    let ingress = site.direction == Direction::Ingress;
    let mut out = Vec::new();
    if !endpoints.is_empty() {
        out.push(if ingress {
            CiliumRule { from_endpoints: Some(endpoints), ..CiliumRule::default() }
        } else {
            CiliumRule { to_endpoints: Some(endpoints), ..CiliumRule::default() }
        });
    }
    if !cidrs.is_empty() {
        out.push(if ingress {
            CiliumRule { from_cidr_set: Some(cidrs), ..CiliumRule::default() }
        } else {
            CiliumRule { to_cidr_set: Some(cidrs), ..CiliumRule::default() }
        });
    }
    if !entities.is_empty() {
        out.push(if ingress {
            CiliumRule { from_entities: Some(entities), ..CiliumRule::default() }
        } else {
            CiliumRule { to_entities: Some(entities), ..CiliumRule::default() }
        });
    }
    if !fqdns.is_empty() {
        out.push(CiliumRule { to_fqdns: Some(fqdns), ..CiliumRule::default() });
    }
    for r in &mut out {
        r.to_ports.clone_from(&ports);
    }
    out
}

/// The agent rejects a DNS proxy rule (`rules.dns`) without ports, on port `"0"` (any port) or
/// on a port range; the whole policy would then be invalid and its FQDN rules allow nothing.
fn check_dns_ports(rule: &Rule, site: &Site<'_>, problems: &mut Problems) {
    let what = if rule.ports.is_empty() {
        Some("every port")
    } else if rule.ports.iter().any(|p| p.port == PortSel::Any) {
        Some("every port of a protocol")
    } else if rule.ports.iter().any(|p| matches!(p.port, PortSel::Range(..))) {
        Some("a port range")
    } else {
        None
    };
    if let Some(what) = what {
        problems.push(
            Diagnostic::new(format!(
                "the DNS rule allows {what}, but Cilium's DNS proxy rule, which FQDN egress depends on, needs single ports ({})",
                site.rule_context(rule)
            ))
            .at(&rule.origin)
            .with_help("restrict the DNS rule to UDP and TCP port 53"),
        );
    }
}

/// `toPorts`: ports as strings, at most 40 per entry. `dns` adds the DNS proxy rule that FQDN
/// egress depends on.
fn to_ports(ports: &[PortMatch], dns: bool) -> Option<Vec<PortRule>> {
    if ports.is_empty() {
        return None;
    }
    let list: Vec<PortProtocol> = ports
        .iter()
        .map(|p| {
            let (port, end_port) = match &p.port {
                PortSel::Any => ("0".to_string(), None),
                PortSel::Number(n) => (n.to_string(), None),
                PortSel::Range(a, b) => (a.to_string(), Some(*b)),
                PortSel::Named(n) => (n.clone(), None),
            };
            PortProtocol { port, end_port, protocol: p.protocol.as_str() }
        })
        .collect();
    Some(
        list.chunks(MAX_PORTS)
            .map(|chunk| PortRule {
                ports: chunk.to_vec(),
                rules: dns.then(|| L7Rules { dns: vec![FqdnPattern { match_pattern: "*" }] }),
            })
            .collect(),
    )
}

fn expression(key: &str, e: &LabelExpression) -> LabelExpression {
    LabelExpression { key: key.to_string(), ..e.clone() }
}

fn pods_in_any_namespace() -> LabelExpression {
    LabelExpression { key: POD_NAMESPACE.to_string(), operator: LabelOperator::Exists, values: Vec::new() }
}

/// Narrow an endpoint selector to namespaces matching `ns`, naming the namespace explicitly so
/// that neither CNP nor CCNP implicit scoping applies (ENGINES.md 3.2).
fn add_namespace_keys(s: &mut LabelSelector, ns: &LabelSelector) {
    if ns.match_expressions.is_empty()
        && ns.match_labels.len() == 1
        && let Some(name) = ns.match_labels.get(NAMESPACE_NAME_LABEL)
    {
        s.match_labels.insert(POD_NAMESPACE.to_string(), name.clone());
        return;
    }
    if ns.is_empty() {
        // Every namespace: any pod at all, but only pods (never world, host or other
        // identities without a namespace).
        s.match_expressions.push(pods_in_any_namespace());
        return;
    }
    for (k, v) in &ns.match_labels {
        s.match_labels.insert(format!("{NAMESPACE_LABELS}{k}"), v.clone());
    }
    for e in &ns.match_expressions {
        s.match_expressions.push(expression(&format!("{NAMESPACE_LABELS}{}", e.key), e));
    }
    // Always name the pod-namespace key too. Older Cilium releases pin a CNP peer selector
    // that names only namespace labels to the policy's own namespace; with the key present
    // every release spans namespaces (ENGINES.md 3.2). It also keeps a selector of exclusions
    // alone (`NotIn`, `DoesNotExist`) to pods, never world or host identities.
    s.match_expressions.push(pods_in_any_namespace());
}

/// Cilium matches a selector key in its extended form (`any.<key>`, or `k8s.<key>` for
/// `k8s:<key>`) and rejects the whole policy when that is not a valid label key (name ≤63,
/// prefix ≤253 characters). Keys that are legal in Kubernetes can overflow once extended,
/// namespace label keys (`io.cilium.k8s.namespace.labels.<key>`) above all.
fn check_keys(s: &LabelSelector, what: &str, origin: &Origin, problems: &mut Problems) {
    let keys = s.match_labels.keys().chain(s.match_expressions.iter().map(|e| &e.key));
    for key in keys {
        let extended = match key.split_once(':') {
            Some((source, rest)) => format!("{source}.{rest}"),
            None => format!("any.{key}"),
        };
        let (prefix, name) = extended.split_once('/').unwrap_or(("", &extended));
        if name.len() > MAX_LABEL_NAME || prefix.len() > MAX_LABEL_PREFIX {
            problems.push(
                Diagnostic::unsupported(
                    Engine::Cilium,
                    Capability::LongSelectorKey,
                    &format!("the selector key `{key}`"),
                    what,
                )
                .at(origin)
                .with_help(format!(
                    "Cilium matches it as `{extended}`, longer than a label key may be ({MAX_LABEL_NAME} characters after the `/`, {MAX_LABEL_PREFIX} before), and would reject the whole policy; use a shorter label key, or a prefixed one (`example.com/<name>`); engines that can express it: kubernetes, calico, clusterNetworkPolicy"
                )),
            );
        }
    }
}
#[cfg(test)]
#[path = "cilium_tests.rs"]
mod tests;
