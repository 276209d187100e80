//! The library's error type and its one diagnostic model (rendered for humans or as JSON).

use std::path::PathBuf;

use serde::Serialize;

use crate::vocab::Origin;

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
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Io { .. } => 1,
            Error::Usage(_) => 2,
        }
    }

    /// Writing failed because the reader of a pipe went away.
    pub(crate) fn is_closed_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            Error::Invalid(d) => d.clone(),
            Error::Io { .. } => vec![Diagnostic::new(self.to_string()).coded(Code::Input)],
            Error::Usage(_) => vec![Diagnostic::new(self.to_string()).coded(Code::Usage)],
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem found in the input, with where it is and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// What kind of problem this is: stable across releases (README "Diagnostic codes").
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// Where in the values the problem is; absent for problems of the whole input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// A concrete next step ("did you mean `from`?", "engines that can: cilium").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// What few diagnostics have: kept out of line so that results carrying a diagnostic stay
    /// small.
    #[serde(flatten)]
    pub extra: Option<Box<Extra>>,
}

/// The rarer parts of a diagnostic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Extra {
    /// Other places the problem involves (the other half of a clash).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Origin>,
    /// For something an engine cannot express: the engines that can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engines_that_can: Option<Vec<String>>,
    /// For a problem in a manifest given to the evaluator: the object and the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestField>,
}

/// An object of a manifests file and a field in it, as `kubectl explain` names them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ManifestField {
    /// `Kind namespace/name`, or `Kind name` for a cluster-scoped object.
    pub object: String,
    /// `spec.ingress[0].from[0].podSelector`; empty for the object as a whole.
    pub field: String,
}

/// The kind of a diagnostic. The numbers are stable: a code is never reused for another kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Code {
    /// The input is not readable YAML, not a map, or a malformed `--set`.
    #[serde(rename = "NP001")]
    Syntax,
    /// A key the values format does not have (with "did you mean").
    #[serde(rename = "NP002")]
    UnknownKey,
    /// A value of the wrong type, out of range or malformed (a name, a CIDR, a port).
    #[serde(rename = "NP003")]
    InvalidValue,
    /// A required key is missing.
    #[serde(rename = "NP004")]
    MissingKey,
    /// Values that contradict themselves or each other (two objects with one name, an allow
    /// a guardrail always denies).
    #[serde(rename = "NP005")]
    Conflict,
    /// A reference to something the values do not declare (a workload, a named port).
    #[serde(rename = "NP006")]
    UnknownName,
    /// The engine cannot express what the values say; `engines_that_can` lists those that can.
    #[serde(rename = "NP007")]
    Unsupported,
    /// A file, standard input or the output directory cannot be read or written.
    #[serde(rename = "NP008")]
    Input,
    /// Manifests, a topology or a flows file given to the evaluator are malformed.
    #[serde(rename = "NP009")]
    Evaluator,
    /// The command line is wrong (a flag, a missing argument).
    #[serde(rename = "NP010")]
    Usage,
    /// A `--template` file does not parse or fails while it lays out its context.
    #[serde(rename = "NP011")]
    Template,
    /// Warning: an engine only approximates the values, or leaves something open (a
    /// documented limitation).
    #[serde(rename = "NP101")]
    Approximated,
    /// Warning: something is ignored (an unknown field in a manifest, passthrough written for
    /// another engine).
    #[serde(rename = "NP102")]
    Ignored,
    /// Warning: the values are valid but probably not what was meant (a misspelt namespace, a
    /// half connection, a namespace allow that widens a workload's own list).
    #[serde(rename = "NP103")]
    Suspicious,
    /// lint: a managed namespace without a default-deny.
    #[serde(rename = "NP201")]
    NoDefaultDeny,
    /// lint: egress to every internet address on every port.
    #[serde(rename = "NP202")]
    InternetEgressAllPorts,
    /// lint: ingress open to everyone on a port not declared internet-facing.
    #[serde(rename = "NP203")]
    IngressOpenToEveryone,
    /// lint: the cloud metadata address is reachable.
    #[serde(rename = "NP204")]
    MetadataReachable,
    /// lint: egress is isolated and cluster DNS is not reachable.
    #[serde(rename = "NP205")]
    EgressWithoutDns,
    /// lint: a cross-namespace flow allowed at one end and refused at the other.
    #[serde(rename = "NP206")]
    HalfConnection,
    /// lint: a namespace-wide allow widens a workload's own narrower `from` list.
    #[serde(rename = "NP207")]
    NamespaceAllowWidens,
    /// lint: a peer names a namespace or labels nothing declares (with a topology: selects no pod).
    #[serde(rename = "NP208")]
    PeerSelectsNothing,
    /// lint: a rule duplicates or is covered by another rule of the same pods.
    #[serde(rename = "NP209")]
    ShadowedRule,
    /// lint: a named port no workload declares.
    #[serde(rename = "NP210")]
    UndeclaredNamedPort,
    /// lint: a rule depends on a namespace netpol does not manage.
    #[serde(rename = "NP211")]
    UnmanagedDependency,
    /// lint: a guardrail blocks cluster DNS.
    #[serde(rename = "NP212")]
    GuardrailBlocksDns,
    /// lint: a namespace selector and a pod selector written as two peers (OR).
    #[serde(rename = "NP213")]
    OrInsteadOfAnd,
    /// lint: an admission-webhook port the API server cannot reach.
    #[serde(rename = "NP214")]
    WebhookUnreachable,
    /// lint: egress to a named port, resolved on each destination pod.
    #[serde(rename = "NP215")]
    EgressToNamedPort,
    /// lint: a port number no selected workload declares.
    #[serde(rename = "NP216")]
    PortNotDeclared,
}

