//! A topology derived from the intent: every workload becomes a pod, every namespace gets a
//! plain pod, every peer the values name becomes something to probe, plus the internet, the
//! metadata service, the API server, two nodes and a pod in an unrelated namespace. Flows are
//! every pair of those endpoints (one side a pod) on every port the values mention.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::topology::{ApiServer, ContainerPort, DnsName, Namespace, Node, Pod, Topology};
use super::{FlowSpec, PortRef};
use crate::intent::{
    ASSUMED_NODE_CIDR, ASSUMED_POD_CIDR, ASSUMED_SERVICE_CIDR, Fqdn, Intent, LabelOperator, LabelSelector,
    NAMESPACE_NAME_LABEL, Namespaces, Peer, PolicyRole, PortSel, Protocol, Rule,
};

/// The namespace with nothing to do with the values: traffic from it shows what "others" get.
pub(crate) const UNRELATED_NAMESPACE: &str = "netpol-unrelated";
/// A pod with no labels, placed in every namespace.
pub(crate) const PLAIN_POD: &str = "netpol-plain";
/// The start of the name of a pod made for a rule's peer that no declared workload is.
pub(crate) const PEER_POD_PREFIX: &str = "peer-";
/// An address on the internet (TEST-NET-2), outside every cluster range.
pub(crate) const INTERNET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The cloud metadata service.
pub(crate) const METADATA: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// A derived topology and the endpoints and ports to probe.
#[derive(Clone, Debug, Default)]
pub struct Derived {
    pub topology: Topology,
    /// Endpoints as flows name them (`ns/pod`, `node:NAME`, `ip:ADDRESS`), in a fixed order.
    pub endpoints: Vec<String>,
    /// Ports probed towards every destination, besides a destination pod's own ports.
    pub ports: BTreeSet<(Protocol, u16)>,
}

impl Derived {
    /// The ports probed towards one endpoint: every probed port and, for a pod, its own ports,
    /// sorted.
    pub(crate) fn ports_towards(&self, destination: &super::Endpoint<'_>) -> Vec<(Protocol, u16)> {
        let mut ports = self.ports.clone();
        if let super::Endpoint::Pod(pod) = destination {
            ports.extend(pod.ports.iter().map(|p| (p.protocol, p.port)));
        }
        ports.into_iter().collect()
    }

    /// Every flow between two endpoints, at least one of them a pod, on every probed port and
    /// every port of the destination pod.
    pub fn flows(&self) -> Vec<FlowSpec> {
        let mut out = Vec::new();
        let _ = self.each_flow(|f| {
            out.push(f);
            Ok(())
        });
        out
    }

    /// [`Derived::flows`] one at a time, until `visit` fails.
    pub(crate) fn each_flow(
        &self,
        mut visit: impl FnMut(FlowSpec) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let towards: Vec<Vec<(Protocol, u16)>> = self
            .endpoints
            .iter()
            .map(|to| match to.split_once('/').and_then(|(ns, name)| self.topology.pod(ns, name)) {
                Some(pod) => self.ports_towards(&super::Endpoint::Pod(pod)),
                None => self.ports.iter().copied().collect(),
            })
            .collect();
        for from in &self.endpoints {
            for (to, ports) in self.endpoints.iter().zip(&towards) {
                if from == to || !(from.contains('/') || to.contains('/')) {
                    continue;
                }
                for &(protocol, port) in ports {
                    visit(FlowSpec {
                        from: from.clone(),
                        to: to.clone(),
                        port: PortRef::Number(port),
                        protocol: protocol.as_str().to_string(),
                        allowed: None,
                    })?;
                }
            }
        }
        Ok(())
    }
}

struct Builder<'a> {
    /// Every intent the topology covers; the first one's cluster facts place the endpoints.
    intents: &'a [&'a Intent],
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    pods: Vec<Pod>,
    pod_net: IpNet,
    externals: BTreeSet<IpAddr>,
    dns_names: BTreeMap<String, IpAddr>,
    ports: BTreeSet<(Protocol, u16)>,
    peer_namespaces: usize,
}

/// Derive the topology of an intent.
pub fn derive(intent: &Intent) -> Derived {
    derive_all(&[intent])
}

