//! Installing packages into the image root and recording them in the
//! root's package database.
//!
//! [`unpack_deb`] is `dpkg --unpack` for one file; [`bootstrap`] installs a
//! whole Debian package set, scripts and configuration included;
//! [`rpm::install`] does the same for a set of RPM packages.

pub mod bootstrap;
pub mod deb;
mod deb822;
pub mod dpkg_db;
pub mod rootfs;
pub mod rpm;

use std::path::Path;

use thiserror::Error;

pub use deb::{DebError, DebPackage, Unpacked};
pub use dpkg_db::DbError;
pub use rootfs::{InRootPath, RealPath, RootError, RootFs};

#[derive(Debug, Error)]
pub enum InstallError {
    #[error(transparent)]
    Deb(#[from] DebError),
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

/// `dpkg --unpack` for one file: extracts `deb` into `root` and records it
/// as `install ok unpacked`.
pub fn unpack_deb(root: &RootFs, deb: impl AsRef<Path>) -> Result<UnpackedPackage, InstallError> {
    let mut package = DebPackage::open(deb.as_ref())?;
    let unpacked = package.unpack(root)?;
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
