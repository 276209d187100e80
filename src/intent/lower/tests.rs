//! Lowering on hand-written values: each test states, in intent terms, what a small values
//! file means, independent of any engine.

use std::collections::BTreeMap;

use super::*;
use crate::intent::{
    Intent, LabelSelector, Namespaces, Peer, PolicyRole, PortMatch, PortSel, Protocol, Rule,
};
use crate::values::Input;
use crate::vocab::source::Sources;

fn lowered_with(values: &str, options: &LowerOptions) -> Lowered {
    let mut sources = Sources::default();
    let text = values.to_string();
    let mut stdin = move || Ok(text.clone());
    crate::render::lower_values(&[Input::File("-".into())], options, &mut sources, &mut stdin)
        .unwrap_or_else(|e| panic!("values lower: {e:?}"))
}

fn lowered(values: &str) -> Intent {
    lowered_with(values, &LowerOptions::default()).intent
}

fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    let labels: BTreeMap<String, String> =
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    LabelSelector { match_labels: labels.into_iter().collect(), match_expressions: Vec::new() }
}

fn namespace(name: &str) -> Namespaces {
    Namespaces::Matching(selector(&[("kubernetes.io/metadata.name", name)]))
}

fn tcp(port: u16) -> PortMatch {
    PortMatch { protocol: Protocol::Tcp, port: PortSel::Number(port) }
}

fn policy<'a>(intent: &'a Intent, namespace: &str, name: &str) -> &'a crate::intent::Policy {
    intent.policies.iter().find(|p| p.namespace == namespace && p.name == name).unwrap_or_else(|| {
        let names: Vec<_> = intent.policies.iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect();
        panic!("no policy {namespace}/{name} among {names:?}")
    })
}

/// Rules without their names and origins: what they allow.
fn allows(rules: &[Rule]) -> Vec<(Vec<Peer>, Vec<PortMatch>)> {
    rules.iter().map(|r| (r.peers.clone(), r.ports.clone())).collect()
}

#[test]
fn a_port_with_a_from_list_admits_exactly_those_peers_on_that_port() {
    let intent = lowered(
        "workloads:\n  web:\n    namespace: shop\n    ports:\n      http:\n        port: 8080\n        from:\n          - namespace: ingress-nginx\n          - podLabels: {app: api}\n",
    );
    let web = policy(&intent, "shop", "web");
    assert_eq!(web.role, PolicyRole::Allow);
    assert_eq!(web.subject, selector(&[("app.kubernetes.io/name", "web")]));
    assert!(web.egress.is_none(), "ingress only: egress stays open");
    let ingress = web.ingress.as_deref().expect("ingress isolated");
    assert_eq!(
        allows(ingress),
        vec![(
            // Peers are sorted: the own namespace's pods first.
            vec![
                Peer::Pods { namespaces: Namespaces::Own, pods: selector(&[("app", "api")]) },
                Peer::Pods { namespaces: namespace("ingress-nginx"), pods: LabelSelector::default() },
            ],
            vec![tcp(8080)]
        )]
    );
}

#[test]
fn a_port_without_from_is_open_to_everyone_on_that_port_only() {
    let intent = lowered("workloads:\n  web:\n    namespace: shop\n    ports:\n      http: {port: 8080}\n");
    let ingress = policy(&intent, "shop", "web").ingress.as_deref().expect("ingress isolated");
    assert_eq!(allows(ingress), vec![(Vec::new(), vec![tcp(8080)])]);
}

#[test]
fn egress_lists_dns_and_the_api_server_and_nothing_else() {
    let intent = lowered(
        "cluster:\n  apiServer: {cidrs: [10.0.0.1/32]}\nworkloads:\n  job:\n    namespace: batch\n    egress:\n      enabled: true\n      dns: true\n      apiServer: true\n",
    );
    let job = policy(&intent, "batch", "job");
    let egress = job.egress.as_deref().expect("egress isolated");
    let peers: Vec<&Peer> = egress.iter().flat_map(|r| &r.peers).collect();
    assert!(
        peers.iter().any(|p| matches!(p, Peer::ApiServer { cidrs } if cidrs.len() == 1)),
        "the API server by its declared address: {peers:?}"
    );
    let dns = egress.iter().find(|r| r.purpose == crate::intent::RulePurpose::Dns).expect("a DNS rule");
    assert!(dns.ports.contains(&PortMatch { protocol: Protocol::Udp, port: PortSel::Number(53) }));
    assert!(dns.ports.contains(&PortMatch { protocol: Protocol::Tcp, port: PortSel::Number(53) }));
    assert_eq!(dns.ports.len(), 2, "DNS is port 53 only: {:?}", dns.ports);
    assert!(
        dns.peers
            .iter()
            .all(|p| matches!(p, Peer::Pods { namespaces, .. } if *namespaces == namespace("kube-system"))),
        "DNS is the cluster DNS pods in kube-system: {:?}",
        dns.peers
    );
    assert_eq!(egress.len(), 2, "nothing but DNS and the API server: {:?}", allows(egress));
}

