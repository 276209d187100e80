//! The command line: clap definitions, and `run`, which maps a parsed command to the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

pub mod analyse;
pub mod lint;
pub mod review;
pub mod shell;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diag;
use crate::emit;
use crate::engine::Engine;
use crate::error::{Diagnostic, Error};
use crate::intent::lower::LowerOptions;
use crate::render;
use crate::values::Input;
use crate::vocab::source::Sources;

#[derive(Debug, Parser)]
#[command(
    name = "netpol",
    version,
    about = "Render one values file into network policies for Kubernetes, Cilium, Calico or ClusterNetworkPolicy, and explain and prove what they allow"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How errors and warnings are printed on stderr (every subcommand).
    #[arg(long, global = true, value_enum, default_value_t = ErrorFormat::Human)]
    pub error_format: ErrorFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render values into manifests (YAML on stdout by default).
    Render(RenderArgs),
    /// List the built-in namespace profiles (`namespaces.<ns>.profile`), or show one as values.
    Profiles(shell::ProfilesArgs),
    /// Print a shell completion script: `netpol completions bash > /etc/bash_completion.d/netpol`.
    Completions(shell::CompletionsArgs),
    /// Write man pages, one per command, into a directory.
    Man(shell::ManArgs),
    /// Print the JSON Schema (draft 2020-12) of the values file, for editors and CI.
    Schema,
    /// Judge flows against policies you already run, in a topology you describe.
    Eval(EvalArgs),
    /// Why is this flow allowed or blocked? Every object and rule that decided, in order.
    Explain(analyse::ExplainArgs),
    /// The reachability matrix of a topology: a table, CSV or JSON.
    Matrix(analyse::MatrixArgs),
    /// Render every engine and list every flow where one disagrees with the intent.
    Check(analyse::CheckArgs),
    /// Mistakes that render without error: missing default-deny, open internet, metadata
    /// reachable, half connections, … in values or in policies netpol did not write.
    Lint(lint::LintArgs),
    /// Print the topology (or the flows) netpol derives from values.
    Topology(analyse::TopologyArgs),
    /// Judge flows that say what they expect (`allowed: true|false`); exit 3 when one fails.
    Test(review::TestArgs),
    /// What traffic a change allows or denies that the base did not, then which objects changed.
    Diff(review::DiffArgs),
    /// Who may reach whom, per namespace: Markdown tables and a diagram, HTML or Graphviz.
    Docs(review::DocsArgs),
    /// A script (or Job) that tries real connections on the live cluster: enforcement first,
    /// then one allowed and one denied flow per rule of each workload.
    Probe(review::ProbeArgs),
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Policies: multi-document YAML or a `List` (YAML or JSON).
    #[arg(long, value_name = "FILE")]
    pub manifests: PathBuf,
    /// The cluster: `namespaces: [{name, labels}]`, `pods: [{namespace, name, labels, ip, ports}]`.
    #[arg(long, value_name = "FILE")]
    pub topology: PathBuf,
    /// A YAML list of `{from, to, port, protocol}`; `from`/`to` are `namespace/pod`,
    /// `ip:ADDRESS`, `node:NAME`, `apiserver` or `dns:NAME`. Default: every pod pair on every
    /// port of the destination pod.
    #[arg(long, value_name = "FILE")]
    pub flows: Option<PathBuf>,
    /// Output format of the judged flows.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Yaml)]
    pub output: OutputFormat,
    /// The CNI whose behaviour decides what Kubernetes leaves open (does an ipBlock match pod
    /// IPs?). Default: inferred from the policy kinds, else `kubernetes`.
    #[arg(long, value_parser = clap::value_parser!(CniArg))]
    pub cni: Option<CniArg>,
}

/// `--cni` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CniArg(pub crate::eval::Cni);

impl ValueEnum for CniArg {
    fn value_variants<'a>() -> &'a [Self] {
        use crate::eval::Cni;
        &[CniArg(Cni::Kubernetes), CniArg(Cni::Cilium), CniArg(Cni::Calico)]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.as_str()))
    }
}

