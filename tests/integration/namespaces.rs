//! Namespace policies, profiles, connections and guardrails (the 000–003 documents).

use crate::common::run_on;
use netpol::engine::{Engine, OutputGroup};
use netpol::intent::lower::LowerOptions;
use netpol::intent::{Namespaces, Peer};
use netpol::render::{Output, render};
use netpol::values::Input;
use netpol::vocab::source::Sources;

fn render_values(values: &str, engine: Engine, weaker: bool) -> Result<Output, Vec<String>> {
    let options =
        LowerOptions { engine: Some(engine), accept_weaker_guardrails: weaker, ..LowerOptions::default() };
    let mut sources = Sources::default();
    let text = values.to_string();
    let mut stdin = move || Ok(text.clone());
    render(&[Input::File("-".into())], &options, &mut sources, &mut stdin)
        .map_err(|e| e.diagnostics().into_iter().map(|d| d.message).collect())
}

const CLUSTER: &str = "cluster:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\n";

#[test]
fn a_user_value_overrides_a_profile_key() {
    let v = "namespaces:\n  shop:\n    profile: zero-trust\n    defaultDeny: {egress: false}\n";
    let out = render_values(v, Engine::Kubernetes, false).expect("renders");
    let deny = out.intent.policies.iter().find(|p| p.name == "default-deny").expect("default-deny");
    assert!(deny.ingress.is_some(), "the profile's ingress deny stays");
    assert!(deny.egress.is_none(), "the user's egress: false wins over the profile");
    let same = out.intent.policies.iter().find(|p| p.name == "allow-same-namespace").expect("same-namespace");
    assert!(same.egress.is_none(), "no egress rule where egress is not denied");
}

#[test]
fn a_connection_yields_exactly_one_rule_on_each_side() {
    let v = "connections:\n  - from: {namespace: shop}\n    to: {namespace: db, podLabels: {app: pg}}\n    ports: [5432]\n";
    let out = render_values(v, Engine::Kubernetes, false).expect("renders");
    let policies = &out.intent.policies;
    assert_eq!(policies.len(), 2);
    let egress_side = policies.iter().find(|p| p.namespace == "shop").expect("source side");
    let ingress_side = policies.iter().find(|p| p.namespace == "db").expect("destination side");
    assert!(egress_side.ingress.is_none() && ingress_side.egress.is_none());
    let egress = egress_side.egress.as_ref().expect("egress");
    let ingress = ingress_side.ingress.as_ref().expect("ingress");
    assert_eq!((egress.len(), ingress.len()), (1, 1));
    assert!(matches!(&egress[0].peers[..], [Peer::Pods { namespaces: Namespaces::Matching(ns), pods }]
        if ns.match_labels.get("kubernetes.io/metadata.name").map(String::as_str) == Some("db") && pods.match_labels.get("app").map(String::as_str) == Some("pg")));
    assert_eq!(ingress_side.subject.match_labels.get("app").map(String::as_str), Some("pg"));
    assert_eq!(out.manifests.len(), 2);
}

const GUARDED: &str = "cluster:\n  gateway: {namespace: gw}\n  tenantLabel: tenant\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\nguardrails:\n  denyMetadataService: true\n  systemNamespaces: [kube-system]\n  denyCrossTenant: true\nnamespaces:\n  a:\n    labels: {tenant: one}\n    profile: tenant\n  b:\n    labels: {tenant: two}\n    allow:\n      internet: {cidrs: [169.254.0.0/16]}\n";

#[test]
fn the_kubernetes_engine_refuses_unenforceable_guardrails() {
    let errors = render_values(GUARDED, Engine::Kubernetes, false).expect_err("refused");
    assert!(errors.iter().any(|e| e.contains("cannot express a guardrail")), "{errors:?}");
    let out = render_values(GUARDED, Engine::Kubernetes, true).expect("accepted with the flag");
    assert!(out.warnings.iter().any(|w| w.message.contains("not enforced by the kubernetes engine")));
}