impl Code {
    /// `NP002`, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "NP001",
            Code::UnknownKey => "NP002",
            Code::InvalidValue => "NP003",
            Code::MissingKey => "NP004",
            Code::Conflict => "NP005",
            Code::UnknownName => "NP006",
            Code::Unsupported => "NP007",
            Code::Input => "NP008",
            Code::Evaluator => "NP009",
            Code::Usage => "NP010",
            Code::Template => "NP011",
            Code::Approximated => "NP101",
            Code::Ignored => "NP102",
            Code::Suspicious => "NP103",
            Code::NoDefaultDeny => "NP201",
            Code::InternetEgressAllPorts => "NP202",
            Code::IngressOpenToEveryone => "NP203",
            Code::MetadataReachable => "NP204",
            Code::EgressWithoutDns => "NP205",
            Code::HalfConnection => "NP206",
            Code::NamespaceAllowWidens => "NP207",
            Code::PeerSelectsNothing => "NP208",
            Code::ShadowedRule => "NP209",
            Code::UndeclaredNamedPort => "NP210",
            Code::UnmanagedDependency => "NP211",
            Code::GuardrailBlocksDns => "NP212",
            Code::OrInsteadOfAnd => "NP213",
            Code::WebhookUnreachable => "NP214",
            Code::EgressToNamedPort => "NP215",
            Code::PortNotDeclared => "NP216",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    /// Lint only: worth knowing, never fails a run.
    Note,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic {
            code: Code::InvalidValue,
            severity: Severity::Error,
            message: shorten_quotes(message.into()),
            origin: None,
            help: None,
            extra: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, code: Code::Approximated, ..Diagnostic::new(message) }
    }

    /// The input cannot be read as YAML (or `--set`).
    pub(crate) fn syntax(message: impl Into<String>) -> Self {
        Diagnostic::new(message).coded(Code::Syntax)
    }

    /// Manifests, a topology or flows given to the evaluator are malformed.
    pub fn evaluator(message: impl Into<String>) -> Self {
        Diagnostic::new(message).coded(Code::Evaluator)
    }

    /// Values that contradict themselves.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Diagnostic::new(message).coded(Code::Conflict)
    }

    /// A reference to something the values do not declare.
    pub(crate) fn unknown_name(message: impl Into<String>) -> Self {
        Diagnostic::new(message).coded(Code::UnknownName)
    }

    /// A warning about valid values that are probably not what was meant.
    pub(crate) fn suspicious(message: impl Into<String>) -> Self {
        Diagnostic::warning(message).coded(Code::Suspicious)
    }

    pub(crate) fn coded(mut self, code: Code) -> Self {
        self.code = code;
        self
    }

    /// Another place the problem involves.
    pub(crate) fn also_at(mut self, origin: &Origin) -> Self {
        self.extra.get_or_insert_with(Default::default).related.push(origin.clone());
        self
    }

    /// The manifest object (and field in it) the problem is in; located in the file later.
    pub(crate) fn in_manifest(mut self, object: impl Into<String>, field: impl Into<String>) -> Self {
        self.extra.get_or_insert_with(Default::default).manifest =
            Some(ManifestField { object: object.into(), field: field.into() });
        self
    }

    pub(crate) fn manifest_field(&self) -> Option<&ManifestField> {
        self.extra.as_ref().and_then(|e| e.manifest.as_ref())
    }

    /// Other places the problem involves.
    pub fn related(&self) -> &[Origin] {
        self.extra.as_ref().map_or(&[], |e| e.related.as_slice())
    }

    /// The same finding as an error (`--strict`).
    pub(crate) fn into_error(mut self) -> Self {
        self.severity = Severity::Error;
        self
    }

    pub fn at(mut self, origin: &Origin) -> Self {
        self.origin = Some(origin.clone());
        self
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The construct cannot be expressed by `engine`; the engines that can come from the one
    /// capability table.
    pub(crate) fn unsupported(
        engine: crate::vocab::Engine,
        capability: crate::vocab::capability::Capability,
        construct: &str,
        context: &str,
    ) -> Self {
        let engines_that_can: Vec<&str> = capability.engines().iter().map(|e| e.as_str()).collect();
        let help = if engines_that_can.is_empty() {
            "no engine can express this; remove it or express it differently".to_string()
        } else {
            format!("engines that can express it: {}", engines_that_can.join(", "))
        };
        let mut d = Diagnostic::new(format!("the {engine} engine cannot express {construct} ({context})"))
            .with_help(help)
            .coded(Code::Unsupported);
        d.extra.get_or_insert_with(Default::default).engines_that_can =
            Some(engines_that_can.iter().map(|e| e.to_string()).collect());
        d
    }
}