#[test]
fn internet_egress_excludes_every_cluster_range_and_the_metadata_service() {
    let intent = lowered(
        "cluster: {podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12}\nnamespaces:\n  batch:\n    allow:\n      internet: true\n",
    );
    let egress = policy(&intent, "batch", "allow-internet").egress.as_deref().expect("egress isolated");
    let internet = egress
        .iter()
        .flat_map(|r| &r.peers)
        .find_map(|p| match p {
            Peer::Cidr { cidr, except } if cidr.to_string() == "0.0.0.0/0" => Some(except.clone()),
            _ => None,
        })
        .expect("an internet CIDR");
    let except: Vec<String> = internet.iter().map(ToString::to_string).collect();
    for range in ["10.244.0.0/16", "10.96.0.0/12", "169.254.169.254/32"] {
        assert!(except.contains(&range.to_string()), "{range} not excluded: {except:?}");
    }
}

#[test]
fn a_namespace_default_deny_is_subordinate_and_isolates_both_directions() {
    let intent = lowered(
        "namespaces:\n  shop:\n    defaultDeny: {ingress: true, egress: true}\n    allow: {dns: true}\n",
    );
    let deny = intent
        .policies
        .iter()
        .find(|p| p.namespace == "shop" && matches!(p.role, PolicyRole::DefaultDeny(_)))
        .expect("a default-deny in shop");
    assert!(deny.subject.is_empty(), "every pod of the namespace");
    assert_eq!(deny.ingress.as_deref().map(<[Rule]>::len), Some(0), "ingress: nothing allowed");
    let allowed: Vec<&Rule> = intent
        .policies
        .iter()
        .filter(|p| p.namespace == "shop")
        .flat_map(|p| p.egress.iter().flatten())
        .collect();
    assert!(
        allowed.iter().all(|r| r.purpose == crate::intent::RulePurpose::Dns),
        "egress: DNS only: {allowed:?}"
    );
    assert!(!allowed.is_empty(), "DNS is allowed");
}

#[test]
fn a_named_port_takes_the_protocol_and_number_it_names() {
    let intent = lowered(
        "workloads:\n  dns:\n    namespace: infra\n    ports:\n      dns: {port: 5353, protocol: UDP}\n  client:\n    namespace: infra\n    egress:\n      enabled: true\n      to:\n        - to: [{podLabels: {app.kubernetes.io/name: dns}}]\n          ports: [dns]\n",
    );
    let egress = policy(&intent, "infra", "client").egress.as_deref().expect("egress isolated");
    let ports: Vec<&PortMatch> = egress
        .iter()
        .filter(|r| r.purpose != crate::intent::RulePurpose::Dns)
        .flat_map(|r| &r.ports)
        .collect();
    assert!(!ports.is_empty(), "the rule to the dns workload");
    assert!(
        ports.iter().all(|p| p.protocol == Protocol::Udp),
        "the name's protocol, never TCP by default: {ports:?}"
    );
}

#[test]
fn the_intent_does_not_depend_on_the_engine() {
    let values = "workloads:\n  web:\n    namespace: shop\n    ports:\n      http:\n        port: 8080\n        from: [{namespace: ingress-nginx}]\n    egress: {enabled: true, dns: true}\n";
    let plain = lowered(values);
    for engine in ["kubernetes", "cilium", "calico", "clusterNetworkPolicy"] {
        let with_engine = lowered(&format!("{values}engine: {engine}\n"));
        assert_eq!(format!("{:?}", with_engine.policies), format!("{:?}", plain.policies), "{engine}");
        assert_eq!(with_engine.guardrails, plain.guardrails, "{engine}");
    }
}

