//! Semantic evaluation: does a set of policies allow a flow, and which rule decided?
//!
//! Every engine is modelled as one or more [`Layer`]s, ordered the way the engine orders them
//! (ENGINES.md 6): the ClusterNetworkPolicy Admin tier, then the namespaced policies of the CNI
//! (Kubernetes NetworkPolicy alone, Cilium's pooled policies, or Calico's tiers), then the
//! Baseline tier, then allow. A flow needs egress at its source and ingress at its destination;
//! a side that is not a policy-enforced pod contributes "allowed".

pub mod calico;
pub mod check;
pub mod cilium;
pub mod classes;
pub mod cluster_network_policy;
pub mod derive;
pub mod kubernetes;
pub mod labels;
pub mod manifests;
pub mod matrix;
pub mod reference;
#[cfg(test)]
pub mod testing;
pub mod topology;

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::{Diagnostic, Error, Result};
use crate::intent::Protocol;
use crate::vocab::source::{KeyPath, Seg};

pub use manifests::{read_objects, read_policies};
pub use topology::{ContainerPort, Node, Pod, Topology};

/// Which implementation answers what Kubernetes leaves open (does an ipBlock match pod IPs?)
/// and which CNI's policy kinds are in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cni {
    /// The upstream reference behaviour: an ipBlock matches any address, pod IPs included.
    Kubernetes,
    /// Cilium: CIDR peers never match pods, nodes or an in-cluster API server.
    Cilium,
    /// Calico: CIDR peers (`nets`, ipBlock) match any address, pod IPs included.
    Calico,
}

impl Cni {
    pub fn as_str(self) -> &'static str {
        match self {
            Cni::Kubernetes => "kubernetes",
            Cni::Cilium => "cilium",
            Cni::Calico => "calico",
        }
    }

    /// Whether a CIDR peer (ipBlock, `toCIDR`, `nets`, `networks`) matches this endpoint.
    pub(crate) fn cidr_can_match(self, endpoint: &Endpoint<'_>) -> bool {
        match (self, endpoint) {
            (Cni::Cilium, Endpoint::Pod(_) | Endpoint::Node(_) | Endpoint::ApiServer(_)) => false,
            _ => endpoint.ip().is_some(),
        }
    }
}

impl fmt::Display for Cni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::vocab::direction::{Direction, PerDirection};

/// Which end of a flow an endpoint is: the source is the subject of egress policies and the
/// peer of ingress rules; the destination the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Source,
    Destination,
}

impl End {
    /// The direction whose policies judge this end as their subject.
    pub(crate) fn subject_direction(self) -> Direction {
        match self {
            End::Source => Direction::Egress,
            End::Destination => Direction::Ingress,
        }
    }

    /// The direction whose rules see this end as their peer.
    pub(crate) fn peer_direction(self) -> Direction {
        match self {
            End::Source => Direction::Ingress,
            End::Destination => Direction::Egress,
        }
    }
}

