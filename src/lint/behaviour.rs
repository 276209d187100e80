//! Lint rules that ask the evaluator what the policies do: a few telling flows per pod (to the
//! internet, the metadata address and cluster DNS; from the internet and the API server), and
//! the cross-namespace flows the rules name, each direction judged on its own. The same
//! checks run on values (their own meaning, on the topology derived from them) and on
//! manifests of any engine (on the given topology, or one made from the objects).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::finding;
use crate::error::{Code, Diagnostic};
use crate::eval::derive::{INTERNET, METADATA, PEER_POD_PREFIX, PLAIN_POD};
use crate::eval::{Decision, Direction, Endpoint, Flow, Outcome, Pod, PolicySet, Step, Topology};
use crate::intent::lower::Lowered;
use crate::intent::{Intent, LabelSelector, Namespaces, Peer, PolicyRole, PortSel, Protocol};
use crate::values::Loaded;
use crate::vocab::Origin;
use crate::vocab::source::{KeyPath, path_within};

/// An internet address of the other family (documentation range).
const INTERNET_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10);
/// The metadata service's IPv6 address (AWS).
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
/// A port no rule is likely to name.
const UNNAMED_PORT: u16 = 9999;
/// At most this many pods on each side of the cross-namespace scan of manifests.
const MAX_SCANNED_PODS: usize = 150;

/// Where a finding is written.
#[derive(Clone, Debug)]
enum Place {
    Values(Origin),
    Manifest { object: String, field: String },
    Unknown,
}

impl Place {
    /// A key for grouping findings at one place.
    fn key(&self) -> String {
        match self {
            Place::Values(o) => format!("{}:{}:{}:{}", o.file, o.line, o.column, o.path),
            Place::Manifest { object, field } => format!("{object}#{field}"),
            Place::Unknown => String::new(),
        }
    }

    fn attach(&self, d: Diagnostic) -> Diagnostic {
        match self {
            Place::Values(origin) => d.at(origin),
            Place::Manifest { object, field } => d.in_manifest(object.clone(), field.clone()),
            Place::Unknown => d,
        }
    }
}

/// How findings are placed: values by the intent's origins, manifests by object and field.
trait Places {
    /// Where the deciding step of a direction is written.
    fn step(&self, dir: Direction, step: &Step) -> Place;
    /// Where a namespace's policies are declared.
    fn namespace(&self, namespace: &str) -> Place;
    /// Whether a step is a guardrail's (a cluster-wide deny).
    fn is_guardrail(&self, step: &Step) -> bool;
}

/// What the checks look at.
struct Scene<'a> {
    set: &'a PolicySet,
    topology: &'a Topology,
    /// Namespaces whose pods the checks judge.
    managed: BTreeSet<String>,
    /// Namespaces where egress must be denied by default too (isolated tenants).
    tenants: BTreeSet<String>,
    /// The other address family is in use: check the IPv6 internet and metadata too.
    ipv6: bool,
    /// Extra DNS addresses (a node-local cache) that count as cluster DNS.
    dns_addresses: Vec<IpAddr>,
    /// Key paths of rules declared internet-facing.
    internet_facing: Vec<String>,
}

impl Scene<'_> {
    fn subjects(&self) -> impl Iterator<Item = &Pod> {
        self.topology.pods.iter().filter(|p| self.managed.contains(&p.namespace) && !p.host_network)
    }

    fn dns_pods(&self, namespace: &str, labels: &LabelSelector) -> Vec<&Pod> {
        self.topology.pods.iter().filter(|p| p.namespace == namespace && labels.matches(&p.labels)).collect()
    }

    fn judge(
        &self,
        dir: Direction,
        source: Endpoint<'_>,
        destination: Endpoint<'_>,
        protocol: Protocol,
        port: u16,
    ) -> Outcome {
        let flow = Flow { source, destination, protocol, port };
        self.set.evaluate_direction(self.topology, &flow, dir)
    }
}

/// Findings grouped by (rule, place, what), with the pods they concern.
#[derive(Default)]
struct Findings {
    groups: BTreeMap<(Code, String, String), Group>,
}

/// Where one grouped finding is, its help, and the pods it concerns.
type Group = (Place, String, BTreeSet<String>);

impl Findings {
    fn add(&mut self, code: Code, place: Place, what: String, help: &str, pod: &Pod) {
        let entry = self
            .groups
            .entry((code, place.key(), what))
            .or_insert_with(|| (place, help.to_string(), BTreeSet::new()));
        entry.2.insert(pod_name(pod));
    }

    fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.groups
            .into_iter()
            .map(|((code, _, what), (place, help, pods))| {
                let pods: Vec<String> = pods.into_iter().collect();
                let who = if pods.len() == 1 { "pod" } else { "pods" };
                let d = finding(code, format!("{who} {} {what}", super::some_of(&pods)));
                let d = if help.is_empty() { d } else { d.with_help(help) };
                place.attach(d)
            })
            .collect()
    }
}

fn pod_name(pod: &Pod) -> String {
    if pod.name == PLAIN_POD {
        format!("{}/<any other pod>", pod.namespace)
    } else {
        format!("{}/{}", pod.namespace, pod.name)
    }
}

