//! A small deb822 (RFC 822-like control file) paragraph parser.
//!
//! The parser borrows from its input: a field's raw value, continuation
//! lines included, is one contiguous slice of the text, so parsing a 50 MB
//! `Packages` index allocates only the per-paragraph field lists. It never
//! panics on any input, which is what makes it safe to fuzz and to feed
//! straight from the network (after signature and hash checks).

use std::fmt;

/// Errors carry the 1-based line number so a sysadmin can open the file there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Deb822Error {
    #[error("line {line}: continuation line with no field before it")]
    ContinuationWithoutField { line: usize },
    #[error("line {line}: expected `Field: value`, found no colon")]
    MissingColon { line: usize },
    #[error("line {line}: invalid field name {name:?}")]
    InvalidFieldName { line: usize, name: String },
    #[error("line {line}: field {name:?} appears twice in one paragraph")]
    DuplicateField { line: usize, name: String },
    #[error("line {line}: comments are not allowed in this file")]
    CommentNotAllowed { line: usize },
}

impl Deb822Error {
    /// The 1-based line the error was found on.
    pub fn line(&self) -> usize {
        match self {
            Deb822Error::ContinuationWithoutField { line }
            | Deb822Error::MissingColon { line }
            | Deb822Error::InvalidFieldName { line, .. }
            | Deb822Error::DuplicateField { line, .. }
            | Deb822Error::CommentNotAllowed { line } => *line,
        }
    }
}

/// How strict to be; archive indexes and source control files differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseOptions {
    /// `#` comment lines are legal in `debian/control` and apt `.sources`
    /// files but never in archive indexes, where one signals corruption.
    pub allow_comments: bool,
}

/// One `Name: value` field, borrowed from the input text.
#[derive(Clone, PartialEq, Eq)]
pub struct Field<'a> {
    name: &'a str,
    /// Everything after the colon up to the end of the last continuation
    /// line, newlines included.
    raw: &'a str,
    line: usize,
}

impl<'a> Field<'a> {
    /// The field name as written (compare with [`Field::is`]).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Case-insensitive name comparison, as deb822 requires.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The 1-based line the field starts on.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Everything after the colon, continuation lines and their newlines
    /// included, exactly as written (for writers that must reproduce it).
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The raw value with surrounding whitespace trimmed; continuation lines
    /// stay as they are. Right for "folded" fields such as `Depends`, where
    /// line breaks are just whitespace.
    pub fn value(&self) -> &'a str {
        self.raw.trim()
    }

    /// The value as logical lines: the first line (possibly empty), then
    /// each continuation line with its leading space removed and a lone `.`
    /// turned into an empty line. Right for "multiline" fields such as
    /// `SHA256` in Release files and `Description`.
    pub fn lines(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut parts = self.raw.split('\n');
        let first = parts.next().unwrap_or("").trim();
        std::iter::once(first).chain(parts.map(|l| {
            let l = l.strip_suffix('\r').unwrap_or(l);
            let l = l.strip_prefix([' ', '\t']).unwrap_or(l);
            if l.trim_end() == "." { "" } else { l }
        }))
    }

    /// The value unfolded into text: logical lines joined with newlines.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, line) in self.lines().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(line);
        }
        out
    }
}

impl fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}: {:?}", self.name, self.line, self.raw)
    }
}

/// One paragraph (stanza) of fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph<'a> {
    fields: Vec<Field<'a>>,
    line: usize,
}

impl<'a> Paragraph<'a> {
    /// The 1-based line of the paragraph's first field.
    pub fn line(&self) -> usize {
        self.line
    }

    pub fn fields(&self) -> &[Field<'a>] {
        &self.fields
    }

    /// Looks a field up by name, ignoring case.
    pub fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.is(name))
    }

    /// The trimmed value of a field, ignoring case in the name.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.field(name).map(Field::value)
    }
}

