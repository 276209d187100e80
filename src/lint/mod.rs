//! `netpol lint`: mistakes that render without error, found in values or in policies netpol
//! did not write.
//!
//! Each rule has a stable code (`NP2xx`), a severity and a documented bad and good example
//! (README "Lint rules"). Findings are ordinary [`Diagnostic`]s, so they print like every
//! other problem; a finding a team accepts is silenced by `lint.ignore` in the values or an
//! inline `# netpol-lint: ignore NP2xx` comment, and counted as silenced.
//!
//! Two kinds of rule: those that read the rules as written (`written`), and those that ask
//! the evaluator what the policies do to a few telling flows (`behaviour`), which work the
//! same on values and on manifests of any engine.

mod behaviour;
mod manifests;
pub mod sarif;
mod silence;
mod written;

use std::collections::BTreeSet;

use serde::Serialize;

pub use silence::{Silenced, SilencedBy};

use crate::error::{Code, Diagnostic, Result, Severity};
use crate::eval::{PolicySet, Topology};
use crate::intent::lower::Lowered;
use crate::values::Loaded;
use crate::vocab::source::Sources;

/// One lint rule: its code, name, default severity and what it looks for.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LintRule {
    pub code: Code,
    /// A short kebab-case name (SARIF's `name`).
    pub name: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    /// What the rule reads: `values`, `manifests` or both.
    pub inputs: &'static str,
}

/// Every rule, in code order.
pub const RULES: [LintRule; 16] = [
    rule(
        Code::NoDefaultDeny,
        "no-default-deny",
        Severity::Warning,
        "a managed namespace has no default-deny for ingress (or, where tenants are isolated, for egress)",
        BOTH,
    ),
    rule(
        Code::InternetEgressAllPorts,
        "internet-egress-on-every-port",
        Severity::Warning,
        "pods may reach every internet address (0.0.0.0/0 or ::/0) on every port",
        BOTH,
    ),
    rule(
        Code::IngressOpenToEveryone,
        "ingress-open-to-everyone",
        Severity::Warning,
        "a port accepts anyone, the internet included, and is not declared internet-facing",
        BOTH,
    ),
    rule(
        Code::MetadataReachable,
        "metadata-reachable",
        Severity::Warning,
        "pods may reach the cloud metadata address (169.254.169.254, fd00:ec2::254)",
        BOTH,
    ),
    rule(
        Code::EgressWithoutDns,
        "egress-without-dns",
        Severity::Error,
        "egress is isolated and cluster DNS is not allowed: every name lookup fails",
        BOTH,
    ),
    rule(
        Code::HalfConnection,
        "half-connection",
        Severity::Warning,
        "a cross-namespace flow is allowed at one end and refused at the other",
        BOTH,
    ),
    rule(
        Code::NamespaceAllowWidens,
        "namespace-allow-widens-workload",
        Severity::Warning,
        "a namespace-wide allow opens a port that a workload's own `from` list keeps narrower",
        VALUES,
    ),
    rule(
        Code::PeerSelectsNothing,
        "peer-selects-nothing",
        Severity::Note,
        "a peer names a namespace or labels nothing declares (with --topology: a selector that selects no pod, a warning)",
        BOTH,
    ),
    rule(
        Code::ShadowedRule,
        "shadowed-rule",
        Severity::Note,
        "a rule duplicates, or is covered by, another rule of the same pods and direction",
        VALUES,
    ),
    rule(
        Code::UndeclaredNamedPort,
        "undeclared-named-port",
        Severity::Warning,
        "a rule names a port that no workload of the values declares",
        VALUES,
    ),
    rule(
        Code::UnmanagedDependency,
        "depends-on-unmanaged-namespace",
        Severity::Note,
        "a rule reaches into a namespace netpol leaves alone: its own policies must agree",
        VALUES,
    ),
    rule(
        Code::GuardrailBlocksDns,
        "guardrail-blocks-dns",
        Severity::Error,
        "a guardrail (cluster-wide deny) blocks pods from cluster DNS",
        BOTH,
    ),
    rule(
        Code::OrInsteadOfAnd,
        "namespace-or-pod-selector",
        Severity::Warning,
        "a namespace selector and a pod selector are two peers (either matches) where one peer (both must match) was probably meant",
        BOTH,
    ),
    rule(
        Code::WebhookUnreachable,
        "webhook-unreachable-from-api-server",
        Severity::Error,
        "an admission-webhook port accepts neither the API server nor the nodes",
        BOTH,
    ),
    rule(
        Code::EgressToNamedPort,
        "egress-to-named-port",
        Severity::Note,
        "egress to a named port: the name is resolved on every destination pod, not on the source",
        BOTH,
    ),
    rule(
        Code::PortNotDeclared,
        "port-not-declared",
        Severity::Warning,
        "a rule's port number is declared by none of the workloads it selects (a Service port instead of the pod's targetPort?)",
        VALUES,
    ),
];

