//! Master and differential images: `livecompose derive` writes a copy-on-write child
//! of a qcow2 master, `livecompose commit` merges a child (and everything behind it)
//! into a new standalone image. Both read their inputs read-only with the project's
//! own qcow2 reader and write with its writer; qemu-img is not needed.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};

use crate::disk::qcow2::{
    Backing, BackingFormat, GuestDisk, Persist, Qcow2Error, Qcow2Options, Qcow2Stats, VisitCluster,
    write_image,
};
use crate::disk::qcow2_read::{Chain, ReadError};

#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error("{0} would be written over its own input; choose another name")]
    SameFile(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is {image_size} bytes, larger than the {size} asked for: a disk can only grow",
        image.display()
    )]
    Shrink {
        image: PathBuf,
        image_size: u64,
        size: u64,
    },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Write(#[from] Qcow2Error),
}

impl DeriveError {
    /// Whether the command line or an input image is at fault (exit code 2), not the
    /// machine.
    pub fn is_bad_input(&self) -> bool {
        match self {
            DeriveError::SameFile(_) | DeriveError::Shrink { .. } => true,
            // A directory named on the command line that is not there.
            DeriveError::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            DeriveError::Read(error) | DeriveError::Write(Qcow2Error::Read(error)) => {
                error.is_bad_input()
            }
            DeriveError::Write(error) => matches!(error, Qcow2Error::Exists(_)),
        }
    }
}

/// A disk with nothing stored: every cluster is left to the backing file.
struct Unallocated(u64);

impl GuestDisk for Unallocated {
    fn virtual_size(&self) -> u64 {
        self.0
    }

    fn for_each_data_cluster(
        &mut self,
        _: u32,
        _: &mut VisitCluster<'_>,
    ) -> Result<(), Qcow2Error> {
        Ok(())
    }
}

/// Writes `child`, a qcow2 image backed by the qcow2 image `master` with nothing of
/// its own: the master's virtual size and cluster size, the master's path relative to
/// the child's directory and the format `qcow2` recorded. The master (and each backing
/// file behind it) is opened read-only and checked first. Returns the backing file
/// name recorded.
pub fn derive(master: &Path, child: &Path) -> Result<PathBuf, DeriveError> {
    let chain = Chain::open(master)?;
    let master_path = absolute(master)?;
    let child_path = absolute(child)?;
    if master_path == child_path {
        return Err(DeriveError::SameFile(child.to_owned()));
    }
    let child_directory = child_path.parent().unwrap_or(Path::new("/"));
    let name = relative(child_directory, &master_path);
    let options = Qcow2Options {
        cluster_bits: chain.cluster_bits(),
        ..Qcow2Options::default()
    };
    let backing = Backing {
        name: name.as_os_str().as_bytes().to_vec(),
        format: BackingFormat::Qcow2,
    };
    let mut empty = Unallocated(chain.virtual_size());
    write_image(&mut empty, child, &options, Some(&backing), Persist::Keep)?;
    Ok(name)
}

/// Writes `overlay`, a qcow2 image of `size` bytes backed by `image` (recorded by its
/// absolute path, in `format`) with nothing of its own. qemu reads the image through
/// it and zeros past its end, so a guest sees a larger disk, as a cloud gives an
/// instance a larger disk than its template, while the image is neither copied nor
/// written: `livecompose test --disk-size`. Only qemu reads such an overlay; this
/// project's reader wants a backing file of the overlay's own size.
pub fn grown_overlay(
    image: &Path,
    format: BackingFormat,
    size: u64,
    overlay: &Path,
) -> Result<(), DeriveError> {
    let image_size = match format {
        BackingFormat::Qcow2 => Chain::open(image)?.virtual_size(),
        BackingFormat::Raw => std::fs::metadata(image)
            .map_err(|source| DeriveError::Io {
                path: image.to_owned(),
                source,
            })?
            .len(),
    };
    if size < image_size {
        return Err(DeriveError::Shrink {
            image: image.to_owned(),
            image_size,
            size,
        });
    }
    let backing = Backing {
        name: absolute(image)?.as_os_str().as_bytes().to_vec(),
        format,
    };
    let mut empty = Unallocated(size);
    write_image(
        &mut empty,
        overlay,
        &Qcow2Options::default(),
        Some(&backing),
        Persist::Keep,
    )?;
    Ok(())
}

/// Writes `output`, a standalone qcow2 image (no backing file) holding the disk that
/// `child` and its backing files give together, with `child`'s cluster size. Clusters
/// of zeros stay unallocated. The inputs are opened read-only.
pub fn commit(child: &Path, output: &Path) -> Result<Qcow2Stats, DeriveError> {
    // An existing output, an input among them, is refused when it is renamed into place.
    let mut chain = Chain::open(child)?;
    let options = Qcow2Options {
        cluster_bits: chain.cluster_bits(),
        ..Qcow2Options::default()
    };
    Ok(write_image(
        &mut chain,
        output,
        &options,
        None,
        Persist::Keep,
    )?)
}

/// `path` made absolute through its real directory (symbolic links in the directory
/// resolved, the file name kept), as a backing file name is resolved.
fn absolute(path: &Path) -> Result<PathBuf, DeriveError> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let real = directory.canonicalize().map_err(|source| DeriveError::Io {
        path: directory.to_owned(),
        source,
    })?;
    Ok(match path.file_name() {
        Some(name) => real.join(name),
        None => real,
    })
}

/// The path from directory `from` to `to`, both absolute and free of `.` and `..`.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push(OsStr::new(".."));
    }
    for component in &to[common..] {
        path.push(component);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let cases = [
            ("/srv/images", "/srv/images/master.qcow2", "master.qcow2"),
            (
                "/srv/images/lab",
                "/srv/images/master.qcow2",
                "../master.qcow2",
            ),
            ("/srv/a/b", "/srv/c/d/m.qcow2", "../../c/d/m.qcow2"),
            ("/", "/m.qcow2", "m.qcow2"),
            ("/srv", "/m.qcow2", "../m.qcow2"),
        ];
        for (from, to, expected) in cases {
            assert_eq!(
                relative(Path::new(from), Path::new(to)),
                Path::new(expected),
                "{from} -> {to}"
            );
        }
    }
}
