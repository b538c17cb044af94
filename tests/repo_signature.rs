//! OpenPGP verification against keys made by a real gpg.

mod common;

use std::time::{Duration, SystemTime};

use common::Gpg;
use livecompose::repo::signature::{
    Keyring, SignatureError, clearsigned_content_unverified, verify_clearsigned, verify_detached,
};

const RELEASE: &str = "Origin: Test\nSuite: stable\nCodename: testing-fixture\n\
Date: Sat, 10 Jun 2023 09:10:11 UTC\nSHA256:\n \
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 main/binary-amd64/Packages\n";

fn now() -> SystemTime {
    SystemTime::now()
}

#[test]
fn clearsigned_by_primary_verifies_and_tampering_is_rejected() {
    let gpg = Gpg::new();
    let fpr = gpg.gen_key("Primary Signer <primary@example.org>", "never");
    let ring = gpg.path("ring.gpg");
    gpg.export(&[&fpr], false, &ring);
    let keyring = Keyring::from_file(&ring).unwrap();
    assert_eq!(keyring.fingerprints(), vec![fpr.clone()]);

    let signed = gpg.clearsign(&fpr, RELEASE);
    let verified = verify_clearsigned(&signed, &keyring, "InRelease", now()).unwrap();
    // The line break before the signature belongs to the armor (RFC 9580 §7.1).
    assert_eq!(verified.text, RELEASE.trim_end());
    assert_eq!(verified.signer.primary_fingerprint, fpr);
    assert_eq!(verified.signer.signing_fingerprint, fpr);
    assert_eq!(
        verified.signer.user_id.as_deref(),
        Some("Primary Signer <primary@example.org>")
    );

    // Change one byte of the signed content: "Test" -> "Tesu".
    let tampered = signed.replacen("Origin: Test", "Origin: Tesu", 1);
    assert_ne!(tampered, signed);
    let err = verify_clearsigned(&tampered, &keyring, "InRelease", now()).unwrap_err();
    assert!(matches!(err, SignatureError::BadSignature { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("--gpgkey=PATH") && msg.contains("--nogpgcheck"),
        "{msg}"
    );

    // The unverified path still yields the content, for --nogpgcheck.
    assert_eq!(
        clearsigned_content_unverified(&tampered, "InRelease").unwrap(),
        RELEASE.replacen("Test", "Tesu", 1).trim_end()
    );
}

#[test]
fn wrong_keyring_is_rejected_as_unknown_signer() {
    let gpg = Gpg::new();
    let signer = gpg.gen_key("Signer <signer@example.org>", "never");
    let other = gpg.gen_key("Other <other@example.org>", "never");
    let ring = gpg.path("other.gpg");
    gpg.export(&[&other], false, &ring);
    let keyring = Keyring::from_file(&ring).unwrap();

    let signed = gpg.clearsign(&signer, RELEASE);
    let err =
        verify_clearsigned(&signed, &keyring, "http://example.org/InRelease", now()).unwrap_err();
    match &err {
        SignatureError::UnknownSigner { signers, .. } => {
            assert!(
                signer.ends_with(&signers[signers.len() - 16..]),
                "{signers}"
            )
        }
        other => panic!("expected UnknownSigner, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("http://example.org/InRelease") && msg.contains("--gpgkey=PATH"));
}

#[test]
fn subkey_signature_verifies_against_the_primary_in_the_keyring() {
    let gpg = Gpg::new();
    let primary = gpg.gen_key("Archive <archive@example.org>", "never");
    let subkey = gpg.add_signing_subkey(&primary);
    assert_ne!(primary, subkey);
    let ring = gpg.path("archive.gpg");
    gpg.export(&[&primary], false, &ring);
    let keyring = Keyring::from_file(&ring).unwrap();

    let signed = gpg.clearsign(&format!("{subkey}!"), RELEASE);
    let verified = verify_clearsigned(&signed, &keyring, "InRelease", now()).unwrap();
    assert_eq!(verified.signer.primary_fingerprint, primary);
    assert_eq!(verified.signer.signing_fingerprint, subkey);
}

#[test]
fn several_keys_in_one_binary_keyring_and_in_an_armored_file() {
    let gpg = Gpg::new();
    let a = gpg.gen_key("A <a@example.org>", "never");
    let b = gpg.gen_key("B <b@example.org>", "never");
    let c = gpg.gen_key("C <c@example.org>", "never");

    let binary = gpg.path("ab.gpg");
    gpg.export(&[&a, &b], false, &binary);
    let keyring = Keyring::from_file(&binary).unwrap();
    assert_eq!(keyring.len(), 2);
    let signed = gpg.clearsign(&b, RELEASE);
    verify_clearsigned(&signed, &keyring, "InRelease", now()).unwrap();

    // Two armor blocks concatenated, as people do with `cat *.asc`.
    let asc_b = gpg.path("b.asc");
    let asc_c = gpg.path("c.asc");
    gpg.export(&[&b], true, &asc_b);
    gpg.export(&[&c], true, &asc_c);
    let both = gpg.path("bc.asc");
    let mut text = std::fs::read(&asc_b).unwrap();
    text.extend(std::fs::read(&asc_c).unwrap());
    std::fs::write(&both, text).unwrap();
    let keyring = Keyring::from_file(&both).unwrap();
    assert_eq!(keyring.len(), 2);
    let signed = gpg.clearsign(&c, RELEASE);
    verify_clearsigned(&signed, &keyring, "InRelease", now()).unwrap();

    // Keyrings from several files form one trust set.
    let keyring = Keyring::from_files(&[&binary, &asc_c]).unwrap();
    assert_eq!(keyring.len(), 3);
}

#[test]
fn detached_signatures_armored_and_binary() {
    let gpg = Gpg::new();
    let primary = gpg.gen_key("Archive <archive@example.org>", "never");
    let subkey = gpg.add_signing_subkey(&primary);
    let ring = gpg.path("archive.asc");
    gpg.export(&[&primary], true, &ring);
    let keyring = Keyring::from_file(&ring).unwrap();

    for armor in [true, false] {
        let sig = gpg.detach_sign(&format!("{subkey}!"), RELEASE.as_bytes(), armor);
        let signer = verify_detached(RELEASE.as_bytes(), &sig, &keyring, "Release", now()).unwrap();
        assert_eq!(signer.signing_fingerprint, subkey);

        let mut tampered = RELEASE.as_bytes().to_vec();
        tampered[3] ^= 1;
        let err = verify_detached(&tampered, &sig, &keyring, "Release", now()).unwrap_err();
        assert!(matches!(err, SignatureError::BadSignature { .. }), "{err}");
    }

    let err = verify_detached(RELEASE.as_bytes(), b"", &keyring, "Release.gpg", now()).unwrap_err();
    assert!(matches!(err, SignatureError::Malformed { .. }), "{err}");
}

#[test]
fn expired_key_is_rejected() {
    let gpg = Gpg::new();
    let fpr = gpg.gen_key("Short Lived <short@example.org>", "1d");
    let ring = gpg.path("short.gpg");
    gpg.export(&[&fpr], false, &ring);
    let keyring = Keyring::from_file(&ring).unwrap();
    let signed = gpg.clearsign(&fpr, RELEASE);

    verify_clearsigned(&signed, &keyring, "InRelease", now()).unwrap();
    let later = now() + Duration::from_secs(3 * 86_400);
    let err = verify_clearsigned(&signed, &keyring, "InRelease", later).unwrap_err();
    assert!(matches!(err, SignatureError::KeyNotValid { .. }), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn expired_subkey_is_rejected() {
    let gpg = Gpg::new();
    let primary = gpg.gen_key("Archive <archive@example.org>", "never");
    gpg.run(&["--quick-add-key", &primary, "ed25519", "sign", "1d"]);
    let subkey = gpg.fingerprints(&primary).last().cloned().unwrap();
    let ring = gpg.path("archive.gpg");
    gpg.export(&[&primary], false, &ring);
    let keyring = Keyring::from_file(&ring).unwrap();
    let signed = gpg.clearsign(&format!("{subkey}!"), RELEASE);

    verify_clearsigned(&signed, &keyring, "InRelease", now()).unwrap();
    let later = now() + Duration::from_secs(3 * 86_400);
    let err = verify_clearsigned(&signed, &keyring, "InRelease", later).unwrap_err();
    assert!(matches!(err, SignatureError::KeyNotValid { .. }), "{err}");
}

#[test]
fn unusable_keyrings_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gpg");
    let err = Keyring::from_file(&missing).unwrap_err();
    assert!(
        matches!(err, SignatureError::KeyringUnreadable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--gpgkey=PATH"));

    let empty = dir.path().join("empty.gpg");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        Keyring::from_file(&empty).unwrap_err(),
        SignatureError::KeyringInvalid { .. }
    ));

    // The header of a GnuPG keybox (pubring.kbx).
    let kbx = dir.path().join("pubring.kbx");
    std::fs::write(&kbx, b"\0\0\0\x20\x01\x01\0\0KBXf\0\0\0\0\0\0\0\0").unwrap();
    let err = Keyring::from_file(&kbx).unwrap_err();
    assert!(err.to_string().contains("keybox"), "{err}");
}

#[test]
fn clearsigned_garbage_is_malformed() {
    let gpg = Gpg::new();
    let fpr = gpg.gen_key("K <k@example.org>", "never");
    let ring = gpg.path("k.gpg");
    gpg.export(&[&fpr], false, &ring);
    let keyring = Keyring::from_file(&ring).unwrap();
    let err = verify_clearsigned(RELEASE, &keyring, "InRelease", now()).unwrap_err();
    assert!(matches!(err, SignatureError::Malformed { .. }), "{err}");
}

#[test]
fn host_debian_keyring_loads() {
    let path = std::path::Path::new(livecompose::repo::signature::DEFAULT_KEYRING);
    assert!(
        path.exists(),
        "{} is absent: install the Debian package debian-archive-keyring (tests/run does)",
        path.display()
    );
    let keyring = Keyring::from_file(path).unwrap();
    assert!(keyring.len() >= 3, "{} keys", keyring.len());
}
