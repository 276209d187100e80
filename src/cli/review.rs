//! The review commands: `test`, `diff`, `docs` and `probe`.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::{CniArg, ValuesArgs, read_stdin};
use crate::engine::Engine;
use crate::error::{Diagnostic, Error, Result};
use crate::review::test::{self, EngineTests, TestReport};
use crate::review::{self as library, not_rendered_reason};
use crate::templates::{self, Builtin};
use crate::vocab::source::Sources;

/// `--engine` of the review commands: one engine, or `all` four.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineChoice(pub Option<Engine>);

impl ValueEnum for EngineChoice {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            EngineChoice(Some(Engine::Kubernetes)),
            EngineChoice(Some(Engine::Cilium)),
            EngineChoice(Some(Engine::Calico)),
            EngineChoice(Some(Engine::ClusterNetworkPolicy)),
            EngineChoice(None),
        ]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(match self.0 {
            Some(engine) => {
                clap::builder::PossibleValue::new(engine.as_str()).aliases(engine.aliases().iter().copied())
            }
            None => clap::builder::PossibleValue::new("all").help("every engine, each on its own"),
        })
    }
}

impl EngineChoice {
    /// The engines chosen, given the one the values name.
    fn engines(choice: Option<EngineChoice>, values_engine: Engine) -> Vec<Engine> {
        match choice {
            None => vec![values_engine],
            Some(EngineChoice(Some(engine))) => vec![engine],
            Some(EngineChoice(None)) => Engine::ALL.to_vec(),
        }
    }
}

/// A text laid out by a template: the built-in one, or `--template FILE`.
fn laid_out<C: serde::Serialize>(
    builtin: Builtin,
    context: &C,
    user: Option<&Path>,
    sources: &mut Sources,
) -> Result<String> {
    templates::render(builtin, context, user, sources)
}

/// JSON formats are serialised, never templated: `--template` with one is a usage error.
fn refuse_template_for_json(template: Option<&PathBuf>, json: bool) -> Result<()> {
    if json && template.is_some() {
        return Err(Error::Usage("--template lays out text formats; `-o json` is not templated".into()));
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value)
        .map(|mut text| {
            text.push('\n');
            text
        })
        .map_err(|e| Error::Usage(format!("serialising the report: {e}")))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// Failing expectations and a summary line.
    Text,
    /// JUnit XML, for CI dashboards.
    Junit,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Flows with the verdict each expects: `[{from, to, port, protocol, allowed}]` (the
    /// format of `eval --flows`, plus `allowed: true|false`).
    #[arg(long, value_name = "FILE")]
    pub flows: PathBuf,
    /// The engine whose rendering is tested, or `all` (default: the values' engine).
    #[arg(long, value_parser = clap::value_parser!(EngineChoice), conflicts_with = "manifests")]
    pub engine: Option<EngineChoice>,
    /// Test these policies instead of rendering values (needs --topology).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["values", "set", "set_string"])]
    pub manifests: Option<PathBuf>,
    /// The cluster (default for values: the topology netpol derives from them).
    #[arg(long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// The CNI whose behaviour is modelled (default: the engine's own).
    #[arg(long, value_parser = clap::value_parser!(CniArg))]
    pub cni: Option<CniArg>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = TestFormat::Text)]
    pub output: TestFormat,
    /// Lay the report out with this minijinja template instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
}

/// The report and whether every expectation held.
pub fn test(args: &TestArgs, sources: &mut Sources) -> Result<(String, bool, Vec<Diagnostic>)> {
    refuse_template_for_json(args.template.as_ref(), args.output == TestFormat::Json)?;
    let read = |path: &Path| crate::input::read_path(path);
    let read_topology = |path: &Path, sources: &mut Sources| {
        crate::eval::topology::read_with_sources(&read(path)?, &path.display().to_string(), sources)
    };
    let flows_text = read(&args.flows)?;
    let flows = crate::eval::read_flows_located(&flows_text, &args.flows.display().to_string(), sources)?;
    let cni = args.cni.map(|c| c.0);
    let mut warnings = Vec::new();
    let mut engines = Vec::new();
    if let Some(path) = &args.manifests {
        let Some(topology_path) = &args.topology else {
            return Err(Error::Usage("--manifests needs --topology FILE (the cluster to test in)".into()));
        };
        let policies = crate::eval::read_policies(&read(path)?, &path.display().to_string(), cni, sources)?;
        let topology = read_topology(topology_path, sources)?;
        test::check_expectations(&flows, &topology)?;
        warnings.extend(policies.warnings.iter().cloned());
        engines.push(EngineTests::new("manifests", &policies, test::judge(&flows, &policies, &topology)));
    } else {
        if args.values.values.is_empty() {
            return Err(Error::Usage("give values (`-f FILE`) or `--manifests FILE --topology FILE`".into()));
        }
        let options = args.values.options(None, None);
        let lowered = crate::render::lower_values(&args.values.inputs(), &options, sources, &mut read_stdin)?;
        if let Some(reason) = &lowered.disabled_reason {
            return Err(Error::Usage(format!("nothing to test: {reason}")));
        }
        warnings.extend(lowered.warnings.iter().cloned());
        let topology = match &args.topology {
            Some(path) => read_topology(path, sources)?,
            None => crate::eval::derive::derive(&lowered.intent).topology,
        };
        test::check_expectations(&flows, &topology)?;
        let chosen = EngineChoice::engines(args.engine, lowered.engine);
        let several = chosen.len() > 1;
        for engine in chosen {
            match library::render_for(engine, &lowered.intent, cni) {
                Ok((rendered, engine_warnings)) => {
                    warnings.extend(engine_warnings);
                    let policies = rendered.policies;
                    let cases = test::judge(&flows, &policies, &topology);
                    engines.push(EngineTests::new(engine.as_str(), &policies, cases));
                }
                Err(e @ Error::Invalid(_)) if several => {
                    engines.push(EngineTests::not_rendered(engine.as_str(), not_rendered_reason(&e)));
                }
                Err(e) => return Err(e),
            }
        }
    }
    let report = TestReport::new(engines);
    let template = args.template.as_deref();
    let text = match args.output {
        TestFormat::Text => laid_out(templates::TEST_TEXT, &report, template, sources)?,
        TestFormat::Junit => laid_out(templates::TEST_JUNIT, &report, template, sources)?,
        TestFormat::Json => to_json(&report)?,
    };
    Ok((text, report.failed == 0, warnings))
}