/// The place an outcome was decided at: its last step, or the namespace when nothing spoke.
fn decided_at(places: &dyn Places, dir: Direction, outcome: &Outcome, namespace: &str) -> Place {
    match (outcome.decision, outcome.steps.last()) {
        (Decision::Pass, _) | (_, None) => places.namespace(namespace),
        (_, Some(step)) if step.object.is_empty() => places.namespace(namespace),
        (_, Some(step)) => places.step(dir, step),
    }
}

/// Every behaviour check of one scene.
fn run(
    scene: &Scene<'_>,
    places: &dyn Places,
    dns: &[&Pod],
    pairs: &[Pair],
    webhooks: &[Webhook],
) -> Vec<Diagnostic> {
    let mut found = Findings::default();
    default_deny(scene, places, &mut found);
    for pod in scene.subjects() {
        internet_egress(scene, places, pod, &mut found);
        open_ingress(scene, places, pod, &mut found);
        metadata(scene, places, pod, &mut found);
        cluster_dns(scene, places, pod, dns, &mut found);
    }
    half_connections(scene, places, pairs, &mut found);
    unreachable_webhooks(scene, places, webhooks, &mut found);
    found.into_diagnostics()
}

fn default_deny(scene: &Scene<'_>, places: &dyn Places, found: &mut Findings) {
    for pod in scene.subjects().filter(|p| p.name == PLAIN_POD) {
        let internet = Endpoint::External(IpAddr::V4(INTERNET));
        let ingress =
            scene.judge(Direction::Ingress, internet, Endpoint::Pod(pod), Protocol::Tcp, UNNAMED_PORT);
        if ingress.decision == Decision::Pass {
            found.add(
                Code::NoDefaultDeny,
                places.namespace(&pod.namespace),
                format!("may accept anything: namespace `{}` has no default-deny for ingress", pod.namespace),
                "deny ingress by default (`defaultDeny.ingress: true`) and allow what each workload needs",
                pod,
            );
        }
        if scene.tenants.contains(&pod.namespace) {
            let egress =
                scene.judge(Direction::Egress, Endpoint::Pod(pod), internet, Protocol::Tcp, UNNAMED_PORT);
            if egress.decision == Decision::Pass {
                found.add(
                    Code::NoDefaultDeny,
                    places.namespace(&pod.namespace),
                    format!(
                        "may send anywhere: tenant namespace `{}` has no default-deny for egress",
                        pod.namespace
                    ),
                    "tenants are isolated: deny their egress by default too (`defaultDeny.egress: true`)",
                    pod,
                );
            }
        }
    }
}

fn internet_addresses(scene: &Scene<'_>) -> Vec<IpAddr> {
    let mut out = vec![IpAddr::V4(INTERNET)];
    if scene.ipv6 {
        out.push(IpAddr::V6(INTERNET_V6));
    }
    out
}

fn internet_egress(scene: &Scene<'_>, places: &dyn Places, pod: &Pod, found: &mut Findings) {
    for address in internet_addresses(scene) {
        let probes = [(Protocol::Tcp, 1), (Protocol::Tcp, 65535), (Protocol::Udp, 1), (Protocol::Udp, 65535)];
        let outcomes: Vec<Outcome> = probes
            .iter()
            .map(|(protocol, port)| {
                scene.judge(
                    Direction::Egress,
                    Endpoint::Pod(pod),
                    Endpoint::External(address),
                    *protocol,
                    *port,
                )
            })
            .collect();
        if outcomes.iter().all(|o| o.decision == Decision::Allow)
            && let Some(last) = outcomes.last()
        {
            let all = if address.is_ipv4() { "0.0.0.0/0" } else { "::/0" };
            found.add(
                Code::InternetEgressAllPorts,
                decided_at(places, Direction::Egress, last, &pod.namespace),
                format!("may reach every internet address ({all}) on every port"),
                "name the ports (and the narrowest CIDRs) the pods need, e.g. 443/TCP",
                pod,
            );
        }
    }
}

fn open_ingress(scene: &Scene<'_>, places: &dyn Places, pod: &Pod, found: &mut Findings) {
    let mut ports: BTreeSet<(Protocol, u16)> = pod.ports.iter().map(|c| (c.protocol, c.port)).collect();
    ports.insert((Protocol::Tcp, UNNAMED_PORT));
    let internet = Endpoint::External(IpAddr::V4(INTERNET));
    for (protocol, port) in ports {
        let outcome = scene.judge(Direction::Ingress, internet, Endpoint::Pod(pod), protocol, port);
        if outcome.decision != Decision::Allow {
            continue;
        }
        let place = decided_at(places, Direction::Ingress, &outcome, &pod.namespace);
        if let Place::Values(origin) = &place
            && scene.internet_facing.iter().any(|p| origin.path == *p || path_within(&origin.path, p))
        {
            continue;
        }
        let port_text = if port == UNNAMED_PORT {
            "every port".to_string()
        } else {
            format!("{port}/{}", protocol.as_str())
        };
        found.add(
            Code::IngressOpenToEveryone,
            place,
            format!("may accept anyone, the internet included, on {port_text}"),
            "list who may connect in `from`, or mark the port `internetFacing: true` if the internet should reach it",
            pod,
        );
    }
}

