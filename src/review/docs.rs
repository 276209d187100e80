//! `netpol docs`: for every namespace, each workload's "accepts from" and "can reach" (peers and
//! ports), its DNS, internet and API-server access, the guardrails over it and what each engine
//! cannot express for it; and a graph of workloads and allowed edges for Mermaid and Graphviz.
//! The tables the source pages keep by hand, derived from the intent instead.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::Engine;
use crate::error::{Diagnostic, Error, Severity};
use crate::eval::derive::{self, Derived, INTERNET};
use crate::eval::reference::IntentLayer;
use crate::eval::{Cni, Endpoint, Flow, PolicySet};
use crate::intent::{Intent, Policy, Rule, RulePurpose};
use crate::vocab::Protocol;
use crate::vocab::peer::{Namespaces, Peer};
use crate::vocab::source::Origin;

/// The context of `docs.md.j2`, `docs.html.j2`, `docs.dot.j2` and `mermaid.j2`.
#[derive(Clone, Debug, Serialize)]
pub struct DocsReport {
    pub release: String,
    /// The engine the values render for.
    pub engine: String,
    pub namespaces: Vec<NamespaceDoc>,
    /// What an engine cannot express or only approximates that belongs to no one workload.
    pub other_limitations: Vec<Limitation>,
    pub graph: Graph,
}

#[derive(Clone, Debug, Serialize)]
pub struct NamespaceDoc {
    pub name: String,
    /// The namespace's labels as the values declare them, `key=value`.
    pub labels: Vec<String>,
    /// Each declared workload, then `other pods` (every pod no workload names).
    pub workloads: Vec<WorkloadDoc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WorkloadDoc {
    /// The node of this workload in [`Graph`].
    pub id: String,
    pub name: String,
    /// Its pods' labels as a selector, in prose.
    pub selector: String,
    /// Ingress is limited to `accepts_from` (some policy isolates it); otherwise open.
    pub ingress_isolated: bool,
    pub egress_isolated: bool,
    pub accepts_from: Vec<RuleDoc>,
    pub can_reach: Vec<RuleDoc>,
    /// It may resolve names through cluster DNS.
    pub dns: bool,
    /// It may reach an address on the internet (198.51.100.10:443).
    pub internet: bool,
    /// It may reach the Kubernetes API server.
    pub api_server: bool,
    /// Guardrails whose namespaces and pods cover it.
    pub guardrails: Vec<String>,
    /// What each engine cannot express or only approximates for it.
    pub limitations: Vec<Limitation>,
}

/// One allow rule, in prose.
#[derive(Clone, Debug, Serialize)]
pub struct RuleDoc {
    /// Empty: anyone.
    pub peers: Vec<String>,
    /// Empty: every port.
    pub ports: Vec<String>,
    /// Why the rule exists (`dns`, `metrics`, `additionalIngress[0]` …).
    pub purpose: String,
    /// The policy it belongs to, `namespace/name`.
    pub policy: String,
    /// Where the values say it: `file:line`.
    pub at: String,
}

/// One engine's error or warning about what the values say.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Limitation {
    pub engine: String,
    /// `cannot express` (the engine refuses the values) or `approximates`.
    pub kind: String,
    pub message: String,
}

/// Workloads and peers, with the allowed edges between them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
    /// Namespaces with their nodes, for subgraphs.
    pub clusters: Vec<GraphCluster>,
    /// The nodes outside any one namespace (addresses, the API server, anyone).
    pub outside: Vec<GraphNode>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GraphNode {
    pub id: String,
    /// The namespace the node is drawn in; empty for peers outside any one namespace.
    pub namespace: String,
    pub label: String,
    /// `workload` or `peer`.
    pub kind: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    /// The labels of the two nodes, `namespace/workload` or the peer in prose.
    pub from_label: String,
    pub to_label: String,
    /// The ports, `8080/TCP, 9090/TCP`, or `any port`.
    pub label: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct GraphCluster {
    pub namespace: String,
    pub nodes: Vec<GraphNode>,
}

/// A row before it is written out: its pod's labels and the policies that select it.
struct Row<'a> {
    namespace: &'a str,
    name: String,
    /// Its pod in the derived topology.
    pod: String,
    labels: BTreeMap<String, String>,
    selector: String,
    policies: Vec<&'a Policy>,
}

