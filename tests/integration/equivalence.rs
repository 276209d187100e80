//! The renderer's main correctness guarantee: for random values, every engine's rendering,
//! judged by that engine's own semantics on the topology derived from the values, allows
//! exactly the flows the intent allows (except documented limitations); and every evaluator's
//! fast decision path decides every derived flow as its explaining path does.
//!
//! CI runs 48 cases; a longer run: `NETPOL_EQUIVALENCE_CASES=2000 cargo test --release --test equivalence`.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use netpol::engine::Engine;
use netpol::eval::check::{check_engine_on, check_engines_flow_by_flow, cni_of, objects_of};
use netpol::eval::derive::derive;
use netpol::eval::reference::IntentLayer;
use netpol::eval::{Cni, PolicySet};
use netpol::intent::lower::LowerOptions;
use netpol::render::{lower_values, render_intent};
use netpol::values::Input;
use netpol::vocab::source::Sources;

const NAMESPACES: [&str; 3] = ["shop", "data", "monitoring"];
const APPS: [&str; 3] = ["web", "db", "api"];

fn peer() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(&NAMESPACES[..]).prop_map(|ns| json!({"namespace": ns})),
        (prop::sample::select(&NAMESPACES[..]), prop::sample::select(&APPS[..]))
            .prop_map(|(ns, app)| json!({"namespace": ns, "podLabels": {"app": app}})),
        prop::sample::select(&APPS[..]).prop_map(|app| json!({"podLabels": {"app": app}})),
        Just(json!({"cidr": "198.51.100.0/24"})),
    ]
}

fn egress_peer() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => peer(),
        1 => Just(json!({"cidr": "0.0.0.0/0", "except": ["198.51.100.0/25"]})),
        // Cilium only: the other engines refuse these loudly, which the test skips.
        1 => prop::sample::select(&["world", "cluster", "host", "kube-apiserver"][..]).prop_map(|e| json!({"entity": e})),
        1 => Just(json!({"fqdn": "api.example.com"})),
        1 => Just(json!({"fqdnPattern": "*.example.com"})),
    ]
}

fn port() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(&[80u16, 443, 5432, 8080][..]).prop_map(|p| json!(p)),
        Just(json!({"port": 9000, "endPort": 9010})),
        Just(json!({"port": 53, "protocol": "UDP"})),
    ]
}

fn workload(app: &'static str) -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&NAMESPACES[..]),
        prop::collection::btree_map(
            prop::sample::select(&["http", "grpc", "metrics"][..]),
            (prop::sample::select(&[80u16, 8080, 5432, 9090][..]), prop::collection::vec(peer(), 0..3)),
            0..3,
        ),
        prop::collection::vec(
            (prop::collection::vec(egress_peer(), 0..3), prop::collection::vec(port(), 0..2)),
            0..3,
        ),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(ns, ports, to, egress_on, dns)| {
            let ports: Map<String, Value> = ports
                .into_iter()
                .map(|(name, (p, from))| (name.to_string(), json!({"port": p, "from": from})))
                .collect();
            let to: Vec<Value> =
                to.into_iter().map(|(to, ports)| json!({"to": to, "ports": ports})).collect();
            json!({
                "namespace": ns,
                "podLabels": {"app": app},
                "ports": ports,
                "egress": {"enabled": egress_on, "dns": dns, "to": to},
            })
        })
}

