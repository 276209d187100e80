//! What some engines cannot express, and which engines can: the one table every "cannot
//! express" error reads its list of engines from. The README's engine table says the same
//! (a test holds the two equal).

use super::Engine;

/// A construct of the values that not every engine can express.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Capability {
    /// A Cilium reserved identity (`entity:` other than `all`).
    Entity,
    /// Egress to a DNS name (`fqdn:`, `fqdnPattern:`).
    FqdnEgress,
    /// A DNS name as an ingress peer: DNS names identify destinations only.
    FqdnIngress,
    /// A DNS name in a guardrail's deny: no engine denies by name.
    FqdnDeny,
    /// Ingress from a CIDR.
    IngressCidr,
    /// Denying ingress from sources that are not pods (nodes, the API server, outside).
    DenyIngressFromNonPods,
    /// A guardrail that namespace policies cannot re-open (deny rules with precedence).
    Guardrail,
    /// A named port toward a CIDR peer, where the name cannot be resolved to one number.
    NamedPortToCidr,
    /// A selector key longer than a label key may be once Cilium extends it (`any.<key>`).
    LongSelectorKey,
}

impl Capability {
    #[cfg(test)]
    pub const ALL: [Capability; 9] = [
        Capability::Entity,
        Capability::FqdnEgress,
        Capability::FqdnIngress,
        Capability::FqdnDeny,
        Capability::IngressCidr,
        Capability::DenyIngressFromNonPods,
        Capability::Guardrail,
        Capability::NamedPortToCidr,
        Capability::LongSelectorKey,
    ];

    /// The engines that can express it; empty when none can.
    pub fn engines(self) -> &'static [Engine] {
        use Engine::*;
        match self {
            Capability::Entity | Capability::FqdnEgress => &[Cilium],
            Capability::FqdnIngress | Capability::FqdnDeny => &[],
            Capability::IngressCidr | Capability::NamedPortToCidr => &[Kubernetes, Cilium, Calico],
            Capability::DenyIngressFromNonPods => &[Cilium, Calico],
            Capability::Guardrail => &[Cilium, Calico, ClusterNetworkPolicy],
            Capability::LongSelectorKey => &[Kubernetes, Calico, ClusterNetworkPolicy],
        }
    }

    /// The row of the README's engine table that states it.
    #[cfg(test)]
    pub(crate) fn readme_row(self) -> &'static str {
        match self {
            Capability::Entity => "entity",
            Capability::FqdnEgress => "FQDN egress",
            Capability::FqdnIngress => "FQDN ingress",
            Capability::FqdnDeny => "FQDN in a guardrail",
            Capability::IngressCidr => "ingress from CIDR",
            Capability::DenyIngressFromNonPods => "deny ingress from nodes, API server, outside",
            Capability::Guardrail => "guardrails",
            Capability::NamedPortToCidr => "ambiguous named port toward a CIDR",
            Capability::LongSelectorKey => "label key over 63 characters once Cilium extends it",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every capability has a row in the README's engine table, and the engines it marks as
    /// errors are exactly the engines the table here says cannot.
    #[test]
    fn the_readme_engine_table_says_what_the_capability_table_says() {
        let readme = include_str!("../../README.md");
        let engines = [Engine::Kubernetes, Engine::Cilium, Engine::Calico, Engine::ClusterNetworkPolicy];
        for capability in Capability::ALL {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| {} |", capability.readme_row())))
                .unwrap_or_else(|| panic!("no README engine table row for {capability:?}"));
            let cells: Vec<&str> = row.split('|').map(str::trim).filter(|c| !c.is_empty()).skip(1).collect();
            assert_eq!(cells.len(), 4, "{row}");
            for (engine, cell) in engines.iter().zip(&cells) {
                let refused = cell.starts_with("error");
                assert_eq!(
                    refused,
                    !capability.engines().contains(engine),
                    "{capability:?} on {engine}: README says `{cell}`"
                );
            }
        }
    }

    #[test]
    fn each_engine_is_listed_once() {
        for capability in Capability::ALL {
            let mut engines = capability.engines().to_vec();
            engines.dedup();
            assert_eq!(engines.len(), capability.engines().len(), "{capability:?}");
        }
    }
}
