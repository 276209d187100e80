//! Lint findings as SARIF 2.1.0, the format code-scanning tools read to show findings inline
//! in pull requests. Silenced findings are included with a `suppressions` entry, as the
//! standard asks, so that a reviewer sees what was accepted.

use serde::Serialize;

use super::{RULES, Report, SilencedBy};
use crate::error::{Diagnostic, Severity};
use crate::vocab::Origin;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

#[derive(Serialize)]
pub struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Serialize)]
struct Run {
    tool: Tool,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    id: &'static str,
    name: &'static str,
    short_description: Message,
    help_uri: String,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    level: &'static str,
    message: Message,
    locations: Vec<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<PhysicalLocation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<LogicalLocation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
    start_column: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    fully_qualified_name: String,
}

#[derive(Serialize)]
struct Suppression {
    /// `inSource` for a comment in the file, `external` for a `lint.ignore` entry.
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    justification: Option<String>,
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// The README section that documents a rule.
fn help_uri(code: &str) -> String {
    format!("https://github.com/netpol/netpol#{}", code.to_ascii_lowercase())
}

fn location(origin: &Origin) -> Location {
    // A `--set` flag has no lines, and a built-in profile (`profile:NAME`) is no file of the
    // repository: only the key path can be given for them.
    let in_a_file = origin.line > 0 && !origin.file.starts_with("profile:");
    let physical = in_a_file.then(|| PhysicalLocation {
        artifact_location: ArtifactLocation { uri: origin.file.replace('\\', "/") },
        region: Some(Region { start_line: origin.line, start_column: origin.column.max(1) }),
    });
    let logical = if origin.path.is_empty() {
        Vec::new()
    } else {
        vec![LogicalLocation { fully_qualified_name: origin.path.clone() }]
    };
    Location { physical_location: physical, logical_locations: logical }
}

fn result(d: &Diagnostic, suppressions: Vec<Suppression>) -> SarifResult {
    let text = match &d.help {
        Some(help) => format!("{} (help: {help})", d.message),
        None => d.message.clone(),
    };
    SarifResult {
        rule_id: d.code.as_str(),
        rule_index: RULES.iter().position(|r| r.code == d.code),
        level: level(d.severity),
        message: Message { text },
        locations: d.origin.as_ref().map(location).into_iter().collect(),
        related_locations: d.related().iter().map(location).collect(),
        suppressions,
    }
}

/// The report as one SARIF log with one run.
pub fn log(report: &Report) -> Log {
    let rules = RULES
        .iter()
        .map(|r| Descriptor {
            id: r.code.as_str(),
            name: r.name,
            short_description: Message { text: r.summary.to_string() },
            help_uri: help_uri(r.code.as_str()),
            default_configuration: Configuration { level: level(r.severity) },
        })
        .collect();
    let mut results: Vec<SarifResult> = report.findings.iter().map(|d| result(d, Vec::new())).collect();
    results.extend(report.silenced.iter().map(|s| {
        let suppression = match &s.by {
            SilencedBy::Values { reason, origin } => Suppression {
                kind: "external",
                justification: Some(reason.clone().unwrap_or_else(|| format!("lint.ignore at {origin}"))),
            },
            SilencedBy::Comment { origin } => {
                Suppression { kind: "inSource", justification: Some(format!("comment at {origin}")) }
            }
        };
        result(&s.finding, vec![suppression])
    }));
    Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "netpol",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: "https://github.com/netpol/netpol",
                    rules,
                },
            },
            results,
        }],
    }
}