/// Where values come from: files, `--set`, and the Helm-like release and namespace.
#[derive(Debug, Default, clap::Args)]
pub struct ValuesArgs {
    /// Values file; repeat to merge (later files win, as in Helm). `-` reads standard input.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<String>,
    /// Set a value: `a.b=c`, `list[0].x=1`, `a={x,y}`; typed like Helm (numbers, true/false, null).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Set a value, always as a string.
    #[arg(long = "set-string", value_name = "KEY=VALUE")]
    pub set_string: Vec<String>,
    /// Namespace of chart-shape values and of workloads without one (as `helm template -n`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Release name; overrides `release:` in the values.
    #[arg(long)]
    pub release: Option<String>,
    /// Render guardrails an engine can only approximate (kubernetes) with a warning instead of failing.
    #[arg(long)]
    pub accept_weaker_guardrails: bool,
    /// A directory of your own namespace profiles (`NAME.yaml`); repeatable. `netpol profiles
    /// --profiles-dir DIR` lists them. A name a built-in profile has is an error.
    #[arg(long = "profiles-dir", value_name = "DIR")]
    pub profiles_dir: Vec<String>,
}

impl ValuesArgs {
    pub fn inputs(&self) -> Vec<Input> {
        let mut inputs: Vec<Input> = self.profiles_dir.iter().cloned().map(Input::ProfilesDir).collect();
        inputs.extend(self.values.iter().cloned().map(Input::File));
        inputs.extend(self.set.iter().cloned().map(Input::Set));
        inputs.extend(self.set_string.iter().cloned().map(Input::SetString));
        inputs
    }

    pub fn options(&self, engine: Option<Engine>, release: Option<String>) -> LowerOptions {
        LowerOptions {
            engine,
            namespace: self.namespace.clone(),
            release: release.or_else(|| self.release.clone()),
            accept_weaker_guardrails: self.accept_weaker_guardrails,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Release name, as in `helm template NAME` (same as --release).
    #[arg(value_name = "RELEASE")]
    pub release_positional: Option<String>,
    #[command(flatten)]
    pub values: ValuesArgs,
    /// The engine to render for; overrides the values.
    #[arg(long, value_parser = clap::value_parser!(EngineArg))]
    pub engine: Option<EngineArg>,
    /// Output format on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Yaml)]
    pub output: OutputFormat,
    /// Write one file per object plus kustomization.yaml into DIR (replaced atomically).
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub output_dir: Option<PathBuf>,
    /// With --output-dir: render into a directory that also holds files netpol did not write,
    /// replacing only netpol's own files (hidden files and everything else stay untouched).
    #[arg(long, requires = "output_dir")]
    pub force: bool,
    /// Treat every warning as an error: exit 1, nothing on stdout, nothing written (for CI).
    #[arg(long)]
    pub strict: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Yaml,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ErrorFormat {
    Human,
    Json,
}

/// `--engine` values, spelled as in values files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineArg(pub Engine);

impl ValueEnum for EngineArg {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            EngineArg(Engine::Kubernetes),
            EngineArg(Engine::Cilium),
            EngineArg(Engine::Calico),
            EngineArg(Engine::ClusterNetworkPolicy),
        ]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.as_str()).aliases(self.0.aliases().iter().copied()))
    }
}

