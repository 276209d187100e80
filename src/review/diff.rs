//! `netpol diff`: the flows a change allows that were denied before, and those it denies that
//! were allowed, judged on one topology that covers both sides, then which objects changed.
//!
//! Only flows that a changed object can decide are judged: a flow's verdict depends on the
//! policies that select its source for egress and its destination for ingress, so a flow
//! between endpoints no added, removed or changed policy selects keeps its verdict. That keeps
//! a small change to a large policy set fast; objects that select nothing themselves (Calico
//! tiers and network sets) change what other policies mean, so a change to one judges every
//! flow.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::Result;
use crate::eval::derive::Derived;
use crate::eval::topology::Topology;
use crate::eval::{Cni, End, Endpoint, Flow, PolicySet};
use crate::vocab::Protocol;

/// One side of the change as the cluster would hold it: its objects, read back.
pub struct Side<'a> {
    pub objects: &'a [serde_json::Value],
    pub policies: &'a PolicySet,
}

/// What a change does on one engine (or to given manifests).
#[derive(Clone, Debug, Default, Serialize)]
pub struct EngineDiff {
    pub engine: String,
    /// Why this engine judged nothing: it cannot render one side.
    pub not_rendered: Option<String>,
    /// Flows judged on both sides (those a changed object can decide).
    pub judged: usize,
    pub objects: ObjectChanges,
    #[serde(skip)]
    changes: Vec<FlowChange>,
}

impl EngineDiff {
    /// Every changed flow: (allowed now, from, to, `port/PROTOCOL`), in order.
    pub fn flow_changes(&self) -> Vec<(bool, String, String, String)> {
        self.changes
            .iter()
            .map(|c| (c.allowed_now, c.from.clone(), c.to.clone(), format!("{}/{}", c.port, c.protocol)))
            .collect()
    }
}

/// Objects by `Kind namespace/name`: added, removed, and those whose spec changed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ObjectChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Objects on both sides with the same spec.
    pub unchanged: usize,
}

/// One flow whose verdict changed on one engine.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FlowChange {
    allowed_now: bool,
    from: String,
    to: String,
    protocol: Protocol,
    port: u16,
    /// The rule that decides the flow after the change.
    rule: String,
}

/// The whole report: the context of `diff.txt.j2` and `diff.md.j2`, and `-o json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DiffReport {
    /// Every engine judged, in order.
    pub engines: Vec<EngineDiff>,
    /// Flows that became allowed, by destination.
    pub added: Vec<DestinationChanges>,
    /// Flows that became denied, by destination.
    pub removed: Vec<DestinationChanges>,
    pub added_count: usize,
    pub removed_count: usize,
    /// Any flow became allowed on any engine.
    pub widening: bool,
    /// Terminal colours for the text template: empty strings when not on a terminal.
    pub style: Style,
}

/// ANSI colour codes, or empty strings.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Style {
    pub added: &'static str,
    pub removed: &'static str,
    pub heading: &'static str,
    pub reset: &'static str,
}

impl Style {
    pub fn new(color: bool) -> Style {
        if color {
            Style { added: "\u{1b}[32m", removed: "\u{1b}[31m", heading: "\u{1b}[1m", reset: "\u{1b}[0m" }
        } else {
            Style::default()
        }
    }
}

/// The changed flows towards one destination (a workload's pod, or an address).
#[derive(Clone, Debug, Serialize)]
pub struct DestinationChanges {
    /// `namespace/pod`, `ip:ADDRESS` or `node:NAME`.
    pub destination: String,
    /// The destination's namespace; empty for endpoints outside pods.
    pub namespace: String,
    /// The pod (a workload's name) or the address.
    pub workload: String,
    pub flows: Vec<ChangedFlow>,
}