fn metadata(scene: &Scene<'_>, places: &dyn Places, pod: &Pod, found: &mut Findings) {
    let mut addresses = vec![IpAddr::V4(METADATA)];
    if scene.ipv6 {
        addresses.push(IpAddr::V6(METADATA_V6));
    }
    for address in addresses {
        let outcome = scene.judge(
            Direction::Egress,
            Endpoint::Pod(pod),
            Endpoint::External(address),
            Protocol::Tcp,
            80,
        );
        if outcome.lets_through() {
            found.add(
                Code::MetadataReachable,
                decided_at(places, Direction::Egress, &outcome, &pod.namespace),
                format!("may reach the cloud metadata address {address}"),
                "deny it cluster-wide (`guardrails.denyMetadataService: true`), or restrict these pods' egress",
                pod,
            );
        }
    }
}

fn cluster_dns(scene: &Scene<'_>, places: &dyn Places, pod: &Pod, dns: &[&Pod], found: &mut Findings) {
    if dns.is_empty() || dns.iter().any(|d| std::ptr::eq(*d, pod)) {
        return;
    }
    let cache_reachable = scene.dns_addresses.iter().any(|ip| {
        scene
            .judge(Direction::Egress, Endpoint::Pod(pod), Endpoint::External(*ip), Protocol::Udp, 53)
            .lets_through()
    });
    let mut refused = None;
    for server in dns {
        let egress =
            scene.judge(Direction::Egress, Endpoint::Pod(pod), Endpoint::Pod(server), Protocol::Udp, 53);
        if egress.decision != Decision::Deny {
            let ingress =
                scene.judge(Direction::Ingress, Endpoint::Pod(pod), Endpoint::Pod(server), Protocol::Udp, 53);
            match ingress.steps.last() {
                Some(step) if ingress.decision == Decision::Deny && places.is_guardrail(step) => {
                    refused = Some((Direction::Ingress, ingress));
                    continue;
                }
                _ => return,
            }
        }
        refused = Some((Direction::Egress, egress));
    }
    let Some((dir, outcome)) = refused else { return };
    let Some(step) = outcome.steps.iter().rev().find(|s| s.decision == Decision::Deny) else { return };
    if places.is_guardrail(step) {
        found.add(
            Code::GuardrailBlocksDns,
            places.step(dir, step),
            "may not reach cluster DNS: a guardrail denies it".to_string(),
            "exempt the cluster DNS pods (UDP and TCP 53) from the guardrail",
            pod,
        );
    } else if !cache_reachable {
        found.add(
            Code::EgressWithoutDns,
            decided_at(places, dir, &outcome, &pod.namespace),
            "may not reach cluster DNS (their egress is isolated): every name lookup fails".to_string(),
            "allow egress to cluster DNS (`egress.dns: true`, `allow.dns: true`) unless the pods resolve nothing",
            pod,
        );
    }
}

/// A cross-namespace connection to judge: on one port a rule names, or (for a rule of every
/// port, and the scan of manifests) on several, of which one that both ends allow is enough.
struct Pair {
    source: usize,
    destination: usize,
    ports: Vec<(Protocol, u16)>,
}

fn half_connections(scene: &Scene<'_>, places: &dyn Places, pairs: &[Pair], found: &mut Findings) {
    for pair in pairs {
        let (Some(source), Some(destination)) =
            (scene.topology.pods.get(pair.source), scene.topology.pods.get(pair.destination))
        else {
            continue;
        };
        let (from, to) = (Endpoint::Pod(source), Endpoint::Pod(destination));
        let mut half = None;
        let mut agreed = false;
        for &(protocol, port) in &pair.ports {
            let egress = scene.judge(Direction::Egress, from, to, protocol, port);
            let ingress = scene.judge(Direction::Ingress, from, to, protocol, port);
            match (egress.decision, ingress.decision) {
                (Decision::Allow, Decision::Deny) => {
                    half.get_or_insert((Direction::Egress, egress, ingress, protocol, port));
                }
                (Decision::Deny, Decision::Allow) => {
                    half.get_or_insert((Direction::Ingress, ingress, egress, protocol, port));
                }
                (e, i) if e != Decision::Deny && i != Decision::Deny => {
                    agreed = true;
                    break;
                }
                _ => {}
            }
        }
        let Some((allowed_dir, allowed, refused, protocol, port)) = half.filter(|_| !agreed) else {
            continue;
        };
        let port = format!("{port}/{}", protocol.as_str());
        let refused_at = refused
            .steps
            .iter()
            .rev()
            .find(|s| s.decision == Decision::Deny)
            .map(|s| if s.object.is_empty() { String::new() } else { format!(" ({})", s.object) })
            .unwrap_or_default();
        let (subject, what, help) = match allowed_dir {
            Direction::Egress => (
                source,
                format!(
                    "may send to {} on {port}, but namespace `{}` refuses it on ingress{refused_at}",
                    pod_name(destination),
                    destination.namespace
                ),
                "allow the ingress at the destination too (or declare the pair once under `connections`)",
            ),
            Direction::Ingress => (
                destination,
                format!(
                    "may accept {} on {port}, but namespace `{}` refuses it on egress{refused_at}",
                    pod_name(source),
                    source.namespace
                ),
                "allow the egress at the source too (or declare the pair once under `connections`)",
            ),
        };
        found.add(
            Code::HalfConnection,
            decided_at(places, allowed_dir, &allowed, &subject.namespace),
            what,
            help,
            subject,
        );
    }
}

