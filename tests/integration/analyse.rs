//! The analysis commands as users run them: `explain`, `matrix`, `check`, `topology` and
//! `eval`, every flag and every error.

use crate::common::{netpol, run, stdout_of, write};

const LUCITY: &str = "examples/lucity.yaml";

#[test]
fn explain_names_the_deciding_rules_in_order() {
    let out = stdout_of(&[
        "explain",
        "-f",
        LUCITY,
        "--engine",
        "kubernetes",
        "--from",
        "lucity-builds/build-job",
        "--to",
        "lucity-builds/buildkit",
        "--port",
        "1234/TCP",
    ]);
    assert!(
        out.starts_with(
            "lucity-builds/build-job -> lucity-builds/buildkit 1234/TCP (kubernetes, cni kubernetes): ALLOWED"
        ),
        "{out}"
    );
    let egress = out.find("egress at the source").expect("egress first");
    let ingress = out.find("ingress at the destination").expect("then ingress");
    assert!(egress < ingress, "{out}");
    assert!(out.contains("NetworkPolicy lucity-builds/buildkit ingress[0]"), "{out}");

    let out = stdout_of(&[
        "explain",
        "-f",
        LUCITY,
        "--engine",
        "kubernetes",
        "--from",
        "netpol-unrelated/netpol-plain",
        "--to",
        "lucity-builds/buildkit",
        "--port",
        "1234",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["allowed"], false, "{out}");
    assert_eq!(v["cni"], "kubernetes");
    assert!(v["decidedBy"].as_str().is_some_and(|s| s.starts_with("ingress: deny")), "{out}");
    assert!(v["steps"].as_array().is_some_and(|s| s.len() >= 2), "{out}");
}

#[test]
fn explain_rejects_unknown_endpoints_and_ports() {
    for (from, port, needle) in [
        ("nowhere/x", "80", "no pod `nowhere/x`"),
        ("lucity-builds/build-job", "80/ICMP", "not modelled"),
        ("lucity-builds/build-job", "0", "port 0"),
        ("lucity-builds/build-job", "nope/TCP", "no TCP port named `nope`"),
    ] {
        let (code, out, err) = run(&[
            "explain",
            "-f",
            LUCITY,
            "--engine",
            "kubernetes",
            "--from",
            from,
            "--to",
            "lucity-builds/buildkit",
            "--port",
            port,
        ]);
        assert_eq!(code, 2, "{from} {port}: {err}");
        assert!(out.is_empty());
        assert!(err.contains(needle), "{needle}: {err}");
    }
    // Values and manifests are two sources; give one.
    let (code, _, _) = run(&["explain", "--from", "a/b", "--to", "c/d", "--port", "80"]);
    assert_eq!(code, 2);
    let (code, _, err) =
        run(&["explain", "--manifests", "x.yaml", "--from", "a/b", "--to", "c/d", "--port", "80"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--topology"), "{err}");
}

#[test]
fn matrix_prints_a_table_csv_and_json() {
    let table = stdout_of(&["matrix", "-f", "examples/minimal.yaml", "--engine", "kubernetes"]);
    assert!(table.contains("netpol-unrelated/netpol-plain"), "{table}");
    assert!(table.contains("* every probed port allowed"), "{table}");
    let csv = stdout_of(&["matrix", "-f", "examples/minimal.yaml", "--engine", "kubernetes", "-o", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("from,to,port,protocol,allowed"));
    let rows: Vec<&str> = lines.collect();
    assert!(rows.iter().any(|r| r.ends_with(",true")) && rows.iter().any(|r| r.ends_with(",false")), "{csv}");
    let json = stdout_of(&["matrix", "-f", "examples/minimal.yaml", "--engine", "kubernetes", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(rows.len()));
    // --port narrows what is judged.
    let csv = stdout_of(&[
        "matrix",
        "-f",
        "examples/minimal.yaml",
        "--engine",
        "kubernetes",
        "-o",
        "csv",
        "--port",
        "53/UDP",
    ]);
    assert!(csv.lines().skip(1).all(|l| l.contains(",53,UDP,")), "{csv}");
    let (code, _, err) = run(&["matrix", "-f", "examples/minimal.yaml", "--port", "dns"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn matrix_and_eval_read_manifests_and_kubectl_topologies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = write(
        dir.path(),
        "np.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.1.0.0/16}}]\n",
    );
    // As `kubectl get namespaces,pods -A -o yaml` prints it.
    let kubectl = write(
        dir.path(),
        "kubectl.yaml",
        r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: shop, labels: {team: a}}
- apiVersion: v1
  kind: Pod
  metadata: {name: web-5d9c, namespace: shop, labels: {app: web}}
  spec:
    nodeName: n1
    serviceAccountName: web
    containers:
    - name: web
      ports: [{name: http, containerPort: 8080, protocol: TCP}]
  status: {phase: Running, podIP: 10.1.0.5}
- apiVersion: v1
  kind: Pod
  metadata: {name: client, namespace: shop, labels: {app: client}}
  spec:
    containers: [{name: c}]
  status: {phase: Running, podIP: 10.1.0.6}
- apiVersion: v1
  kind: Pod
  metadata: {name: done, namespace: shop}
  spec:
    containers: [{name: c}]
  status: {phase: Succeeded}
"#,
    );
    // Without --flows: every pod pair on the destination's ports.
    let out = stdout_of(&["eval", "--manifests", &manifests, "--topology", &kubectl]);
    let judged: serde_json::Value = serde_saphyr::from_str(&out).expect("YAML list");
    assert_eq!(judged.as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(judged[0]["to"], "shop/web-5d9c");
    assert_eq!(judged[0]["allowed"], true, "the ipBlock matches the pod IP by default: {out}");
    // Cilium's CIDR rules never match pods.
    let out = stdout_of(&["eval", "--manifests", &manifests, "--topology", &kubectl, "--cni", "cilium"]);
    let judged: serde_json::Value = serde_saphyr::from_str(&out).expect("YAML list");
    assert_eq!(judged[0]["allowed"], false, "{out}");
    let csv = stdout_of(&["matrix", "--manifests", &manifests, "--topology", &kubectl, "-o", "csv"]);
    assert_eq!(csv, "from,to,port,protocol,allowed\nshop/client,shop/web-5d9c,8080,TCP,true\n");
    // A topology file with anything but namespaces, pods and nodes is refused.
    let bad = write(
        dir.path(),
        "bad.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- {kind: Service, metadata: {name: s}}\n",
    );
    let (code, out, err) = run(&["eval", "--manifests", &manifests, "--topology", &bad]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("Service"), "{err}");
    // Unknown policy kinds are refused, never guessed.
    let other = write(
        dir.path(),
        "other.yaml",
        "apiVersion: example.com/v1\nkind: FirewallRule\nmetadata: {name: x}\n",
    );
    let (code, _, err) = run(&["eval", "--manifests", &other, "--topology", &kubectl]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a policy kind the evaluator models"), "{err}");
}

#[test]
fn check_passes_when_the_engine_agrees_and_fails_on_bad_values() {
    let out = stdout_of(&["check", "-f", "examples/minimal.yaml", "--engine", "kubernetes"]);
    assert!(out.contains("kubernetes:") && out.contains("0 differ from the intent"), "{out}");
    let json = stdout_of(&["check", "-f", "examples/minimal.yaml", "--engine", "kubernetes", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v[0]["engine"], "kubernetes");
    assert!(v[0]["flows"].as_u64().is_some_and(|n| n > 0), "{json}");
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(dir.path(), "bad.yaml", "workloadz: {}\n");
    let (code, out, err) = run(&["check", "-f", &bad]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("workloadz"), "{err}");
    let (code, _, _) = run(&["check"]);
    assert_eq!(code, 2);
}

#[test]
fn topology_prints_the_derived_cluster_and_flows() {
    let out = stdout_of(&["topology", "-f", LUCITY]);
    let v: serde_json::Value = serde_saphyr::from_str(&out).expect("YAML");
    let pods = v["pods"].as_array().expect("pods");
    assert!(pods.iter().any(|p| p["name"] == "buildkit" && p["namespace"] == "lucity-builds"), "{out}");
    assert!(pods.iter().any(|p| p["namespace"] == "netpol-unrelated"), "{out}");
    assert!(v["nodes"].as_array().is_some_and(|n| n.len() == 2));
    let flows = stdout_of(&["topology", "-f", LUCITY, "--flows"]);
    let f: serde_json::Value = serde_saphyr::from_str(&flows).expect("YAML");
    assert!(f.as_array().is_some_and(|f| f.len() > 100));
    assert_eq!(stdout_of(&["topology", "-f", LUCITY]), out, "derivation is deterministic");
}

mod never_panics {
    use netpol::eval::{Cni, FlowSpec, PolicySet, PortRef, judge, read_objects, topology};
    use proptest::prelude::*;

    /// Pieces of policies of every kind, in the right and the wrong places.
    const POLICY_FRAGMENTS: [&str; 16] = [
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: s}\nspec:\n  podSelector: {}\n",
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: c, namespace: s}\nspec:\n  endpointSelector: {}\n",
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\nspec:\n  selector: ",
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: x}\nspec:\n  tier: Admin\n  priority: 1\n  subject: {namespaces: {}}\n",
        "  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}], ports: [{port: 80, endPort: 70}]}]\n",
        "  egress: [{toFQDNs: [{matchPattern: '**.*.x'}], toPorts: [{ports: [{port: \"http\"}]}]}]\n",
        "  ingress: [{action: Allow, source: {selector: \"a in {'x'} && !has(b) || (c == 'd'\"}}]\n",
        "  ingress: [{action: Accept, from: [{namespaces: {matchExpressions: [{key: k, operator: Bogus}]}}]}]\n",
        "---\n",
        "  types: [Ingress, Sideways]\n",
        "  egress: [{action: Deny, to: [{networks: [0.0.0.0/0]}], protocols: [{tcp: {destinationPort: {range: {start: 9, end: 1}}}}]}]\n",
        "all() && ",
        "((((((((",
        "  enableDefaultDeny: {ingress: false}\n  ingressDeny: [{fromEntities: [world, nonsense]}]\n",
        "kind: List\nitems: [",
        "  order: -1e308\n  tier: default\n",
    ];

    const TOPOLOGY: &str = "namespaces: [{name: s, labels: {a: b}}]\npods:\n  - {namespace: s, name: p, labels: {app: web}, ip: 10.0.0.1, ports: [{name: http, port: 80}]}\n  - {namespace: t, name: q, ip: '::1', hostNetwork: true, nodeName: n}\nnodes: [{name: n, ip: 10.9.9.9}]\ndnsNames: [{name: a.x, addresses: [192.0.2.1]}]\n";

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        /// Whatever the manifests hold, the evaluator answers or refuses; it never panics.
        #[test]
        fn arbitrary_manifests_never_panic(
            parts in prop::collection::vec(prop::sample::select(&POLICY_FRAGMENTS[..]), 0..8),
            noise in ".{0,12}",
            cni in prop::sample::select(&[None, Some(Cni::Kubernetes), Some(Cni::Cilium), Some(Cni::Calico)][..]),
            from in prop::sample::select(&["s/p", "t/q", "ip:192.0.2.1", "node:n", "ip:::1"][..]),
            port in prop::sample::select(vec![PortRef::Number(80), PortRef::Name("http".into()), PortRef::Number(65535)]),
        ) {
            let text = parts.concat() + &noise;
            let topology = topology::read(TOPOLOGY, "t").expect("topology");
            if let Ok(objects) = read_objects(&text, "m")
                && let Ok(set) = PolicySet::new(&objects, cni)
            {
                let flows = [FlowSpec { from: from.to_string(), to: "s/p".into(), port, protocol: "TCP".into(), allowed: None }];
                let _ = judge(&set, &topology, &flows);
            }
        }

        /// Any topology text is read or refused.
        #[test]
        fn arbitrary_topologies_never_panic(text in "[a-z:{}\\[\\], \\n0-9./'-]{0,80}") {
            let _ = topology::read(&text, "t");
        }
    }
}

#[test]
fn check_prints_a_summary_and_lists_explained_flows_only_when_verbose() {
    let summary = stdout_of(&["check", "-f", LUCITY]);
    assert_eq!(summary.lines().count(), 4, "{summary}");
    assert!(
        summary.contains("clusterNetworkPolicy: 6624 flows judged, 704 differ from the intent (704 by documented limitations — 704: ClusterNetworkPolicy cannot deny ingress from anything but pods)"),
        "{summary}"
    );
    let verbose = stdout_of(&["check", "-f", LUCITY, "--verbose"]);
    assert!(verbose.lines().count() > 700, "every explained flow is listed");
    assert!(verbose.contains("[limitation: "), "{verbose:.400}");
}

#[test]
fn render_says_what_check_files_under_a_limitation_and_strict_check_refuses_it() {
    let out = netpol()
        .args(["render", "-f", "examples/minimal.yaml", "--engine", "clusterNetworkPolicy"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("cannot isolate ingress from anything but pods").count(),
        1,
        "once per object: {stderr}"
    );
    let (code, stdout, stderr) = run(&["check", "-f", "examples/minimal.yaml", "--strict"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("error[NP101]: ClusterNetworkPolicy cannot isolate ingress"), "{stderr}");
    let (code, _, stderr) = run(&["check", "-f", "examples/minimal.yaml", "--strict", "--engine", "calico"]);
    assert_eq!(code, 0, "{stderr}");
}
