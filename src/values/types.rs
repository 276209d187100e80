//! The typed values: strict (unknown keys are errors), still in the user's vocabulary.
//!
//! Two shapes share one struct: the controller chart of the 004 document (`networkPolicy`,
//! `ports`, `webhook`, `gate`, …) and the general shape (`workloads`, `namespaces`, `cluster`, …).
//! Both are lowered into the same intent.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::checked::{
    Cidr, CidrList, DnsLabel, Labels, PeerSpec, PortSpec, PortValue, RawJson, SelectorSpec,
};
use crate::vocab::Engine;

impl<'de> Deserialize<'de> for Engine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| {
            de::Error::custom(format!(
                "unknown engine `{s}`; {}",
                super::de::suggest(&s, &Engine::ALL.map(Engine::as_str))
            ))
        })
    }
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Values {
    /// The engine to render (general shape); `networkPolicy.engine` in the chart shape.
    pub engine: Option<Engine>,
    /// Release name (`helm template NAME`); the command line wins.
    pub release: Option<DnsLabel>,
    /// Labels added to every rendered object (Helm's commonLabels).
    #[serde(default)]
    pub common_labels: Labels,
    /// Annotations added to every rendered object.
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// Facts about the target cluster: address ranges, API server, DNS, where shared services run.
    #[serde(default)]
    pub cluster: Cluster,
    /// Cluster-wide denies that namespace and workload policies cannot override (003).
    #[serde(default)]
    pub guardrails: Guardrails,
    /// Per-namespace policy: default-deny, namespace-wide allows, profiles and workloads, by namespace name.
    #[serde(default)]
    pub namespaces: BTreeMap<String, NamespaceValues>,
    /// Workloads of the general shape, by name: their pods, ports and egress.
    #[serde(default)]
    pub workloads: BTreeMap<String, Workload>,
    /// Cross-namespace connections, each rendered on both sides.
    #[serde(default)]
    pub connections: Vec<Connection>,
    /// Namespaces netpol must never touch (002: kube-system), listed in the output header.
    #[serde(default)]
    pub unmanaged_namespaces: Vec<DnsLabel>,
    /// Settings of `netpol lint` (findings a team accepts); render ignores them.
    #[serde(default)]
    pub lint: LintValues,

    // The controller chart of the 004 document.
    /// The 004 controller chart's `networkPolicy` block.
    pub network_policy: Option<ChartNetworkPolicy>,
    /// The 004 controller chart's container ports (webhook 9443, metrics 8080, gate 8082).
    #[serde(default)]
    pub ports: ChartPorts,
    /// `webhook.enabled` (default true): the webhook ingress rule renders only when enabled.
    #[serde(default)]
    pub webhook: ChartToggle,
    /// `gate.enabled` (default false): the gate ingress rule renders only when enabled.
    #[serde(default)]
    pub gate: ChartToggle,
    /// Chart name used in object names and default selector labels (Helm's nameOverride).
    pub name_override: Option<DnsLabel>,
    /// Full object-name prefix (Helm's fullnameOverride).
    pub fullname_override: Option<DnsLabel>,
    /// The controller pods' labels; default `app.kubernetes.io/name` + `app.kubernetes.io/instance`.
    pub selector_labels: Option<Labels>,
}

/// `lint:`: what `netpol lint` should not report.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LintValues {
    /// Findings a team accepts, each by rule code and optionally by key path.
    #[serde(default)]
    pub ignore: Vec<LintIgnore>,
}

/// One accepted finding: every finding of rule `code`, or only those at or under `path`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LintIgnore {
    /// The rule code, e.g. `NP204`.
    pub code: String,
    /// A key path of the values (`namespaces.build`, `workloads.api.ports.http`): the finding's
    /// own path or one it lies under. Absent: everywhere.
    pub path: Option<String>,
    /// Why the team accepts it, for the reader (not checked).
    pub reason: Option<String>,
}