/// Derive one topology that covers several intents (the two sides of a change): every
/// workload, policy subject and peer of each becomes an endpoint, once. The first intent's
/// cluster facts (pod, service and node ranges, API server, namespace labels first) place them.
pub fn derive_all(intents: &[&Intent]) -> Derived {
    let Some(intent) = intents.first().copied() else { return Derived::default() };
    let facts = &intent.cluster;
    // Pods get addresses of the first declared family (IPv4 first on a dual-stack cluster);
    // each other pod or service range gets an address endpoint of its own, so a rule that
    // reaches the cluster over the other family shows up as a flow.
    let first_v4 = |nets: &[IpNet]| nets.iter().find(|n| matches!(n, IpNet::V4(_))).or(nets.first()).copied();
    let pod_net = first_v4(&facts.pod_cidrs).unwrap_or_else(|| net(ASSUMED_POD_CIDR));
    let service_net = first_v4(&facts.service_cidrs).unwrap_or_else(|| net(ASSUMED_SERVICE_CIDR));
    let node_net = first_v4(&facts.node_cidrs).unwrap_or_else(|| net(ASSUMED_NODE_CIDR));
    let other_family_addresses: Vec<IpAddr> = facts
        .pod_cidrs
        .iter()
        .chain(&facts.service_cidrs)
        .filter(|n| **n != pod_net && **n != service_net)
        .filter_map(|n| nth_host(*n, 10))
        .collect();
    let mut b = Builder {
        intents,
        namespaces: BTreeMap::new(),
        pods: Vec::new(),
        pod_net,
        externals: [IpAddr::V4(INTERNET), IpAddr::V4(METADATA)]
            .into_iter()
            .chain(other_family_addresses)
            .collect(),
        dns_names: BTreeMap::new(),
        ports: BTreeSet::from([(Protocol::Tcp, 443), (Protocol::Tcp, 9999)]),
        peer_namespaces: 0,
    };
    b.namespace(UNRELATED_NAMESPACE);
    // Every declared workload is a pod of its own with every port it names, so that named
    // ports resolve as they will in the cluster.
    for w in intents.iter().flat_map(|i| &i.cluster.workloads) {
        b.namespace(&w.namespace);
        let ports =
            w.ports.iter().map(|(name, number, protocol)| (Some(name.clone()), *number, *protocol)).collect();
        b.pod(&w.namespace, &w.name, &w.subject, ports);
    }
    for p in intents.iter().flat_map(|i| &i.policies) {
        b.namespace(&p.namespace);
        if p.role == PolicyRole::Allow && !p.subject.is_empty() {
            let ports =
                p.ingress.iter().flatten().flat_map(|r| r.ports.iter()).filter_map(|m| match &m.port {
                    PortSel::Number(n) | PortSel::Range(n, _) => Some((None, *n, m.protocol)),
                    PortSel::Named(name) => Some((Some(name.clone()), 0, m.protocol)),
                    PortSel::Any => None,
                });
            let ports: Vec<_> = ports.collect();
            b.pod(&p.namespace, &p.name, &p.subject, ports);
        }
    }
    for p in intents.iter().flat_map(|i| &i.policies) {
        for rule in p.ingress.iter().chain(p.egress.iter()).flatten() {
            b.rule(rule, Some(&p.namespace));
        }
    }
    for g in intents.iter().flat_map(|i| &i.guardrails) {
        for rule in g.ingress_deny.iter().chain(&g.egress_deny) {
            b.rule(rule, None);
        }
    }
    let namespace_names: Vec<String> = b.namespaces.keys().cloned().collect();
    for ns in &namespace_names {
        b.pod(ns, PLAIN_POD, &LabelSelector::default(), Vec::new());
    }

    let nodes = vec![
        Node { name: "node-1".into(), ip: nth_host(node_net, 2), labels: BTreeMap::new() },
        Node { name: "node-2".into(), ip: nth_host(node_net, 3), labels: BTreeMap::new() },
    ];
    let api_address = facts
        .api_server
        .first()
        .and_then(|c| if c.prefix_len() == c.max_prefix_len() { Some(c.addr()) } else { nth_host(*c, 1) })
        .or_else(|| nth_host(node_net, 10));
    let mut cluster_cidrs = vec![pod_net, service_net];
    for net in facts.pod_cidrs.iter().chain(&facts.service_cidrs) {
        if !cluster_cidrs.contains(net) {
            cluster_cidrs.push(*net);
        }
    }
    cluster_cidrs.extend(facts.node_cidrs.iter().copied());
    if facts.node_cidrs.is_empty() {
        cluster_cidrs.push(node_net);
    }

    let Builder { namespaces, mut pods, externals, dns_names, ports, .. } = b;
    // Pods in namespace order, then by name, so endpoints read naturally.
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    for (i, pod) in pods.iter_mut().enumerate() {
        pod.ip = nth_host(pod_net, 10 + i as u128);
    }
    let mut endpoints: Vec<String> = pods.iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect();
    endpoints.extend(nodes.iter().map(|n| format!("node:{}", n.name)));
    endpoints.extend(api_address.map(|ip| format!("ip:{ip}")));
    endpoints.extend(externals.iter().filter(|ip| Some(**ip) != api_address).map(|ip| format!("ip:{ip}")));
    let topology = Topology {
        namespaces: namespaces.into_iter().map(|(name, labels)| Namespace { name, labels }).collect(),
        pods,
        nodes,
        api_server: ApiServer {
            addresses: api_address.into_iter().collect(),
            ports: intent.cluster.api_server_ports.clone(),
        },
        dns_names: dns_names.into_iter().map(|(name, ip)| DnsName { name, addresses: vec![ip] }).collect(),
        cluster_cidrs,
        ..Topology::default()
    };
    Derived { topology, endpoints, ports }
}

