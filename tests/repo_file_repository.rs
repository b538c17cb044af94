//! Offline end-to-end: a signed repository generated in a temp dir and
//! loaded over `file://`, exercising the same code path as a real mirror.

mod common;

use std::time::{Duration, SystemTime};

use common::debrepo::{FIXTURE, Fixture, Layout, SUITE, spec, write_repo};
use livecompose::fetch::{FetchError, sha256_hex};
use livecompose::repo::debian::load_repository_at;
use livecompose::repo::signature::SignatureError;
use livecompose::repo::{RepoError, SignaturePolicy, load_repository};

#[test]
fn inrelease_repository_loads_and_verifies() {
    let fx = Fixture::new();
    let release = write_repo(fx.root.path(), FIXTURE, &Layout::default());
    fx.publish_inrelease(&release);

    let repo = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap();
    assert_eq!(repo.packages.len(), 4);
    assert!(repo.signer.is_some());
    assert_eq!(repo.release.codename.as_deref(), Some(SUITE));
    assert_eq!(
        repo.base_url,
        format!("file://{}", fx.root.path().display())
    );
    let bash = repo.find("bash").next().unwrap();
    assert!(bash.essential);
    assert_eq!(bash.component, "main");
    assert_eq!(
        repo.package_url(bash),
        format!(
            "file://{}/pool/main/b/bash/bash_5.2.15-2+b2_amd64.deb",
            fx.root.path().display()
        )
    );
    let libc = repo.find("libc6").next().unwrap();
    assert_eq!(libc.suggests[1].len(), 2, "debconf | debconf-2.0");
    assert_eq!(libc.source.as_ref().unwrap().name, "glibc");
}

#[test]
fn every_compression_and_by_hash_layout_loads() {
    for layout in [
        Layout {
            xz: false,
            ..Layout::default()
        },
        Layout {
            xz: false,
            gz: false,
            ..Layout::default()
        },
        Layout {
            by_hash: true,
            plain: false,
            ..Layout::default()
        },
    ] {
        let fx = Fixture::new();
        let release = write_repo(fx.root.path(), FIXTURE, &layout);
        fx.publish_inrelease(&release);
        let repo = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap();
        assert_eq!(repo.packages.len(), 4);
    }
}

#[test]
fn release_plus_detached_signature_is_the_fallback() {
    let fx = Fixture::new();
    let release = write_repo(fx.root.path(), FIXTURE, &Layout::default());
    fx.publish_detached(&release);
    let repo = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap();
    assert_eq!(repo.packages.len(), 4);
    assert!(repo.signer.is_some());

    // Without Release.gpg the repository is unsigned: refused unless asked.
    std::fs::remove_file(fx.dists().join("Release.gpg")).unwrap();
    let err = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap_err();
    assert!(matches!(err, RepoError::Unsigned { .. }), "{err}");
    assert!(err.to_string().contains("--nogpgcheck"));
    let repo = load_repository(
        &spec(fx.root.path()),
        &fx.fetcher(),
        &SignaturePolicy::NoGpgCheck,
    )
    .unwrap();
    assert_eq!(repo.packages.len(), 4);
    assert!(repo.signer.is_none());
}

#[test]
fn tampered_inrelease_is_rejected_but_nogpgcheck_accepts_it() {
    let fx = Fixture::new();
    let release = write_repo(fx.root.path(), FIXTURE, &Layout::default());
    let signed = fx.gpg.clearsign(&fx.signer, &release);
    let tampered = signed.replacen("Label: Fixture", "Label: Fixturf", 1);
    std::fs::write(fx.dists().join("InRelease"), tampered).unwrap();

    let err = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap_err();
    assert!(
        matches!(
            err,
            RepoError::Signature(SignatureError::BadSignature { .. })
        ),
        "{err}"
    );
    let repo = load_repository(
        &spec(fx.root.path()),
        &fx.fetcher(),
        &SignaturePolicy::NoGpgCheck,
    )
    .unwrap();
    assert_eq!(repo.release.label.as_deref(), Some("Fixturf"));
}

#[test]
fn corrupted_index_is_a_hash_mismatch_naming_url_and_digests() {
    let fx = Fixture::new();
    let release = write_repo(fx.root.path(), FIXTURE, &Layout::default());
    fx.publish_inrelease(&release);
    let xz_path = fx.dists().join("main/binary-amd64/Packages.xz");
    let mut bytes = std::fs::read(&xz_path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&xz_path, &bytes).unwrap();

    let err = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap_err();
    match &err {
        RepoError::Fetch(FetchError::HashMismatch {
            url,
            expected,
            actual,
            ..
        }) => {
            assert!(url.ends_with("main/binary-amd64/Packages.xz"), "{url}");
            assert_ne!(expected, actual);
            assert_eq!(actual, &sha256_hex(&bytes));
        }
        other => panic!("expected a hash mismatch, got {other}"),
    }
    // Nothing unverified was left in the cache.
    let cached: Vec<_> = std::fs::read_dir(fx.cache.path().join("sha256"))
        .unwrap()
        .collect();
    assert!(cached.is_empty(), "{cached:?}");

    // A truncated file is a size mismatch.
    std::fs::write(&xz_path, &bytes[..mid]).unwrap();
    let err = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap_err();
    assert!(
        matches!(err, RepoError::Fetch(FetchError::SizeMismatch { .. })),
        "{err}"
    );
}

