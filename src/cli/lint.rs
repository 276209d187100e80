//! `netpol lint`: values or foreign manifests in, findings out as text, JSON or SARIF.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::Serialize;

use super::{CniArg, ValuesArgs, read_stdin};
use crate::error::{Diagnostic, Error, Result, Severity};
use crate::lint::{Report, SilencedBy};
use crate::templates;
use crate::vocab::source::Sources;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// Each finding with its source line, then a summary.
    Text,
    /// `{findings, silenced, summary}`.
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

/// What `--deny` turns into errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DenyLevel {
    /// Every warning counts as an error (exit 1).
    Warnings,
}

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Lint these policies (any kind the evaluator reads) instead of values.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["values", "set", "set_string"])]
    pub manifests: Option<PathBuf>,
    /// The cluster as it is: selectors that select no pod of it are reported, and manifests
    /// are judged on it (default: a topology made from the values or the objects).
    #[arg(long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// The CNI that enforces the manifests (default: inferred from their kinds).
    #[arg(long, value_parser = clap::value_parser!(CniArg))]
    pub cni: Option<CniArg>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = LintFormat::Text)]
    pub output: LintFormat,
    /// `--deny warnings`: warnings fail the run too.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub deny: Vec<DenyLevel>,
    /// Lay the text report out with this minijinja template instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
}

/// The text context: each finding already rendered as a snippet.
#[derive(Serialize)]
struct TextContext {
    findings: Vec<TextFinding>,
    silenced: Vec<TextSilenced>,
    errors: usize,
    warnings: usize,
    notes: usize,
}

#[derive(Serialize)]
struct TextFinding {
    code: &'static str,
    severity: Severity,
    message: String,
    /// The finding as `render` prints problems: source line, key path, help.
    rendered: String,
}

#[derive(Serialize)]
struct TextSilenced {
    code: &'static str,
    message: String,
    /// `file:line:column` of the finding.
    at: String,
    /// `lint.ignore at …` or `comment at …`.
    by: String,
    reason: Option<String>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    findings: &'a [Diagnostic],
    silenced: &'a [crate::lint::Silenced],
    summary: Summary,
}

#[derive(Serialize)]
struct Summary {
    errors: usize,
    warnings: usize,
    notes: usize,
    silenced: usize,
}

/// The report's text and whether it fails the run (an error-level finding remains), plus
/// warnings about the inputs themselves.
pub fn lint(args: &LintArgs, color: bool, sources: &mut Sources) -> Result<(String, bool, Vec<Diagnostic>)> {
    if args.template.is_some() && args.output != LintFormat::Text {
        return Err(Error::Usage("--template lays out `-o text`; JSON and SARIF are not templated".into()));
    }
    if args.cni.is_some() && args.manifests.is_none() {
        return Err(Error::Usage(
            "--cni applies to --manifests; values are judged by their own meaning".into(),
        ));
    }
    let read = |path: &Path| crate::input::read_path(path);
    let topology = match &args.topology {
        Some(path) => Some(crate::eval::topology::read_with_sources(
            &read(path)?,
            &path.display().to_string(),
            sources,
        )?),
        None => None,
    };
    let mut input_warnings = Vec::new();
    let mut report = if let Some(path) = &args.manifests {
        let name = path.display().to_string();
        let text = read(path)?;
        let (objects, set) =
            crate::eval::manifests::read_objects_and_policies(&text, &name, args.cni.map(|c| c.0), sources)?;
        // What reading the objects noticed (an unknown field) is said, as `eval` says it.
        input_warnings.extend(set.warnings.iter().cloned());
        crate::lint::lint_manifests(&objects, &set, &text, &name, topology.as_ref(), sources)?
    } else {
        if args.values.values.is_empty() {
            return Err(Error::Usage("give values (`-f FILE`) or `--manifests FILE`".into()));
        }
        let options = args.values.options(None, None);
        let (loaded, lowered) =
            crate::render::load_and_lower(&args.values.inputs(), &options, sources, &mut read_stdin)?;
        if let Some(reason) = &lowered.disabled_reason {
            return Err(Error::Usage(format!("nothing to lint: {reason}")));
        }
        input_warnings
            .extend(lowered.warnings.iter().filter(|d| d.code != crate::error::Code::Suspicious).cloned());
        crate::lint::lint_values(&loaded, &lowered, topology.as_ref(), sources)?
    };
    if args.deny.contains(&DenyLevel::Warnings) {
        report.deny_warnings();
    }
    let failed = report.count(Severity::Error) > 0;
    let text = match args.output {
        LintFormat::Json => super::review::to_json(&JsonReport {
            findings: &report.findings,
            silenced: &report.silenced,
            summary: summary(&report),
        })?,
        LintFormat::Sarif => super::review::to_json(&crate::lint::sarif::log(&report))?,
        LintFormat::Text => {
            let context = text_context(&report, sources, color);
            templates::render(templates::LINT_TEXT, &context, args.template.as_deref(), sources)?
        }
    };
    Ok((text, failed, input_warnings))
}

fn summary(report: &Report) -> Summary {
    Summary {
        errors: report.count(Severity::Error),
        warnings: report.count(Severity::Warning),
        notes: report.count(Severity::Note),
        silenced: report.silenced.len(),
    }
}

/// `file:line:column`, without the key path.
fn position(origin: &crate::vocab::Origin) -> String {
    format!("{}:{}:{}", origin.file, origin.line, origin.column)
}

fn text_context(report: &Report, sources: &Sources, color: bool) -> TextContext {
    let findings = report
        .findings
        .iter()
        .map(|d| TextFinding {
            code: d.code.as_str(),
            severity: d.severity,
            message: d.message.clone(),
            rendered: crate::diag::human(d, Some(sources), color).trim_end().to_string(),
        })
        .collect();
    let silenced = report
        .silenced
        .iter()
        .map(|s| TextSilenced {
            code: s.finding.code.as_str(),
            message: s.finding.message.clone(),
            at: s.finding.origin.as_ref().map(position).unwrap_or_default(),
            by: match &s.by {
                SilencedBy::Values { origin, .. } => format!("lint.ignore at {}", position(origin)),
                SilencedBy::Comment { origin } => format!("comment at {}", position(origin)),
            },
            reason: match &s.by {
                SilencedBy::Values { reason, .. } => reason.clone(),
                SilencedBy::Comment { .. } => None,
            },
        })
        .collect();
    let Summary { errors, warnings, notes, .. } = summary(report);
    TextContext { findings, silenced, errors, warnings, notes }
}
