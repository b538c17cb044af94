//! Binary package indexes (`Packages` files) parsed into typed records.

use super::deb822::{Deb822Error, ParseOptions, Parser};
use super::relation::{RelationError, Relations, parse_relations};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackagesError {
    #[error(transparent)]
    Syntax(#[from] Deb822Error),
    #[error("paragraph at line {line} ({package}): required field {field} is missing")]
    MissingField {
        line: usize,
        package: String,
        field: &'static str,
    },
    #[error("paragraph at line {line} ({package}), field {field}: {reason}")]
    BadField {
        line: usize,
        package: String,
        field: String,
        reason: String,
    },
}

/// Policy §5.6.8 `Multi-Arch`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum MultiArch {
    #[default]
    No,
    Same,
    Foreign,
    Allowed,
}

/// The source package a binary was built from, when it differs in name or
/// version from the binary (`Source: name (version)`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceRef {
    pub name: String,
    pub version: Option<String>,
}

/// One entry of a `Packages` index.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct BinaryPackage {
    pub name: String,
    /// Kept exactly as the archive wrote it; compare with a Debian version
    /// comparator, never as a string.
    pub version: String,
    pub architecture: String,
    pub multi_arch: MultiArch,
    pub essential: bool,
    pub priority: Option<String>,
    pub section: Option<String>,
    pub depends: Relations,
    pub pre_depends: Relations,
    pub recommends: Relations,
    pub suggests: Relations,
    pub conflicts: Relations,
    pub breaks: Relations,
    pub provides: Relations,
    pub replaces: Relations,
    /// Path of the `.deb` relative to the mirror root.
    pub filename: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// In KiB, as dpkg counts it.
    pub installed_size: Option<u64>,
    pub source: Option<SourceRef>,
    /// The archive component (`main`, ...) whose index listed the package;
    /// empty when parsed outside a repository.
    pub component: String,
}

/// Parses a whole `Packages` text.
pub fn parse_packages(text: &str) -> Result<Vec<BinaryPackage>, PackagesError> {
    let mut out = Vec::new();
    for para in Parser::new(text, ParseOptions::default()) {
        let para = para?;
        let line = para.line();
        let package = para.get("Package").unwrap_or("<unnamed>").to_owned();
        let bad = |field: &str, reason: String| PackagesError::BadField {
            line,
            package: package.clone(),
            field: field.to_owned(),
            reason,
        };
        let mut pkg = BinaryPackage::default();
        let mut seen_sha256 = false;
        let mut seen_size = false;
        for field in para.fields() {
            let name = field.name();
            let value = field.value();
            let relations = |v: &str| -> Result<Relations, PackagesError> {
                parse_relations(v).map_err(|e: RelationError| bad(name, e.to_string()))
            };
            match name.to_ascii_lowercase().as_str() {
                "package" => pkg.name = value.to_owned(),
                "version" => pkg.version = value.to_owned(),
                "architecture" => pkg.architecture = value.to_owned(),
                "multi-arch" => {
                    pkg.multi_arch = match value.to_ascii_lowercase().as_str() {
                        "no" => MultiArch::No,
                        "same" => MultiArch::Same,
                        "foreign" => MultiArch::Foreign,
                        "allowed" => MultiArch::Allowed,
                        _ => return Err(bad(name, format!("unknown value {value:?}"))),
                    }
                }
                "essential" => {
                    pkg.essential = match value {
                        v if v.eq_ignore_ascii_case("yes") => true,
                        v if v.eq_ignore_ascii_case("no") => false,
                        _ => return Err(bad(name, format!("expected yes or no, got {value:?}"))),
                    }
                }
                "priority" => pkg.priority = Some(value.to_owned()),
                "section" => pkg.section = Some(value.to_owned()),
                "depends" => pkg.depends = relations(value)?,
                "pre-depends" => pkg.pre_depends = relations(value)?,
                "recommends" => pkg.recommends = relations(value)?,
                "suggests" => pkg.suggests = relations(value)?,
                "conflicts" => pkg.conflicts = relations(value)?,
                "breaks" => pkg.breaks = relations(value)?,
                "provides" => pkg.provides = relations(value)?,
                "replaces" => pkg.replaces = relations(value)?,
                "filename" => pkg.filename = value.to_owned(),
                "size" => {
                    seen_size = true;
                    pkg.size = value
                        .parse()
                        .map_err(|_| bad(name, format!("not a size: {value:?}")))?;
                }
                "sha256" => {
                    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(bad(name, format!("not a SHA-256 digest: {value:?}")));
                    }
                    seen_sha256 = true;
                    pkg.sha256 = value.to_ascii_lowercase();
                }
                "installed-size" => {
                    pkg.installed_size = Some(
                        value
                            .parse()
                            .map_err(|_| bad(name, format!("not a size: {value:?}")))?,
                    )
                }
                "source" => {
                    pkg.source = Some(parse_source(value).ok_or_else(|| {
                        bad(
                            name,
                            format!("expected `name` or `name (version)`, got {value:?}"),
                        )
                    })?)
                }
                _ => {}
            }
        }
        let missing = |field: &'static str| PackagesError::MissingField {
            line,
            package: package.clone(),
            field,
        };
        for (present, field) in [
            (!pkg.name.is_empty(), "Package"),
            (!pkg.version.is_empty(), "Version"),
            (!pkg.architecture.is_empty(), "Architecture"),
            (!pkg.filename.is_empty(), "Filename"),
            (seen_size, "Size"),
            (seen_sha256, "SHA256"),
        ] {
            if !present {
                return Err(missing(field));
            }
        }
        out.push(pkg);
    }
    Ok(out)
}

