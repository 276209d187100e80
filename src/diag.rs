//! Printing diagnostics: annotated source snippets for people, JSON for machines.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use crate::error::{Diagnostic, Severity};
use crate::values::node::Sources;

/// Render one diagnostic for a terminal. `sources` supplies the text around the location.
pub fn human(d: &Diagnostic, sources: Option<&Sources>, color: bool) -> String {
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let mut title = Group::with_title(level.primary_title(d.message.as_str()).id(d.code.as_str()));
    let mut location_note = None;
    let line_text = d.origin.as_ref().and_then(|o| {
        let text = sources?.by_name(&o.file)?;
        let line = text.lines().nth(usize::try_from(o.line).ok()?.checked_sub(1)?)?;
        // The parser skips a byte-order mark and does not count it as a column.
        let line = if o.line == 1 { line.trim_start_matches('\u{feff}') } else { line };
        Some((o, line))
    });
    if let Some(o) = &d.origin {
        if !o.path.is_empty() {
            location_note = Some(format!("at key `{}`", o.path));
        }
        match line_text {
            Some((o, line)) => {
                // Columns count characters; the snippet wants byte offsets on character
                // boundaries.
                let column = usize::try_from(o.column).unwrap_or(1).saturating_sub(1);
                let start = line.char_indices().nth(column).map_or(line.len(), |(i, _)| i);
                let rest = line.get(start..).unwrap_or("");
                let len = rest.find([':', ',', ']', '}']).unwrap_or(rest.trim_end().len());
                let first_char = rest.chars().next().map_or(1, char::len_utf8);
                let end = start + len.max(first_char);
                let mut snippet =
                    Snippet::source(line).line_start(usize::try_from(o.line).unwrap_or(1)).path(&*o.file);
                if start < line.len() {
                    snippet = snippet.annotation(AnnotationKind::Primary.span(start..end.min(line.len())));
                }
                title = title.element(snippet);
            }
            None => {
                let position = if o.line > 0 {
                    format!("{}:{}:{}", o.file, o.line, o.column)
                } else {
                    o.file.to_string()
                };
                if !position.is_empty() {
                    title = title.element(Level::NOTE.message(format!("in {position}")));
                }
            }
        }
    }
    if let Some(note) = &location_note {
        title = title.element(Level::NOTE.message(note.as_str()));
    }
    let related: Vec<String> = d
        .related()
        .iter()
        .map(|o| {
            let key = if o.path.is_empty() { String::new() } else { format!(" (`{}`)", o.path) };
            format!("also at {}:{}:{}{key}", o.file, o.line, o.column)
        })
        .collect();
    for note in &related {
        title = title.element(Level::NOTE.message(note.as_str()));
    }
    let mut report = vec![title];
    if let Some(help) = &d.help {
        report.push(Group::with_title(Level::HELP.secondary_title(help.as_str())));
    }
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    renderer.render(&report).to_string()
}

/// All diagnostics as one JSON document.
pub fn json(diagnostics: &[Diagnostic]) -> String {
    serde_json::json!({ "diagnostics": diagnostics }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::Origin;

    #[test]
    fn errors_show_file_line_column_path_and_help() {
        let mut sources = Sources::default();
        sources.add("values.yaml", "networkPolicy:\n  enabeld: true\n");
        let d = Diagnostic::new("unknown key `enabeld`")
            .at(&Origin {
                file: "values.yaml".into(),
                line: 2,
                column: 3,
                path: "networkPolicy.enabeld".into(),
            })
            .with_help("did you mean `enabled`?");
        let text = human(&d, Some(&sources), false);
        assert!(text.contains("error[NP003]: unknown key `enabeld`"), "{text}");
        assert!(text.contains("values.yaml:2:3"), "{text}");
        assert!(text.contains("networkPolicy.enabeld"), "{text}");
        assert!(text.contains("help: did you mean `enabled`?"), "{text}");
    }
}
