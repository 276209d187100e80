//! Kubernetes `networking.k8s.io/v1` NetworkPolicy (ENGINES.md section 2).
//!
//! Allow-only and unordered: a policy isolates its pods for the directions in `policyTypes`
//! and the union of all selecting policies decides. Default-deny is a policy with no rules.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Backend, Engine, Manifest, OutputGroup, Problems, Rendered};
use crate::error::{Diagnostic, Result};
use crate::intent::{Guardrail, Intent, LabelSelector, Namespaces, Peer, Policy, PortMatch, PortSel, Rule};
use crate::vocab::capability::Capability;
use crate::vocab::object::{Kind, Object};

pub struct Kubernetes;

impl Backend for Kubernetes {
    fn engine(&self) -> Engine {
        Engine::Kubernetes
    }

    fn guardrail(
        &self,
        intent: &Intent,
        _index: usize,
        guardrail: &Guardrail,
        problems: &mut Problems,
    ) -> Result<Rendered> {
        let diagnostic = Diagnostic::unsupported(
            Engine::Kubernetes,
            Capability::Guardrail,
            "a guardrail (NetworkPolicy has no deny rules and no precedence, so a namespace policy could always re-open the traffic)",
            &format!("guardrail `{}`", guardrail.name),
        )
        .at(&guardrail.origin);
        if !intent.accept_weaker_guardrails {
            problems.push(diagnostic.with_help(
                "engines that can enforce it: cilium, calico, clusterNetworkPolicy; pass --accept-weaker-guardrails to render the allow rules with the guardrail's CIDRs excluded and nothing else",
            ));
            return Ok(Rendered::default());
        }
        let mut warning = diagnostic;
        warning.severity = crate::error::Severity::Warning;
        warning.message = format!(
            "guardrail `{}` is not enforced by the kubernetes engine; only its CIDR exclusions are applied to the allow rules",
            guardrail.name
        );
        Ok(Rendered { manifests: Vec::new(), warnings: vec![warning] })
    }

    fn policy(&self, intent: &Intent, policy: &Policy, problems: &mut Problems) -> Result<Rendered> {
        let anyone = spelled_out_anyone(intent);
        Ok(Rendered::objects(render_policy(intent, policy, anyone.as_deref(), problems)?))
    }
}

/// NetworkPolicy cannot deny, so under weaker guardrails (`--accept-weaker-guardrails`) an
/// egress rule to "anyone" is spelled out as every pod plus the whole address space minus what
/// the cluster-wide guardrails deny by address (the metadata service). `None`: no such denies.
fn spelled_out_anyone(intent: &Intent) -> Option<Vec<net::NetworkPolicyPeer>> {
    if !intent.accept_weaker_guardrails {
        return None;
    }
    let denied = crate::intent::denied_everywhere(&intent.guardrails);
    if denied.is_empty() {
        return None;
    }
    let every_pod = net::NetworkPolicyPeer {
        namespace_selector: Some(meta::LabelSelector::default()),
        ..Default::default()
    };
    let mut peers = vec![every_pod];
    for everything in [ipnet::IpNet::V4(Default::default()), ipnet::IpNet::V6(Default::default())] {
        let mut except: Vec<ipnet::IpNet> =
            denied.iter().filter(|d| everything.contains(*d)).copied().collect();
        except.sort();
        except.dedup();
        peers.push(ip_block(&everything.to_string(), &except));
    }
    Some(peers)
}

fn render_policy(
    intent: &Intent,
    policy: &Policy,
    anyone: Option<&[net::NetworkPolicyPeer]>,
    problems: &mut Problems,
) -> Result<Option<Manifest>> {
    let context = format!("policy `{}` in namespace `{}`", policy.name, policy.namespace);
    let mut policy_types = Vec::new();
    let ingress = policy.ingress.as_ref().map(|rules| {
        policy_types.push("Ingress".to_string());
        rules.iter().filter_map(|r| ingress_rule(r, &context, problems)).collect::<Vec<_>>()
    });
    let egress = policy.egress.as_ref().map(|rules| {
        policy_types.push("Egress".to_string());
        rules
            .iter()
            .filter_map(|r| match anyone {
                Some(peers) if r.peers.is_empty() => {
                    Some(net::NetworkPolicyEgressRule { to: Some(peers.to_vec()), ports: ports(&r.ports) })
                }
                _ => egress_rule(r, &context, problems),
            })
            .collect::<Vec<_>>()
    });
    if policy_types.is_empty() {
        return Ok(None);
    }
    let object = net::NetworkPolicy {
        metadata: meta::ObjectMeta {
            name: Some(policy.name.clone()),
            namespace: Some(policy.namespace.clone()),
            labels: non_empty(&intent.labels),
            annotations: non_empty(&intent.annotations),
            ..Default::default()
        },
        spec: Some(net::NetworkPolicySpec {
            // Always present, even when it selects every pod: required up to 1.33.
            pod_selector: Some(selector(&policy.subject)),
            policy_types: Some(policy_types),
            // `None` for a default-deny: no rules at all means "deny everything" for the types.
            ingress: ingress.filter(|r| !r.is_empty()),
            egress: egress.filter(|r| !r.is_empty()),
        }),
    };
    Ok(Some(Manifest::new(
        Kind::NETWORK_POLICY,
        policy.name.clone(),
        Some(policy.namespace.clone()),
        OutputGroup::Namespace,
        &Object::new(Kind::NETWORK_POLICY, object.metadata, object.spec),
    )?))
}

