//! OpenPGP verification of `InRelease` and `Release.gpg`.
//!
//! The Debian archive signs with signing *subkeys*, several keys at once
//! (one signature per current archive key), so a Release is accepted when
//! at least one of its signatures verifies against the primary key or a
//! properly bound signing subkey of some key in the keyring, and that key
//! is neither expired nor revoked.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pgp::composed::{CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::KeyDetails;

/// The keyring Debian's `debian-archive-keyring` package installs.
pub const DEFAULT_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// What the user can do about any verification failure, in CLI terms.
const REMEDY: &str = "pass --gpgkey=PATH to name the keyring that signs this repository, \
                      or --nogpgcheck to skip verification (unsafe)";

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("cannot read keyring {path}: {source}; {REMEDY}")]
    KeyringUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "keyring {path} holds no usable OpenPGP public key ({reason}); it must be a binary \
         (.gpg) or armored (.asc) key export, not a GnuPG keybox: create one with \
         `gpg --export KEYID > FILE.gpg`; {REMEDY}"
    )]
    KeyringInvalid { path: PathBuf, reason: String },
    #[error("{what} carries no readable OpenPGP signature ({reason}); {REMEDY}")]
    Malformed { what: String, reason: String },
    #[error(
        "{what} is signed by key(s) {signers} but none of them is in keyring {keyring}: the \
         keyring is wrong or out of date for this mirror and suite; {REMEDY}"
    )]
    UnknownSigner {
        what: String,
        signers: String,
        keyring: String,
    },
    #[error(
        "BAD signature on {what} by key {key}: the file does not match what the key signed; \
         it was modified or corrupted on the way (broken mirror, proxy or attack). Try another \
         mirror; {REMEDY}"
    )]
    BadSignature { what: String, key: String },
    #[error(
        "{what} is signed only by key(s) that are expired or revoked in keyring {keyring}: \
         {detail}; update the keyring (the debian-archive-keyring package) or {REMEDY}"
    )]
    KeyNotValid {
        what: String,
        keyring: String,
        detail: String,
    },
}

/// Trusted public keys, loaded from one or more keyring files.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    sources: Vec<PathBuf>,
}

impl Keyring {
    /// Loads every key from a binary (concatenated keys) or armored keyring.
    pub fn from_file(path: &Path) -> Result<Self, SignatureError> {
        Self::from_files(&[path])
    }

    /// Loads several keyring files into one trust set.
    pub fn from_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self, SignatureError> {
        let mut keys = Vec::new();
        let mut sources = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let bytes =
                std::fs::read(path).map_err(|source| SignatureError::KeyringUnreadable {
                    path: path.to_owned(),
                    source,
                })?;
            let keyring = Self::from_bytes(&bytes, path)?;
            keys.extend(keyring.keys);
            sources.extend(keyring.sources);
        }
        Ok(Keyring { keys, sources })
    }

    /// Loads the keys in `bytes`, read from `source` (a path or a URL, for
    /// messages).
    pub fn from_bytes(bytes: &[u8], source: impl Into<PathBuf>) -> Result<Self, SignatureError> {
        let source = source.into();
        let keys = parse_keys(bytes).map_err(|reason| SignatureError::KeyringInvalid {
            path: source.clone(),
            reason,
        })?;
        Ok(Keyring {
            keys,
            sources: vec![source],
        })
    }

    /// The default Debian archive keyring.
    pub fn debian_default() -> Result<Self, SignatureError> {
        Self::from_file(Path::new(DEFAULT_KEYRING))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn keys(&self) -> &[SignedPublicKey] {
        &self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Primary key fingerprints, upper-case hex.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| format!("{:X}", k.primary_key.fingerprint()))
            .collect()
    }

    fn describe(&self) -> String {
        let names: Vec<_> = self
            .sources
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        names.join(", ")
    }
}

fn parse_keys(bytes: &[u8]) -> Result<Vec<SignedPublicKey>, String> {
    if bytes.starts_with(b"\0\0\0") || bytes.get(8..12) == Some(b"KBXf") {
        return Err("this is a GnuPG keybox file".into());
    }
    let trimmed = bytes.trim_ascii_start();
    if trimmed.is_empty() {
        return Err("the file is empty".into());
    }
    let mut keys = Vec::new();
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        let iter = SignedPublicKey::from_bytes_many(trimmed).map_err(|e| e.to_string())?;
        for key in iter {
            keys.push(key.map_err(|e| e.to_string())?);
        }
    } else {
        // An .asc file may hold several armor blocks one after another;
        // pgp reads one block per call, so split on the block headers.
        let text = std::str::from_utf8(trimmed).map_err(|_| "neither binary nor armored")?;
        for block in text.split("-----BEGIN PGP PUBLIC KEY BLOCK-----").skip(1) {
            let armored = format!("-----BEGIN PGP PUBLIC KEY BLOCK-----{block}");
            let (iter, _) =
                SignedPublicKey::from_armor_many(armored.as_bytes()).map_err(|e| e.to_string())?;
            for key in iter {
                keys.push(key.map_err(|e| e.to_string())?);
            }
        }
    }
    if keys.is_empty() {
        return Err("no public key found".into());
    }
    Ok(keys)
}