#[test]
fn guardrails_sort_first() {
    for engine in [Engine::Cilium, Engine::Calico, Engine::ClusterNetworkPolicy] {
        let out = match render_values(GUARDED, engine, false) {
            Ok(out) => out,
            Err(e) => panic!("{engine}: {e:?}"),
        };
        let groups: Vec<OutputGroup> = out.manifests.iter().map(|m| m.group).collect();
        let mut sorted = groups.clone();
        sorted.sort();
        assert_eq!(groups, sorted, "{engine}");
        assert!(groups.contains(&OutputGroup::Guardrail), "{engine}");
        // metadata, system namespaces (split around the DNS pods: two), tenants to system
        // namespaces, and one per tenant.
        let names: Vec<&str> = out.intent.guardrails.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "deny-metadata-service",
                "isolate-tenant-one",
                "isolate-tenant-two",
                "system-namespaces-deny-tenants",
                "system-namespaces-deny-tenants-dns",
                "tenants-deny-system-namespaces"
            ]
        );
    }
}

#[test]
fn no_rendered_cidr_allow_contains_a_metadata_address() {
    let out = render_values(GUARDED, Engine::Kubernetes, true).expect("renders");
    let metadata: [ipnet::IpNet; 2] =
        ["169.254.169.254/32".parse().unwrap(), "fd00:ec2::254/128".parse().unwrap()];
    let mut cidr_rules = 0;
    for policy in &out.intent.policies {
        for rule in policy.egress.iter().flatten().chain(policy.ingress.iter().flatten()) {
            for peer in &rule.peers {
                if let Peer::Cidr { cidr, except } = peer {
                    cidr_rules += 1;
                    for m in &metadata {
                        assert!(
                            !cidr.contains(m) || except.iter().any(|e| e.contains(m)),
                            "{cidr} allows {m}"
                        );
                    }
                }
            }
        }
    }
    assert!(cidr_rules >= 2);
    // Even without the guardrail, internet egress never includes the metadata service.
    let v = format!("{CLUSTER}namespaces:\n  a:\n    allow:\n      internet: true\n");
    let out = render_values(&v, Engine::Kubernetes, false).expect("renders");
    let text = netpol::emit::to_yaml(&out.manifests, &out.header).expect("yaml");
    assert!(text.contains("169.254.169.254/32"), "{text}");
}

#[test]
fn a_cidr_allow_inside_a_denied_address_is_an_error() {
    let v = "guardrails: {denyMetadataService: true}\nworkloads:\n  a:\n    egress:\n      enabled: true\n      to: [{to: [{cidr: 169.254.169.254/32}]}]\n";
    let errors = render_values(v, Engine::Cilium, false).expect_err("refused");
    assert!(errors.iter().any(|e| e.contains("which a guardrail denies")), "{errors:?}");
}

#[test]
fn a_connection_across_tenants_is_refused_when_tenants_are_isolated() {
    let v = format!("{GUARDED}connections:\n  - from: {{namespace: a}}\n    to: {{namespace: b}}\n");
    let errors = render_values(&v, Engine::Calico, false).expect_err("refused");
    assert!(errors.iter().any(|e| e.contains("from tenant `one` to tenant `two`")), "{errors:?}");
}

#[test]
fn a_namespace_allow_that_a_guardrail_always_denies_is_refused() {
    // GUARDED isolates tenants `one` (namespace a) and `two` (namespace b).
    let v = GUARDED.replace(
        "    labels: {tenant: two}\n",
        "    labels: {tenant: two}\n    allow:\n      fromNamespaces: [a]\n",
    );
    let v = v.replace("    allow:\n      internet: {cidrs: [169.254.0.0/16]}\n", "");
    let errors = render_values(&v, Engine::Cilium, false).expect_err("refused");
    assert!(
        errors.iter().any(|e| e
            .contains("from tenant `one` to tenant `two`, which guardrails.denyCrossTenant always denies")),
        "{errors:?}"
    );
}