/// One end of a flow.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint<'t> {
    /// A pod of the topology (host-network pods carry their node's address and are never
    /// policy subjects).
    Pod(&'t Pod),
    /// A node (kubelet, host processes).
    Node(&'t Node),
    /// The Kubernetes API server, at one of its addresses.
    ApiServer(IpAddr),
    /// Anything else, by address: the internet, an FQDN's address, a metadata service.
    External(IpAddr),
}

impl<'t> Endpoint<'t> {
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Endpoint::Pod(p) => p.ip,
            Endpoint::Node(n) => n.ip,
            Endpoint::ApiServer(ip) | Endpoint::External(ip) => Some(*ip),
        }
    }

    /// The pod, unless it runs in the host network (then it is its node to every engine).
    pub(crate) fn policy_pod(&self) -> Option<&'t Pod> {
        match self {
            Endpoint::Pod(p) if !p.host_network => Some(p),
            _ => None,
        }
    }

    /// `ns/pod`, `node:NAME`, `apiserver:IP` or `ip:ADDRESS`: how flows name endpoints.
    pub fn label(&self) -> String {
        match self {
            Endpoint::Pod(p) => format!("{}/{}", p.namespace, p.name),
            Endpoint::Node(n) => format!("node:{}", n.name),
            Endpoint::ApiServer(ip) => format!("apiserver:{ip}"),
            Endpoint::External(ip) => format!("ip:{ip}"),
        }
    }

    /// Read an endpoint as flows write it: `namespace/pod`, `ip:A.B.C.D` (a pod's, a node's or
    /// the API server's address resolves to that endpoint), `node:NAME`, `apiserver`, or
    /// `dns:NAME` (the first address the topology gives the name).
    pub fn parse(text: &str, topology: &'t Topology) -> std::result::Result<Self, String> {
        if let Some(ip) = text.strip_prefix("ip:") {
            let ip: IpAddr = ip.parse().map_err(|_| format!("`{ip}` is not an IP address"))?;
            return Ok(Endpoint::at(ip, topology));
        }
        if let Some(name) = text.strip_prefix("node:") {
            return topology
                .node(name)
                .map(Endpoint::Node)
                .ok_or_else(|| format!("no node `{name}` in the topology"));
        }
        if text == "apiserver" {
            return topology.api_server.addresses.first().map(|ip| Endpoint::ApiServer(*ip)).ok_or_else(
                || "the topology gives the API server no address (`apiServer.addresses`)".to_string(),
            );
        }
        if let Some(name) = text.strip_prefix("dns:") {
            return topology
                .dns_names
                .iter()
                .find(|d| d.name == name)
                .and_then(|d| d.addresses.first())
                .map(|ip| Endpoint::External(*ip))
                .ok_or_else(|| format!("the topology has no address for `{name}` (`dnsNames`)"));
        }
        let (ns, name) = text.split_once('/').ok_or_else(|| {
            format!("`{text}` is none of `namespace/pod`, `ip:ADDRESS`, `node:NAME`, `apiserver`, `dns:NAME`")
        })?;
        topology.pod(ns, name).map(Endpoint::Pod).ok_or_else(|| format!("no pod `{text}` in the topology"))
    }

    /// The endpoint that owns an address: a (non-host-network) pod, a node, the API server,
    /// or else an external address.
    pub fn at(ip: IpAddr, topology: &'t Topology) -> Self {
        if let Some(p) = topology.pods.iter().find(|p| p.ip == Some(ip) && !p.host_network) {
            return Endpoint::Pod(p);
        }
        if let Some(n) = topology.nodes.iter().find(|n| n.ip == Some(ip)) {
            return Endpoint::Node(n);
        }
        if topology.api_server.addresses.contains(&ip) {
            return Endpoint::ApiServer(ip);
        }
        Endpoint::External(ip)
    }
}

/// A flow with its port resolved to a number.
#[derive(Clone, Copy, Debug)]
pub struct Flow<'t> {
    pub source: Endpoint<'t>,
    pub destination: Endpoint<'t>,
    pub protocol: Protocol,
    pub port: u16,
}

impl<'t> Flow<'t> {
    /// The pod whose policies judge this direction, if it is a policy-enforced pod.
    pub fn subject(&self, dir: Direction) -> Option<&'t Pod> {
        match dir {
            Direction::Egress => self.source.policy_pod(),
            Direction::Ingress => self.destination.policy_pod(),
        }
    }

    /// The other end, as seen by the subject's policies.
    pub fn peer(&self, dir: Direction) -> &Endpoint<'t> {
        match dir {
            Direction::Egress => &self.destination,
            Direction::Ingress => &self.source,
        }
    }

    /// Whether a rule's named port means this flow's port: it names a container port of the
    /// destination pod with the flow's protocol and number. Unresolvable names match nothing.
    pub(crate) fn destination_port_named(&self, name: &str) -> bool {
        let Endpoint::Pod(pod) = self.destination else { return false };
        pod.ports
            .iter()
            .any(|c| c.name.as_deref() == Some(name) && c.protocol == self.protocol && c.port == self.port)
    }
}

