//! The `primary` index: one record per package with its identity, where to
//! download it, what it weighs, its dependencies and the files rpm lists
//! there (those under `/etc`, `*bin/` and `/usr/lib/sendmail`; the rest are
//! in `filelists`).

use std::io::BufRead;

use super::dependency::{Constraint, DepOp, Dependency};
use super::repomd::is_safe_relative;
use super::version::Evr;
use super::xml::{Element, XmlError, XmlStream};
use crate::checksum::{Checksum, ChecksumError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    File,
    Dir,
    /// `%ghost`: owned by the package, not in its payload.
    Ghost,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageFile {
    pub path: String,
    pub kind: FileKind,
}

/// One package as `primary` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmPackage {
    pub name: String,
    pub arch: String,
    /// Always with a release: packages, unlike dependencies, have one.
    pub evr: Evr,
    /// The package file's checksum, also its id across repodata files
    /// (`pkgid`).
    pub checksum: Checksum,
    /// Relative to the repository root (or to `location_base`).
    pub location: String,
    /// `xml:base`: the package lives under another URL than the repodata.
    pub location_base: Option<String>,
    /// Bytes of the `.rpm` file.
    pub package_size: u64,
    pub installed_size: u64,
    pub source_rpm: Option<String>,
    /// The `License` tag of the package's header, as primary repeats it.
    pub license: Option<String>,
    pub provides: Vec<Dependency>,
    pub requires: Vec<Dependency>,
    pub conflicts: Vec<Dependency>,
    pub obsoletes: Vec<Dependency>,
    pub recommends: Vec<Dependency>,
    pub suggests: Vec<Dependency>,
    pub supplements: Vec<Dependency>,
    pub enhances: Vec<Dependency>,
    /// The files primary lists, or all of them once
    /// [`super::filelists::merge_filelists`] has run.
    pub files: Vec<PackageFile>,
}

impl RpmPackage {
    /// `name-[epoch:]version-release.arch`, as rpm prints it.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr, self.arch)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageProblem {
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{what} is not a number: {value:?}")]
    BadNumber { what: &'static str, value: String },
    #[error("epoch {0:?} is not a number below 2^31")]
    BadEpoch(String),
    #[error("empty version")]
    EmptyVersion,
    #[error(transparent)]
    Checksum(#[from] ChecksumError),
    #[error("{list} entry {name:?}: unknown flags {flags:?} (expected LT, LE, EQ, GE or GT)")]
    BadFlags {
        list: &'static str,
        name: String,
        flags: String,
    },
    #[error("{list} entry {name:?} has flags {flags} but no ver attribute")]
    FlagsWithoutVersion {
        list: &'static str,
        name: String,
        flags: String,
    },
    #[error("{list} entry without a name")]
    NamelessEntry { list: &'static str },
    #[error("<file type={0:?}>: expected file, dir or ghost")]
    BadFileType(String),
    #[error("location {0:?} leaves the repository (absolute, or with '..')")]
    UnsafeLocation(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PrimaryError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("package {package} at byte {offset}: {problem}")]
    Package {
        offset: u64,
        /// The name, if it got that far, else `?`.
        package: String,
        problem: PackageProblem,
    },
    #[error(
        "the header announces {declared} packages but {found} follow: the file is inconsistent"
    )]
    CountMismatch { declared: u64, found: u64 },
    #[error("the header's packages attribute {0:?} is not a number")]
    BadCount(String),
}

/// Streams the packages of a decompressed `primary.xml`.
pub struct PrimaryReader<R: BufRead> {
    stream: XmlStream<R>,
    declared: Option<u64>,
    found: u64,
    done: bool,
}

impl<R: BufRead> PrimaryReader<R> {
    pub fn new(input: R) -> Result<Self, PrimaryError> {
        let stream = XmlStream::open(input, "metadata")?;
        let declared = match stream.root().attr("packages") {
            None => None,
            Some(n) => Some(
                n.trim()
                    .parse()
                    .map_err(|_| PrimaryError::BadCount(n.to_owned()))?,
            ),
        };
        Ok(PrimaryReader {
            stream,
            declared,
            found: 0,
            done: false,
        })
    }