/// Document `intent`, rendered for `engine`; `engines` are asked what they cannot express.
pub fn document(intent: &Intent, engine: Engine, engines: &[Engine]) -> DocsReport {
    let derived = derive::derive(intent);
    // With the `kubernetes.io/metadata.name` label every namespace carries.
    let all_labels: BTreeMap<&str, BTreeMap<String, String>> = derived
        .topology
        .namespaces
        .iter()
        .map(|n| (n.name.as_str(), derived.topology.namespace_labels(&n.name).into_owned()))
        .collect();
    let namespace_labels: BTreeMap<&str, &BTreeMap<String, String>> =
        all_labels.iter().map(|(name, labels)| (*name, labels)).collect();
    let rows = rows(intent, &derived);
    let limitations = limitations(intent, engines);
    let reference = PolicySet::from_layers(Cni::Kubernetes, vec![Box::new(IntentLayer::new(intent))]);
    let mut graph = GraphBuilder::default();
    for row in &rows {
        graph.workload(row.namespace, &row.name);
    }
    let mut attributed = vec![false; limitations.len()];
    let mut namespaces: BTreeMap<&str, NamespaceDoc> = BTreeMap::new();
    for row in &rows {
        let rules = |pick: fn(&Policy) -> &Option<Vec<Rule>>| -> Vec<(&Policy, &Rule)> {
            row.policies.iter().flat_map(|p| pick(p).iter().flatten().map(move |r| (*p, r))).collect()
        };
        let ingress = rules(|p| &p.ingress);
        let egress = rules(|p| &p.egress);
        let id = graph.workload(row.namespace, &row.name);
        for (_, rule) in &ingress {
            for target in graph.peers(rule, row.namespace, &rows, &namespace_labels) {
                graph.edge(&target, &id, rule);
            }
        }
        for (_, rule) in &egress {
            for target in graph.peers(rule, row.namespace, &rows, &namespace_labels) {
                graph.edge(&id, &target, rule);
            }
        }
        let egress_isolated = row.policies.iter().any(|p| p.egress.is_some());
        let mut mine = Vec::new();
        for (i, (origin, limitation)) in limitations.iter().enumerate() {
            if row.policies.iter().any(|p| within(origin, &p.origin)) {
                mine.push(limitation.clone());
                if let Some(done) = attributed.get_mut(i) {
                    *done = true;
                }
            }
        }
        mine.sort();
        mine.dedup();
        let reaches = |to: &str, protocol: Protocol, port: u16| {
            let topology = &derived.topology;
            let (Some(pod), Ok(destination)) =
                (topology.pod(row.namespace, &row.pod), Endpoint::parse(to, topology))
            else {
                return false;
            };
            reference.allowed(topology, &Flow { source: Endpoint::Pod(pod), destination, protocol, port })
        };
        let api_port = intent.cluster.api_server_ports.first().copied().unwrap_or(443);
        let doc = WorkloadDoc {
            id,
            name: row.name.clone(),
            selector: row.selector.clone(),
            ingress_isolated: row.policies.iter().any(|p| p.ingress.is_some()),
            egress_isolated,
            accepts_from: ingress.iter().map(|(p, r)| rule_doc(p, r)).collect(),
            can_reach: egress.iter().map(|(p, r)| rule_doc(p, r)).collect(),
            dns: !egress_isolated || egress.iter().any(|(_, r)| r.purpose == RulePurpose::Dns),
            internet: reaches(&format!("ip:{INTERNET}"), Protocol::Tcp, 443),
            api_server: reaches("apiserver", Protocol::Tcp, api_port),
            guardrails: intent
                .guardrails
                .iter()
                .filter(|g| {
                    namespace_labels.get(row.namespace).is_some_and(|labels| g.namespaces.matches(labels))
                        && g.pods.matches(&row.labels)
                })
                .map(|g| g.name.clone())
                .collect(),
            limitations: mine,
        };
        namespaces
            .entry(row.namespace)
            .or_insert_with(|| NamespaceDoc {
                name: row.namespace.to_string(),
                labels: namespace_labels
                    .get(row.namespace)
                    .map(|labels| {
                        labels
                            .iter()
                            .filter(|(k, _)| k.as_str() != crate::vocab::labels::NAMESPACE_NAME_LABEL)
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect()
                    })
                    .unwrap_or_default(),
                workloads: Vec::new(),
            })
            .workloads
            .push(doc);
    }
    let mut other_limitations: Vec<Limitation> = limitations
        .into_iter()
        .zip(attributed)
        .filter(|(_, done)| !done)
        .map(|((_, limitation), _)| limitation)
        .collect();
    other_limitations.sort();
    other_limitations.dedup();
    DocsReport {
        release: intent.release.clone(),
        engine: engine.to_string(),
        namespaces: namespaces.into_values().collect(),
        other_limitations,
        graph: graph.finish(),
    }
}