/// What a layer says about one direction of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Final: the direction is allowed (later layers are not consulted).
    Allow,
    /// Final: the direction is dropped.
    Deny,
    /// No final say: the next layer decides (Calico `Pass`, a tier that selects nothing,
    /// a pod no policy isolates).
    Pass,
}

/// One thing the engine considered, for explanations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `Kind namespace/name` (or `Kind name` for cluster-scoped objects); empty for the
    /// engine's built-in behaviour.
    pub object: String,
    /// The rule within the object, e.g. `ingress[2]`; empty when the object as a whole acted
    /// (isolation, end of tier).
    pub rule: String,
    pub decision: Decision,
    /// Why, in words.
    pub note: String,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.decision {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Pass => "pass",
        };
        match (self.object.is_empty(), self.rule.is_empty()) {
            (true, _) => write!(f, "{verdict}: {}", self.note),
            (false, true) => write!(f, "{verdict}: {}: {}", self.object, self.note),
            (false, false) => write!(f, "{verdict}: {} {}: {}", self.object, self.rule, self.note),
        }
    }
}

/// A layer's answer for one direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Decision,
    /// What decided, in evaluation order; the last step is the deciding one.
    pub steps: Vec<Step>,
    /// Constructs that matched the flow at L3/L4 but whose effect is not modelled (L7 rules).
    pub unmodelled: Vec<String>,
}

/// Where a layer's one decision path records the step that decided: `decide` passes a trace,
/// the fast `decision` passes none, and then nothing is formatted.
pub(crate) type Trace<'a> = Option<&'a mut Vec<Step>>;

/// Record a step in `trace`, building it only when there is a trace.
pub(crate) fn record(trace: Trace<'_>, step: impl FnOnce() -> Step) {
    if let Some(steps) = trace {
        steps.push(step());
    }
}

/// `decide` of a layer whose one decision path records into a [`Trace`].
pub(crate) fn traced(judge: impl FnOnce(Trace<'_>) -> Decision) -> Outcome {
    let mut steps = Vec::new();
    let decision = judge(Some(&mut steps));
    Outcome { decision, steps, unmodelled: Vec::new() }
}

impl Outcome {
    pub fn new(decision: Decision, step: Step) -> Self {
        Outcome { decision, steps: vec![step], unmodelled: Vec::new() }
    }
}

/// Where a layer sits, in Calico's tier order (smaller first, ties by name): the Admin tier at
/// 1,000, namespaced policies at 1,000,000, the Baseline tier at 10,000,000.
#[derive(Clone, Debug, PartialEq)]
pub struct Rank {
    pub order: f64,
    pub name: String,
}

pub(crate) const ADMIN_ORDER: f64 = 1_000.0;
pub(crate) const NAMESPACED_ORDER: f64 = 1_000_000.0;
pub(crate) const BASELINE_ORDER: f64 = 10_000_000.0;

/// What the evaluator needs besides the flow.
#[derive(Clone, Copy, Debug)]
pub struct Context<'t> {
    pub topology: &'t Topology,
    pub cni: Cni,
}

/// One step of an engine's decision procedure.
pub trait Layer: Send + Sync + fmt::Debug {
    fn rank(&self) -> Rank;
    /// Judge the direction `dir` of `flow`; only called when `flow.subject(dir)` is a pod.
    fn decide(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Outcome;

    /// The decision alone, for matrices of millions of flows: layers override it to skip
    /// building explanations. Must agree with `decide`.
    fn decision(&self, ctx: &Context<'_>, dir: Direction, flow: &Flow<'_>) -> Decision {
        self.decide(ctx, dir, flow).decision
    }

    /// Everything this layer can tell about `pod` (a policy-enforced pod) at one `end` of a
    /// flow, as ids pushed on `out`: every policy that selects it for the end's subject
    /// direction, and every distinct peer of the other direction's rules that matches it.
    /// Two pods with the same [`classes::traits`] and the same signature from every layer get
    /// the same decision on every flow at that end, so `check` and `matrix` judge such pods
    /// once per class. `false`: the layer cannot say, and the pod is a class of its own.
    fn signature(&self, _ctx: &Context<'_>, _end: End, _pod: &Pod, _out: &mut Vec<u32>) -> bool {
        false
    }
}

/// The verdict on a flow and everything that led to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub allowed: bool,
    /// Every step in the order the engine takes them: egress at the source, then ingress at
    /// the destination.
    pub steps: Vec<(Direction, Step)>,
    pub unmodelled: Vec<String>,
}