    fn next_package(&mut self) -> Result<Option<RpmPackage>, PrimaryError> {
        while let Some(child) = self.stream.next_child()? {
            if child.name == "package" {
                self.found += 1;
                return parse_package(&child).map(Some);
            }
        }
        match self.declared {
            Some(declared) if declared != self.found => Err(PrimaryError::CountMismatch {
                declared,
                found: self.found,
            }),
            _ => Ok(None),
        }
    }
}

impl<R: BufRead> Iterator for PrimaryReader<R> {
    type Item = Result<RpmPackage, PrimaryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_package().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

/// Reads a whole decompressed `primary.xml`.
pub fn parse_primary(input: impl BufRead) -> Result<Vec<RpmPackage>, PrimaryError> {
    PrimaryReader::new(input)?.collect()
}

fn parse_package(pkg: &Element) -> Result<RpmPackage, PrimaryError> {
    let name = pkg.child("name").map(|n| n.text.trim().to_owned());
    let fail = |problem| PrimaryError::Package {
        offset: pkg.offset,
        package: name.clone().unwrap_or_else(|| "?".into()),
        problem,
    };
    let name_text = name
        .clone()
        .ok_or(PackageProblem::Missing("<name>"))
        .map_err(fail)?;
    let arch = pkg
        .child("arch")
        .map(|a| a.text.trim().to_owned())
        .ok_or(PackageProblem::Missing("<arch>"))
        .map_err(fail)?;
    let version = pkg
        .child("version")
        .ok_or(PackageProblem::Missing("<version>"))
        .map_err(fail)?;
    let evr = evr_from(version, true).map_err(fail)?;
    let checksum_el = pkg
        .child("checksum")
        .ok_or(PackageProblem::Missing("<checksum>"))
        .map_err(fail)?;
    let checksum = Checksum::new(
        checksum_el.attr("type").unwrap_or_default(),
        &checksum_el.text,
    )
    .map_err(|e| fail(e.into()))?;
    let location_el = pkg
        .child("location")
        .ok_or(PackageProblem::Missing("<location>"))
        .map_err(fail)?;
    let location = location_el
        .attr("href")
        .ok_or(PackageProblem::Missing("<location href>"))
        .map_err(fail)?;
    if !is_safe_relative(location) {
        return Err(fail(PackageProblem::UnsafeLocation(location.to_owned())));
    }
    let size = pkg
        .child("size")
        .ok_or(PackageProblem::Missing("<size>"))
        .map_err(fail)?;
    let number = |what: &'static str, attr: &str| -> Result<u64, PackageProblem> {
        let value = size.attr(attr).ok_or(PackageProblem::Missing(what))?;
        value.trim().parse().map_err(|_| PackageProblem::BadNumber {
            what,
            value: value.to_owned(),
        })
    };
    let package_size = number("<size package>", "package").map_err(fail)?;
    let installed_size = number("<size installed>", "installed").map_err(fail)?;

    let format = pkg.child("format");
    let list = |tag: &'static str, pre_allowed: bool| -> Result<Vec<Dependency>, PackageProblem> {
        match format.and_then(|f| f.child(tag)) {
            None => Ok(Vec::new()),
            Some(list) => list
                .children_named("entry")
                .map(|e| dependency(e, tag, pre_allowed))
                .collect(),
        }
    };
    let files = format
        .map(|f| f.children_named("file").map(package_file).collect())
        .transpose()
        .map_err(fail)?
        .unwrap_or_default();
    Ok(RpmPackage {
        arch,
        evr,
        checksum,
        location: location.to_owned(),
        location_base: location_el.attr("xml:base").map(str::to_owned),
        package_size,
        installed_size,
        source_rpm: format
            .and_then(|f| f.child("sourcerpm"))
            .map(|s| s.text.trim().to_owned())
            .filter(|s| !s.is_empty()),
        license: format
            .and_then(|f| f.child("license"))
            .map(|s| s.text.trim().to_owned())
            .filter(|s| !s.is_empty()),
        provides: list("provides", false).map_err(fail)?,
        requires: list("requires", true).map_err(fail)?,
        conflicts: list("conflicts", false).map_err(fail)?,
        obsoletes: list("obsoletes", false).map_err(fail)?,
        recommends: list("recommends", false).map_err(fail)?,
        suggests: list("suggests", false).map_err(fail)?,
        supplements: list("supplements", false).map_err(fail)?,
        enhances: list("enhances", false).map_err(fail)?,
        files,
        name: name_text,
    })
}