/// A port of a pod that serves an admission webhook.
struct Webhook {
    pod: usize,
    port: u16,
}

fn unreachable_webhooks(scene: &Scene<'_>, places: &dyn Places, webhooks: &[Webhook], found: &mut Findings) {
    for hook in webhooks {
        let Some(pod) = scene.topology.pods.get(hook.pod) else { continue };
        let mut callers: Vec<Endpoint<'_>> =
            scene.topology.api_server.addresses.iter().map(|ip| Endpoint::ApiServer(*ip)).collect();
        callers.extend(
            scene
                .topology
                .nodes
                .iter()
                .filter(|n| pod.node_name.as_deref() != Some(n.name.as_str()))
                .map(Endpoint::Node),
        );
        if callers.is_empty() {
            continue;
        }
        let outcomes: Vec<Outcome> = callers
            .iter()
            .map(|caller| {
                scene.judge(Direction::Ingress, *caller, Endpoint::Pod(pod), Protocol::Tcp, hook.port)
            })
            .collect();
        if outcomes.iter().all(|o| o.decision == Decision::Deny)
            && let Some(first) = outcomes.first()
        {
            found.add(
                Code::WebhookUnreachable,
                decided_at(places, Direction::Ingress, first, &pod.namespace),
                format!("may not be reached on admission-webhook port {}/TCP by the API server or the nodes", hook.port),
                "admit the API server (its endpoint addresses, or the node CIDRs where it runs on nodes), or leave `from` empty",
                pod,
            );
        }
    }
}

// ---- values ----

struct ValuesPlaces<'a> {
    intent: &'a Intent,
    loaded: &'a Loaded,
}

impl Places for ValuesPlaces<'_> {
    fn step(&self, dir: Direction, step: &Step) -> Place {
        // Of several policies that isolate a pod and allow nothing matching, the default-deny
        // is where a reader fixes it.
        let objects: Vec<&str> = step.object.split(", ").collect();
        let policy_named = |object: &str| {
            let (namespace, name) = object.strip_prefix("policy ")?.split_once('/')?;
            self.intent.policies.iter().find(|p| p.namespace == namespace && p.name == name)
        };
        let denying = objects
            .iter()
            .filter_map(|o| policy_named(o))
            .find(|p| matches!(p.role, PolicyRole::DefaultDeny(_)));
        let first = match denying {
            Some(p) if step.rule.is_empty() => return Place::Values(p.origin.clone()),
            _ => objects.first().copied().unwrap_or_default(),
        };
        if let Some((namespace, name)) = first.strip_prefix("policy ").and_then(|r| r.split_once('/')) {
            let Some(policy) =
                self.intent.policies.iter().find(|p| p.namespace == namespace && p.name == name)
            else {
                return Place::Unknown;
            };
            let rules = match dir {
                Direction::Ingress => &policy.ingress,
                Direction::Egress => &policy.egress,
            };
            let rule = rules.iter().flatten().find(|r| !step.rule.is_empty() && r.name == step.rule);
            return Place::Values(rule.map_or(&policy.origin, |r| &r.origin).clone());
        }
        if let Some(name) = first.strip_prefix("guardrail ") {
            let Some(g) = self.intent.guardrails.iter().find(|g| g.name == name) else {
                return Place::Unknown;
            };
            let rule = g.ingress_deny.iter().chain(&g.egress_deny).find(|r| r.name == step.rule);
            return Place::Values(rule.map_or(&g.origin, |r| &r.origin).clone());
        }
        Place::Unknown
    }

    fn namespace(&self, namespace: &str) -> Place {
        if self.loaded.values.namespaces.contains_key(namespace) {
            return Place::Values(self.loaded.origin(&KeyPath::default().key("namespaces").key(namespace)));
        }
        let first = self.intent.policies.iter().find(|p| p.namespace == namespace);
        first.map_or(Place::Unknown, |p| Place::Values(p.origin.clone()))
    }

    fn is_guardrail(&self, step: &Step) -> bool {
        step.object.starts_with("guardrail ")
    }
}