impl Verdict {
    /// The step that settled the verdict: the first deny, else the last ingress step.
    pub(crate) fn deciding(&self) -> Option<&(Direction, Step)> {
        if self.allowed {
            self.steps.last()
        } else {
            self.steps.iter().find(|(_, s)| s.decision == Decision::Deny)
        }
    }
}

/// The policy objects of one cluster, as layers of the engine that enforces them.
#[derive(Debug)]
pub struct PolicySet {
    pub cni: Cni,
    layers: Vec<Box<dyn Layer>>,
    /// What reading the objects noticed (unknown fields), for the caller to print.
    pub warnings: Vec<Diagnostic>,
}

/// Which evaluator owns an object, by API group and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Kubernetes,
    Cilium,
    Calico,
    ClusterNetworkPolicy,
}

fn owner(api_version: &str, kind: &str) -> Option<Owner> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    match (group, kind) {
        ("networking.k8s.io", "NetworkPolicy") => Some(Owner::Kubernetes),
        ("cilium.io", "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy") => Some(Owner::Cilium),
        (
            "projectcalico.org" | "crd.projectcalico.org",
            "NetworkPolicy" | "GlobalNetworkPolicy" | "Tier" | "NetworkSet" | "GlobalNetworkSet",
        ) => Some(Owner::Calico),
        (
            "policy.networking.k8s.io",
            "ClusterNetworkPolicy" | "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy",
        ) => Some(Owner::ClusterNetworkPolicy),
        _ => None,
    }
}