impl Builder<'_> {
    fn namespace(&mut self, name: &str) -> &mut BTreeMap<String, String> {
        let declared = self
            .intents
            .iter()
            .find_map(|i| i.cluster.namespace_labels.get(name))
            .cloned()
            .unwrap_or_default();
        self.namespaces.entry(name.to_string()).or_insert(declared)
    }

    fn pod(
        &mut self,
        namespace: &str,
        name: &str,
        selector: &LabelSelector,
        ports: Vec<(Option<String>, u16, Protocol)>,
    ) {
        let Some(labels) = satisfy(selector, BTreeMap::new()) else { return };
        if self.pods.iter().any(|p| {
            p.namespace == namespace && (p.name == name || (p.labels == labels && name != PLAIN_POD))
        }) {
            return;
        }
        let mut container_ports: Vec<ContainerPort> = Vec::new();
        for (i, (port_name, number, protocol)) in ports.into_iter().enumerate() {
            // A named port needs a number; give it one no rule names.
            let port = if number == 0 { 20000 + i as u16 } else { number };
            if !container_ports.iter().any(|c| c.port == port && c.protocol == protocol) {
                container_ports.push(ContainerPort { name: port_name, port, protocol });
            }
        }
        self.pods.push(Pod {
            namespace: namespace.to_string(),
            name: name.to_string(),
            labels,
            ip: None,
            ports: container_ports,
            host_network: false,
            service_account: Some("default".to_string()),
            node_name: Some("node-1".to_string()),
        });
    }

    fn rule(&mut self, rule: &Rule, own_namespace: Option<&str>) {
        for m in &rule.ports {
            match m.port {
                PortSel::Number(n) => {
                    self.ports.insert((m.protocol, n));
                }
                PortSel::Range(a, b) => {
                    self.ports.extend([(m.protocol, a), (m.protocol, b)]);
                    if let Some(after) = b.checked_add(1) {
                        self.ports.insert((m.protocol, after));
                    }
                    if a > 1 {
                        self.ports.insert((m.protocol, a - 1));
                    }
                }
                PortSel::Any | PortSel::Named(_) => {}
            }
        }
        for peer in &rule.peers {
            self.peer(peer, own_namespace);
        }
    }

    fn peer(&mut self, peer: &Peer, own_namespace: Option<&str>) {
        match peer {
            // Cilium's ingress identity is not modelled as an endpoint.
            Peer::GatewayProxy => {}
            Peer::Pods { namespaces, pods } => {
                let namespace = match namespaces {
                    Namespaces::Own => match own_namespace {
                        Some(ns) => ns.to_string(),
                        None => return,
                    },
                    Namespaces::Matching(sel) => match self.namespace_for(sel) {
                        Some(ns) => ns,
                        None => return,
                    },
                };
                let Some(labels) = satisfy(pods, BTreeMap::new()) else { return };
                let slug: String = labels
                    .values()
                    .map(|v| {
                        v.to_ascii_lowercase()
                            .chars()
                            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                            .collect::<String>()
                    })
                    .collect::<Vec<_>>()
                    .join("-");
                let base =
                    if slug.is_empty() { PLAIN_POD.to_string() } else { format!("{PEER_POD_PREFIX}{slug}") };
                let base: String = base.chars().take(50).collect();
                let mut name = base.clone();
                let mut n = 1;
                while self
                    .pods
                    .iter()
                    .any(|p| p.namespace == namespace && p.name == name && p.labels != labels)
                {
                    n += 1;
                    name = format!("{base}-{n}");
                }
                self.pod(&namespace, &name, pods, Vec::new());
            }
            // The internet is always probed.
            Peer::Cidr { cidr, .. } if cidr.prefix_len() == 0 => {}
            Peer::Cidr { cidr, except } => {
                let inside = |ip: &IpAddr| cidr.contains(ip) && !except.iter().any(|e| e.contains(ip));
                let mut candidates = vec![nth_host(*cidr, 1), Some(cidr.addr())];
                for e in except {
                    candidates.push(after(e));
                }
                if let Some(ip) =
                    candidates.into_iter().flatten().find(|ip| inside(ip) && !self.pod_net.contains(ip))
                {
                    self.externals.insert(ip);
                }
                // An address inside each exception shows that the exception holds.
                for e in except {
                    if let Some(ip) = nth_host(*e, 1).or(Some(e.addr())) {
                        self.externals.insert(ip);
                    }
                }
            }
            Peer::Fqdn(fqdn) => {
                let name = match fqdn {
                    Fqdn::Name(n) => n.trim_end_matches('.').to_string(),
                    Fqdn::Pattern(p) if p == "*" => "probe.example".to_string(),
                    Fqdn::Pattern(p) => p.trim_start_matches("**.").replace('*', "probe"),
                };
                let next = self.dns_names.len() as u8;
                self.dns_names.entry(name).or_insert(IpAddr::V4(Ipv4Addr::new(
                    192,
                    0,
                    2,
                    10u8.saturating_add(next),
                )));
            }
            // Nodes, the API server and the internet are always probed.
            Peer::Entity(_) | Peer::ApiServer { .. } => {}
        }
    }

    /// A namespace whose labels satisfy the selector: the named one when it names one, an
    /// unrelated one when it matches every namespace, otherwise a new one.
    fn namespace_for(&mut self, selector: &LabelSelector) -> Option<String> {
        if selector.is_empty() {
            return Some(UNRELATED_NAMESPACE.to_string());
        }
        let name = match selector.match_labels.get(NAMESPACE_NAME_LABEL) {
            Some(name) => name.clone(),
            None => {
                // An existing namespace whose labels already fit (a tenant namespace, say).
                if let Some((name, _)) = self.namespaces.iter().find(|(name, labels)| {
                    let mut labels = (*labels).clone();
                    labels.insert(NAMESPACE_NAME_LABEL.to_string(), (*name).clone());
                    super::reference::selector_matches(selector, &labels)
                }) {
                    return Some(name.clone());
                }
                self.peer_namespaces += 1;
                format!("netpol-peer-ns-{}", self.peer_namespaces)
            }
        };
        let mut wanted = selector.clone();
        wanted.match_labels.remove(NAMESPACE_NAME_LABEL);
        wanted.match_expressions.retain(|e| e.key != NAMESPACE_NAME_LABEL);
        let current = self.namespace(&name).clone();
        let labels = satisfy(&wanted, current)?;
        self.namespaces.insert(name.clone(), labels);
        Some(name)
    }
}

