//! RPM repositories: `repomd.xml`, the `primary` and `filelists` indexes it
//! points at, and the RPM semantics their entries need (EVR ordering, rich
//! dependencies).
//!
//! As on the Debian side, trust flows one way: `repomd.xml` vouches for each
//! index by checksum, and no index is decompressed or parsed before its
//! checksum has been checked.

pub mod compression;
pub mod comps;
pub mod dependency;
pub mod filelists;
pub mod metalink;
pub mod primary;
pub mod repodata;
pub mod repomd;
pub mod richdep;
pub mod version;
pub mod xml;

pub use crate::checksum::{Checksum, ChecksumKind};
pub use comps::{Comps, Environment, Group, GroupPackage, GroupPackageKind};
pub use dependency::{Constraint, DepOp, Dependency};
pub use primary::{FileKind, PackageFile, RpmPackage};
pub use repodata::{FileLists, Repodata, RepodataError, parse_repomd, read_local, read_repodata};
pub use repomd::{Repomd, RepomdRecord};
pub use richdep::{RichDep, RichDepError};
pub use version::{Evr, EvrError, rpmvercmp};
