//! Problems found in a configuration, each pointing at the file, line and column it concerns.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

use super::node::Span;
use super::source::SourceSet;

/// One thing wrong with the configuration.
#[derive(Debug, Clone)]
pub struct Problem {
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where: the offending key or value.
    pub span: Span,
    /// The text of the label under the offending key or value.
    pub label: String,
    /// What to do about it.
    pub help: Option<String>,
    /// Other places that take part (the first definition of a duplicate, say).
    pub related: Vec<(Span, String)>,
}

impl Problem {
    /// A problem at `span` with `message`; the label repeats a short form of it.
    pub fn new(span: Span, message: impl Into<String>, label: impl Into<String>) -> Self {
        Problem {
            message: message.into(),
            span,
            label: label.into(),
            help: None,
            related: Vec::new(),
        }
    }

    /// Adds a help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a related location.
    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }
}

/// Every problem found in one load, ready to render.
#[derive(Debug, Clone)]
pub struct Problems {
    /// The problems, ordered by file and position.
    pub items: Vec<Problem>,
    /// The files they point into.
    pub sources: SourceSet,
}

impl Problems {
    /// Sorts by file path, then position, and drops exact repeats.
    pub fn sort(&mut self) {
        let sources = &self.sources;
        self.items.sort_by(|a, b| {
            let fa = &sources.file(a.span.file).path;
            let fb = &sources.file(b.span.file).path;
            (fa, a.span.start, &a.message).cmp(&(fb, b.span.start, &b.message))
        });
        self.items
            .dedup_by(|a, b| a.span == b.span && a.message == b.message);
    }

    /// `path:line:col: message` for each problem, one per line (for logs and tests).
    pub fn to_short_lines(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|p| format!("{}: {}", self.sources.position(p.span), p.message))
            .collect()
    }

    /// Miette reports for rendering, one per problem, in order.
    pub fn reports(&self) -> Vec<ProblemReport> {
        self.items
            .iter()
            .map(|p| ProblemReport::new(p, &self.sources))
            .collect()
    }

    /// Renders every problem with miette's graphical handler (colour per `colour`), then a count.
    pub fn render(&self, colour: bool) -> String {
        let theme = if colour {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_show_related_as_nested(true);
        let mut out = String::new();
        for report in self.reports() {
            // Rendering into a String cannot fail.
            let _ = handler.render_report(&mut out, &report);
            out.push('\n');
        }
        let files: std::collections::BTreeSet<_> = self.items.iter().map(|p| p.span.file).collect();
        out.push_str(&format!(
            "error: {} problem{} in {} file{}\n",
            self.items.len(),
            if self.items.len() == 1 { "" } else { "s" },
            files.len(),
            if files.len() == 1 { "" } else { "s" },
        ));
        out
    }
}

/// A [`Problem`] joined with its source text, as miette renders it.
#[derive(Debug)]
pub struct ProblemReport {
    message: String,
    position: String,
    source: NamedSource<Arc<str>>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
    related: Vec<ProblemReport>,
}

impl ProblemReport {
    fn new(problem: &Problem, sources: &SourceSet) -> Self {
        let file = sources.file(problem.span.file);
        // Related places in the same file are extra labels; in other files, related reports.
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(problem.label.clone()),
            to_source_span(problem.span, &file.text),
        )];
        let mut related = Vec::new();
        for (span, label) in &problem.related {
            if span.file == problem.span.file {
                labels.push(LabeledSpan::new_with_span(
                    Some(label.clone()),
                    to_source_span(*span, &file.text),
                ));
            } else {
                let other = sources.file(span.file);
                related.push(ProblemReport {
                    message: label.clone(),
                    position: sources.position(*span),
                    source: NamedSource::new(other.path.clone(), other.text.clone()),
                    labels: vec![LabeledSpan::new_primary_with_span(
                        Some(label.clone()),
                        to_source_span(*span, &other.text),
                    )],
                    help: None,
                    related: Vec::new(),
                });
            }
        }
        ProblemReport {
            message: problem.message.clone(),
            position: sources.position(problem.span),
            source: NamedSource::new(file.path.clone(), file.text.clone()),
            labels,
            help: problem.help.clone(),
            related,
        }
    }
}

fn to_source_span(span: Span, text: &str) -> SourceSpan {
    let start = span.start.min(text.len());
    // At the end of the file the label has zero width rather than pointing out of range.
    let len = span.len.max(1).min(text.len().saturating_sub(start));
    SourceSpan::new(start.into(), len)
}

impl fmt::Display for ProblemReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.position, self.message)
    }
}

impl std::error::Error for ProblemReport {}

impl Diagnostic for ProblemReport {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
        }
    }
}

/// Edit distance, for "did you mean" suggestions.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The closest of `candidates` to `word`, if close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + 1;
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    if let Some(same) = candidates.iter().find(|c| c.eq_ignore_ascii_case(word)) {
        return Some(same);
    }
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let fields = ["max_concurrent_runs", "timeout_seconds", "tasks"];
        assert_eq!(
            did_you_mean("max_concurent_runs", fields),
            Some("max_concurrent_runs")
        );
        assert_eq!(did_you_mean("task", fields), Some("tasks"));
        assert_eq!(did_you_mean("completely_else", fields), None);
    }

    #[test]
    fn levenshtein_counts_edits() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }
}