/// Reads `epoch`/`ver`/`rel` attributes. A package always has a release; a
/// dependency may not.
fn evr_from(el: &Element, need_release: bool) -> Result<Evr, PackageProblem> {
    let epoch = match el.attr("epoch").map(str::trim) {
        None | Some("") => 0,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|e| i32::try_from(*e).is_ok())
            .ok_or_else(|| PackageProblem::BadEpoch(text.to_owned()))?,
    };
    let version = el.attr("ver").ok_or(PackageProblem::Missing("ver"))?;
    if version.is_empty() {
        return Err(PackageProblem::EmptyVersion);
    }
    let release = el.attr("rel").map(str::to_owned);
    if need_release && release.is_none() {
        return Err(PackageProblem::Missing("rel"));
    }
    Ok(Evr::new(epoch, version, release))
}

fn dependency(
    e: &Element,
    list: &'static str,
    pre_allowed: bool,
) -> Result<Dependency, PackageProblem> {
    let name = e
        .attr("name")
        .filter(|n| !n.is_empty())
        .ok_or(PackageProblem::NamelessEntry { list })?;
    let constraint = match e.attr("flags") {
        None => None,
        Some(flags) => {
            let op = DepOp::from_flags(flags).ok_or_else(|| PackageProblem::BadFlags {
                list,
                name: name.to_owned(),
                flags: flags.to_owned(),
            })?;
            if e.attr("ver").is_none() {
                return Err(PackageProblem::FlagsWithoutVersion {
                    list,
                    name: name.to_owned(),
                    flags: flags.to_owned(),
                });
            }
            let evr = evr_from(e, false)?;
            Some(Constraint { op, evr })
        }
    };
    let pre = pre_allowed && matches!(e.attr("pre"), Some("1" | "true"));
    Ok(Dependency {
        name: name.to_owned(),
        constraint,
        pre,
    })
}

