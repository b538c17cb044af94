//! Package relationship fields (`Depends`, `Conflicts`, `Provides`, ...) of
//! binary packages, parsed into a typed form.
//!
//! Versions stay raw strings: comparing them is the resolver's job, and
//! keeping the text exactly as the archive wrote it avoids a lossy round trip.

use std::fmt;

/// A version comparison operator (Policy §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum VersionOp {
    /// `<<`
    Earlier,
    /// `<=`
    EarlierOrEqual,
    /// `=`
    Equal,
    /// `>=`
    LaterOrEqual,
    /// `>>`
    Later,
}

impl VersionOp {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOp::Earlier => "<<",
            VersionOp::EarlierOrEqual => "<=",
            VersionOp::Equal => "=",
            VersionOp::LaterOrEqual => ">=",
            VersionOp::Later => ">>",
        }
    }
}

impl fmt::Display for VersionOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One package reference: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Relation {
    pub name: String,
    /// Multi-Arch qualifier such as `any` or `native`, without the colon.
    pub arch_qualifier: Option<String>,
    pub constraint: Option<(VersionOp, String)>,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(arch) = &self.arch_qualifier {
            write!(f, ":{arch}")?;
        }
        if let Some((op, version)) = &self.constraint {
            write!(f, " ({op} {version})")?;
        }
        Ok(())
    }
}

/// A conjunction of alternatives: outer `Vec` is AND (`,`), inner is OR (`|`).
pub type Relations = Vec<Vec<Relation>>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationError {
    #[error("empty alternative in {0:?}")]
    EmptyAlternative(String),
    #[error("invalid package name {name:?} in {relation:?}")]
    InvalidName { name: String, relation: String },
    #[error("invalid architecture qualifier {arch:?} in {relation:?}")]
    InvalidArch { arch: String, relation: String },
    #[error("unterminated version constraint in {0:?}")]
    UnterminatedConstraint(String),
    #[error("unknown version operator in {0:?}")]
    UnknownOperator(String),
    #[error("missing or invalid version in {0:?}")]
    InvalidVersion(String),
    #[error("unexpected text {rest:?} after {relation:?}")]
    TrailingText { relation: String, rest: String },
    #[error(
        "architecture restrictions or build profiles are not allowed in binary package relations: {0:?}"
    )]
    SourceOnlySyntax(String),
}

/// Parses a whole relationship field value. Line breaks count as whitespace;
/// a single trailing comma is tolerated because some tools emit one.
pub fn parse_relations(value: &str) -> Result<Relations, RelationError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(Vec::new());
    }
    let body = value.strip_suffix(',').unwrap_or(value);
    body.split(',')
        .map(|group| {
            group
                .split('|')
                .map(parse_relation)
                .collect::<Result<Vec<_>, _>>()
        })
        .collect()
}

/// Parses one `name[:arch] [(op version)]` reference.
pub fn parse_relation(text: &str) -> Result<Relation, RelationError> {
    let whole = text.trim();
    if whole.is_empty() {
        return Err(RelationError::EmptyAlternative(text.to_owned()));
    }
    // Outside parentheses `<` can only open a build profile; inside them it
    // is an operator, and a profile after `)` is caught as trailing text.
    if whole.contains('[') || (whole.contains('<') && !whole.contains('(')) {
        return Err(RelationError::SourceOnlySyntax(whole.to_owned()));
    }
    let (head, constraint_text) = match whole.find('(') {
        Some(i) => (whole[..i].trim_end(), Some(&whole[i + 1..])),
        None => (whole, None),
    };
    let (name, arch) = match head.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (head, None),
    };
    if !valid_package_name(name) {
        return Err(RelationError::InvalidName {
            name: name.to_owned(),
            relation: whole.to_owned(),
        });
    }
    if let Some(arch) = arch
        && !valid_arch(arch)
    {
        return Err(RelationError::InvalidArch {
            arch: arch.to_owned(),
            relation: whole.to_owned(),
        });
    }
    let constraint = match constraint_text {
        None => None,
        Some(rest) => {
            let close = rest
                .find(')')
                .ok_or_else(|| RelationError::UnterminatedConstraint(whole.to_owned()))?;
            let trailing = rest[close + 1..].trim();
            if !trailing.is_empty() {
                return Err(if trailing.starts_with(['[', '<']) {
                    RelationError::SourceOnlySyntax(whole.to_owned())
                } else {
                    RelationError::TrailingText {
                        relation: whole.to_owned(),
                        rest: trailing.to_owned(),
                    }
                });
            }
            Some(parse_constraint(rest[..close].trim(), whole)?)
        }
    };
    Ok(Relation {
        name: name.to_owned(),
        arch_qualifier: arch.map(str::to_owned),
        constraint,
    })
}

