//! A deliberately small deb822 paragraph reader/writer for `control` and
//! `/var/lib/dpkg/status`.
//!
//! Kept private to the install stage: the repository-index parser is a
//! separate piece of work, and the two are meant to be unified later. Only
//! what dpkg's own files need is supported: no comments (dpkg rejects them in
//! status), no OpenPGP armour.

use std::fmt;

/// One paragraph, fields in the order they were read.
///
/// Values keep their continuation lines verbatim (leading space included) so
/// that writing a paragraph back is byte-for-byte what dpkg would write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

/// Why a paragraph could not be read; the line number is 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub reason: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl Paragraph {
    /// The value of a field; field names are case-insensitive in deb822.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces a field's value in place, or appends the field.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .fields
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name.to_string(), value)),
        }
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Writes the paragraph (without the blank separator line).
    pub fn write_to(&self, out: &mut String) {
        for (name, value) in &self.fields {
            out.push_str(name);
            out.push(':');
            let mut lines = value.split('\n');
            if let Some(first) = lines.next()
                && !first.is_empty()
            {
                out.push(' ');
                out.push_str(first);
            }
            for line in lines {
                out.push('\n');
                out.push_str(line);
            }
            out.push('\n');
        }
    }
}

/// Parses every paragraph in `text`. Blank lines (also whitespace-only ones)
/// separate paragraphs.
pub fn parse(text: &str) -> Result<Vec<Paragraph>, SyntaxError> {
    let mut paragraphs = Vec::new();
    let mut current = Paragraph::default();
    for (index, line) in text.lines().enumerate() {
        let lineno = index + 1;
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            let Some((_, value)) = current.fields.last_mut() else {
                return Err(SyntaxError {
                    line: lineno,
                    reason: "continuation line before any field",
                });
            };
            value.push('\n');
            value.push_str(line.trim_end());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(SyntaxError {
                line: lineno,
                reason: "line is neither a field nor a continuation",
            });
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(SyntaxError {
                line: lineno,
                reason: "invalid field name",
            });
        }
        if current.get(name).is_some() {
            return Err(SyntaxError {
                line: lineno,
                reason: "duplicate field in paragraph",
            });
        }
        current
            .fields
            .push((name.to_string(), value.trim().to_string()));
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    Ok(paragraphs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_multiline_fields() {
        let text =
            "Package: a\nConffiles:\n /etc/a 0123\nDescription: short\n long line\n .\n more\n";
        let paras = parse(text).expect("parses");
        assert_eq!(paras.len(), 1);
        assert_eq!(paras[0].get("package"), Some("a"));
        assert_eq!(paras[0].get("Conffiles"), Some("\n /etc/a 0123"));
        let mut out = String::new();
        paras[0].write_to(&mut out);
        assert_eq!(out, text);
    }

    #[test]
    fn splits_paragraphs_and_rejects_garbage() {
        let paras = parse("A: 1\n\n \nB: 2\n").expect("parses");
        assert_eq!(paras.len(), 2);
        assert!(parse(" orphan\n").is_err());
        assert!(parse("no colon here\n").is_err());
        assert!(parse("A: 1\nA: 2\n").is_err());
    }
}
