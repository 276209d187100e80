//! The cluster a verdict is computed for: namespaces, pods, nodes, the API server, DNS names.
//! Read from our own YAML format or from `kubectl get namespaces,pods -A -o yaml` as it is.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{Diagnostic, Error, Result};
use crate::intent::{NAMESPACE_NAME_LABEL, Protocol};
use crate::vocab::source::KeyPath;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Topology {
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    #[serde(default)]
    pub pods: Vec<Pod>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<Node>,
    /// The Kubernetes API server's endpoint addresses (`kubectl get endpoints kubernetes`).
    #[serde(default, skip_serializing_if = "ApiServer::is_empty")]
    pub api_server: ApiServer,
    /// Names FQDN rules are judged against, with the addresses they resolve to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<DnsName>,
    /// Pod, Service and node CIDRs: addresses inside are in-cluster.
    #[serde(default, rename = "clusterCIDRs", skip_serializing_if = "Vec::is_empty")]
    pub cluster_cidrs: Vec<IpNet>,
    /// Namespace labels (with the name label added), built on first use: verdicts look them up
    /// for nearly every peer.
    #[serde(skip)]
    pub(crate) namespace_index: std::sync::OnceLock<BTreeMap<String, BTreeMap<String, String>>>,
    /// Identifies this topology to the evaluators' per-topology caches. Like the namespace
    /// index, the caches assume the topology is not changed once flows are judged on it.
    #[serde(skip)]
    pub(crate) id: TopologyId,
}

/// A number no other topology of this process carries: a clone gets a new one.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TopologyId(u64);

impl Default for TopologyId {
    fn default() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        TopologyId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl Clone for TopologyId {
    fn clone(&self) -> Self {
        TopologyId::default()
    }
}

impl Topology {
    /// The position of `pod` in `pods`, when it is one of this topology's pods.
    pub(crate) fn pod_index(&self, pod: &Pod) -> Option<usize> {
        let base = self.pods.as_ptr() as usize;
        let offset = (pod as *const Pod as usize).checked_sub(base)?;
        let index = offset / std::mem::size_of::<Pod>().max(1);
        self.pods.get(index).filter(|p| std::ptr::eq(*p, pod)).map(|_| index)
    }
}

/// Which of a layer's policies select each pod of a topology, computed once per topology:
/// flows are judged by the million, and the pods at their ends are few.
#[derive(Debug, Default)]
pub(crate) struct SelectionCache {
    /// Per pod, the indices of the policies that select it.
    table: PerPod<Vec<u32>>,
}

impl SelectionCache {
    /// Visit, in order, the policies among `candidates(pod)` (indices, in the layer's order)
    /// that `selects` says select `pod`, until `visit` returns a value.
    pub(crate) fn find_map<R, C: IntoIterator<Item = usize>>(
        &self,
        topology: &Topology,
        pod: &Pod,
        candidates: impl Fn(&Pod) -> C,
        selects: impl Fn(usize, &Pod) -> bool,
        visit: impl FnMut(usize) -> Option<R>,
    ) -> Option<R> {
        let selecting = self.table.get(topology, pod, |p| {
            candidates(p)
                .into_iter()
                .filter(|&i| selects(i, p))
                .filter_map(|i| u32::try_from(i).ok())
                .collect()
        });
        selecting.iter().map(|&i| i as usize).find_map(visit)
    }
}

/// A value computed once for every pod of the first topology asked about (by pod index), and
/// on each call for pods of any other topology. Read without a lock: flows are judged on two
/// threads by the million, and a shared lock or reference count on every lookup made the two
/// threads fight over one cache line.
#[derive(Debug)]
pub(crate) struct PerPod<T> {
    first: std::sync::OnceLock<(u64, Vec<T>)>,
}

impl<T> Default for PerPod<T> {
    fn default() -> Self {
        PerPod { first: std::sync::OnceLock::new() }
    }
}

impl<T: Clone> PerPod<T> {
    pub fn get<'a>(&'a self, topology: &Topology, pod: &Pod, compute: impl Fn(&Pod) -> T) -> Cow<'a, T> {
        if let Some(index) = topology.pod_index(pod) {
            let (id, all) =
                self.first.get_or_init(|| (topology.id.0, topology.pods.iter().map(&compute).collect()));
            if *id == topology.id.0
                && let Some(value) = all.get(index)
            {
                return Cow::Borrowed(value);
            }
        }
        Cow::Owned(compute(pod))
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Namespace {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_network: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// The node the pod runs on (ingress from its own node is always allowed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerPort {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub port: u16,
    #[serde(default = "tcp", with = "protocol_text")]
    pub protocol: Protocol,
}

fn tcp() -> Protocol {
    Protocol::Tcp
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub name: String,
    pub ip: Option<IpAddr>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiServer {
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// The endpoint ports of `default/kubernetes` (TCP); empty means 443 and 6443.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
}

/// The API server's endpoint ports when a topology does not say (managed clusters, kubeadm).
pub(crate) const DEFAULT_API_SERVER_PORTS: [u16; 2] = [443, 6443];

impl ApiServer {
    fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.ports.is_empty()
    }

    /// Whether `port`/`protocol` is one of the `default/kubernetes` endpoint ports, which is
    /// what a Calico `services` match on that Service matches.
    pub(crate) fn serves(&self, protocol: crate::intent::Protocol, port: u16) -> bool {
        let ports: &[u16] = if self.ports.is_empty() { &DEFAULT_API_SERVER_PORTS } else { &self.ports };
        protocol == crate::intent::Protocol::Tcp && ports.contains(&port)
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsName {
    pub name: String,
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
}

/// `TCP`/`UDP`/`SCTP` in any case.
pub mod protocol_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::intent::Protocol;

    pub fn parse(text: &str) -> Option<Protocol> {
        Protocol::from_any_case(text)
    }

    pub(crate) fn serialize<S: Serializer>(p: &Protocol, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.as_str())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "protocol `{text}` is not modelled: TCP, UDP and SCTP are (ICMP and L7 are not)"
            ))
        })
    }
}

