//! The `$variables` a kickstart URL may use.
//!
//! `$releasever` and `$basearch` mean what they mean to dnf; `$mirror` is
//! livecompose's: the Debian mirror, which is configuration and never part
//! of a kickstart. Both `$name` and `${name}` are accepted.

/// The values substituted into URLs.
#[derive(Clone, Debug, Default)]
pub struct Substitutions {
    pub mirror: Option<String>,
    pub releasever: Option<String>,
    pub basearch: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error(
        "{text:?} uses $mirror, but no Debian mirror is configured: pass --mirror=URL, set LIVECOMPOSE_MIRROR, or add a Debian source to /etc/apt/sources.list.d"
    )]
    NoMirror { text: String },
    #[error("{text:?} uses $releasever: pass --releasever=VERSION")]
    NoReleasever { text: String },
}

impl Substitutions {
    /// Expands the known variables in `text`; unknown ones stay as written,
    /// as dnf leaves them.
    pub fn expand(&self, text: &str) -> Result<String, ExpandError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(dollar) = rest.find('$') {
            out.push_str(&rest[..dollar]);
            let after = &rest[dollar + 1..];
            let (name, consumed) = match after
                .strip_prefix('{')
                .and_then(|inner| inner.split_once('}'))
            {
                Some((name, _)) => (name, name.len() + 2),
                None => {
                    let len = after
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(after.len());
                    (&after[..len], len)
                }
            };
            let value = match name {
                "mirror" => Some(self.mirror.clone().ok_or_else(|| ExpandError::NoMirror {
                    text: text.to_owned(),
                })?),
                "releasever" => {
                    Some(
                        self.releasever
                            .clone()
                            .ok_or_else(|| ExpandError::NoReleasever {
                                text: text.to_owned(),
                            })?,
                    )
                }
                "basearch" => Some(self.basearch.clone()),
                _ => None,
            };
            match value {
                Some(value) => out.push_str(&value),
                None => out.push_str(&rest[dollar..dollar + 1 + consumed]),
            }
            rest = &after[consumed..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs() -> Substitutions {
        Substitutions {
            mirror: Some("http://m.example/debian".into()),
            releasever: Some("40".into()),
            basearch: "x86_64".into(),
        }
    }

    #[test]
    fn expands_known_variables_in_both_spellings() {
        assert_eq!(
            subs().expand("$mirror/dists").unwrap(),
            "http://m.example/debian/dists"
        );
        assert_eq!(
            subs().expand("f${releasever}-$basearch/x").unwrap(),
            "f40-x86_64/x"
        );
    }

    #[test]
    fn unknown_variables_stay() {
        assert_eq!(subs().expand("a$other/${x}$").unwrap(), "a$other/${x}$");
    }

    #[test]
    fn missing_values_are_errors() {
        let none = Substitutions {
            basearch: "x86_64".into(),
            ..Substitutions::default()
        };
        assert!(matches!(
            none.expand("$mirror/debian"),
            Err(ExpandError::NoMirror { .. })
        ));
        assert!(matches!(
            none.expand("f$releasever"),
            Err(ExpandError::NoReleasever { .. })
        ));
        assert_eq!(none.expand("no vars").unwrap(), "no vars");
    }
}
