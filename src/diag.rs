//! Printing diagnostics: annotated source snippets for people, JSON for machines.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use crate::error::{Diagnostic, Severity};
use crate::vocab::source::Sources;

/// Render one diagnostic for a terminal. `sources` supplies the text around the location.
pub fn human(d: &Diagnostic, sources: Option<&Sources>, color: bool) -> String {
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
        Severity::Note => Level::NOTE,
    };
    let mut title = Group::with_title(level.primary_title(d.message.as_str()).id(d.code.as_str()));
    let mut location_note = None;
    let line_text = d.origin.as_ref().and_then(|o| {
        let line = sources?.line(&o.file, usize::try_from(o.line).ok()?)?;
        // The parser skips a byte-order mark and does not count it as a column.
        let line = if o.line == 1 { line.trim_start_matches('\u{feff}') } else { line };
        // Columns count characters. A very long line (a 50 MB value) is shown as a window
        // around the column.
        let column = usize::try_from(o.column).unwrap_or(1).saturating_sub(1);
        Some((o, window(line, column)))
    });
    if let Some(o) = &d.origin {
        if !o.path.is_empty() {
            location_note = Some(format!("at key `{}`", o.path));
        }
        match &line_text {
            Some((o, (line, column))) => {
                // The snippet wants byte offsets on character boundaries.
                let (line, column) = (line.as_str(), *column);
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

/// Characters of a source line shown before and after the column a diagnostic points at.
const WINDOW_BEFORE: usize = 60;
const WINDOW_AFTER: usize = 100;

/// The part of `line` a snippet shows, and the column within it: the whole line when it is
/// short, else the characters around `column`, marked `…` where cut.
fn window(line: &str, column: usize) -> (String, usize) {
    let chars = line.chars().count();
    if chars <= WINDOW_BEFORE + WINDOW_AFTER {
        return (line.to_string(), column);
    }
    let first = column.saturating_sub(WINDOW_BEFORE);
    let last = (column + WINDOW_AFTER).min(chars);
    let mut shown: String = line.chars().skip(first).take(last - first).collect();
    let mut column = column - first;
    if first > 0 {
        shown.insert(0, '…');
        column += 1;
    }
    if last < chars {
        shown.push('…');
    }
    (shown, column)
}

/// All diagnostics as one JSON document.
pub fn json(diagnostics: &[Diagnostic]) -> String {
    serde_json::json!({ "diagnostics": diagnostics }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Origin;

    #[test]
    fn a_long_line_is_shown_as_a_window_around_the_column() {
        let line = format!("key: {}", "x".repeat(100_000));
        let (shown, column) = window(&line, 5);
        assert!(shown.chars().count() <= WINDOW_BEFORE + WINDOW_AFTER + 2, "{}", shown.len());
        assert_eq!(shown.chars().nth(column), Some('x'));
        let (shown, column) = window(&line, 50_000);
        assert!(shown.starts_with('…') && shown.ends_with('…'));
        assert_eq!(column, WINDOW_BEFORE + 1);
        assert_eq!(window("short: line", 7), ("short: line".to_string(), 7));
    }

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