/// The ports from one source to one destination whose verdict changed the same way on the
/// same engines.
#[derive(Clone, Debug, Serialize)]
pub struct ChangedFlow {
    pub from: String,
    pub to: String,
    /// `8080/TCP`, in port order.
    pub ports: Vec<String>,
    /// The rule that decides these flows after the change (on the first engine listed).
    pub rule: String,
    /// The engines where the verdict changed.
    pub engines: Vec<String>,
    /// Set when the change does not occur on every engine judged: those it occurs on.
    pub only_on: Option<String>,
}

/// Compare two sides on `derived` (a topology covering both), for one engine.
pub fn diff_engine(engine: &str, base: &Side<'_>, new: &Side<'_>, derived: &Derived) -> Result<EngineDiff> {
    diff_engine_with(engine, base, new, derived, true)
}

/// [`diff_engine`], judging only the flows a changed object can decide (`prune`) or every
/// flow (what pruning is tested against).
pub fn diff_engine_with(
    engine: &str,
    base: &Side<'_>,
    new: &Side<'_>,
    derived: &Derived,
    prune: bool,
) -> Result<EngineDiff> {
    let (objects, only_base, only_new) = compare_objects(base.objects, new.objects);
    let topology = &derived.topology;
    let endpoints: Vec<Option<Endpoint<'_>>> =
        derived.endpoints.iter().map(|e| Endpoint::parse(e, topology).ok()).collect();
    let affected = if prune {
        Affected::of(base, new, (only_base, only_new), topology, &endpoints)?
    } else {
        Affected { everything: true, sources: Vec::new(), destinations: Vec::new() }
    };
    let ports: Vec<Vec<(Protocol, u16)>> =
        endpoints.iter().map(|e| e.as_ref().map(|e| derived.ports_towards(e)).unwrap_or_default()).collect();
    let judge_sources = |range: std::ops::Range<usize>| -> (usize, Vec<FlowChange>) {
        let mut judged = 0;
        let mut changes = Vec::new();
        for i in range {
            let Some(Some(source)) = endpoints.get(i) else { continue };
            for (j, destination) in endpoints.iter().enumerate() {
                let Some(destination) = destination else { continue };
                let is_pod = |e: &Endpoint<'_>| matches!(e, Endpoint::Pod(_));
                if i == j
                    || !(is_pod(source) || is_pod(destination))
                    || !(affected.source(i) || affected.destination(j))
                {
                    continue;
                }
                for &(protocol, port) in ports.get(j).map(Vec::as_slice).unwrap_or_default() {
                    judged += 1;
                    let flow = Flow { source: *source, destination: *destination, protocol, port };
                    let before = base.policies.allowed(topology, &flow);
                    let after = new.policies.allowed(topology, &flow);
                    if before != after {
                        let verdict = new.policies.evaluate(topology, &flow);
                        let rule = verdict
                            .deciding()
                            .map(|(d, s)| format!("{}: {s}", d.field()))
                            .unwrap_or_default();
                        changes.push(FlowChange {
                            allowed_now: after,
                            from: derived.endpoints.get(i).cloned().unwrap_or_default(),
                            to: derived.endpoints.get(j).cloned().unwrap_or_default(),
                            protocol,
                            port,
                            rule,
                        });
                    }
                }
            }
        }
        (judged, changes)
    };
    let parts = crate::parallel::in_halves(endpoints.len(), 64, judge_sources);
    let judged = parts.iter().map(|(n, _)| n).sum();
    let mut changes: Vec<FlowChange> = parts.into_iter().flat_map(|(_, c)| c).collect();
    changes.sort();
    Ok(EngineDiff { engine: engine.to_string(), not_rendered: None, judged, objects, changes })
}

/// An engine that could not render a side.
pub fn not_rendered(engine: &str, reason: String) -> EngineDiff {
    EngineDiff { engine: engine.to_string(), not_rendered: Some(reason), ..EngineDiff::default() }
}

/// The endpoints whose flows a changed object can decide, at each end.
struct Affected {
    everything: bool,
    sources: Vec<bool>,
    destinations: Vec<bool>,
}

