//! The review commands: `test`, `diff`, `docs` and `probe`.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::{CniArg, ValuesArgs, read_stdin};
use crate::engine::Engine;
use crate::error::{Diagnostic, Error, Result};
use crate::review::test::{self, EngineTests, TestReport};
use crate::review::{self as library, not_rendered_reason};
use crate::templates;
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

/// JSON formats are serialised, never templated: `--template` with one is a usage error.
fn refuse_template_for_json(template: Option<&PathBuf>, json: bool) -> Result<()> {
    if json && template.is_some() {
        return Err(Error::Usage("--template lays out text formats; `-o json` is not templated".into()));
    }
    Ok(())
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
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
        TestFormat::Text => templates::render(templates::TEST_TEXT, &report, template, sources)?,
        TestFormat::Junit => templates::render(templates::TEST_JUNIT, &report, template, sources)?,
        TestFormat::Json => to_json(&report)?,
    };
    Ok((text, report.failed == 0, warnings))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For a terminal (colours only on a terminal).
    Text,
    /// For a pull-request comment: long lists fold into `<details>`.
    Markdown,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The new side: values files, `--set`, and the options both sides share.
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Base values file; repeat to merge. Default: the new side's files (with `--base-set`).
    #[arg(long = "base", value_name = "FILE")]
    pub base: Vec<String>,
    /// Set a value on the base side only, as `--set` does.
    #[arg(long = "base-set", value_name = "KEY=VALUE")]
    pub base_set: Vec<String>,
    /// Set a value on the base side only, always as a string.
    #[arg(long = "base-set-string", value_name = "KEY=VALUE")]
    pub base_set_string: Vec<String>,
    /// A base that is not netpol values: policies exported from a cluster (`kubectl get
    /// networkpolicies -A -o yaml`) or another tool's output.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["base", "base_set", "base_set_string"])]
    pub base_manifests: Option<PathBuf>,
    /// The engine whose rendering is compared, or `all` (default: the values' engine).
    #[arg(long, value_parser = clap::value_parser!(EngineChoice))]
    pub engine: Option<EngineChoice>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = DiffFormat::Text)]
    pub output: DiffFormat,
    /// Lay the report out with this minijinja template instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Exit 3 when any flow becomes allowed (to require a second approval in CI).
    #[arg(long)]
    pub fail_on_widening: bool,
}

impl DiffArgs {
    fn base_inputs(&self) -> Vec<crate::values::Input> {
        use crate::values::Input;
        let files = if self.base.is_empty() { &self.values.values } else { &self.base };
        let mut inputs: Vec<Input> =
            self.values.profiles_dir.iter().cloned().map(Input::ProfilesDir).collect();
        inputs.extend(files.iter().cloned().map(Input::File));
        inputs.extend(self.base_set.iter().cloned().map(Input::Set));
        inputs.extend(self.base_set_string.iter().cloned().map(Input::SetString));
        inputs
    }
}

