//! Splits SQL text into statements and backslash commands, respecting quotes and comments.

/// One unit of work in a script: a SQL statement (without its `;`) or a
/// backslash command line such as `\d sst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Sql(String),
    Command(String),
}

/// The pieces of a text, and whether the text ends cleanly: every statement
/// closed by `;`, no open quote or block comment.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Split {
    pub pieces: Vec<Piece>,
    pub complete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Quote(u8),
    LineComment,
    BlockComment(u32),
}

/// Splits `text` at `;` outside quotes (`'`, `"`, `` ` ``) and comments
/// (`--`, nested `/* */`). A line starting with `\` where a statement would
/// begin is a backslash command that runs to the end of the line.
pub fn split(text: &str) -> Split {
    let mut scanner = Scanner { text, state: State::Code, start: 0, content: false, pieces: Vec::new() };
    scanner.run();
    scanner.finish()
}

/// True when the REPL should run `input` on Enter: a backslash command, or
/// SQL whose last statement is closed by `;`.
pub fn is_complete(input: &str) -> bool {
    input.trim_start().starts_with('\\') || split(input).complete
}

struct Scanner<'a> {
    text: &'a str,
    state: State,
    /// Byte offset where the current statement starts.
    start: usize,
    /// Whether the current statement has anything but whitespace and comments.
    content: bool,
    pieces: Vec<Piece>,
}

impl Scanner<'_> {
    fn run(&mut self) {
        let bytes = self.text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let next = bytes.get(i + 1).copied();
            i = match self.state {
                State::Code => self.code(i, bytes[i], next),
                State::Quote(q) => self.quoted(i, bytes[i], q),
                State::LineComment => self.line_comment(i, bytes[i]),
                State::BlockComment(depth) => self.block_comment(i, bytes[i], next, depth),
            };
        }
    }

    /// Handles one byte of code; returns the index of the next byte to read.
    fn code(&mut self, i: usize, byte: u8, next: Option<u8>) -> usize {
        match (byte, next) {
            (b'-', Some(b'-')) => self.state = State::LineComment,
            (b'/', Some(b'*')) => self.state = State::BlockComment(1),
            (b'\\', _) if !self.content => return self.command(i),
            (b';', _) => self.end_statement(i),
            (b'\'' | b'"' | b'`', _) => {
                self.state = State::Quote(byte);
                self.content = true;
            }
            _ if byte.is_ascii_whitespace() => {}
            _ => self.content = true,
        }
        match self.state {
            State::LineComment | State::BlockComment(_) => i + 2,
            _ => i + 1,
        }
    }

    /// A doubled quote (`'it''s'`) closes and reopens, so it needs no case.
    fn quoted(&mut self, i: usize, byte: u8, quote: u8) -> usize {
        if byte == quote {
            self.state = State::Code;
        }
        i + 1
    }

    fn line_comment(&mut self, i: usize, byte: u8) -> usize {
        if byte == b'\n' {
            self.state = State::Code;
        }
        i + 1
    }

    fn block_comment(&mut self, i: usize, byte: u8, next: Option<u8>, depth: u32) -> usize {
        match (byte, next) {
            (b'*', Some(b'/')) if depth == 1 => self.state = State::Code,
            (b'*', Some(b'/')) => self.state = State::BlockComment(depth - 1),
            (b'/', Some(b'*')) => self.state = State::BlockComment(depth + 1),
            _ => return i + 1,
        }
        i + 2
    }

    fn command(&mut self, i: usize) -> usize {
        let end = self.text[i..].find('\n').map_or(self.text.len(), |n| i + n);
        self.pieces.push(Piece::Command(self.text[i..end].trim().to_string()));
        self.start = end;
        end
    }

    fn end_statement(&mut self, i: usize) {
        if self.content {
            self.pieces.push(Piece::Sql(self.text[self.start..i].trim().to_string()));
        }
        self.start = i + 1;
        self.content = false;
    }

    fn finish(mut self) -> Split {
        let open = matches!(self.state, State::Quote(_) | State::BlockComment(_));
        let complete = !self.content && !open;
        if self.content {
            self.pieces.push(Piece::Sql(self.text[self.start..].trim().to_string()));
        }
        Split { pieces: self.pieces, complete }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(text: &str) -> Piece {
        Piece::Sql(text.to_string())
    }

    fn command(text: &str) -> Piece {
        Piece::Command(text.to_string())
    }

    #[test]
    fn splits_at_semicolons() {
        let split = split("SELECT 1; SELECT 2;\n");
        assert_eq!(split.pieces, vec![sql("SELECT 1"), sql("SELECT 2")]);
        assert!(split.complete);
    }

    #[test]
    fn keeps_semicolons_in_quotes() {
        let text = r#"SELECT 'a;b', "c;d", `e;f`, 'it''s;'; SELECT 2"#;
        let split = split(text);
        assert_eq!(split.pieces, vec![sql(r#"SELECT 'a;b', "c;d", `e;f`, 'it''s;'"#), sql("SELECT 2")]);
        assert!(!split.complete);
    }

    #[test]
    fn ignores_semicolons_in_comments() {
        let text = "SELECT 1 -- one; two\n; /* a; /* nested; */ b; */ SELECT 2;";
        let pieces = split(text).pieces;
        assert_eq!(pieces, vec![sql("SELECT 1 -- one; two"), sql("/* a; /* nested; */ b; */ SELECT 2")]);
    }

    #[test]
    fn drops_empty_and_comment_only_statements() {
        let split = split(";;  -- just a comment\n/* and another */");
        assert!(split.pieces.is_empty());
        assert!(split.complete);
    }

    #[test]
    fn last_statement_without_semicolon_is_kept_but_incomplete() {
        let split = split("SELECT 1;\nSELECT 2");
        assert_eq!(split.pieces, vec![sql("SELECT 1"), sql("SELECT 2")]);
        assert!(!split.complete);
    }

    #[test]
    fn open_quote_or_comment_is_incomplete() {
        assert!(!split("SELECT 'abc;").complete);
        assert!(!split("SELECT 1 /* ;").complete);
        assert!(split("SELECT 1; -- trailing").complete);
    }

    #[test]
    fn backslash_commands_take_a_line() {
        let text = "\\d\nSELECT 1;\n  \\d sst  \n-- note\n\\timing\nSELECT '\\d';";
        let pieces = split(text).pieces;
        let expected =
            vec![command("\\d"), sql("SELECT 1"), command("\\d sst"), command("\\timing"), sql("SELECT '\\d'")];
        assert_eq!(pieces, expected);
    }

    #[test]
    fn backslash_inside_a_statement_is_sql() {
        let pieces = split("SELECT 1\n\\d").pieces;
        assert_eq!(pieces, vec![sql("SELECT 1\n\\d")]);
    }

    #[test]
    fn handles_multibyte_text() {
        let pieces = split("SELECT 'température;°C' AS t; SELECT 'é'").pieces;
        assert_eq!(pieces, vec![sql("SELECT 'température;°C' AS t"), sql("SELECT 'é'")]);
    }

    #[test]
    fn completeness_for_the_repl() {
        assert!(is_complete("\\d sst"));
        assert!(is_complete("  \\q"));
        assert!(is_complete(""));
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1\nFROM t\nWHERE a = 1;  "));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT ';'"));
        assert!(!is_complete("SELECT 1; SELECT 2"));
    }
}
