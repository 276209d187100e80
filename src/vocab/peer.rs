//! The words of who and which port: what a rule's other end is, as the values file names it
//! and the intent and every engine place it. Values build these (already validated); lowering
//! places them in rules.

use ipnet::IpNet;

use crate::vocab::Protocol;
use crate::vocab::labels::LabelSelector;

/// Who is on the other end of a rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    /// Pods selected by labels in some namespaces.
    Pods {
        namespaces: Namespaces,
        /// Empty selector = every pod of those namespaces.
        pods: LabelSelector,
    },
    /// An IP range minus some sub-ranges (each strictly inside `cidr`, same family).
    Cidr { cidr: IpNet, except: Vec<IpNet> },
    /// A Cilium reserved identity.
    Entity(Entity),
    /// The Kubernetes API server, by its endpoint addresses where the engine needs addresses.
    /// `cidrs` is empty when the user gave none (`cluster.apiServer.cidrs`).
    ApiServer { cidrs: Vec<IpNet> },
    /// A DNS name (egress only).
    Fqdn(Fqdn),
    /// The CNI's own Ingress/Gateway API proxy, where the CNI has one (Cilium's reserved
    /// `ingress` identity). Matches nothing on a CNI without one; `allow.fromGateway` pairs it
    /// with the gateway pods of `cluster.gateway` when those are known.
    GatewayProxy,
}

/// Which namespaces a pod peer lives in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Namespaces {
    /// The policy's own namespace (a Kubernetes peer with only `podSelector`).
    Own,
    /// Namespaces matching the selector; an empty selector matches every namespace.
    /// A namespace by name is `kubernetes.io/metadata.name: <name>`.
    Matching(LabelSelector),
}

/// Cilium reserved identities that have no label (ENGINES.md 3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entity {
    All,
    World,
    Cluster,
    Host,
    RemoteNode,
    Ingress,
    Health,
    Init,
    Unmanaged,
}

impl Entity {
    /// The spelling used in values and in Cilium's `fromEntities`/`toEntities`.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::All => "all",
            Entity::World => "world",
            Entity::Cluster => "cluster",
            Entity::Host => "host",
            Entity::RemoteNode => "remote-node",
            Entity::Ingress => "ingress",
            Entity::Health => "health",
            Entity::Init => "init",
            Entity::Unmanaged => "unmanaged",
        }
    }

    pub const ALL: [Entity; 9] = [
        Entity::All,
        Entity::World,
        Entity::Cluster,
        Entity::Host,
        Entity::RemoteNode,
        Entity::Ingress,
        Entity::Health,
        Entity::Init,
        Entity::Unmanaged,
    ];
}

/// An FQDN egress target.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fqdn {
    /// An exact name, e.g. `api.example.com`.
    Name(String),
    /// A Cilium `matchPattern`, e.g. `*.example.com`.
    Pattern(String),
}

/// One protocol/port match.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortMatch {
    pub protocol: Protocol,
    pub port: PortSel,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortSel {
    /// Every port of the protocol.
    Any,
    /// One port, 1..=65535.
    Number(u16),
    /// An inclusive range with `start < end` (a one-port range is normalised to `Number`).
    Range(u16, u16),
    /// A named container port (IANA service name), resolved on the destination pod.
    Named(String),
}

/// A peer in prose, for documentation: `pods app=web in namespace shop`, `the API server`.
impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Pods { namespaces, pods } => {
                let who = if pods.is_empty() { "every pod".to_string() } else { format!("pods {pods}") };
                match namespaces {
                    Namespaces::Own => write!(f, "{who} of the namespace"),
                    Namespaces::Matching(selector) if selector.is_empty() => {
                        write!(f, "{who} of every namespace")
                    }
                    Namespaces::Matching(selector) => match namespace_by_name(selector) {
                        Some(name) => write!(f, "{who} in namespace {name}"),
                        None => write!(f, "{who} in namespaces {selector}"),
                    },
                }
            }
            Peer::Cidr { cidr, except } if except.is_empty() => write!(f, "{cidr}"),
            Peer::Cidr { cidr, except } => {
                let except: Vec<String> = except.iter().map(ToString::to_string).collect();
                write!(f, "{cidr} except {}", except.join(", "))
            }
            Peer::Entity(entity) => write!(f, "Cilium entity {}", entity.as_str()),
            Peer::ApiServer { .. } => f.write_str("the API server"),
            Peer::Fqdn(Fqdn::Name(name) | Fqdn::Pattern(name)) => write!(f, "DNS name {name}"),
            Peer::GatewayProxy => f.write_str("the gateway proxy"),
        }
    }
}

/// The namespace a selector picks by name (`kubernetes.io/metadata.name: NAME` alone).
pub fn namespace_by_name(selector: &LabelSelector) -> Option<&str> {
    match (
        selector.match_labels.iter().next(),
        selector.match_labels.len(),
        selector.match_expressions.is_empty(),
    ) {
        (Some((key, name)), 1, true) if key == crate::vocab::labels::NAMESPACE_NAME_LABEL => Some(name),
        _ => None,
    }
}

/// `8080/TCP`, `8000-8999/TCP`, `http/TCP`, `any TCP port`.
impl std::fmt::Display for PortMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.port {
            PortSel::Any => write!(f, "any {} port", self.protocol),
            PortSel::Number(n) => write!(f, "{n}/{}", self.protocol),
            PortSel::Range(a, b) => write!(f, "{a}-{b}/{}", self.protocol),
            PortSel::Named(name) => write!(f, "{name}/{}", self.protocol),
        }
    }
}
