//! `repodata/repomd.xml`: the list of a repository's index files, each with
//! the checksum that vouches for it.

use std::io::BufRead;

use super::xml::{Element, XmlError, XmlStream};
use crate::checksum::{Checksum, ChecksumError};

/// One `<data>` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepomdRecord {
    /// `primary`, `filelists`, `other`, `group`, `primary_db`, ...
    pub kind: String,
    /// Relative to the repository root, e.g. `repodata/<sum>-primary.xml.zst`.
    pub location: String,
    /// Of the file as stored (compressed).
    pub checksum: Checksum,
    pub size: Option<u64>,
    /// Of the decompressed content.
    pub open_checksum: Option<Checksum>,
    pub open_size: Option<u64>,
    pub timestamp: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repomd {
    pub revision: Option<String>,
    pub records: Vec<RepomdRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordProblem {
    #[error("<data> has no type attribute")]
    MissingType,
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{what} is not a number: {value:?}")]
    BadNumber { what: &'static str, value: String },
    #[error(transparent)]
    Checksum(#[from] ChecksumError),
    #[error(
        "location {0:?} leaves the repository (absolute, or with '..'); a repomd.xml must \
         name files inside its own repository"
    )]
    UnsafeLocation(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RepomdError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("<data type={kind:?}> at byte {offset}: {problem}")]
    Record {
        offset: u64,
        kind: String,
        problem: RecordProblem,
    },
    #[error("two <data type={0:?}> entries: which one is meant is ambiguous")]
    Duplicate(String),
}

impl Repomd {
    pub fn parse(input: impl BufRead) -> Result<Repomd, RepomdError> {
        let mut stream = XmlStream::open(input, "repomd")?;
        let mut repomd = Repomd {
            revision: None,
            records: Vec::new(),
        };
        while let Some(child) = stream.next_child()? {
            match child.name.as_str() {
                "revision" => repomd.revision = Some(child.text.trim().to_owned()),
                "data" => {
                    let record = parse_record(&child)?;
                    if repomd.record(&record.kind).is_some() {
                        return Err(RepomdError::Duplicate(record.kind));
                    }
                    repomd.records.push(record);
                }
                // `<tags>` and future additions carry nothing needed here.
                _ => {}
            }
        }
        Ok(repomd)
    }

    pub fn record(&self, kind: &str) -> Option<&RepomdRecord> {
        self.records.iter().find(|r| r.kind == kind)
    }

    /// The times it states, in seconds since 1970: the revision when it is
    /// one (createrepo_c writes the time there; other tools may write any
    /// text, which dates nothing) and each index file's timestamp.
    pub fn dates(&self) -> Vec<i64> {
        let revision = self
            .revision
            .as_deref()
            .and_then(|text| text.parse::<i64>().ok());
        let timestamps = self
            .records
            .iter()
            .filter_map(|record| record.timestamp)
            .filter_map(|seconds| i64::try_from(seconds).ok());
        revision.into_iter().chain(timestamps).collect()
    }
}

fn parse_record(data: &Element) -> Result<RepomdRecord, RepomdError> {
    let kind = data.attr("type").unwrap_or_default().to_owned();
    let fail = |problem| RepomdError::Record {
        offset: data.offset,
        kind: kind.clone(),
        problem,
    };
    if kind.is_empty() {
        return Err(fail(RecordProblem::MissingType));
    }
    let checksum = |name: &'static str| -> Result<Option<Checksum>, RepomdError> {
        data.child(name)
            .map(|c| {
                Checksum::new(c.attr("type").unwrap_or_default(), &c.text)
                    .map_err(|e| fail(e.into()))
            })
            .transpose()
    };
    let number = |name: &'static str| -> Result<Option<u64>, RepomdError> {
        data.child(name)
            .map(|c| {
                c.text.trim().parse().map_err(|_| {
                    fail(RecordProblem::BadNumber {
                        what: name,
                        value: c.text.clone(),
                    })
                })
            })
            .transpose()
    };
    let location = data
        .child("location")
        .and_then(|l| l.attr("href"))
        .ok_or_else(|| fail(RecordProblem::Missing("<location href>")))?;
    if !is_safe_relative(location) {
        return Err(fail(RecordProblem::UnsafeLocation(location.to_owned())));
    }
    Ok(RepomdRecord {
        location: location.to_owned(),
        checksum: checksum("checksum")?
            .ok_or_else(|| fail(RecordProblem::Missing("<checksum>")))?,
        size: number("size")?,
        open_checksum: checksum("open-checksum")?,
        open_size: number("open-size")?,
        timestamp: number("timestamp")?,
        kind,
    })
}

