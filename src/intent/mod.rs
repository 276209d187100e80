//! The engine-agnostic intent (IR): what may talk to what, independent of any engine's syntax.
//!
//! Values are lowered into this model once (`lower`); every engine backend reads only this.
//! Everything here is already validated: CIDRs are canonical, ports are in range, label keys and
//! values are legal, names are DNS labels. Collections are sorted where users could reorder them.

pub mod advice;
pub mod exceptions;
pub mod lower;

pub use crate::vocab::labels::{LabelExpression, LabelOperator, LabelSelector, NAMESPACE_NAME_LABEL};
pub use crate::vocab::peer::{Entity, Fqdn, Namespaces, Peer, PortMatch, PortSel};
pub use crate::vocab::{Origin, Protocol};

use std::collections::BTreeMap;

use ipnet::IpNet;

/// The whole policy set, ready for a backend.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Intent {
    /// Release name: prefixes nothing by itself but is the `app.kubernetes.io/instance` label.
    pub release: String,
    /// Labels every emitted object carries (managed-by, instance, commonLabels), sorted.
    pub labels: BTreeMap<String, String>,
    /// Annotations every emitted object carries (commonAnnotations), sorted.
    pub annotations: BTreeMap<String, String>,
    /// Namespaced policies, sorted by (namespace, name).
    pub policies: Vec<Policy>,
    /// Cluster-wide, non-overridable deny rules (platform guardrails), sorted by name.
    pub guardrails: Vec<Guardrail>,
    /// Namespaces deliberately left without policies; listed in the output header.
    pub unmanaged_namespaces: Vec<String>,
    /// Accept guardrails that the engine can only approximate (kubernetes): warn instead of fail.
    pub accept_weaker_guardrails: bool,
    /// What the values say about the cluster itself: the evaluator derives a topology from
    /// it, and backends read it only to warn (never to change what they render).
    pub cluster: ClusterFacts,
}

/// The cluster's own address ranges and namespace labels, as the values declare them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterFacts {
    /// One range per address family on a dual-stack cluster.
    pub pod_cidrs: Vec<IpNet>,
    pub service_cidrs: Vec<IpNet>,
    pub node_cidrs: Vec<IpNet>,
    /// Endpoint addresses of the API server.
    pub api_server: Vec<IpNet>,
    /// Endpoint ports of the API server (`cluster.apiServer.ports`, numbered ones).
    pub api_server_ports: Vec<u16>,
    /// `namespaces.<ns>.labels`, sorted.
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// The workloads the values declare, with every port they name, sorted by (namespace,
    /// name): named ports resolve against them, and the derived topology gives each its pod.
    pub workloads: Vec<DeclaredWorkload>,
}

/// A workload of the values: its pods and its declared ports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeclaredWorkload {
    pub namespace: String,
    pub name: String,
    pub subject: LabelSelector,
    /// `ports.<name>` with a port number: (name, number, protocol), sorted.
    pub ports: Vec<(String, u16, Protocol)>,
}

/// Ranges the analysis assumes for what the values leave out (kind's defaults), so that a
/// derived topology always has pods, nodes and an API server to judge flows to.
pub(crate) const ASSUMED_POD_CIDR: &str = "10.244.0.0/16";
pub(crate) const ASSUMED_SERVICE_CIDR: &str = "10.96.0.0/12";
pub(crate) const ASSUMED_NODE_CIDR: &str = "172.18.0.0/24";

/// Where one kind of the cluster's own endpoints lives.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EndpointRange {
    pub net: IpNet,
    /// `pods`, `nodes` or `the API server`.
    pub holds: &'static str,
    /// The values key that declares it.
    pub key: &'static str,
    /// Not declared by the values: the analysis assumes it.
    pub assumed: bool,
}

impl ClusterFacts {
    /// The pod, node and API-server ranges, declared or (when the values are silent) assumed,
    /// in that order. The derived topology places its endpoints inside them.
    pub(crate) fn endpoint_ranges(&self) -> Vec<EndpointRange> {
        let mut out = Vec::new();
        let mut add = |declared: &[IpNet], assumed: Option<&str>, holds, key| {
            if declared.is_empty() {
                let net = assumed.and_then(|a| a.parse().ok());
                out.extend(net.map(|net| EndpointRange { net, holds, key, assumed: true }));
            } else {
                out.extend(declared.iter().map(|net| EndpointRange {
                    net: *net,
                    holds,
                    key,
                    assumed: false,
                }));
            }
        };
        add(&self.pod_cidrs, Some(ASSUMED_POD_CIDR), "pods", "cluster.podCIDR");
        add(&self.node_cidrs, Some(ASSUMED_NODE_CIDR), "nodes", "cluster.nodeCIDRs");
        // Without declared addresses the API server is assumed to run on a node.
        add(&self.api_server, None, "the API server", "cluster.apiServer.cidrs");
        out
    }