/// Labels that satisfy a selector, starting from `labels`; `None` when it cannot be satisfied.
fn satisfy(
    selector: &LabelSelector,
    mut labels: BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    for (k, v) in &selector.match_labels {
        match labels.get(k) {
            Some(existing) if existing != v => return None,
            _ => {
                labels.insert(k.clone(), v.clone());
            }
        }
    }
    for e in &selector.match_expressions {
        let current = labels.get(&e.key).cloned();
        match e.operator {
            LabelOperator::In => match current {
                Some(v) if !e.values.contains(&v) => return None,
                Some(_) => {}
                None => {
                    labels.insert(e.key.clone(), e.values.first()?.clone());
                }
            },
            LabelOperator::NotIn => {
                if current.is_some_and(|v| e.values.contains(&v)) {
                    return None;
                }
            }
            LabelOperator::Exists => {
                if current.is_none() {
                    labels.insert(e.key.clone(), "probe".to_string());
                }
            }
            LabelOperator::DoesNotExist => {
                if current.is_some() {
                    return None;
                }
            }
        }
    }
    Some(labels)
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap_or_default()
}

/// The `n`th address of a network, if it lies inside.
pub(crate) fn nth_host(net: IpNet, n: u128) -> Option<IpAddr> {
    let ip = match net.network() {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::try_from(u128::from(u32::from(a)) + n).ok()?)),
        IpAddr::V6(a) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(a).checked_add(n)?)),
    };
    net.contains(&ip).then_some(ip)
}

