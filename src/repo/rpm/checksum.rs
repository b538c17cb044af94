//! The checksums repodata uses to chain trust: `repomd.xml` → indexes →
//! packages.

use std::fmt;
use std::io::{self, Read};

use sha2::Digest;

/// The digest algorithms accepted. createrepo_c also knows md5 and sha1;
/// neither is strong enough to carry trust, so repodata using them is
/// refused rather than half-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumKind {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl ChecksumKind {
    pub fn from_name(name: &str) -> Option<ChecksumKind> {
        Some(match name {
            "sha224" => ChecksumKind::Sha224,
            "sha256" => ChecksumKind::Sha256,
            "sha384" => ChecksumKind::Sha384,
            "sha512" => ChecksumKind::Sha512,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ChecksumKind::Sha224 => "sha224",
            ChecksumKind::Sha256 => "sha256",
            ChecksumKind::Sha384 => "sha384",
            ChecksumKind::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            ChecksumKind::Sha224 => 56,
            ChecksumKind::Sha256 => 64,
            ChecksumKind::Sha384 => 96,
            ChecksumKind::Sha512 => 128,
        }
    }

    /// Hashes everything `reader` yields.
    pub fn digest(self, reader: impl Read) -> io::Result<Checksum> {
        fn run<D: Digest>(mut reader: impl Read) -> io::Result<String> {
            let mut hasher = D::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    return Ok(hex::encode(hasher.finalize()));
                }
                hasher.update(&buf[..n]);
            }
        }
        let value = match self {
            ChecksumKind::Sha224 => run::<sha2::Sha224>(reader)?,
            ChecksumKind::Sha256 => run::<sha2::Sha256>(reader)?,
            ChecksumKind::Sha384 => run::<sha2::Sha384>(reader)?,
            ChecksumKind::Sha512 => run::<sha2::Sha512>(reader)?,
        };
        Ok(Checksum { kind: self, value })
    }
}

impl fmt::Display for ChecksumKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    #[error("checksum type {0:?} is not supported (only sha224, sha256, sha384 and sha512 are)")]
    Unsupported(String),
    #[error("{value:?} is not a {kind} digest ({} hex digits)", kind.hex_len())]
    Invalid { kind: ChecksumKind, value: String },
}

/// An algorithm and a digest in lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checksum {
    pub kind: ChecksumKind,
    value: String,
}

impl Checksum {
    /// From repodata's `type` attribute and hex text (either case).
    pub fn new(kind: &str, value: &str) -> Result<Checksum, ChecksumError> {
        let kind =
            ChecksumKind::from_name(kind).ok_or_else(|| ChecksumError::Unsupported(kind.into()))?;
        let value = value.trim();
        if value.len() != kind.hex_len() || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ChecksumError::Invalid {
                kind,
                value: value.to_owned(),
            });
        }
        Ok(Checksum {
            kind,
            value: value.to_ascii_lowercase(),
        })
    }

    /// The digest as lower-case hex.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_validation() {
        let empty = ChecksumKind::Sha256.digest(&b""[..]).unwrap();
        assert_eq!(
            empty.value(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            Checksum::new("sha256", &empty.value().to_ascii_uppercase()).unwrap(),
            empty
        );
        assert_eq!(
            Checksum::new("sha", "ab"),
            Err(ChecksumError::Unsupported("sha".into()))
        );
        assert!(matches!(
            Checksum::new("sha512", empty.value()),
            Err(ChecksumError::Invalid { .. })
        ));
        assert_eq!(
            ChecksumKind::Sha512
                .digest(&b"x"[..])
                .unwrap()
                .value()
                .len(),
            128
        );
    }
}
