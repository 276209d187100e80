//! Dual-stack clusters: the cluster ranges accept one range per family, and internet egress
//! excludes the cluster's addresses of both families on every engine.

use crate::common::{ENGINES, run_on};

const DUAL_STACK: &str = r#"cluster:
  podCIDR: [10.244.0.0/16, "fd00:10:244::/56"]
  serviceCIDR: [10.96.0.0/12, "fd00:10:96::/108"]
  nodeCIDRs: 172.18.0.0/24
namespaces:
  a: {allow: {dns: true, internet: {cidrs: [0.0.0.0/0, "::/0"]}}}
"#;

fn verdict(values: &str, engine: &str, to: &str) -> String {
    let (code, out, err) = run_on(
        &[
            "explain",
            "-f",
            "VALUES",
            "--engine",
            engine,
            "--from",
            "a/netpol-plain",
            "--to",
            to,
            "--port",
            "443",
        ],
        values,
    );
    assert_eq!(code, 0, "{engine}: {err}");
    out.lines().next().unwrap_or_default().rsplit(' ').next().unwrap_or_default().to_string()
}

#[test]
fn ipv6_internet_excludes_the_ipv6_cluster_ranges_on_every_engine() {
    for engine in ENGINES {
        assert_eq!(verdict(DUAL_STACK, engine, "ip:fd00:10:244::a"), "DENIED", "{engine}: IPv6 pod");
        assert_eq!(verdict(DUAL_STACK, engine, "ip:2001:db8::1"), "ALLOWED", "{engine}: IPv6 internet");
        let (code, yaml, err) = run_on(&["render", "-f", "VALUES", "--engine", engine], DUAL_STACK);
        assert_eq!(code, 0, "{engine}: {err}");
        // ClusterNetworkPolicy has no `except`: it lists the complement, so only the verdicts
        // above show the exclusion there.
        if engine != "clusterNetworkPolicy" {
            for range in ["fd00:10:244::/56", "fd00:10:96::/108", "fd00:ec2::254/128", "10.244.0.0/16"] {
                assert!(yaml.contains(range), "{engine} does not exclude {range}:\n{yaml}");
            }
        }
        assert!(err.is_empty(), "{engine}: {err}");
        let (code, out, err) = run_on(&["check", "-f", "VALUES", "--engine", engine], DUAL_STACK);
        assert_eq!(code, 0, "{engine}: {out}{err}");
    }
}

#[test]
fn ipv6_internet_without_an_ipv6_cluster_range_warns_and_strict_refuses() {
    let single = DUAL_STACK
        .replace(r#"[10.244.0.0/16, "fd00:10:244::/56"]"#, "10.244.0.0/16")
        .replace(r#"[10.96.0.0/12, "fd00:10:96::/108"]"#, "10.96.0.0/12");
    let (code, _, err) = run_on(&["render", "-f", "VALUES"], &single);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "warning[NP103]: internet CIDR ::/0 is IPv6 but the values declare no IPv6 cluster range"
        ),
        "{err}"
    );
    assert!(err.contains("values.yaml:6:"), "{err}");
    let (code, out, _) = run_on(&["render", "-f", "VALUES", "--strict"], &single);
    assert_eq!((code, out.as_str()), (1, ""));
    // An IPv4-only internet allow says nothing.
    let v4 = single.replace(r#"[0.0.0.0/0, "::/0"]"#, "[0.0.0.0/0]");
    let (code, _, err) = run_on(&["render", "-f", "VALUES"], &v4);
    assert_eq!((code, err.as_str()), (0, ""));
}

#[test]
fn a_cluster_range_list_is_checked_entry_by_entry() {
    let bad = DUAL_STACK.replace("fd00:10:244::/56", "fd00:10:244::1/56");
    let (code, _, err) = run_on(&["render", "-f", "VALUES"], &bad);
    assert_eq!(code, 1);
    assert!(err.contains("host bits set"), "{err}");
    assert!(err.contains("cluster.podCIDR"), "{err}");
}