#[test]
fn a_connection_opens_both_ends() {
    let intent = lowered(
        "namespaces:\n  front: {}\n  back: {}\nconnections:\n  - from: {namespace: front}\n    to: {namespace: back}\n    ports: [8080]\n",
    );
    let egress: Vec<(Vec<Peer>, Vec<PortMatch>)> = intent
        .policies
        .iter()
        .filter(|p| p.namespace == "front")
        .flat_map(|p| allows(p.egress.as_deref().unwrap_or_default()))
        .collect();
    assert!(
        egress.iter().any(|(peers, ports)| ports == &vec![tcp(8080)]
            && peers
                .iter()
                .any(|p| matches!(p, Peer::Pods { namespaces, .. } if *namespaces == namespace("back")))),
        "front may send to back on 8080: {egress:?}"
    );
    let ingress: Vec<(Vec<Peer>, Vec<PortMatch>)> = intent
        .policies
        .iter()
        .filter(|p| p.namespace == "back")
        .flat_map(|p| allows(p.ingress.as_deref().unwrap_or_default()))
        .collect();
    assert!(
        ingress.iter().any(|(peers, ports)| ports == &vec![tcp(8080)]
            && peers
                .iter()
                .any(|p| matches!(p, Peer::Pods { namespaces, .. } if *namespaces == namespace("front")))),
        "back admits front on 8080: {ingress:?}"
    );
}

#[test]
fn the_chart_is_one_workload_named_after_release_and_chart() {
    let options = LowerOptions { release: Some("flux".into()), ..LowerOptions::default() };
    let intent = lowered_with(
        "networkPolicy:\n  enabled: true\n  metrics:\n    from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]\n",
        &options,
    )
    .intent;
    assert_eq!(intent.policies.len(), 1, "{:?}", intent.policies);
    let chart = &intent.policies[0];
    assert_eq!(chart.name, "flux-controller");
    assert_eq!(
        chart.subject,
        selector(&[("app.kubernetes.io/instance", "flux"), ("app.kubernetes.io/name", "controller")])
    );
    let ingress = chart.ingress.as_deref().expect("ingress isolated");
    let metrics =
        ingress.iter().find(|r| r.origin.path.starts_with("networkPolicy.metrics")).expect("metrics rule");
    assert_eq!(
        metrics.peers,
        [Peer::Pods { namespaces: namespace("monitoring"), pods: LabelSelector::default() }]
    );
    assert!(chart.egress.is_none(), "egress left alone when the chart does not enable it");
}

#[test]
fn each_allow_switch_is_one_policy_for_every_pod_of_the_namespace() {
    let intent = lowered(
        "namespaces:\n  shop:\n    allow:\n      fromMonitoring: {ports: [{port: 9090}]}\n      fromNamespaces: [web]\n      apiServer: true\n",
    );
    let names: Vec<&str> =
        intent.policies.iter().filter(|p| p.namespace == "shop").map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["allow-api-server", "allow-from-monitoring", "allow-from-namespaces"]);
    let monitoring = policy(&intent, "shop", "allow-from-monitoring");
    assert!(monitoring.subject.is_empty());
    assert_eq!(allows(monitoring.ingress.as_deref().expect("ingress"))[0].1, [tcp(9090)]);
    assert_eq!(monitoring.origin.path, "namespaces.shop.allow.fromMonitoring");
    let from = policy(&intent, "shop", "allow-from-namespaces");
    assert_eq!(
        allows(from.ingress.as_deref().expect("ingress")),
        [(vec![Peer::Pods { namespaces: namespace("web"), pods: LabelSelector::default() }], vec![])]
    );
}

#[test]
fn guardrails_are_cluster_wide_denies_of_what_the_values_name() {
    let intent = lowered(
        "cluster: {podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12, tenantLabel: tenant}\nguardrails:\n  denyMetadataService: true\n  systemNamespaces: [kube-system]\nnamespaces:\n  shop: {labels: {tenant: retail}}\n",
    );
    assert!(!intent.guardrails.is_empty(), "guardrails lowered");
    let metadata: Vec<&Peer> =
        intent.guardrails.iter().flat_map(|g| g.egress_deny.iter().flat_map(|r| &r.peers)).collect();
    assert!(
        metadata
            .iter()
            .any(|p| matches!(p, Peer::Cidr { cidr, .. } if cidr.to_string() == "169.254.169.254/32")),
        "the metadata address is denied: {metadata:?}"
    );
    assert!(
        intent.guardrails.iter().all(|g| g
            .ingress_deny
            .iter()
            .chain(&g.egress_deny)
            .all(|r| !r.peers.is_empty())),
        "no guardrail rule without peers (that would deny everything)"
    );
}