fn parse_source(value: &str) -> Option<SourceRef> {
    let (name, version) = match value.split_once('(') {
        None => (value.trim(), None),
        Some((name, rest)) => {
            let version = rest.strip_suffix(')')?.trim();
            if version.is_empty() {
                return None;
            }
            (name.trim(), Some(version.to_owned()))
        }
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    Some(SourceRef {
        name: name.to_owned(),
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::relation::{Relation, VersionOp};

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn entry(extra: &str) -> String {
        format!(
            "Package: bash\nVersion: 5.2.15-2+b2\nArchitecture: amd64\n{extra}\
             Filename: pool/main/b/bash/bash_5.2.15-2+b2_amd64.deb\nSize: 1491780\nSHA256: {H}\n"
        )
    }

    #[test]
    fn parses_a_full_entry() {
        let text = entry(
            "Essential: yes\nMulti-Arch: foreign\nPriority: required\nSection: shells\n\
             Installed-Size: 7164\nSource: bash (5.2.15-2)\n\
             Pre-Depends: libc6 (>= 2.36), libtinfo6 (>= 6)\nDepends: base-files (>= 2.1.12),\n debianutils (>= 5.6-0.1)\n\
             Recommends: bash-completion (>= 20060301-0)\nSuggests: bash-doc\n\
             Conflicts: bash-completion (<< 20060301-0)\nReplaces: bash-completion (<< 20060301-0), bash-doc (<= 2.05-1)\n\
             Breaks: x | y:any\nProvides: sh (= 1)\n\
             Description: GNU Bourne Again SHell\n long text\n .\n more\n",
        );
        let pkgs = parse_packages(&text).unwrap();
        assert_eq!(pkgs.len(), 1);
        let p = &pkgs[0];
        assert_eq!(p.name, "bash");
        assert_eq!(p.version, "5.2.15-2+b2");
        assert_eq!(p.architecture, "amd64");
        assert!(p.essential);
        assert_eq!(p.multi_arch, MultiArch::Foreign);
        assert_eq!(p.priority.as_deref(), Some("required"));
        assert_eq!(p.section.as_deref(), Some("shells"));
        assert_eq!(p.installed_size, Some(7164));
        assert_eq!(p.size, 1_491_780);
        assert_eq!(p.sha256, H);
        assert_eq!(
            p.source,
            Some(SourceRef {
                name: "bash".into(),
                version: Some("5.2.15-2".into())
            })
        );
        assert_eq!(p.pre_depends.len(), 2);
        assert_eq!(p.depends.len(), 2);
        assert_eq!(p.depends[1][0].name, "debianutils");
        assert_eq!(p.breaks[0].len(), 2);
        assert_eq!(p.breaks[0][1].arch_qualifier.as_deref(), Some("any"));
        assert_eq!(
            p.provides,
            vec![vec![Relation {
                name: "sh".into(),
                arch_qualifier: None,
                constraint: Some((VersionOp::Equal, "1".into()))
            }]]
        );
        assert_eq!(p.replaces.len(), 2);
        assert_eq!(p.recommends.len(), 1);
        assert_eq!(p.suggests.len(), 1);
        assert_eq!(p.conflicts.len(), 1);
    }

    #[test]
    fn defaults_and_several_paragraphs() {
        let text = format!("{}\n{}", entry(""), entry("Source: bash\n"));
        let pkgs = parse_packages(&text).unwrap();
        assert_eq!(pkgs.len(), 2);
        assert!(!pkgs[0].essential);
        assert_eq!(pkgs[0].multi_arch, MultiArch::No);
        assert!(pkgs[0].depends.is_empty());
        assert_eq!(pkgs[0].source, None);
        assert_eq!(pkgs[1].source.as_ref().unwrap().version, None);
    }

    #[test]
    fn errors_name_paragraph_and_field() {
        let text = format!("{}\n{}", entry(""), entry("Depends: libc6 (>= \n"));
        match parse_packages(&text).unwrap_err() {
            PackagesError::BadField {
                line,
                package,
                field,
                ..
            } => {
                assert_eq!(
                    (line, package.as_str(), field.as_str()),
                    (8, "bash", "Depends")
                );
            }
            other => panic!("{other}"),
        }
        let err = parse_packages("Package: x\nVersion: 1\nArchitecture: all\n").unwrap_err();
        assert!(
            matches!(
                err,
                PackagesError::MissingField {
                    field: "Filename",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("(x)"));
        let err = parse_packages(&entry("Essential: maybe\n")).unwrap_err();
        assert!(err.to_string().contains("Essential"), "{err}");
        let err = parse_packages(&entry("Multi-Arch: sometimes\n")).unwrap_err();
        assert!(err.to_string().contains("Multi-Arch"), "{err}");
        let err = parse_packages(&entry("Installed-Size: lots\n")).unwrap_err();
        assert!(err.to_string().contains("Installed-Size"), "{err}");
        let err = parse_packages(&entry("# comment\n")).unwrap_err();
        assert!(matches!(err, PackagesError::Syntax(_)), "{err}");
        assert!(parse_packages(&entry("").replace(H, "abc")).is_err());
    }
}