/// Streams paragraphs out of a text; stops after the first error.
pub struct Parser<'a> {
    text: &'a str,
    /// Byte offset of the next unread line.
    pos: usize,
    /// 1-based number of the next unread line.
    line: usize,
    options: ParseOptions,
    failed: bool,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str, options: ParseOptions) -> Self {
        Parser {
            text,
            pos: 0,
            line: 1,
            options,
            failed: false,
        }
    }

    /// The next line without its terminator, its start offset and number.
    fn next_line(&mut self) -> Option<(&'a str, usize, usize)> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let (line, advance) = match rest.find('\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        let start = self.pos;
        let number = self.line;
        self.pos += advance;
        self.line += 1;
        Some((line.strip_suffix('\r').unwrap_or(line), start, number))
    }

    fn peek_is_continuation(&self) -> bool {
        let rest = &self.text[self.pos..];
        rest.starts_with([' ', '\t']) && !is_blank(rest.split('\n').next().unwrap_or(""))
    }

    fn parse_paragraph(&mut self) -> Result<Option<Paragraph<'a>>, Deb822Error> {
        let mut fields: Vec<Field<'a>> = Vec::new();
        let mut first_line = 0;
        while let Some((line, start, number)) = self.next_line() {
            if is_blank(line) {
                if fields.is_empty() {
                    continue;
                }
                break;
            }
            if line.starts_with('#') {
                if self.options.allow_comments {
                    continue;
                }
                return Err(Deb822Error::CommentNotAllowed { line: number });
            }
            if line.starts_with([' ', '\t']) {
                return Err(Deb822Error::ContinuationWithoutField { line: number });
            }
            let colon = line
                .find(':')
                .ok_or(Deb822Error::MissingColon { line: number })?;
            let name = &line[..colon];
            if !valid_field_name(name) {
                return Err(Deb822Error::InvalidFieldName {
                    line: number,
                    name: name.to_owned(),
                });
            }
            if fields.iter().any(|f| f.is(name)) {
                return Err(Deb822Error::DuplicateField {
                    line: number,
                    name: name.to_owned(),
                });
            }
            let value_start = start + colon + 1;
            let mut value_end = start + line.len();
            // Comments inside a paragraph are skipped but end no field, so a
            // continuation after one still belongs to the field before it.
            loop {
                if self.peek_is_continuation() {
                    let Some((cont, cont_start, _)) = self.next_line() else {
                        break;
                    };
                    value_end = cont_start + cont.len();
                } else if self.options.allow_comments && self.text[self.pos..].starts_with('#') {
                    self.next_line();
                } else {
                    break;
                }
            }
            if fields.is_empty() {
                first_line = number;
            }
            fields.push(Field {
                name,
                raw: &self.text[value_start..value_end],
                line: number,
            });
        }
        if fields.is_empty() {
            return Ok(None);
        }
        Ok(Some(Paragraph {
            fields,
            line: first_line,
        }))
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Paragraph<'a>, Deb822Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.parse_paragraph() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Parses a whole text into paragraphs.
pub fn parse(text: &str, options: ParseOptions) -> Result<Vec<Paragraph<'_>>, Deb822Error> {
    Parser::new(text, options).collect()
}

/// Policy lets parsers treat whitespace-only lines as separators, and real
/// archives occasionally contain them.
fn is_blank(line: &str) -> bool {
    line.bytes().all(|b| b == b' ' || b == b'\t' || b == b'\r')
}