/// The behaviour findings of values: their own meaning on the topology derived from them.
pub(super) fn lint_values(loaded: &Loaded, lowered: &Lowered) -> Vec<Diagnostic> {
    let intent = &lowered.intent;
    let derived = crate::eval::derive::derive(intent);
    let mut topology = derived.topology;
    let dns = &loaded.values.cluster.dns;
    let dns_selector =
        LabelSelector::from_labels(dns.pod_labels.0.iter().map(|(k, v)| (k.clone(), v.clone())));
    let dns_namespace = dns.namespace.0.clone();
    if !topology.pods.iter().any(|p| p.namespace == dns_namespace && dns_selector.matches(&p.labels)) {
        topology = with_pod(topology, &dns_namespace, "netpol-cluster-dns", dns_selector.match_labels.iter());
    }
    let set = PolicySet::from_layers(
        crate::eval::Cni::Kubernetes,
        vec![Box::new(crate::eval::reference::IntentLayer::new(intent))],
    );
    let unmanaged: BTreeSet<&String> = intent.unmanaged_namespaces.iter().collect();
    let mut managed: BTreeSet<String> = intent.policies.iter().map(|p| p.namespace.clone()).collect();
    managed.extend(intent.cluster.workloads.iter().map(|w| w.namespace.clone()));
    managed
        .extend(loaded.values.namespaces.iter().filter(|(_, n)| !n.unmanaged).map(|(name, _)| name.clone()));
    managed.retain(|n| !unmanaged.contains(n));
    let tenants: BTreeSet<String> = match &loaded.values.cluster.tenant_label {
        Some(label) => intent
            .cluster
            .namespace_labels
            .iter()
            .filter(|(_, labels)| labels.contains_key(label))
            .map(|(ns, _)| ns.clone())
            .collect(),
        None => BTreeSet::new(),
    };
    let scene = Scene {
        set: &set,
        topology: &topology,
        managed,
        tenants,
        ipv6: intent.cluster.pod_cidrs.iter().any(|n| matches!(n, ipnet::IpNet::V6(_))),
        dns_addresses: dns.node_local_cache.iter().map(|c| c.0.addr()).collect(),
        internet_facing: internet_facing_paths(loaded),
    };
    let dns_pods = scene.dns_pods(&dns_namespace, &dns_selector);
    let places = ValuesPlaces { intent, loaded };
    let pairs = rule_pairs(intent, &topology);
    let webhooks = values_webhooks(intent, &topology);
    run(&scene, &places, &dns_pods, &pairs, &webhooks)
}

/// A copy of `topology` with one more pod (a topology is not changed once judged).
fn with_pod<'a>(
    topology: Topology,
    namespace: &str,
    name: &str,
    labels: impl Iterator<Item = (&'a String, &'a String)>,
) -> Topology {
    let mut pods = topology.pods;
    pods.push(Pod {
        namespace: namespace.to_string(),
        name: name.to_string(),
        labels: labels.map(|(k, v)| (k.clone(), v.clone())).collect(),
        ..Pod::default()
    });
    Topology {
        namespaces: topology.namespaces,
        pods,
        nodes: topology.nodes,
        api_server: topology.api_server,
        dns_names: topology.dns_names,
        cluster_cidrs: topology.cluster_cidrs,
        ..Topology::default()
    }
}

/// Key paths of workload ports marked `internetFacing: true`.
fn internet_facing_paths(loaded: &Loaded) -> Vec<String> {
    let values = &loaded.values;
    let top = values.workloads.iter().map(|(name, w)| (KeyPath::default().key("workloads").key(name), w));
    let nested = values.namespaces.iter().flat_map(|(ns, n)| {
        n.workloads.iter().map(move |(name, w)| {
            (KeyPath::default().key("namespaces").key(ns).key("workloads").key(name), w)
        })
    });
    top.chain(nested)
        .flat_map(|(path, w)| {
            w.ports
                .iter()
                .filter(|(_, p)| p.internet_facing)
                .map(move |(port, _)| path.key("ports").key(port).to_string())
        })
        .collect()
}

