//! The analysis commands: `eval`, `explain`, `matrix`, `check` and `topology`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::Serialize;

use super::{CniArg, EngineArg, ValuesArgs, read_stdin};
use crate::engine::Engine;
use crate::error::{Diagnostic, Error, Result};
use crate::eval::check::{self, EngineCheck};
use crate::eval::derive::Derived;
use crate::eval::topology::{self, Topology};
use crate::eval::{FlowSpec, PolicySet, PortRef, matrix};
use crate::intent::Protocol;
use crate::render;
use crate::vocab::source::Sources;

/// Policies and the cluster they run in: values rendered for an engine (the topology derived
/// from them unless `--topology` is given), or manifests plus a topology.
#[derive(Debug, clap::Args)]
pub struct PolicySourceArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// The engine whose rendering is judged (default: the values' engine).
    #[arg(long, value_parser = clap::value_parser!(EngineArg), conflicts_with = "manifests")]
    pub engine: Option<EngineArg>,
    /// Judge these policies instead of rendering values (multi-document YAML or a `List`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["values", "set", "set_string"])]
    pub manifests: Option<PathBuf>,
    /// The cluster: our topology format, or `kubectl get namespaces,pods -A -o yaml` output.
    #[arg(long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// The CNI whose behaviour decides what Kubernetes leaves open (does an ipBlock match pod
    /// IPs?). Default: the engine's own (cilium, calico; kubernetes otherwise), or for
    /// manifests inferred from the policy kinds.
    #[arg(long, value_parser = clap::value_parser!(CniArg))]
    pub cni: Option<CniArg>,
}

/// Loaded policies and topology, and the derived probes when the topology was derived.
pub struct Loaded {
    pub policies: PolicySet,
    pub topology: Topology,
    pub derived: Option<Derived>,
    pub engine: Option<Engine>,
    pub warnings: Vec<Diagnostic>,
}

fn read_file(path: &Path) -> Result<String> {
    crate::input::read_path(path)
}

fn read_topology(path: &Path, sources: &mut Sources) -> Result<Topology> {
    topology::read_with_sources(&read_file(path)?, &path.display().to_string(), sources)
}

impl PolicySourceArgs {
    pub(crate) fn load(&self, sources: &mut Sources) -> Result<Loaded> {
        let cni = self.cni.map(|c| c.0);
        if let Some(path) = &self.manifests {
            let Some(topology_path) = &self.topology else {
                return Err(Error::Usage(
                    "--manifests needs --topology FILE (the cluster to judge in)".into(),
                ));
            };
            let policies =
                crate::eval::read_policies(&read_file(path)?, &path.display().to_string(), cni, sources)?;
            let topology = read_topology(topology_path, sources)?;
            let warnings = policies.warnings.clone();
            return Ok(Loaded { policies, topology, derived: None, engine: None, warnings });
        }
        if self.values.values.is_empty() {
            return Err(Error::Usage("give values (`-f FILE`) or `--manifests FILE --topology FILE`".into()));
        }
        let options = self.values.options(self.engine.map(|e| e.0), None);
        let output = render::render(&self.values.inputs(), &options, sources, &mut read_stdin)?;
        if let Some(reason) = output.disabled_reason {
            return Err(Error::Usage(format!("nothing to judge: {reason}")));
        }
        let objects = check::objects_of(&output.manifests)?;
        let policies = PolicySet::new(&objects, Some(cni.unwrap_or_else(|| check::cni_of(output.engine))))?;
        let (topology, derived) = match &self.topology {
            Some(path) => (read_topology(path, sources)?, None),
            None => {
                let derived = crate::eval::derive::derive(&output.intent);
                (derived.topology.clone(), Some(derived))
            }
        };
        Ok(Loaded { policies, topology, derived, engine: Some(output.engine), warnings: output.warnings })
    }
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub source: PolicySourceArgs,
    /// Source: `namespace/pod`, `ip:A.B.C.D`, `node:NAME`, `apiserver` or `dns:NAME`.
    #[arg(long, value_name = "ENDPOINT")]
    pub from: String,
    /// Destination, as `--from`.
    #[arg(long, value_name = "ENDPOINT")]
    pub to: String,
    /// Destination port: `8080/TCP`, `53/UDP`, `8080` (TCP) or a named port of the destination pod.
    #[arg(long, value_name = "PORT[/PROTOCOL]")]
    pub port: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = TextFormat::Text)]
    pub output: TextFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TextFormat {
    Text,
    Json,
}

