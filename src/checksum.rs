//! The digests that chain trust from a signed document to what it lists:
//! repodata's `repomd.xml` → indexes → packages (whichever algorithm the
//! repository names), Debian's `InRelease` → indexes → packages (SHA-256).

use std::fmt;
use std::io::{self, Read, Write};

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
    pub fn digest(self, mut reader: impl Read) -> io::Result<Checksum> {
        let mut hasher = self.hasher();
        io::copy(&mut reader, &mut hasher)?;
        Ok(hasher.finish())
    }

    /// A hasher to feed piece by piece (as a download arrives).
    pub fn hasher(self) -> Hasher {
        Hasher {
            kind: self,
            state: match self {
                ChecksumKind::Sha224 => State::Sha224(sha2::Sha224::new()),
                ChecksumKind::Sha256 => State::Sha256(sha2::Sha256::new()),
                ChecksumKind::Sha384 => State::Sha384(sha2::Sha384::new()),
                ChecksumKind::Sha512 => State::Sha512(sha2::Sha512::new()),
            },
        }
    }
}

/// A digest being computed; `Write` feeds it.
#[derive(Clone)]
pub struct Hasher {
    kind: ChecksumKind,
    state: State,
}

#[derive(Clone)]
enum State {
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Sha224(h) => h.update(data),
            State::Sha256(h) => h.update(data),
            State::Sha384(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Checksum {
        let value = match self.state {
            State::Sha224(h) => hex::encode(h.finalize()),
            State::Sha256(h) => hex::encode(h.finalize()),
            State::Sha384(h) => hex::encode(h.finalize()),
            State::Sha512(h) => hex::encode(h.finalize()),
        };
        Checksum {
            kind: self.kind,
            value,
        }
    }
}

impl Write for Hasher {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.update(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