/// A relative path that stays below the directory it is joined to.
pub(crate) fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains("://")
        && !path.contains('\0')
        && path.split('/').all(|c| c != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPOMD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">4E6C0E8E4B1E3F5F2E0A9A6F1B2C3D4E5F60718293A4B5C6D7E8F90112233445</checksum>
    <open-checksum type="sha256">0000000000000000000000000000000000000000000000000000000000000000</open-checksum>
    <location href="repodata/4e6c-primary.xml.zst"/>
    <timestamp>1700000000</timestamp>
    <size>1234</size>
    <open-size>5678</open-size>
  </data>
  <data type="filelists">
    <checksum type="sha512">{SHA512}</checksum>
    <location href="repodata/x-filelists.xml.gz"/>
  </data>
</repomd>"#;

    fn repomd_text() -> String {
        REPOMD.replace("{SHA512}", &"ab".repeat(64))
    }

    #[test]
    fn records_parse() {
        let repomd = Repomd::parse(repomd_text().as_bytes()).unwrap();
        assert_eq!(repomd.revision.as_deref(), Some("1700000000"));
        let primary = repomd.record("primary").unwrap();
        assert_eq!(primary.location, "repodata/4e6c-primary.xml.zst");
        assert_eq!(
            primary.checksum.value(),
            "4e6c0e8e4b1e3f5f2e0a9a6f1b2c3d4e5f60718293a4b5c6d7e8f90112233445"
        );
        assert_eq!((primary.size, primary.open_size), (Some(1234), Some(5678)));
        assert_eq!(primary.timestamp, Some(1700000000));
        let filelists = repomd.record("filelists").unwrap();
        assert_eq!(filelists.checksum.kind.name(), "sha512");
        assert_eq!(filelists.size, None);
    }

    #[test]
    fn dates_are_the_numeric_revision_and_the_timestamps() {
        let text = repomd_text().replace(
            "<revision>1700000000</revision>",
            "<revision>1700000900</revision>",
        );
        let repomd = Repomd::parse(text.as_bytes()).unwrap();
        assert_eq!(repomd.dates(), vec![1_700_000_900, 1_700_000_000]);
        // A revision that is not a time dates nothing.
        let named = repomd_text().replace("1700000000</revision>", "fedora-40</revision>");
        let repomd = Repomd::parse(named.as_bytes()).unwrap();
        assert_eq!(repomd.dates(), vec![1_700_000_000]);
    }

    #[test]
    fn bad_records_are_named() {
        let text = repomd_text();
        for (from, to, want) in [
            (
                "repodata/x-filelists.xml.gz",
                "../../etc/passwd",
                "leaves the repository",
            ),
            (
                "<size>1234</size>",
                "<size>12x</size>",
                "size is not a number",
            ),
            (r#"type="sha512""#, r#"type="md5""#, "not supported"),
            (
                r#"<location href="repodata/4e6c-primary.xml.zst"/>"#,
                "",
                "<location href> is missing",
            ),
            (
                r#"<data type="filelists">"#,
                r#"<data type="primary">"#,
                "two <data",
            ),
        ] {
            let err = Repomd::parse(text.replace(from, to).as_bytes()).unwrap_err();
            assert!(err.to_string().contains(want), "{want}: {err}");
        }
        assert!(matches!(
            Repomd::parse(&b"<metadata/>"[..]),
            Err(RepomdError::Xml(_))
        ));
    }
}