#[test]
fn unmanaged_namespaces_get_no_policy_and_are_listed() {
    let v = "unmanagedNamespaces: [kube-system]\nnamespaces:\n  kube-system:\n    unmanaged: true\n  a:\n    profile: zero-trust\n";
    let out = render_values(v, Engine::Kubernetes, false).expect("renders");
    assert!(out.manifests.iter().all(|m| m.namespace.as_deref() != Some("kube-system")));
    let text = netpol::emit::to_yaml(&out.manifests, &out.header).expect("yaml");
    assert!(text.contains("# Deliberately unmanaged (no policies rendered): kube-system."), "{text}");
    let v = "unmanagedNamespaces: [kube-system]\nworkloads:\n  dns:\n    namespace: kube-system\n    ports: {dns: {port: 53}}\n";
    let errors = render_values(v, Engine::Kubernetes, false).expect_err("refused");
    assert!(errors.iter().any(|e| e.contains("declared unmanaged")), "{errors:?}");
}

#[test]
fn gateway_is_the_ingress_entity_on_cilium_and_configured_pods_everywhere() {
    let v = "namespaces:\n  a:\n    allow:\n      fromGateway: true\n";
    let errors = render_values(v, Engine::Kubernetes, false).expect_err("needs cluster.gateway");
    assert!(errors.iter().any(|e| e.contains("fromGateway")), "{errors:?}");
    let out = render_values(v, Engine::Cilium, false).expect("cilium has the entity");
    // The intent is the same for every engine; Cilium spells the proxy as its entity.
    let rule = &out.intent.policies[0].ingress.as_ref().expect("ingress")[0];
    assert_eq!(rule.peers, vec![Peer::GatewayProxy]);
    let text = netpol::emit::to_yaml(&out.manifests, &out.header).expect("yaml");
    assert!(text.contains("fromEntities:\n    - ingress"), "{text}");
    let v = format!("cluster:\n  gateway: {{namespace: gw}}\n{v}");
    for engine in [Engine::Kubernetes, Engine::Calico, Engine::ClusterNetworkPolicy, Engine::Cilium] {
        let out = render_values(&v, engine, false).expect("configured");
        let text = netpol::emit::to_yaml(&out.manifests, &out.header).expect("yaml");
        assert!(text.contains("gw"), "{engine}: the gateway's pods are allowed\n{text}");
    }
}

#[test]
fn internet_egress_needs_the_cluster_ranges() {
    let errors =
        render_values("namespaces:\n  a:\n    allow:\n      internet: true\n", Engine::Kubernetes, false)
            .expect_err("refused");
    assert!(errors.iter().any(|e| e.contains("cluster's own ranges")), "{errors:?}");
}

#[test]
fn kubernetes_spells_out_anyone_without_the_guarded_addresses() {
    let v = "guardrails: {denyMetadataService: true}\nworkloads:\n  a:\n    egress:\n      enabled: true\n      dns: false\n      to: [{ports: [443]}]\n";
    let out = render_values(v, Engine::Kubernetes, true).expect("renders");
    let text = netpol::emit::to_yaml(&out.manifests, &out.header).expect("yaml");
    assert!(text.contains("cidr: 0.0.0.0/0\n        except:\n        - 169.254.169.254/32"), "{text}");
    assert!(text.contains("except:\n        - fd00:ec2::254/128"), "{text}");
    assert!(text.contains("- namespaceSelector: {}"), "{text}");
    // Engines that enforce the guardrail keep "anyone" as it is.
    let out = render_values(v, Engine::Cilium, false).expect("renders");
    let rule = &out.intent.policies[0].egress.as_ref().expect("egress")[0];
    assert!(rule.peers.is_empty());
}

#[test]
fn cilium_warns_about_an_api_server_ipblock() {
    let v = "networkPolicy:\n  enabled: true\n  egress:\n    enabled: true\n    to: [{to: [{ipBlock: {cidr: 10.0.0.1/32}}], ports: [{port: 443}]}]\n";
    let out = render_values(v, Engine::Cilium, false).expect("renders");
    assert!(out.warnings.iter().any(|w| w.message.contains("Cilium will not match it by CIDR")));
    let v = format!("cluster: {{apiServer: {{cidrs: [10.0.0.1/32]}}}}\n{v}");
    let out = render_values(&v, Engine::Cilium, false).expect("renders");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let text = netpol::emit::to_yaml(&out.manifests, &out.header).expect("yaml");
    assert!(text.contains("kube-apiserver"), "{text}");
}