/// The report and whether it may pass (no widening, or widening allowed).
pub fn diff(args: &DiffArgs, color: bool, sources: &mut Sources) -> Result<(String, bool, Vec<Diagnostic>)> {
    use crate::review::diff::{self as compare, Side};
    refuse_template_for_json(args.template.as_ref(), args.output == DiffFormat::Json)?;
    if args.values.values.is_empty() {
        return Err(Error::Usage("give the new values (`-f FILE`)".into()));
    }
    if args.base.is_empty()
        && args.base_set.is_empty()
        && args.base_set_string.is_empty()
        && args.base_manifests.is_none()
    {
        return Err(Error::Usage(
            "give the base: `--base FILE`, `--base-set KEY=VALUE` or `--base-manifests FILE`".into(),
        ));
    }
    let stdin_sides =
        [&args.values.values, &args.base].iter().filter(|files| files.iter().any(|f| f == "-")).count();
    if stdin_sides > 1 || (args.base.is_empty() && args.base_manifests.is_none() && stdin_sides > 0) {
        return Err(Error::Usage("standard input (`-`) can be one side's values, not both".into()));
    }
    let options = args.values.options(None, None);
    let new = crate::render::lower_values(&args.values.inputs(), &options, sources, &mut read_stdin)?;
    let base = match &args.base_manifests {
        Some(_) => None,
        None => Some(crate::render::lower_values(&args.base_inputs(), &options, sources, &mut read_stdin)?),
    };
    for lowered in std::iter::once(&new).chain(&base) {
        if let Some(reason) = &lowered.disabled_reason {
            return Err(Error::Usage(format!("nothing to compare: {reason}")));
        }
    }
    let mut warnings: Vec<Diagnostic> = new.warnings.clone();
    let derived = match &base {
        Some(base) => crate::eval::derive::derive_all(&[&new.intent, &base.intent]),
        None => crate::eval::derive::derive(&new.intent),
    };
    let base_manifests = match &args.base_manifests {
        Some(path) => {
            let text = crate::input::read_path(path)?;
            let name = path.display().to_string();
            let objects = crate::eval::manifests::read_objects_with_sources(&text, &name, sources)?;
            Some((text, name, objects))
        }
        None => None,
    };
    let chosen = EngineChoice::engines(args.engine, new.engine);
    let several = chosen.len() > 1;
    let mut engines = Vec::new();
    for engine in chosen {
        let compared = (|| {
            let (after, engine_warnings) = library::render_for(engine, &new.intent, None)?;
            warnings.extend(engine_warnings);
            match (&base, &base_manifests) {
                (Some(base), _) => {
                    let (before, _) = library::render_for(engine, &base.intent, None)?;
                    let old = Side { objects: &before.objects, policies: &before.policies };
                    let now = Side { objects: &after.objects, policies: &after.policies };
                    compare::diff_engine(engine.as_str(), &old, &now, &derived)
                }
                (None, Some((text, name, objects))) => {
                    let cni = Some(after.policies.cni);
                    let policies = crate::eval::read_policies(text, name, cni, sources)?;
                    let old = Side { objects, policies: &policies };
                    let now = Side { objects: &after.objects, policies: &after.policies };
                    compare::diff_engine(engine.as_str(), &old, &now, &derived)
                }
                (None, None) => Err(Error::Usage("no base to compare with".into())),
            }
        })();
        match compared {
            Ok(diff) => engines.push(diff),
            Err(e @ Error::Invalid(_)) if several => {
                engines.push(compare::not_rendered(engine.as_str(), not_rendered_reason(&e)));
            }
            Err(e) => return Err(e),
        }
    }
    let report = compare::report(engines, color && args.output == DiffFormat::Text);
    let template = args.template.as_deref();
    let text = match args.output {
        DiffFormat::Text => templates::render(templates::DIFF_TEXT, &report, template, sources)?,
        DiffFormat::Markdown => templates::render(templates::DIFF_MARKDOWN, &report, template, sources)?,
        DiffFormat::Json => to_json(&report)?,
    };
    Ok((text, !(args.fail_on_widening && report.widening), warnings))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DocsFormat {
    /// Tables per namespace and a Mermaid diagram.
    Markdown,
    /// One self-contained page.
    Html,
    /// Graphviz.
    Dot,
    /// The Mermaid flowchart alone.
    Mermaid,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct DocsArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// The engine the page says the values render for (default: the values'); every engine
    /// is asked what it cannot express.
    #[arg(long, value_parser = clap::value_parser!(super::EngineArg))]
    pub engine: Option<super::EngineArg>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = DocsFormat::Markdown)]
    pub output: DocsFormat,
    /// Lay the page out with this minijinja template instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
}

