//! Shell-style word splitting of one kickstart line.
//!
//! Kickstart lines are split the way a POSIX shell splits words: single
//! quotes are literal, double quotes allow `\"`, `\\`, `\$` and `` \` ``,
//! a backslash outside quotes escapes the next character, and `#` at the start
//! of a word begins a comment (so `rootpw --iscrypted $6$a#b` keeps its `#`).

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordsError {
    #[error("unterminated {0} quote: add the closing {1}")]
    UnterminatedQuote(&'static str, char),
    #[error("the line ends with a lone backslash")]
    TrailingBackslash,
}

/// Splits `line` into words, dropping a trailing comment.
pub fn split(line: &str) -> Result<Vec<String>, WordsError> {
    let mut words = Vec::new();
    let mut current = String::new();
    // A word may be empty but present (`""`), so track it apart from its text.
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\\' => {
                current.push(chars.next().ok_or(WordsError::TrailingBackslash)?);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err(WordsError::UnterminatedQuote("single", '\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => current.push(c),
                            Some(c) => {
                                current.push('\\');
                                current.push(c);
                            }
                            None => return Err(WordsError::UnterminatedQuote("double", '"')),
                        },
                        Some(c) => current.push(c),
                        None => return Err(WordsError::UnterminatedQuote("double", '"')),
                    }
                }
            }
            c => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// Quotes `word` so that [`split`] gives it back unchanged.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && !word.starts_with('#')
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%^~$&?{}*![]<>;|()".contains(c));
    if plain {
        return word.to_owned();
    }
    if !word.contains('\'') {
        return format!("'{word}'");
    }
    let mut quoted = String::from("\"");
    for c in word.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            quoted.push('\\');
        }
        let _ = write!(quoted, "{c}");
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split(line).unwrap()
    }

    #[test]
    fn splits_on_whitespace_and_drops_comments() {
        assert_eq!(words("text # don't use cmdline"), ["text"]);
        assert_eq!(
            words("  part /  --size 5120\t--fstype ext4 "),
            ["part", "/", "--size", "5120", "--fstype", "ext4"]
        );
        assert_eq!(words("# only a comment"), Vec::<String>::new());
    }

    #[test]
    fn hash_inside_a_word_is_not_a_comment() {
        assert_eq!(
            words("rootpw --iscrypted $6$a#b"),
            ["rootpw", "--iscrypted", "$6$a#b"]
        );
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(
            words(r#"bootloader --append="console=ttyS0 quiet""#),
            ["bootloader", "--append=console=ttyS0 quiet"]
        );
        assert_eq!(
            words(r#"sshkey --username=root 'ssh-ed25519 AAAA me@host'"#),
            ["sshkey", "--username=root", "ssh-ed25519 AAAA me@host"]
        );
        assert_eq!(
            words(r#"a "x\"y\\z\n" b\ c ''"#),
            ["a", "x\"y\\z\\n", "b c", ""]
        );
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert_eq!(
            split("user --gecos=\"Jo"),
            Err(WordsError::UnterminatedQuote("double", '"'))
        );
        assert_eq!(
            split("user --gecos='Jo"),
            Err(WordsError::UnterminatedQuote("single", '\''))
        );
        assert_eq!(split("a \\"), Err(WordsError::TrailingBackslash));
    }

    #[test]
    fn quote_round_trips() {
        for word in [
            "plain",
            "with space",
            "it's",
            "a\"b$c`d\\e",
            "",
            "#hash",
            "x=y,z",
            "tab\there",
        ] {
            assert_eq!(split(&quote(word)).unwrap(), [word], "word {word:?}");
        }
    }
}