/// The first address after a network.
fn after(net: &IpNet) -> Option<IpAddr> {
    match net.broadcast() {
        IpAddr::V4(a) => u32::from(a).checked_add(1).map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        IpAddr::V6(a) => u128::from(a).checked_add(1).map(|v| IpAddr::V6(std::net::Ipv6Addr::from(v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::LabelExpression;
    use crate::intent::testing::{
        allowlist, cidr, default_deny, dns_rule, intent, own_pods, pods_in, rule, tcp,
    };

    #[test]
    fn selectors_are_satisfied_or_refused() {
        let mut s = LabelSelector::from_labels([("app", "web")]);
        s.match_expressions = vec![
            LabelExpression {
                key: "tier".into(),
                operator: LabelOperator::In,
                values: vec!["a".into(), "b".into()],
            },
            LabelExpression { key: "env".into(), operator: LabelOperator::Exists, values: vec![] },
            LabelExpression { key: "legacy".into(), operator: LabelOperator::DoesNotExist, values: vec![] },
        ];
        let labels = satisfy(&s, BTreeMap::new()).expect("satisfiable");
        assert_eq!(labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(labels.get("tier").map(String::as_str), Some("a"));
        assert!(labels.contains_key("env") && !labels.contains_key("legacy"));
        let mut impossible = LabelSelector::from_labels([("app", "web")]);
        impossible.match_expressions = vec![LabelExpression {
            key: "app".into(),
            operator: LabelOperator::NotIn,
            values: vec!["web".into()],
        }];
        assert_eq!(satisfy(&impossible, BTreeMap::new()), None);
    }

    #[test]
    fn addresses_stay_inside_their_networks() {
        assert_eq!(nth_host(net("10.0.0.0/30"), 3), Some("10.0.0.3".parse().expect("ip")));
        assert_eq!(nth_host(net("10.0.0.0/30"), 4), None);
        assert_eq!(nth_host(net("2001:db8::/126"), 1), Some("2001:db8::1".parse().expect("ip")));
        assert_eq!(after(&net("10.0.0.0/24")), Some("10.0.1.0".parse().expect("ip")));
        assert_eq!(after(&net("255.255.255.255/32")), None);
    }

    #[test]
    fn workloads_peers_and_the_outside_become_endpoints() {
        let web = allowlist(
            "shop",
            "web",
            Some(vec![rule(
                "http",
                vec![pods_in("monitoring", &[("app", "prom")]), own_pods(&[("app", "api")])],
                vec![tcp(8080)],
            )]),
            Some(vec![
                dns_rule(),
                rule("out", vec![cidr("203.0.113.0/24", &["203.0.113.0/28"])], vec![tcp(443)]),
            ]),
        );
        let d = derive(&intent(vec![web, default_deny("shop", 2000, false)]));
        let names: Vec<&str> = d.endpoints.iter().map(String::as_str).collect();
        for expected in [
            "shop/web",
            "shop/netpol-plain",
            "shop/peer-api",
            "monitoring/peer-prom",
            "kube-system/peer-kube-dns",
            "netpol-unrelated/netpol-plain",
            "node:node-1",
            "node:node-2",
            "ip:198.51.100.10",
            "ip:169.254.169.254",
            "ip:203.0.113.1",
            "ip:203.0.113.16",
        ] {
            assert!(names.contains(&expected), "{expected} missing from {names:?}");
        }
        let web = d.topology.pod("shop", "web").expect("web pod");
        assert_eq!(web.ports.first().map(|p| p.port), Some(8080));
        assert!(d.ports.contains(&(Protocol::Udp, 53)) && d.ports.contains(&(Protocol::Tcp, 443)));
        // Every pod has a distinct address inside the pod CIDR.
        let ips: BTreeSet<_> = d.topology.pods.iter().filter_map(|p| p.ip).collect();
        assert_eq!(ips.len(), d.topology.pods.len());
        assert!(ips.iter().all(|ip| net("10.244.0.0/16").contains(ip)));
        // Flows: every ordered pair with a pod on one side; never node to node.
        let flows = d.flows();
        assert!(flows.iter().all(|f| f.from != f.to && (f.from.contains('/') || f.to.contains('/'))));
        assert!(flows.iter().any(|f| f.from == "monitoring/peer-prom"
            && f.to == "shop/web"
            && f.port == PortRef::Number(8080)));
        assert_eq!(derive(&intent(vec![])).topology.pods.len(), 1, "only the unrelated namespace's pod");
    }
}
