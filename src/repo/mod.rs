//! The Debian repository stage: fetch a suite's indexes, verify them against
//! a keyring, and parse them into typed package lists.
//!
//! Trust flows in one direction: the keyring vouches for `InRelease`, whose
//! SHA256 list vouches for each `Packages` index, whose entries vouch for
//! each `.deb`. Nothing is parsed before the link above it has been checked.

pub mod date;
pub mod deb822;
pub mod debian;
pub mod packages;
pub mod parsed_cache;
pub mod relation;
pub mod release;
pub mod rpm;
pub mod signature;

pub use debian::{RepoError, RepoSpec, Repository, SignaturePolicy, load_repository};
pub use packages::{BinaryPackage, MultiArch, SourceRef};
pub use relation::{Relation, Relations, VersionOp};
pub use release::{Release, ReleaseFile};
pub use signature::{Keyring, SignatureError, Signer};
