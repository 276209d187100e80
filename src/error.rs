//! The library's error type and its one diagnostic model (rendered for humans or as JSON).

use std::path::PathBuf;

use serde::Serialize;

use crate::intent::Origin;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The values (or a flag value derived from them) are wrong: exit code 1.
    #[error("{}", .0.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Diagnostic>),
    /// The command line is wrong: exit code 2.
    #[error("{0}")]
    Usage(String),
    /// Reading an input or writing an output failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// One diagnostic as an error.
    pub fn invalid(diagnostic: Diagnostic) -> Self {
        Error::Invalid(vec![diagnostic])
    }

    /// The process exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Io { .. } => 1,
            Error::Usage(_) => 2,
        }
    }

    /// Writing failed because the reader of a pipe went away.
    pub fn is_closed_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            Error::Invalid(d) => d.clone(),
            other => vec![Diagnostic::new(other.to_string())],
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem found in the input, with where it is and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// Where in the values the problem is; absent for problems of the whole input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// A concrete next step ("did you mean `from`?", "engines that can: cilium").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, message: message.into(), origin: None, help: None }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::new(message) }
    }

    /// The same finding as an error (`--strict`).
    pub fn into_error(mut self) -> Self {
        self.severity = Severity::Error;
        self
    }

    pub fn at(mut self, origin: &Origin) -> Self {
        self.origin = Some(origin.clone());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The construct cannot be expressed by `engine`; `engines_that_can` may be empty.
    pub fn unsupported(engine: &str, construct: &str, context: &str, engines_that_can: &[&str]) -> Self {
        let help = if engines_that_can.is_empty() {
            "no engine can express this; remove it or express it differently".to_string()
        } else {
            format!("engines that can express it: {}", engines_that_can.join(", "))
        };
        Diagnostic::new(format!("the {engine} engine cannot express {construct} ({context})")).with_help(help)
    }
}