const BOTH: &str = "values, manifests";
const VALUES: &str = "values";

const fn rule(
    code: Code,
    name: &'static str,
    severity: Severity,
    summary: &'static str,
    inputs: &'static str,
) -> LintRule {
    LintRule { code, name, severity, summary, inputs }
}

/// The rule a code belongs to.
pub fn rule_for(code: Code) -> Option<&'static LintRule> {
    RULES.iter().find(|r| r.code == code)
}

/// The rule with this code (`NP204`), as users write it in ignores.
pub(crate) fn rule_named(text: &str) -> Option<&'static LintRule> {
    RULES.iter().find(|r| r.code.as_str().eq_ignore_ascii_case(text.trim()))
}

/// What a lint run found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Findings that count, in file order.
    pub findings: Vec<Diagnostic>,
    /// Findings a team accepted, and how.
    pub silenced: Vec<Silenced>,
}

impl Report {
    /// How many findings of `severity` count.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|d| d.severity == severity).count()
    }

    /// `--deny warnings`: every warning counts as an error.
    pub fn deny_warnings(&mut self) {
        for d in &mut self.findings {
            if d.severity == Severity::Warning {
                d.severity = Severity::Error;
            }
        }
    }
}

/// A finding of `code` with the rule's severity.
pub(crate) fn finding(code: Code, message: impl Into<String>) -> Diagnostic {
    as_finding(Diagnostic::new(message), code)
}

/// A diagnostic made elsewhere (render's advice), as a finding of `code` with its severity.
pub(crate) fn as_finding(d: Diagnostic, code: Code) -> Diagnostic {
    let mut d = d.coded(code);
    d.severity = rule_for(code).map_or(Severity::Warning, |r| r.severity);
    d
}

/// NP208 against a topology: a selector that selects none of its pods is a warning, not the
/// rule's note (the topology is the cluster as it is).
pub(crate) fn selects_no_pod(message: String) -> Diagnostic {
    Diagnostic { severity: Severity::Warning, ..finding(Code::PeerSelectsNothing, message) }
}

/// Lint loaded and lowered values. `topology`, when given, is the cluster as it is: selectors
/// are also checked against its pods.
pub fn lint_values(
    loaded: &Loaded,
    lowered: &Lowered,
    topology: Option<&Topology>,
    sources: &Sources,
) -> Result<Report> {
    let ignores = silence::values_ignores(loaded)?;
    let mut findings = written::lint(loaded, lowered, topology);
    findings.extend(behaviour::lint_values(loaded, lowered));
    Ok(finish(findings, &ignores, sources))
}

/// Lint policy objects netpol did not write (of any kind the evaluator reads), as
/// [`crate::eval::manifests::read_objects_and_policies`] reads them. `text` and `name` are the
/// manifests file, for locating findings in it.
pub fn lint_manifests(
    objects: &[serde_json::Value],
    set: &PolicySet,
    text: &str,
    name: &str,
    topology: Option<&Topology>,
    sources: &mut Sources,
) -> Result<Report> {
    let mut findings = manifests::lint(objects, topology);
    findings.extend(behaviour::lint_manifests(set, objects, topology));
    crate::eval::manifests::locate_in_manifests(&mut findings, text, name, sources);
    Ok(finish(findings, &[], sources))
}

/// Drop repeats, silence what the team accepted, and sort in file order.
fn finish(mut findings: Vec<Diagnostic>, ignores: &[silence::Ignore], sources: &Sources) -> Report {
    let mut seen = BTreeSet::new();
    findings.retain(|d| {
        let place = d.origin.as_ref().map(|o| (o.file.to_string(), o.line, o.column, o.path.clone()));
        let manifest = d.manifest_field().map(|m| (m.object.clone(), m.field.clone()));
        seen.insert((d.code, d.message.clone(), place, manifest))
    });
    let mut report = silence::apply(findings, ignores, sources);
    crate::error::sort_in_file_order(&mut report.findings);
    report.findings.sort_by_key(|d| d.origin.is_none());
    report
}

/// Several names, shortened: `a, b, c and 4 more`.
pub(crate) fn some_of(names: &[String]) -> String {
    const SHOWN: usize = 3;
    match names {
        [] => String::new(),
        [one] => one.clone(),
        _ if names.len() <= SHOWN => {
            let (last, rest) = names.split_last().map_or((String::new(), &[][..]), |(l, r)| (l.clone(), r));
            format!("{} and {last}", rest.join(", "))
        }
        _ => {
            let shown = names.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
            format!("{shown} and {} more", names.len() - SHOWN)
        }
    }
}
