//! Workloads and their rules: the general shape's `workloads`, and the workloads under a namespace.

use ipnet::IpNet;

use crate::error::Diagnostic;
use crate::intent::{
    LabelSelector, Namespaces, Origin, Passthrough, Peer, Policy, PolicyRole, PortMatch, PortSel, Protocol,
    RawRules, Rule, RulePurpose,
};
use crate::values::checked::{PeerSpec, PortSpec, check_dns_label, port_match};
use crate::values::tree::{Node, Value as NodeValue};
use crate::values::types::{EgressRuleSpec, EgressValues, IngressRuleSpec, RawRulesValues, Workload};
use crate::vocab::naming;
use crate::vocab::source::KeyPath;

use super::*;

impl Cx<'_> {
    /// Top-level workloads. Each lowers on its own, so a large set is split over two threads;
    /// results and diagnostics are joined in workload order, as a single thread would give them.
    pub(super) fn workloads(&mut self, default_namespace: &str, out: &mut Vec<Policy>) {
        let all: Vec<(&String, &Workload)> = self.loaded.values.workloads.iter().collect();
        let loaded = self.loaded;
        let parts = crate::parallel::in_halves(all.len(), crate::parallel::PARALLEL_FROM, |range| {
            let mut cx = Cx { loaded, problems: Vec::new(), warnings: Vec::new() };
            let mut policies = Vec::new();
            for (name, w) in all.get(range).unwrap_or_default() {
                cx.workload(name, w, default_namespace, &mut policies);
            }
            (policies, cx.problems, cx.warnings)
        });
        for (policies, problems, warnings) in parts {
            out.extend(policies);
            self.problems.extend(problems);
            self.warnings.extend(warnings);
        }
    }

    pub(super) fn workload(
        &mut self,
        name: &str,
        w: &Workload,
        default_namespace: &str,
        out: &mut Vec<Policy>,
    ) {
        let path = KeyPath::default().key("workloads").key(name);
        self.workload_at(name, w, default_namespace, &path, out);
    }

    pub(super) fn workload_at(
        &mut self,
        name: &str,
        w: &Workload,
        default_namespace: &str,
        path: &KeyPath,
        out: &mut Vec<Policy>,
    ) {
        let path = path.clone();
        if let Err(e) = check_dns_label(name) {
            let origin = self.origin(&path);
            self.problems.push(Diagnostic::new(format!("workload name: {e}")).at(&origin));
            return;
        }
        let namespace = w.namespace.as_ref().map_or(default_namespace, |n| n.0.as_str()).to_string();
        if w.pod_labels.is_some() && w.pod_selector.is_some() {
            let origin = self.origin(&path.key("podSelector"));
            self.problems
                .push(Diagnostic::new("give either `podLabels` or `podSelector`, not both").at(&origin));
        }
        let subject = workload_subject(name, w);
        let mut ingress = Vec::new();
        if w.allow_same_release {
            let origin = self.origin(&path.key("allowSameRelease"));
            match subject.match_labels.get(RELEASE_LABEL) {
                Some(release) => ingress.push(Rule {
                    peers: vec![Peer::Pods {
                        namespaces: Namespaces::Own,
                        pods: LabelSelector::from_labels([(RELEASE_LABEL, release.as_str())]),
                    }],
                    ports: Vec::new(),
                    name: "same-release".to_string(),
                    purpose: RulePurpose::Plain,
                    origin,
                }),
                None => self.problems.push(
                    Diagnostic::new(format!(
                        "allowSameRelease needs the workload's podLabels to include `{RELEASE_LABEL}`"
                    ))
                    .at(&origin),
                ),
            }
        }
        for (port_name, port) in &w.ports {
            let port_path = path.key("ports").key(port_name);
            if let Err(e) = check_dns_label(port_name) {
                let origin = self.origin(&port_path);
                self.problems.push(Diagnostic::new(format!("port key: {e}")).at(&origin));
                continue;
            }
            if !port.enabled {
                continue;
            }
            let protocol = port.protocol.unwrap_or(Protocol::Tcp);
            let matched = match port_match(protocol, Some(port.port.clone()), port.end_port) {
                Ok(m) => m,
                Err(e) => {
                    let origin = self.origin(&port_path);
                    self.problems.push(Diagnostic::new(e).at(&origin));
                    continue;
                }
            };
            let origin = self.origin(&port_path);
            ingress.push(self.rule(port_name, &port.from, vec![matched], origin, RulePurpose::Plain));
        }
        for (i, extra) in w.ingress.iter().enumerate() {
            ingress.push(self.ingress_rule(&format!("ingress-{i}"), extra, &path.key("ingress").index(i)));
        }
        let egress = self.egress(&w.egress, &path.key("egress"), false);
        let speaks_ingress = !ingress.is_empty()
            || !w.cilium.ingress.is_empty()
            || !w.calico.ingress.is_empty()
            || !w.cluster_network_policy.ingress.is_empty();
        if !speaks_ingress
            && egress.is_none()
            && w.cilium.egress.is_empty()
            && w.calico.egress.is_empty()
            && w.cluster_network_policy.egress.is_empty()
        {
            let origin = self.origin(&path);
            self.warnings.push(
                Diagnostic::suspicious(format!(
                    "workload `{name}` has no ports, ingress rules or egress: it renders no policy"
                ))
                .at(&origin),
            );
        }
        out.push(Policy {
            name: name.to_string(),
            namespace,
            role: PolicyRole::Allow,
            subject,
            ingress: speaks_ingress.then_some(ingress),
            egress,
            passthrough: self.passthrough([&w.cilium, &w.calico, &w.cluster_network_policy], &path),
            description: format!("allowlist of workload {name}"),
            origin: self.origin(&path),
        });
    }

    pub(super) fn ingress_rule(&mut self, name: &str, spec: &IngressRuleSpec, path: &KeyPath) -> Rule {
        let ports = spec.ports.iter().map(|p: &PortSpec| p.0.clone()).collect();
        let origin = self.origin(path);
        self.rule(name, &spec.from, ports, origin, RulePurpose::Plain)
    }

    pub(super) fn egress_rule(&mut self, name: &str, spec: &EgressRuleSpec, path: &KeyPath) -> Rule {
        let ports = spec.ports.iter().map(|p: &PortSpec| p.0.clone()).collect();
        let origin = self.origin(path);
        self.rule(name, &spec.to, ports, origin, RulePurpose::Plain)
    }

    pub(super) fn rule(
        &mut self,
        name: &str,
        peers: &[PeerSpec],
        mut ports: Vec<PortMatch>,
        origin: Origin,
        purpose: RulePurpose,
    ) -> Rule {
        let api = &self.loaded.values.cluster.api_server;
        let api_cidrs: Vec<IpNet> = api.cidrs.iter().map(|c| c.0).collect();
        let mut out: Vec<Peer> = peers
            .iter()
            .map(|p| match &p.0 {
                // The user named the API server: fill in its addresses for the engines that need them.
                Peer::ApiServer { cidrs } if cidrs.is_empty() => Peer::ApiServer { cidrs: api_cidrs.clone() },
                // An ipBlock inside the API server's endpoint addresses is the API server: Cilium
                // can only reach an in-cluster API server through its entity.
                Peer::Cidr { cidr, except }
                    if except.is_empty() && api_cidrs.iter().any(|a| a.contains(cidr)) =>
                {
                    Peer::ApiServer { cidrs: vec![*cidr] }
                }
                other => other.clone(),
            })
            .collect();
        // "Everyone" and an empty peer list mean the same; one spelling keeps engines exact.
        if out.contains(&Peer::Entity(crate::intent::Entity::All)) {
            out.clear();
        }
        // Unstable sorts need no scratch buffer (half a million-peer list); both types are
        // totally ordered, so equal elements are identical and the order is the stable one.
        out.sort_unstable();
        out.dedup();
        ports.sort_unstable();
        ports.dedup();
        Rule { peers: out, ports, name: naming::fit(name), purpose, origin }
    }

    /// `egress:` of a workload or of the chart: `None` when not enabled.
    pub(super) fn egress(
        &mut self,
        e: &EgressValues,
        path: &KeyPath,
        needs_api_server: bool,
    ) -> Option<Vec<Rule>> {
        self.egress_with(e, path, needs_api_server, DnsExpected::Yes)
    }

    /// `egress`, saying whether these rules are where the pods' DNS would be (a namespace's
    /// `allow.apiServer` is one allow among others, and DNS is an allow of its own there).
    pub(super) fn egress_with(
        &mut self,
        e: &EgressValues,
        path: &KeyPath,
        needs_api_server: bool,
        dns_expected: DnsExpected,
    ) -> Option<Vec<Rule>> {
        if !e.enabled {
            if !e.to.is_empty() || e.api_server {
                let origin = self.origin(path);
                self.warnings.push(
                    Diagnostic::suspicious("egress rules are set but `egress.enabled` is false: egress is not restricted and the rules are not rendered").at(&origin),
                );
            }
            return None;
        }
        let cluster = &self.loaded.values.cluster;
        let mut rules = Vec::new();
        if e.dns {
            let namespace = e.dns_namespace.as_ref().unwrap_or(&cluster.dns.namespace);
            let mut peers = vec![Peer::Pods {
                namespaces: Namespaces::Matching(LabelSelector::namespace_named(&namespace.0)),
                pods: LabelSelector {
                    match_labels: cluster.dns.pod_labels.0.clone(),
                    match_expressions: Vec::new(),
                },
            }];
            peers.extend(
                cluster.dns.node_local_cache.iter().map(|c| Peer::Cidr { cidr: c.0, except: Vec::new() }),
            );
            rules.push(Rule {
                peers,
                ports: vec![
                    PortMatch { protocol: Protocol::Udp, port: PortSel::Number(53) },
                    PortMatch { protocol: Protocol::Tcp, port: PortSel::Number(53) },
                ],
                name: "dns".to_string(),
                purpose: RulePurpose::Dns,
                origin: self.origin(&path.key("dns")),
            });
        } else if dns_expected == DnsExpected::Yes {
            let origin = self.origin(&path.key("dns"));
            self.warnings.push(
                Diagnostic::suspicious(
                    "egress is restricted without DNS: every name lookup from these pods will fail",
                )
                .at(&origin)
                .with_help("set `dns: true` unless the pods really resolve nothing"),
            );
        }
        if e.api_server {
            let ports = cluster.api_server.ports.iter().map(|p| port_of(p, Protocol::Tcp)).collect();
            rules.push(Rule {
                peers: vec![Peer::ApiServer {
                    cidrs: cluster.api_server.cidrs.iter().map(|c| c.0).collect(),
                }],
                ports,
                name: "api-server".to_string(),
                purpose: RulePurpose::Plain,
                origin: self.origin(&path.key("apiServer")),
            });
        }
        for (i, spec) in e.to.iter().enumerate() {
            rules.push(self.egress_rule(&format!("egress-{i}"), spec, &path.key("to").index(i)));
        }
        // Without `cluster.apiServer.cidrs` an ipBlock may well be the API server: only warn
        // when no rule could possibly reach it.
        let api_unknown = cluster.api_server.cidrs.is_empty();
        let reaches_api = rules.iter().any(|r| {
            r.peers.is_empty()
                || r.peers.iter().any(|p| match p {
                    Peer::ApiServer { .. }
                    | Peer::Entity(crate::intent::Entity::All | crate::intent::Entity::Cluster) => true,
                    Peer::Cidr { .. } => api_unknown,
                    _ => false,
                })
        });
        if needs_api_server && !reaches_api {
            let origin = self.origin(path);
            self.warnings.push(
                Diagnostic::suspicious("egress is restricted but no rule reaches the API server: the controller will be cut off from the cluster")
                    .at(&origin)
                    .with_help("add the API server's endpoint CIDR to `egress.to` (and set cluster.apiServer.cidrs to it), or set `egress.apiServer: true`"),
            );
        }
        Some(rules)
    }

    pub(super) fn passthrough(&mut self, raw: [&RawRulesValues; 3], path: &KeyPath) -> Passthrough {
        let [cilium, calico, cnp] = raw;
        self.check_passthrough(path);
        let convert = |cx: &Self, r: &RawRulesValues, key: &str| RawRules {
            ingress: r.ingress.iter().map(|j| j.0.clone()).collect(),
            egress: r.egress.iter().map(|j| j.0.clone()).collect(),
            origin: cx.origin(&path.key(key)),
        };
        Passthrough {
            cilium: convert(self, cilium, "cilium"),
            calico: convert(self, calico, "calico"),
            cluster_network_policy: convert(self, cnp, "clusterNetworkPolicy"),
        }
    }

    /// Passthrough rules are merged verbatim, so they are checked first with the model each
    /// engine's evaluator reads that kind with, and each direction takes only its own peer
    /// fields (Cilium `fromEndpoints` in ingress, `toEndpoints` in egress; ClusterNetworkPolicy
    /// `from` and `to`): a misspelt field would otherwise reach the API server.
    pub(super) fn check_passthrough(&mut self, path: &KeyPath) {
        type Check = fn(&Node, &KeyPath) -> std::result::Result<(), crate::values::de::DeError>;
        let engines: [(&str, Check); 3] = [
            ("cilium", crate::wire::cilium::check_passthrough_rule),
            ("calico", crate::wire::calico::check_passthrough_rule),
            ("clusterNetworkPolicy", crate::wire::cluster_network_policy::check_passthrough_rule),
        ];
        for (key, check) in engines {
            for dir in ["ingress", "egress"] {
                let list_path = path.key(key).key(dir);
                let Some(Node { value: NodeValue::Seq(rules), .. }) = self.loaded.root.at(&list_path.0)
                else {
                    continue;
                };
                for (i, rule) in rules.iter().enumerate() {
                    let rule_path = list_path.index(i);
                    if let Err(e) = check(rule, &rule_path) {
                        self.problems.push(e.into_diagnostic(&self.loaded.sources));
                        continue;
                    }
                    let NodeValue::Map(fields) = &rule.value else { continue };
                    for (field, _) in fields {
                        let name: &str = &field.name;
                        let other = match (key, dir) {
                            ("cilium", "ingress") => name.starts_with("to") && name != "toPorts",
                            ("cilium", _) => name.starts_with("from"),
                            ("clusterNetworkPolicy", "ingress") => name == "to",
                            ("clusterNetworkPolicy", _) => name == "from",
                            _ => false,
                        };
                        if other {
                            let origin = self.loaded.sources.origin(field.loc, &rule_path.key(name));
                            let (wrong, right) =
                                if dir == "ingress" { ("egress", "from") } else { ("ingress", "to") };
                            self.problems.push(
                                Diagnostic::new(format!(
                                    "`{name}` is a field of {wrong} rules, not of {dir} rules"
                                ))
                                .at(&origin)
                                .with_help(format!("{dir} rules name their peers with `{right}…` fields")),
                            );
                        }
                    }
                }
            }
        }
    }
}
