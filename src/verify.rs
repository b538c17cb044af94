//! `livecompose verify DIR`: what a downloader of the outputs checks. The
//! signature `SHA256SUMS.sign` against the publisher's key, then every file
//! `SHA256SUMS` lists against its digest; every problem is named, not just
//! the first.

use std::fmt;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

use crate::output::SHA256SUMS;
use crate::progress::Ui;
use crate::repo::signature::{Keyring, SignatureError, Signer, verify_detached};
use crate::sign::signature_path;

/// What keeps verify from checking anything: the user's input is wrong.
#[derive(Debug, thiserror::Error)]
pub enum VerifyInputError {
    #[error("{}: cannot read it: {source}", path.display())]
    NoList {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--key {}: cannot read it: {source}", path.display())]
    KeyUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--key {}: holds no OpenPGP public key ({reason}); export one with `gpg --export KEYID > FILE`", path.display())]
    KeyInvalid { path: PathBuf, reason: String },
}

/// One thing that did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// `SHA256SUMS.sign` is missing, malformed, or not by the key.
    Signature(String),
    /// A line of `SHA256SUMS` that is not `DIGEST  NAME`.
    Line {
        line: usize,
        reason: String,
    },
    Missing(String),
    Changed(String),
    Unreadable {
        name: String,
        reason: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Signature(reason) => write!(f, "{SHA256SUMS}.sign: {reason}"),
            Problem::Line { line, reason } => write!(f, "{SHA256SUMS}:{line}: {reason}"),
            Problem::Missing(name) => write!(f, "{name}: MISSING"),
            Problem::Changed(name) => {
                write!(f, "{name}: CHANGED (its SHA-256 is not the one listed)")
            }
            Problem::Unreadable { name, reason } => write!(f, "{name}: cannot read it: {reason}"),
        }
    }
}

/// The directory did not verify: every problem found.
#[derive(Debug, thiserror::Error)]
#[error("{} did not verify:\n  {}", dir.display(), problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
pub struct VerifyFailed {
    pub dir: PathBuf,
    pub problems: Vec<Problem>,
}

/// What verified.
#[derive(Debug)]
pub struct Verified {
    /// Who signed `SHA256SUMS`; `None` with `--no-signature`.
    pub signer: Option<Signer>,
    /// How many files were checked.
    pub files: usize,
}

/// Reads the public key(s) of `--key`.
pub fn load_key(path: &Path) -> Result<Keyring, VerifyInputError> {
    Keyring::from_file(path).map_err(|error| match error {
        SignatureError::KeyringUnreadable { source, .. } => VerifyInputError::KeyUnreadable {
            path: path.to_owned(),
            source,
        },
        other => VerifyInputError::KeyInvalid {
            path: path.to_owned(),
            reason: match other {
                SignatureError::KeyringInvalid { reason, .. } => reason,
                other => other.to_string(),
            },
        },
    })
}

/// Checks `dir`: the signature when `key` is given, then every listed
/// file. The outer error is bad input (nothing could be checked); the
/// inner one, [`VerifyFailed`], a verification that ran and failed.
pub fn verify(
    dir: &Path,
    key: Option<&Keyring>,
    ui: &Ui,
) -> Result<Result<Verified, VerifyFailed>, VerifyInputError> {
    let list_path = dir.join(SHA256SUMS);
    let list = std::fs::read(&list_path).map_err(|source| VerifyInputError::NoList {
        path: list_path.clone(),
        source,
    })?;
    let mut problems = Vec::new();
    let mut signer = None;
    if let Some(keyring) = key {
        match check_signature(&list, &signature_path(&list_path), keyring) {
            Ok(found) => signer = Some(found),
            Err(reason) => problems.push(Problem::Signature(reason)),
        }
    }
    let (entries, bad_lines) = parse_sums(&String::from_utf8_lossy(&list));
    problems.extend(bad_lines);
    let sizes: Vec<Option<u64>> = entries
        .iter()
        .map(|entry| {
            std::fs::metadata(dir.join(&entry.name))
                .ok()
                .map(|m| m.len())
        })
        .collect();
    let bar = ui.bytes(sizes.iter().flatten().sum());
    bar.set_message("checking SHA256SUMS");
    for (entry, size) in entries.iter().zip(&sizes) {
        if size.is_none() {
            problems.push(Problem::Missing(entry.name.clone()));
            continue;
        }
        match sha256_of(&dir.join(&entry.name), &bar) {
            Ok(digest) if digest == entry.sha256 => {}
            Ok(_) => problems.push(Problem::Changed(entry.name.clone())),
            Err(error) => problems.push(Problem::Unreadable {
                name: entry.name.clone(),
                reason: error.to_string(),
            }),
        }
    }
    bar.finish_and_clear();
    if problems.is_empty() {
        Ok(Ok(Verified {
            signer,
            files: entries.len(),
        }))
    } else {
        Ok(Err(VerifyFailed {
            dir: dir.to_owned(),
            problems,
        }))
    }
}

