//! What the evaluators' unit tests share: judging flows against manifests in a topology.

use super::{Cni, FlowSpec, PolicySet, PortRef, judge, read_objects, topology};

/// One flow to judge: from, to, port, protocol.
pub(crate) type Probe<'a> = (&'a str, &'a str, PortRef, &'a str);

/// Whether each flow is allowed by `manifests` in `topology`, on `cni` (inferred when `None`).
pub fn verdicts(topology: &str, manifests: &str, cni: Option<Cni>, flows: &[Probe<'_>]) -> Vec<bool> {
    let topology = topology::read(topology, "t").expect("topology");
    let objects = read_objects(manifests, "m").expect("objects");
    let set = PolicySet::new(&objects, cni).expect("policies");
    let flows: Vec<FlowSpec> = flows
        .iter()
        .map(|(from, to, port, protocol)| FlowSpec {
            from: from.to_string(),
            to: to.to_string(),
            port: port.clone(),
            protocol: protocol.to_string(),
            allowed: None,
        })
        .collect();
    judge(&set, &topology, &flows).expect("judged").into_iter().map(|j| j.allowed).collect()
}

/// [`verdicts`] of TCP flows to numbered ports.
pub(crate) fn tcp_verdicts(
    topology: &str,
    manifests: &str,
    cni: Option<Cni>,
    flows: &[(&str, &str, u16)],
) -> Vec<bool> {
    let flows: Vec<Probe<'_>> = flows.iter().map(|&(f, t, p)| (f, t, PortRef::Number(p), "TCP")).collect();
    verdicts(topology, manifests, cni, &flows)
}