#[test]
fn valid_until_in_the_past_is_an_error() {
    let fx = Fixture::new();
    let layout = Layout {
        valid_until: Some("Sat, 17 Jun 2023 09:10:11 UTC"),
        ..Layout::default()
    };
    let release = write_repo(fx.root.path(), FIXTURE, &layout);
    fx.publish_inrelease(&release);

    let before = SystemTime::UNIX_EPOCH + Duration::from_secs(1_686_992_000);
    load_repository_at(&spec(fx.root.path()), &fx.fetcher(), &fx.verify(), before).unwrap();
    let err = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap_err();
    assert!(matches!(err, RepoError::Expired { .. }), "{err}");
    assert!(
        err.to_string().contains("Sat, 17 Jun 2023 09:10:11 UTC"),
        "{err}"
    );
}

#[test]
fn release_for_another_suite_is_refused() {
    let fx = Fixture::new();
    let layout = Layout {
        codename: "oldsuite",
        ..Layout::default()
    };
    let release = write_repo(fx.root.path(), FIXTURE, &layout);
    fx.publish_inrelease(&release);
    let err = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap_err();
    assert!(matches!(err, RepoError::SuiteMismatch { .. }), "{err}");
}

#[test]
fn bad_packages_entry_names_the_index_paragraph_and_field() {
    let fx = Fixture::new();
    let broken = FIXTURE.replace("Depends: libgcc-s1", "Depends: libgcc-s1 (>>)");
    let release = write_repo(fx.root.path(), &broken, &Layout::default());
    fx.publish_inrelease(&release);
    let err = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RepoError::Packages { .. }), "{msg}");
    assert!(
        msg.contains("Packages.xz") && msg.contains("libc6") && msg.contains("Depends"),
        "{msg}"
    );
}

#[test]
fn a_listed_deb_downloads_through_the_verified_cache() {
    let fx = Fixture::new();
    let deb = b"!<arch>\ndebian-binary   fake\n".to_vec();
    fx.publish_debs(&[("hello", &deb)]);
    let fetcher = fx.fetcher();
    let repo = load_repository(&spec(fx.root.path()), &fetcher, &fx.verify()).unwrap();
    let hello = repo.find("hello").next().unwrap();
    let path = fetcher
        .fetch_verified(
            &repo.package_url(hello),
            &repo.package_expected(hello).unwrap(),
        )
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), deb);
}

#[test]
fn missing_suite_and_missing_index_are_reported() {
    let fx = Fixture::new();
    let err = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap_err();
    assert!(matches!(err, RepoError::NoRelease { .. }), "{err}");

    let release = write_repo(fx.root.path(), FIXTURE, &Layout::default())
        .lines()
        .filter(|l| !l.contains("main/binary-amd64"))
        .collect::<Vec<_>>()
        .join("\n");
    fx.publish_inrelease(&release);
    let err = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap_err();
    assert!(matches!(err, RepoError::NoPackagesIndex { .. }), "{err}");
}

#[test]
fn policy_from_cli_options() {
    let fx = Fixture::new();
    let ring = fx.gpg.path("archive.gpg");
    assert!(matches!(
        SignaturePolicy::from_options(&[&ring], true).unwrap(),
        SignaturePolicy::NoGpgCheck
    ));
    match SignaturePolicy::from_options(&[&ring], false).unwrap() {
        SignaturePolicy::Verify(k) => assert_eq!(k.len(), 1),
        SignaturePolicy::NoGpgCheck => panic!("--gpgkey must verify"),
    }
    let missing = fx.root.path().join("missing.gpg");
    let err = SignaturePolicy::from_options(&[&missing], false).unwrap_err();
    assert!(err.to_string().contains("missing.gpg"), "{err}");
}

#[test]
fn an_index_read_before_comes_from_the_parsed_cache_until_the_release_changes() {
    let fx = Fixture::new();
    let release = write_repo(fx.root.path(), FIXTURE, &Layout::default());
    fx.publish_inrelease(&release);
    let first = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap();

    // The index gone from the mirror and from the download cache: the same
    // signed Release still names the index parsed before, so nothing is
    // downloaded or parsed.
    let index_dir = fx.dists().join("main/binary-amd64");
    std::fs::remove_dir_all(&index_dir).unwrap();
    std::fs::remove_dir_all(fx.cache.path().join("sha256")).unwrap();
    let again = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap();
    assert_eq!(again.packages, first.packages);

    // A damaged entry is parsed again, never trusted: with the index gone,
    // that is an error naming it.
    let parsed = fx.cache.path().join("parsed");
    for entry in std::fs::read_dir(&parsed).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
    }
    let err = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap_err();
    assert!(err.to_string().contains("Packages"), "{err}");

    // A new Release with another index: the new one is read, not the old.
    let changed = FIXTURE.replacen("Package: bash", "Package: bash-renamed", 1);
    assert_ne!(changed, FIXTURE);
    let release = write_repo(fx.root.path(), &changed, &Layout::default());
    fx.publish_inrelease(&release);
    let renamed = load_repository(&spec(fx.root.path()), &fx.fetcher(), &fx.verify()).unwrap();
    assert!(renamed.find("bash-renamed").next().is_some());
    assert!(renamed.find("bash").next().is_none());
}