/// Every declared workload, then one `other pods` row per namespace with policies (the pods no
/// workload names, which namespace-wide policies still cover).
fn rows<'a>(intent: &'a Intent, derived: &Derived) -> Vec<Row<'a>> {
    let mut rows = Vec::new();
    let selecting = |namespace: &str, labels: &BTreeMap<String, String>| -> Vec<&'a Policy> {
        intent.policies.iter().filter(|p| p.namespace == namespace && p.subject.matches(labels)).collect()
    };
    for w in &intent.cluster.workloads {
        let Some(pod) = derived.topology.pod(&w.namespace, &w.name) else { continue };
        rows.push(Row {
            namespace: &w.namespace,
            name: w.name.clone(),
            pod: w.name.clone(),
            labels: pod.labels.clone(),
            selector: w.subject.to_string(),
            policies: selecting(&w.namespace, &pod.labels),
        });
    }
    let mut namespaces: Vec<&str> = intent.policies.iter().map(|p| p.namespace.as_str()).collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    for namespace in namespaces {
        let none = BTreeMap::new();
        let policies = selecting(namespace, &none);
        if !policies.is_empty() {
            let selector = "pods no workload names".to_string();
            let (name, pod) = ("other pods".to_string(), derive::PLAIN_POD.to_string());
            rows.push(Row { namespace, name, pod, labels: none, selector, policies });
        }
    }
    rows.sort_by(|a, b| {
        (a.namespace, a.name == "other pods", &a.name).cmp(&(b.namespace, b.name == "other pods", &b.name))
    });
    rows
}

fn rule_doc(policy: &Policy, rule: &Rule) -> RuleDoc {
    RuleDoc {
        peers: rule.peers.iter().map(ToString::to_string).collect(),
        ports: rule.ports.iter().map(ToString::to_string).collect(),
        purpose: rule.name.clone(),
        policy: format!("{}/{}", policy.namespace, policy.name),
        at: if rule.origin.line > 0 {
            format!("{}:{}", rule.origin.file, rule.origin.line)
        } else {
            rule.origin.to_string()
        },
    }
}

/// Every engine's errors (it cannot render the values) and warnings (it approximates them),
/// with where in the values each one is.
fn limitations(intent: &Intent, engines: &[Engine]) -> Vec<(Origin, Limitation)> {
    let mut found = Vec::new();
    for engine in engines {
        let (diagnostics, kind): (Vec<Diagnostic>, &str) = match crate::render::render_intent(*engine, intent)
        {
            Ok((_, warnings)) => (warnings, "approximates"),
            Err(Error::Invalid(problems)) => (problems, "cannot express"),
            Err(other) => (other.diagnostics(), "cannot express"),
        };
        for d in diagnostics {
            let kind = if d.severity == Severity::Error { "cannot express" } else { kind };
            let limitation =
                Limitation { engine: engine.to_string(), kind: kind.to_string(), message: d.message.clone() };
            found.push((d.origin.clone().unwrap_or_default(), limitation));
        }
    }
    found
}

/// Whether `inner` is at `outer` or inside it (same file, key path nested).
fn within(inner: &Origin, outer: &Origin) -> bool {
    inner.file == outer.file
        && !outer.path.is_empty()
        && crate::vocab::source::path_within(&inner.path, &outer.path)
}