/// `Kind namespace/name` or `Kind name`, for steps and errors.
pub(crate) fn object_label(object: &serde_json::Value) -> String {
    let kind = object.get("kind").and_then(|k| k.as_str()).unwrap_or("object");
    let name = object.pointer("/metadata/name").and_then(|k| k.as_str()).unwrap_or("<unnamed>");
    match object.pointer("/metadata/namespace").and_then(|k| k.as_str()) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

impl PolicySet {
    /// Sort objects to their evaluators. `cni` is inferred from the kinds when not given
    /// (Cilium or Calico objects imply that CNI; otherwise `kubernetes`); kinds of another CNI
    /// than the one asked for, and kinds no evaluator models, are errors.
    pub fn new(objects: &[serde_json::Value], cni: Option<Cni>) -> Result<PolicySet> {
        let objects: Vec<serde_json::Value> = objects
            .iter()
            .map(|o| {
                let mut o = o.clone();
                strip_nulls(&mut o);
                o
            })
            .collect();
        let mut by_owner: [Vec<&serde_json::Value>; 4] = Default::default();
        let mut problems = Vec::new();
        for o in &objects {
            let api = o.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("");
            let kind = o.get("kind").and_then(|v| v.as_str()).unwrap_or("");
            match owner(api, kind) {
                Some(w) => by_owner[w as usize].push(o),
                None => problems.push(Diagnostic::evaluator(format!(
                    "{} ({api}) is not a policy kind the evaluator models: it reads NetworkPolicy, \
                     CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, Calico NetworkPolicy, \
                     GlobalNetworkPolicy, Tier, (Global)NetworkSet, ClusterNetworkPolicy, \
                     AdminNetworkPolicy and BaselineAdminNetworkPolicy",
                    object_label(o)
                ))),
            }
        }
        let [k8s, cilium_objects, calico_objects, cnp_objects] = by_owner;
        let inferred = match (cilium_objects.is_empty(), calico_objects.is_empty()) {
            (false, false) => {
                problems.push(Diagnostic::evaluator(
                    "the manifests hold both Cilium and Calico policies; one cluster runs one CNI",
                ));
                Cni::Kubernetes
            }
            (false, true) => Cni::Cilium,
            (true, false) => Cni::Calico,
            (true, true) => Cni::Kubernetes,
        };
        let cni = match cni {
            Some(asked) if inferred != Cni::Kubernetes && asked != inferred => {
                problems.push(Diagnostic::evaluator(format!(
                    "--cni {asked} cannot enforce the {inferred} policies in the manifests; use --cni {inferred}"
                )));
                asked
            }
            Some(asked) => asked,
            None => inferred,
        };
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let mut warnings = Vec::new();
        let mut layers = match cni {
            Cni::Kubernetes => kubernetes::layers(&k8s, &mut warnings)?,
            Cni::Cilium => cilium::layers(&k8s, &cilium_objects, &mut warnings)?,
            Cni::Calico => calico::layers(&k8s, &calico_objects, &mut warnings)?,
        };
        layers.extend(cluster_network_policy::layers(&cnp_objects, &mut warnings)?);
        let mut set = PolicySet::from_layers(cni, layers);
        set.warnings = warnings;
        Ok(set)
    }

    /// A policy set of given layers (the intent's own model, tests).
    pub fn from_layers(cni: Cni, mut layers: Vec<Box<dyn Layer>>) -> PolicySet {
        layers.sort_by(|a, b| {
            let (a, b) = (a.rank(), b.rank());
            a.order.total_cmp(&b.order).then_with(|| a.name.cmp(&b.name))
        });
        PolicySet { cni, layers, warnings: Vec::new() }
    }

    /// Every layer's [`Layer::signature`] of `pod` at `end`, one after the other; `false` if a
    /// layer cannot say.
    pub(crate) fn signature(&self, topology: &Topology, end: End, pod: &Pod, out: &mut Vec<u32>) -> bool {
        let ctx = Context { topology, cni: self.cni };
        self.layers.iter().all(|layer| {
            out.push(classes::LAYER_BOUNDARY);
            layer.signature(&ctx, end, pod, out)
        })
    }

    /// The verdict alone (what `evaluate` decides, without the explanation).
    pub fn allowed(&self, topology: &Topology, flow: &Flow<'_>) -> bool {
        [Direction::Egress, Direction::Ingress]
            .into_iter()
            .all(|dir| self.decide_direction(topology, flow, dir) != Decision::Deny)
    }

    /// Judge one flow: egress at the source, then ingress at the destination.
    pub fn evaluate(&self, topology: &Topology, flow: &Flow<'_>) -> Verdict {
        let mut verdict = Verdict { allowed: true, steps: Vec::new(), unmodelled: Vec::new() };
        for dir in [Direction::Egress, Direction::Ingress] {
            let side = self.evaluate_direction(topology, flow, dir);
            let through = side.lets_through();
            verdict.unmodelled.extend(side.unmodelled);
            verdict.steps.extend(side.steps.into_iter().map(|s| (dir, s)));
            if !through {
                verdict.allowed = false;
                return verdict;
            }
        }
        verdict
    }

    /// Judge one direction of a flow on its own, whatever the other direction says: lint
    /// asks whether a connection is allowed at one end and refused at the other.
    pub fn evaluate_direction(&self, topology: &Topology, flow: &Flow<'_>, dir: Direction) -> Outcome {
        let ctx = Context { topology, cni: self.cni };
        if let Some(unpoliced) = Unpoliced::of(flow, dir) {
            return Outcome::new(Decision::Allow, Step::builtin(Decision::Allow, unpoliced.note(dir)));
        }
        let mut side = Outcome { decision: Decision::Allow, steps: Vec::new(), unmodelled: Vec::new() };
        for layer in &self.layers {
            let outcome = layer.decide(&ctx, dir, flow);
            side.unmodelled.extend(outcome.unmodelled);
            side.steps.extend(outcome.steps);
            match outcome.decision {
                Decision::Allow => return side,
                Decision::Deny => {
                    side.decision = Decision::Deny;
                    return side;
                }
                Decision::Pass => {}
            }
        }
        // Nothing decided: the direction is open. `Pass` tells the caller no object spoke.
        side.decision = Decision::Pass;
        side.steps
            .push(Step::builtin(Decision::Allow, format!("no policy decides {}; allowed", dir.field())));
        side
    }
}

impl PolicySet {
    /// [`PolicySet::evaluate_direction`]'s decision alone, explaining nothing: for scans of
    /// many flows that explain only the few they report.
    pub fn decide_direction(&self, topology: &Topology, flow: &Flow<'_>, dir: Direction) -> Decision {
        let ctx = Context { topology, cni: self.cni };
        if Unpoliced::of(flow, dir).is_some() {
            return Decision::Allow;
        }
        for layer in &self.layers {
            match layer.decision(&ctx, dir, flow) {
                Decision::Pass => {}
                decided => return decided,
            }
        }
        Decision::Pass
    }
}

/// Why a direction of a flow is allowed before any policy is asked.
enum Unpoliced {
    /// That end is not a policy-enforced pod.
    NotAPod,
    /// Ingress from the pod's own node (kubelet probes).
    OwnNode,
}

impl Unpoliced {
    fn of(flow: &Flow<'_>, dir: Direction) -> Option<Unpoliced> {
        let Some(subject) = flow.subject(dir) else { return Some(Unpoliced::NotAPod) };
        let own_node = dir == Direction::Ingress
            && matches!(flow.source, Endpoint::Node(node) if subject.node_name.as_deref() == Some(node.name.as_str()));
        own_node.then_some(Unpoliced::OwnNode)
    }

    fn note(&self, dir: Direction) -> String {
        match self {
            Unpoliced::NotAPod => {
                let end = if dir == Direction::Egress { "source" } else { "destination" };
                format!("the {end} is not a pod; no policy applies")
            }
            Unpoliced::OwnNode => "from the pod's own node (kubelet probes)".into(),
        }
    }
}

/// What one direction of a flow came to.
impl Outcome {
    /// The direction lets the flow through (allowed by a rule, or by no policy at all).
    pub fn lets_through(&self) -> bool {
        self.decision != Decision::Deny
    }
}

impl Step {
    /// A step of the engine's built-in behaviour rather than of an object.
    pub(crate) fn builtin(decision: Decision, note: String) -> Step {
        Step { object: String::new(), rule: String::new(), decision, note }
    }
}

/// One flow to judge, as written in a flows file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    pub from: String,
    pub to: String,
    pub port: PortRef,
    #[serde(default = "tcp_text")]
    pub protocol: String,
    /// The verdict the flow is expected to get (`netpol test`, and `eval` when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
}