impl Affected {
    /// `changed`: the objects only on one side or changed, as (base's, new's).
    fn of(
        base: &Side<'_>,
        new: &Side<'_>,
        changed: (Vec<&serde_json::Value>, Vec<&serde_json::Value>),
        topology: &Topology,
        endpoints: &[Option<Endpoint<'_>>],
    ) -> Result<Affected> {
        let (only_base, only_new) = changed;
        let selects_nothing = |o: &&serde_json::Value| {
            let kind = o.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
            matches!(kind, "Tier" | "NetworkSet" | "GlobalNetworkSet")
        };
        let everything = only_base.iter().chain(&only_new).any(selects_nothing);
        if everything {
            return Ok(Affected { everything, sources: Vec::new(), destinations: Vec::new() });
        }
        // The changed policies of each side, with that side's tiers (which they may name).
        let with_tiers = |changed: Vec<&serde_json::Value>, all: &[serde_json::Value], cni: Cni| {
            let tiers = all.iter().filter(|o| o.get("kind").and_then(|k| k.as_str()) == Some("Tier"));
            let objects: Vec<serde_json::Value> = changed.into_iter().chain(tiers).cloned().collect();
            PolicySet::new(&objects, Some(cni))
        };
        let sets = [
            with_tiers(only_base, base.objects, base.policies.cni)?,
            with_tiers(only_new, new.objects, new.policies.cni)?,
        ];
        let selected = |end: End| -> Vec<bool> {
            endpoints
                .iter()
                .map(|e| match e.as_ref().and_then(|e| e.policy_pod()) {
                    Some(pod) => sets.iter().any(|set| selects(set, topology, end, pod)),
                    None => false,
                })
                .collect()
        };
        Ok(Affected { everything, sources: selected(End::Source), destinations: selected(End::Destination) })
    }

    fn source(&self, i: usize) -> bool {
        self.everything || self.sources.get(i).copied().unwrap_or(true)
    }

    fn destination(&self, j: usize) -> bool {
        self.everything || self.destinations.get(j).copied().unwrap_or(true)
    }
}

/// Whether any policy of `set` selects `pod` for the direction of `end`: a layer's signature
/// lists the policies that select the pod before [`PEERS_FOLLOW`]; a layer that cannot say
/// counts as selecting.
fn selects(set: &PolicySet, topology: &Topology, end: End, pod: &crate::eval::Pod) -> bool {
    use crate::eval::classes::{LAYER_BOUNDARY, PEERS_FOLLOW};
    let mut signature = Vec::new();
    if !set.signature(topology, end, pod, &mut signature) {
        return true;
    }
    let mut selecting = false;
    signature.iter().any(|&id| {
        match id {
            LAYER_BOUNDARY => selecting = true,
            PEERS_FOLLOW => selecting = false,
            _ if selecting => return true,
            _ => {}
        }
        false
    })
}

/// `Kind namespace/name`: what identifies an object to `kubectl apply`.
fn object_key(o: &serde_json::Value) -> (String, String) {
    let api = o.get("apiVersion").and_then(|v| v.as_str()).unwrap_or_default();
    let group = api.rsplit_once('/').map_or("", |(g, _)| g).to_string();
    (crate::eval::object_label(o), group)
}

/// What decides an object's meaning: its spec (metadata such as labels, annotations and a
/// cluster's bookkeeping does not change what traffic it allows).
fn meaning(o: &serde_json::Value) -> &serde_json::Value {
    o.get("spec").unwrap_or(&serde_json::Value::Null)
}

fn by_key(objects: &[serde_json::Value]) -> BTreeMap<(String, String), &serde_json::Value> {
    objects.iter().map(|o| (object_key(o), o)).collect()
}

/// The objects as `kubectl apply` sees the change: the summary, and the objects only on one
/// side or on both with different specs, as (base's, new's).
fn compare_objects<'a>(
    base: &'a [serde_json::Value],
    new: &'a [serde_json::Value],
) -> (ObjectChanges, Vec<&'a serde_json::Value>, Vec<&'a serde_json::Value>) {
    let (before, after) = (by_key(base), by_key(new));
    let mut changes = ObjectChanges::default();
    let (mut only_base, mut only_new) = (Vec::new(), Vec::new());
    for (key, o) in &after {
        match before.get(key) {
            None => {
                changes.added.push(key.0.clone());
                only_new.push(*o);
            }
            Some(b) if meaning(b) != meaning(o) => {
                changes.changed.push(key.0.clone());
                only_base.push(*b);
                only_new.push(*o);
            }
            Some(_) => changes.unchanged += 1,
        }
    }
    for (key, o) in &before {
        if !after.contains_key(key) {
            changes.removed.push(key.0.clone());
            only_base.push(*o);
        }
    }
    (changes, only_base, only_new)
}

