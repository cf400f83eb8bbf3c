//! Backslash commands (`\d`, `\df`, `\timing`, ...) and their help.

use std::path::PathBuf;
use std::str::FromStr;

use datafusion::error::{DataFusionError, Result};

use crate::error::usage;

use crate::print_format::Format;

/// A backslash command, parsed from a line such as `\d sst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `\?`
    Help,
    /// `\d`
    ListTables,
    /// `\d NAME`
    Describe(String),
    /// `\df [PATTERN]`
    ListFunctions(Option<String>),
    /// `\timing`
    Timing,
    /// `\format [table|csv|json]`; without a name, shows the current one.
    Format(Option<Format>),
    /// `\i FILE`
    Include(PathBuf),
    /// `\plot [FILE.png]`
    Plot(Option<PathBuf>),
    /// `\q`
    Quit,
}

/// (usage, description) of every command, as `\?` prints them.
pub const HELP: &[(&str, &str)] = &[
    ("\\?", "show this help"),
    ("\\d", "list tables: name, type, format, location, column count"),
    ("\\d NAME", "describe a table: columns, types, nullable, units, standard_name, long_name"),
    ("\\df [PATTERN]", "list functions with a one-line description; PATTERN is a substring or a glob like st_*"),
    ("\\timing", "toggle printing the elapsed time after each statement"),
    ("\\format table|csv|json", "set the output format (without a name: show it)"),
    ("\\i FILE", "run the SQL statements and commands in FILE"),
    ("\\plot [FILE.png]", "draw the last result as a time series, map or Hovmöller diagram (default oceanql-plot.png)"),
    ("\\q", "quit (Ctrl-D works too)"),
];

/// The help text for `\?`.
pub fn help_text() -> String {
    let width = HELP.iter().map(|(usage, _)| usage.len()).max().unwrap_or(0);
    let mut text = String::from("Commands:\n");
    for (usage, description) in HELP {
        text.push_str(&format!("  {usage:width$}  {description}\n"));
    }
    text.push_str("\nSQL statements end with ';' and may span lines. Ctrl-C cancels a running query.\n");
    text
}

impl FromStr for Command {
    type Err = DataFusionError;

    /// Parses a whole command line, backslash included.
    fn from_str(line: &str) -> Result<Command> {
        let line = line.trim();
        let (name, argument) = match line.split_once(char::is_whitespace) {
            Some((name, rest)) => (name, Some(rest.trim())),
            None => (line, None),
        };
        match (name, argument) {
            ("\\?" | "\\h" | "\\help", None) => Ok(Command::Help),
            ("\\d", None) => Ok(Command::ListTables),
            ("\\d", Some(table)) => Ok(Command::Describe(table.to_string())),
            ("\\df", pattern) => Ok(Command::ListFunctions(pattern.map(str::to_string))),
            ("\\timing", None) => Ok(Command::Timing),
            ("\\format", None) => Ok(Command::Format(None)),
            ("\\format", Some(format)) => Ok(Command::Format(Some(format.parse()?))),
            ("\\i", Some(file)) => Ok(Command::Include(PathBuf::from(unquote(file)))),
            ("\\i", None) => usage_error("\\i needs a file: \\i FILE"),
            ("\\plot", file) => Ok(Command::Plot(file.map(|f| PathBuf::from(unquote(f))))),
            ("\\q" | "\\quit", None) => Ok(Command::Quit),
            ("\\?" | "\\h" | "\\help" | "\\timing" | "\\q" | "\\quit", Some(_)) => {
                usage_error(&format!("{name} takes no argument"))
            }
            _ => usage_error(&format!("unknown command '{line}'")),
        }
    }
}

/// An error that ends with the list of commands.
fn usage_error(message: &str) -> Result<Command> {
    let mut names: Vec<&str> = HELP.iter().map(|(text, _)| text.split(' ').next().unwrap_or(text)).collect();
    names.dedup();
    Err(usage(format!("{message}; commands are {} (\\? for help)", names.join(" "))))
}

/// `\i 'my file.sql'` and `\i "my file.sql"` name the file inside the quotes.
fn unquote(text: &str) -> &str {
    for quote in ['\'', '"'] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            return inner;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Command {
        line.parse().unwrap()
    }

    fn error(line: &str) -> String {
        line.parse::<Command>().unwrap_err().to_string()
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(parse("\\?"), Command::Help);
        assert_eq!(parse("  \\d  "), Command::ListTables);
        assert_eq!(parse("\\d  sst"), Command::Describe("sst".into()));
        assert_eq!(parse("\\df"), Command::ListFunctions(None));
        assert_eq!(parse("\\df st_*"), Command::ListFunctions(Some("st_*".into())));
        assert_eq!(parse("\\timing"), Command::Timing);
        assert_eq!(parse("\\format"), Command::Format(None));
        assert_eq!(parse("\\format JSON"), Command::Format(Some(Format::Json)));
        assert_eq!(parse("\\i queries/a b.sql"), Command::Include("queries/a b.sql".into()));
        assert_eq!(parse("\\i 'a b.sql'"), Command::Include("a b.sql".into()));
        assert_eq!(parse("\\q"), Command::Quit);
        assert_eq!(parse("\\plot"), Command::Plot(None));
        assert_eq!(parse("\\plot 'sst map.png'"), Command::Plot(Some("sst map.png".into())));
    }

    #[test]
    fn unknown_command_lists_the_commands() {
        let err = error("\\x foo");
        assert!(err.contains("unknown command '\\x foo'"), "{err}");
        assert!(err.contains("commands are \\? \\d \\df \\timing \\format \\i \\plot \\q (\\? for help)"), "{err}");
    }

    #[test]
    fn argument_errors() {
        assert!(error("\\i").contains("\\i needs a file: \\i FILE"));
        assert!(error("\\q now").contains("\\q takes no argument"));
        assert!(error("\\format xml").contains("unknown format 'xml': use table, csv or json"));
        assert!(error("\\format parquet").contains("parquet output needs a file"));
    }

    #[test]
    fn help_lists_every_command() {
        let text = help_text();
        for (usage, _) in HELP {
            assert!(text.contains(usage), "missing {usage}");
        }
    }
}
