//! `Release` / `InRelease` contents: what a suite offers and the checksums
//! that make every index it lists trustworthy once the Release itself is.

use super::date::{self, DateError};
use super::deb822::{self, Deb822Error, ParseOptions};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Syntax(#[from] Deb822Error),
    #[error("the Release file is empty")]
    Empty,
    #[error("field {field} (line {line}): {source}")]
    Date {
        field: &'static str,
        line: usize,
        source: DateError,
    },
    #[error("SHA256 list, line {line}: expected `HASH SIZE PATH`, found {text:?}")]
    ChecksumLine { line: usize, text: String },
    #[error("the Release file has no SHA256 file list (MD5/SHA1-only archives are not trusted)")]
    NoSha256,
}

/// One index file a Release vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFile {
    /// Relative to `dists/SUITE/`, e.g. `main/binary-amd64/Packages.xz`.
    pub path: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Release {
    pub origin: Option<String>,
    pub label: Option<String>,
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub version: Option<String>,
    /// Seconds since the Unix epoch.
    pub date: Option<i64>,
    /// Seconds since the Unix epoch; absent for suites that never expire.
    pub valid_until: Option<i64>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    pub acquire_by_hash: bool,
    pub files: Vec<ReleaseFile>,
}

impl Release {
    /// Parses the (already verified) Release text.
    pub fn parse(text: &str) -> Result<Release, ReleaseError> {
        // Only the first paragraph is the Release; some tools append more.
        let para = deb822::Parser::new(text, ParseOptions::default())
            .next()
            .ok_or(ReleaseError::Empty)??;
        let owned = |name: &str| para.get(name).map(str::to_owned);
        let words = |name: &str| {
            para.get(name)
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let date_field =
            |field: &'static str| -> Result<Option<i64>, ReleaseError> {
                match para.field(field) {
                    None => Ok(None),
                    Some(f) => date::parse_rfc2822(f.value()).map(Some).map_err(|source| {
                        ReleaseError::Date {
                            field,
                            line: f.line(),
                            source,
                        }
                    }),
                }
            };
        let sums = para.field("SHA256").ok_or(ReleaseError::NoSha256)?;
        let mut files = Vec::new();
        for (offset, line) in sums.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = || ReleaseError::ChecksumLine {
                line: sums.line() + offset,
                text: line.to_owned(),
            };
            let mut parts = line.split_whitespace();
            let (Some(sha256), Some(size), Some(path), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            files.push(ReleaseFile {
                path: path.to_owned(),
                size: size.parse().map_err(|_| bad())?,
                sha256: sha256.to_ascii_lowercase(),
            });
        }
        Ok(Release {
            origin: owned("Origin"),
            label: owned("Label"),
            suite: owned("Suite"),
            codename: owned("Codename"),
            version: owned("Version"),
            date: date_field("Date")?,
            valid_until: date_field("Valid-Until")?,
            architectures: words("Architectures"),
            components: words("Components"),
            acquire_by_hash: para
                .get("Acquire-By-Hash")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            files,
        })
    }

    /// The entry for `path` (relative to `dists/SUITE/`), if listed.
    pub fn file(&self, path: &str) -> Option<&ReleaseFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Whether this Release describes `suite`, by suite or code name.
    pub fn is_suite(&self, suite: &str) -> bool {
        self.suite.as_deref() == Some(suite) || self.codename.as_deref() == Some(suite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Origin: Debian
Label: Debian
Suite: stable
Version: 12.5
Codename: bookworm
Changelogs: https://metadata.example.org/changelogs/@CHANGEPATH@_changelog
Date: Sat, 10 Feb 2024 09:49:27 UTC
Valid-Until: Sat, 17 Feb 2024 09:49:27 +0000
Acquire-By-Hash: yes
No-Support-for-Architecture-all: Packages
Architectures: all amd64 arm64
Components: main contrib non-free-firmware
Description: Debian 12.5 Released 10 February 2024
MD5Sum:
 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all
SHA256:
 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855 0 main/binary-amd64/Packages
 8e5a2ac3a8b6f2f7f2d0ed1b9c1f9b70a5d1f1b0a0c7c5a6b5d4e3f2a1b0c9d8 123 main/binary-amd64/Packages.xz
";

    #[test]
    fn parses_fields() {
        let r = Release::parse(SAMPLE).unwrap();
        assert_eq!(r.origin.as_deref(), Some("Debian"));
        assert_eq!(r.suite.as_deref(), Some("stable"));
        assert_eq!(r.codename.as_deref(), Some("bookworm"));
        assert_eq!(r.version.as_deref(), Some("12.5"));
        assert_eq!(r.date, Some(1_707_558_567));
        assert_eq!(r.valid_until, Some(1_707_558_567 + 7 * 86_400));
        assert_eq!(r.architectures, ["all", "amd64", "arm64"]);
        assert_eq!(r.components, ["main", "contrib", "non-free-firmware"]);
        assert!(r.acquire_by_hash);
        assert_eq!(r.files.len(), 2);
        let plain = r.file("main/binary-amd64/Packages").unwrap();
        assert_eq!(plain.size, 0);
        assert!(plain.sha256.starts_with("e3b0c442"), "lower-cased");
        assert_eq!(r.file("main/binary-amd64/Packages.xz").unwrap().size, 123);
        assert!(
            r.file("contrib/Contents-all").is_none(),
            "MD5-only entries ignored"
        );
        assert!(r.is_suite("bookworm") && r.is_suite("stable") && !r.is_suite("trixie"));
    }

    #[test]
    fn minimal_release_defaults() {
        let r = Release::parse("Suite: x\nSHA256:\n").unwrap();
        assert!(!r.acquire_by_hash);
        assert!(r.files.is_empty());
        assert_eq!(r.valid_until, None);
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(Release::parse(""), Err(ReleaseError::Empty));
        assert_eq!(Release::parse("Suite: x\n"), Err(ReleaseError::NoSha256));
        assert!(matches!(
            Release::parse("Date: yesterday\nSHA256:\n"),
            Err(ReleaseError::Date {
                field: "Date",
                line: 1,
                ..
            })
        ));
        assert!(matches!(
            Release::parse("Suite: x\nSHA256:\n abc 1 main/x\n"),
            Err(ReleaseError::ChecksumLine { line: 3, .. })
        ));
        let h = "0".repeat(64);
        assert!(matches!(
            Release::parse(&format!("SHA256:\n {h} notanumber main/x\n")),
            Err(ReleaseError::ChecksumLine { .. })
        ));
        assert!(matches!(
            Release::parse("Suite: x\n# c\nSHA256:\n"),
            Err(ReleaseError::Syntax(_))
        ));
    }
}