/// `8080/TCP`, `http`, `53/udp` → the flows file's port and protocol.
pub(crate) fn parse_port(text: &str) -> Result<(PortRef, String)> {
    let (port, protocol) = text.split_once('/').unwrap_or((text, "TCP"));
    if topology::protocol_text::parse(protocol).is_none() {
        return Err(Error::Usage(format!(
            "protocol `{protocol}` is not modelled: TCP, UDP and SCTP are (ICMP is not)"
        )));
    }
    let port = match port.parse::<u16>() {
        Ok(0) => return Err(Error::Usage("port 0 is not a port".into())),
        Ok(n) => PortRef::Number(n),
        Err(_) if !port.is_empty() && port.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            PortRef::Name(port.to_string())
        }
        Err(_) => return Err(Error::Usage(format!("`{text}` is not a port (`8080/TCP`, `53/UDP`, `http`)"))),
    };
    Ok((port, protocol.to_ascii_uppercase()))
}

#[derive(Serialize)]
struct ExplainedStep {
    direction: crate::eval::Direction,
    #[serde(flatten)]
    step: crate::eval::Step,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Explained {
    from: String,
    to: String,
    port: u16,
    protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    engine: Option<String>,
    cni: crate::eval::Cni,
    allowed: bool,
    decided_by: String,
    steps: Vec<ExplainedStep>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unmodelled: Vec<String>,
}

pub fn explain(args: &ExplainArgs, sources: &mut Sources) -> Result<(String, Vec<Diagnostic>)> {
    let loaded = args.source.load(sources)?;
    let (port, protocol) = parse_port(&args.port)?;
    let spec = FlowSpec { from: args.from.clone(), to: args.to.clone(), port, protocol, allowed: None };
    let flow = spec.resolve(&loaded.topology).map_err(|e| {
        let hint =
            if loaded.derived.is_some() { " (`netpol topology -f …` lists the derived pods)" } else { "" };
        Error::Usage(format!("{e}{hint}"))
    })?;
    let verdict = loaded.policies.evaluate(&loaded.topology, &flow);
    let explained = Explained {
        from: args.from.clone(),
        to: args.to.clone(),
        port: flow.port,
        protocol: flow.protocol.as_str().to_string(),
        engine: loaded.engine.map(|e| e.to_string()),
        cni: loaded.policies.cni,
        allowed: verdict.allowed,
        decided_by: verdict.deciding().map(|(d, s)| format!("{}: {s}", d.field())).unwrap_or_default(),
        steps: verdict.steps.iter().map(|(d, s)| ExplainedStep { direction: *d, step: s.clone() }).collect(),
        unmodelled: verdict.unmodelled.clone(),
    };
    let text = match args.output {
        TextFormat::Json => format!("{:#}\n", serde_json::to_value(&explained).unwrap_or_default()),
        TextFormat::Text => explain_text(&explained, sources)?,
    };
    Ok((text, loaded.warnings))
}

/// The context of `explain.txt.j2`.
#[derive(Serialize)]
struct ExplainText<'a> {
    from: &'a str,
    to: &'a str,
    port: u16,
    protocol: &'a str,
    /// `cilium, ` or empty.
    engine: String,
    cni: String,
    allowed: bool,
    /// Each end of the flow with its steps, egress at the source first.
    ends: Vec<ExplainEnd>,
    decided_by: &'a str,
    unmodelled: &'a [String],
}

#[derive(Serialize)]
struct ExplainEnd {
    title: String,
    steps: Vec<String>,
}

fn explain_text(e: &Explained, sources: &mut Sources) -> Result<String> {
    let mut ends: Vec<ExplainEnd> = Vec::new();
    let mut last = None;
    for s in &e.steps {
        if last != Some(s.direction) {
            let (end, who) = match s.direction {
                crate::eval::Direction::Egress => ("egress at the source", &e.from),
                crate::eval::Direction::Ingress => ("ingress at the destination", &e.to),
            };
            ends.push(ExplainEnd { title: format!("{end} {who}"), steps: Vec::new() });
            last = Some(s.direction);
        }
        if let Some(current) = ends.last_mut() {
            current.steps.push(s.step.to_string());
        }
    }
    let context = ExplainText {
        from: &e.from,
        to: &e.to,
        port: e.port,
        protocol: &e.protocol,
        engine: e.engine.as_ref().map(|en| format!("{en}, ")).unwrap_or_default(),
        cni: e.cni.to_string(),
        allowed: e.allowed,
        ends,
        decided_by: &e.decided_by,
        unmodelled: &e.unmodelled,
    };
    crate::templates::render(crate::templates::EXPLAIN_TEXT, &context, None, sources)
}