    /// Every (protocol, number) the values declare for a port name, sorted.
    pub(crate) fn named_port(&self, name: &str) -> Vec<(Protocol, u16)> {
        let mut found: Vec<(Protocol, u16)> = self
            .workloads
            .iter()
            .flat_map(|w| w.ports.iter())
            .filter(|(n, _, _)| n == name)
            .map(|(_, number, protocol)| (*protocol, *number))
            .collect();
        found.sort();
        found.dedup();
        found
    }
}

/// One namespaced policy: a set of pods and what they may send and receive.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Object name, a DNS label (≤63), unique within the namespace.
    pub name: String,
    pub namespace: String,
    /// What the policy is for; decides its precedence in ordered engines.
    pub role: PolicyRole,
    /// The pods this policy applies to, within `namespace`. Empty selector = every pod.
    pub subject: LabelSelector,
    /// `None`: the policy does not speak about ingress. `Some(rules)`: the subject is isolated
    /// for ingress and exactly `rules` are allowed (an empty list allows nothing).
    pub ingress: Option<Vec<Rule>>,
    /// As `ingress`, for egress.
    pub egress: Option<Vec<Rule>>,
    /// Engine-specific rules the user asked to merge verbatim into this policy.
    pub passthrough: Passthrough,
    /// Human-readable purpose, used in descriptions and comments.
    pub description: String,
    pub origin: Origin,
}

/// Precedence class of a policy.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyRole {
    /// An allowlist: its rules are exceptions that must win over any default-deny.
    Allow,
    /// A namespace-wide default-deny, subordinate to every allowlist.
    DefaultDeny(DenyOrder),
}

/// The precedence knob of a default-deny (`defaultDeny.order`).
#[derive(Clone, Debug, PartialEq)]
pub struct DenyOrder {
    /// The value in effect (Calico order semantics: larger = later).
    pub value: u32,
    /// Where the user wrote it; `None` when the default (2000) applies untouched.
    pub written_at: Option<Origin>,
}

/// The default `defaultDeny.order`, a Calico order.
pub(crate) const DEFAULT_DENY_ORDER: u32 = 2000;
/// The Calico order of allowlists: always before any default-deny.
pub(crate) const ALLOWLIST_ORDER: u32 = 1000;

/// One allow rule: traffic from/to any of `peers` on any of `ports`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Empty = any peer (in-cluster and external).
    pub peers: Vec<Peer>,
    /// Empty = every port of every protocol.
    pub ports: Vec<PortMatch>,
    /// Why the rule exists (`webhook`, `metrics`, `dns`, `additionalIngress[0]` …); a DNS label
    /// usable as a rule name.
    pub name: String,
    /// The rule lets pods resolve names through cluster DNS (Cilium adds DNS visibility here).
    pub purpose: RulePurpose,
    pub origin: Origin,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RulePurpose {
    #[default]
    Plain,
    /// Egress to cluster DNS: Cilium needs `rules.dns` on it when the policy has FQDN peers.
    Dns,
}

/// Engine-specific rules merged verbatim into one engine's rendering of a policy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Passthrough {
    pub cilium: RawRules,
    pub calico: RawRules,
    pub cluster_network_policy: RawRules,
}

/// Raw rules in the engine's own schema, appended after the generated rules of that direction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawRules {
    pub ingress: Vec<serde_json::Value>,
    pub egress: Vec<serde_json::Value>,
    pub origin: Origin,
}

impl RawRules {
    pub fn is_empty(&self) -> bool {
        self.ingress.is_empty() && self.egress.is_empty()
    }
}

/// Addresses that guardrails deny to every pod on every port (the metadata service): allows
/// exclude them, and an engine that cannot deny spells "anyone" without them.
pub(crate) fn denied_everywhere(guardrails: &[Guardrail]) -> Vec<IpNet> {
    guardrails
        .iter()
        .filter(|g| g.namespaces.is_empty() && g.pods.is_empty())
        .flat_map(|g| g.egress_deny.iter())
        .filter(|r| r.ports.is_empty())
        .flat_map(|r| r.peers.iter())
        .filter_map(|p| match p {
            Peer::Cidr { cidr, except } if except.is_empty() => Some(*cidr),
            _ => None,
        })
        .collect()
}

