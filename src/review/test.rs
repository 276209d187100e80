//! `netpol test`: flows with the verdict they are expected to get, judged against each
//! engine's rendering (or against given manifests), for CI.

use serde::Serialize;

use crate::error::{Diagnostic, Error, Result};
use crate::eval::topology::Topology;
use crate::eval::{FlowSpec, PolicySet, PortRef};
use crate::vocab::source::Origin;

/// Everything a test run found, the context of `test.txt.j2` and `junit.xml.j2`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TestReport {
    /// One entry per engine judged (or one, `manifests`, for `--manifests`).
    pub engines: Vec<EngineTests>,
    pub passed: usize,
    pub failed: usize,
    /// Expectations judged over every engine.
    pub total: usize,
}

/// The expectations judged on one engine.
#[derive(Clone, Debug, Serialize)]
pub struct EngineTests {
    pub engine: String,
    /// The CNI whose behaviour was modelled.
    pub cni: String,
    /// Why the engine judged nothing: it cannot render the values (`--engine all`).
    pub not_rendered: Option<String>,
    pub passed: usize,
    pub failed: usize,
    pub cases: Vec<TestCase>,
}

/// One expectation and its outcome.
#[derive(Clone, Debug, Serialize)]
pub struct TestCase {
    /// `from -> to port/PROTOCOL`.
    pub name: String,
    pub from: String,
    pub to: String,
    /// A number, or the name of a port of the destination pod.
    pub port: String,
    pub protocol: String,
    pub expected: bool,
    pub allowed: bool,
    pub passed: bool,
    /// The rule that settled the verdict.
    pub rule: String,
    /// Everything the engine considered, in its order.
    pub reasons: Vec<String>,
    /// Where the expectation is written: `file:line:column`.
    pub at: String,
}

impl EngineTests {
    pub fn new(engine: &str, policies: &PolicySet, cases: Vec<TestCase>) -> EngineTests {
        let passed = cases.iter().filter(|c| c.passed).count();
        EngineTests {
            engine: engine.to_string(),
            cni: policies.cni.as_str().to_string(),
            not_rendered: None,
            passed,
            failed: cases.len() - passed,
            cases,
        }
    }

    pub fn not_rendered(engine: &str, reason: String) -> EngineTests {
        EngineTests {
            engine: engine.to_string(),
            cni: String::new(),
            not_rendered: Some(reason),
            passed: 0,
            failed: 0,
            cases: Vec::new(),
        }
    }
}

impl TestReport {
    pub fn new(engines: Vec<EngineTests>) -> TestReport {
        let passed = engines.iter().map(|e| e.passed).sum();
        let failed = engines.iter().map(|e| e.failed).sum();
        TestReport { engines, passed, failed, total: passed + failed }
    }
}

/// Every flow must say what it expects and resolve in the topology: all problems at once,
/// each at its place in the flows file, before anything is judged.
pub fn check_expectations(flows: &[(FlowSpec, Origin)], topology: &Topology) -> Result<()> {
    let mut problems = Vec::new();
    for (flow, origin) in flows {
        if flow.allowed.is_none() {
            problems.push(
                Diagnostic::evaluator(format!(
                    "the flow {} -> {} says no expected verdict",
                    flow.from, flow.to
                ))
                .coded(crate::error::Code::MissingKey)
                .at(origin)
                .with_help("add `allowed: true` or `allowed: false`"),
            );
        }
        if let Err(e) = flow.resolve(topology) {
            let hint = "`netpol topology -f …` lists the pods of the derived topology";
            problems.push(Diagnostic::evaluator(e).at(origin).with_help(hint));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(Error::Invalid(problems)) }
}

/// Judge every expectation (checked by [`check_expectations`]) against one policy set.
pub fn judge(flows: &[(FlowSpec, Origin)], policies: &PolicySet, topology: &Topology) -> Vec<TestCase> {
    flows
        .iter()
        .filter_map(|(flow, origin)| {
            let judged = crate::eval::judge_one(policies, topology, flow)?;
            let expected = flow.allowed?;
            let port = match &flow.port {
                PortRef::Number(n) => n.to_string(),
                PortRef::Name(name) => name.clone(),
            };
            Some(TestCase {
                name: format!("{} -> {} {port}/{}", flow.from, flow.to, flow.protocol),
                from: flow.from.clone(),
                to: flow.to.clone(),
                port,
                protocol: flow.protocol.clone(),
                expected,
                allowed: judged.allowed,
                passed: judged.allowed == expected,
                rule: judged.rule,
                reasons: judged.reasons,
                at: format!("{}:{}:{}", origin.file, origin.line, origin.column),
            })
        })
        .collect()
}