#[derive(Debug, clap::Args)]
pub struct MatrixArgs {
    #[command(flatten)]
    pub source: PolicySourceArgs,
    /// Judge only these ports (`8080/TCP`, `53/UDP`); repeatable. Default: every port of the
    /// destination pod, plus for derived topologies every port the values mention.
    #[arg(long = "port", value_name = "PORT[/PROTOCOL]")]
    pub ports: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = MatrixFormat::Table)]
    pub output: MatrixFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MatrixFormat {
    Table,
    Csv,
    Json,
}

/// The judged matrix (written by `MatrixArgs::write` as it is expanded) and the warnings.
pub fn matrix(args: &MatrixArgs, sources: &mut Sources) -> Result<(matrix::Matrix, Vec<Diagnostic>)> {
    let loaded = args.source.load(sources)?;
    let mut ports = BTreeSet::new();
    for p in &args.ports {
        match parse_port(p)? {
            (PortRef::Number(n), protocol) => {
                ports.insert((topology::protocol_text::parse(&protocol).unwrap_or(Protocol::Tcp), n));
            }
            (PortRef::Name(name), _) => {
                return Err(Error::Usage(format!("matrix --port takes numbers, not names (`{name}`)")));
            }
        }
    }
    let only = !ports.is_empty();
    let endpoints = match &loaded.derived {
        Some(d) => {
            if !only {
                ports.extend(d.ports.iter().copied());
            }
            d.endpoints.clone()
        }
        None => loaded.topology.pods.iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect(),
    };
    let m = matrix::compute(&loaded.policies, &loaded.topology, &endpoints, &ports, only);
    Ok((m, loaded.warnings))
}

impl MatrixArgs {
    /// Write the matrix in the chosen format.
    pub fn write(&self, m: &matrix::Matrix, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        match self.output {
            MatrixFormat::Table => m.write_table(out),
            MatrixFormat::Csv => m.write_csv(out),
            MatrixFormat::Json => m.write_json(out),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Check only these engines (default: all four).
    #[arg(long = "engine", value_parser = clap::value_parser!(EngineArg))]
    pub engines: Vec<EngineArg>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = TextFormat::Text)]
    pub output: TextFormat,
    /// List every differing flow, also those a documented limitation explains (text output).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Treat every warning of the values or of an engine's rendering as an error (exit 1).
    #[arg(long)]
    pub strict: bool,
}

/// The report and whether every difference is a documented limitation.
pub fn check(args: &CheckArgs, sources: &mut Sources) -> Result<(String, bool)> {
    if args.values.values.is_empty() {
        return Err(Error::Usage("give values (`-f FILE`)".into()));
    }
    let engines: Vec<Engine> = if args.engines.is_empty() {
        Engine::ALL.to_vec()
    } else {
        args.engines.iter().map(|e| e.0).collect()
    };
    // One intent, whatever the engine: every engine's rendering is judged against it.
    let options = args.values.options(None, None);
    let lowered = render::lower_values(&args.values.inputs(), &options, sources, &mut read_stdin)?;
    if let Some(reason) = &lowered.disabled_reason {
        return Err(Error::Usage(format!("nothing to check: {reason}")));
    }
    let intent = lowered.intent;
    let mut warnings = lowered.warnings;
    let mut reports: Vec<EngineCheck> = Vec::new();
    let mut first_error = None;
    let mut rendered = Vec::new();
    for engine in engines {
        match render::render_intent(engine, &intent) {
            Ok((manifests, engine_warnings)) => {
                warnings.extend(engine_warnings);
                rendered.push((engine, manifests));
            }
            Err(error @ Error::Invalid(_)) => {
                let summary = crate::review::not_rendered_reason(&error);
                first_error.get_or_insert(error);
                reports.push(EngineCheck {
                    engine: engine.to_string(),
                    not_rendered: Some(summary),
                    flows: 0,
                    differences: Vec::new(),
                });
            }
            Err(other) => return Err(other),
        }
    }
    if args.strict && !warnings.is_empty() {
        return Err(Error::Invalid(warnings.into_iter().map(Diagnostic::into_error).collect()));
    }
    // Every engine is judged on one topology, derived from the one intent.
    let derived = crate::eval::derive::derive(&intent);
    let judged: Vec<(Engine, &[crate::engine::Manifest])> =
        rendered.iter().map(|(engine, manifests)| (*engine, manifests.as_slice())).collect();
    reports.extend(check::check_engines_on(&judged, &intent, &derived)?);
    let order = |name: &str| Engine::ALL.iter().position(|e| e.to_string() == name).unwrap_or(usize::MAX);
    reports.sort_by_key(|r| order(&r.engine));
    // Values that no engine renders are bad input, not an engine limitation.
    if reports.iter().all(|r| r.not_rendered.is_some())
        && let Some(error) = first_error
    {
        return Err(error);
    }
    let clean = reports.iter().all(|r| r.unexplained() == 0);
    let text = match args.output {
        TextFormat::Json => format!("{:#}\n", serde_json::to_value(&reports).unwrap_or_default()),
        TextFormat::Text => check_text(&reports, args.verbose, sources)?,
    };
    Ok((text, clean))
}