#[derive(Default)]
struct GraphBuilder {
    ids: BTreeMap<(String, String), String>,
    nodes: Vec<GraphNode>,
    edges: BTreeMap<(String, String), Vec<String>>,
}

impl GraphBuilder {
    fn node(&mut self, namespace: &str, label: &str, kind: &str) -> String {
        let key = (namespace.to_string(), label.to_string());
        if let Some(id) = self.ids.get(&key) {
            return id.clone();
        }
        let id = format!("n{}", self.nodes.len());
        self.ids.insert(key, id.clone());
        self.nodes.push(GraphNode {
            id: id.clone(),
            namespace: namespace.to_string(),
            label: label.to_string(),
            kind: kind.to_string(),
        });
        id
    }

    fn workload(&mut self, namespace: &str, name: &str) -> String {
        self.node(namespace, name, "workload")
    }

    /// The nodes a rule's peers stand for: the workloads a pod peer selects, else a node of
    /// the peer itself.
    fn peers(
        &mut self,
        rule: &Rule,
        own_namespace: &str,
        rows: &[Row<'_>],
        namespace_labels: &BTreeMap<&str, &BTreeMap<String, String>>,
    ) -> Vec<String> {
        if rule.peers.is_empty() {
            return vec![self.node("", "anyone", "peer")];
        }
        let mut targets = Vec::new();
        for peer in &rule.peers {
            let matched: Vec<(&str, &str)> = match peer {
                Peer::Pods { namespaces, pods } => rows
                    .iter()
                    .filter(|row| pods.matches(&row.labels))
                    .filter(|row| match namespaces {
                        Namespaces::Own => row.namespace == own_namespace,
                        Namespaces::Matching(selector) => {
                            namespace_labels.get(row.namespace).is_some_and(|labels| selector.matches(labels))
                        }
                    })
                    .map(|row| (row.namespace, row.name.as_str()))
                    .collect(),
                _ => Vec::new(),
            };
            if matched.is_empty() {
                let namespace = match peer {
                    Peer::Pods { namespaces: Namespaces::Own, .. } => own_namespace,
                    _ => "",
                };
                targets.push(self.node(namespace, &peer.to_string(), "peer"));
            } else {
                targets.extend(matched.into_iter().map(|(ns, name)| self.workload(ns, name)));
            }
        }
        targets
    }

    fn edge(&mut self, from: &str, to: &str, rule: &Rule) {
        let ports = if rule.ports.is_empty() {
            vec!["any port".to_string()]
        } else {
            rule.ports.iter().map(ToString::to_string).collect()
        };
        let labels = self.edges.entry((from.to_string(), to.to_string())).or_default();
        for port in ports {
            if !labels.contains(&port) {
                labels.push(port);
            }
        }
    }

    fn finish(self) -> Graph {
        let mut namespaces: BTreeMap<String, Vec<GraphNode>> = BTreeMap::new();
        let mut outside = Vec::new();
        for node in &self.nodes {
            match node.namespace.as_str() {
                "" => outside.push(node.clone()),
                namespace => namespaces.entry(namespace.to_string()).or_default().push(node.clone()),
            }
        }
        let label_of = |n: &GraphNode| match n.namespace.as_str() {
            "" => n.label.clone(),
            namespace => format!("{namespace}/{}", n.label),
        };
        let labels: BTreeMap<&str, String> =
            self.nodes.iter().map(|n| (n.id.as_str(), label_of(n))).collect();
        let edges = self
            .edges
            .into_iter()
            .map(|((from, to), ports)| GraphEdge {
                from_label: labels.get(from.as_str()).cloned().unwrap_or_default(),
                to_label: labels.get(to.as_str()).cloned().unwrap_or_default(),
                from,
                to,
                label: ports.join(", "),
            })
            .collect();
        Graph {
            nodes: self.nodes,
            outside,
            edges,
            clusters: namespaces
                .into_iter()
                .map(|(namespace, nodes)| GraphCluster { namespace, nodes })
                .collect(),
        }
    }
}