impl Topology {
    /// The labels a namespace carries, including the `kubernetes.io/metadata.name` label the
    /// API server sets on every namespace.
    pub(crate) fn namespace_labels(&self, ns: &str) -> Cow<'_, BTreeMap<String, String>> {
        let index = self.namespace_index.get_or_init(|| {
            let mut index: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            let names = self.namespaces.iter().map(|n| &n.name).chain(self.pods.iter().map(|p| &p.namespace));
            for name in names {
                index.entry(name.clone()).or_insert_with(|| self.declared_namespace_labels(name));
            }
            index
        });
        match index.get(ns) {
            Some(labels) => Cow::Borrowed(labels),
            None => Cow::Owned(self.declared_namespace_labels(ns)),
        }
    }

    fn declared_namespace_labels(&self, ns: &str) -> BTreeMap<String, String> {
        let mut labels =
            self.namespaces.iter().find(|n| n.name == ns).map(|n| n.labels.clone()).unwrap_or_default();
        labels.insert(NAMESPACE_NAME_LABEL.to_string(), ns.to_string());
        labels
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods.iter().find(|p| p.namespace == namespace && p.name == name)
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The DNS names that resolve to `ip` in this topology.
    pub(crate) fn names_of(&self, ip: IpAddr) -> impl Iterator<Item = &str> {
        self.dns_names.iter().filter(move |d| d.addresses.contains(&ip)).map(|d| d.name.as_str())
    }

    /// Whether `ip` lies in a pod, Service or node CIDR.
    pub(crate) fn is_in_cluster(&self, ip: IpAddr) -> bool {
        self.cluster_cidrs.iter().any(|c| c.contains(&ip))
    }

    /// Reject what would make verdicts ambiguous: duplicate pods or namespaces, pods in
    /// undeclared namespaces are fine (they get no labels but their name).
    pub fn check(&self, name: &str) -> Result<()> {
        let problems: Vec<Diagnostic> = self.duplicates(name).into_iter().map(|(_, d)| d).collect();
        if problems.is_empty() { Ok(()) } else { Err(Error::Invalid(problems)) }
    }

    /// Each second listing of a pod or namespace, with its key path in the topology file.
    fn duplicates(&self, name: &str) -> Vec<(KeyPath, Diagnostic)> {
        let mut problems = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in self.pods.iter().enumerate() {
            if !seen.insert((p.namespace.as_str(), p.name.as_str())) {
                problems.push((
                    KeyPath::default().key("pods").index(i),
                    Diagnostic::evaluator(format!("{name}: pod {}/{} is listed twice", p.namespace, p.name)),
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, n) in self.namespaces.iter().enumerate() {
            if !seen.insert(n.name.as_str()) {
                problems.push((
                    KeyPath::default().key("namespaces").index(i),
                    Diagnostic::evaluator(format!("{name}: namespace {} is listed twice", n.name)),
                ));
            }
        }
        problems
    }
}

/// Parse a topology: our format, or the `List` that `kubectl get namespaces,pods -A -o yaml`
/// prints (namespaces, pods, and nodes if `nodes` was asked for too).
pub fn read(text: &str, name: &str) -> Result<Topology> {
    read_with_sources(text, name, &mut crate::vocab::source::Sources::default())
}

/// [`read`], adding the text to `sources` when it has errors, so they are shown in place.
pub fn read_with_sources(
    text: &str,
    name: &str,
    sources: &mut crate::vocab::source::Sources,
) -> Result<Topology> {
    let raw: serde_json::Value = match serde_saphyr::from_str_with_options(text, super::yaml_options()) {
        Ok(raw) => raw,
        Err(e) => return Err(super::located_again::<Topology>(text, name, sources, e.to_string())),
    };
    if raw.get("kind").and_then(|k| k.as_str()) == Some("List") {
        let topology = from_kubectl(&raw, name)?;
        topology.check(name)?;
        return Ok(topology);
    }
    let topology = match serde_json::from_value::<Topology>(raw) {
        Ok(topology) => topology,
        Err(e) => return Err(super::located_again::<Topology>(text, name, sources, e.to_string())),
    };
    let duplicates = topology.duplicates(name);
    if duplicates.is_empty() {
        return Ok(topology);
    }
    // Located in the file only now that there is something to show.
    let id = sources.id_for(name, text);
    let root = crate::values::tree::parse(text, id, sources).ok();
    let problems = duplicates
        .into_iter()
        .map(|(path, d)| match &root {
            Some(root) => d.at(&sources.origin(root.locate(&path.0), &path)),
            None => d,
        })
        .collect();
    Err(Error::Invalid(problems))
}

fn from_kubectl(list: &serde_json::Value, name: &str) -> Result<Topology> {
    let mut topology = Topology::default();
    let mut problems = Vec::new();
    let items = list.get("items").and_then(|i| i.as_array()).cloned().unwrap_or_default();
    let labels_of = |item: &serde_json::Value| -> BTreeMap<String, String> {
        item.pointer("/metadata/labels")
            .and_then(|l| l.as_object())
            .map(|l| l.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default()
    };
    let text = |item: &serde_json::Value, pointer: &str| {
        item.pointer(pointer).and_then(|v| v.as_str()).map(str::to_string)
    };
    for (i, item) in items.iter().enumerate() {
        let kind = item.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        let Some(object_name) = text(item, "/metadata/name") else {
            problems.push(Diagnostic::evaluator(format!("{name}: items[{i}] has no metadata.name")));
            continue;
        };
        match kind {
            "Namespace" => topology.namespaces.push(Namespace { name: object_name, labels: labels_of(item) }),
            "Node" => {
                let ip = item
                    .pointer("/status/addresses")
                    .and_then(|a| a.as_array())
                    .into_iter()
                    .flatten()
                    .find(|a| a.get("type").and_then(|t| t.as_str()) == Some("InternalIP"))
                    .and_then(|a| a.get("address")?.as_str()?.parse().ok());
                topology.nodes.push(Node { name: object_name, ip, labels: labels_of(item) });
            }
            "Pod" => {
                let phase = text(item, "/status/phase").unwrap_or_default();
                if phase == "Succeeded" || phase == "Failed" {
                    continue;
                }
                let mut ports = Vec::new();
                for container in
                    item.pointer("/spec/containers").and_then(|c| c.as_array()).into_iter().flatten()
                {
                    for p in container.get("ports").and_then(|p| p.as_array()).into_iter().flatten() {
                        let Some(port) = p
                            .get("containerPort")
                            .and_then(|v| v.as_u64())
                            .and_then(|v| u16::try_from(v).ok())
                        else {
                            continue;
                        };
                        let protocol = p
                            .get("protocol")
                            .and_then(|v| v.as_str())
                            .map_or(Some(Protocol::Tcp), protocol_text::parse);
                        if let Some(protocol) = protocol {
                            let name = p.get("name").and_then(|v| v.as_str()).map(str::to_string);
                            ports.push(ContainerPort { name, port, protocol });
                        }
                    }
                }
                topology.pods.push(Pod {
                    namespace: text(item, "/metadata/namespace").unwrap_or_else(|| "default".to_string()),
                    name: object_name,
                    labels: labels_of(item),
                    ip: text(item, "/status/podIP").and_then(|ip| ip.parse().ok()),
                    ports,
                    host_network: item
                        .pointer("/spec/hostNetwork")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false),
                    service_account: text(item, "/spec/serviceAccountName")
                        .or_else(|| Some("default".to_string())),
                    node_name: text(item, "/spec/nodeName"),
                });
            }
            other => problems.push(Diagnostic::evaluator(format!(
                "{name}: items[{i}] is a {other}; a kubectl topology holds Namespaces, Pods and Nodes"
            ))),
        }
    }
    if problems.is_empty() { Ok(topology) } else { Err(Error::Invalid(problems)) }
}