/// Run a parsed command; returns the process exit code. Only this function writes to the
/// standard streams, and stdout only after everything succeeded.
pub fn run(cli: Cli) -> i32 {
    let format = cli.error_format;
    match cli.command {
        Command::Render(args) => run_render(args, format),
        Command::Eval(args) => run_eval(&args, format),
        Command::Explain(args) => print_result(|s| analyse::explain(&args, s), format),
        Command::Matrix(args) => {
            print_streamed(|s| analyse::matrix(&args, s), |m, out| args.write(m, out), format)
        }
        Command::Topology(args) => {
            print_streamed(|s| analyse::derived_topology(&args, s), |t, out| t.write(out), format)
        }
        Command::Check(args) => {
            let color = std::io::stderr().is_terminal();
            let mut sources = Sources::default();
            match analyse::check(&args, &mut sources) {
                Ok((text, clean)) => match write_stdout(&text) {
                    Ok(()) if clean => 0,
                    Ok(()) => DIFFERENCES_EXIT,
                    Err(e) => report(&e, &sources, format, color),
                },
                Err(e) => report(&e, &sources, format, color),
            }
        }
        Command::Diff(args) => {
            let color = std::io::stdout().is_terminal();
            print_verdict(|s| review::diff(&args, color, s), format)
        }
        Command::Docs(args) => print_result(|s| review::docs(&args, s), format),
        Command::Lint(args) => {
            let color = std::io::stdout().is_terminal();
            let mut sources = Sources::default();
            match lint::lint(&args, color, &mut sources) {
                Ok((text, failed, warnings)) => {
                    print_diagnostics(&warnings, &sources, format, std::io::stderr().is_terminal());
                    match write_stdout(&text) {
                        Ok(()) => i32::from(failed),
                        Err(e) => report(&e, &sources, format, color),
                    }
                }
                Err(e) => report(&e, &sources, format, std::io::stderr().is_terminal()),
            }
        }
        Command::Probe(args) => print_result(|s| review::probe(&args, s), format),
        Command::Test(args) => print_verdict(|s| review::test(&args, s), format),
        Command::Profiles(args) => {
            let mut sources = Sources::default();
            match shell::profiles(&args, &mut sources).and_then(|text| write_stdout(&text)) {
                Ok(()) => 0,
                Err(e) => report(&e, &sources, format, std::io::stderr().is_terminal()),
            }
        }
        Command::Schema => match write_stdout(&crate::values::schema::values_schema()) {
            Ok(()) => 0,
            Err(e) => report(&e, &Sources::default(), format, false),
        },
        Command::Completions(args) => match write_stdout(&shell::completions(&args)) {
            Ok(()) => 0,
            Err(e) => report(&e, &Sources::default(), format, false),
        },
        Command::Man(args) => match shell::man(&args) {
            Ok(pages) => {
                write_stderr(&format!("netpol: wrote {} man pages into {}", pages.len(), args.dir.display()));
                0
            }
            Err(e) => report(&e, &Sources::default(), format, std::io::stderr().is_terminal()),
        },
    }
}

fn run_render(args: RenderArgs, format: ErrorFormat) -> i32 {
    let color = std::io::stderr().is_terminal();
    let mut sources = Sources::default();
    if args.values.values.is_empty() && args.values.set.is_empty() && args.values.set_string.is_empty() {
        return report(
            &Error::Usage(
                "the values are missing: give `-f FILE` (`-f -` reads stdin) or `--set KEY=VALUE`".into(),
            ),
            &sources,
            format,
            color,
        );
    }
    let release = match (&args.values.release, &args.release_positional) {
        (Some(a), Some(b)) if a != b => {
            return report(
                &Error::Usage(format!("release given twice: `{b}` and --release `{a}`")),
                &sources,
                format,
                color,
            );
        }
        (a, b) => a.clone().or_else(|| b.clone()),
    };
    let inputs = args.values.inputs();
    let options = args.values.options(args.engine.map(|e| e.0), release);
    let mut read_stdin = read_stdin;
    let output = match render::render(&inputs, &options, &mut sources, &mut read_stdin) {
        Ok(output) => output,
        Err(e) => return report(&e, &sources, format, color),
    };
    if args.strict && !output.warnings.is_empty() {
        let errors: Vec<Diagnostic> = output.warnings.iter().cloned().map(Diagnostic::into_error).collect();
        return report(&Error::Invalid(errors), &sources, format, color);
    }
    print_diagnostics(&output.warnings, &sources, format, color);
    if let Some(reason) = &output.disabled_reason {
        write_stderr(&format!("netpol: {reason}"));
        return 0;
    }
    if output.manifests.is_empty() {
        // Not an error (an empty policy set is valid), but never a silent empty success.
        write_stderr("netpol: the values declare no policies: nothing to render");
    }
    let written = match &args.output_dir {
        Some(dir) => {
            let foreign =
                if args.force { emit::output_dir::Foreign::Keep } else { emit::output_dir::Foreign::Refuse };
            emit::to_files(&output.manifests, &output.header)
                .and_then(|files| emit::write_dir(dir, &files, foreign))
        }
        None => {
            let stdout_error = |source| Error::Io { path: "<stdout>".into(), source };
            match args.output {
                // Everything that can fail has been checked: the objects are final text.
                OutputFormat::Yaml => {
                    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
                    emit::write_yaml(&output.manifests, &output.header, &mut stdout)
                        .and_then(|()| stdout.flush())
                        .map_err(stdout_error)
                }
                OutputFormat::Json => emit::to_json(&output.manifests).and_then(|t| {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(t.as_bytes()).and_then(|()| stdout.flush()).map_err(stdout_error)
                }),
            }
        }
    };
    let code = match written {
        Ok(()) => 0,
        Err(e) => report(&e, &sources, format, color),
    };
    // The process exits next and the OS reclaims everything at once; freeing a 10,000-workload
    // render node by node would cost a third of the run.
    std::mem::forget(output);
    std::mem::forget(sources);
    code
}