/// A platform guardrail: traffic that is denied cluster-wide and that no namespace or
/// application policy may re-open.
#[derive(Clone, Debug, PartialEq)]
pub struct Guardrail {
    /// Object name (DNS label); cluster-scoped, so unique in the cluster.
    pub name: String,
    /// Namespaces whose pods the guardrail applies to; empty selector = every namespace.
    pub namespaces: LabelSelector,
    /// Pods within those namespaces; empty selector = every pod.
    pub pods: LabelSelector,
    /// Denied inbound traffic (peers and ports as in allow rules).
    pub ingress_deny: Vec<Rule>,
    /// Denied outbound traffic.
    pub egress_deny: Vec<Rule>,
    pub description: String,
    pub origin: Origin,
}

/// Small constructors for tests of backends and evaluators.
#[cfg(test)]
pub mod testing {
    use super::*;

    pub fn origin(path: &str) -> Origin {
        Origin { file: "test.yaml".into(), line: 1, column: 1, path: path.into() }
    }

    pub fn intent(policies: Vec<Policy>) -> Intent {
        Intent {
            release: "test".into(),
            labels: BTreeMap::from([
                ("app.kubernetes.io/instance".to_string(), "test".to_string()),
                ("app.kubernetes.io/managed-by".to_string(), "netpol".to_string()),
            ]),
            policies,
            ..Intent::default()
        }
    }

    /// An allowlist for pods labelled `app=<name>` in `namespace`.
    pub(crate) fn allowlist(
        namespace: &str,
        name: &str,
        ingress: Option<Vec<Rule>>,
        egress: Option<Vec<Rule>>,
    ) -> Policy {
        Policy {
            name: name.into(),
            namespace: namespace.into(),
            role: PolicyRole::Allow,
            subject: LabelSelector::from_labels([("app", name)]),
            ingress,
            egress,
            passthrough: Passthrough::default(),
            description: format!("allowlist of {name}"),
            origin: origin(&format!("workloads.{name}")),
        }
    }

    /// A namespace default-deny for both directions.
    pub(crate) fn default_deny(namespace: &str, order: u32, written: bool) -> Policy {
        Policy {
            name: "default-deny".into(),
            namespace: namespace.into(),
            role: PolicyRole::DefaultDeny(DenyOrder {
                value: order,
                written_at: written.then(|| origin("namespaces.x.defaultDeny.order")),
            }),
            subject: LabelSelector::default(),
            ingress: Some(Vec::new()),
            egress: Some(Vec::new()),
            passthrough: Passthrough::default(),
            description: "default deny".into(),
            origin: origin("namespaces.x.defaultDeny"),
        }
    }

    pub fn rule(name: &str, peers: Vec<Peer>, ports: Vec<PortMatch>) -> Rule {
        Rule { peers, ports, name: name.into(), purpose: RulePurpose::Plain, origin: origin(name) }
    }

    pub fn tcp(port: u16) -> PortMatch {
        PortMatch { protocol: Protocol::Tcp, port: PortSel::Number(port) }
    }

    pub(crate) fn udp(port: u16) -> PortMatch {
        PortMatch { protocol: Protocol::Udp, port: PortSel::Number(port) }
    }

    /// Pods with `labels` in the namespace named `namespace`.
    pub(crate) fn pods_in(namespace: &str, labels: &[(&str, &str)]) -> Peer {
        Peer::Pods {
            namespaces: Namespaces::Matching(LabelSelector::namespace_named(namespace)),
            pods: LabelSelector::from_labels(labels.iter().copied()),
        }
    }

    /// Pods with `labels` in the policy's own namespace.
    pub(crate) fn own_pods(labels: &[(&str, &str)]) -> Peer {
        Peer::Pods { namespaces: Namespaces::Own, pods: LabelSelector::from_labels(labels.iter().copied()) }
    }

    pub fn cidr(cidr: &str, except: &[&str]) -> Peer {
        Peer::Cidr {
            cidr: cidr.parse().expect("test CIDR"),
            except: except.iter().map(|e| e.parse().expect("test CIDR")).collect(),
        }
    }

    /// The metadata-service guardrail: every pod, egress to 169.254.169.254/32 denied.
    pub fn metadata_guardrail() -> Guardrail {
        Guardrail {
            name: "deny-metadata-service".into(),
            namespaces: LabelSelector::default(),
            pods: LabelSelector::default(),
            ingress_deny: vec![],
            egress_deny: vec![rule("metadata", vec![cidr("169.254.169.254/32", &[])], vec![])],
            description: "metadata".into(),
            origin: origin("guardrails"),
        }
    }

    /// The DNS egress rule every namespace gets: kube-dns in kube-system on UDP and TCP 53.
    pub(crate) fn dns_rule() -> Rule {
        Rule {
            peers: vec![pods_in("kube-system", &[("k8s-app", "kube-dns")])],
            ports: vec![udp(53), tcp(53)],
            name: "dns".into(),
            purpose: RulePurpose::Dns,
            origin: origin("egress.dns"),
        }
    }
}
