//! Namespaces: their workloads, their default-deny, one policy per `allow.*` switch, their namespace-wide rules, and the tenant checks.

use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::error::Diagnostic;
use crate::intent::{
    LabelSelector, Namespaces, Passthrough, Peer, Policy, PolicyRole, PortMatch, Rule, RulePurpose,
};
use crate::values::checked::DnsLabel;
use crate::values::checked::check_dns_label;
use crate::values::types::{EgressValues, InternetValues, NamespaceValues, PodsRef, PortsOnly, Switch};
use crate::vocab::source::KeyPath;

use super::*;

impl Cx<'_> {
    /// Namespace-level policies (`namespaces:`) and the workloads declared inside namespaces.
    pub(super) fn namespaces(&mut self, out: &mut Vec<Policy>) {
        let values = &self.loaded.values;
        for (ns, nsv) in &values.namespaces {
            let path = KeyPath::default().key("namespaces").key(ns);
            if let Err(e) = check_dns_label(ns) {
                let origin = self.origin(&path);
                self.problems.push(Diagnostic::new(format!("namespace name: {e}")).at(&origin));
                continue;
            }
            if nsv.unmanaged {
                continue;
            }
            self.namespace_workloads(ns, nsv, &path, out);
            out.extend(self.default_deny(ns, nsv, &path));
            let here = NamespaceAllow { namespace: ns, path: path.key("allow") };
            let allow = &nsv.allow;
            let denies_egress = nsv.default_deny.as_ref().is_some_and(|dd| dd.egress);
            let policies = [
                allow.dns.then(|| self.allow_dns(&here)).flatten(),
                allow.same_namespace.then(|| self.allow_same_namespace(&here, denies_egress)),
                self.allow_from_platform(
                    &here,
                    PlatformSource::IngressController,
                    &allow.from_ingress_controller,
                ),
                self.allow_from_platform(&here, PlatformSource::Gateway, &allow.from_gateway),
                self.allow_from_platform(&here, PlatformSource::Monitoring, &allow.from_monitoring),
                self.allow_from_namespaces(&here, &allow.from_namespaces),
                self.allow_internet(&here, &allow.internet),
                allow.api_server.then(|| self.allow_api_server(&here)).flatten(),
                self.namespace_rules(ns, nsv, &path),
            ];
            out.extend(policies.into_iter().flatten());
        }
    }

    /// The workloads declared under a namespace, which must not name another namespace.
    fn namespace_workloads(
        &mut self,
        ns: &str,
        nsv: &NamespaceValues,
        path: &KeyPath,
        out: &mut Vec<Policy>,
    ) {
        for (name, workload) in &nsv.workloads {
            let wpath = path.key("workloads").key(name);
            if let Some(other) = workload.namespace.as_ref().filter(|n| n.0 != *ns) {
                let origin = self.origin(&wpath.key("namespace"));
                self.problems.push(
                    Diagnostic::conflict(format!(
                        "workload `{name}` is declared under namespace `{ns}` but sets namespace `{}`",
                        other.0
                    ))
                    .at(&origin),
                );
                continue;
            }
            self.workload_at(name, workload, ns, &wpath, out);
        }
    }

    /// `defaultDeny`: isolates every pod of the namespace for the directions it names.
    fn default_deny(&self, ns: &str, nsv: &NamespaceValues, path: &KeyPath) -> Option<Policy> {
        let dd = nsv.default_deny.as_ref().filter(|dd| dd.ingress || dd.egress)?;
        let dd_path = path.key("defaultDeny");
        Some(Policy {
            name: "default-deny".to_string(),
            namespace: ns.to_string(),
            role: PolicyRole::DefaultDeny(self.deny_order(dd.order, &dd_path.key("order"))),
            subject: LabelSelector::default(),
            ingress: dd.ingress.then(Vec::new),
            egress: dd.egress.then(Vec::new),
            passthrough: Passthrough::default(),
            description: format!("default-deny of namespace {ns}"),
            origin: self.origin(&dd_path),
        })
    }

    /// `allow.dns`: egress to cluster DNS.
    fn allow_dns(&mut self, here: &NamespaceAllow<'_>) -> Option<Policy> {
        let egress =
            self.egress(&EgressValues { enabled: true, ..EgressValues::default() }, &here.path, false);
        Some(here.policy(self, "allow-dns", "dns", None, egress, "DNS egress"))
    }

    /// `allow.sameNamespace`: every pod of the namespace from (and, where egress is denied, to)
    /// every other.
    fn allow_same_namespace(&mut self, here: &NamespaceAllow<'_>, denies_egress: bool) -> Policy {
        let same = Rule {
            peers: vec![Peer::Pods { namespaces: Namespaces::Own, pods: LabelSelector::default() }],
            ports: Vec::new(),
            name: "same-namespace".to_string(),
            purpose: RulePurpose::Plain,
            origin: self.origin(&here.path.key("sameNamespace")),
        };
        // Egress to the namespace is only worth a rule where egress is denied; a rule there
        // would otherwise restrict the namespace's egress to itself.
        let egress = denies_egress.then(|| vec![same.clone()]);
        here.policy(
            self,
            "allow-same-namespace",
            "sameNamespace",
            Some(vec![same]),
            egress,
            "traffic inside the namespace",
        )
    }

    /// `allow.fromIngressController`, `allow.fromGateway`, `allow.fromMonitoring`: ingress from
    /// the platform's pods that `cluster` names (or their usual labels).
    fn allow_from_platform(
        &mut self,
        here: &NamespaceAllow<'_>,
        source: PlatformSource,
        switch: &Switch<PortsOnly>,
    ) -> Option<Policy> {
        let Switch::On(options) = switch else { return None };
        let facts = &self.loaded.values.cluster;
        let (name, key, peers) = match source {
            PlatformSource::IngressController => (
                "allow-from-ingress-controller",
                "fromIngressController",
                vec![pods_of(facts.ingress_controller.clone().unwrap_or_else(PodsRef::ingress_controller))],
            ),
            // The gateway: the CNI's own proxy (Cilium's `ingress` identity) and, where the
            // values say, the gateway's pods; an engine without the proxy needs the pods.
            PlatformSource::Gateway => (
                "allow-from-gateway",
                "fromGateway",
                std::iter::once(Peer::GatewayProxy).chain(facts.gateway.clone().map(pods_of)).collect(),
            ),
            PlatformSource::Monitoring => (
                "allow-from-monitoring",
                "fromMonitoring",
                vec![pods_of(facts.monitoring.clone().unwrap_or_else(PodsRef::monitoring))],
            ),
        };
        let mut ports: Vec<PortMatch> = options.ports.iter().map(|p| p.0.clone()).collect();
        ports.sort();
        let rule_name = key_to_name(key);
        let rule = Rule {
            peers,
            ports,
            name: format!("from-{rule_name}"),
            purpose: RulePurpose::Plain,
            origin: self.origin(&here.path.key(key)),
        };
        Some(here.policy(self, name, key, Some(vec![rule]), None, &format!("ingress from the {rule_name}")))
    }

    /// `allow.fromNamespaces`: ingress from every pod of the listed namespaces.
    fn allow_from_namespaces(&mut self, here: &NamespaceAllow<'_>, from: &[DnsLabel]) -> Option<Policy> {
        if from.is_empty() {
            return None;
        }
        // An allow that a guardrail always denies would render and never take effect.
        for (i, other) in from.iter().enumerate() {
            let at = here.path.key("fromNamespaces").index(i);
            if let Some(d) = self.crosses_tenants(&other.0, here.namespace, &at) {
                self.problems.push(d);
            }
        }
        let peers = from
            .iter()
            .map(|n| Peer::Pods {
                namespaces: Namespaces::Matching(LabelSelector::namespace_named(&n.0)),
                pods: LabelSelector::default(),
            })
            .collect();
        let rule = Rule {
            peers,
            ports: Vec::new(),
            name: "from-namespaces".into(),
            purpose: RulePurpose::Plain,
            origin: self.origin(&here.path.key("fromNamespaces")),
        };
        Some(here.policy(
            self,
            "allow-from-namespaces",
            "fromNamespaces",
            Some(vec![rule]),
            None,
            "ingress from other namespaces",
        ))
    }

    /// `allow.internet`: egress to public addresses.
    fn allow_internet(
        &mut self,
        here: &NamespaceAllow<'_>,
        switch: &Switch<InternetValues>,
    ) -> Option<Policy> {
        let Switch::On(internet) = switch else { return None };
        let rule = self.internet_rule(internet, &here.path.key("internet"))?;
        Some(here.policy(self, "allow-internet", "internet", None, Some(vec![rule]), "internet egress"))
    }

    /// `allow.apiServer`: egress to the Kubernetes API server.
    fn allow_api_server(&mut self, here: &NamespaceAllow<'_>) -> Option<Policy> {
        let egress = self.egress_with(
            &EgressValues { enabled: true, dns: false, api_server: true, ..EgressValues::default() },
            &here.path,
            false,
            DnsExpected::No,
        );
        Some(here.policy(self, "allow-api-server", "apiServer", None, egress, "API server egress"))
    }

    /// The namespace's own `ingress` and `egress` rules, for every pod of it.
    fn namespace_rules(&mut self, ns: &str, nsv: &NamespaceValues, path: &KeyPath) -> Option<Policy> {
        let ingress: Vec<Rule> = nsv
            .ingress
            .iter()
            .enumerate()
            .map(|(i, r)| self.ingress_rule(&format!("ingress-{i}"), r, &path.key("ingress").index(i)))
            .collect();
        let egress: Vec<Rule> = nsv
            .egress
            .iter()
            .enumerate()
            .map(|(i, r)| self.egress_rule(&format!("egress-{i}"), r, &path.key("egress").index(i)))
            .collect();
        if ingress.is_empty() && egress.is_empty() {
            return None;
        }
        Some(Policy {
            name: "allow-namespace-rules".to_string(),
            namespace: ns.to_string(),
            role: PolicyRole::Allow,
            subject: LabelSelector::default(),
            ingress: (!ingress.is_empty()).then_some(ingress),
            egress: (!egress.is_empty()).then_some(egress),
            passthrough: Passthrough::default(),
            description: format!("namespace-wide rules of {ns}"),
            origin: self.origin(path),
        })
    }

    /// Internet egress: each CIDR minus the cluster's own ranges (of both address families)
    /// and the metadata service.
    pub(super) fn internet_rule(&mut self, internet: &InternetValues, path: &KeyPath) -> Option<Rule> {
        let facts = &self.loaded.values.cluster;
        let origin = self.origin(path);
        if facts.pod_cidr.0.is_empty() || facts.service_cidr.0.is_empty() {
            self.problems.push(
                Diagnostic::new(
                    "internet egress must exclude the cluster's own ranges, and they are not set",
                )
                .at(&origin)
                .with_help("set cluster.podCIDR and cluster.serviceCIDR (and cluster.nodeCIDRs)"),
            );
            return None;
        }
        let mut cluster: Vec<IpNet> = facts.pod_cidr.0.clone();
        cluster.extend(facts.service_cidr.0.iter().copied());
        cluster.extend(facts.node_cidrs.0.iter().copied());
        cluster.extend(metadata_nets());
        let cidrs: Vec<IpNet> = if internet.cidrs.is_empty() {
            vec![IpNet::V4(ipnet::Ipv4Net::default())]
        } else {
            internet.cidrs.iter().map(|c| c.0).collect()
        };
        let declares_v6 =
            facts.pod_cidr.0.iter().chain(&facts.service_cidr.0).any(|c| matches!(c, IpNet::V6(_)));
        let mut peers = Vec::new();
        for cidr in cidrs {
            if let Some(inside) = cluster.iter().find(|c| c.contains(&cidr)) {
                self.problems.push(
                    Diagnostic::new(format!("internet CIDR {cidr} lies inside the cluster range {inside}"))
                        .at(&origin),
                );
                continue;
            }
            if matches!(cidr, IpNet::V6(_)) && !declares_v6 {
                self.warnings.push(
                    Diagnostic::suspicious(format!(
                        "internet CIDR {cidr} is IPv6 but the values declare no IPv6 cluster range, so \
                         IPv6 pod and service addresses are not excluded from it"
                    ))
                    .at(&origin)
                    .with_help("on a dual-stack cluster list both ranges: `podCIDR: [10.244.0.0/16, fd00:10:244::/56]` (and serviceCIDR)"),
                );
            }
            let except: Vec<IpNet> = cluster.iter().filter(|c| cidr.contains(*c)).copied().collect();
            // Only the outermost exclusions: an exclusion inside another one is redundant.
            let mut outer: Vec<IpNet> = except
                .iter()
                .filter(|e| !except.iter().any(|o| o != *e && o.contains(*e)))
                .copied()
                .collect();
            outer.sort();
            outer.dedup();
            peers.push(Peer::Cidr { cidr, except: outer });
        }
        let mut ports: Vec<PortMatch> = internet.ports.iter().map(|p| p.0.clone()).collect();
        ports.sort();
        Some(Rule { peers, ports, name: "internet".into(), purpose: RulePurpose::Plain, origin })
    }

    /// The tenant of a namespace: the value of `cluster.tenantLabel` among its labels.
    pub(super) fn tenant_of(&self, ns: &str) -> Option<String> {
        let values = &self.loaded.values;
        let label = values.cluster.tenant_label.as_ref()?;
        values.namespaces.get(ns)?.labels.0.get(label).cloned()
    }

    /// Peer and connection namespaces that look like slips of a namespace the values or the
    /// cluster facts name.
    pub(super) fn misspelt_namespaces(
        &self,
        policies: &[Policy],
        declared: &[crate::intent::DeclaredWorkload],
        default_namespace: &str,
    ) -> Vec<Diagnostic> {
        let values = &self.loaded.values;
        let facts = &values.cluster;
        let mut known: BTreeSet<String> =
            crate::intent::advice::WELL_KNOWN_NAMESPACES.iter().map(|n| n.to_string()).collect();
        known.insert(default_namespace.to_string());
        known.extend(values.namespaces.keys().cloned());
        known.extend(declared.iter().map(|w| w.namespace.clone()));
        known.insert(facts.dns.namespace.0.clone());
        let pods_refs = [
            facts.ingress_controller.clone().unwrap_or_else(PodsRef::ingress_controller),
            facts.monitoring.clone().unwrap_or_else(PodsRef::monitoring),
        ];
        known.extend(pods_refs.iter().chain(facts.gateway.iter()).map(|p| p.namespace.0.clone()));
        known.extend(values.guardrails.system_namespaces.iter().map(|n| n.0.clone()));
        known.extend(values.unmanaged_namespaces.iter().map(|n| n.0.clone()));
        let mut ends = Vec::new();
        for (i, c) in values.connections.iter().enumerate() {
            let path = KeyPath::default().key("connections").index(i);
            for (side, end) in [("from", &c.from), ("to", &c.to)] {
                ends.push((end.namespace.0.clone(), self.origin(&path.key(side).key("namespace"))));
            }
        }
        crate::intent::advice::misspelt_namespaces(policies, &ends, &known)
    }

    pub(super) fn crosses_tenants(&self, from: &str, to: &str, path: &KeyPath) -> Option<Diagnostic> {
        if !self.loaded.values.guardrails.deny_cross_tenant {
            return None;
        }
        match (self.tenant_of(from), self.tenant_of(to)) {
            (Some(a), Some(b)) if a != b => Some(
                Diagnostic::conflict(format!(
                    "this allows traffic from tenant `{a}` to tenant `{b}`, which guardrails.denyCrossTenant always denies"
                ))
                .at(&self.origin(path))
                .with_help("guardrails cannot be overridden by namespace or application policy"),
            ),
            _ => None,
        }
    }
}

/// The platform components a namespace's `allow` can admit by name.
#[derive(Clone, Copy)]
enum PlatformSource {
    IngressController,
    Gateway,
    Monitoring,
}

/// The namespace an `allow.*` switch belongs to, and where its switches are written.
struct NamespaceAllow<'a> {
    namespace: &'a str,
    path: KeyPath,
}

impl NamespaceAllow<'_> {
    /// A policy for every pod of the namespace, located at `allow.<key>`.
    fn policy(
        &self,
        cx: &Cx<'_>,
        name: &str,
        key: &str,
        ingress: Option<Vec<Rule>>,
        egress: Option<Vec<Rule>>,
        what: &str,
    ) -> Policy {
        Policy {
            name: name.to_string(),
            namespace: self.namespace.to_string(),
            role: PolicyRole::Allow,
            subject: LabelSelector::default(),
            ingress,
            egress,
            passthrough: Passthrough::default(),
            description: format!("{what} for every pod of namespace {}", self.namespace),
            origin: cx.origin(&self.path.key(key)),
        }
    }
}
