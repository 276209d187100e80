//! Lowering: typed values → intent. Resolves defaults, the chart shape and the general shape
//! into one model, and checks the invariants that no single field can check.

use ipnet::IpNet;

use super::{
    DEFAULT_DENY_ORDER, DenyOrder, Intent, LabelExpression, LabelOperator, LabelSelector, Namespaces, Origin,
    Peer, PortMatch, PortSel, Protocol, Rule, RulePurpose,
};
use crate::error::{Diagnostic, Error, Result};
use crate::values::Loaded;
use crate::values::checked::{PortValue, check_dns_label};
use crate::values::types::{PodsRef, Workload};
use crate::vocab::Engine;
use crate::vocab::source::KeyPath;

mod chart;
mod checks;
mod connections;
mod guardrails;
mod namespaces;
mod workloads;

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
pub(crate) const DEFAULT_RELEASE: &str = "release-name";
/// Chart name of the 004 controller when `nameOverride` is not set.
pub(crate) const DEFAULT_CHART_NAME: &str = "controller";
/// The cloud metadata service, denied by the metadata guardrail.
pub(crate) const METADATA_CIDRS: [&str; 2] = ["169.254.169.254/32", "fd00:ec2::254/128"];

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
    cx.warnings.extend(crate::intent::advice::namespace_allows_widening(&policies));
    cx.warnings.extend(cx.misspelt_namespaces(&policies, &declared, &default_namespace));
    let facts = cluster_facts(values);
    cx.warnings.extend(crate::intent::advice::half_connections(&policies, &facts.namespace_labels));
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

    fn deny_order(&self, order: Option<u32>, path: &KeyPath) -> DenyOrder {
        match order {
            Some(value) => DenyOrder { value, written_at: Some(self.origin(path)) },
            None => DenyOrder { value: DEFAULT_DENY_ORDER, written_at: None },
        }
    }
}

/// The label Helm charts put on every pod of a release (000: platform services accept their own
/// release only).
pub(crate) const RELEASE_LABEL: &str = "app.kubernetes.io/instance";

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
mod tests;