/// Facts about the target cluster; never discovered, so renders are reproducible.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cluster {
    /// The pod range, or one range per address family on a dual-stack cluster.
    #[serde(default, rename = "podCIDR")]
    pub pod_cidr: CidrList,
    /// The service range, or one per address family.
    #[serde(default, rename = "serviceCIDR")]
    pub service_cidr: CidrList,
    /// Node addresses, excluded from internet egress like the pod and service ranges.
    #[serde(default, rename = "nodeCIDRs")]
    pub node_cidrs: CidrList,
    /// The API server's endpoint addresses and ports.
    #[serde(default)]
    pub api_server: ApiServerFacts,
    /// Where cluster DNS runs (default: `k8s-app: kube-dns` pods in `kube-system`).
    #[serde(default)]
    pub dns: DnsFacts,
    /// Label that marks tenant namespaces; its value names the tenant (guardrails).
    pub tenant_label: Option<String>,
    /// Where the ingress controller's pods run (`allow.fromIngressController`).
    /// Default: every pod of namespace `ingress-nginx`.
    pub ingress_controller: Option<PodsRef>,
    /// Where Gateway API data-plane pods run, for engines other than cilium
    /// (`allow.fromGateway`; cilium uses its reserved `ingress` entity).
    pub gateway: Option<PodsRef>,
    /// Where Prometheus runs (`allow.fromMonitoring`).
    /// Default: `app.kubernetes.io/name: prometheus` pods in namespace `monitoring`.
    pub monitoring: Option<PodsRef>,
}

/// Pods by namespace and labels, as cluster facts.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodsRef {
    /// The namespace of the pods.
    pub namespace: DnsLabel,
    /// The pods' labels; empty: every pod of the namespace.
    #[serde(default)]
    pub pod_labels: Labels,
}