// k8s-openapi's `NetworkPolicy` serialises without apiVersion/kind when nested, so its metadata
// and spec go into the shared object shape.

fn non_empty(map: &BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!map.is_empty()).then(|| map.clone())
}

fn ingress_rule(
    rule: &Rule,
    context: &str,
    problems: &mut Problems,
) -> Option<net::NetworkPolicyIngressRule> {
    let peers = peers(rule, context, "ingress", problems)?;
    Some(net::NetworkPolicyIngressRule { from: peers, ports: ports(&rule.ports) })
}

fn egress_rule(rule: &Rule, context: &str, problems: &mut Problems) -> Option<net::NetworkPolicyEgressRule> {
    let peers = peers(rule, context, "egress", problems)?;
    Some(net::NetworkPolicyEgressRule { to: peers, ports: ports(&rule.ports) })
}

/// `Ok(None)` = any peer. Reports and returns `None` (skip the rule) when a peer is
/// inexpressible; the whole render then fails, so nothing is silently narrowed or dropped.
fn peers(
    rule: &Rule,
    context: &str,
    direction: &str,
    problems: &mut Problems,
) -> Option<Option<Vec<net::NetworkPolicyPeer>>> {
    if rule.peers.is_empty() {
        return Some(None);
    }
    if super::only_gateway_proxy(rule, super::Engine::Kubernetes, problems) {
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for peer in &rule.peers {
        match peer {
            // No gateway proxy of the CNI's own: the gateway's pods are the rule's other peers.
            Peer::GatewayProxy => {}
            Peer::Pods { namespaces, pods } => out.push(net::NetworkPolicyPeer {
                namespace_selector: match namespaces {
                    Namespaces::Own => None,
                    Namespaces::Matching(ns) => Some(selector(ns)),
                },
                pod_selector: match namespaces {
                    // A lone podSelector means "pods in the policy's namespace".
                    Namespaces::Own => Some(selector(pods)),
                    Namespaces::Matching(_) if pods.is_empty() => None,
                    Namespaces::Matching(_) => Some(selector(pods)),
                },
                ip_block: None,
            }),
            Peer::Cidr { cidr, except } => out.push(ip_block(&cidr.to_string(), except)),
            Peer::ApiServer { cidrs } if !cidrs.is_empty() => {
                out.extend(cidrs.iter().map(|c| ip_block(&c.to_string(), &[])))
            }
            Peer::ApiServer { .. } => {
                ok = false;
                problems.push(
                    Diagnostic::new(format!(
                        "the kubernetes engine reaches the API server only by its endpoint addresses, and none are set ({context}, {direction} rule `{}`)",
                        rule.name
                    ))
                    .at(&rule.origin)
                    .with_help("set cluster.apiServer.cidrs to the output of `kubectl get endpoints kubernetes -n default -o jsonpath='{.subsets[*].addresses[*].ip}'` as /32s, or use --engine cilium (kube-apiserver entity)"),
                );
            }
            Peer::Entity(entity) => {
                ok = false;
                problems.push(
                    Diagnostic::unsupported(
                        Engine::Kubernetes,
                        Capability::Entity,
                        &format!("the Cilium entity `{}`", entity.as_str()),
                        &format!("{context}, {direction} rule `{}`", rule.name),
                    )
                    .at(&rule.origin),
                );
            }
            Peer::Fqdn(_) => {
                ok = false;
                problems.push(
                    Diagnostic::unsupported(
                        Engine::Kubernetes,
                        Capability::FqdnEgress,
                        "FQDN egress",
                        &format!("{context}, {direction} rule `{}`", rule.name),
                    )
                    .at(&rule.origin),
                );
            }
        }
    }
    ok.then_some(Some(out))
}

fn ip_block(cidr: &str, except: &[ipnet::IpNet]) -> net::NetworkPolicyPeer {
    net::NetworkPolicyPeer {
        ip_block: Some(net::IPBlock {
            cidr: cidr.to_string(),
            except: (!except.is_empty()).then(|| except.iter().map(ToString::to_string).collect()),
        }),
        ..Default::default()
    }
}

fn ports(ports: &[PortMatch]) -> Option<Vec<net::NetworkPolicyPort>> {
    if ports.is_empty() {
        return None;
    }
    Some(
        ports
            .iter()
            .map(|p| {
                let (port, end_port) = match &p.port {
                    PortSel::Any => (None, None),
                    PortSel::Number(n) => (Some(IntOrString::Int(i32::from(*n))), None),
                    PortSel::Range(a, b) => (Some(IntOrString::Int(i32::from(*a))), Some(i32::from(*b))),
                    PortSel::Named(name) => (Some(IntOrString::String(name.clone())), None),
                };
                net::NetworkPolicyPort { protocol: Some(p.protocol.as_str().to_string()), port, end_port }
            })
            .collect(),
    )
}

/// A Kubernetes label selector; `{}` selects everything.
pub fn selector(s: &LabelSelector) -> meta::LabelSelector {
    meta::LabelSelector {
        match_labels: (!s.match_labels.is_empty()).then(|| s.match_labels.clone().into_iter().collect()),
        match_expressions: (!s.match_expressions.is_empty()).then(|| {
            s.match_expressions
                .iter()
                .map(|e| meta::LabelSelectorRequirement {
                    key: e.key.clone(),
                    operator: e.operator.as_str().to_string(),
                    values: (!e.values.is_empty()).then(|| e.values.clone()),
                })
                .collect()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::testing::*;
    use crate::intent::{Entity, Fqdn, Protocol};
    use serde_json::json;

    fn render_ok(policies: Vec<Policy>) -> Vec<serde_json::Value> {
        Kubernetes
            .render(&intent(policies))
            .expect("renders")
            .manifests
            .into_iter()
            .map(|m| m.body())
            .collect()
    }

    #[test]
    fn default_deny_always_has_pod_selector_and_policy_types() {
        let out = render_ok(vec![default_deny("identity", 2000, false)]);
        assert_eq!(out[0]["spec"], json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}));
        assert_eq!(out[0]["apiVersion"], json!("networking.k8s.io/v1"));
        assert_eq!(out[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"], json!("netpol"));
    }

    #[test]
    fn egress_only_policies_name_their_type_and_never_emit_an_empty_peer() {
        let r = rule("any", vec![], vec![tcp(443)]);
        let out = render_ok(vec![allowlist("shop", "web", None, Some(vec![r]))]);
        assert_eq!(out[0]["spec"]["policyTypes"], json!(["Egress"]));
        assert_eq!(out[0]["spec"]["egress"], json!([{"ports": [{"port": 443, "protocol": "TCP"}]}]));
    }

    #[test]
    fn peers_and_port_forms() {
        let ports = vec![
            PortMatch { protocol: Protocol::Udp, port: PortSel::Any },
            PortMatch { protocol: Protocol::Tcp, port: PortSel::Range(30000, 30010) },
            PortMatch { protocol: Protocol::Sctp, port: PortSel::Named("metrics".into()) },
        ];
        let r = rule(
            "r",
            vec![own_pods(&[("app", "x")]), pods_in("monitoring", &[]), cidr("10.0.0.0/8", &["10.1.0.0/16"])],
            ports,
        );
        let out = render_ok(vec![allowlist("shop", "web", Some(vec![r]), None)]);
        assert_eq!(
            out[0]["spec"]["ingress"][0],
            json!({
                "from": [
                    {"podSelector": {"matchLabels": {"app": "x"}}},
                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
                    {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}
                ],
                "ports": [
                    {"protocol": "UDP"},
                    {"port": 30000, "endPort": 30010, "protocol": "TCP"},
                    {"port": "metrics", "protocol": "SCTP"}
                ]
            })
        );
    }

    #[test]
    fn api_server_uses_endpoint_addresses_or_fails() {
        let r = rule(
            "api",
            vec![Peer::ApiServer { cidrs: vec!["10.0.0.1/32".parse().expect("cidr")] }],
            vec![tcp(443)],
        );
        let out = render_ok(vec![allowlist("shop", "web", None, Some(vec![r]))]);
        assert_eq!(out[0]["spec"]["egress"][0]["to"], json!([{"ipBlock": {"cidr": "10.0.0.1/32"}}]));
        let r = rule("api", vec![Peer::ApiServer { cidrs: vec![] }], vec![tcp(443)]);
        let err = Kubernetes
            .render(&intent(vec![allowlist("shop", "web", None, Some(vec![r]))]))
            .expect_err("no addresses");
        assert!(err.to_string().contains("endpoint addresses"), "{err}");
    }

    #[test]
    fn entities_and_fqdns_are_errors_naming_the_engines_that_can() {
        let r = rule(
            "x",
            vec![Peer::Entity(Entity::World), Peer::Fqdn(Fqdn::Name("a.example.com".into()))],
            vec![],
        );
        let p = allowlist("shop", "web", None, Some(vec![r]));
        let err = Kubernetes.render(&intent(vec![p])).expect_err("inexpressible");
        let d = err.diagnostics();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d.iter().all(|d| d.help.as_deref().is_some_and(|h| h.contains("cilium") || h.contains("calico"))),
            "{d:?}"
        );
    }

    #[test]
    fn guardrails_are_refused_unless_the_weaker_form_is_accepted() {
        let mut i = intent(vec![]);
        i.guardrails.push(metadata_guardrail());
        let err = Kubernetes.render(&i).expect_err("refused");
        assert!(err.to_string().contains("cannot express a guardrail"), "{err}");
        i.accept_weaker_guardrails = true;
        let r = Kubernetes.render(&i).expect("accepted");
        assert!(r.manifests.is_empty());
        assert_eq!(r.warnings.len(), 1);
    }
}
