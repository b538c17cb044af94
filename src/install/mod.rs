//! Installing packages into the image root and recording them in the
//! root's package database.
//!
//! [`unpack_deb`] is `dpkg --unpack` for one file, [`unpack_debs`] for
//! several in one run; [`bootstrap`] installs a whole Debian package set,
//! scripts and configuration included; [`rpm::install`] does the same for
//! a set of RPM packages. Before any of the multi-package installs writes
//! a file, [`conflicts`] checks that no two packages ship one path their
//! format forbids them to share.

pub mod bootstrap;
pub mod conflicts;
pub mod deb;
mod deb822;
pub mod deb_conflicts;
pub mod dpkg_db;
pub mod root_cache;
pub mod rootfs;
pub mod rpm;
pub mod tree_copy;

use std::path::Path;

use thiserror::Error;

pub use conflicts::{FileConflict, FileConflicts};
pub use deb::{DebError, DebPackage, Unpacked};
pub use deb_conflicts::{DebConflictError, DebPlan};
pub use dpkg_db::DbError;
pub use rootfs::{InRootPath, RealPath, RootError, RootFs};

#[derive(Debug, Error)]
pub enum InstallError {
    #[error(transparent)]
    Deb(#[from] DebError),
    #[error(transparent)]
    Conflicts(#[from] DebConflictError),
    #[error("{package}: {source}")]
    Db {
        package: std::path::PathBuf,
        source: DbError,
    },
}

/// What [`unpack_deb`] did, for the caller's log and for the configure stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub unpacked: Unpacked,
}

/// What [`unpack_debs`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedSet {
    /// In the order given.
    pub packages: Vec<UnpackedPackage>,
    /// The file conflicts let through by [`FileConflicts::Allow`].
    pub warnings: Vec<String>,
}

/// `dpkg --unpack` for one file: extracts `deb` into `root` and records it
/// as `install ok unpacked`.
pub fn unpack_deb(root: &RootFs, deb: impl AsRef<Path>) -> Result<UnpackedPackage, InstallError> {
    unpack_shared(root, deb.as_ref(), &DebPlan::default(), 0)
}

/// `dpkg --unpack` for several files, in this order, as one dpkg run: the
/// paths two of them (or one of them and a package `root` holds) ship are
/// checked first, by dpkg's rules, and a conflict `policy` refuses is an
/// error before anything is written.
pub fn unpack_debs(
    root: &RootFs,
    debs: &[&Path],
    policy: FileConflicts,
) -> Result<UnpackedSet, InstallError> {
    let plan = deb_conflicts::check(root, debs, policy)?;
    let packages = debs
        .iter()
        .enumerate()
        .map(|(position, deb)| unpack_shared(root, deb, &plan, position))
        .collect::<Result<_, _>>()?;
    Ok(UnpackedSet {
        packages,
        warnings: plan.warnings(),
    })
}

/// Unpacks and records `deb`, the package at `position` of the order
/// `plan` was worked out for.
fn unpack_shared(
    root: &RootFs,
    deb: &Path,
    plan: &DebPlan,
    position: usize,
) -> Result<UnpackedPackage, InstallError> {
    let mut package = DebPackage::open(deb)?;
    let diversions = dpkg_db::diversions(root).map_err(|source| InstallError::Db {
        package: package.path().to_path_buf(),
        source,
    })?;
    let unpacked = deb_conflicts::unpack_shared(root, &mut package, plan, position, &diversions)?;
    dpkg_db::record_unpacked(root, &package, &unpacked).map_err(|source| InstallError::Db {
        package: package.path().to_path_buf(),
        source,
    })?;
    Ok(UnpackedPackage {
        name: package.name().to_string(),
        version: package.version().to_string(),
        architecture: package.architecture().to_string(),
        unpacked,
    })
}
