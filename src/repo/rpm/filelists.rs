//! The `filelists` index: every file of every package. Only needed when a
//! dependency names a path that `primary` does not list.

use std::collections::HashMap;
use std::io::BufRead;

use super::primary::{PackageFile, PackageProblem, RpmPackage, package_file};
use super::xml::{XmlError, XmlStream};

/// The files of one package, keyed like primary by the package checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileList {
    pub pkgid: String,
    pub name: String,
    pub arch: String,
    pub files: Vec<PackageFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum FilelistsError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("package at byte {offset}: no pkgid attribute")]
    MissingPkgid { offset: u64 },
    #[error("package {pkgid} at byte {offset}: {problem}")]
    Package {
        offset: u64,
        pkgid: String,
        problem: PackageProblem,
    },
    #[error(
        "filelists lists package {name} ({pkgid}) that primary does not: the two indexes come \
         from different repository states"
    )]
    UnknownPackage { pkgid: String, name: String },
}

/// Reads a whole decompressed `filelists.xml`.
pub fn parse_filelists(input: impl BufRead) -> Result<Vec<FileList>, FilelistsError> {
    let mut stream = XmlStream::open(input, "filelists")?;
    let mut out = Vec::new();
    while let Some(pkg) = stream.next_child()? {
        if pkg.name != "package" {
            continue;
        }
        let pkgid = pkg
            .attr("pkgid")
            .ok_or(FilelistsError::MissingPkgid { offset: pkg.offset })?
            .to_ascii_lowercase();
        let files = pkg
            .children_named("file")
            .map(package_file)
            .collect::<Result<_, _>>()
            .map_err(|problem| FilelistsError::Package {
                offset: pkg.offset,
                pkgid: pkgid.clone(),
                problem,
            })?;
        out.push(FileList {
            name: pkg.attr("name").unwrap_or_default().to_owned(),
            arch: pkg.attr("arch").unwrap_or_default().to_owned(),
            pkgid,
            files,
        });
    }
    Ok(out)
}

/// Replaces each package's partial file list with the full one.
pub fn merge_filelists(
    packages: &mut [RpmPackage],
    lists: Vec<FileList>,
) -> Result<(), FilelistsError> {
    let index: HashMap<String, usize> = packages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.checksum.value().to_owned(), i))
        .collect();
    for list in lists {
        let Some(&i) = index.get(&list.pkgid) else {
            return Err(FilelistsError::UnknownPackage {
                pkgid: list.pkgid,
                name: list.name,
            });
        };
        packages[i].files = list.files;
    }
    Ok(())
}