pub fn docs(args: &DocsArgs, sources: &mut Sources) -> Result<(String, Vec<Diagnostic>)> {
    refuse_template_for_json(args.template.as_ref(), args.output == DocsFormat::Json)?;
    if args.values.values.is_empty() {
        return Err(Error::Usage("give values (`-f FILE`)".into()));
    }
    let options = args.values.options(args.engine.map(|e| e.0), None);
    let lowered = crate::render::lower_values(&args.values.inputs(), &options, sources, &mut read_stdin)?;
    if let Some(reason) = &lowered.disabled_reason {
        return Err(Error::Usage(format!("nothing to document: {reason}")));
    }
    let report = crate::review::docs::document(&lowered.intent, lowered.engine, &Engine::ALL);
    let template = args.template.as_deref();
    let text = match args.output {
        DocsFormat::Markdown => templates::render(templates::DOCS_MARKDOWN, &report, template, sources)?,
        DocsFormat::Html => templates::render(templates::DOCS_HTML, &report, template, sources)?,
        DocsFormat::Dot => templates::render(templates::DOCS_DOT, &report, template, sources)?,
        DocsFormat::Mermaid => templates::render(templates::DOCS_MERMAID, &report, template, sources)?,
        DocsFormat::Json => to_json(&report)?,
    };
    Ok((text, lowered.warnings))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProbeFormat {
    /// A POSIX shell script that runs `kubectl exec` (or `kubectl debug`).
    Script,
    /// The same script as a Kubernetes Job, with its ServiceAccount, RBAC and ConfigMap.
    Job,
}

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// The engine whose rendering the cluster enforces (default: the values').
    #[arg(long, value_parser = clap::value_parser!(super::EngineArg))]
    pub engine: Option<super::EngineArg>,
    /// Output: a script, or a Job that runs it in the cluster.
    #[arg(short = 'o', long, value_enum, default_value_t = ProbeFormat::Script)]
    pub output: ProbeFormat,
    /// Image of the ephemeral container for pods without `nc` (`kubectl debug`).
    #[arg(long, value_name = "IMAGE", default_value = "busybox:1.36")]
    pub image: String,
    /// Seconds each connection may take before it counts as blocked.
    #[arg(long, value_name = "SECONDS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=300))]
    pub timeout: u32,
    /// An internet address that answers on 443/TCP, for the internet probes.
    #[arg(long, value_name = "ADDRESS", default_value = "1.1.1.1")]
    pub internet_address: String,
    /// With `-o job`: the namespace of the Job.
    #[arg(long, value_name = "NAMESPACE", default_value = "default")]
    pub job_namespace: String,
    /// With `-o job`: an image with `sh` and `kubectl`.
    #[arg(long, value_name = "IMAGE", default_value = "alpine/k8s:1.35.0")]
    pub kubectl_image: String,
    /// Lay the script out with this minijinja template instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
}

pub fn probe(args: &ProbeArgs, sources: &mut Sources) -> Result<(String, Vec<Diagnostic>)> {
    use crate::review::probe::{JobOptions, ProbeOptions};
    if args.values.values.is_empty() {
        return Err(Error::Usage("give values (`-f FILE`)".into()));
    }
    if args.internet_address.parse::<std::net::IpAddr>().is_err() {
        return Err(Error::Usage(format!(
            "--internet-address `{}` is not an IP address",
            args.internet_address
        )));
    }
    let options = args.values.options(args.engine.map(|e| e.0), None);
    let lowered = crate::render::lower_values(&args.values.inputs(), &options, sources, &mut read_stdin)?;
    if let Some(reason) = &lowered.disabled_reason {
        return Err(Error::Usage(format!("nothing to probe: {reason}")));
    }
    let mut warnings = lowered.warnings.clone();
    let (rendered, engine_warnings) = library::render_for(lowered.engine, &lowered.intent, None)?;
    warnings.extend(engine_warnings);
    let probe_options = ProbeOptions {
        image: args.image.clone(),
        timeout: args.timeout,
        internet_address: args.internet_address.clone(),
    };
    let report =
        crate::review::probe::plan(&lowered.intent, &rendered.policies, lowered.engine, probe_options);
    let script = templates::render(templates::PROBE_SCRIPT, &report, args.template.as_deref(), sources)?;
    let text = match args.output {
        ProbeFormat::Script => script,
        ProbeFormat::Job => crate::review::probe::job_manifests(
            &script,
            &JobOptions { namespace: args.job_namespace.clone(), kubectl_image: args.kubectl_image.clone() },
        )?,
    };
    Ok((text, warnings))
}