fn tcp_text() -> String {
    "TCP".to_string()
}

pub use crate::wire::PortRef;

impl FlowSpec {
    /// Resolve the endpoints and the port (a name resolves on the destination pod).
    pub fn resolve<'t>(&self, topology: &'t Topology) -> std::result::Result<Flow<'t>, String> {
        let source = Endpoint::parse(&self.from, topology)?;
        let destination = Endpoint::parse(&self.to, topology)?;
        let protocol = topology::protocol_text::parse(&self.protocol).ok_or_else(|| {
            format!("protocol `{}` is not modelled: TCP, UDP and SCTP are (ICMP is not)", self.protocol)
        })?;
        let port = match &self.port {
            PortRef::Number(0) => return Err("port 0 is not a port".to_string()),
            PortRef::Number(n) => *n,
            PortRef::Name(name) => match destination {
                Endpoint::Pod(pod) => pod
                    .ports
                    .iter()
                    .find(|c| c.name.as_deref() == Some(name.as_str()) && c.protocol == protocol)
                    .map(|c| c.port)
                    .ok_or_else(|| {
                        format!("pod {} has no {} port named `{name}`", self.to, protocol.as_str())
                    })?,
                _ => return Err(format!("a named port (`{name}`) needs a pod as destination")),
            },
        };
        Ok(Flow { source, destination, protocol, port })
    }
}

/// The judged flow, as printed by `netpol eval`: the flow as written plus the verdict.
#[derive(Clone, Debug, Serialize)]
pub struct JudgedFlow {
    pub from: String,
    pub to: String,
    pub port: PortRef,
    pub protocol: String,
    pub allowed: bool,
    /// The verdict the flows file expected, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<bool>,
    /// The rule that settled the verdict.
    pub rule: String,
    /// Everything considered, in the engine's order.
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmodelled: Vec<String>,
}