/// The cross-namespace flows the values' rules name: from each policy's pod to each pod a
/// rule's peer selects in another namespace (or back, for ingress), on the rule's ports.
fn rule_pairs(intent: &Intent, topology: &Topology) -> Vec<Pair> {
    const PEERS_PER_RULE: usize = 20;
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    // The ports any rule names, plus one none does: where a rule allows every port, these
    // are the ports the other end may allow.
    let mut named: BTreeSet<(Protocol, u16)> = BTreeSet::from([(Protocol::Tcp, UNNAMED_PORT)]);
    for rule in intent.policies.iter().flat_map(|p| p.ingress.iter().chain(p.egress.iter())).flatten() {
        named.extend(rule.ports.iter().filter_map(|m| match m.port {
            PortSel::Number(n) | PortSel::Range(n, _) => Some((m.protocol, n)),
            _ => None,
        }));
    }
    for policy in intent.policies.iter().filter(|p| p.role == PolicyRole::Allow) {
        let Some(subject) = topology
            .pods
            .iter()
            .position(|p| {
                p.namespace == policy.namespace && p.name != PLAIN_POD && policy.subject.matches(&p.labels)
            })
            .or_else(|| {
                topology
                    .pods
                    .iter()
                    .position(|p| p.namespace == policy.namespace && policy.subject.matches(&p.labels))
            })
        else {
            continue;
        };
        for (dir, rules) in [(Direction::Ingress, &policy.ingress), (Direction::Egress, &policy.egress)] {
            for rule in rules.iter().flatten() {
                for peer in &rule.peers {
                    let Peer::Pods { namespaces: Namespaces::Matching(selector), pods } = peer else {
                        continue;
                    };
                    // Only peers that name their namespaces: a rule for every namespace is
                    // not a promise to each of them.
                    if selector.is_empty() {
                        continue;
                    }
                    let matching: Vec<(usize, &Pod)> = topology
                        .pods
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| {
                            p.namespace != policy.namespace
                                && selector.matches(&topology.namespace_labels(&p.namespace))
                                && pods.matches(&p.labels)
                        })
                        .collect();
                    // Every pod of a namespace: its other pods stand for it. Else the declared
                    // workloads the peer selects, and only without one a pod made for the peer.
                    let chosen: Vec<(usize, &Pod)> = if pods.is_empty() {
                        matching.iter().filter(|(_, p)| p.name == PLAIN_POD).copied().collect()
                    } else {
                        let declared: Vec<(usize, &Pod)> = matching
                            .iter()
                            .filter(|(_, p)| p.name != PLAIN_POD && !p.name.starts_with(PEER_POD_PREFIX))
                            .copied()
                            .collect();
                        if declared.is_empty() { matching } else { declared }
                    };
                    for (index, _) in chosen.into_iter().take(PEERS_PER_RULE) {
                        let (source, destination) = match dir {
                            Direction::Egress => (subject, index),
                            Direction::Ingress => (index, subject),
                        };
                        let Some(destination_pod) = topology.pods.get(destination) else { continue };
                        if rule.ports.is_empty() {
                            // Every port: the two ends agree if they agree on any.
                            let mut ports: BTreeSet<(Protocol, u16)> =
                                destination_pod.ports.iter().map(|c| (c.protocol, c.port)).collect();
                            ports.extend(named.iter().copied());
                            if seen.insert((source, destination, None)) {
                                out.push(Pair { source, destination, ports: ports.into_iter().collect() });
                            }
                            continue;
                        }
                        for port in rule_ports(&rule.ports, destination_pod) {
                            if seen.insert((source, destination, Some(port))) {
                                out.push(Pair { source, destination, ports: vec![port] });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The ports a rule names, as numbers on `destination`.
fn rule_ports(ports: &[crate::intent::PortMatch], destination: &Pod) -> Vec<(Protocol, u16)> {
    ports
        .iter()
        .filter_map(|m| match &m.port {
            PortSel::Number(n) | PortSel::Range(n, _) => Some((m.protocol, *n)),
            PortSel::Named(name) => destination
                .ports
                .iter()
                .find(|c| c.name.as_deref() == Some(name.as_str()))
                .map(|c| (c.protocol, c.port)),
            PortSel::Any => Some((m.protocol, UNNAMED_PORT)),
        })
        .collect()
}

/// Admission-webhook ports of the values: ingress rules named for a webhook, on their subject.
fn values_webhooks(intent: &Intent, topology: &Topology) -> Vec<Webhook> {
    let mut out = Vec::new();
    for policy in intent.policies.iter().filter(|p| p.role == PolicyRole::Allow) {
        let Some(pod) = topology.pods.iter().position(|p| {
            p.namespace == policy.namespace && p.name != PLAIN_POD && policy.subject.matches(&p.labels)
        }) else {
            continue;
        };
        for rule in policy.ingress.iter().flatten().filter(|r| r.name.contains("webhook")) {
            for m in &rule.ports {
                if let (Protocol::Tcp, PortSel::Number(port)) = (m.protocol, &m.port) {
                    out.push(Webhook { pod, port: *port });
                }
            }
        }
    }
    out
}

// ---- manifests ----

struct ManifestPlaces {
    /// The first object of each namespace, for findings about the namespace.
    first_in_namespace: BTreeMap<String, String>,
}

/// Cluster-scoped policy kinds: their denies act like guardrails.
const CLUSTER_KINDS: [&str; 5] = [
    "GlobalNetworkPolicy",
    "CiliumClusterwideNetworkPolicy",
    "ClusterNetworkPolicy",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
];

impl Places for ManifestPlaces {
    fn step(&self, _dir: Direction, step: &Step) -> Place {
        let first = step.object.split(", ").next().unwrap_or_default();
        let label = first.strip_prefix("Calico ").unwrap_or(first);
        let (object, prefix) = match label.split_once(" specs[") {
            Some((object, rest)) => {
                (object.to_string(), format!("specs[{}.", rest.trim_end_matches(']').to_owned() + "]"))
            }
            None => (label.to_string(), "spec.".to_string()),
        };
        if object.is_empty() {
            return Place::Unknown;
        }
        let looks_like_field = step.rule.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && step.rule.ends_with(']')
            && !step.rule.contains(' ');
        let field = if looks_like_field {
            format!("{prefix}{}", step.rule)
        } else {
            prefix.trim_end_matches('.').to_string()
        };
        Place::Manifest { object, field }
    }

    fn namespace(&self, namespace: &str) -> Place {
        self.first_in_namespace
            .get(namespace)
            .map_or(Place::Unknown, |object| Place::Manifest { object: object.clone(), field: String::new() })
    }

    fn is_guardrail(&self, step: &Step) -> bool {
        let first = step.object.split(", ").next().unwrap_or_default();
        let label = first.strip_prefix("Calico ").unwrap_or(first);
        CLUSTER_KINDS.iter().any(|kind| label.starts_with(&format!("{kind} ")))
    }
}

/// The behaviour findings of policy objects, on `topology` or one made from the objects.
pub(super) fn lint_manifests(
    set: &PolicySet,
    objects: &[serde_json::Value],
    topology: Option<&Topology>,
) -> Vec<Diagnostic> {
    let mut first_in_namespace = BTreeMap::new();
    for o in objects {
        if let Some(ns) = o.pointer("/metadata/namespace").and_then(|n| n.as_str()) {
            first_in_namespace.entry(ns.to_string()).or_insert_with(|| crate::eval::object_label(o));
        }
    }
    let managed: BTreeSet<String> = first_in_namespace.keys().cloned().collect();
    let mut topology = topology.cloned().unwrap_or_else(|| made_from(objects, &managed));
    for ns in &managed {
        if !topology.pods.iter().any(|p| &p.namespace == ns && p.name == PLAIN_POD) {
            topology = with_pod(topology, ns, PLAIN_POD, std::iter::empty());
        }
    }
    let dns_selector = LabelSelector::from_labels([("k8s-app", "kube-dns")]);
    if !topology.pods.iter().any(|p| p.namespace == "kube-system" && dns_selector.matches(&p.labels)) {
        topology = with_pod(topology, "kube-system", "netpol-cluster-dns", dns_selector.match_labels.iter());
    }
    let scene = Scene {
        set,
        topology: &topology,
        managed,
        tenants: BTreeSet::new(),
        ipv6: topology.pods.iter().any(|p| p.ip.is_some_and(|ip| ip.is_ipv6())),
        dns_addresses: Vec::new(),
        internet_facing: Vec::new(),
    };
    let dns_pods = scene.dns_pods("kube-system", &dns_selector);
    let places = ManifestPlaces { first_in_namespace };
    let ports = mentioned_ports(objects);
    let pairs = scan_pairs(&topology, &scene.managed, &ports);
    let webhooks: Vec<Webhook> = topology
        .pods
        .iter()
        .enumerate()
        .filter(|(_, p)| scene.managed.contains(&p.namespace))
        .flat_map(|(i, p)| {
            p.ports
                .iter()
                .filter(|c| {
                    c.protocol == Protocol::Tcp && c.name.as_deref().is_some_and(|n| n.contains("webhook"))
                })
                .map(move |c| Webhook { pod: i, port: c.port })
        })
        .collect();
    run(&scene, &places, &dns_pods, &pairs, &webhooks)
}

/// A topology for manifests given without one: the namespaces they name, a pod for each
/// policy's subject labels (Kubernetes and Cilium selectors), two nodes and an API server.
fn made_from(objects: &[serde_json::Value], namespaces: &BTreeSet<String>) -> Topology {
    let mut pods: Vec<Pod> = Vec::new();
    for o in objects {
        let Some(namespace) = o.pointer("/metadata/namespace").and_then(|n| n.as_str()) else { continue };
        let name = o.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or("policy");
        let selector = ["/spec/podSelector", "/spec/endpointSelector"].iter().find_map(|p| o.pointer(p));
        let Some(selector) = super::manifests::selector(selector) else { continue };
        if !selector.match_expressions.is_empty() || selector.match_labels.is_empty() {
            continue;
        }
        let labels: BTreeMap<String, String> = selector
            .match_labels
            .iter()
            .filter(|(k, _)| !k.starts_with("k8s:io.kubernetes"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if pods.iter().any(|p| p.namespace == namespace && p.labels == labels) {
            continue;
        }
        pods.push(Pod { namespace: namespace.to_string(), name: name.to_string(), labels, ..Pod::default() });
    }
    let mut namespaces = namespaces.clone();
    let mut peer_count = 0usize;
    for o in objects {
        let Some(own) = o.pointer("/metadata/namespace").and_then(|n| n.as_str()) else { continue };
        for (namespace, labels) in peer_pods(o, own) {
            if labels.is_empty() || pods.iter().any(|p| p.namespace == namespace && p.labels == labels) {
                continue;
            }
            peer_count += 1;
            namespaces.insert(namespace.clone());
            let name = format!("{PEER_POD_PREFIX}{peer_count}");
            pods.push(Pod { namespace, name, labels, ..Pod::default() });
        }
    }
    for (i, pod) in pods.iter_mut().enumerate() {
        let host = u32::try_from(i + 10).unwrap_or(u32::MAX).min(0xfffe);
        pod.ip = Some(IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 0, 0)) + host)));
        pod.node_name = Some("node-1".to_string());
    }
    Topology {
        namespaces: namespaces
            .iter()
            .map(|n| crate::eval::topology::Namespace { name: n.clone(), labels: BTreeMap::new() })
            .collect(),
        pods,
        nodes: vec![
            crate::eval::Node {
                name: "node-1".into(),
                ip: Some(IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2))),
                labels: BTreeMap::new(),
            },
            crate::eval::Node {
                name: "node-2".into(),
                ip: Some(IpAddr::V4(Ipv4Addr::new(172, 18, 0, 3))),
                labels: BTreeMap::new(),
            },
        ],
        api_server: crate::eval::topology::ApiServer {
            addresses: vec![IpAddr::V4(Ipv4Addr::new(172, 18, 0, 10))],
            ports: Vec::new(),
        },
        cluster_cidrs: ["10.244.0.0/16", "10.96.0.0/12", "172.18.0.0/24"]
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect(),
        ..Topology::default()
    }
}

/// The pods a policy's peers select by labels, with the namespace they live in: Kubernetes
/// `podSelector` peers (in the namespace a `namespaceSelector` names, else the policy's own)
/// and Cilium `fromEndpoints`/`toEndpoints` (in their namespace label, else the policy's own).
fn peer_pods(object: &serde_json::Value, own: &str) -> Vec<(String, BTreeMap<String, String>)> {
    const CILIUM_NAMESPACE: [&str; 2] = ["k8s:io.kubernetes.pod.namespace", "io.kubernetes.pod.namespace"];
    let list = super::manifests::items;
    let labels_of = |v: Option<&serde_json::Value>| {
        super::manifests::selector(v)
            .filter(|s| s.match_expressions.is_empty())
            .map(|s| s.match_labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>())
    };
    let mut out = Vec::new();
    let Some(spec) = object.get("spec") else { return out };
    for (direction, peers) in [("ingress", "from"), ("egress", "to")] {
        for rule in list(spec.get(direction)) {
            for peer in list(rule.get(peers)) {
                let Some(labels) = labels_of(peer.get("podSelector")) else { continue };
                let namespace = match peer.get("namespaceSelector") {
                    None => Some(own.to_string()),
                    Some(selector) => super::manifests::selector(Some(selector))
                        .and_then(|s| crate::vocab::peer::namespace_by_name(&s).map(str::to_string)),
                };
                out.extend(namespace.map(|ns| (ns, labels)));
            }
            let endpoints = if direction == "ingress" { "fromEndpoints" } else { "toEndpoints" };
            for peer in list(rule.get(endpoints)) {
                let Some(mut labels) = labels_of(Some(peer)) else { continue };
                let namespace = CILIUM_NAMESPACE
                    .iter()
                    .find_map(|k| labels.remove(*k))
                    .unwrap_or_else(|| own.to_string());
                let labels = labels
                    .into_iter()
                    .map(|(k, v)| (k.strip_prefix("k8s:").unwrap_or(&k).to_string(), v))
                    .collect();
                out.push((namespace, labels));
            }
        }
    }
    out
}

/// Every port number the objects mention (`port`, `endPort` fields), for the pairs to judge.
fn mentioned_ports(objects: &[serde_json::Value]) -> BTreeSet<(Protocol, u16)> {
    fn walk(value: &serde_json::Value, out: &mut BTreeSet<(Protocol, u16)>) {
        match value {
            serde_json::Value::Object(map) => {
                let protocol = map
                    .get("protocol")
                    .and_then(|p| p.as_str())
                    .and_then(crate::eval::topology::protocol_text::parse)
                    .unwrap_or(Protocol::Tcp);
                for key in ["port", "ports"] {
                    let numbers: Vec<u16> = match map.get(key) {
                        Some(serde_json::Value::Number(n)) => {
                            n.as_u64().and_then(|n| u16::try_from(n).ok()).into_iter().collect()
                        }
                        Some(serde_json::Value::String(s)) => s.parse().ok().into_iter().collect(),
                        Some(serde_json::Value::Array(items)) => items
                            .iter()
                            .filter_map(|i| i.as_u64().and_then(|n| u16::try_from(n).ok()))
                            .collect(),
                        _ => Vec::new(),
                    };
                    out.extend(numbers.into_iter().filter(|n| *n > 0).map(|n| (protocol, n)));
                }
                map.values().for_each(|v| walk(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::from([(Protocol::Tcp, UNNAMED_PORT)]);
    for o in objects {
        if let Some(spec) = o.get("spec").or_else(|| o.get("specs")) {
            walk(spec, &mut out);
        }
    }
    out
}

/// Every ordered pair of pods in different namespaces, one of them managed, on the
/// destination's own ports and the ports the objects mention.
fn scan_pairs(
    topology: &Topology,
    managed: &BTreeSet<String>,
    ports: &BTreeSet<(Protocol, u16)>,
) -> Vec<Pair> {
    let pods: Vec<(usize, &Pod)> = topology
        .pods
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.host_network && p.name != PLAIN_POD)
        .take(MAX_SCANNED_PODS)
        .collect();
    let mut out = Vec::new();
    for (s, source) in &pods {
        for (d, destination) in &pods {
            if source.namespace == destination.namespace
                || !(managed.contains(&source.namespace) || managed.contains(&destination.namespace))
            {
                continue;
            }
            let mut towards: BTreeSet<(Protocol, u16)> =
                destination.ports.iter().map(|c| (c.protocol, c.port)).collect();
            towards.extend(ports.iter().copied());
            out.push(Pair { source: *s, destination: *d, ports: towards.into_iter().collect() });
        }
    }
    out
}
