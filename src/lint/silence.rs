//! Findings a team accepts: `lint.ignore` entries in the values, and inline comments
//! (`# netpol-lint: ignore NP204 NP206 -- why`) on the finding's line or the comment line
//! just above it.

use serde::Serialize;

use super::Report;
use crate::error::{Code, Diagnostic, Error, Result};
use crate::values::Loaded;
use crate::vocab::Origin;
use crate::vocab::source::{KeyPath, Sources, path_within};

/// The marker an inline ignore comment starts with.
pub(crate) const INLINE_MARKER: &str = "netpol-lint:";

/// One `lint.ignore` entry, checked.
#[derive(Clone, Debug)]
pub(crate) struct Ignore {
    code: Code,
    path: Option<String>,
    reason: Option<String>,
    origin: Origin,
}

/// A finding that does not count, and what silenced it.
#[derive(Clone, Debug, Serialize)]
pub struct Silenced {
    pub finding: Diagnostic,
    pub by: SilencedBy,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SilencedBy {
    /// A `lint.ignore` entry of the values.
    Values {
        origin: Origin,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An inline comment in the file the finding is in.
    Comment { origin: Origin },
}

impl SilencedBy {
    pub fn origin(&self) -> &Origin {
        match self {
            SilencedBy::Values { origin, .. } | SilencedBy::Comment { origin } => origin,
        }
    }
}

/// The values' `lint.ignore` entries; an unknown rule code is an error at its line.
pub(crate) fn values_ignores(loaded: &Loaded) -> Result<Vec<Ignore>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, entry) in loaded.values.lint.ignore.iter().enumerate() {
        let at = KeyPath::default().key("lint").key("ignore").index(i);
        match super::rule_named(&entry.code) {
            Some(rule) => out.push(Ignore {
                code: rule.code,
                path: entry.path.clone().filter(|p| !p.is_empty()),
                reason: entry.reason.clone(),
                origin: loaded.origin(&at),
            }),
            None => {
                let codes: Vec<&str> = super::RULES.iter().map(|r| r.code.as_str()).collect();
                problems.push(
                    Diagnostic::new(format!("`{}` is not a lint rule code", entry.code))
                        .at(&loaded.origin(&at.key("code")))
                        .with_help(crate::values::de::suggest(&entry.code, &codes)),
                );
            }
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(Error::Invalid(problems)) }
}

/// Split findings into those that count and those an ignore or an inline comment silences.
pub(crate) fn apply(findings: Vec<Diagnostic>, ignores: &[Ignore], sources: &Sources) -> Report {
    let mut report = Report::default();
    for finding in findings {
        match silencer(&finding, ignores, sources) {
            Some(by) => report.silenced.push(Silenced { finding, by }),
            None => report.findings.push(finding),
        }
    }
    report
}

fn silencer(finding: &Diagnostic, ignores: &[Ignore], sources: &Sources) -> Option<SilencedBy> {
    let path = finding.origin.as_ref().map_or("", |o| o.path.as_str());
    if let Some(ignore) = ignores.iter().find(|i| {
        i.code == finding.code && i.path.as_deref().is_none_or(|p| path == p || path_within(path, p))
    }) {
        return Some(SilencedBy::Values { origin: ignore.origin.clone(), reason: ignore.reason.clone() });
    }
    let origin = finding.origin.as_ref()?;
    let line = usize::try_from(origin.line).ok().filter(|l| *l > 0)?;
    let on_line = sources.line(&origin.file, line).filter(|text| names_code(text, finding.code));
    let above = || {
        let number = line.checked_sub(1).filter(|l| *l > 0)?;
        let text = sources.line(&origin.file, number)?;
        (text.trim_start().starts_with('#') && names_code(text, finding.code)).then_some(number)
    };
    let at = if on_line.is_some() { Some(line) } else { above() }?;
    let column = sources
        .line(&origin.file, at)
        .and_then(|t| t.find(INLINE_MARKER))
        .map_or(1, |c| u32::try_from(c + 1).unwrap_or(1));
    Some(SilencedBy::Comment {
        origin: Origin {
            file: origin.file.clone(),
            line: u32::try_from(at).unwrap_or(0),
            column,
            path: String::new(),
        },
    })
}

/// Whether a line carries `# netpol-lint: ignore` naming `code`.
fn names_code(line: &str, code: Code) -> bool {
    let Some(comment) = line.find('#').and_then(|i| line.get(i..)) else { return false };
    let Some(rest) = comment.find(INLINE_MARKER).and_then(|i| comment.get(i + INLINE_MARKER.len()..)) else {
        return false;
    };
    let Some(codes) = rest.trim_start().strip_prefix("ignore") else { return false };
    let codes = codes.split("--").next().unwrap_or_default();
    codes.split([' ', ',', '\t']).any(|c| c.eq_ignore_ascii_case(code.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inline_comment_names_codes_until_its_reason() {
        assert!(names_code("  ports: # netpol-lint: ignore NP203", Code::IngressOpenToEveryone));
        assert!(names_code("# netpol-lint: ignore NP201, NP204 -- build pods", Code::MetadataReachable));
        assert!(!names_code("# netpol-lint: ignore NP201 -- not NP204", Code::MetadataReachable));
        assert!(!names_code("# netpol-lint: NP204", Code::MetadataReachable));
        assert!(!names_code("value: netpol-lint: ignore NP204", Code::MetadataReachable));
    }
}