/// Every flow between two pods of the topology (each pod to each other pod, on each declared
/// port), one at a time, until `visit` fails.
pub(crate) fn each_pod_pair_flow(
    topology: &Topology,
    mut visit: impl FnMut(FlowSpec) -> std::io::Result<()>,
) -> std::io::Result<()> {
    for from in &topology.pods {
        for to in &topology.pods {
            if std::ptr::eq(from, to) {
                continue;
            }
            for p in &to.ports {
                visit(FlowSpec {
                    from: format!("{}/{}", from.namespace, from.name),
                    to: format!("{}/{}", to.namespace, to.name),
                    port: PortRef::Number(p.port),
                    protocol: p.protocol.as_str().to_string(),
                    allowed: None,
                })?;
            }
        }
    }
    Ok(())
}

/// Null is the empty value, as the API server decodes it: `podSelector:` with no value selects
/// every pod. Null map entries are removed, so every field reads as absent, i.e. empty.
pub(crate) fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A field of a manifest object that could not be read, and why.
#[derive(Debug)]
pub(crate) struct WireError {
    /// Where in the object; empty for the object as a whole.
    pub field: KeyPath,
    pub message: String,
}

impl From<String> for WireError {
    fn from(message: String) -> Self {
        WireError { field: KeyPath::default(), message }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.0.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl WireError {
    /// The error of one manifest object (called `label` in messages), to be located in its
    /// file by [`manifests::locate_in_manifests`].
    pub fn diagnostic(&self, object: &serde_json::Value, label: &str) -> Diagnostic {
        Diagnostic::evaluator(format!("{label}: {self}"))
            .in_manifest(object_label(object), self.field.to_string())
    }
}

fn prefixed(prefix: &str, rest: impl IntoIterator<Item = Seg>) -> KeyPath {
    KeyPath(
        prefix.split('.').filter(|k| !k.is_empty()).map(|k| Seg::Key(k.to_string())).chain(rest).collect(),
    )
}

fn ignored_path(path: &serde_ignored::Path<'_>, out: &mut Vec<Seg>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            ignored_path(parent, out);
            out.push(Seg::Index(*index));
        }
        Path::Map { parent, key } => {
            ignored_path(parent, out);
            out.push(Seg::Key(key.clone()));
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
            ignored_path(parent, out)
        }
    }
}

/// Read one wire struct from an object's JSON. Fields the struct does not know under `spec`
/// are reported (as `kubectl apply --validate=warn` does) instead of vanishing in silence;
/// `prefix` is the path of `value` within the object (`spec.` when reading a spec alone), and
/// `object` the whole object, which locates it in its file, and `label` names it in messages.
pub(crate) fn from_wire<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    prefix: &str,
    object: &serde_json::Value,
    label: &str,
    warnings: &mut Vec<Diagnostic>,
) -> std::result::Result<T, WireError> {
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| {
        let mut segments = Vec::new();
        ignored_path(&path, &mut segments);
        unknown.push(prefixed(prefix, segments));
    };
    let read = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(value, &mut record));
    for path in unknown {
        if matches!(path.0.first(), Some(Seg::Key(k)) if k == "spec" || k == "specs") {
            warnings.push(
                Diagnostic::warning(format!("{label}: unknown field `{path}` is ignored"))
                    .coded(crate::error::Code::Ignored)
                    .with_help("the API server drops fields its schema does not know; check the spelling")
                    .in_manifest(object_label(object), path.to_string()),
            );
        }
    }
    read.map_err(|e| {
        let segments = e.path().iter().filter_map(|segment| match segment {
            serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
            serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => None,
        });
        WireError {
            field: prefixed(prefix, segments.collect::<Vec<_>>()),
            message: e.into_inner().to_string(),
        }
    })
}