/// Exit code of `netpol check` when an engine disagrees with the intent (1 and 2 are bad
/// input and bad usage).
pub(crate) const DIFFERENCES_EXIT: i32 = 3;

/// Print a command's text on stdout, its warnings on stderr; or only the error.
fn print_result(
    command: impl FnOnce(&mut Sources) -> crate::error::Result<(String, Vec<Diagnostic>)>,
    format: ErrorFormat,
) -> i32 {
    print_streamed(command, |text, out| out.write_all(text.as_bytes()), format)
}

/// Like [`print_result`], for output too big to build in memory: `write` streams it to
/// standard output through a buffer.
fn print_streamed<T>(
    command: impl FnOnce(&mut Sources) -> crate::error::Result<(T, Vec<Diagnostic>)>,
    write: impl FnOnce(&T, &mut dyn Write) -> std::io::Result<()>,
    format: ErrorFormat,
) -> i32 {
    let color = std::io::stderr().is_terminal();
    let mut sources = Sources::default();
    match command(&mut sources) {
        Ok((value, warnings)) => {
            print_diagnostics(&warnings, &sources, format, color);
            let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            let written = write(&value, &mut stdout).and_then(|()| stdout.flush());
            match written {
                Ok(()) => 0,
                Err(source) => {
                    report(&Error::Io { path: "<stdout>".into(), source }, &sources, format, color)
                }
            }
        }
        Err(e) => report(&e, &sources, format, color),
    }
}

/// Print a command's text on stdout and its warnings on stderr; exit 3 when the command's
/// verdict is negative (a failed expectation, a widening diff), or print only the error.
fn print_verdict(
    command: impl FnOnce(&mut Sources) -> crate::error::Result<(String, bool, Vec<Diagnostic>)>,
    format: ErrorFormat,
) -> i32 {
    let mut verdict = true;
    let code = print_result(
        |s| {
            let (text, good, warnings) = command(s)?;
            verdict = good;
            Ok((text, warnings))
        },
        format,
    );
    if code == 0 && !verdict { DIFFERENCES_EXIT } else { code }
}

