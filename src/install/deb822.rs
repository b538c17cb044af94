//! Owned, editable deb822 paragraphs for `control` and
//! `/var/lib/dpkg/status`: read with the repository's parser
//! ([`crate::repo::deb822`]), changed in place, written back as dpkg writes
//! them.

use crate::repo::deb822::{self, Deb822Error, ParseOptions};

/// One paragraph, fields in the order they were read.
///
/// Values keep their continuation lines verbatim (leading space included) so
/// that writing a paragraph back is byte-for-byte what dpkg would write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
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

/// Parses every paragraph in `text` with the repository's deb822 reader,
/// keeping each value in the form [`Paragraph::write_to`] writes back.
pub fn parse(text: &str) -> Result<Vec<Paragraph>, Deb822Error> {
    deb822::parse(text, ParseOptions::default())?
        .iter()
        .map(|paragraph| {
            let fields = paragraph
                .fields()
                .iter()
                .map(|field| (field.name().to_owned(), owned_value(field.raw())))
                .collect();
            Ok(Paragraph { fields })
        })
        .collect()
}

/// The first line trimmed, then each continuation line as written (its
/// leading space kept, trailing space dropped), as dpkg stores values.
fn owned_value(raw: &str) -> String {
    let mut lines = raw.split('\n');
    let mut value = lines.next().unwrap_or_default().trim().to_owned();
    for line in lines {
        value.push('\n');
        value.push_str(line.trim_end());
    }
    value
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
