//! Tests of `calico`.

use crate::eval::{Cni, PolicySet, read_objects};

const TOPOLOGY: &str = r#"
namespaces:
  - {name: shop, labels: {team: a}}
  - {name: monitoring, labels: {team: ops}}
pods:
  - {namespace: shop, name: web, labels: {app: web}, ip: 10.244.1.10, serviceAccount: web, ports: [{name: http, port: 8080}]}
  - {namespace: shop, name: db, labels: {app: db}, ip: 10.244.1.11, ports: [{name: pg, port: 5432}]}
  - {namespace: monitoring, name: prom, labels: {app: prom}, ip: 10.244.2.10, serviceAccount: prometheus}
apiServer: {addresses: [172.18.0.5]}
"#;

fn verdicts(manifests: &str, flows: &[(&str, &str, u16)]) -> Vec<bool> {
    crate::eval::testing::tcp_verdicts(TOPOLOGY, manifests, Some(Cni::Calico), flows)
}

fn np(name: &str, ns: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{spec}"
    )
}

fn gnp(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n{spec}"
    )
}

fn tier(name: &str, order: u32, default_action: &str) -> String {
    format!(
        "---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {{name: {name}}}\nspec: {{order: {order}, defaultAction: {default_action}}}\n"
    )
}

const PROM_TO_WEB: (&str, &str, u16) = ("monitoring/prom", "shop/web", 8080);
const DB_TO_WEB: (&str, &str, u16) = ("shop/db", "shop/web", 8080);

#[test]
fn unselected_endpoints_are_open_and_selected_ones_hit_the_end_of_tier() {
    assert_eq!(verdicts("", &[PROM_TO_WEB]), [true]);
    let isolate = np("iso", "shop", "  selector: app == 'web'\n  types: [Ingress]\n");
    assert_eq!(verdicts(&isolate, &[PROM_TO_WEB, ("monitoring/prom", "shop/db", 5432)]), [false, true]);
}

#[test]
fn tiers_run_in_order_and_pass_moves_on() {
    let security = tier("security", 100, "Deny");
    let pass_ops = gnp(
        "security.pass-ops",
        "  tier: security\n  order: 10\n  selector: all()\n  types: [Ingress]\n  ingress:\n  - {action: Pass, source: {namespaceSelector: team == 'ops'}}\n  - {action: Deny}\n",
    );
    let allow_in_default =
        np("allow", "shop", "  order: 500\n  selector: all()\n  ingress: [{action: Allow}]\n");
    let all = security.clone() + &pass_ops + &allow_in_default;
    // prom passes security, then default allows; db is denied in security outright.
    assert_eq!(verdicts(&all, &[PROM_TO_WEB, DB_TO_WEB]), [true, false]);
    // Without the allow, prom falls to the default tier: nothing selects there, so open.
    assert_eq!(verdicts(&(security.clone() + &pass_ops), &[PROM_TO_WEB]), [true]);
    // A tier whose default action is Pass hands unmatched traffic on.
    let lenient = tier("security", 100, "Pass")
        + &gnp(
            "security.only-ops",
            "  tier: security\n  selector: all()\n  types: [Ingress]\n  ingress: [{action: Allow, source: {namespaceSelector: team == 'ops'}}]\n",
        );
    assert_eq!(verdicts(&lenient, &[PROM_TO_WEB, DB_TO_WEB]), [true, true]);
}

#[test]
fn order_then_rule_order_first_match_and_log_continues() {
    let deny_first = np(
        "a-deny",
        "shop",
        "  order: 100\n  selector: app == 'web'\n  ingress: [{action: Log}, {action: Deny, source: {selector: app == 'db'}}]\n",
    );
    let allow_later =
        np("b-allow", "shop", "  order: 200\n  selector: app == 'web'\n  ingress: [{action: Allow}]\n");
    assert_eq!(verdicts(&(deny_first.clone() + &allow_later), &[DB_TO_WEB, PROM_TO_WEB]), [false, true]);
    let swapped = deny_first.replace("order: 100", "order: 300");
    assert_eq!(verdicts(&(swapped + &allow_later), &[DB_TO_WEB]), [true]);
    // Equal order: by name.
    let tie_a = np("a", "shop", "  order: 100\n  selector: app == 'web'\n  ingress: [{action: Deny}]\n");
    let tie_b = np("b", "shop", "  order: 100\n  selector: app == 'web'\n  ingress: [{action: Allow}]\n");
    assert_eq!(verdicts(&(tie_b + &tie_a), &[DB_TO_WEB]), [false]);
}

