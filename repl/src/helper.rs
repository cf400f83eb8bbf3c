//! rustyline helper: multi-line input up to `;`, completion of keywords and catalog names, hints.

use std::borrow::Cow;

use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::command::HELP;
use crate::script::is_complete;

/// Editing help for the REPL; `words` come from the live catalog and are
/// refreshed by the REPL after each statement.
pub struct SqlHelper {
    words: Vec<String>,
    files: FilenameCompleter,
}

impl SqlHelper {
    pub fn new(words: Vec<String>) -> SqlHelper {
        SqlHelper { words, files: FilenameCompleter::new() }
    }

    /// Replaces the table, column and function names offered for completion.
    pub fn set_words(&mut self, words: Vec<String>) {
        self.words = words;
    }

    /// Completions for the word before the cursor: catalog names first, then
    /// keywords in the case the user types them.
    fn candidates(&self, prefix: &str) -> Vec<String> {
        if prefix.is_empty() {
            return Vec::new();
        }
        let lower = prefix.to_lowercase();
        let starts = |word: &str| word.to_lowercase().starts_with(&lower);
        let mut found: Vec<String> = self.words.iter().filter(|w| starts(w)).cloned().collect();
        let lowercase = !prefix.chars().any(char::is_uppercase);
        for keyword in ALL_KEYWORDS.iter().filter(|k| starts(k)) {
            let keyword = if lowercase { keyword.to_lowercase() } else { keyword.to_string() };
            if !found.contains(&keyword) {
                found.push(keyword);
            }
        }
        found
    }

    fn command_candidates(line: &str) -> Vec<String> {
        let mut names: Vec<String> =
            HELP.iter().filter_map(|(usage, _)| usage.split(' ').next()).map(str::to_string).collect();
        names.dedup();
        names.retain(|name| name.starts_with(line));
        names
    }
}

/// Byte offset where the identifier ending at `pos` starts.
fn word_start(line: &str, pos: usize) -> usize {
    line[..pos]
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

fn pairs(words: Vec<String>) -> Vec<Pair> {
    words.into_iter().map(|w| Pair { display: w.clone(), replacement: w }).collect()
}

impl Completer for SqlHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let trimmed = line.trim_start();
        if trimmed.starts_with("\\i ") {
            return self.files.complete(line, pos, ctx);
        }
        if trimmed.starts_with('\\') && !line[..pos].contains(' ') {
            let start = line.len() - trimmed.len();
            return Ok((start, pairs(Self::command_candidates(&line[start..pos]))));
        }
        let start = word_start(line, pos);
        Ok((start, pairs(self.candidates(&line[start..pos]))))
    }
}

impl Hinter for SqlHelper {
    type Hint = String;

    /// Greys in the rest of the only table, column or function name that
    /// matches the word being typed (Right arrow accepts it).
    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        if pos < line.len() || line.trim_start().starts_with('\\') {
            return None;
        }
        let prefix = &line[word_start(line, pos)..pos];
        if prefix.len() < 2 {
            return None;
        }
        let mut matching = self.words.iter().filter(|w| w.starts_with(prefix) && w.len() > prefix.len());
        match (matching.next(), matching.next()) {
            (Some(word), None) => Some(word[prefix.len()..].to_string()),
            _ => None,
        }
    }
}

impl Highlighter for SqlHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
    }
}

impl Validator for SqlHelper {
    /// Enter runs the input once the last statement ends with `;` (outside
    /// quotes and comments); a backslash command runs at once.
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        if is_complete(ctx.input()) { Ok(ValidationResult::Valid(None)) } else { Ok(ValidationResult::Incomplete) }
    }
}

impl Helper for SqlHelper {}

#[cfg(test)]
mod tests {
    use rustyline::history::DefaultHistory;

    use super::*;

    fn helper() -> SqlHelper {
        SqlHelper::new(vec!["drifters".into(), "sea_surface_temperature".into(), "sst".into()])
    }

    fn complete(line: &str) -> (usize, Vec<String>) {
        let history = DefaultHistory::new();
        let ctx = Context::new(&history);
        let (start, pairs) = helper().complete(line, line.len(), &ctx).unwrap();
        (start, pairs.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn completes_catalog_names_then_keywords() {
        let (start, words) = complete("SELECT * FROM dri");
        assert_eq!(start, 14);
        assert_eq!(words, vec!["drifters".to_string()]);
        let (_, words) = complete("select s");
        assert_eq!(&words[..2], &["sea_surface_temperature".to_string(), "sst".to_string()]);
        assert!(words.contains(&"select".to_string()));
        let (_, words) = complete("SEL");
        assert!(words.contains(&"SELECT".to_string()));
    }

    #[test]
    fn completes_commands() {
        let (start, words) = complete("\\d");
        assert_eq!(start, 0);
        assert_eq!(words, vec!["\\d".to_string(), "\\df".to_string()]);
    }

    #[test]
    fn nothing_to_complete_after_a_space() {
        assert!(complete("SELECT ").1.is_empty());
    }

    #[test]
    fn hints_the_only_match() {
        let history = DefaultHistory::new();
        let ctx = Context::new(&history);
        assert_eq!(helper().hint("SELECT * FROM dr", 16, &ctx), Some("ifters".into()));
        assert_eq!(helper().hint("SELECT * FROM s", 15, &ctx), None);
    }
}