pub(crate) fn package_file(e: &Element) -> Result<PackageFile, PackageProblem> {
    let kind = match e.attr("type") {
        None | Some("file") => FileKind::File,
        Some("dir") => FileKind::Dir,
        Some("ghost") => FileKind::Ghost,
        Some(other) => return Err(PackageProblem::BadFileType(other.to_owned())),
    };
    Ok(PackageFile {
        path: e.text.trim().to_owned(),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm">
  <name>tool</name>
  <arch>x86_64</arch>
  <version epoch="2" ver="1.0" rel="3.fc40"/>
  <checksum type="sha256" pkgid="YES">1111111111111111111111111111111111111111111111111111111111111111</checksum>
  <summary>A &amp; B</summary>
  <time file="1" build="2"/>
  <size package="4096" installed="10000" archive="10500"/>
  <location xml:base="http://elsewhere/" href="Packages/t/tool-1.0-3.fc40.x86_64.rpm"/>
  <format>
    <rpm:license>MIT AND GPL-2.0-or-later</rpm:license>
    <rpm:sourcerpm>tool-1.0-3.fc40.src.rpm</rpm:sourcerpm>
    <rpm:provides>
      <rpm:entry name="tool" flags="EQ" epoch="2" ver="1.0" rel="3.fc40"/>
      <rpm:entry name="config(tool)"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="/bin/sh" pre="1"/>
      <rpm:entry name="libc.so.6(GLIBC_2.34)(64bit)"/>
      <rpm:entry name="lib" flags="GE" ver="2.0"/>
      <rpm:entry name="(a or b &gt;= 1)"/>
    </rpm:requires>
    <rpm:obsoletes><rpm:entry name="oldtool" flags="LT" epoch="0" ver="1.0"/></rpm:obsoletes>
    <rpm:recommends><rpm:entry name="extra"/></rpm:recommends>
    <file>/usr/bin/tool</file>
    <file type="dir">/etc/tool</file>
    <file type="ghost">/var/log/tool.log</file>
  </format>
</package>
</metadata>"#;

    #[test]
    fn a_package_with_every_field() {
        let pkgs = parse_primary(PRIMARY.as_bytes()).unwrap();
        assert_eq!(pkgs.len(), 1);
        let p = &pkgs[0];
        assert_eq!(p.nevra(), "tool-2:1.0-3.fc40.x86_64");
        assert_eq!(p.location, "Packages/t/tool-1.0-3.fc40.x86_64.rpm");
        assert_eq!(p.location_base.as_deref(), Some("http://elsewhere/"));
        assert_eq!((p.package_size, p.installed_size), (4096, 10000));
        assert_eq!(p.source_rpm.as_deref(), Some("tool-1.0-3.fc40.src.rpm"));
        assert_eq!(p.license.as_deref(), Some("MIT AND GPL-2.0-or-later"));
        assert_eq!(p.provides.len(), 2);
        assert_eq!(p.provides[0].to_string(), "tool = 2:1.0-3.fc40");
        assert!(p.requires[0].pre && p.requires[0].is_file());
        assert!(!p.requires[1].pre);
        assert_eq!(p.requires[2].to_string(), "lib >= 2.0");
        assert_eq!(p.requires[2].constraint.as_ref().unwrap().evr.release, None);
        assert!(p.requires[3].rich().unwrap().is_ok());
        assert_eq!(p.obsoletes[0].to_string(), "oldtool < 1.0");
        assert_eq!(p.recommends[0].name, "extra");
        assert!(p.conflicts.is_empty() && p.supplements.is_empty());
        let kinds: Vec<FileKind> = p.files.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FileKind::File, FileKind::Dir, FileKind::Ghost]);
    }

    #[test]
    fn bad_packages_are_named_with_what_is_wrong() {
        for (from, to, want) in [
            ("<arch>x86_64</arch>", "", "package tool at byte"),
            ("<arch>x86_64</arch>", "", "<arch> is missing"),
            (
                r#"epoch="2" ver="1.0" rel="3.fc40"/>
  <checksum"#,
                r#"epoch="x" ver="1.0" rel="3.fc40"/>
  <checksum"#,
                "epoch \"x\"",
            ),
            (
                r#"package="4096""#,
                r#"package="big""#,
                "<size package> is not a number",
            ),
            (r#"flags="GE""#, r#"flags="GT_OR_SO""#, "unknown flags"),
            (
                r#"flags="GE" ver="2.0""#,
                r#"flags="GE""#,
                "no ver attribute",
            ),
            (r#"type="ghost""#, r#"type="socket""#, "socket"),
            ("href=\"Packages/", "href=\"../../", "leaves the repository"),
            (
                r#"type="sha256" pkgid"#,
                r#"type="md5" pkgid"#,
                "not supported",
            ),
            (
                r#"packages="1""#,
                r#"packages="2""#,
                "announces 2 packages but 1",
            ),
            (r#"packages="1""#, r#"packages="one""#, "not a number"),
            ("<name>tool</name>", "", "package ? at byte"),
        ] {
            let text = PRIMARY.replace(from, to);
            assert_ne!(text, PRIMARY, "{from}");
            let err = parse_primary(text.as_bytes()).unwrap_err();
            assert!(err.to_string().contains(want), "{want}: {err}");
        }
        let truncated = &PRIMARY[..PRIMARY.len() / 2];
        assert!(matches!(
            parse_primary(truncated.as_bytes()),
            Err(PrimaryError::Xml(_))
        ));
    }
}