#[test]
fn namespaced_rules_stay_in_their_namespace_unless_told_otherwise() {
    let same_ns = np(
        "p",
        "shop",
        "  selector: app == 'web'\n  ingress: [{action: Allow, source: {selector: all()}}]\n",
    );
    assert_eq!(verdicts(&same_ns, &[DB_TO_WEB, PROM_TO_WEB]), [true, false]);
    let all_ns = np(
        "p",
        "shop",
        "  selector: app == 'web'\n  ingress: [{action: Allow, source: {selector: app == 'prom', namespaceSelector: all()}}]\n",
    );
    assert_eq!(verdicts(&all_ns, &[DB_TO_WEB, PROM_TO_WEB]), [false, true]);
    let global = gnp(
        "g",
        "  selector: projectcalico.org/namespace == 'shop' && app == 'web'\n  ingress: [{action: Allow, source: {selector: app == 'prom'}}]\n",
    );
    assert_eq!(verdicts(&global, &[DB_TO_WEB, PROM_TO_WEB]), [false, true]);
    let by_sa = np(
        "p",
        "shop",
        "  selector: app == 'web'\n  ingress: [{action: Allow, source: {serviceAccounts: {names: [prometheus]}, namespaceSelector: projectcalico.org/name == 'monitoring'}}]\n",
    );
    assert_eq!(verdicts(&by_sa, &[DB_TO_WEB, PROM_TO_WEB]), [false, true]);
}

#[test]
fn nets_match_pods_and_ports_protocols_and_named_ports() {
    let p = np(
        "p",
        "shop",
        "  selector: all()\n  ingress:\n  - {action: Allow, protocol: TCP, source: {nets: [10.244.2.0/24]}, destination: {ports: [http, '5000:5500']}}\n  egress:\n  - {action: Allow, protocol: TCP, destination: {services: {name: kubernetes, namespace: default}, ports: [443]}}\n",
    );
    let flows = [
        PROM_TO_WEB,
        ("monitoring/prom", "shop/web", 8081),
        ("monitoring/prom", "shop/db", 5432),
        DB_TO_WEB,
        ("shop/web", "apiserver", 443),
        ("shop/web", "apiserver", 6443),
    ];
    assert_eq!(verdicts(&p, &flows), [true, false, true, false, true, false]);
}

#[test]
fn network_policies_sit_in_the_default_tier_after_earlier_orders() {
    let k8s_allow = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress: [{}]\n";
    let early_deny = np(
        "early",
        "shop",
        "  order: 10\n  selector: app == 'web'\n  ingress: [{action: Deny, source: {selector: app == 'db'}}]\n",
    );
    assert_eq!(verdicts(&(k8s_allow.to_string() + &early_deny), &[DB_TO_WEB, PROM_TO_WEB]), [false, true]);
    let late_deny = early_deny.replace("order: 10", "order: 2000");
    assert_eq!(verdicts(&(k8s_allow.to_string() + &late_deny), &[DB_TO_WEB]), [true]);
}

#[test]
fn netpols_own_rendering_is_judged_as_intended() {
    use crate::engine::Backend;
    use crate::intent::testing::{
        allowlist, default_deny, dns_rule, intent, metadata_guardrail, pods_in, rule, tcp,
    };
    let web = allowlist(
        "shop",
        "web",
        Some(vec![rule("http", vec![pods_in("monitoring", &[("app", "prom")])], vec![tcp(8080)])]),
        Some(vec![dns_rule()]),
    );
    let mut i = intent(vec![web, default_deny("shop", 2000, false)]);
    i.guardrails.push(metadata_guardrail());
    let rendered = crate::engine::calico::Calico.render(&i).expect("renders");
    let text: String = rendered.manifests.iter().map(|m| format!("---\n{}", m.yaml)).collect();
    let flows = [
        PROM_TO_WEB,
        ("monitoring/prom", "shop/web", 9090),
        DB_TO_WEB,
        ("shop/db", "monitoring/prom", 9090),
        ("monitoring/prom", "ip:169.254.169.254", 80),
    ];
    assert_eq!(verdicts(&text, &flows), [true, false, false, false, false]);
}

#[test]
fn malformed_policies_are_errors() {
    for bad in [
        np("x", "shop", "  selector: app ==\n"),
        np("x", "shop", "  tier: missing\n  selector: all()\n"),
        np("x", "shop", "  ingress: [{action: Maybe}]\n"),
        np("x", "shop", "  ingress: [{action: Allow, source: {nets: [not-a-cidr]}}]\n"),
        np("x", "shop", "  ingress: [{action: Allow, destination: {ports: ['1:x']}}]\n"),
        np("x", "shop", "  unknownField: 1\n"),
        tier("t", 1, "Maybe"),
    ] {
        let objects = read_objects(&bad, "m").expect("objects");
        assert!(PolicySet::new(&objects, Some(Cni::Calico)).is_err(), "{bad}");
    }
}
