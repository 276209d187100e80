//! `netpol probe`: connections to try on the live cluster, chosen from the derived flows. First
//! a flow the rendering denies, to prove that policies are enforced at all; then, for each
//! rule of each workload, one flow the rule allows and one near it that stays denied.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::engine::Engine;
use crate::eval::derive::{self, INTERNET, METADATA, PLAIN_POD, UNRELATED_NAMESPACE};
use crate::eval::reference::IntentLayer;
use crate::eval::topology::Topology;
use crate::eval::{Cni, Endpoint, Flow, PolicySet};
use crate::intent::{Intent, Policy, PolicyRole, Rule};
use crate::vocab::Protocol;
use crate::vocab::direction::Direction;

/// What the probes need to know of the cluster they run in.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeOptions {
    /// The image of the ephemeral container (`kubectl debug`) for pods without `nc`.
    pub image: String,
    /// Seconds each connection may take.
    pub timeout: u32,
    /// An internet address that answers on 443/TCP, standing for "the internet".
    pub internet_address: String,
}

/// The context of `probe.sh.j2`.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    pub release: String,
    pub engine: String,
    pub options: ProbeOptions,
    /// A flow the rendering denies between two pods: if it connects, nothing is enforced.
    pub enforcement: Option<Probe>,
    pub probes: Vec<Probe>,
    /// Rules no probe could be chosen for, and why.
    pub unprobed: Vec<String>,
}

/// One connection to try.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Probe {
    /// `from -> to port/PROTOCOL`.
    pub name: String,
    pub from_namespace: String,
    /// A label selector (`k=v,k2=v2`) that finds the source pod.
    pub from_selector: String,
    /// `pod` (found by `to_namespace` and `to_selector`) or `host` (`to_host`).
    pub to_kind: String,
    pub to_namespace: String,
    pub to_selector: String,
    pub to_host: String,
    pub port: u16,
    /// `TCP`, or `UDP` for DNS lookups (port 53).
    pub protocol: String,
    /// `open` or `closed`.
    pub expect: String,
    /// Why: the rule that decides the flow on the engine.
    pub reason: String,
}

/// How a derived endpoint is reached on the live cluster.
#[derive(Clone, Debug)]
enum Target {
    Pod { namespace: String, selector: String },
    Host { host: String, open_expected: bool },
}