impl PodsRef {
    pub(crate) fn ingress_controller() -> Self {
        PodsRef { namespace: DnsLabel("ingress-nginx".into()), pod_labels: Labels::default() }
    }
    pub fn monitoring() -> Self {
        PodsRef {
            namespace: DnsLabel("monitoring".into()),
            pod_labels: Labels(crate::sorted::SortedMap::from([(
                "app.kubernetes.io/name".to_string(),
                "prometheus".to_string(),
            )])),
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiServerFacts {
    /// Endpoint addresses of `default/kubernetes` (not the ClusterIP).
    #[serde(default)]
    pub cidrs: Vec<Cidr>,
    /// Endpoint ports (443 on managed clusters, 6443 on kubeadm).
    #[serde(default = "default_api_ports")]
    pub ports: Vec<PortValue>,
}

impl Default for ApiServerFacts {
    fn default() -> Self {
        ApiServerFacts { cidrs: Vec::new(), ports: default_api_ports() }
    }
}

fn default_api_ports() -> Vec<PortValue> {
    vec![PortValue::Number(443), PortValue::Number(6443)]
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsFacts {
    /// The namespace of the cluster DNS pods (default `kube-system`).
    #[serde(default = "default_dns_namespace")]
    pub namespace: DnsLabel,
    /// The labels of the cluster DNS pods (default `k8s-app: kube-dns`).
    #[serde(default = "default_dns_labels")]
    pub pod_labels: Labels,
    /// Node-local DNS cache address (169.254.20.10) where one runs.
    #[serde(default)]
    pub node_local_cache: Vec<Cidr>,
}

impl Default for DnsFacts {
    fn default() -> Self {
        DnsFacts {
            namespace: default_dns_namespace(),
            pod_labels: default_dns_labels(),
            node_local_cache: Vec::new(),
        }
    }
}

fn default_dns_namespace() -> DnsLabel {
    DnsLabel("kube-system".to_string())
}

fn default_dns_labels() -> Labels {
    Labels(crate::sorted::SortedMap::from([("k8s-app".to_string(), "kube-dns".to_string())]))
}

/// Platform guardrails (003 document): cluster-wide denies nothing below may override.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Guardrails {
    /// Deny egress to 169.254.169.254/32 and fd00:ec2::254/128 from every pod.
    #[serde(default)]
    pub deny_metadata_service: bool,
    /// System namespaces that tenant namespaces may not reach.
    #[serde(default)]
    pub system_namespaces: Vec<DnsLabel>,
    /// Deny traffic between different tenant namespaces (those with `cluster.tenantLabel`).
    #[serde(default)]
    pub deny_cross_tenant: bool,
    /// Pods and ports the tenant guardrails leave reachable (cluster DNS always is), e.g. the
    /// ingress controller's admission webhook.
    #[serde(default)]
    pub allow: Vec<GuardrailAllow>,
}

/// One exception to the tenant guardrails: traffic to these pods on these ports is not denied
/// by them (namespace and workload policies still decide).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GuardrailAllow {
    /// The pods: `namespace` / `podLabels` or `namespaceSelector` / `podSelector`.
    pub to: PeerSpec,
    /// Their ports (numbers or ranges, not names); empty: every port.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
}

/// Namespace-level policy: a default-deny, namespace-wide allows, and the namespace's workloads.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamespaceValues {
    /// A preset from profiles/, merged under what this namespace sets (applied while loading).
    pub profile: Option<String>,
    /// Labels the namespace carries (e.g. the tenant label); used by guardrails.
    #[serde(default)]
    pub labels: Labels,
    /// Deny ingress and/or egress of every pod of the namespace unless an allow says otherwise.
    pub default_deny: Option<NamespaceDefaultDeny>,
    /// Namespace-wide allows: DNS, the same namespace, shared services, other namespaces, the internet, the API server.
    #[serde(default)]
    pub allow: NamespaceAllow,
    /// Further ingress rules for every pod of the namespace.
    #[serde(default)]
    pub ingress: Vec<IngressRuleSpec>,
    /// Further egress rules for every pod of the namespace.
    #[serde(default)]
    pub egress: Vec<EgressRuleSpec>,
    /// Workloads of this namespace (their `namespace` defaults to this one).
    #[serde(default)]
    pub workloads: BTreeMap<String, Workload>,
    /// Leave this namespace alone entirely.
    #[serde(default)]
    pub unmanaged: bool,
    /// Free text for generated documentation.
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamespaceDefaultDeny {
    /// Deny all ingress by default.
    #[serde(default)]
    pub ingress: bool,
    /// Deny all egress by default.
    #[serde(default)]
    pub egress: bool,
    /// Precedence of the default-deny in ordered engines (Calico order; default 2000, after every allowlist).
    pub order: Option<u32>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamespaceAllow {
    /// Egress to cluster DNS (UDP and TCP 53).
    #[serde(default)]
    pub dns: bool,
    /// Traffic between the namespace's own pods (ingress, and egress where egress is denied).
    #[serde(default)]
    pub same_namespace: bool,
    /// Ingress from the ingress controller (`cluster.ingressController`), optionally on ports.
    #[serde(default)]
    pub from_ingress_controller: Switch<PortsOnly>,
    /// Ingress from Gateway API data planes: cilium's `ingress` entity, else `cluster.gateway`.
    #[serde(default)]
    pub from_gateway: Switch<PortsOnly>,
    /// Ingress from Prometheus (`cluster.monitoring`), optionally on (named) ports.
    #[serde(default)]
    pub from_monitoring: Switch<PortsOnly>,
    /// Ingress from every pod of these namespaces.
    #[serde(default)]
    pub from_namespaces: Vec<DnsLabel>,
    /// Egress to the internet: the CIDRs (default 0.0.0.0/0) minus pod, service and node CIDRs
    /// and the metadata service, optionally restricted to ports.
    #[serde(default)]
    pub internet: Switch<InternetValues>,
    /// Egress to the API server.
    #[serde(default)]
    pub api_server: bool,
}

/// `true`, `false`, or a map of options (which means `true`).
#[derive(Debug, Default)]
pub enum Switch<T> {
    #[default]
    Off,
    On(T),
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Switch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> de::Visitor<'de> for V<T> {
            type Value = Switch<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or a map of options")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Switch<T>, E> {
                Ok(if v { Switch::On(T::default()) } else { Switch::Off })
            }
            fn visit_unit<E>(self) -> Result<Switch<T>, E> {
                Ok(Switch::Off)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Switch<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Switch::On)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortsOnly {
    /// The ports (numbers, names or `{protocol, port, endPort}`); empty: every port.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InternetValues {
    /// Default `[0.0.0.0/0]`; the external-API pattern names the narrowest CIDRs here.
    #[serde(default)]
    pub cidrs: Vec<Cidr>,
    /// The ports; empty: every port.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
}

/// A connection declared once and rendered on both sides (003: cross-namespace traffic needs
/// an egress policy at the source and an ingress policy at the destination).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Connection {
    /// The side that connects (gets the egress rule).
    pub from: Endpoint,
    /// The side that accepts (gets the ingress rule).
    pub to: Endpoint,
    /// The destination ports; empty: every port.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    /// Optional name, used in the policy names (default: the connection's index).
    pub name: Option<DnsLabel>,
}

/// One side of a connection: a namespace, optionally narrowed to a workload or to pod labels.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Endpoint {
    /// The namespace of this side.
    pub namespace: DnsLabel,
    /// A workload declared in the values; its pod selector is used.
    pub workload: Option<String>,
    /// Pods by labels instead of a declared workload; neither: every pod of the namespace.
    pub pod_labels: Option<Labels>,
}

/// One workload of the general shape: pods, their ports and who may use them, their egress.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Workload {
    /// Default: `-n/--namespace`, else `default`.
    pub namespace: Option<DnsLabel>,
    /// The pods' labels (matchLabels). Default: `app.kubernetes.io/name: <workload>`.
    pub pod_labels: Option<Labels>,
    /// Full selector instead of `podLabels`.
    pub pod_selector: Option<SelectorSpec>,
    /// Named ports, each open to its `from` list (absent or empty: open to everyone).
    #[serde(default)]
    pub ports: crate::sorted::SortedMap<String, WorkloadPort>,
    /// Further ingress rules, Kubernetes-shaped (`from`, `ports`).
    #[serde(default)]
    pub ingress: Vec<IngressRuleSpec>,
    /// Accept every pod of the same Helm release (`app.kubernetes.io/instance` in podLabels)
    /// in the namespace, on any port (000: platform services).
    #[serde(default)]
    pub allow_same_release: bool,
    /// Opt-in egress lockdown.
    #[serde(default)]
    pub egress: EgressValues,
    /// Rules in Cilium's own schema, merged verbatim when rendering cilium.
    #[serde(default)]
    pub cilium: RawRulesValues,
    /// Rules in Calico's own schema, merged verbatim when rendering calico.
    #[serde(default)]
    pub calico: RawRulesValues,
    /// Rules in ClusterNetworkPolicy's own schema, merged verbatim when rendering clusterNetworkPolicy.
    #[serde(default)]
    pub cluster_network_policy: RawRulesValues,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkloadPort {
    /// The container port: a number (1-65535) or a port name.
    pub port: PortValue,
    /// TCP (default), UDP or SCTP.
    pub protocol: Option<crate::vocab::Protocol>,
    /// The last port of a range starting at `port`.
    pub end_port: Option<i64>,
    /// Who may connect; absent or empty: anyone.
    #[serde(default)]
    pub from: Vec<PeerSpec>,
    /// Render this port's rule (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The port is meant to be reached from the internet: `netpol lint` does not report an
    /// open `from` list on it.
    #[serde(default)]
    pub internet_facing: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressRuleSpec {
    /// Peers allowed in; empty: anyone.
    #[serde(default)]
    pub from: Vec<PeerSpec>,
    /// Ports; empty: every port.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EgressRuleSpec {
    /// Peers allowed out to; empty: anywhere.
    #[serde(default)]
    pub to: Vec<PeerSpec>,
    /// Ports; empty: every port.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EgressValues {
    /// Restrict egress to what this block allows.
    #[serde(default)]
    pub enabled: bool,
    /// DNS to the cluster DNS pods on UDP and TCP 53.
    #[serde(default = "yes")]
    pub dns: bool,
    /// The DNS namespace (default `cluster.dns.namespace`).
    pub dns_namespace: Option<DnsLabel>,
    /// Egress to the API server (by `cluster.apiServer`; Cilium: the kube-apiserver entity).
    #[serde(default)]
    pub api_server: bool,
    /// Further egress rules (`to`, `ports`).
    #[serde(default)]
    pub to: Vec<EgressRuleSpec>,
}

impl Default for EgressValues {
    fn default() -> Self {
        EgressValues { enabled: false, dns: true, dns_namespace: None, api_server: false, to: Vec::new() }
    }
}

/// `<engine>.ingress` / `<engine>.egress`: rules in that engine's own schema, merged verbatim.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRulesValues {
    /// Ingress rules in the engine's own schema.
    #[serde(default)]
    pub ingress: Vec<RawJson>,
    /// Egress rules in the engine's own schema.
    #[serde(default)]
    pub egress: Vec<RawJson>,
}

/// `networkPolicy:` of the 004 controller chart.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartNetworkPolicy {
    /// Render the chart's network policies at all.
    #[serde(default)]
    pub enabled: bool,
    /// The engine to render: kubernetes, cilium, calico or clusterNetworkPolicy.
    pub engine: Option<Engine>,
    /// A namespace default-deny besides the pod-scoped allowlist.
    #[serde(default)]
    pub default_deny: ChartDefaultDeny,
    /// Who may call the admission webhook port; empty: anyone.
    #[serde(default)]
    pub webhook: ChartPortFrom,
    /// Who may scrape the metrics port; empty: anyone.
    #[serde(default)]
    pub metrics: ChartPortFrom,
    /// Who may use the gate port (when `gate.enabled`); empty: anyone.
    #[serde(default)]
    pub gate: ChartPortFrom,
    /// Further ingress rules, Kubernetes-shaped (`from`, `ports`).
    #[serde(default)]
    pub additional_ingress: Vec<IngressRuleSpec>,
    /// Opt-in egress lockdown of the controller pods.
    #[serde(default)]
    pub egress: EgressValues,
    /// Rules in Cilium's own schema, merged verbatim when rendering cilium.
    #[serde(default)]
    pub cilium: RawRulesValues,
    /// Rules in Calico's own schema, merged verbatim when rendering calico.
    #[serde(default)]
    pub calico: RawRulesValues,
    /// Rules in ClusterNetworkPolicy's own schema, merged verbatim.
    #[serde(default)]
    pub cluster_network_policy: RawRulesValues,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartDefaultDeny {
    /// Render the namespace default-deny.
    #[serde(default)]
    pub enabled: bool,
    /// Precedence in ordered engines (Calico order; default 2000).
    pub order: Option<u32>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartPortFrom {
    /// Peers allowed in; empty: anyone.
    #[serde(default)]
    pub from: Vec<PeerSpec>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartPorts {
    /// The webhook container port (default 9443).
    #[serde(default = "webhook_port")]
    pub webhook: PortValue,
    /// The metrics container port (default 8080).
    #[serde(default = "metrics_port")]
    pub metrics: PortValue,
    /// The gate container port (default 8082).
    #[serde(default = "gate_port")]
    pub gate: PortValue,
}

impl Default for ChartPorts {
    fn default() -> Self {
        ChartPorts { webhook: webhook_port(), metrics: metrics_port(), gate: gate_port() }
    }
}

fn webhook_port() -> PortValue {
    PortValue::Number(9443)
}
fn metrics_port() -> PortValue {
    PortValue::Number(8080)
}
fn gate_port() -> PortValue {
    PortValue::Number(8082)
}

/// `webhook:` / `gate:` of the chart; only `enabled` matters to network policy.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartToggle {
    /// Whether the feature (and its ingress rule) is on.
    pub enabled: Option<bool>,
}
