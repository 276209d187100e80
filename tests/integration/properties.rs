//! Property tests: rendering is a pure function of the values, whatever the key order in the
//! files, and `-f a -f b` is the same as one file holding Helm's merge of a and b.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use netpol::engine::Engine;
use netpol::intent::lower::LowerOptions;
use netpol::render::render;
use netpol::values::Input;
use netpol::vocab::source::Sources;

const NAMESPACES: [&str; 4] = ["identity", "monitoring", "shop", "platform"];
const CIDRS: [&str; 4] = ["10.0.0.0/8", "192.168.0.0/16", "203.0.113.10/32", "2001:db8::/32"];

fn peer() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(&NAMESPACES[..]).prop_map(|ns| json!({"namespace": ns})),
        (prop::sample::select(&NAMESPACES[..]), "[a-z]{1,6}")
            .prop_map(|(ns, app)| json!({"namespace": ns, "podLabels": {"app": app}})),
        "[a-z]{1,6}".prop_map(|app| json!({"podSelector": {"matchLabels": {"app": app}}})),
        prop::sample::select(&CIDRS[..]).prop_map(|c| json!({"ipBlock": {"cidr": c}})),
        Just(json!({"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12"]})),
    ]
}

fn port() -> impl Strategy<Value = Value> {
    prop_oneof![
        (1u16..=65535).prop_map(|p| json!(p)),
        (1u16..=60000, 0u16..100, prop::sample::select(&["TCP", "UDP", "SCTP"][..]))
            .prop_map(|(p, d, proto)| json!({"port": p, "endPort": p + d, "protocol": proto})),
        Just(json!("metrics")),
    ]
}

fn workload() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&NAMESPACES[..]),
        prop::collection::btree_map("[a-z]{1,8}", (1u16..=65535, prop::collection::vec(peer(), 0..3)), 0..3),
        prop::collection::vec(
            (prop::collection::vec(peer(), 0..3), prop::collection::vec(port(), 0..3)),
            0..2,
        ),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(ns, ports, egress_to, egress_on, dns)| {
            let ports: Map<String, Value> =
                ports.into_iter().map(|(name, (p, from))| (name, json!({"port": p, "from": from}))).collect();
            let to: Vec<Value> =
                egress_to.into_iter().map(|(to, ports)| json!({"to": to, "ports": ports})).collect();
            json!({
                "namespace": ns,
                "ports": ports,
                "egress": {"enabled": egress_on, "dns": dns, "to": to},
            })
        })
}

fn values() -> impl Strategy<Value = Value> {
    (prop::collection::btree_map("[a-z]{1,8}", workload(), 1..4), any::<bool>()).prop_map(|(workloads, chart)| {
        let mut v = json!({"workloads": workloads, "commonLabels": {"team": "platform", "tier": "web"}});
        if chart {
            v["networkPolicy"] = json!({"enabled": true, "defaultDeny": {"enabled": true}, "metrics": {"from": [{"namespace": "monitoring"}]}});
        }
        v
    })
}

/// JSON is YAML; write maps with their keys in an order driven by `seed`.
fn shuffled_text(v: &Value, seed: u64) -> String {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            let n = entries.len();
            for i in 0..n {
                let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % n as u64) as usize;
                entries.swap(i, j);
            }
            let inner: Vec<String> = entries
                .iter()
                .enumerate()
                .map(|(i, (k, v))| {
                    format!("{}: {}", Value::String((*k).clone()), shuffled_text(v, seed ^ (i as u64 + 1)))
                })
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        Value::Array(items) => {
            format!("[{}]", items.iter().map(|i| shuffled_text(i, seed)).collect::<Vec<_>>().join(", "))
        }
        other => other.to_string(),
    }
}

/// The rendered objects (no header, which names the files) or the error messages.
fn outcome(files: &[&str], engine: Engine) -> Result<String, Vec<String>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs: Vec<Input> = files
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let path = dir.path().join(format!("v{i}.yaml"));
            std::fs::write(&path, text).expect("write");
            Input::File(path.to_string_lossy().into_owned())
        })
        .collect();
    let options = LowerOptions { engine: Some(engine), ..LowerOptions::default() };
    let mut sources = Sources::default();
    let mut no_stdin = || Ok(String::new());
    match render(&inputs, &options, &mut sources, &mut no_stdin) {
        Ok(out) => Ok(netpol::emit::to_json(&out.manifests).expect("JSON")),
        Err(e) => Err(e.diagnostics().into_iter().map(|d| d.message).collect()),
    }
}

/// Helm's merge, written independently of netpol's: maps merge, null deletes, the rest replaces.
fn helm_merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(existing) = b.get_mut(k) {
                    helm_merge(existing, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn same_values_same_bytes_whatever_the_key_order(v in values(), seed in any::<u64>(), engine in prop::sample::select(&Engine::ALL[..])) {
        let sorted = shuffled_text(&v, 0);
        let shuffled = shuffled_text(&v, seed);
        let first = outcome(&[&sorted], engine);
        prop_assert_eq!(&first, &outcome(&[&sorted], engine));
        prop_assert_eq!(&first, &outcome(&[&shuffled], engine));
    }

    #[test]
    fn two_files_render_like_their_helm_merge(a in values(), b in values(), engine in prop::sample::select(&Engine::ALL[..])) {
        let mut merged = a.clone();
        helm_merge(&mut merged, &b);
        let split = outcome(&[&shuffled_text(&a, 1), &shuffled_text(&b, 2)], engine);
        let whole = outcome(&[&shuffled_text(&merged, 3)], engine);
        prop_assert_eq!(split, whole);
    }
}

/// Fragments that make up plausible and implausible values files.
const FRAGMENTS: [&str; 24] = [
    "networkPolicy:\n",
    "  enabled: true\n",
    "  engine: cilium\n",
    "workloads:\n",
    "  a:\n",
    "    ports:\n",
    "      p: {port: 80, from: [{namespace: x}]}\n",
    "    egress: {enabled: true, to: [{to: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}]}]}\n",
    "namespaces:\n",
    "  n: {profile: tenant, allow: {internet: true}}\n",
    "cluster: {podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12}\n",
    "guardrails: {denyMetadataService: true, denyCrossTenant: true}\n",
    "&a [*a]\n",
    "- x\n",
    ": :\n",
    "{[}\n",
    "    podSelector: {matchExpressions: [{key: k, operator: In}]}\n",
    "  \"\\u0000\": 1\n",
    "connections: [{from: {namespace: a}, to: {namespace: b}}]\n",
    "        endPort: 70000\n",
    "\t\n",
    "---\n",
    "x: !!int abc\n",
    "<<: {a: 1}\n",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Any input gives a result or an error, never a panic.
    #[test]
    fn arbitrary_input_never_panics(parts in prop::collection::vec(prop::sample::select(&FRAGMENTS[..]), 0..12), noise in ".{0,20}", engine in prop::sample::select(&Engine::ALL[..])) {
        let mut text: String = parts.concat();
        text.push_str(&noise);
        let _ = outcome(&[&text], engine);
    }

    #[test]
    fn arbitrary_set_arguments_never_panic(arg in "[a-z.\\[\\]0-9=,{}\\\\]{0,30}") {
        let inputs = [Input::Set(arg)];
        let mut sources = Sources::default();
        let mut no_stdin = || Ok(String::new());
        let _ = render(&inputs, &LowerOptions::default(), &mut sources, &mut no_stdin);
    }
}