/// Choose the probes for `intent` as `engine`'s rendering (`policies`) enforces it.
pub fn plan(intent: &Intent, policies: &PolicySet, engine: Engine, options: ProbeOptions) -> ProbeReport {
    let derived = derive::derive(intent);
    let topology = &derived.topology;
    let mut endpoints: Vec<(Endpoint<'_>, Target)> = derived
        .endpoints
        .iter()
        .filter_map(|e| Endpoint::parse(e, topology).ok())
        .filter_map(|e| target(&e, topology, &options).map(|t| (e, t)))
        .collect();
    // Declared workloads first: they are the pods the values are about, and the likeliest to
    // run a client; then other pods, then addresses.
    let declared: BTreeSet<(&str, &str)> =
        intent.cluster.workloads.iter().map(|w| (w.namespace.as_str(), w.name.as_str())).collect();
    endpoints.sort_by_key(|(e, _)| match e {
        Endpoint::Pod(p) if declared.contains(&(p.namespace.as_str(), p.name.as_str())) => 0,
        Endpoint::Pod(_) => 1,
        _ => 2,
    });
    // Every probe judges only against the policies of one rule: a base without any.
    let empty = Intent { policies: Vec::new(), guardrails: Vec::new(), ..intent.clone() };
    // One probe per flow and expectation, with the first reason found.
    let mut probes: BTreeMap<(String, String), Probe> = BTreeMap::new();
    let mut unprobed = Vec::new();
    for w in &intent.cluster.workloads {
        let Some(pod) = topology.pod(&w.namespace, &w.name) else { continue };
        let subject = Endpoint::Pod(pod);
        let selecting = intent.policies.iter().filter(|p| {
            p.namespace == w.namespace && p.role == PolicyRole::Allow && p.subject.matches(&pod.labels)
        });
        for policy in selecting {
            for dir in [Direction::Ingress, Direction::Egress] {
                let rules = match dir {
                    Direction::Ingress => &policy.ingress,
                    Direction::Egress => &policy.egress,
                };
                for (index, rule) in rules.iter().flatten().enumerate() {
                    let only_rule = one_rule(&empty, policy, dir, rule);
                    let found =
                        probes_for_rule(&only_rule, rule, policies, topology, &endpoints, &subject, dir);
                    if found.is_empty() {
                        unprobed.push(format!(
                            "{}/{} {} rule {} ({}): no flow to try live (no labelled peer, or no port known to answer)",
                            policy.namespace,
                            policy.name,
                            dir.field(),
                            index,
                            rule.name
                        ));
                    }
                    for p in found {
                        probes.entry((p.name.clone(), p.expect.clone())).or_insert(p);
                    }
                }
            }
        }
    }
    let probes: Vec<Probe> = probes.into_values().collect();
    let closed = |p: &&Probe| p.expect == "closed";
    let enforcement = probes
        .iter()
        .filter(closed)
        .find(|p| p.to_kind == "pod")
        .or_else(|| probes.iter().find(closed))
        .cloned();
    ProbeReport {
        release: intent.release.clone(),
        engine: engine.to_string(),
        options,
        enforcement,
        probes,
        unprobed,
    }
}

/// The policy set of one rule alone: a policy isolating its subject for `dir` and allowing
/// only `rule`, judged as the intent says.
fn one_rule(empty: &Intent, policy: &Policy, dir: Direction, rule: &Rule) -> PolicySet {
    let mut only = Policy { ingress: None, egress: None, ..policy.clone() };
    match dir {
        Direction::Ingress => only.ingress = Some(vec![rule.clone()]),
        Direction::Egress => only.egress = Some(vec![rule.clone()]),
    }
    let intent = Intent { policies: vec![only], ..empty.clone() };
    PolicySet::from_layers(Cni::Kubernetes, vec![Box::new(IntentLayer::new(&intent))])
}

/// One flow the rule allows and the engine allows, and one near it the engine denies: the
/// same peer on a port the rule does not open, else another peer on the rule's port.
#[allow(clippy::too_many_arguments)]
fn probes_for_rule(
    only_rule: &PolicySet,
    rule: &Rule,
    policies: &PolicySet,
    topology: &Topology,
    endpoints: &[(Endpoint<'_>, Target)],
    subject: &Endpoint<'_>,
    dir: Direction,
) -> Vec<Probe> {
    let subject_target = match subject {
        Endpoint::Pod(p) => Target::Pod { namespace: p.namespace.clone(), selector: selector_of(&p.labels) },
        _ => return Vec::new(),
    };
    // A probe proves something only on a port that answers when nothing blocks it: a pod's
    // declared ports, else the ports the rule names; 443 on the internet and the API server.
    let rule_ports: Vec<(Protocol, u16)> = rule
        .ports
        .iter()
        .filter_map(|m| match m.port {
            crate::vocab::peer::PortSel::Number(n) => Some((m.protocol, n)),
            _ => None,
        })
        .collect();
    let listening = |destination: &Endpoint<'_>, target: &Target| -> Vec<(Protocol, u16)> {
        match (destination, target) {
            (Endpoint::Pod(p), _) if !p.ports.is_empty() => {
                p.ports.iter().map(|c| (c.protocol, c.port)).collect()
            }
            // Only the rule's own peers are known to listen on the rule's ports.
            (Endpoint::Pod(_), _) => rule_ports
                .iter()
                .copied()
                .filter(|&(protocol, port)| {
                    let (source, destination) = match dir {
                        Direction::Ingress => (*destination, *subject),
                        Direction::Egress => (*subject, *destination),
                    };
                    only_rule.allowed(topology, &Flow { source, destination, protocol, port })
                })
                .collect(),
            (Endpoint::ApiServer(_), _) => {
                let ports = &topology.api_server.ports;
                let port = ports.first().copied().unwrap_or(443);
                vec![(Protocol::Tcp, port)]
            }
            (_, Target::Host { open_expected: true, .. }) => {
                if matches!(destination, Endpoint::External(ip) if *ip == IpAddr::V4(INTERNET)) {
                    vec![(Protocol::Tcp, 443)]
                } else {
                    rule_ports.clone()
                }
            }
            _ => vec![(Protocol::Tcp, 80)],
        }
    };
    // Every probe-able flow with the subject at its end, peers in endpoint order.
    let mut candidates = Vec::new();
    for (peer, peer_target) in endpoints {
        if peer.label() == subject.label() {
            continue;
        }
        let (source, destination, source_target, destination_target) = match dir {
            Direction::Ingress => (peer, subject, peer_target, &subject_target),
            Direction::Egress => (subject, peer, &subject_target, peer_target),
        };
        // Only a pod can be a source on a live cluster.
        let Target::Pod { .. } = source_target else { continue };
        for (protocol, port) in listening(destination, destination_target) {
            if !(protocol == Protocol::Tcp || (protocol == Protocol::Udp && port == 53)) {
                continue;
            }
            candidates.push((
                Flow { source: *source, destination: *destination, protocol, port },
                source_target,
                destination_target,
            ));
        }
    }
    let allowed = candidates.iter().find(|(flow, _, to)| {
        let can_open = !matches!(to, Target::Host { open_expected: false, .. });
        can_open && only_rule.allowed(topology, flow) && policies.allowed(topology, flow)
    });
    let Some((opened, from, to)) = allowed else { return Vec::new() };
    let peer_of = |f: &Flow<'_>| match dir {
        Direction::Ingress => f.source.label(),
        Direction::Egress => f.destination.label(),
    };
    let same_peer =
        candidates.iter().find(|(f, _, _)| peer_of(f) == peer_of(opened) && !policies.allowed(topology, f));
    let same_port = || {
        candidates.iter().find(|(f, _, _)| {
            f.port == opened.port && f.protocol == opened.protocol && !policies.allowed(topology, f)
        })
    };
    let mut out = vec![probe(policies, topology, opened, from, to, true, dir)];
    if let Some((closed, from, to)) = same_peer.or_else(same_port) {
        out.push(probe(policies, topology, closed, from, to, false, dir));
    }
    // A rule that opens the outside world (an internet CIDR) must not open the cluster: probe
    // that every service the internet may reach stays closed to the subject (000's BuildKit
    // cannot reach the gateway).
    if dir == Direction::Egress && !matches!(opened.destination, Endpoint::Pod(_)) {
        let internet = Endpoint::External(IpAddr::V4(INTERNET));
        for (flow, from, to) in &candidates {
            let public = Flow { source: internet, ..*flow };
            if matches!(flow.destination, Endpoint::Pod(_))
                && !policies.allowed(topology, flow)
                && policies.allowed(topology, &public)
            {
                out.push(probe(policies, topology, flow, from, to, false, dir));
            }
        }
    }
    out
}

/// One probe; its reason is the step that decides it, at the rule's end for an open one.
fn probe(
    policies: &PolicySet,
    topology: &Topology,
    flow: &Flow<'_>,
    from: &Target,
    to: &Target,
    open: bool,
    dir: Direction,
) -> Probe {
    let verdict = policies.evaluate(topology, flow);
    let deciding =
        if open { verdict.steps.iter().rev().find(|(d, _)| *d == dir) } else { verdict.deciding() };
    let reason = deciding.map(|(d, s)| format!("{}: {s}", d.field())).unwrap_or_default();
    let (from_namespace, from_selector) = match from {
        Target::Pod { namespace, selector } => (namespace.clone(), selector.clone()),
        Target::Host { .. } => (String::new(), String::new()),
    };
    let (to_kind, to_namespace, to_selector, to_host, to_label) = match to {
        Target::Pod { namespace, selector } => {
            ("pod", namespace.clone(), selector.clone(), String::new(), flow.destination.label())
        }
        Target::Host { host, .. } => ("host", String::new(), String::new(), host.clone(), host.clone()),
    };
    Probe {
        name: format!("{} -> {to_label} {}/{}", flow.source.label(), flow.port, flow.protocol),
        from_namespace,
        from_selector,
        to_kind: to_kind.to_string(),
        to_namespace,
        to_selector,
        to_host,
        port: flow.port,
        protocol: flow.protocol.as_str().to_string(),
        expect: if open { "open" } else { "closed" }.to_string(),
        reason,
    }
}

/// How to reach a derived endpoint live, if netpol can: pods by their labels (not the
/// stand-ins for unlabelled pods or the unrelated namespace), the API server by its service
/// name, the internet by a real address, the metadata service (closed probes only) and
/// FQDN names by name.
fn target(endpoint: &Endpoint<'_>, topology: &Topology, options: &ProbeOptions) -> Option<Target> {
    match endpoint {
        Endpoint::Pod(p) => {
            let stand_in = p.name == PLAIN_POD || p.namespace == UNRELATED_NAMESPACE || p.labels.is_empty();
            (!stand_in)
                .then(|| Target::Pod { namespace: p.namespace.clone(), selector: selector_of(&p.labels) })
        }
        Endpoint::ApiServer(_) => {
            Some(Target::Host { host: "kubernetes.default.svc".into(), open_expected: true })
        }
        Endpoint::External(ip) if *ip == IpAddr::V4(INTERNET) => {
            Some(Target::Host { host: options.internet_address.clone(), open_expected: true })
        }
        Endpoint::External(ip) if *ip == IpAddr::V4(METADATA) => {
            Some(Target::Host { host: METADATA.to_string(), open_expected: false })
        }
        Endpoint::External(ip) => topology
            .dns_names
            .iter()
            .find(|d| d.addresses.contains(ip))
            .map(|d| Target::Host { host: d.name.clone(), open_expected: true }),
        Endpoint::Node(_) => None,
    }
}

fn selector_of(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// Where and how the probe Job runs.
#[derive(Clone, Debug)]
pub struct JobOptions {
    pub namespace: String,
    /// An image with `sh` and `kubectl`.
    pub kubectl_image: String,
}

/// The probe script as a Kubernetes Job, with what it needs to run: a ServiceAccount allowed
/// to list pods, exec into them and add ephemeral containers, and the script in a ConfigMap.
/// Built as typed objects and written as multi-document YAML.
pub fn job_manifests(script: &str, options: &JobOptions) -> crate::error::Result<String> {
    use k8s_openapi::api::batch::v1::{Job, JobSpec};
    use k8s_openapi::api::core::v1::{
        ConfigMap, ConfigMapVolumeSource, Container, PodSpec, PodTemplateSpec, ServiceAccount, Volume,
        VolumeMount,
    };
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const NAME: &str = "netpol-probe";
    let namespaced = || ObjectMeta {
        name: Some(NAME.into()),
        namespace: Some(options.namespace.clone()),
        labels: Some([("app.kubernetes.io/name".to_string(), NAME.to_string())].into()),
        ..ObjectMeta::default()
    };
    let cluster_scoped = || ObjectMeta { namespace: None, ..namespaced() };
    let rule = |resources: &[&str], verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    };
    let account = ServiceAccount { metadata: namespaced(), ..ServiceAccount::default() };
    let role = ClusterRole {
        metadata: cluster_scoped(),
        rules: Some(vec![
            rule(&["pods"], &["get", "list"]),
            rule(&["pods/exec", "pods/attach"], &["create"]),
            rule(&["pods/ephemeralcontainers"], &["patch", "update"]),
        ]),
        ..ClusterRole::default()
    };
    let binding = ClusterRoleBinding {
        metadata: cluster_scoped(),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: NAME.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: NAME.into(),
            namespace: Some(options.namespace.clone()),
            ..Subject::default()
        }]),
    };
    let config = ConfigMap {
        metadata: namespaced(),
        data: Some([("probe.sh".to_string(), script.to_string())].into()),
        ..ConfigMap::default()
    };
    let job = Job {
        metadata: namespaced(),
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some([("app.kubernetes.io/name".to_string(), NAME.to_string())].into()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(NAME.into()),
                    restart_policy: Some("Never".into()),
                    containers: vec![Container {
                        name: "probe".into(),
                        image: Some(options.kubectl_image.clone()),
                        command: Some(vec!["sh".into(), "/netpol/probe.sh".into()]),
                        volume_mounts: Some(vec![VolumeMount {
                            name: "script".into(),
                            mount_path: "/netpol".into(),
                            read_only: Some(true),
                            ..VolumeMount::default()
                        }]),
                        ..Container::default()
                    }],
                    volumes: Some(vec![Volume {
                        name: "script".into(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: NAME.into(),
                            ..ConfigMapVolumeSource::default()
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    };
    let documents = [
        crate::yaml::stream::to_string(&account),
        crate::yaml::stream::to_string(&role),
        crate::yaml::stream::to_string(&binding),
        crate::yaml::stream::to_string(&config),
        crate::yaml::stream::to_string(&job),
    ];
    let mut out = String::new();
    for document in documents {
        let text = document.map_err(|e| crate::error::Error::Usage(format!("writing the probe Job: {e}")))?;
        out.push_str("---\n");
        out.push_str(&text);
    }
    Ok(out)
}