/// Who made a signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// Fingerprint of the primary key (what keyrings and users name).
    pub primary_fingerprint: String,
    /// Fingerprint of the key or subkey that made the signature.
    pub signing_fingerprint: String,
    /// The primary key's first user ID, for messages.
    pub user_id: Option<String>,
}

/// The text of a verified clearsigned document.
#[derive(Debug, Clone)]
pub struct VerifiedText {
    /// The signed content with LF line endings, exactly as verified.
    pub text: String,
    pub signer: Signer,
}

/// Verifies a clearsigned document (`InRelease`); `what` names it in errors.
pub fn verify_clearsigned(
    document: &str,
    keyring: &Keyring,
    what: &str,
    now: SystemTime,
) -> Result<VerifiedText, SignatureError> {
    let (message, _) =
        CleartextSignedMessage::from_string(document).map_err(|e| SignatureError::Malformed {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
    let signed = message.signed_text();
    let signer = verify_any(message.signatures(), signed.as_bytes(), keyring, what, now)?;
    Ok(VerifiedText {
        text: signed.replace("\r\n", "\n"),
        signer,
    })
}

/// Extracts the content of a clearsigned document WITHOUT verifying it, for
/// the explicit `--nogpgcheck` mode.
pub fn clearsigned_content_unverified(
    document: &str,
    what: &str,
) -> Result<String, SignatureError> {
    let (message, _) =
        CleartextSignedMessage::from_string(document).map_err(|e| SignatureError::Malformed {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(message.signed_text().replace("\r\n", "\n"))
}

/// Verifies a detached signature (`Release.gpg`, armored or binary) over `data`.
pub fn verify_detached(
    data: &[u8],
    signature: &[u8],
    keyring: &Keyring,
    what: &str,
    now: SystemTime,
) -> Result<Signer, SignatureError> {
    let malformed = |reason: String| SignatureError::Malformed {
        what: what.to_owned(),
        reason,
    };
    let trimmed = signature.trim_ascii_start();
    if trimmed.is_empty() {
        return Err(malformed("the signature file is empty".into()));
    }
    let mut signatures = Vec::new();
    if trimmed[0] & 0x80 != 0 {
        for sig in
            DetachedSignature::from_bytes_many(trimmed).map_err(|e| malformed(e.to_string()))?
        {
            signatures.push(sig.map_err(|e| malformed(e.to_string()))?.signature);
        }
    } else {
        let (iter, _) =
            DetachedSignature::from_armor_many(trimmed).map_err(|e| malformed(e.to_string()))?;
        for sig in iter {
            signatures.push(sig.map_err(|e| malformed(e.to_string()))?.signature);
        }
    }
    verify_any(&signatures, data, keyring, what, now)
}

/// A key or subkey that may make data signatures, with what we know of its life.
struct Candidate<'k> {
    key: &'k SignedPublicKey,
    verifier: Verifier<'k>,
    /// Why the key may not be used, if it may not.
    invalid: Option<String>,
}

enum Verifier<'k> {
    Primary(&'k pgp::packet::PublicKey),
    Subkey(&'k pgp::packet::PublicSubkey),
}

impl Verifier<'_> {
    fn fingerprint(&self) -> pgp::types::Fingerprint {
        match self {
            Verifier::Primary(k) => k.fingerprint(),
            Verifier::Subkey(k) => k.fingerprint(),
        }
    }

    fn key_id(&self) -> pgp::types::KeyId {
        match self {
            Verifier::Primary(k) => k.legacy_key_id(),
            Verifier::Subkey(k) => k.legacy_key_id(),
        }
    }

    fn verify(&self, sig: &Signature, data: &[u8]) -> bool {
        match self {
            Verifier::Primary(k) => sig.verify(*k, data).is_ok(),
            Verifier::Subkey(k) => sig.verify(*k, data).is_ok(),
        }
    }
}

fn candidates(key: &SignedPublicKey, now: SystemTime) -> Vec<Candidate<'_>> {
    let primary = &key.primary_key;
    // The keyring file is trusted input chosen by the admin, so its own
    // revocations and expiry dates are taken at face value; only subkey
    // bindings are verified, because they decide which keys may sign.
    let primary_invalid = if !key.details.revocation_signatures.is_empty() {
        Some("revoked".to_owned())
    } else {
        // The newest self-signature carries the current expiry.
        let newest = key
            .details
            .users
            .iter()
            .flat_map(|u| u.signatures.iter())
            .chain(key.details.direct_signatures.iter())
            .filter(|s| {
                s.issuer_key_id().contains(&&primary.legacy_key_id())
                    || s.issuer_fingerprint().contains(&&primary.fingerprint())
            })
            .max_by_key(|s| s.created().map(|t| t.as_secs()).unwrap_or(0));
        expiry_problem(primary.created_at(), newest, now)
    };
    let mut out = vec![Candidate {
        key,
        verifier: Verifier::Primary(primary),
        invalid: primary_invalid.clone(),
    }];
    for sub in &key.public_subkeys {
        // A subkey counts only with a binding signature the primary really
        // made, including the subkey's back-signature for signing keys.
        let valid_bindings: Vec<&Signature> = sub
            .signatures
            .iter()
            .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
            .filter(|s| s.verify_subkey_binding(primary, &sub.key).is_ok())
            .filter(|s| {
                s.embedded_signature()
                    .is_some_and(|back| back.verify_primary_key_binding(&sub.key, primary).is_ok())
            })
            .collect();
        let Some(binding) = valid_bindings
            .into_iter()
            .max_by_key(|s| s.created().map(|t| t.as_secs()).unwrap_or(0))
        else {
            continue;
        };
        if !binding.key_flags().sign() {
            continue;
        }
        let revoked = sub.signatures.iter().any(|s| {
            s.typ() == Some(SignatureType::SubkeyRevocation)
                && s.verify_subkey_binding(primary, &sub.key).is_ok()
        });
        let invalid = if revoked {
            Some("subkey revoked".to_owned())
        } else {
            primary_invalid
                .clone()
                .or_else(|| expiry_problem(sub.key.created_at(), Some(binding), now))
        };
        out.push(Candidate {
            key,
            verifier: Verifier::Subkey(&sub.key),
            invalid,
        });
    }
    out
}

fn expiry_problem(
    created: pgp::types::Timestamp,
    self_sig: Option<&Signature>,
    now: SystemTime,
) -> Option<String> {
    let lifetime = self_sig.and_then(Signature::key_expiration_time)?.as_secs();
    // Zero means "never expires" on the wire.
    if lifetime == 0 {
        return None;
    }
    let expires = epoch_plus(created.as_secs(), lifetime);
    (expires <= now).then(|| format!("expired at {}", unix_to_string(expires)))
}

fn epoch_plus(created: u32, lifetime: u32) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(created) + u64::from(lifetime))
}

