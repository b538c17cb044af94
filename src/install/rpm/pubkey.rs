//! A trusted OpenPGP key as the rpmdb records it: the `gpg-pubkey`
//! header that `rpmkeys --import` writes, and dnf writes before it installs
//! the first package of a repository with a key. Recording the keys the
//! build trusted makes the image's own rpm and dnf trust them too, and
//! `rpm -q gpg-pubkey` shows them, as on an installed system.
//!
//! The header holds the key itself (base64, in `PUBKEYS`, which is what
//! rpm loads its keyring from) and names it `gpg-pubkey-SHORTID-CREATED`:
//! the last eight hex digits of the key ID and the creation time in hex.
//! It provides `gpg(USERID)`, `gpg(SHORTID)` and `gpg(KEYID)`, and for each
//! subkey its short and long ID, each at version `V:KEYID-CREATED`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pgp::composed::SignedPublicKey;
use pgp::ser::Serialize;
use pgp::types::KeyDetails;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::header::{Header, HeaderBuilder, HeaderError, Value, tag};

#[derive(Debug, Error)]
pub enum PubkeyError {
    #[error("cannot serialise OpenPGP key {key}: {reason}")]
    Serialise { key: String, reason: String },
    #[error("record of OpenPGP key {key}: {source}")]
    Header { key: String, source: HeaderError },
}

/// `RPMSENSE_KEYRING | RPMSENSE_EQUAL`: the flags of a key's provides.
const KEY_PROVIDE_FLAGS: u32 = (1 << 26) | (1 << 3);

/// rpm wraps base64 at 64 characters in headers and armor.
const BASE64_LINE: usize = 64;

/// One key, ready to be recorded.
#[derive(Debug)]
pub struct KeyRecord {
    /// `gpg-pubkey-SHORTID-CREATED`, as `rpm -q` names it.
    pub label: String,
    /// `gpg(KEYID)`: how the database is asked whether it has the key.
    pub provide: String,
    /// The immutable header followed by its SHA-1 and SHA-256 digests (rpm
    /// checks them when it reads the record) and the install time.
    pub header: Vec<u8>,
}

/// The identifiers rpm derives from a key or subkey.
struct KeyIds {
    /// The key ID, 16 lower-case hex digits.
    long: String,
    /// Its last eight digits.
    short: String,
    /// `V:LONG-CREATED`, the version of each provide.
    provide_version: String,
    created: u32,
}

impl KeyIds {
    fn of(key: &impl KeyDetails) -> KeyIds {
        let long = hex::encode(key.legacy_key_id().as_ref());
        let created = key.created_at().as_secs();
        KeyIds {
            short: long[long.len().saturating_sub(8)..].to_owned(),
            provide_version: format!("{}:{long}-{created:x}", u8::from(key.version())),
            long,
            created,
        }
    }
}