/// Standard input, read once per call.
pub(crate) fn read_stdin() -> std::io::Result<String> {
    crate::input::read_bounded(std::io::stdin(), "<stdin>")
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

fn run_eval(args: &EvalArgs, error_format: ErrorFormat) -> i32 {
    let format = error_format;
    let color = std::io::stderr().is_terminal();
    let mut sources = Sources::default();
    let read = |path: &PathBuf| crate::input::read_path(path);
    let prepared = (|| {
        let manifests = read(&args.manifests)?;
        let topology = crate::eval::topology::read_with_sources(
            &read(&args.topology)?,
            &args.topology.display().to_string(),
            &mut sources,
        )?;
        let flows = match &args.flows {
            Some(path) => {
                let flows = crate::eval::read_flows_with_sources(
                    &read(path)?,
                    &path.display().to_string(),
                    &mut sources,
                )?;
                // Every flow resolves before the first is written: an error leaves no half list.
                crate::eval::resolve_all(&topology, &flows)?;
                Some(flows)
            }
            None => None,
        };
        let policies = crate::eval::read_policies(
            &manifests,
            &args.manifests.display().to_string(),
            args.cni.map(|c| c.0),
            &mut sources,
        )?;
        Ok::<_, Error>((topology, flows, policies))
    })();
    let (topology, flows, policies) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => return report(&e, &sources, format, color),
    };
    print_diagnostics(&policies.warnings, &sources, format, color);
    let list_format = match args.output {
        OutputFormat::Yaml => crate::emit::list::ListFormat::Yaml,
        OutputFormat::Json => crate::emit::list::ListFormat::Json,
    };
    // Judged and written one flow at a time: every pod pair of a large topology is millions.
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut list = crate::emit::list::ListWriter::new(list_format);
    // Flows that carry `allowed:` are expectations, as in `netpol test`.
    let (mut expected, mut failed) = (0usize, 0usize);
    let mut write_one = |spec: &crate::eval::FlowSpec, out: &mut dyn Write| match crate::eval::judge_one(
        &policies, &topology, spec,
    ) {
        Some(judged) => {
            if let Some(want) = judged.expected {
                expected += 1;
                failed += usize::from(want != judged.allowed);
            }
            list.item(out, &judged)
        }
        None => Ok(()),
    };
    let written = match &flows {
        Some(flows) => flows.iter().try_for_each(|spec| write_one(spec, &mut stdout)),
        None => crate::eval::each_pod_pair_flow(&topology, |spec| write_one(&spec, &mut stdout)),
    }
    .and_then(|()| list.finish(&mut stdout))
    .and_then(|()| stdout.flush());
    match written {
        Ok(()) if failed > 0 => {
            write_stderr(&format!(
                "netpol: {failed} of {expected} expectations failed (`allowed:` in the flows)"
            ));
            DIFFERENCES_EXIT
        }
        Ok(()) => 0,
        Err(source) => report(&Error::Io { path: "<stdout>".into(), source }, &sources, format, color),
    }
}

fn print_diagnostics(diagnostics: &[Diagnostic], sources: &Sources, format: ErrorFormat, color: bool) {
    if diagnostics.is_empty() {
        return;
    }
    match format {
        ErrorFormat::Human => {
            for d in diagnostics {
                write_stderr(&diag::human(d, Some(sources), color));
            }
        }
        ErrorFormat::Json => write_stderr(&diag::json(diagnostics)),
    }
}

fn report(error: &Error, sources: &Sources, format: ErrorFormat, color: bool) -> i32 {
    // A reader that went away (`| head -1`) is not an error worth a word: stop quietly with
    // the status a shell reports for SIGPIPE, as git does.
    if error.is_closed_pipe() {
        return CLOSED_PIPE_EXIT;
    }
    print_diagnostics(&error.diagnostics(), sources, format, color);
    error.exit_code()
}

/// Exit status when standard output's reader has gone away: 128 + SIGPIPE.
pub(crate) const CLOSED_PIPE_EXIT: i32 = 141;

/// Write a command's whole text to standard output; failures (a closed pipe, a full device)
/// come back as errors instead of the panic `print!` would raise.
fn write_stdout(text: &str) -> crate::error::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Io { path: "<stdout>".into(), source })
}

/// One line on standard error. A standard error nobody can read must not turn a successful
/// run into a crash, so a failure here is ignored.
fn write_stderr(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(line.as_bytes()).and_then(|()| stderr.write_all(b"\n"));
}