/// The context of `check.txt.j2`: one summary per engine, with the differing flows that
/// are shown (unexplained ones, or all with `--verbose`).
#[derive(Serialize)]
struct CheckText<'a> {
    reports: Vec<CheckEngineText<'a>>,
}

#[derive(Serialize)]
struct CheckEngineText<'a> {
    engine: &'a str,
    not_rendered: Option<&'a str>,
    flows: usize,
    differing: usize,
    explained: usize,
    /// `N: limitation`, one per kind of documented limitation.
    kinds: Vec<String>,
    shown: Vec<CheckDifferenceText<'a>>,
}

#[derive(Serialize)]
struct CheckDifferenceText<'a> {
    from: &'a str,
    to: &'a str,
    port: u16,
    protocol: &'a str,
    intent: &'static str,
    engine: &'static str,
    limitation: Option<&'static str>,
    intent_rule: &'a str,
    engine_rule: &'a str,
}

/// One summary line per engine (flows, differences, limitations by kind); the flows
/// themselves only when a difference is unexplained, or with `--verbose`.
fn check_text(reports: &[EngineCheck], verbose: bool, sources: &mut Sources) -> Result<String> {
    let reports = reports
        .iter()
        .map(|r| {
            let mut by_kind: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
            for d in &r.differences {
                if let Some(l) = d.limitation {
                    *by_kind.entry(l.describe()).or_default() += 1;
                }
            }
            CheckEngineText {
                engine: &r.engine,
                not_rendered: r.not_rendered.as_deref(),
                flows: r.flows,
                differing: r.differences.len(),
                explained: r.differences.len() - r.unexplained(),
                kinds: by_kind.iter().map(|(k, n)| format!("{n}: {k}")).collect(),
                shown: r
                    .differences
                    .iter()
                    .filter(|d| verbose || d.limitation.is_none())
                    .map(|d| CheckDifferenceText {
                        from: &d.from,
                        to: &d.to,
                        port: d.port,
                        protocol: &d.protocol,
                        intent: word(d.intent),
                        engine: word(d.engine),
                        limitation: d.limitation.map(|l| l.describe()),
                        intent_rule: &d.intent_rule,
                        engine_rule: &d.engine_rule,
                    })
                    .collect(),
            }
        })
        .collect();
    crate::templates::render(crate::templates::CHECK_TEXT, &CheckText { reports }, None, sources)
}

fn word(allowed: bool) -> &'static str {
    if allowed { "allows" } else { "denies" }
}

#[derive(Debug, clap::Args)]
pub struct TopologyArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Print the derived flows (a flows file) instead of the topology.
    #[arg(long)]
    pub flows: bool,
}

/// What `netpol topology` prints: the derived topology, or its flows (written one at a time).
pub(crate) enum TopologyOutput {
    Topology(String),
    Flows(Box<Derived>),
}

impl TopologyOutput {
    pub fn write(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        match self {
            TopologyOutput::Topology(text) => out.write_all(text.as_bytes()),
            TopologyOutput::Flows(derived) => {
                let mut list = crate::emit::list::ListWriter::new(crate::emit::list::ListFormat::Yaml);
                derived.each_flow(|flow| list.item(out, &flow))?;
                list.finish(out)
            }
        }
    }
}

pub(crate) fn derived_topology(
    args: &TopologyArgs,
    sources: &mut Sources,
) -> Result<(TopologyOutput, Vec<Diagnostic>)> {
    if args.values.values.is_empty() {
        return Err(Error::Usage("give values (`-f FILE`)".into()));
    }
    // The intent alone: a topology does not depend on any engine's rendering.
    let options = args.values.options(None, None);
    let lowered = render::lower_values(&args.values.inputs(), &options, sources, &mut read_stdin)?;
    let derived = crate::eval::derive::derive(&lowered.intent);
    let output = if args.flows {
        TopologyOutput::Flows(Box::new(derived))
    } else {
        let value = serde_json::to_value(&derived.topology).map_err(|e| Error::Usage(e.to_string()))?;
        TopologyOutput::Topology(crate::yaml::to_string(&value))
    };
    Ok((output, lowered.warnings))
}