#[test]
fn a_namespace_allow_that_widens_a_workload_from_list_warns_in_file_order() {
    let values = "namespaces:
  shop:
    allow: {fromMonitoring: true, sameNamespace: true}
    workloads:
      db:
        ports:
          postgres: {port: 5432, from: [{podLabels: {app: api}}]}
      web:
        ports:
          http: {port: 8080}
";
    let (code, err) = render_stderr(values);
    assert_eq!(code, 0, "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning[")).collect();
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(
        warnings[0].contains(
            "`namespaces.shop.allow.fromMonitoring` also opens port 5432/TCP of workload `shop/db`"
        ),
        "{err}"
    );
    assert!(warnings[1].contains("`namespaces.shop.allow.sameNamespace` also opens port 5432/TCP"), "{err}");
    let (code, out, _) = run_on(&["render", "--strict", "-f", "VALUES"], values);
    assert_eq!(code, 1);
    assert!(out.is_empty());
}

fn render_stderr(values: &str) -> (i32, String) {
    let (code, _, err) = run_on(&["render", "-f", "VALUES"], values);
    (code, err)
}

#[test]
fn a_misspelt_peer_namespace_and_a_half_connection_warn() {
    let (code, err) = render_stderr(
        "namespaces:
  shop:
    workloads:
      api:
        ports:
          http: {port: 8080, from: [{namespace: ingress-ngnix}, {namespace: web}]}
  web:
    defaultDeny: {ingress: true, egress: true}
    allow: {dns: true}
connections:
  - from: {namespace: shpo}
    to: {namespace: web}
    ports: [80]
",
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning[NP103]: namespace `ingress-ngnix` is declared nowhere"), "{err}");
    assert!(err.contains("help: did you mean `ingress-nginx`?"), "{err}");
    assert!(err.contains("warning[NP103]: namespace `shpo` is declared nowhere"), "{err}");
    assert!(err.contains("at key `connections[0].from.namespace`"), "{err}");
    assert_eq!(err.matches("`shpo`").count(), 1, "once per place: {err}");
    assert!(
        err.contains(
            "warning[NP103]: half connection: rule `http` of workload `shop/api` admits pods of namespace `web`"
        ),
        "{err}"
    );
}

#[test]
fn a_connection_to_an_unknown_workload_suggests_the_name_or_the_namespace() {
    let values = "namespaces:
  shop:
    workloads:
      api: {ports: {http: {port: 8080}}}
  web:
    workloads:
      frontend: {ports: {http: {port: 80}}}
connections:
  - from: {namespace: web, workload: frontend}
    to: {namespace: shop, workload: apii}
    ports: [8080]
  - from: {namespace: shop, workload: frontend}
    to: {namespace: shop, workload: api}
    ports: [8080]
";
    let (code, err) = render_stderr(values);
    assert_eq!(code, 1);
    assert!(err.contains("error[NP006]: no workload `apii` in namespace `shop`"), "{err}");
    assert!(err.contains("values.yaml:10:27") && err.contains("help: did you mean `api`?"), "{err}");
    assert!(err.contains("at key `connections[1].from.namespace`"), "{err}");
    assert!(err.contains("help: workload `frontend` is declared in namespace `web`"), "{err}");
}

/// A namespace's `allow.apiServer` has no DNS of its own (DNS is `allow.dns`), which is no
/// reason to drop a workload's own "egress without DNS" warning.
#[test]
fn allow_api_server_keeps_a_workload_warning_about_egress_without_dns() {
    let (code, err) = render_stderr(
        "cluster: {apiServer: {cidrs: [10.0.0.1/32]}}
namespaces:
  shop:
    allow: {apiServer: true}
    workloads:
      web:
        ports: {http: {port: 8080}}
        egress: {enabled: true, dns: false, to: [{to: [{cidr: 198.51.100.0/24}]}]}
",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("warning[NP103]: egress is restricted without DNS").count(), 1, "{err}");
    assert!(err.contains("at key `namespaces.shop.workloads.web.egress.dns`"), "{err}");
}