fn values() -> impl Strategy<Value = Value> {
    (
        prop::option::of(workload("web")),
        prop::option::of(workload("db")),
        prop::option::of(workload("api")),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(|(web, db, api, deny_shop, same_ns, metadata_guardrail, (internet, api_server, monitoring))| {
            let mut workloads = Map::new();
            for (name, w) in [("web", web), ("db", db), ("api", api)] {
                if let Some(w) = w {
                    workloads.insert(name.to_string(), w);
                }
            }
            let mut v = json!({
                "cluster": {
                    "podCIDR": "10.244.0.0/16",
                    "serviceCIDR": "10.96.0.0/12",
                    "nodeCIDRs": ["172.18.0.0/24"],
                    "apiServer": {"cidrs": ["172.18.0.2/32"], "ports": [6443]},
                },
                "workloads": workloads,
                "namespaces": {
                    "shop": {"defaultDeny": {"ingress": deny_shop, "egress": deny_shop}, "allow": {"dns": true, "sameNamespace": same_ns}},
                    "data": {"defaultDeny": {"ingress": true, "egress": true}, "allow": {"dns": true, "internet": internet, "apiServer": api_server, "fromMonitoring": monitoring}},
                },
            });
            if metadata_guardrail {
                v["guardrails"] = json!({"denyMetadataService": true});
            }
            v
        })
}

fn cases() -> u32 {
    std::env::var("NETPOL_EQUIVALENCE_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn every_engine_allows_exactly_what_the_intent_allows(v in values()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("values.yaml");
        std::fs::write(&path, v.to_string()).expect("write");
        let inputs = [Input::File(path.to_string_lossy().into_owned())];
        let options = LowerOptions { accept_weaker_guardrails: true, ..LowerOptions::default() };
        let mut sources = Sources::default();
        let mut no_stdin = || Ok(String::new());
        // One intent, one topology and one set of flows for every engine.
        let lowered = lower_values(&inputs, &options, &mut sources, &mut no_stdin).expect("values lower");
        let intent = lowered.intent;
        let derived = derive(&intent);
        for engine in Engine::ALL {
            // An engine that cannot express the values says so loudly; that is not a difference.
            let Ok((manifests, mut warnings)) = render_intent(engine, &intent) else { continue };
            // Everything `render` prints: the values' warnings and the engine's.
            warnings.extend(lowered.warnings.iter().cloned());
            let report = check_engine_on(engine, &intent, &manifests, &derived).expect("judged");
            // The fast decision path check relies on decides as the explaining path does.
            let objects = objects_of(&manifests).expect("reads back");
            let set = PolicySet::new(&objects, Some(cni_of(engine))).expect("policies");
            let reference = PolicySet::from_layers(Cni::Kubernetes, vec![Box::new(IntentLayer::new(&intent))]);
            for spec in derived.flows() {
                let flow = spec.resolve(&derived.topology).expect("resolves");
                for (name, s) in [("intent", &reference), (engine.as_str(), &set)] {
                    prop_assert_eq!(
                        s.allowed(&derived.topology, &flow),
                        s.evaluate(&derived.topology, &flow).allowed,
                        "{}: fast path and explanation disagree on {} -> {} {}\nvalues: {}",
                        name, spec.from, spec.to, flow.port, v
                    );
                }
            }
            // Judging by classes of pods finds exactly what judging every flow finds.
            let one = [(engine, manifests.as_slice())];
            let flow_by_flow = check_engines_flow_by_flow(&one, &intent, &derived).expect("judged");
            prop_assert_eq!(
                serde_json::to_value(std::slice::from_ref(&report)).expect("json"),
                serde_json::to_value(&flow_by_flow).expect("json"),
                "{}: the class walk and the flow-by-flow walk differ\nvalues: {}", engine, v
            );
            // What check files under a limitation, render announced.
            let silent: Vec<_> = report.differences.iter().filter(|d| !crate::common::announced(d, &warnings)).collect();
            prop_assert!(
                silent.is_empty(),
                "{}: {} differences render said nothing about, e.g. {:#?}\nwarnings: {:#?}\nvalues: {}",
                engine, silent.len(), silent.iter().take(2).collect::<Vec<_>>(), warnings, v
            );
            let unexplained: Vec<_> = report.differences.iter().filter(|d| d.limitation.is_none()).collect();
            prop_assert!(
                unexplained.is_empty(),
                "{}: {} of {} flows differ from the intent, e.g. {:#?}\nvalues: {v}",
                engine,
                unexplained.len(),
                report.flows,
                unexplained.iter().take(3).collect::<Vec<_>>()
            );
        }
    }
}