fn parse_constraint(text: &str, whole: &str) -> Result<(VersionOp, String), RelationError> {
    // Longest operators first; bare `<` and `>` are the obsolete spellings of
    // `<=` and `>=` that dpkg still accepts.
    const OPS: [(&str, VersionOp); 7] = [
        ("<<", VersionOp::Earlier),
        ("<=", VersionOp::EarlierOrEqual),
        (">>", VersionOp::Later),
        (">=", VersionOp::LaterOrEqual),
        ("=", VersionOp::Equal),
        ("<", VersionOp::EarlierOrEqual),
        (">", VersionOp::LaterOrEqual),
    ];
    let (op, rest) = OPS
        .iter()
        .find_map(|(s, op)| text.strip_prefix(s).map(|rest| (*op, rest)))
        .ok_or_else(|| RelationError::UnknownOperator(whole.to_owned()))?;
    let version = rest.trim();
    if version.is_empty() || !version.bytes().all(valid_version_byte) {
        return Err(RelationError::InvalidVersion(whole.to_owned()));
    }
    Ok((op, version.to_owned()))
}

/// dpkg's rule rather than Policy §5.6.1's stricter one (two or more
/// characters, lower case): an index is rejected whole on one bad entry, so
/// accept what dpkg itself would install.
fn valid_package_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_'))
}

fn valid_arch(arch: &str) -> bool {
    !arch.is_empty()
        && arch
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_version_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'~' | b':' | b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(name: &str, arch: Option<&str>, c: Option<(VersionOp, &str)>) -> Relation {
        Relation {
            name: name.into(),
            arch_qualifier: arch.map(Into::into),
            constraint: c.map(|(op, v)| (op, v.into())),
        }
    }

    #[test]
    fn simple_and_alternatives() {
        let r =
            parse_relations("libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, perl:any").unwrap();
        assert_eq!(
            r,
            vec![
                vec![rel("libc6", None, Some((VersionOp::LaterOrEqual, "2.34")))],
                vec![
                    rel("debconf", None, Some((VersionOp::LaterOrEqual, "0.5"))),
                    rel("debconf-2.0", None, None),
                ],
                vec![rel("perl", Some("any"), None)],
            ]
        );
    }

    #[test]
    fn all_operators_and_odd_spacing() {
        let r = parse_relations(
            "a (<< 1), b(<=2), c ( = 1:2.3-4~b1 ), d (>=3)  ,e (>> 0+git1)\n , f (<1), g (>1)",
        )
        .unwrap();
        let ops: Vec<_> = r.iter().map(|g| g[0].constraint.clone().unwrap()).collect();
        assert_eq!(
            ops,
            vec![
                (VersionOp::Earlier, "1".into()),
                (VersionOp::EarlierOrEqual, "2".into()),
                (VersionOp::Equal, "1:2.3-4~b1".into()),
                (VersionOp::LaterOrEqual, "3".into()),
                (VersionOp::Later, "0+git1".into()),
                (VersionOp::EarlierOrEqual, "1".into()),
                (VersionOp::LaterOrEqual, "1".into()),
            ]
        );
    }

    #[test]
    fn arch_qualifier_with_constraint() {
        let r = parse_relation("python3:any (>= 3.11~)").unwrap();
        assert_eq!(
            r,
            rel(
                "python3",
                Some("any"),
                Some((VersionOp::LaterOrEqual, "3.11~"))
            )
        );
        assert_eq!(r.to_string(), "python3:any (>= 3.11~)");
    }

    #[test]
    fn empty_field_and_trailing_comma() {
        assert!(parse_relations("  ").unwrap().is_empty());
        assert_eq!(parse_relations("a, b,").unwrap().len(), 2);
    }

    #[test]
    fn errors() {
        assert!(matches!(
            parse_relations("a,, b"),
            Err(RelationError::EmptyAlternative(_))
        ));
        assert!(matches!(
            parse_relations("a | "),
            Err(RelationError::EmptyAlternative(_))
        ));
        assert!(matches!(
            parse_relation("a (>= 1"),
            Err(RelationError::UnterminatedConstraint(_))
        ));
        assert!(matches!(
            parse_relation("ab (~ 1)"),
            Err(RelationError::UnknownOperator(_))
        ));
        assert!(matches!(
            parse_relation("ab (>= )"),
            Err(RelationError::InvalidVersion(_))
        ));
        assert!(matches!(
            parse_relation("ab (>= 1 2)"),
            Err(RelationError::InvalidVersion(_))
        ));
        assert!(matches!(
            parse_relation("a b"),
            Err(RelationError::InvalidName { .. })
        ));
        assert!(matches!(
            parse_relation("ab:"),
            Err(RelationError::InvalidArch { .. })
        ));
        assert!(matches!(
            parse_relation("ab (>= 1) junk"),
            Err(RelationError::TrailingText { .. })
        ));
        assert!(matches!(
            parse_relation("ab [amd64]"),
            Err(RelationError::SourceOnlySyntax(_))
        ));
        assert!(matches!(
            parse_relation("ab <!nocheck>"),
            Err(RelationError::SourceOnlySyntax(_))
        ));
    }
}
