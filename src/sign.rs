//! `--sign-key`: the OpenPGP key that signs `SHA256SUMS` as Debian signs
//! its checksum lists, with a detached, armored `SHA256SUMS.sign` that
//! `gpgv` and `sqv` check.

use std::fmt;
use std::path::{Path, PathBuf};

use pgp::composed::{ArmorOptions, Deserializable as _, DetachedSignature, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::Signature;
use pgp::types::{KeyDetails as _, Password};

/// The name of the signature written beside `SHA256SUMS`.
pub const SIGNATURE_SUFFIX: &str = ".sign";

#[derive(Debug, thiserror::Error)]
pub enum SignKeyError {
    #[error("--sign-key {}: cannot read it: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "--sign-key {}: not an OpenPGP secret key ({reason}); export one with `gpg --export-secret-keys --armor KEYID > FILE`", path.display()
    )]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "--sign-key {}: the key is protected by a passphrase, which livecompose does not ask for; give the build machine a copy without one (in a copy of the GnuPG home: `gpg --passwd KEYID` with an empty new passphrase, then `gpg --export-secret-keys KEYID`), or sign SHA256SUMS yourself afterwards (`gpg --detach-sign --armor -o SHA256SUMS.sign SHA256SUMS`)", path.display()
    )]
    Protected { path: PathBuf },
    #[error("--sign-key {}: the key has no secret key that may sign", path.display())]
    CannotSign { path: PathBuf },
}

#[derive(Debug, thiserror::Error)]
#[error("cannot sign {}: {reason}", path.display())]
pub struct SignError {
    path: PathBuf,
    reason: String,
}

/// A secret key read and checked before the build downloads anything.
#[derive(Clone)]
pub struct SigningKey {
    key: SignedSecretKey,
    path: PathBuf,
}

impl fmt::Debug for SigningKey {
    // Never the secret: the path and the fingerprint say which key it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({}, {})",
            self.path.display(),
            self.fingerprint()
        )
    }
}

impl SigningKey {
    /// Reads an armored or binary secret key from `path`.
    pub fn from_file(path: &Path) -> Result<Self, SignKeyError> {
        let bytes = std::fs::read(path).map_err(|source| SignKeyError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// Reads the key in `bytes`, read from `path` (named in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, SignKeyError> {
        let invalid = |reason: String| SignKeyError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let trimmed = bytes.trim_ascii_start();
        let key = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            SignedSecretKey::from_bytes(trimmed).map_err(|e| invalid(e.to_string()))?
        } else if trimmed.is_empty() {
            return Err(invalid("the file is empty".into()));
        } else {
            SignedSecretKey::from_armor_single(trimmed)
                .map_err(|e| invalid(e.to_string()))?
                .0
        };
        key.verify_bindings()
            .map_err(|e| invalid(format!("its self-signatures do not verify: {e}")))?;
        let signing = SigningKey {
            key,
            path: path.to_owned(),
        };
        // Checked now, so that a locked key stops the build before the
        // download rather than after an hour's work.
        if signing.locked() {
            return Err(SignKeyError::Protected {
                path: path.to_owned(),
            });
        }
        signing.sign(b"").map_err(|_| SignKeyError::CannotSign {
            path: path.to_owned(),
        })?;
        Ok(signing)
    }

    /// The primary key's fingerprint, upper-case hex.
    pub fn fingerprint(&self) -> String {
        format!("{:X}", self.key.primary_key.fingerprint())
    }

    /// Whether any of the secret keys is passphrase-protected.
    fn locked(&self) -> bool {
        self.key.primary_key.secret_params().is_encrypted()
            || self
                .key
                .secret_subkeys
                .iter()
                .any(|sub| sub.key.secret_params().is_encrypted())
    }

    /// A detached signature over `data`: by a signing subkey when the key
    /// has one (as Debian's archive keys sign), else by the primary key.
    fn sign(&self, data: &[u8]) -> pgp::errors::Result<Signature> {
        let rng = rand::rngs::OsRng;
        let password = Password::empty();
        let signing_subkey = self.key.secret_subkeys.iter().find(|sub| {
            sub.signatures
                .iter()
                .any(|binding| binding.key_flags().sign())
        });
        let signature = match signing_subkey {
            Some(sub) => DetachedSignature::sign_binary_data(
                rng,
                &sub.key,
                &password,
                HashAlgorithm::Sha512,
                data,
            )?,
            None => DetachedSignature::sign_binary_data(
                rng,
                &self.key.primary_key,
                &password,
                HashAlgorithm::Sha512,
                data,
            )?,
        };
        Ok(signature.signature)
    }

    /// The armored detached signature of the file `path`.
    pub fn sign_file(&self, path: &Path) -> Result<Vec<u8>, SignError> {
        let fail = |reason: String| SignError {
            path: path.to_owned(),
            reason,
        };
        let data = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let signature = self.sign(&data).map_err(|e| fail(e.to_string()))?;
        DetachedSignature::new(signature)
            .to_armored_bytes(ArmorOptions::default())
            .map_err(|e| fail(e.to_string()))
    }
}

/// Where the signature of the list `sums` goes.
pub fn signature_path(sums: &Path) -> PathBuf {
    let mut name = sums.as_os_str().to_owned();
    name.push(SIGNATURE_SUFFIX);
    PathBuf::from(name)
}