/// How the evaluator reads YAML: only `true`/`false` are booleans, so a label value, a pod or
/// a node named `n`, `y`, `on` or `no` stays a string.
///
/// The node, event and document budgets are raised so that any flows file `topology --flows`
/// writes, and manifests of 10,000 workloads, read back; the input itself is capped at
/// `input::MAX_INPUT_BYTES`, and the alias and anchor caps against alias bombs stay.
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 256 * 1024 * 1024;
    budget.max_nodes = 128 * 1024 * 1024;
    budget.max_documents = 1024 * 1024;
    serde_saphyr::options! { strict_booleans: true, budget: Some(budget) }
}

/// The flows of a flows file, adding the text to `sources` when it has errors, so they are
/// shown in place.
pub fn read_flows_with_sources(
    text: &str,
    name: &str,
    sources: &mut crate::vocab::source::Sources,
) -> Result<Vec<FlowSpec>> {
    serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|e| located_again::<Vec<FlowSpec>>(text, name, sources, e.to_string()))
}

/// The flows of a flows file, each with where it was written (for errors and test reports).
pub fn read_flows_located(
    text: &str,
    name: &str,
    sources: &mut crate::vocab::source::Sources,
) -> Result<Vec<(FlowSpec, crate::vocab::source::Origin)>> {
    let flows = read_flows_with_sources(text, name, sources)?;
    let id = sources.id_for(name, text);
    let root = crate::values::tree::parse(text, id, sources).map_err(Error::invalid)?;
    let path = crate::vocab::source::KeyPath::default();
    Ok(flows
        .into_iter()
        .enumerate()
        .map(|(i, flow)| {
            let at = path.index(i);
            let origin = sources.origin(root.locate(&at.0), &at);
            (flow, origin)
        })
        .collect())
}

/// A file the fast reader refused, read again as values are read so that every problem is
/// located at its line, column and key path (with "did you mean"), as errors in values are.
/// The fast reader's message stands when the second reading finds nothing to say.
fn located_again<T: serde::de::DeserializeOwned>(
    text: &str,
    name: &str,
    sources: &mut crate::vocab::source::Sources,
    first: String,
) -> Error {
    let coded = |mut problems: Vec<Diagnostic>| {
        for p in &mut problems {
            p.code = crate::error::Code::Evaluator;
        }
        Error::Invalid(problems)
    };
    match crate::values::read_located::<T>(text, name, sources) {
        Err(Error::Invalid(problems)) if !problems.is_empty() => coded(problems),
        _ => coded(vec![Diagnostic::evaluator(format!("{name}: {first}"))]),
    }
}

/// Judge every flow; a flow that names something the topology lacks is an error, so the
/// output always lists every flow that was asked about.
pub fn judge(policies: &PolicySet, topology: &Topology, flows: &[FlowSpec]) -> Result<Vec<JudgedFlow>> {
    resolve_all(topology, flows)?;
    Ok(flows.iter().filter_map(|f| judge_one(policies, topology, f)).collect())
}

/// Check that every flow resolves in the topology: all problems at once, before any output.
pub(crate) fn resolve_all(topology: &Topology, flows: &[FlowSpec]) -> Result<()> {
    let problems: Vec<Diagnostic> = flows
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            f.resolve(topology)
                .err()
                .map(|e| Diagnostic::evaluator(format!("flow {i} ({} -> {}): {e}", f.from, f.to)))
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(Error::Invalid(problems)) }
}

/// Judge one flow with its explanation; `None` when it does not resolve.
pub(crate) fn judge_one(policies: &PolicySet, topology: &Topology, f: &FlowSpec) -> Option<JudgedFlow> {
    let flow = f.resolve(topology).ok()?;
    let v = policies.evaluate(topology, &flow);
    Some(JudgedFlow {
        from: f.from.clone(),
        to: f.to.clone(),
        port: f.port.clone(),
        protocol: f.protocol.clone(),
        allowed: v.allowed,
        expected: f.allowed,
        rule: v.deciding().map(|(d, s)| format!("{}: {s}", d.field())).unwrap_or_default(),
        reasons: v.steps.iter().map(|(d, s)| format!("{}: {s}", d.field())).collect(),
        unmodelled: v.unmodelled,
    })
}