/// The record of `key`, made as rpm makes it, imported at `installed_at`.
pub fn key_record(key: &SignedPublicKey, installed_at: u32) -> Result<KeyRecord, PubkeyError> {
    let primary = KeyIds::of(&key.primary_key);
    let packets = key.to_bytes().map_err(|e| PubkeyError::Serialise {
        key: primary.long.clone(),
        reason: e.to_string(),
    })?;
    // rpm's own OpenPGP parser keeps the last user ID it meets.
    let user_id = key.details.users.last().map_or_else(
        || "none".to_owned(),
        |user| String::from_utf8_lossy(user.id.id()).into_owned(),
    );

    let mut header = HeaderBuilder::default();
    header.put(tag::PUBKEYS, Value::array_string(&wrapped_base64(&packets)));
    header.put(tag::NAME, Value::string("gpg-pubkey"));
    header.put(tag::VERSION, Value::string(&primary.short));
    header.put(
        tag::RELEASE,
        Value::string(&format!("{:x}", primary.created)),
    );
    header.put(tag::DESCRIPTION, Value::i18n_string(&armor(&packets)));
    header.put(tag::GROUP, Value::i18n_string("Public Keys"));
    header.put(tag::LICENSE, Value::string("pubkey"));
    header.put(
        tag::SUMMARY,
        Value::i18n_string(&format!("{user_id} public key")),
    );
    header.put(tag::PACKAGER, Value::string(&user_id));
    header.put(tag::SIZE, Value::int32(&[0]));
    header.put(tag::RPMVERSION, Value::string(RECORDED_BY));
    header.put(tag::BUILDHOST, Value::string("localhost"));
    header.put(tag::BUILDTIME, Value::int32(&[primary.created]));
    header.put(tag::SOURCERPM, Value::string("(none)"));
    let mut provide = |name: &str, ids: &KeyIds| {
        header.put(
            tag::PROVIDENAME,
            Value::array_string(&format!("gpg({name})")),
        );
        header.put(
            tag::PROVIDEVERSION,
            Value::array_string(&ids.provide_version),
        );
        header.put(tag::PROVIDEFLAGS, Value::int32(&[KEY_PROVIDE_FLAGS]));
    };
    provide(&user_id, &primary);
    provide(&primary.short, &primary);
    provide(&primary.long, &primary);
    for subkey in &key.public_subkeys {
        let ids = KeyIds::of(&subkey.key);
        provide(&ids.short, &ids);
        provide(&ids.long, &ids);
    }

    let header_error = |source| PubkeyError::Header {
        key: primary.long.clone(),
        source,
    };
    let immutable: Header = header.immutable().map_err(header_error)?;
    let disk = immutable.to_disk();
    let appended = vec![
        (
            tag::SHA1HEADER,
            Value::string(&hex::encode(Sha1::digest(&disk))),
        ),
        (
            tag::SHA256HEADER,
            Value::string(&hex::encode(Sha256::digest(&disk))),
        ),
        (tag::INSTALLTIME, Value::int32(&[installed_at])),
        (tag::INSTALLTID, Value::int32(&[installed_at])),
    ];
    Ok(KeyRecord {
        label: format!("gpg-pubkey-{}-{:x}", primary.short, primary.created),
        provide: format!("gpg({})", primary.long),
        header: immutable.installed_blob(appended),
    })
}

/// What the record names as the program that made it, where rpm names
/// its own version.
const RECORDED_BY: &str = concat!("livecompose ", env!("CARGO_PKG_VERSION"));

/// Base64 in lines of 64 characters, each ending in a newline.
fn wrapped_base64(bytes: &[u8]) -> String {
    let encoded = STANDARD.encode(bytes);
    let mut wrapped = String::with_capacity(encoded.len() + encoded.len() / BASE64_LINE + 1);
    for line in encoded.as_bytes().chunks(BASE64_LINE) {
        // Base64 is ASCII, so every chunk is a whole string.
        wrapped.push_str(&String::from_utf8_lossy(line));
        wrapped.push('\n');
    }
    wrapped
}

/// The key as an ASCII-armored public key block (RFC 4880, section 6.2).
fn armor(packets: &[u8]) -> String {
    let crc = crc24(packets).to_be_bytes();
    format!(
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\nVersion: {RECORDED_BY}\n\n{}={}\n-----END PGP PUBLIC KEY BLOCK-----\n",
        wrapped_base64(packets),
        STANDARD.encode(&crc[1..]),
    )
}

/// The armor checksum: CRC-24 with OpenPGP's initial value and polynomial.
fn crc24(bytes: &[u8]) -> u32 {
    const INIT: u32 = 0x00b7_04ce;
    const POLY: u32 = 0x0186_4cfb;
    let mut crc = INIT;
    for byte in bytes {
        crc ^= u32::from(*byte) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= POLY;
            }
        }
    }
    crc & 0x00ff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc24_matches_the_rfc_4880_reference_values() {
        // The CRC of no data is the initial value; of "123456789", the
        // check value of CRC-24/OPENPGP.
        assert_eq!(crc24(b""), 0x00b7_04ce);
        assert_eq!(crc24(b"123456789"), 0x0021_cf02);
    }

    #[test]
    fn base64_lines_are_64_characters_and_each_ends_in_a_newline() {
        let text = wrapped_base64(&[7u8; 100]);
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(
            lines.iter().map(|l| l.len()).collect::<Vec<_>>(),
            [64, 64, 8]
        );
        assert!(text.ends_with('\n'));
        assert_eq!(wrapped_base64(&[]), "");
    }
}
