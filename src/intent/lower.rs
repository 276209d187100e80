//! Lowering: typed values → intent. Resolves defaults, the chart shape and the general shape
//! into one model, and checks the invariants that no single field can check.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::exceptions::Exception;
use super::{
    DEFAULT_DENY_ORDER, DenyOrder, Guardrail, Intent, LabelExpression, LabelOperator, LabelSelector,
    Namespaces, Origin, Passthrough, Peer, Policy, PolicyRole, PortMatch, PortSel, Protocol, RawRules, Rule,
    RulePurpose,
};
use crate::error::{Diagnostic, Error, Result};
use crate::values::Loaded;
use crate::values::checked::{PeerSpec, PortSpec, PortValue, check_dns_label, port_match};
use crate::values::tree::{Node, Value as NodeValue};
use crate::values::types::{
    EgressRuleSpec, EgressValues, Endpoint, IngressRuleSpec, InternetValues, PodsRef, PortsOnly,
    RawRulesValues, Switch, Values, Workload,
};
use crate::vocab::source::KeyPath;
use crate::vocab::{Engine, naming};

/// Command-line choices that shape the intent.
#[derive(Clone, Debug, Default)]
pub struct LowerOptions {
    /// `--engine`: wins over the values.
    pub engine: Option<Engine>,
    /// `-n/--namespace`: the namespace of chart-shape values and of workloads without one.
    pub namespace: Option<String>,
    /// `--release` / positional release name: wins over `release:` in the values.
    pub release: Option<String>,
    /// `--accept-weaker-guardrails`.
    pub accept_weaker_guardrails: bool,
}

/// The intent plus what the user should hear about it.
#[derive(Debug)]
pub struct Lowered {
    pub intent: Intent,
    pub engine: Engine,
    pub warnings: Vec<Diagnostic>,
    /// Set when the values switch rendering off (`networkPolicy.enabled: false`).
    pub disabled_reason: Option<String>,
}

/// Release name when neither the command line nor the values give one (as `helm template`).
pub const DEFAULT_RELEASE: &str = "release-name";
/// Chart name of the 004 controller when `nameOverride` is not set.
pub const DEFAULT_CHART_NAME: &str = "controller";
/// The cloud metadata service, denied by the metadata guardrail.
pub const METADATA_CIDRS: [&str; 2] = ["169.254.169.254/32", "fd00:ec2::254/128"];

pub fn lower(loaded: &Loaded, options: &LowerOptions) -> Result<Lowered> {
    let mut cx = Cx { loaded, problems: Vec::new(), warnings: Vec::new() };
    let values = &loaded.values;
    let engine = cx.engine(options);
    let release = options
        .release
        .clone()
        .or_else(|| values.release.as_ref().map(|r| r.0.clone()))
        .unwrap_or_else(|| DEFAULT_RELEASE.to_string());
    if let Err(e) = check_dns_label(&release) {
        return Err(Error::Usage(format!("release name: {e}")));
    }
    let default_namespace = options.namespace.clone().unwrap_or_else(|| "default".to_string());
    if let Err(e) = check_dns_label(&default_namespace) {
        return Err(Error::Usage(format!("--namespace: {e}")));
    }

    let mut labels = values.common_labels.0.clone();
    for (key, value) in
        [("app.kubernetes.io/managed-by", "netpol"), ("app.kubernetes.io/instance", release.as_str())]
    {
        if labels.get(key).is_some_and(|v| v != value) {
            let origin = cx.origin(&KeyPath::default().key("commonLabels").key(key));
            cx.problems.push(
                Diagnostic::new(format!("commonLabels may not set `{key}`: netpol sets it to `{value}`"))
                    .at(&origin),
            );
        }
        labels.insert(key.to_string(), value.to_string());
    }

    let mut policies = Vec::new();
    let mut disabled_reason = None;
    if let Some(chart) = &values.network_policy {
        if chart.enabled {
            cx.chart(values, &release, &default_namespace, &mut policies);
        } else {
            disabled_reason = Some("networkPolicy.enabled is false: nothing to render".to_string());
        }
    }
    cx.workloads(&default_namespace, &mut policies);
    cx.namespaces(&mut policies);
    cx.connections(&mut policies);
    let declared = declared_workloads(values, &default_namespace);
    cx.resolve_named_ports(&declared, &mut policies);
    cx.warnings.extend(super::advice::namespace_allows_widening(&policies));
    cx.warnings.extend(cx.misspelt_namespaces(&policies, &declared, &default_namespace));
    let facts = cluster_facts(values);
    cx.warnings.extend(super::advice::half_connections(&policies, &facts.namespace_labels));
    let guardrails = cx.guardrails();
    let unmanaged = cx.unmanaged(&mut policies);
    cx.apply_guardrail_exclusions(&guardrails, &mut policies);
    cx.check_unique_names(&policies);

    if !cx.problems.is_empty() {
        return Err(Error::Invalid(cx.problems));
    }
    policies.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    if disabled_reason.is_some() && (!policies.is_empty() || !guardrails.is_empty()) {
        // The chart is off but the general shape still renders: say so, render the rest.
        cx.warnings.push(Diagnostic::suspicious(
            "networkPolicy.enabled is false: the controller chart renders nothing",
        ));
        disabled_reason = None;
    }
    Ok(Lowered {
        intent: Intent {
            release,
            labels: labels.into_iter().collect(),
            annotations: values.common_annotations.clone(),
            policies,
            guardrails,
            unmanaged_namespaces: unmanaged,
            accept_weaker_guardrails: options.accept_weaker_guardrails,
            cluster: crate::intent::ClusterFacts { workloads: declared, ..facts },
        },
        engine,
        warnings: cx.warnings,
        disabled_reason,
    })
}

