//! Classes of endpoints that no policy tells apart, so that `check` and `matrix` judge a flow
//! once per (source class, destination class, port) instead of once per pod pair.
//!
//! Two policy-enforced pods are in one class at an end of a flow when they share their
//! [`Traits`] (what an engine looks at besides selectors) and every layer of every policy set
//! gives them the same [`Layer::signature`](super::Layer::signature): the same policies select
//! them for that end's direction and the same peers of the other direction match them. Every
//! other endpoint (a node, an address, a host-network pod) is a class of its own.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::IpAddr;

use super::{End, Endpoint, Pod, PolicySet, Topology};
use crate::intent::Protocol;

/// Separates one layer's ids from the next in a signature.
pub(crate) const LAYER_BOUNDARY: u32 = u32::MAX;
/// Separates a layer's selecting policies from its matching peers.
pub(crate) const PEERS_FOLLOW: u32 = u32::MAX - 1;

/// What evaluators read of a pod besides what their selectors see: its namespace (policies
/// and unqualified peers are namespaced), its node (the kubelet and `host` rules), its service
/// account, its address family (Calico `ipVersion`) and its ports (named ports resolve on the
/// destination pod).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Traits {
    namespace: String,
    node: Option<String>,
    service_account: Option<String>,
    ipv6: Option<bool>,
    ports: Vec<(Option<String>, Protocol, u16)>,
}

pub(crate) fn traits(pod: &Pod) -> Traits {
    let mut ports: Vec<(Option<String>, Protocol, u16)> =
        pod.ports.iter().map(|p| (p.name.clone(), p.protocol, p.port)).collect();
    ports.sort();
    ports.dedup();
    Traits {
        namespace: pod.namespace.clone(),
        node: pod.node_name.clone(),
        service_account: pod.service_account.clone(),
        ipv6: pod.ip.map(|ip: IpAddr| ip.is_ipv6()),
        ports,
    }
}

/// A partition of endpoints (by index) into classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classes {
    /// The class of each endpoint.
    pub of: Vec<usize>,
    /// The endpoints of each class, ascending; classes are numbered in order of their first
    /// endpoint.
    pub members: Vec<Vec<usize>>,
}

impl Classes {
    /// Every endpoint its own class (what judging flow by flow amounts to).
    pub(crate) fn singletons(len: usize) -> Classes {
        Classes { of: (0..len).collect(), members: (0..len).map(|i| vec![i]).collect() }
    }
}

/// The classes of `endpoints` at `end` under every policy set of `sets` at once.
pub fn classes(sets: &[&PolicySet], topology: &Topology, endpoints: &[Endpoint<'_>], end: End) -> Classes {
    let key = |endpoint: &Endpoint<'_>| -> Option<(Traits, Vec<u32>)> {
        let pod = endpoint.policy_pod()?;
        let mut signature = Vec::new();
        for set in sets {
            if !set.signature(topology, end, pod, &mut signature) {
                return None;
            }
        }
        Some((traits(pod), signature))
    };
    let keys: Vec<Option<(Traits, Vec<u32>)>> =
        crate::parallel::in_halves(endpoints.len(), crate::parallel::PARALLEL_FROM, |range| {
            range.filter_map(|i| endpoints.get(i)).map(key).collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
    let mut numbered: BTreeMap<(Traits, Vec<u32>), usize> = BTreeMap::new();
    let mut out = Classes { of: Vec::with_capacity(keys.len()), members: Vec::new() };
    for (i, key) in keys.into_iter().enumerate() {
        let next = out.members.len();
        let class = match key {
            Some(key) => *numbered.entry(key).or_insert(next),
            None => next,
        };
        if class == next {
            out.members.push(Vec::new());
        }
        if let Some(members) = out.members.get_mut(class) {
            members.push(i);
        }
        out.of.push(class);
    }
    out
}

/// Two distinct endpoints, one of each class, if there are any.
pub(crate) fn representatives(sources: &[usize], destinations: &[usize]) -> Option<(usize, usize)> {
    let (&s, &d) = (sources.first()?, destinations.first()?);
    if s != d {
        return Some((s, d));
    }
    match (sources.get(1), destinations.get(1)) {
        (_, Some(&d)) => Some((s, d)),
        (Some(&s), None) => Some((s, d)),
        (None, None) => None,
    }
}

/// `items` without repeats, by their `Debug` text (peers repeated over many policies are then
/// tested once per pod).
pub(crate) fn distinct<T: Debug>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = std::collections::BTreeSet::new();
    items.into_iter().filter(|item| seen.insert(format!("{item:?}"))).collect()
}

/// Push the index of every item of `peers` that `matches`, after [`PEERS_FOLLOW`].
pub(crate) fn push_matching<T>(peers: &[T], out: &mut Vec<u32>, matches: impl Fn(&T) -> bool) {
    out.push(PEERS_FOLLOW);
    out.extend(
        peers.iter().enumerate().filter(|(_, p)| matches(p)).filter_map(|(i, _)| u32::try_from(i).ok()),
    );
}

/// Push sorted, distinct policy ids.
pub(crate) fn push_sorted(mut ids: Vec<u32>, out: &mut Vec<u32>) {
    ids.sort_unstable();
    ids.dedup();
    out.extend(ids);
}
