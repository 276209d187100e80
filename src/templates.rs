//! Every text format a person reads (diffs, docs, diagrams, probe scripts, test reports) is a
//! minijinja template from `templates/` at the repository root, embedded in the binary. The
//! commands build a typed, serialisable context; a template only lays it out. `--template FILE`
//! lays the same context out with the user's template instead.

use std::path::Path;

use serde::Serialize;

use crate::error::{Code, Diagnostic, Error, Result};
use crate::vocab::source::{Origin, Sources};

/// A built-in template: its file name under `templates/` and its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Builtin {
    pub name: &'static str,
    source: &'static str,
}

macro_rules! builtin {
    ($constant:ident, $file:literal) => {
        pub const $constant: Builtin =
            Builtin { name: $file, source: include_str!(concat!("../templates/", $file)) };
    };
}

builtin!(DIFF_TEXT, "diff.txt.j2");
builtin!(DIFF_MARKDOWN, "diff.md.j2");
builtin!(DOCS_MARKDOWN, "docs.md.j2");
builtin!(DOCS_HTML, "docs.html.j2");
builtin!(DOCS_DOT, "docs.dot.j2");
builtin!(DOCS_MERMAID, "mermaid.j2");
builtin!(TEST_TEXT, "test.txt.j2");
builtin!(TEST_JUNIT, "junit.xml.j2");
builtin!(PROBE_SCRIPT, "probe.sh.j2");
builtin!(EXPLAIN_TEXT, "explain.txt.j2");
builtin!(CHECK_TEXT, "check.txt.j2");
builtin!(LINT_TEXT, "lint.txt.j2");

/// Every built-in template (for tests and the README).
pub const ALL: &[Builtin] = &[
    DIFF_TEXT,
    DIFF_MARKDOWN,
    DOCS_MARKDOWN,
    DOCS_HTML,
    DOCS_DOT,
    DOCS_MERMAID,
    TEST_TEXT,
    TEST_JUNIT,
    PROBE_SCRIPT,
    EXPLAIN_TEXT,
    CHECK_TEXT,
    LINT_TEXT,
];

/// Lay `context` out with `builtin`, or with the template in `user` when one is given. A user
/// template that does not parse or fails on the context is an error located in its file, and
/// its text joins `sources` so the error shows the line.
pub fn render<C: Serialize>(
    builtin: Builtin,
    context: &C,
    user: Option<&Path>,
    sources: &mut Sources,
) -> Result<String> {
    let mut env = environment();
    let (name, text): (String, String) = match user {
        Some(path) => (path.display().to_string(), crate::input::read_path(path)?),
        None => (builtin.name.to_string(), builtin.source.to_string()),
    };
    // Templates include the built-in ones by name (the Mermaid diagram, say), user ones too.
    for other in ALL {
        if other.name != name {
            env.add_template(other.name, other.source).map_err(|e| located(&e, builtin.name, "", sources))?;
        }
    }
    let escape = minijinja::default_auto_escape_callback(builtin.name.trim_end_matches(".j2"));
    env.set_auto_escape_callback(move |_| escape);
    let located_in_user = |e: &minijinja::Error, sources: &mut Sources| located(e, &name, &text, sources);
    env.add_template_owned(name.clone(), text.clone()).map_err(|e| located_in_user(&e, sources))?;
    let template = env.get_template(&name).map_err(|e| located_in_user(&e, sources))?;
    template.render(context).map_err(|e| located_in_user(&e, sources))
}

/// The environment every template renders in: strict about undefined names (a misspelt field
/// is an error, not an empty string) and with the filters the formats need.
fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.add_filter("shell_quote", shell_quote);
    env.add_filter("md_cell", markdown_cell);
    env.add_filter("dot_id", dot_id);
    env.add_filter("mermaid_text", mermaid_text);
    env
}

/// An error of the template called `name` (with text `text`, empty for built-ins) as a
/// diagnostic at its line and column.
fn located(error: &minijinja::Error, name: &str, text: &str, sources: &mut Sources) -> Error {
    let line = error.line().unwrap_or(0);
    let column = match (error.range(), text.is_empty()) {
        (Some(range), false) => {
            let before = text.get(..range.start).unwrap_or_default();
            before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1
        }
        _ => 0,
    };
    if !text.is_empty() {
        sources.add(name.to_string(), text.to_string());
    }
    let origin = Origin {
        file: name.into(),
        line: u32::try_from(line).unwrap_or(0),
        column: u32::try_from(column).unwrap_or(0),
        path: String::new(),
    };
    let mut detail = error.detail().map(|d| format!(": {d}")).unwrap_or_default();
    // An error inside an included template is chained: say what it was and where.
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        if let Some(inner) = inner.downcast_ref::<minijinja::Error>() {
            let at = match (inner.name(), inner.line()) {
                (Some(name), Some(line)) => format!(" ({name}:{line})"),
                _ => String::new(),
            };
            detail.push_str(&format!(
                "; {}{}{at}",
                inner.kind(),
                inner.detail().map(|d| format!(": {d}")).unwrap_or_default()
            ));
        }
        cause = inner.source();
    }
    Error::invalid(
        Diagnostic::new(format!("template {name}: {}{detail}", error.kind()))
            .coded(Code::Template)
            .at(&origin)
            .with_help("the README's Templates section lists every field of each template's context"),
    )
}

/// A POSIX shell word that stands for `value` exactly: single-quoted, with `'` as `'\''`.
pub fn shell_quote(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@'));
    if safe { value.to_string() } else { format!("'{}'", value.replace('\'', r"'\''")) }
}

/// Text that stays in one Markdown table cell: pipes escaped, line breaks as `<br>`.
fn markdown_cell(value: &str) -> String {
    value.replace('\\', "\\\\").replace('|', "\\|").replace('\n', "<br>")
}

/// A Graphviz identifier: always double-quoted, with quotes and backslashes escaped.
fn dot_id(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Text inside a Mermaid label (`"…"`): quotes and angle brackets as entities.
fn mermaid_text(value: &str) -> String {
    value.replace('"', "#quot;").replace('<', "#lt;").replace('>', "#gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_template_parses() {
        let mut env = environment();
        for t in ALL {
            env.add_template(t.name, t.source).unwrap_or_else(|e| panic!("{}: {e:#}", t.name));
        }
    }

    #[test]
    fn a_broken_user_template_is_an_error_at_its_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("broken.j2");
        std::fs::write(&path, "first line\n{% for %}\n").expect("written");
        let mut sources = Sources::default();
        let error = render(TEST_TEXT, &serde_json::json!({}), Some(&path), &mut sources).expect_err("broken");
        let diagnostics = error.diagnostics();
        let origin = diagnostics.first().and_then(|d| d.origin.clone()).expect("located");
        assert_eq!(origin.line, 2, "{diagnostics:?}");
        assert_eq!(diagnostics.first().map(|d| d.code), Some(Code::Template));
        assert!(sources.line(&path.display().to_string(), 2).is_some());
    }

    #[test]
    fn an_undefined_field_is_an_error_not_an_empty_string() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("typo.j2");
        std::fs::write(&path, "{{ summary.pased }}\n").expect("written");
        let context = serde_json::json!({"summary": {"passed": 1}});
        let error = render(TEST_TEXT, &context, Some(&path), &mut Sources::default());
        assert!(error.is_err(), "{error:?}");
    }

    #[test]
    fn shell_quote_survives_every_metacharacter() {
        assert_eq!(shell_quote("shop/api"), "shop/api");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's $(x)"), r"'it'\''s $(x)'");
    }
}
