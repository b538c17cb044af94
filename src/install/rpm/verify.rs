//! Package signatures and digests, checked before anything is installed.
//!
//! rpm ≥ 4.14 signs the main header alone (an OpenPGP signature in the
//! signature header) and the main header carries the digest of the
//! compressed payload, so one signature vouches for both. The SHA-256 of
//! the header, also in the signature header, catches damage even when no
//! key is given.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::header::{HeaderError, PackageHeaders, tag};
use crate::repo::signature::{Keyring, SignatureError, verify_detached};

/// rpm's `PGPHASHALGO_SHA256`, the payload digest algorithm of every
/// current rpmbuild.
const SHA256_ALGO: u64 = 8;

#[derive(Debug, Error)]
pub enum VerifyError {
    #[error("{package}: cannot read {path}: {source}")]
    Io {
        package: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{package}: {source}")]
    Header {
        package: String,
        source: HeaderError,
    },
    #[error(
        "{package} is not signed, but its repository has a --gpgkey: rebuild the repository with signed packages (rpmsign --addsign), or drop --gpgkey / add --nogpgcheck"
    )]
    Unsigned { package: String },
    #[error("{package}: its signature does not verify: {source}")]
    Signature {
        package: String,
        source: SignatureError,
    },
    #[error(
        "{package}: the header does not match its SHA-256 digest: the package file was changed after it was built or signed"
    )]
    HeaderDigest { package: String },
    #[error(
        "{package}: the payload does not match the digest in its header: the package file was changed after it was built or signed"
    )]
    PayloadDigest { package: String },
    #[error(
        "{package} carries no SHA-256 payload digest (built by an rpm older than 4.14?), so its signature cannot vouch for its files"
    )]
    NoPayloadDigest { package: String },
}

/// Checks the package at `path` (`package` names it in errors): its
/// header and payload digests always, its signature against `keyring` when
/// one is given.
pub fn verify_package(
    path: &Path,
    package: &str,
    keyring: Option<&Keyring>,
) -> Result<(), VerifyError> {
    let io_error = |source| VerifyError::Io {
        package: package.to_owned(),
        path: path.to_owned(),
        source,
    };
    let header_error = |source| VerifyError::Header {
        package: package.to_owned(),
        source,
    };
    let mut file = BufReader::new(File::open(path).map_err(io_error)?);
    let headers = PackageHeaders::read(&mut file).map_err(header_error)?;
    // The header as the file holds it: what the digest and signature cover.
    let main = headers.main.to_disk();

    if let Some(expected) = headers
        .signature
        .string(tag::SHA256HEADER)
        .map_err(header_error)?
        && !expected.eq_ignore_ascii_case(&hex::encode(Sha256::digest(&main)))
    {
        return Err(VerifyError::HeaderDigest {
            package: package.to_owned(),
        });
    }

    let algo = headers
        .main
        .integer(tag::PAYLOADDIGESTALGO)
        .map_err(header_error)?;
    let digests = headers
        .main
        .strings(tag::PAYLOADDIGEST)
        .map_err(header_error)?;
    match (algo, digests.first()) {
        (Some(SHA256_ALGO), Some(expected)) => {
            // The reader is just past the main header: the rest is the payload.
            let mut hasher = Sha256::new();
            io::copy(&mut file, &mut hasher).map_err(io_error)?;
            if !expected.eq_ignore_ascii_case(&hex::encode(hasher.finalize())) {
                return Err(VerifyError::PayloadDigest {
                    package: package.to_owned(),
                });
            }
        }
        _ if keyring.is_some() => {
            return Err(VerifyError::NoPayloadDigest {
                package: package.to_owned(),
            });
        }
        _ => {}
    }

    let Some(keyring) = keyring else {
        return Ok(());
    };
    let mut signature = None;
    // RSA keys sign into RSAHEADER, every other algorithm (DSA, EdDSA)
    // into DSAHEADER.
    for signature_tag in [tag::RSAHEADER, tag::DSAHEADER] {
        if let Some(bytes) = headers
            .signature
            .binary(signature_tag)
            .map_err(header_error)?
        {
            signature = Some(bytes);
            break;
        }
    }
    let signature = signature.ok_or_else(|| VerifyError::Unsigned {
        package: package.to_owned(),
    })?;
    verify_detached(&main, signature, keyring, package, SystemTime::now()).map_err(|source| {
        VerifyError::Signature {
            package: package.to_owned(),
            source,
        }
    })?;
    Ok(())
}
