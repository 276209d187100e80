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

use super::{Backend, Engine, Entry, Layer, Manifest, ObjectMeta, Problems, Rendered};
use crate::error::{Diagnostic, Result};
use crate::intent::{
    Entity, Fqdn, Guardrail, Intent, LabelExpression, LabelOperator, LabelSelector, NAMESPACE_NAME_LABEL,
    Namespaces, Origin, Peer, Policy, PortMatch, PortSel, Rule, RulePurpose,
};
use crate::vocab::capability::Capability;

pub struct Cilium;

const API_VERSION: &str = "cilium.io/v2";
const CNP: &str = "CiliumNetworkPolicy";
const CCNP: &str = "CiliumClusterwideNetworkPolicy";
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

#[derive(Serialize)]
struct CiliumPolicy {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: Spec,
}

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

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Ingress,
    Egress,
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

    fn render(&self, intent: &Intent) -> Result<Rendered> {
        let mut problems = Problems::default();
        let mut rendered = Rendered::default();
        for guardrail in &intent.guardrails {
            if let Some(m) = render_guardrail(intent, guardrail, &mut problems)? {
                rendered.manifests.push(m.written_at(&guardrail.origin));
            }
        }
        for policy in &intent.policies {
            rendered.warnings.extend(super::foreign_passthrough(Engine::Cilium, policy));
            if intent.cluster.api_server.is_empty() {
                rendered.warnings.extend(cidr_api_server_warnings(policy));
            }
            rendered.warnings.extend(cidr_cluster_endpoints_warning(intent, policy));
            if let Some(m) = render_policy(intent, policy, &mut problems)? {
                rendered.manifests.push(m.written_at(&policy.origin));
            }
        }
        rendered.warnings.extend(problems.take_warnings());
        problems.finish(rendered)
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
    let object = CiliumPolicy {
        api_version: API_VERSION,
        kind: CNP,
        metadata: ObjectMeta::new(intent, &policy.name, Some(&policy.namespace)),
        spec,
    };
    Manifest::new(
        API_VERSION,
        CNP,
        policy.name.clone(),
        Some(policy.namespace.clone()),
        Layer::Namespace,
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
    let object = CiliumPolicy {
        api_version: API_VERSION,
        kind: CCNP,
        metadata: ObjectMeta::new(intent, &g.name, None),
        spec,
    };
    Manifest::new(API_VERSION, CCNP, g.name.clone(), None, Layer::Guardrail, &object).map(Some)
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
mod tests {
    use super::*;
    use crate::intent::testing::*;
    use crate::intent::{LabelExpression, Protocol};
    use serde_json::{Value, json};

    fn render_ok(i: &Intent) -> Vec<Manifest> {
        Cilium.render(i).expect("renders").manifests
    }

    fn bodies(policies: Vec<Policy>) -> Vec<Value> {
        render_ok(&intent(policies)).iter().map(Manifest::body).collect()
    }

    fn spec_of(policy: Policy) -> Value {
        let out = bodies(vec![policy]);
        assert_eq!(out.len(), 1, "{out:?}");
        out[0]["spec"].clone()
    }

    fn errors(i: &Intent) -> Vec<Diagnostic> {
        Cilium.render(i).expect_err("must fail").diagnostics()
    }

    fn ns_selector(labels: &[(&str, &str)]) -> LabelSelector {
        LabelSelector::from_labels(labels.iter().copied())
    }

    fn expr(key: &str, operator: LabelOperator, values: &[&str]) -> LabelExpression {
        LabelExpression { key: key.into(), operator, values: values.iter().map(|v| v.to_string()).collect() }
    }

    fn pods(namespaces: Namespaces, pods: LabelSelector) -> Peer {
        Peer::Pods { namespaces, pods }
    }

    fn guardrail(name: &str, ingress_deny: Vec<Rule>, egress_deny: Vec<Rule>) -> Guardrail {
        Guardrail {
            name: name.into(),
            namespaces: LabelSelector::default(),
            pods: LabelSelector::default(),
            ingress_deny,
            egress_deny,
            description: format!("guardrail {name}"),
            origin: origin(&format!("guardrails.{name}")),
        }
    }

    fn fqdn_rule(name: &str) -> Rule {
        rule("api", vec![Peer::Fqdn(Fqdn::Name(name.into()))], vec![tcp(443)])
    }

    const L3: [&str; 7] =
        ["fromEndpoints", "fromCIDRSet", "fromEntities", "toEndpoints", "toCIDRSet", "toEntities", "toFQDNs"];

    /// Every generated rule carries exactly one L3 peer kind (ENGINES.md 3.4), and no list is empty.
    fn assert_cilium_shape(spec: &Value) {
        for list in ["ingress", "egress", "ingressDeny", "egressDeny"] {
            let Some(v) = spec.get(list) else { continue };
            let rules = v.as_array().expect("a list");
            assert!(!rules.is_empty(), "empty {list} list in {spec}");
            for r in rules {
                let kinds = L3.iter().filter(|k| r.get(**k).is_some()).count();
                assert!(kinds <= 1, "{list} rule with {kinds} L3 kinds: {r}");
                assert!(kinds == 1 || (r == &json!({}) && !list.ends_with("Deny")), "{list} rule: {r}");
            }
        }
    }

    #[test]
    fn default_deny_is_the_empty_rule_never_a_deny() {
        let m = render_ok(&intent(vec![default_deny("identity", 2000, false)]));
        assert_eq!(
            (m[0].kind, m[0].name.as_str(), m[0].namespace.as_deref(), m[0].layer),
            ("CiliumNetworkPolicy", "default-deny", Some("identity"), Layer::Namespace)
        );
        let body = m[0].body();
        assert_eq!(body["apiVersion"], json!("cilium.io/v2"));
        assert_eq!(body["kind"], json!("CiliumNetworkPolicy"));
        assert_eq!(
            body["metadata"],
            json!({
                "name": "default-deny",
                "namespace": "identity",
                "labels": {"app.kubernetes.io/instance": "test", "app.kubernetes.io/managed-by": "netpol"}
            })
        );
        assert_eq!(
            body["spec"],
            json!({
                "description": "default deny",
                "endpointSelector": {},
                "enableDefaultDeny": {"ingress": true, "egress": true},
                "ingress": [{}],
                "egress": [{}]
            })
        );
    }

    #[test]
    fn common_annotations_are_carried() {
        let mut i = intent(vec![default_deny("identity", 2000, false)]);
        i.annotations.insert("owner".into(), "platform".into());
        i.guardrails.push(metadata_guardrail());
        for m in render_ok(&i) {
            assert_eq!(m.body()["metadata"]["annotations"], json!({"owner": "platform"}), "{}", m.kind);
        }
    }

    #[test]
    fn a_policy_isolates_only_the_directions_it_speaks_about() {
        let open = || Some(vec![rule("web", vec![], vec![tcp(80)])]);
        let spec = spec_of(allowlist("shop", "web", open(), None));
        assert_eq!(spec["enableDefaultDeny"], json!({"ingress": true, "egress": false}));
        assert!(spec.get("egress").is_none(), "{spec}");
        let spec = spec_of(allowlist("shop", "web", None, open()));
        assert_eq!(spec["enableDefaultDeny"], json!({"ingress": false, "egress": true}));
        assert!(spec.get("ingress").is_none(), "{spec}");
        // Isolated but nothing allowed in one direction: the empty rule, never `[]`.
        let spec = spec_of(allowlist("shop", "web", open(), Some(vec![])));
        assert_eq!(spec["enableDefaultDeny"], json!({"ingress": true, "egress": true}));
        assert_eq!(spec["egress"], json!([{}]));
        assert_eq!(spec["endpointSelector"], json!({"matchLabels": {"app": "web"}}));
        assert_cilium_shape(&spec);
    }

    #[test]
    fn a_policy_without_directions_renders_nothing() {
        assert!(bodies(vec![allowlist("shop", "web", None, None)]).is_empty());
    }

    #[test]
    fn one_peer_kind_per_rule_in_a_fixed_order_with_the_same_ports() {
        let r = rule(
            "mixed",
            vec![
                pods_in("monitoring", &[("app", "prom")]),
                own_pods(&[("app", "front")]),
                cidr("10.0.0.0/8", &["10.1.0.0/16"]),
                cidr("fd00::/8", &[]),
                Peer::Entity(Entity::World),
                Peer::ApiServer { cidrs: vec!["10.0.0.1/32".parse().expect("cidr")] },
                Peer::Fqdn(Fqdn::Name("api.example.com".into())),
                Peer::Fqdn(Fqdn::Pattern("*.example.com".into())),
            ],
            vec![tcp(8080)],
        );
        let spec = spec_of(allowlist("shop", "web", None, Some(vec![dns_rule(), r])));
        assert_cilium_shape(&spec);
        let egress = spec["egress"].as_array().expect("list").clone();
        assert_eq!(egress.len(), 5, "{egress:?}");
        assert!(egress[0].get("toEndpoints").is_some(), "the DNS rule first");
        assert_eq!(
            egress[1]["toEndpoints"],
            json!([
                {"matchLabels": {"app": "prom", "k8s:io.kubernetes.pod.namespace": "monitoring"}},
                {"matchLabels": {"app": "front", "k8s:io.kubernetes.pod.namespace": "shop"}}
            ])
        );
        assert_eq!(
            egress[2]["toCIDRSet"],
            json!([{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}, {"cidr": "fd00::/8"}])
        );
        // The API server is its identity, whatever its CIDRs: CIDR rules never match it.
        assert_eq!(egress[3]["toEntities"], json!(["kube-apiserver", "world"]));
        // toFQDNs never shares a rule with toCIDRSet.
        assert_eq!(
            egress[4]["toFQDNs"],
            json!([{"matchName": "api.example.com"}, {"matchPattern": "*.example.com"}])
        );
        for r in &egress[1..] {
            assert_eq!(r["toPorts"], json!([{"ports": [{"port": "8080", "protocol": "TCP"}]}]), "{r}");
        }
    }

    #[test]
    fn ingress_peers_use_the_from_fields() {
        let r = rule(
            "mixed",
            vec![
                pods_in("monitoring", &[]),
                cidr("192.168.0.0/16", &[]),
                Peer::Entity(Entity::Ingress),
                Peer::ApiServer { cidrs: vec![] },
            ],
            vec![],
        );
        let spec = spec_of(allowlist("shop", "web", Some(vec![r]), None));
        assert_cilium_shape(&spec);
        assert_eq!(
            spec["ingress"],
            json!([
                {"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "monitoring"}}]},
                {"fromCIDRSet": [{"cidr": "192.168.0.0/16"}]},
                {"fromEntities": ["ingress", "kube-apiserver"]}
            ])
        );
    }

    #[test]
    fn entities_are_spelled_as_cilium_does_and_deduplicated() {
        let peers =
            Entity::ALL.iter().map(|e| Peer::Entity(*e)).chain([Peer::Entity(Entity::Host)]).collect();
        let spec = spec_of(allowlist("shop", "web", Some(vec![rule("e", peers, vec![])]), None));
        assert_eq!(
            spec["ingress"],
            json!([{"fromEntities": [
                "all", "cluster", "health", "host", "ingress", "init", "remote-node", "unmanaged", "world"
            ]}])
        );
    }

    #[test]
    fn any_peer_is_entity_all_never_the_empty_rule() {
        let spec = spec_of(allowlist(
            "shop",
            "web",
            Some(vec![rule("open", vec![], vec![tcp(80)])]),
            Some(vec![rule("anything", vec![], vec![])]),
        ));
        assert_eq!(
            spec["ingress"],
            json!([{"fromEntities": ["all"], "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}])
        );
        assert_eq!(spec["egress"], json!([{"toEntities": ["all"]}]));
    }

    #[test]
    fn pod_selectors_always_name_their_namespace() {
        let by_label = pods(Namespaces::Matching(ns_selector(&[("team", "a")])), LabelSelector::default());
        let every_ns = pods(Namespaces::Matching(LabelSelector::default()), ns_selector(&[("app", "x")]));
        let everything = pods(Namespaces::Matching(LabelSelector::default()), LabelSelector::default());
        let name_and_label = pods(
            Namespaces::Matching(ns_selector(&[("kubernetes.io/metadata.name", "a"), ("team", "b")])),
            LabelSelector::default(),
        );
        let with_expressions = pods(
            Namespaces::Matching(LabelSelector {
                match_labels: Default::default(),
                match_expressions: vec![expr("env", LabelOperator::In, &["prod", "stage"])],
            }),
            LabelSelector {
                match_labels: crate::sorted::SortedMap::from([("app".to_string(), "db".to_string())]),
                match_expressions: vec![expr("tier", LabelOperator::Exists, &[])],
            },
        );
        let own_everything = pods(Namespaces::Own, LabelSelector::default());
        let r = rule(
            "r",
            vec![by_label, every_ns, everything, name_and_label, with_expressions, own_everything],
            vec![],
        );
        let spec = spec_of(allowlist("shop", "web", None, Some(vec![r])));
        let exists = json!({"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"});
        assert_eq!(
            spec["egress"][0]["toEndpoints"],
            json!([
                {"matchLabels": {"io.cilium.k8s.namespace.labels.team": "a"}, "matchExpressions": [exists]},
                {"matchLabels": {"app": "x"}, "matchExpressions": [exists]},
                {"matchExpressions": [exists]},
                {"matchLabels": {
                    "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": "a",
                    "io.cilium.k8s.namespace.labels.team": "b"
                }, "matchExpressions": [exists]},
                {"matchLabels": {"app": "db"}, "matchExpressions": [
                    {"key": "tier", "operator": "Exists"},
                    {"key": "io.cilium.k8s.namespace.labels.env", "operator": "In", "values": ["prod", "stage"]},
                    exists
                ]},
                {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "shop"}}
            ])
        );
        assert!(spec["egress"][0].get("toPorts").is_none());
    }

    #[test]
    fn namespace_label_selectors_name_the_pod_namespace_key_on_every_release() {
        // `team NotIn [a]` also matches identities without namespace labels (world, host…).
        let only_exclusions = pods(
            Namespaces::Matching(LabelSelector {
                match_labels: Default::default(),
                match_expressions: vec![
                    expr("team", LabelOperator::NotIn, &["a"]),
                    expr("legacy", LabelOperator::DoesNotExist, &[]),
                ],
            }),
            LabelSelector::default(),
        );
        let mixed = pods(
            Namespaces::Matching(LabelSelector {
                match_labels: Default::default(),
                match_expressions: vec![
                    expr("team", LabelOperator::NotIn, &["a"]),
                    expr("env", LabelOperator::Exists, &[]),
                ],
            }),
            LabelSelector::default(),
        );
        let spec = spec_of(allowlist(
            "shop",
            "web",
            Some(vec![rule("r", vec![only_exclusions, mixed], vec![])]),
            None,
        ));
        assert_eq!(
            spec["ingress"][0]["fromEndpoints"],
            json!([
                {"matchExpressions": [
                    {"key": "io.cilium.k8s.namespace.labels.team", "operator": "NotIn", "values": ["a"]},
                    {"key": "io.cilium.k8s.namespace.labels.legacy", "operator": "DoesNotExist"},
                    {"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}
                ]},
                {"matchExpressions": [
                    {"key": "io.cilium.k8s.namespace.labels.team", "operator": "NotIn", "values": ["a"]},
                    {"key": "io.cilium.k8s.namespace.labels.env", "operator": "Exists"},
                    {"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}
                ]}
            ])
        );
    }

    #[test]
    fn subject_selectors_are_written_as_given() {
        let mut p = allowlist("shop", "web", Some(vec![]), None);
        p.subject = LabelSelector {
            match_labels: crate::sorted::SortedMap::from([("app".to_string(), "web".to_string())]),
            match_expressions: vec![expr("track", LabelOperator::NotIn, &["canary"])],
        };
        let spec = spec_of(p);
        assert_eq!(
            spec["endpointSelector"],
            json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["canary"]}]})
        );
    }

    #[test]
    fn ports_are_strings_with_explicit_protocols() {
        let ports = vec![
            PortMatch { protocol: Protocol::Udp, port: PortSel::Any },
            PortMatch { protocol: Protocol::Tcp, port: PortSel::Range(30000, 30010) },
            PortMatch { protocol: Protocol::Sctp, port: PortSel::Named("metrics".into()) },
            PortMatch { protocol: Protocol::Tcp, port: PortSel::Number(65535) },
        ];
        let spec = spec_of(allowlist("shop", "web", Some(vec![rule("p", vec![], ports)]), None));
        assert_eq!(
            spec["ingress"][0]["toPorts"],
            json!([{"ports": [
                {"port": "0", "protocol": "UDP"},
                {"port": "30000", "endPort": 30010, "protocol": "TCP"},
                {"port": "metrics", "protocol": "SCTP"},
                {"port": "65535", "protocol": "TCP"}
            ]}])
        );
        // Strings in the YAML text too, never integers.
        let m = render_ok(&intent(vec![allowlist(
            "shop",
            "web",
            Some(vec![rule("p", vec![], vec![tcp(80)])]),
            None,
        )]));
        assert!(m[0].yaml.contains("port: \"80\""), "{}", m[0].yaml);
    }

    #[test]
    fn more_than_forty_ports_are_split_across_to_ports_entries() {
        let at = |n: usize| {
            let ports: Vec<PortMatch> = (1..=n).map(|p| tcp(u16::try_from(p).expect("port"))).collect();
            let spec = spec_of(allowlist("shop", "web", Some(vec![rule("many", vec![], ports)]), None));
            spec["ingress"][0]["toPorts"]
                .as_array()
                .expect("list")
                .iter()
                .map(|e| e["ports"].as_array().map_or(0, Vec::len))
                .collect::<Vec<_>>()
        };
        assert_eq!(at(40), vec![40]);
        assert_eq!(at(41), vec![40, 1]);
        assert_eq!(at(85), vec![40, 40, 5]);
    }

    #[test]
    fn fqdn_egress_puts_dns_visibility_on_every_dns_rule() {
        let mut dns = dns_rule();
        dns.peers.push(cidr("169.254.20.10/32", &[])); // node-local DNS cache
        let plain = rule("web", vec![pods_in("shop", &[])], vec![tcp(80)]);
        let spec =
            spec_of(allowlist("shop", "web", None, Some(vec![dns, plain, fqdn_rule("api.example.com")])));
        assert_cilium_shape(&spec);
        let egress = spec["egress"].as_array().expect("list").clone();
        assert_eq!(egress.len(), 4);
        let visible = json!([{
            "ports": [{"port": "53", "protocol": "UDP"}, {"port": "53", "protocol": "TCP"}],
            "rules": {"dns": [{"matchPattern": "*"}]}
        }]);
        assert_eq!(
            egress[0]["toEndpoints"],
            json!([{"matchLabels": {"k8s-app": "kube-dns", "k8s:io.kubernetes.pod.namespace": "kube-system"}}])
        );
        assert_eq!(egress[0]["toPorts"], visible);
        assert_eq!(egress[1]["toCIDRSet"], json!([{"cidr": "169.254.20.10/32"}]));
        assert_eq!(egress[1]["toPorts"], visible);
        assert!(egress[2]["toPorts"][0].get("rules").is_none(), "only DNS rules get L7: {}", egress[2]);
        assert_eq!(egress[3]["toFQDNs"], json!([{"matchName": "api.example.com"}]));
        assert!(egress[3]["toPorts"][0].get("rules").is_none());
    }

    #[test]
    fn without_fqdns_the_dns_rule_stays_plain_l4() {
        let spec = spec_of(allowlist("shop", "web", None, Some(vec![dns_rule()])));
        assert_eq!(
            spec["egress"][0]["toPorts"],
            json!([{"ports": [{"port": "53", "protocol": "UDP"}, {"port": "53", "protocol": "TCP"}]}])
        );
    }

    #[test]
    fn fqdn_without_a_dns_rule_is_an_error_naming_the_policy() {
        let d =
            errors(&intent(vec![allowlist("shop", "web", None, Some(vec![fqdn_rule("api.example.com")]))]));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains("needs a DNS egress rule"), "{d:?}");
        assert!(d[0].message.contains("policy `web` in namespace `shop`"), "{d:?}");
        assert!(d[0].help.as_deref().is_some_and(|h| h.contains("dns: true")), "{d:?}");
        assert_eq!(d[0].origin, Some(origin("api")));
    }

    #[test]
    fn a_dns_rule_that_cannot_carry_the_dns_proxy_rule_is_an_error() {
        for (ports, what) in [
            (vec![], "every port"),
            (vec![PortMatch { protocol: Protocol::Udp, port: PortSel::Any }], "every port of a protocol"),
            (vec![PortMatch { protocol: Protocol::Udp, port: PortSel::Range(53, 54) }], "a port range"),
        ] {
            let mut dns = dns_rule();
            dns.ports = ports;
            let d = errors(&intent(vec![allowlist(
                "shop",
                "web",
                None,
                Some(vec![dns, fqdn_rule("a.example.com")]),
            )]));
            assert_eq!(d.len(), 1, "{d:?}");
            assert!(d[0].message.contains(&format!("allows {what},")), "{d:?}");
            assert!(d[0].message.contains("egress rule `dns`"), "{d:?}");
        }
        // The same DNS rule is fine when no FQDN needs the proxy.
        let mut dns = dns_rule();
        dns.ports = vec![PortMatch { protocol: Protocol::Udp, port: PortSel::Range(53, 54) }];
        assert_eq!(bodies(vec![allowlist("shop", "web", None, Some(vec![dns]))]).len(), 1);
    }

    #[test]
    fn fqdn_in_ingress_is_an_error() {
        let r = rule("in", vec![Peer::Fqdn(Fqdn::Name("a.example.com".into()))], vec![]);
        let d = errors(&intent(vec![allowlist("shop", "web", Some(vec![r]), None)]));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains("FQDN peer in an ingress rule"), "{d:?}");
        assert!(d[0].message.contains("ingress rule `in`"), "{d:?}");
    }

    #[test]
    fn passthrough_is_appended_verbatim_after_the_generated_rules() {
        let raw_in = json!({"fromEndpoints": [{"matchLabels": {"app.kubernetes.io/name": "flagger"}}]});
        let raw_out = json!({"toFQDNs": [{"matchName": "bucket.example.com"}]});
        let mut p = allowlist("shop", "web", Some(vec![rule("open", vec![], vec![tcp(80)])]), None);
        p.passthrough.cilium.ingress.push(raw_in.clone());
        p.passthrough.cilium.egress.push(raw_out.clone());
        let spec = spec_of(p);
        assert_eq!(spec["ingress"].as_array().map(Vec::len), Some(2));
        assert_eq!(spec["ingress"][0]["fromEntities"], json!(["all"]));
        assert_eq!(spec["ingress"][1], raw_in);
        // Egress not spoken about: the raw rules are added, egress stays non-isolating.
        assert_eq!(spec["egress"], json!([raw_out]));
        assert_eq!(spec["enableDefaultDeny"], json!({"ingress": true, "egress": false}));
    }

    #[test]
    fn passthrough_fqdn_egress_gets_dns_visibility_or_a_word() {
        let fqdn = json!({"toFQDNs": [{"matchName": "bucket.example.com"}]});
        // With a DNS rule in the policy, the DNS rule carries the proxy rule.
        let mut with_dns = allowlist("shop", "web", None, Some(vec![dns_rule()]));
        with_dns.passthrough.cilium.egress.push(fqdn.clone());
        let spec = spec_of(with_dns);
        assert_eq!(spec["egress"][0]["toPorts"][0]["rules"], json!({"dns": [{"matchPattern": "*"}]}));
        assert_eq!(spec["egress"][1], fqdn);
        // Egress isolated without DNS: refused, located at the passthrough key.
        let mut without_dns = allowlist("shop", "web", None, Some(vec![]));
        without_dns.passthrough.cilium.egress.push(fqdn.clone());
        without_dns.passthrough.cilium.origin = origin("workloads.web.cilium");
        let d = errors(&intent(vec![without_dns]));
        assert!(
            d[0].message.contains("passthrough `toFQDNs` egress")
                && d[0].message.contains("needs a DNS egress rule"),
            "{d:?}"
        );
        assert_eq!(d[0].origin.as_ref().map(|o| o.path.as_str()), Some("workloads.web.cilium"));
        // Egress left open by the policy: rendered, with a warning.
        let mut open = allowlist("shop", "web", Some(vec![]), None);
        open.passthrough.cilium.egress.push(fqdn.clone());
        let rendered = Cilium.render(&intent(vec![open])).expect("renders");
        assert_eq!(rendered.warnings.len(), 1, "{:?}", rendered.warnings);
        assert!(rendered.warnings[0].message.contains("restricts nothing"), "{:?}", rendered.warnings);
    }

    #[test]
    fn passthrough_replaces_the_empty_rule_and_renders_alone() {
        let raw = json!({"toEntities": ["host"]});
        let mut p = allowlist("shop", "web", None, Some(vec![]));
        p.passthrough.cilium.egress.push(raw.clone());
        let spec = spec_of(p);
        assert_eq!(spec["egress"], json!([raw]));
        assert_eq!(spec["enableDefaultDeny"], json!({"ingress": false, "egress": true}));
        let mut only = allowlist("shop", "only", None, None);
        only.passthrough.cilium.ingress.push(raw.clone());
        let spec = spec_of(only);
        assert_eq!(spec["ingress"], json!([raw]));
        assert_eq!(spec["enableDefaultDeny"], json!({"ingress": false, "egress": false}));
    }

    #[test]
    fn foreign_passthrough_is_left_out_with_a_warning_naming_its_engine() {
        let mut p = allowlist("shop", "web", Some(vec![]), None);
        p.passthrough.calico.ingress.push(json!({"action": "Allow"}));
        p.passthrough.calico.origin = origin("workloads.web.calico");
        p.passthrough.cluster_network_policy.egress.push(json!({"action": "Accept"}));
        p.passthrough.cluster_network_policy.origin = origin("workloads.web.clusterNetworkPolicy");
        let rendered = Cilium.render(&intent(vec![p])).expect("renders");
        assert!(
            !rendered.manifests[0].yaml.contains("Accept") && !rendered.manifests[0].yaml.contains("action")
        );
        let d = rendered.warnings;
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d[0].message.contains("calico passthrough rules of `shop/web` apply only to the calico engine"),
            "{d:?}"
        );
        assert_eq!(d[0].origin, Some(origin("workloads.web.calico")));
        assert!(d[1].message.contains("not rendered for cilium"), "{d:?}");
    }

    #[test]
    fn guardrails_are_clusterwide_denies_that_isolate_nothing() {
        let mut i = intent(vec![]);
        i.guardrails.push(metadata_guardrail());
        let m = render_ok(&i);
        assert_eq!(
            (m[0].kind, m[0].name.as_str(), m[0].layer, m[0].namespace.as_deref()),
            ("CiliumClusterwideNetworkPolicy", "deny-metadata-service", Layer::Guardrail, None)
        );
        let body = m[0].body();
        assert!(body["metadata"].get("namespace").is_none());
        assert_eq!(
            body["spec"],
            json!({
                "description": "metadata",
                "endpointSelector": {"matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}]},
                "enableDefaultDeny": {"ingress": false, "egress": false},
                "egressDeny": [{"toCIDRSet": [{"cidr": "169.254.169.254/32"}]}]
            })
        );
    }

    #[test]
    fn guardrail_subjects_and_peers_name_their_namespaces() {
        let mut by_name = guardrail(
            "no-db-from-tenants",
            vec![
                rule(
                    "tenants",
                    vec![pods(
                        Namespaces::Matching(ns_selector(&[("tenant", "true")])),
                        ns_selector(&[("role", "client")]),
                    )],
                    vec![tcp(5432)],
                ),
                rule(
                    "any-pod",
                    vec![pods(Namespaces::Matching(LabelSelector::default()), LabelSelector::default())],
                    vec![],
                ),
            ],
            vec![],
        );
        by_name.namespaces = LabelSelector::namespace_named("data");
        by_name.pods = ns_selector(&[("app", "db")]);
        let mut by_label = guardrail(
            "no-egress-from-sandboxes",
            vec![],
            vec![{
                // A DNS-purpose rule in a guardrail never carries L7: deny rules have none.
                let mut r = dns_rule();
                r.name = "dns".into();
                r
            }],
        );
        by_label.namespaces = ns_selector(&[("sandbox", "true")]);
        let mut i = intent(vec![]);
        i.guardrails = vec![by_name, by_label];
        let m = render_ok(&i);
        let (a, b) = (m[0].body()["spec"].clone(), m[1].body()["spec"].clone());
        assert_cilium_shape(&a);
        assert_eq!(
            a["endpointSelector"],
            json!({"matchLabels": {"app": "db", "k8s:io.kubernetes.pod.namespace": "data"}})
        );
        assert_eq!(
            a["ingressDeny"],
            json!([
                {
                    "fromEndpoints": [{
                        "matchLabels": {"io.cilium.k8s.namespace.labels.tenant": "true", "role": "client"},
                        "matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}]
                    }],
                    "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}]
                },
                {"fromEndpoints": [{"matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}]}]}
            ])
        );
        assert!(a.get("egressDeny").is_none() && a.get("ingress").is_none() && a.get("egress").is_none());
        assert_eq!(
            b["endpointSelector"],
            json!({
                "matchLabels": {"io.cilium.k8s.namespace.labels.sandbox": "true"},
                "matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}]
            })
        );
        assert_eq!(
            b["egressDeny"][0]["toPorts"],
            json!([{"ports": [{"port": "53", "protocol": "UDP"}, {"port": "53", "protocol": "TCP"}]}])
        );
        assert!(b.get("ingressDeny").is_none());
    }

    #[test]
    fn guardrail_deny_rules_translate_every_peer_kind() {
        let g = guardrail(
            "wide",
            vec![rule("from", vec![cidr("0.0.0.0/0", &["10.0.0.0/8"]), Peer::Entity(Entity::World)], vec![])],
            vec![
                rule(
                    "to",
                    vec![Peer::ApiServer { cidrs: vec![] }],
                    vec![tcp(443), PortMatch { protocol: Protocol::Tcp, port: PortSel::Range(6443, 6444) }],
                ),
                rule("all", vec![], vec![udp(9)]),
            ],
        );
        let mut i = intent(vec![]);
        i.guardrails.push(g);
        let spec = render_ok(&i)[0].body()["spec"].clone();
        assert_cilium_shape(&spec);
        assert_eq!(
            spec["ingressDeny"],
            json!([{"fromCIDRSet": [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}]}, {"fromEntities": ["world"]}])
        );
        assert_eq!(
            spec["egressDeny"],
            json!([
                {"toEntities": ["kube-apiserver"], "toPorts": [{"ports": [
                    {"port": "443", "protocol": "TCP"}, {"port": "6443", "endPort": 6444, "protocol": "TCP"}
                ]}]},
                {"toEntities": ["all"], "toPorts": [{"ports": [{"port": "9", "protocol": "UDP"}]}]}
            ])
        );
    }

    #[test]
    fn a_guardrail_without_rules_renders_nothing() {
        let mut i = intent(vec![]);
        i.guardrails.push(guardrail("empty", vec![], vec![]));
        assert!(render_ok(&i).is_empty());
    }

    #[test]
    fn guardrails_refuse_fqdns_and_own_namespace_peers() {
        let mut i = intent(vec![]);
        i.guardrails.push(guardrail(
            "bad",
            vec![rule("own", vec![own_pods(&[("app", "x")])], vec![])],
            vec![fqdn_rule("a.example.com")],
        ));
        let d = errors(&i);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].message.contains("no namespace of its own"), "{d:?}");
        assert!(d[0].message.contains("guardrail `bad`, ingress deny rule `own`"), "{d:?}");
        assert!(d[1].message.contains("FQDN peer in a guardrail"), "{d:?}");
        assert!(d[1].message.contains("egress deny rule `api`"), "{d:?}");
        assert!(d[1].help.as_deref().is_some_and(|h| h.contains("CIDR")), "{d:?}");
    }

    #[test]
    fn label_keys_too_long_once_cilium_extends_them_are_errors() {
        // Cilium validates `any.io.cilium.k8s.namespace.labels.<key>`: 35 + key ≤ 63.
        let fits = "a".repeat(28);
        let overflows = "a".repeat(29);
        let peer =
            |key: &str| pods(Namespaces::Matching(ns_selector(&[(key, "x")])), LabelSelector::default());
        let ok = allowlist("shop", "web", Some(vec![rule("r", vec![peer(&fits)], vec![])]), None);
        assert_eq!(bodies(vec![ok]).len(), 1);
        // A prefixed key keeps the name part short.
        let prefixed = format!("example.com/{overflows}");
        let ok = allowlist("shop", "web", Some(vec![rule("r", vec![peer(&prefixed)], vec![])]), None);
        assert_eq!(bodies(vec![ok]).len(), 1);
        let bad = allowlist("shop", "web", Some(vec![rule("r", vec![peer(&overflows)], vec![])]), None);
        let d = errors(&intent(vec![bad]));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains(&format!("io.cilium.k8s.namespace.labels.{overflows}")), "{d:?}");
        assert!(d[0].message.contains("ingress rule `r`"), "{d:?}");
        assert!(d[0].help.as_deref().is_some_and(|h| h.contains("calico")), "{d:?}");
        // Pod label keys: `any.<key>` ≤ 63, in subjects of policies and guardrails too.
        let mut p = allowlist("shop", "web", Some(vec![]), None);
        p.subject = ns_selector(&[(&"b".repeat(59), "x")]);
        assert_eq!(bodies(vec![p.clone()]).len(), 1);
        p.subject = ns_selector(&[(&"b".repeat(60), "x")]);
        let mut i = intent(vec![p]);
        let mut g = metadata_guardrail();
        g.pods = ns_selector(&[(&"c".repeat(60), "x")]);
        i.guardrails.push(g);
        let d = errors(&i);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d.iter().all(|d| d.message.contains("the pods of")), "{d:?}");
    }

    #[test]
    fn every_problem_is_reported_in_one_run() {
        let p = allowlist(
            "shop",
            "web",
            Some(vec![rule("in", vec![Peer::Fqdn(Fqdn::Pattern("*.a.com".into()))], vec![])]),
            Some(vec![fqdn_rule("b.example.com")]),
        );
        let mut i = intent(vec![p]);
        i.guardrails.push(guardrail("g", vec![], vec![fqdn_rule("c.example.com")]));
        assert_eq!(errors(&i).len(), 3);
    }

    #[test]
    fn rendering_is_deterministic() {
        let i = rich_intent();
        let a: Vec<String> = render_ok(&i).into_iter().map(|m| m.yaml).collect();
        let b: Vec<String> = render_ok(&i).into_iter().map(|m| m.yaml).collect();
        assert_eq!(a, b);
    }

    /// Every construct the backend emits, for the schema check below.
    fn rich_intent() -> Intent {
        let ports = vec![
            tcp(8080),
            udp(5353),
            PortMatch { protocol: Protocol::Sctp, port: PortSel::Any },
            PortMatch { protocol: Protocol::Tcp, port: PortSel::Range(30000, 30010) },
            PortMatch { protocol: Protocol::Tcp, port: PortSel::Named("metrics".into()) },
        ];
        let everyone = vec![
            pods_in("monitoring", &[("app", "prom")]),
            own_pods(&[("app", "front")]),
            pods(
                Namespaces::Matching(LabelSelector {
                    match_labels: crate::sorted::SortedMap::from([("team".to_string(), "a".to_string())]),
                    match_expressions: vec![expr("env", LabelOperator::NotIn, &["dev"])],
                }),
                LabelSelector::default(),
            ),
            pods(
                Namespaces::Matching(LabelSelector {
                    match_labels: Default::default(),
                    match_expressions: vec![expr("legacy", LabelOperator::DoesNotExist, &[])],
                }),
                LabelSelector::default(),
            ),
            pods(Namespaces::Matching(LabelSelector::default()), LabelSelector::default()),
            cidr("10.0.0.0/8", &["10.1.0.0/16"]),
            cidr("2001:db8::/32", &[]),
            Peer::Entity(Entity::World),
            Peer::Entity(Entity::RemoteNode),
            Peer::ApiServer { cidrs: vec![] },
        ];
        let mut egress_peers = everyone.clone();
        egress_peers.push(Peer::Fqdn(Fqdn::Name("api.example.com".into())));
        egress_peers.push(Peer::Fqdn(Fqdn::Pattern("*.example.com".into())));
        let many: Vec<PortMatch> = (1000..1045).map(tcp).collect();
        let mut web = allowlist(
            "shop",
            "web",
            Some(vec![rule("from-all", everyone.clone(), ports.clone()), rule("anyone", vec![], vec![])]),
            Some(vec![
                dns_rule(),
                rule("to-all", egress_peers, ports),
                rule("many", vec![pods_in("db", &[])], many),
                rule("world", vec![], vec![tcp(443)]),
            ]),
        );
        web.passthrough
            .cilium
            .ingress
            .push(json!({"fromEndpoints": [{"matchLabels": {"app.kubernetes.io/name": "flagger"}}]}));
        let mut passthrough_only = allowlist("shop", "raw", None, None);
        passthrough_only.passthrough.cilium.egress.push(json!({"toEntities": ["host"]}));
        let mut i = intent(vec![
            default_deny("shop", 2000, false),
            web,
            passthrough_only,
            allowlist("shop", "closed", Some(vec![]), Some(vec![])),
            allowlist("shop", "egress-only", None, Some(vec![dns_rule()])),
        ]);
        i.annotations.insert("owner".into(), "platform".into());
        let mut scoped = guardrail(
            "no-db-from-tenants",
            vec![rule("tenants", vec![pods_in("tenant", &[("role", "client")])], vec![tcp(5432)])],
            vec![rule(
                "everywhere",
                everyone
                    .into_iter()
                    .filter(|p| !matches!(p, Peer::Pods { namespaces: Namespaces::Own, .. }))
                    .collect(),
                vec![udp(9)],
            )],
        );
        scoped.namespaces = ns_selector(&[("tier", "data")]);
        scoped.pods = ns_selector(&[("app", "db")]);
        let mut named = guardrail(
            "no-api-from-sandbox",
            vec![],
            vec![rule("api", vec![Peer::ApiServer { cidrs: vec![] }], vec![tcp(443)])],
        );
        named.namespaces = LabelSelector::namespace_named("sandbox");
        i.guardrails = vec![metadata_guardrail(), scoped, named];
        i
    }

    /// Validate a rich render against the official schemas and Cilium's agent-side rules that
    /// the tool knows: `cargo test --lib engine::cilium -- --ignored` (needs the shared
    /// validate-manifests tool; NETPOL_VALIDATE_MANIFESTS overrides its path).
    #[test]
    #[ignore = "needs ../shared/tools/validate-manifests"]
    fn rich_render_passes_the_official_schemas() {
        let r = Cilium.render(&rich_intent()).expect("renders");
        assert_eq!(r.manifests.len(), 8);
        for m in &r.manifests {
            assert_cilium_shape(&m.body()["spec"]);
        }
        crate::engine::testing::assert_schema_valid(&r.manifests, "cilium-rich");
    }
}