/// (allowed now, from, to, protocol, port): one flow's change.
type FlowKey<'a> = (bool, &'a str, &'a str, Protocol, u16);
/// (allowed now, from, to, the engines it changed on): one line of the report.
type LineKey<'a> = (bool, &'a str, &'a str, Vec<&'a str>);
/// Ports in order, as (port, protocol).
type Ports = BTreeSet<(u16, Protocol)>;

/// Gather every engine's changes into one report: a change that occurs on some engines only
/// says which.
pub fn report(engines: Vec<EngineDiff>, color: bool) -> DiffReport {
    let judged: Vec<&str> =
        engines.iter().filter(|e| e.not_rendered.is_none()).map(|e| e.engine.as_str()).collect();
    // (allowed now, from, to, protocol, port) → the engines it changed on, and the first rule.
    let mut merged: BTreeMap<FlowKey<'_>, (Vec<&str>, &str)> = BTreeMap::new();
    for e in &engines {
        for c in &e.changes {
            let entry = merged
                .entry((c.allowed_now, &c.from, &c.to, c.protocol, c.port))
                .or_insert_with(|| (Vec::new(), c.rule.as_str()));
            entry.0.push(e.engine.as_str());
        }
    }
    // One line per (direction, from, to, engines): the ports in order.
    let mut lines: BTreeMap<LineKey<'_>, (Ports, &str)> = BTreeMap::new();
    for ((now, from, to, protocol, port), (on, rule)) in merged {
        lines
            .entry((now, from, to, on))
            .or_insert_with(|| (BTreeSet::new(), rule))
            .0
            .insert((port, protocol));
    }
    let mut groups: [BTreeMap<(String, String), DestinationChanges>; 2] = Default::default();
    for ((now, from, to, on), (ports, rule)) in lines {
        let (namespace, workload) = match to.split_once('/') {
            Some((ns, pod)) => (ns.to_string(), pod.to_string()),
            None => (String::new(), to.to_string()),
        };
        let only_on = (on.len() < judged.len() && judged.len() > 1).then(|| on.join(", "));
        let group =
            groups[usize::from(now)].entry((namespace.clone(), to.to_string())).or_insert_with(|| {
                DestinationChanges { destination: to.to_string(), namespace, workload, flows: Vec::new() }
            });
        group.flows.push(ChangedFlow {
            from: from.to_string(),
            to: to.to_string(),
            ports: ports.iter().map(|(port, protocol)| format!("{port}/{protocol}")).collect(),
            rule: rule.to_string(),
            engines: on.iter().map(|e| e.to_string()).collect(),
            only_on,
        });
    }
    let [removed, added] = groups.map(|g| g.into_values().collect::<Vec<_>>());
    let count = |g: &[DestinationChanges]| {
        g.iter().map(|d| d.flows.iter().map(|f| f.ports.len()).sum::<usize>()).sum()
    };
    let (added_count, removed_count) = (count(&added), count(&removed));
    DiffReport {
        engines,
        widening: added_count > 0,
        added,
        removed,
        added_count,
        removed_count,
        style: Style::new(color),
    }
}