/// Every workload of the values (top-level and per namespace) with its numbered ports.
fn declared_workloads(
    values: &crate::values::types::Values,
    default_namespace: &str,
) -> Vec<crate::intent::DeclaredWorkload> {
    let top = values
        .workloads
        .iter()
        .map(|(name, w)| (w.namespace.as_ref().map_or(default_namespace, |n| n.0.as_str()), name, w));
    let nested = values
        .namespaces
        .iter()
        .flat_map(|(ns, n)| n.workloads.iter().map(move |(name, w)| (ns.as_str(), name, w)));
    let mut out: Vec<crate::intent::DeclaredWorkload> = top
        .chain(nested)
        .map(|(namespace, name, w)| {
            let mut ports: Vec<(String, u16, Protocol)> = w
                .ports
                .iter()
                .filter(|(_, p)| p.enabled)
                .filter_map(|(port_name, p)| match p.port {
                    PortValue::Number(n) => {
                        Some((port_name.clone(), n, p.protocol.map_or(Protocol::Tcp, Protocol::from)))
                    }
                    PortValue::Named(_) => None,
                })
                .collect();
            ports.sort();
            crate::intent::DeclaredWorkload {
                namespace: namespace.to_string(),
                name: name.clone(),
                subject: workload_subject(name, w),
                ports,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    out
}

fn cluster_facts(values: &crate::values::types::Values) -> crate::intent::ClusterFacts {
    let facts = &values.cluster;
    crate::intent::ClusterFacts {
        pod_cidrs: facts.pod_cidr.0.clone(),
        service_cidrs: facts.service_cidr.0.clone(),
        node_cidrs: facts.node_cidrs.0.clone(),
        api_server: facts.api_server.cidrs.iter().map(|c| c.0).collect(),
        api_server_ports: facts
            .api_server
            .ports
            .iter()
            .filter_map(|p| match p {
                PortValue::Number(n) => Some(*n),
                PortValue::Named(_) => None,
            })
            .collect(),
        namespace_labels: values
            .namespaces
            .iter()
            .filter(|(_, n)| !n.labels.0.is_empty())
            .map(|(name, n)| (name.clone(), n.labels.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
            .collect(),
        workloads: Vec::new(),
    }
}

struct Cx<'a> {
    loaded: &'a Loaded,
    problems: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Cx<'_> {
    fn origin(&self, path: &KeyPath) -> Origin {
        self.loaded.origin(path)
    }

    fn engine(&mut self, options: &LowerOptions) -> Engine {
        let values = &self.loaded.values;
        let top = values.engine;
        let chart = values.network_policy.as_ref().and_then(|c| c.engine);
        if let (Some(a), Some(b)) = (top, chart)
            && a != b
            && options.engine.is_none()
        {
            let origin = self.origin(&KeyPath::default().key("networkPolicy").key("engine"));
            self.problems.push(
                Diagnostic::conflict(format!("`engine: {a}` and `networkPolicy.engine: {b}` disagree"))
                    .at(&origin)
                    .with_help("set one of them, or pass --engine"),
            );
        }
        options.engine.or(top).or(chart).unwrap_or(Engine::Kubernetes)
    }

    /// The controller chart of the 004 document, as one workload.
    fn chart(&mut self, values: &Values, release: &str, namespace: &str, out: &mut Vec<Policy>) {
        let Some(chart) = &values.network_policy else { return };
        let np = KeyPath::default().key("networkPolicy");
        let name = values.name_override.as_ref().map_or(DEFAULT_CHART_NAME, |n| n.0.as_str());
        let fullname = match &values.fullname_override {
            Some(f) => f.0.clone(),
            None if release.contains(name) => release.to_string(),
            None => format!("{release}-{name}"),
        };
        let fullname = naming::fit(&fullname);
        let subject = match &values.selector_labels {
            Some(labels) => LabelSelector { match_labels: labels.0.clone(), match_expressions: Vec::new() },
            None => LabelSelector::from_labels([
                ("app.kubernetes.io/name", name),
                ("app.kubernetes.io/instance", release),
            ]),
        };

        let mut ingress = Vec::new();
        let toggles = [
            ("webhook", values.webhook.enabled.unwrap_or(true), &chart.webhook.from, &values.ports.webhook),
            ("metrics", true, &chart.metrics.from, &values.ports.metrics),
            ("gate", values.gate.enabled.unwrap_or(false), &chart.gate.from, &values.ports.gate),
        ];
        for (rule_name, enabled, from, port) in toggles {
            let path = np.key(rule_name).key("from");
            if !enabled {
                if !from.is_empty() {
                    let origin = self.origin(&path);
                    self.warnings.push(
                        Diagnostic::suspicious(format!(
                            "`networkPolicy.{rule_name}.from` is set but `{rule_name}.enabled` is false: no {rule_name} rule is rendered"
                        ))
                        .at(&origin),
                    );
                }
                continue;
            }
            let origin = self.origin(&if from.is_empty() {
                KeyPath::default().key("ports").key(rule_name)
            } else {
                path.clone()
            });
            let ports = vec![port_of(port, Protocol::Tcp)];
            ingress.push(self.rule(rule_name, from, ports, origin, RulePurpose::Plain));
        }
        for (i, extra) in chart.additional_ingress.iter().enumerate() {
            let path = np.key("additionalIngress").index(i);
            ingress.push(self.ingress_rule(&format!("additional-ingress-{i}"), extra, &path));
        }
        let egress = self.egress(&chart.egress, &np.key("egress"), true);
        let policy = Policy {
            name: fullname.clone(),
            namespace: namespace.to_string(),
            role: PolicyRole::Allow,
            subject,
            ingress: Some(ingress),
            egress,
            passthrough: self.passthrough([&chart.cilium, &chart.calico, &chart.cluster_network_policy], &np),
            description: format!("allowlist of the {name} pods of release {release}"),
            origin: self.origin(&np),
        };
        let egress_locked = policy.egress.is_some();
        out.push(policy);
        if chart.default_deny.enabled {
            let path = np.key("defaultDeny");
            out.push(Policy {
                name: naming::join(&[&fullname, "default-deny"]),
                namespace: namespace.to_string(),
                role: PolicyRole::DefaultDeny(self.deny_order(chart.default_deny.order, &path.key("order"))),
                subject: LabelSelector::default(),
                ingress: Some(Vec::new()),
                // Egress joins the default-deny only when the controller's own egress is
                // allowlisted; otherwise the deny would silently cut the controller off.
                egress: egress_locked.then(Vec::new),
                passthrough: Passthrough::default(),
                description: format!("namespace default-deny owned by release {release}"),
                origin: self.origin(&path),
            });
        }
    }

    fn deny_order(&self, order: Option<u32>, path: &KeyPath) -> DenyOrder {
        match order {
            Some(value) => DenyOrder { value, written_at: Some(self.origin(path)) },
            None => DenyOrder { value: DEFAULT_DENY_ORDER, written_at: None },
        }
    }

    /// Top-level workloads. Each lowers on its own, so a large set is split over two threads;
    /// results and diagnostics are joined in workload order, as a single thread would give them.
    fn workloads(&mut self, default_namespace: &str, out: &mut Vec<Policy>) {
        let all: Vec<(&String, &Workload)> = self.loaded.values.workloads.iter().collect();
        let loaded = self.loaded;
        let parts = crate::parallel::in_halves(all.len(), crate::parallel::PARALLEL_FROM, |range| {
            let mut cx = Cx { loaded, problems: Vec::new(), warnings: Vec::new() };
            let mut policies = Vec::new();
            for (name, w) in all.get(range).unwrap_or_default() {
                cx.workload(name, w, default_namespace, &mut policies);
            }
            (policies, cx.problems, cx.warnings)
        });
        for (policies, problems, warnings) in parts {
            out.extend(policies);
            self.problems.extend(problems);
            self.warnings.extend(warnings);
        }
    }

    fn workload(&mut self, name: &str, w: &Workload, default_namespace: &str, out: &mut Vec<Policy>) {
        let path = KeyPath::default().key("workloads").key(name);
        self.workload_at(name, w, default_namespace, &path, out);
    }

    fn workload_at(
        &mut self,
        name: &str,
        w: &Workload,
        default_namespace: &str,
        path: &KeyPath,
        out: &mut Vec<Policy>,
    ) {
        let path = path.clone();
        if let Err(e) = check_dns_label(name) {
            let origin = self.origin(&path);
            self.problems.push(Diagnostic::new(format!("workload name: {e}")).at(&origin));
            return;
        }
        let namespace = w.namespace.as_ref().map_or(default_namespace, |n| n.0.as_str()).to_string();
        if w.pod_labels.is_some() && w.pod_selector.is_some() {
            let origin = self.origin(&path.key("podSelector"));
            self.problems
                .push(Diagnostic::new("give either `podLabels` or `podSelector`, not both").at(&origin));
        }
        let subject = workload_subject(name, w);
        let mut ingress = Vec::new();
        if w.allow_same_release {
            let origin = self.origin(&path.key("allowSameRelease"));
            match subject.match_labels.get(RELEASE_LABEL) {
                Some(release) => ingress.push(Rule {
                    peers: vec![Peer::Pods {
                        namespaces: Namespaces::Own,
                        pods: LabelSelector::from_labels([(RELEASE_LABEL, release.as_str())]),
                    }],
                    ports: Vec::new(),
                    name: "same-release".to_string(),
                    purpose: RulePurpose::Plain,
                    origin,
                }),
                None => self.problems.push(
                    Diagnostic::new(format!(
                        "allowSameRelease needs the workload's podLabels to include `{RELEASE_LABEL}`"
                    ))
                    .at(&origin),
                ),
            }
        }
        for (port_name, port) in &w.ports {
            let port_path = path.key("ports").key(port_name);
            if let Err(e) = check_dns_label(port_name) {
                let origin = self.origin(&port_path);
                self.problems.push(Diagnostic::new(format!("port key: {e}")).at(&origin));
                continue;
            }
            if !port.enabled {
                continue;
            }
            let protocol = port.protocol.unwrap_or(Protocol::Tcp);
            let matched = match port_match(protocol, Some(port.port.clone()), port.end_port) {
                Ok(m) => m,
                Err(e) => {
                    let origin = self.origin(&port_path);
                    self.problems.push(Diagnostic::new(e).at(&origin));
                    continue;
                }
            };
            let origin = self.origin(&port_path);
            ingress.push(self.rule(port_name, &port.from, vec![matched], origin, RulePurpose::Plain));
        }
        for (i, extra) in w.ingress.iter().enumerate() {
            ingress.push(self.ingress_rule(&format!("ingress-{i}"), extra, &path.key("ingress").index(i)));
        }
        let egress = self.egress(&w.egress, &path.key("egress"), false);
        let speaks_ingress = !ingress.is_empty()
            || !w.cilium.ingress.is_empty()
            || !w.calico.ingress.is_empty()
            || !w.cluster_network_policy.ingress.is_empty();
        if !speaks_ingress
            && egress.is_none()
            && w.cilium.egress.is_empty()
            && w.calico.egress.is_empty()
            && w.cluster_network_policy.egress.is_empty()
        {
            let origin = self.origin(&path);
            self.warnings.push(
                Diagnostic::suspicious(format!(
                    "workload `{name}` has no ports, ingress rules or egress: it renders no policy"
                ))
                .at(&origin),
            );
        }
        out.push(Policy {
            name: name.to_string(),
            namespace,
            role: PolicyRole::Allow,
            subject,
            ingress: speaks_ingress.then_some(ingress),
            egress,
            passthrough: self.passthrough([&w.cilium, &w.calico, &w.cluster_network_policy], &path),
            description: format!("allowlist of workload {name}"),
            origin: self.origin(&path),
        });
    }

    fn ingress_rule(&mut self, name: &str, spec: &IngressRuleSpec, path: &KeyPath) -> Rule {
        let ports = spec.ports.iter().map(|p: &PortSpec| p.0.clone()).collect();
        let origin = self.origin(path);
        self.rule(name, &spec.from, ports, origin, RulePurpose::Plain)
    }

    fn egress_rule(&mut self, name: &str, spec: &EgressRuleSpec, path: &KeyPath) -> Rule {
        let ports = spec.ports.iter().map(|p: &PortSpec| p.0.clone()).collect();
        let origin = self.origin(path);
        self.rule(name, &spec.to, ports, origin, RulePurpose::Plain)
    }

    fn rule(
        &mut self,
        name: &str,
        peers: &[PeerSpec],
        mut ports: Vec<PortMatch>,
        origin: Origin,
        purpose: RulePurpose,
    ) -> Rule {
        let api = &self.loaded.values.cluster.api_server;
        let api_cidrs: Vec<IpNet> = api.cidrs.iter().map(|c| c.0).collect();
        let mut out: Vec<Peer> = peers
            .iter()
            .map(|p| match &p.0 {
                // The user named the API server: fill in its addresses for the engines that need them.
                Peer::ApiServer { cidrs } if cidrs.is_empty() => Peer::ApiServer { cidrs: api_cidrs.clone() },
                // An ipBlock inside the API server's endpoint addresses is the API server: Cilium
                // can only reach an in-cluster API server through its entity.
                Peer::Cidr { cidr, except }
                    if except.is_empty() && api_cidrs.iter().any(|a| a.contains(cidr)) =>
                {
                    Peer::ApiServer { cidrs: vec![*cidr] }
                }
                other => other.clone(),
            })
            .collect();
        // "Everyone" and an empty peer list mean the same; one spelling keeps engines exact.
        if out.contains(&Peer::Entity(super::Entity::All)) {
            out.clear();
        }
        // Unstable sorts need no scratch buffer (half a million-peer list); both types are
        // totally ordered, so equal elements are identical and the order is the stable one.
        out.sort_unstable();
        out.dedup();
        ports.sort_unstable();
        ports.dedup();
        Rule { peers: out, ports, name: naming::fit(name), purpose, origin }
    }

    /// `egress:` of a workload or of the chart: `None` when not enabled.
    fn egress(&mut self, e: &EgressValues, path: &KeyPath, needs_api_server: bool) -> Option<Vec<Rule>> {
        self.egress_with(e, path, needs_api_server, DnsExpected::Yes)
    }

    /// `egress`, saying whether these rules are where the pods' DNS would be (a namespace's
    /// `allow.apiServer` is one allow among others, and DNS is an allow of its own there).
    fn egress_with(
        &mut self,
        e: &EgressValues,
        path: &KeyPath,
        needs_api_server: bool,
        dns_expected: DnsExpected,
    ) -> Option<Vec<Rule>> {
        if !e.enabled {
            if !e.to.is_empty() || e.api_server {
                let origin = self.origin(path);
                self.warnings.push(
                    Diagnostic::suspicious("egress rules are set but `egress.enabled` is false: egress is not restricted and the rules are not rendered").at(&origin),
                );
            }
            return None;
        }
        let cluster = &self.loaded.values.cluster;
        let mut rules = Vec::new();
        if e.dns {
            let namespace = e.dns_namespace.as_ref().unwrap_or(&cluster.dns.namespace);
            let mut peers = vec![Peer::Pods {
                namespaces: Namespaces::Matching(LabelSelector::namespace_named(&namespace.0)),
                pods: LabelSelector {
                    match_labels: cluster.dns.pod_labels.0.clone(),
                    match_expressions: Vec::new(),
                },
            }];
            peers.extend(
                cluster.dns.node_local_cache.iter().map(|c| Peer::Cidr { cidr: c.0, except: Vec::new() }),
            );
            rules.push(Rule {
                peers,
                ports: vec![
                    PortMatch { protocol: Protocol::Udp, port: PortSel::Number(53) },
                    PortMatch { protocol: Protocol::Tcp, port: PortSel::Number(53) },
                ],
                name: "dns".to_string(),
                purpose: RulePurpose::Dns,
                origin: self.origin(&path.key("dns")),
            });
        } else if dns_expected == DnsExpected::Yes {
            let origin = self.origin(&path.key("dns"));
            self.warnings.push(
                Diagnostic::suspicious(
                    "egress is restricted without DNS: every name lookup from these pods will fail",
                )
                .at(&origin)
                .with_help("set `dns: true` unless the pods really resolve nothing"),
            );
        }
        if e.api_server {
            let ports = cluster.api_server.ports.iter().map(|p| port_of(p, Protocol::Tcp)).collect();
            rules.push(Rule {
                peers: vec![Peer::ApiServer {
                    cidrs: cluster.api_server.cidrs.iter().map(|c| c.0).collect(),
                }],
                ports,
                name: "api-server".to_string(),
                purpose: RulePurpose::Plain,
                origin: self.origin(&path.key("apiServer")),
            });
        }
        for (i, spec) in e.to.iter().enumerate() {
            rules.push(self.egress_rule(&format!("egress-{i}"), spec, &path.key("to").index(i)));
        }
        // Without `cluster.apiServer.cidrs` an ipBlock may well be the API server: only warn
        // when no rule could possibly reach it.
        let api_unknown = cluster.api_server.cidrs.is_empty();
        let reaches_api = rules.iter().any(|r| {
            r.peers.is_empty()
                || r.peers.iter().any(|p| match p {
                    Peer::ApiServer { .. } | Peer::Entity(super::Entity::All | super::Entity::Cluster) => {
                        true
                    }
                    Peer::Cidr { .. } => api_unknown,
                    _ => false,
                })
        });
        if needs_api_server && !reaches_api {
            let origin = self.origin(path);
            self.warnings.push(
                Diagnostic::suspicious("egress is restricted but no rule reaches the API server: the controller will be cut off from the cluster")
                    .at(&origin)
                    .with_help("add the API server's endpoint CIDR to `egress.to` (and set cluster.apiServer.cidrs to it), or set `egress.apiServer: true`"),
            );
        }
        Some(rules)
    }

    fn passthrough(&mut self, raw: [&RawRulesValues; 3], path: &KeyPath) -> Passthrough {
        let [cilium, calico, cnp] = raw;
        self.check_passthrough(path);
        let convert = |cx: &Self, r: &RawRulesValues, key: &str| RawRules {
            ingress: r.ingress.iter().map(|j| j.0.clone()).collect(),
            egress: r.egress.iter().map(|j| j.0.clone()).collect(),
            origin: cx.origin(&path.key(key)),
        };
        Passthrough {
            cilium: convert(self, cilium, "cilium"),
            calico: convert(self, calico, "calico"),
            cluster_network_policy: convert(self, cnp, "clusterNetworkPolicy"),
        }
    }

    /// Passthrough rules are merged verbatim, so they are checked first with the model each
    /// engine's evaluator reads that kind with, and each direction takes only its own peer
    /// fields (Cilium `fromEndpoints` in ingress, `toEndpoints` in egress; ClusterNetworkPolicy
    /// `from` and `to`): a misspelt field would otherwise reach the API server.
    fn check_passthrough(&mut self, path: &KeyPath) {
        type Check = fn(&Node, &KeyPath) -> std::result::Result<(), crate::values::de::DeError>;
        let engines: [(&str, Check); 3] = [
            ("cilium", crate::wire::cilium::check_passthrough_rule),
            ("calico", crate::wire::calico::check_passthrough_rule),
            ("clusterNetworkPolicy", crate::wire::cluster_network_policy::check_passthrough_rule),
        ];
        for (key, check) in engines {
            for dir in ["ingress", "egress"] {
                let list_path = path.key(key).key(dir);
                let Some(Node { value: NodeValue::Seq(rules), .. }) = self.loaded.root.at(&list_path.0)
                else {
                    continue;
                };
                for (i, rule) in rules.iter().enumerate() {
                    let rule_path = list_path.index(i);
                    if let Err(e) = check(rule, &rule_path) {
                        self.problems.push(e.into_diagnostic(&self.loaded.sources));
                        continue;
                    }
                    let NodeValue::Map(fields) = &rule.value else { continue };
                    for (field, _) in fields {
                        let name: &str = &field.name;
                        let other = match (key, dir) {
                            ("cilium", "ingress") => name.starts_with("to") && name != "toPorts",
                            ("cilium", _) => name.starts_with("from"),
                            ("clusterNetworkPolicy", "ingress") => name == "to",
                            ("clusterNetworkPolicy", _) => name == "from",
                            _ => false,
                        };
                        if other {
                            let origin = self.loaded.sources.origin(field.loc, &rule_path.key(name));
                            let (wrong, right) =
                                if dir == "ingress" { ("egress", "from") } else { ("ingress", "to") };
                            self.problems.push(
                                Diagnostic::new(format!(
                                    "`{name}` is a field of {wrong} rules, not of {dir} rules"
                                ))
                                .at(&origin)
                                .with_help(format!("{dir} rules name their peers with `{right}…` fields")),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Namespace-level policies (`namespaces:`) and the workloads declared inside namespaces.
    fn namespaces(&mut self, out: &mut Vec<Policy>) {
        let values = &self.loaded.values;
        for (ns, nsv) in &values.namespaces {
            let path = KeyPath::default().key("namespaces").key(ns);
            if let Err(e) = check_dns_label(ns) {
                let origin = self.origin(&path);
                self.problems.push(Diagnostic::new(format!("namespace name: {e}")).at(&origin));
                continue;
            }
            if nsv.unmanaged {
                continue;
            }
            for (name, workload) in &nsv.workloads {
                let wpath = path.key("workloads").key(name);
                if let Some(other) = workload.namespace.as_ref().filter(|n| n.0 != *ns) {
                    let origin = self.origin(&wpath.key("namespace"));
                    self.problems.push(
                        Diagnostic::conflict(format!(
                            "workload `{name}` is declared under namespace `{ns}` but sets namespace `{}`",
                            other.0
                        ))
                        .at(&origin),
                    );
                    continue;
                }
                self.workload_at(name, workload, ns, &wpath, out);
            }
            let deny_out = nsv.default_deny.as_ref().is_some_and(|dd| dd.egress);
            if let Some(dd) = &nsv.default_deny
                && (dd.ingress || dd.egress)
            {
                let dd_path = path.key("defaultDeny");
                out.push(Policy {
                    name: "default-deny".to_string(),
                    namespace: ns.clone(),
                    role: PolicyRole::DefaultDeny(self.deny_order(dd.order, &dd_path.key("order"))),
                    subject: LabelSelector::default(),
                    ingress: dd.ingress.then(Vec::new),
                    egress: dd.egress.then(Vec::new),
                    passthrough: Passthrough::default(),
                    description: format!("default-deny of namespace {ns}"),
                    origin: self.origin(&dd_path),
                });
            }
            let allow = &nsv.allow;
            let allow_path = path.key("allow");
            let namespace_policy = |cx: &Self,
                                    name: &str,
                                    key: &str,
                                    ingress: Option<Vec<Rule>>,
                                    egress: Option<Vec<Rule>>,
                                    what: &str| Policy {
                name: name.to_string(),
                namespace: ns.clone(),
                role: PolicyRole::Allow,
                subject: LabelSelector::default(),
                ingress,
                egress,
                passthrough: Passthrough::default(),
                description: format!("{what} for every pod of namespace {ns}"),
                origin: cx.origin(&allow_path.key(key)),
            };
            if allow.dns {
                let egress = self.egress(
                    &EgressValues { enabled: true, ..EgressValues::default() },
                    &allow_path,
                    false,
                );
                out.push(namespace_policy(self, "allow-dns", "dns", None, egress, "DNS egress"));
            }
            if allow.same_namespace {
                let origin = self.origin(&allow_path.key("sameNamespace"));
                let same = Rule {
                    peers: vec![Peer::Pods { namespaces: Namespaces::Own, pods: LabelSelector::default() }],
                    ports: Vec::new(),
                    name: "same-namespace".to_string(),
                    purpose: RulePurpose::Plain,
                    origin,
                };
                // Egress to the namespace is only worth a rule where egress is denied; a rule
                // there would otherwise restrict the namespace's egress to itself.
                let egress = deny_out.then(|| vec![same.clone()]);
                out.push(namespace_policy(
                    self,
                    "allow-same-namespace",
                    "sameNamespace",
                    Some(vec![same]),
                    egress,
                    "traffic inside the namespace",
                ));
            }
            let facts = &values.cluster;
            // The gateway: the CNI's own proxy (Cilium's `ingress` identity) and, where the
            // values say, the gateway's pods; an engine without the proxy needs the pods.
            let gateway: Vec<Peer> =
                std::iter::once(Peer::GatewayProxy).chain(facts.gateway.clone().map(pods_of)).collect();
            let sources: [(&str, &str, &Switch<PortsOnly>, Vec<Peer>); 3] = [
                (
                    "allow-from-ingress-controller",
                    "fromIngressController",
                    &allow.from_ingress_controller,
                    vec![pods_of(
                        facts.ingress_controller.clone().unwrap_or_else(PodsRef::ingress_controller),
                    )],
                ),
                ("allow-from-gateway", "fromGateway", &allow.from_gateway, gateway),
                (
                    "allow-from-monitoring",
                    "fromMonitoring",
                    &allow.from_monitoring,
                    vec![pods_of(facts.monitoring.clone().unwrap_or_else(PodsRef::monitoring))],
                ),
            ];
            for (name, key, switch, peers) in sources {
                let Switch::On(options) = switch else { continue };
                let origin = self.origin(&allow_path.key(key));
                let mut ports: Vec<PortMatch> = options.ports.iter().map(|p| p.0.clone()).collect();
                ports.sort();
                let rule_name = key_to_name(key);
                let rule = Rule {
                    peers,
                    ports,
                    name: format!("from-{rule_name}"),
                    purpose: RulePurpose::Plain,
                    origin,
                };
                out.push(namespace_policy(
                    self,
                    name,
                    key,
                    Some(vec![rule]),
                    None,
                    &format!("ingress from the {rule_name}"),
                ));
            }
            if !allow.from_namespaces.is_empty() {
                // An allow that a guardrail always denies would render and never take effect.
                for (i, from) in allow.from_namespaces.iter().enumerate() {
                    let at = allow_path.key("fromNamespaces").index(i);
                    if let Some(d) = self.crosses_tenants(&from.0, ns, &at) {
                        self.problems.push(d);
                    }
                }
                let origin = self.origin(&allow_path.key("fromNamespaces"));
                let peers = allow
                    .from_namespaces
                    .iter()
                    .map(|n| Peer::Pods {
                        namespaces: Namespaces::Matching(LabelSelector::namespace_named(&n.0)),
                        pods: LabelSelector::default(),
                    })
                    .collect();
                let rule = Rule {
                    peers,
                    ports: Vec::new(),
                    name: "from-namespaces".into(),
                    purpose: RulePurpose::Plain,
                    origin,
                };
                out.push(namespace_policy(
                    self,
                    "allow-from-namespaces",
                    "fromNamespaces",
                    Some(vec![rule]),
                    None,
                    "ingress from other namespaces",
                ));
            }
            if let Switch::On(internet) = &allow.internet
                && let Some(rule) = self.internet_rule(internet, &allow_path.key("internet"))
            {
                out.push(namespace_policy(
                    self,
                    "allow-internet",
                    "internet",
                    None,
                    Some(vec![rule]),
                    "internet egress",
                ));
            }
            if allow.api_server {
                let egress = self.egress_with(
                    &EgressValues { enabled: true, dns: false, api_server: true, ..EgressValues::default() },
                    &allow_path,
                    false,
                    DnsExpected::No,
                );
                out.push(namespace_policy(
                    self,
                    "allow-api-server",
                    "apiServer",
                    None,
                    egress,
                    "API server egress",
                ));
            }
            let ingress: Vec<Rule> = nsv
                .ingress
                .iter()
                .enumerate()
                .map(|(i, r)| self.ingress_rule(&format!("ingress-{i}"), r, &path.key("ingress").index(i)))
                .collect();
            let egress: Vec<Rule> = nsv
                .egress
                .iter()
                .enumerate()
                .map(|(i, r)| self.egress_rule(&format!("egress-{i}"), r, &path.key("egress").index(i)))
                .collect();
            if !ingress.is_empty() || !egress.is_empty() {
                out.push(Policy {
                    name: "allow-namespace-rules".to_string(),
                    namespace: ns.clone(),
                    role: PolicyRole::Allow,
                    subject: LabelSelector::default(),
                    ingress: (!ingress.is_empty()).then_some(ingress),
                    egress: (!egress.is_empty()).then_some(egress),
                    passthrough: Passthrough::default(),
                    description: format!("namespace-wide rules of {ns}"),
                    origin: self.origin(&path),
                });
            }
        }
    }

    /// Internet egress: each CIDR minus the cluster's own ranges (of both address families)
    /// and the metadata service.
    fn internet_rule(&mut self, internet: &InternetValues, path: &KeyPath) -> Option<Rule> {
        let facts = &self.loaded.values.cluster;
        let origin = self.origin(path);
        if facts.pod_cidr.0.is_empty() || facts.service_cidr.0.is_empty() {
            self.problems.push(
                Diagnostic::new(
                    "internet egress must exclude the cluster's own ranges, and they are not set",
                )
                .at(&origin)
                .with_help("set cluster.podCIDR and cluster.serviceCIDR (and cluster.nodeCIDRs)"),
            );
            return None;
        }
        let mut cluster: Vec<IpNet> = facts.pod_cidr.0.clone();
        cluster.extend(facts.service_cidr.0.iter().copied());
        cluster.extend(facts.node_cidrs.0.iter().copied());
        cluster.extend(metadata_nets());
        let cidrs: Vec<IpNet> = if internet.cidrs.is_empty() {
            vec![IpNet::V4(ipnet::Ipv4Net::default())]
        } else {
            internet.cidrs.iter().map(|c| c.0).collect()
        };
        let declares_v6 =
            facts.pod_cidr.0.iter().chain(&facts.service_cidr.0).any(|c| matches!(c, IpNet::V6(_)));
        let mut peers = Vec::new();
        for cidr in cidrs {
            if let Some(inside) = cluster.iter().find(|c| c.contains(&cidr)) {
                self.problems.push(
                    Diagnostic::new(format!("internet CIDR {cidr} lies inside the cluster range {inside}"))
                        .at(&origin),
                );
                continue;
            }
            if matches!(cidr, IpNet::V6(_)) && !declares_v6 {
                self.warnings.push(
                    Diagnostic::suspicious(format!(
                        "internet CIDR {cidr} is IPv6 but the values declare no IPv6 cluster range, so \
                         IPv6 pod and service addresses are not excluded from it"
                    ))
                    .at(&origin)
                    .with_help("on a dual-stack cluster list both ranges: `podCIDR: [10.244.0.0/16, fd00:10:244::/56]` (and serviceCIDR)"),
                );
            }
            let except: Vec<IpNet> = cluster.iter().filter(|c| cidr.contains(*c)).copied().collect();
            // Only the outermost exclusions: an exclusion inside another one is redundant.
            let mut outer: Vec<IpNet> = except
                .iter()
                .filter(|e| !except.iter().any(|o| o != *e && o.contains(*e)))
                .copied()
                .collect();
            outer.sort();
            outer.dedup();
            peers.push(Peer::Cidr { cidr, except: outer });
        }
        let mut ports: Vec<PortMatch> = internet.ports.iter().map(|p| p.0.clone()).collect();
        ports.sort();
        Some(Rule { peers, ports, name: "internet".into(), purpose: RulePurpose::Plain, origin })
    }

    /// Cross-namespace connections: an egress policy at the source, an ingress policy at the
    /// destination, each selecting only the pods of its side.
    fn connections(&mut self, out: &mut Vec<Policy>) {
        let values = &self.loaded.values;
        for (i, c) in values.connections.iter().enumerate() {
            let path = KeyPath::default().key("connections").index(i);
            let name = c.name.as_ref().map_or_else(|| format!("connection-{i}"), |n| n.0.clone());
            let from = self.endpoint_selector(&c.from, &path.key("from"));
            let to = self.endpoint_selector(&c.to, &path.key("to"));
            let (Some(from), Some(to)) = (from, to) else { continue };
            if let Some(diagnostic) = self.crosses_tenants(&c.from.namespace.0, &c.to.namespace.0, &path) {
                self.problems.push(diagnostic);
                continue;
            }
            let mut ports: Vec<PortMatch> = c.ports.iter().map(|p| p.0.clone()).collect();
            ports.sort();
            ports.dedup();
            let origin = self.origin(&path);
            let side = |ns: &str, pods: &LabelSelector, rule_name: String| Rule {
                peers: vec![Peer::Pods {
                    namespaces: Namespaces::Matching(LabelSelector::namespace_named(ns)),
                    pods: pods.clone(),
                }],
                ports: ports.clone(),
                name: naming::fit(&rule_name),
                purpose: RulePurpose::Plain,
                origin: origin.clone(),
            };
            let egress = side(&c.to.namespace.0, &to, format!("to-{}", c.to.namespace.0));
            let ingress = side(&c.from.namespace.0, &from, format!("from-{}", c.from.namespace.0));
            out.push(Policy {
                name: naming::join(&[&name, "to", &c.to.namespace.0]),
                namespace: c.from.namespace.0.clone(),
                role: PolicyRole::Allow,
                subject: from,
                ingress: None,
                egress: Some(vec![egress]),
                passthrough: Passthrough::default(),
                description: format!("connection {name}: egress side"),
                origin: origin.clone(),
            });
            out.push(Policy {
                name: naming::join(&[&name, "from", &c.from.namespace.0]),
                namespace: c.to.namespace.0.clone(),
                role: PolicyRole::Allow,
                subject: to,
                ingress: Some(vec![ingress]),
                egress: None,
                passthrough: Passthrough::default(),
                description: format!("connection {name}: ingress side"),
                origin,
            });
        }
    }

    fn endpoint_selector(&mut self, e: &Endpoint, path: &KeyPath) -> Option<LabelSelector> {
        let values = &self.loaded.values;
        match (&e.workload, &e.pod_labels) {
            (Some(_), Some(_)) => {
                let origin = self.origin(path);
                self.problems
                    .push(Diagnostic::new("give either `workload` or `podLabels`, not both").at(&origin));
                None
            }
            (None, Some(labels)) => {
                Some(LabelSelector { match_labels: labels.0.clone(), match_expressions: Vec::new() })
            }
            (None, None) => Some(LabelSelector::default()),
            (Some(name), None) => {
                let in_namespace = values.namespaces.get(&e.namespace.0).and_then(|n| n.workloads.get(name));
                let top = values
                    .workloads
                    .get(name)
                    .filter(|w| w.namespace.as_ref().is_some_and(|n| n.0 == e.namespace.0));
                match in_namespace.or(top) {
                    Some(w) => Some(workload_subject(name, w)),
                    None => {
                        let namespace = &e.namespace.0;
                        // Every declared workload with its namespace: a near name in this
                        // namespace is a typo of the workload; the same name elsewhere, of the
                        // namespace.
                        let mut declared: Vec<(&str, &str)> = values
                            .namespaces
                            .iter()
                            .flat_map(|(ns, n)| n.workloads.keys().map(move |w| (ns.as_str(), w.as_str())))
                            .chain(values.workloads.iter().filter_map(|(w, v)| {
                                v.namespace.as_ref().map(|ns| (ns.0.as_str(), w.as_str()))
                            }))
                            .collect();
                        declared.sort_unstable();
                        let here: Vec<&str> =
                            declared.iter().filter(|(ns, _)| ns == namespace).map(|(_, w)| *w).collect();
                        let elsewhere: Vec<&str> =
                            declared.iter().filter(|(_, w)| w == name).map(|(ns, _)| *ns).collect();
                        let (key, help) = match (
                            crate::values::de::close_match(name, &here),
                            elsewhere.first(),
                        ) {
                            (Some(near), _) => ("workload", Some(format!("did you mean `{near}`?"))),
                            (None, Some(ns)) => (
                                "namespace",
                                Some(format!(
                                    "workload `{name}` is declared in namespace `{ns}`; did you mean `namespace: {ns}`?"
                                )),
                            ),
                            (None, None) if here.is_empty() => ("workload", None),
                            (None, None) => (
                                "workload",
                                Some(format!(
                                    "workloads of namespace `{namespace}`: {}",
                                    here.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ")
                                )),
                            ),
                        };
                        let origin = self.origin(&path.key(key));
                        let mut d = Diagnostic::unknown_name(format!(
                            "no workload `{name}` in namespace `{namespace}`"
                        ))
                        .at(&origin);
                        if let Some(help) = help {
                            d = d.with_help(help);
                        }
                        self.problems.push(d);
                        None
                    }
                }
            }
        }
    }

    /// A named port takes the protocol of the port it names, so that every engine (including
    /// ClusterNetworkPolicy, whose named ports have no protocol) matches the same traffic. A
    /// name declared with two protocols is refused; a name close to a declared one but declared
    /// nowhere is a typo.
    fn resolve_named_ports(&mut self, declared: &[crate::intent::DeclaredWorkload], policies: &mut [Policy]) {
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

    /// The tenant of a namespace: the value of `cluster.tenantLabel` among its labels.
    fn tenant_of(&self, ns: &str) -> Option<String> {
        let values = &self.loaded.values;
        let label = values.cluster.tenant_label.as_ref()?;
        values.namespaces.get(ns)?.labels.0.get(label).cloned()
    }

    /// Peer and connection namespaces that look like slips of a namespace the values or the
    /// cluster facts name.
    fn misspelt_namespaces(
        &self,
        policies: &[Policy],
        declared: &[crate::intent::DeclaredWorkload],
        default_namespace: &str,
    ) -> Vec<Diagnostic> {
        let values = &self.loaded.values;
        let facts = &values.cluster;
        let mut known: BTreeSet<String> =
            super::advice::WELL_KNOWN_NAMESPACES.iter().map(|n| n.to_string()).collect();
        known.insert(default_namespace.to_string());
        known.extend(values.namespaces.keys().cloned());
        known.extend(declared.iter().map(|w| w.namespace.clone()));
        known.insert(facts.dns.namespace.0.clone());
        let pods_refs = [
            facts.ingress_controller.clone().unwrap_or_else(PodsRef::ingress_controller),
            facts.monitoring.clone().unwrap_or_else(PodsRef::monitoring),
        ];
        known.extend(pods_refs.iter().chain(facts.gateway.iter()).map(|p| p.namespace.0.clone()));
        known.extend(values.guardrails.system_namespaces.iter().map(|n| n.0.clone()));
        known.extend(values.unmanaged_namespaces.iter().map(|n| n.0.clone()));
        let mut ends = Vec::new();
        for (i, c) in values.connections.iter().enumerate() {
            let path = KeyPath::default().key("connections").index(i);
            for (side, end) in [("from", &c.from), ("to", &c.to)] {
                ends.push((end.namespace.0.clone(), self.origin(&path.key(side).key("namespace"))));
            }
        }
        super::advice::misspelt_namespaces(policies, &ends, &known)
    }

    fn crosses_tenants(&self, from: &str, to: &str, path: &KeyPath) -> Option<Diagnostic> {
        if !self.loaded.values.guardrails.deny_cross_tenant {
            return None;
        }
        match (self.tenant_of(from), self.tenant_of(to)) {
            (Some(a), Some(b)) if a != b => Some(
                Diagnostic::conflict(format!(
                    "this allows traffic from tenant `{a}` to tenant `{b}`, which guardrails.denyCrossTenant always denies"
                ))
                .at(&self.origin(path))
                .with_help("guardrails cannot be overridden by namespace or application policy"),
            ),
            _ => None,
        }
    }

    fn guardrails(&mut self) -> Vec<Guardrail> {
        let values = &self.loaded.values;
        let g = &values.guardrails;
        let path = KeyPath::default().key("guardrails");
        let mut out = Vec::new();
        if g.deny_metadata_service {
            let origin = self.origin(&path.key("denyMetadataService"));
            let peers =
                metadata_nets().into_iter().map(|cidr| Peer::Cidr { cidr, except: Vec::new() }).collect();
            out.push(Guardrail {
                name: "deny-metadata-service".to_string(),
                namespaces: LabelSelector::default(),
                pods: LabelSelector::default(),
                ingress_deny: Vec::new(),
                egress_deny: vec![deny_rule("metadata-service", peers, &origin)],
                description: "no pod may reach the cloud metadata service".to_string(),
                origin,
            });
        }
        let needs_tenants = !g.system_namespaces.is_empty() || g.deny_cross_tenant;
        let label = match (&values.cluster.tenant_label, needs_tenants) {
            (_, false) => return out,
            (None, true) => {
                let origin = self.origin(&path);
                self.problems.push(
                    Diagnostic::new("tenant guardrails need to know which namespaces are tenants")
                        .at(&origin)
                        .with_help("set cluster.tenantLabel (e.g. `netpol.io/tenant`) and give tenant namespaces that label under namespaces.<name>.labels"),
                );
                return out;
            }
            (Some(label), true) => label.clone(),
        };
        if let Err(e) = crate::values::checked::check_label_key(&label) {
            let origin = self.origin(&KeyPath::default().key("cluster").key("tenantLabel"));
            self.problems.push(Diagnostic::new(e).at(&origin));
            return out;
        }
        let tenants = selector_of(vec![expression(&label, LabelOperator::Exists, &[])]);
        if !g.system_namespaces.is_empty() {
            let origin = self.origin(&path.key("systemNamespaces"));
            let names: Vec<&str> = g.system_namespaces.iter().map(|n| n.0.as_str()).collect();
            let system =
                selector_of(vec![expression(super::NAMESPACE_NAME_LABEL, LabelOperator::In, &names)]);
            out.push(Guardrail {
                name: "system-namespaces-deny-tenants".to_string(),
                namespaces: system.clone(),
                pods: LabelSelector::default(),
                ingress_deny: vec![deny_rule("from-tenants", vec![all_pods_of(tenants.clone())], &origin)],
                egress_deny: Vec::new(),
                description: "system namespaces accept nothing from tenant namespaces".to_string(),
                origin: origin.clone(),
            });
            out.push(Guardrail {
                name: "tenants-deny-system-namespaces".to_string(),
                namespaces: tenants,
                pods: LabelSelector::default(),
                ingress_deny: Vec::new(),
                egress_deny: vec![deny_rule("to-system-namespaces", vec![all_pods_of(system)], &origin)],
                description: "tenant namespaces may not reach system namespaces".to_string(),
                origin,
            });
        }
        if g.deny_cross_tenant {
            let origin = self.origin(&path.key("denyCrossTenant"));
            let tenant_values: BTreeSet<String> =
                values.namespaces.values().filter_map(|n| n.labels.0.get(&label).cloned()).collect();
            if tenant_values.is_empty() {
                self.warnings.push(
                    Diagnostic::suspicious(format!(
                        "guardrails.denyCrossTenant is on but no namespace carries the tenant label `{label}`"
                    ))
                    .at(&origin),
                );
            }
            for tenant in tenant_values {
                let others = selector_of(vec![
                    expression(&label, LabelOperator::Exists, &[]),
                    expression(&label, LabelOperator::NotIn, &[tenant.as_str()]),
                ]);
                out.push(Guardrail {
                    name: naming::join(&["isolate-tenant", &tenant]),
                    namespaces: LabelSelector::from_labels([(label.as_str(), tenant.as_str())]),
                    pods: LabelSelector::default(),
                    ingress_deny: vec![deny_rule(
                        "from-other-tenants",
                        vec![all_pods_of(others.clone())],
                        &origin,
                    )],
                    egress_deny: vec![deny_rule("to-other-tenants", vec![all_pods_of(others)], &origin)],
                    description: format!("tenant {tenant} is isolated from every other tenant"),
                    origin: origin.clone(),
                });
            }
        }
        let exceptions = self.guardrail_exceptions();
        let values = &self.loaded.values;
        let known = |ns: &str| {
            // What the values say of a namespace is all netpol knows; an undeclared namespace
            // carries only its name label (and so is no tenant).
            let mut labels: crate::sorted::SortedMap<String, String> = values
                .namespaces
                .get(ns)
                .map(|n| n.labels.0.clone().into_iter().collect())
                .unwrap_or_default();
            labels.insert(super::NAMESPACE_NAME_LABEL.to_string(), ns.to_string());
            Some(labels)
        };
        super::exceptions::apply(out, &exceptions, &known)
    }

    /// What the tenant guardrails leave reachable: cluster DNS on 53/UDP and 53/TCP, then
    /// `guardrails.allow`.
    fn guardrail_exceptions(&mut self) -> Vec<Exception> {
        let values = &self.loaded.values;
        let dns = &values.cluster.dns;
        let mut out = vec![Exception {
            name: "dns".to_string(),
            namespaces: LabelSelector::namespace_named(&dns.namespace.0),
            pods: LabelSelector::from_labels(dns.pod_labels.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            ports: vec![
                PortMatch { protocol: Protocol::Udp, port: PortSel::Number(53) },
                PortMatch { protocol: Protocol::Tcp, port: PortSel::Number(53) },
            ],
            origin: self.origin(&KeyPath::default().key("cluster").key("dns")),
        }];
        let path = KeyPath::default().key("guardrails").key("allow");
        for (i, allow) in values.guardrails.allow.iter().enumerate() {
            let at = path.index(i);
            let origin = self.origin(&at);
            let (namespaces, pods) = match &allow.to.0 {
                Peer::Pods { namespaces: Namespaces::Matching(ns), pods } => (ns.clone(), pods.clone()),
                Peer::Pods { namespaces: Namespaces::Own, .. } => {
                    self.problems.push(
                        Diagnostic::new("a guardrail exception needs the namespace of its pods: guardrails are cluster-wide")
                            .at(&self.origin(&at.key("to")))
                            .with_help("add `namespace: NAME` or a `namespaceSelector`"),
                    );
                    continue;
                }
                _ => {
                    self.problems.push(
                        Diagnostic::new("a guardrail exception names pods (`namespace`, `podLabels`, `namespaceSelector`, `podSelector`): the tenant guardrails deny only pods")
                            .at(&self.origin(&at.key("to"))),
                    );
                    continue;
                }
            };
            let mut ports = Vec::new();
            for (j, port) in allow.ports.iter().enumerate() {
                if let PortSel::Named(name) = &port.0.port {
                    self.problems.push(
                        Diagnostic::new(format!("a guardrail exception needs port numbers, not the name `{name}`"))
                            .at(&self.origin(&at.key("ports").index(j)))
                            .with_help("a name is resolved on each pod, so the deny around it could not be computed; write the number"),
                    );
                    continue;
                }
                ports.push(port.0.clone());
            }
            out.push(Exception { name: format!("allow-{i}"), namespaces, pods, ports, origin });
        }
        out
    }

    /// Namespaces left alone: no policy may land in them.
    fn unmanaged(&mut self, policies: &mut Vec<Policy>) -> Vec<String> {
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

    /// Every CIDR allow excludes what a guardrail denies, so no engine (not even one without
    /// deny rules) renders an allow for a guarded address.
    fn apply_guardrail_exclusions(&mut self, guardrails: &[Guardrail], policies: &mut [Policy]) {
        let denied = super::denied_everywhere(guardrails);
        if denied.is_empty() {
            return;
        }
        for policy in policies.iter_mut() {
            for rule in policy.egress.iter_mut().flatten() {
                for peer in rule.peers.iter_mut() {
                    let Peer::Cidr { cidr, except } = peer else { continue };
                    for d in &denied {
                        if d.contains(&*cidr) {
                            self.problems.push(
                                Diagnostic::conflict(format!(
                                    "egress rule `{}` of `{}/{}` allows {cidr}, which a guardrail denies ({d})",
                                    rule.name, policy.namespace, policy.name
                                ))
                                .at(&rule.origin),
                            );
                        } else if cidr.contains(d) && !except.iter().any(|e| e.contains(d)) {
                            except.push(*d);
                        }
                    }
                    except.sort();
                    except.dedup();
                }
            }
        }
    }

    fn check_unique_names(&mut self, policies: &[Policy]) {
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

/// The label Helm charts put on every pod of a release (000: platform services accept their own
/// release only).
pub const RELEASE_LABEL: &str = "app.kubernetes.io/instance";

/// The pods a workload selects: `podSelector`, else `podLabels`, else its name.
fn workload_subject(name: &str, w: &Workload) -> LabelSelector {
    match (&w.pod_selector, &w.pod_labels) {
        (Some(sel), _) => sel.0.clone(),
        (None, Some(labels)) => {
            LabelSelector { match_labels: labels.0.clone(), match_expressions: Vec::new() }
        }
        (None, None) => LabelSelector::from_labels([("app.kubernetes.io/name", name)]),
    }
}

fn pods_of(p: PodsRef) -> Peer {
    Peer::Pods {
        namespaces: Namespaces::Matching(LabelSelector::namespace_named(&p.namespace.0)),
        pods: LabelSelector { match_labels: p.pod_labels.0, match_expressions: Vec::new() },
    }
}

fn all_pods_of(namespaces: LabelSelector) -> Peer {
    Peer::Pods { namespaces: Namespaces::Matching(namespaces), pods: LabelSelector::default() }
}

fn selector_of(mut expressions: Vec<LabelExpression>) -> LabelSelector {
    expressions.sort();
    LabelSelector { match_labels: Default::default(), match_expressions: expressions }
}

fn expression(key: &str, operator: LabelOperator, values: &[&str]) -> LabelExpression {
    let mut values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    values.sort();
    values.dedup();
    LabelExpression { key: key.to_string(), operator, values }
}

fn deny_rule(name: &str, peers: Vec<Peer>, origin: &Origin) -> Rule {
    Rule {
        peers,
        ports: Vec::new(),
        name: name.to_string(),
        purpose: RulePurpose::Plain,
        origin: origin.clone(),
    }
}

/// `fromIngressController` → `ingress-controller`, for rule names and descriptions.
fn key_to_name(key: &str) -> &'static str {
    match key {
        "fromIngressController" => "ingress-controller",
        "fromGateway" => "gateway",
        "fromMonitoring" => "monitoring",
        _ => "rule",
    }
}

/// Whether a set of egress rules is where the pods' DNS allow belongs, so that its absence
/// is worth a warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DnsExpected {
    Yes,
    No,
}

fn metadata_nets() -> Vec<IpNet> {
    METADATA_CIDRS.iter().filter_map(|c| c.parse().ok()).collect()
}

fn port_of(port: &PortValue, protocol: Protocol) -> PortMatch {
    match port {
        PortValue::Number(n) => PortMatch { protocol, port: PortSel::Number(*n) },
        PortValue::Named(s) => PortMatch { protocol, port: PortSel::Named(s.clone()) },
    }
}

#[cfg(test)]
#[path = "lower_tests.rs"]
mod tests;