/// Who signed `list`, or why the signature does not hold.
fn check_signature(list: &[u8], signature: &Path, keyring: &Keyring) -> Result<Signer, String> {
    let bytes = match std::fs::read(signature) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err("MISSING: the list is not signed (build with --sign-key)".into());
        }
        Err(error) => return Err(format!("cannot read it: {error}")),
    };
    verify_detached(list, &bytes, keyring, SHA256SUMS, SystemTime::now()).map_err(|error| {
        match error {
            SignatureError::BadSignature { key, .. } => {
                format!("BAD signature by key {key}: SHA256SUMS is not the list the key signed")
            }
            SignatureError::UnknownSigner { signers, .. } => {
                format!("made by key(s) {signers}, none of them in --key")
            }
            SignatureError::KeyNotValid { detail, .. } => {
                format!("made only by keys that are expired or revoked: {detail}")
            }
            SignatureError::Malformed { reason, .. } => {
                format!("not an OpenPGP signature ({reason})")
            }
            other => other.to_string(),
        }
    })
}

/// One line of `SHA256SUMS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumsEntry {
    /// Lower-case hex.
    pub sha256: String,
    /// Relative to the list's directory.
    pub name: String,
}

/// Reads `sha256sum`'s format (`DIGEST  NAME`, or `DIGEST *NAME` for
/// binary mode): the entries, and a problem for each line that is not one.
/// A name that leaves the directory (absolute, or with `..`) is refused:
/// the list vouches for its own directory only.
pub fn parse_sums(text: &str) -> (Vec<SumsEntry>, Vec<Problem>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| Problem::Line {
            line: index + 1,
            reason: reason.to_owned(),
        };
        let Some((digest, rest)) = line.split_once(' ') else {
            problems.push(bad("not `SHA-256  NAME`"));
            continue;
        };
        let name = rest.strip_prefix([' ', '*']).unwrap_or(rest);
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.push(bad("the digest is not 64 hex digits"));
        } else if name.is_empty() {
            problems.push(bad("no file name"));
        } else if !Path::new(name)
            .components()
            .all(|part| matches!(part, Component::Normal(_)))
        {
            problems.push(bad("the file name leaves the directory"));
        } else {
            entries.push(SumsEntry {
                sha256: digest.to_ascii_lowercase(),
                name: name.to_owned(),
            });
        }
    }
    (entries, problems)
}

fn sha256_of(path: &Path, bar: &indicatif::ProgressBar) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bar.inc(read as u64);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256sum_lines_text_and_binary_mode() {
        let digest = "a".repeat(64);
        let (entries, problems) = parse_sums(&format!(
            "{digest}  image.iso\n{digest} *image.packages\n\n"
        ));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].name, "image.packages");
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let digest = "A".repeat(64);
        let (entries, problems) = parse_sums(&format!(
            "nonsense\n{digest}  ../etc/passwd\n{digest}  /etc/passwd\nabc  x\n{digest}  ok\n"
        ));
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].sha256, "a".repeat(64));
        let lines: Vec<usize> = problems
            .iter()
            .map(|p| match p {
                Problem::Line { line, .. } => *line,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(lines, vec![1, 2, 3, 4]);
    }
}