fn unix_to_string(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::repo::date::format_utc(secs as i64)
}

fn names_issuer(sig: &Signature) -> bool {
    !sig.issuer_key_id().is_empty() || !sig.issuer_fingerprint().is_empty()
}

fn issued_by(sig: &Signature, verifier: &Verifier<'_>) -> bool {
    // A signature that names no issuer at all is tried against every key.
    !names_issuer(sig)
        || sig.issuer_key_id().contains(&&verifier.key_id())
        || sig.issuer_fingerprint().contains(&&verifier.fingerprint())
}

fn verify_any(
    signatures: &[Signature],
    data: &[u8],
    keyring: &Keyring,
    what: &str,
    now: SystemTime,
) -> Result<Signer, SignatureError> {
    if signatures.is_empty() {
        return Err(SignatureError::Malformed {
            what: what.to_owned(),
            reason: "no signature packets".into(),
        });
    }
    let all: Vec<Candidate<'_>> = keyring
        .keys
        .iter()
        .flat_map(|k| candidates(k, now))
        .collect();
    let mut bad = None;
    let mut not_valid = Vec::new();
    let mut unknown = Vec::new();
    for sig in signatures {
        let mut matched = false;
        for cand in all.iter().filter(|c| issued_by(sig, &c.verifier)) {
            matched = true;
            let fingerprint = format!("{:X}", cand.verifier.fingerprint());
            if !cand.verifier.verify(sig, data) {
                if names_issuer(sig) {
                    bad.get_or_insert(fingerprint);
                }
                continue;
            }
            if let Some(problem) = &cand.invalid {
                not_valid.push(format!("{fingerprint} {problem}"));
                continue;
            }
            if let Some(lifetime) = sig.signature_expiration_time().map(|d| d.as_secs())
                && lifetime != 0
                && let Some(created) = sig.created()
                && epoch_plus(created.as_secs(), lifetime) <= now
            {
                not_valid.push(format!("signature by {fingerprint} expired"));
                continue;
            }
            return Ok(Signer {
                primary_fingerprint: format!("{:X}", cand.key.primary_key.fingerprint()),
                signing_fingerprint: fingerprint,
                user_id: cand
                    .key
                    .details
                    .users
                    .first()
                    .and_then(|u| u.id.as_str().map(str::to_owned)),
            });
        }
        if !matched {
            let ids: Vec<String> = sig
                .issuer_fingerprint()
                .iter()
                .map(|f| format!("{f:X}"))
                .chain(sig.issuer_key_id().iter().map(hex::encode_upper))
                .collect();
            unknown.push(ids.first().cloned().unwrap_or_else(|| "(unnamed)".into()));
        }
    }
    // A signature that matched a trusted key but failed is the alarming case
    // and must not be hidden behind the others.
    if let Some(key) = bad {
        return Err(SignatureError::BadSignature {
            what: what.to_owned(),
            key,
        });
    }
    if !not_valid.is_empty() {
        return Err(SignatureError::KeyNotValid {
            what: what.to_owned(),
            keyring: keyring.describe(),
            detail: not_valid.join("; "),
        });
    }
    Err(SignatureError::UnknownSigner {
        what: what.to_owned(),
        signers: unknown.join(", "),
        keyring: keyring.describe(),
    })
}