/// Sort diagnostics the way a reader meets them: by line and column within a file, files in
/// the order they first appear; unlocated ones keep their place at the front.
pub(crate) fn sort_in_file_order(diagnostics: &mut [Diagnostic]) {
    let mut files: Vec<std::sync::Arc<str>> = Vec::new();
    for d in diagnostics.iter() {
        if let Some(o) = &d.origin
            && !files.contains(&o.file)
        {
            files.push(o.file.clone());
        }
    }
    diagnostics.sort_by_key(|d| match &d.origin {
        None => (0, 0, 0, 0),
        Some(o) => (1, files.iter().position(|f| *f == o.file).unwrap_or(usize::MAX), o.line, o.column),
    });
}

/// Longest quoted text (between backticks) a message repeats whole.
pub(crate) const MAX_QUOTE_CHARS: usize = 80;

/// Messages quote what they are about (`` `Shop_X` is not a valid name ``); a quote longer than
/// [`MAX_QUOTE_CHARS`] is cut to its start, so a 50 MB value is not echoed whole.
fn shorten_quotes(message: String) -> String {
    if message.len() <= MAX_QUOTE_CHARS {
        return message;
    }
    let mut out = String::with_capacity(message.len().min(1024));
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        let quoted = i % 2 == 1;
        let chars = part.chars().count();
        if quoted && chars > MAX_QUOTE_CHARS {
            out.extend(part.chars().take(MAX_QUOTE_CHARS));
            out.push_str(&format!("… ({chars} characters)"));
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_quotes_are_cut_and_short_ones_kept() {
        let long = "x".repeat(10_000);
        let d = Diagnostic::new(format!("`{long}` is not a valid name: use lower-case letters"));
        assert!(d.message.len() < 200, "{}", d.message);
        assert!(
            d.message.ends_with("(10000 characters)` is not a valid name: use lower-case letters"),
            "{}",
            d.message
        );
        let short = Diagnostic::new("`Shop_X` is not a valid name");
        assert_eq!(short.message, "`Shop_X` is not a valid name");
    }
}