/// Policy §5.1: printable US-ASCII except the colon, not starting with `#` or `-`.
fn valid_field_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['#', '-'])
        && name
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(text: &str) -> Result<Vec<Paragraph<'_>>, Deb822Error> {
        parse(text, ParseOptions::default())
    }

    #[test]
    fn paragraphs_split_on_blank_and_whitespace_lines() {
        let text = "\n\nPackage: a\nVersion: 1\n\n \t\nPackage: b\r\nVersion: 2\r\n\n\n";
        let paras = strict(text).unwrap();
        assert_eq!(paras.len(), 2);
        assert_eq!(paras[0].get("package"), Some("a"));
        assert_eq!(paras[0].line(), 3);
        assert_eq!(paras[1].get("PACKAGE"), Some("b"));
        assert_eq!(paras[1].get("version"), Some("2"));
        assert_eq!(paras[1].line(), 7);
    }

    #[test]
    fn continuation_lines_and_dot_lines() {
        let text = "Package: a\nDescription: short\n long line\n .\n  indented\nDepends: x,\n y\n";
        let paras = strict(text).unwrap();
        let desc = paras[0].field("description").unwrap();
        assert_eq!(desc.text(), "short\nlong line\n\n indented");
        assert_eq!(paras[0].get("Depends"), Some("x,\n y"));
    }

    #[test]
    fn empty_first_line_multiline_field() {
        let text = "SHA256:\n abc 1 main/x\n def 2 main/y\nOther: z";
        let paras = strict(text).unwrap();
        let lines: Vec<_> = paras[0].field("sha256").unwrap().lines().collect();
        assert_eq!(lines, ["", "abc 1 main/x", "def 2 main/y"]);
        assert_eq!(paras[0].get("other"), Some("z"));
    }

    #[test]
    fn value_without_space_after_colon_and_empty_value() {
        let paras = strict("A:b\nC:\n").unwrap();
        assert_eq!(paras[0].get("a"), Some("b"));
        assert_eq!(paras[0].get("c"), Some(""));
    }

    #[test]
    fn comments_rejected_in_strict_mode_with_line() {
        let err = strict("Package: a\n# hi\nVersion: 1\n").unwrap_err();
        assert_eq!(err, Deb822Error::CommentNotAllowed { line: 2 });
    }

    #[test]
    fn comments_skipped_when_allowed_even_inside_a_field() {
        let opts = ParseOptions {
            allow_comments: true,
        };
        let paras = parse("# top\nA: 1\n# mid\n more\nB: 2\n", opts).unwrap();
        assert_eq!(paras.len(), 1);
        assert_eq!(paras[0].field("a").unwrap().lines().last(), Some("more"));
        assert_eq!(paras[0].get("b"), Some("2"));
    }

    #[test]
    fn errors_carry_line_numbers() {
        assert_eq!(
            strict("A: 1\n\n continued\n").unwrap_err(),
            Deb822Error::ContinuationWithoutField { line: 3 }
        );
        assert_eq!(
            strict("A: 1\nnocolon\n").unwrap_err(),
            Deb822Error::MissingColon { line: 2 }
        );
        assert_eq!(
            strict("A: 1\na: 2\n").unwrap_err().line(),
            2,
            "duplicates are detected case-insensitively"
        );
        assert!(matches!(
            strict("-A: 1\n").unwrap_err(),
            Deb822Error::InvalidFieldName { line: 1, .. }
        ));
        assert!(matches!(
            strict("A B: 1\n").unwrap_err(),
            Deb822Error::InvalidFieldName { line: 1, .. }
        ));
    }

    #[test]
    fn iterator_stops_after_first_error() {
        let results: Vec<_> =
            Parser::new("A: 1\n\nbad\n\nB: 2\n", ParseOptions::default()).collect();
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok());
        assert!(results[1].is_err());
    }

    #[test]
    fn empty_input_has_no_paragraphs() {
        assert!(strict("").unwrap().is_empty());
        assert!(strict("\n \n\t\n").unwrap().is_empty());
    }

    /// A cheap deterministic fuzz loop: random bytes drawn from the
    /// characters that matter to the grammar must never panic.
    #[test]
    fn random_input_never_panics() {
        let alphabet = b"ab:#- \t.\n\r\xc3\xa9";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            let mut bytes = Vec::new();
            for _ in 0..(state % 64) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let text = String::from_utf8_lossy(&bytes);
            for opts in [
                ParseOptions::default(),
                ParseOptions {
                    allow_comments: true,
                },
            ] {
                for para in Parser::new(&text, opts).flatten() {
                    for f in para.fields() {
                        let _ = f.text();
                        let _ = f.value();
                    }
                }
            }
        }
    }
}
