//! End-to-end tier: loads a real suite from the configured Debian mirror
//! (`LIVECOMPOSE_MIRROR`, else the host's apt sources). Every test is named
//! `net_*` so the offline tier can skip them with `--skip net_`.

mod common;

use std::process::Command;
use std::time::Instant;

use livecompose::fetch::Fetcher;
use livecompose::repo::deb822::{self, ParseOptions};
use livecompose::repo::relation::parse_relations;
use livecompose::repo::signature::{DEFAULT_KEYRING, Keyring, SignatureError};
use livecompose::repo::{RepoError, RepoSpec, Repository, SignaturePolicy, load_repository};

fn mirror() -> String {
    livecompose::mirror::discover(None).expect(
        "no Debian mirror configured: set LIVECOMPOSE_MIRROR or add a deb line to apt's sources",
    )
}

fn bookworm() -> RepoSpec {
    RepoSpec {
        mirror: mirror(),
        suite: "bookworm".into(),
        components: vec!["main".into()],
        architecture: "amd64".into(),
    }
}

fn host_keyring() -> Keyring {
    Keyring::from_file(std::path::Path::new(DEFAULT_KEYRING))
        .unwrap_or_else(|e| panic!("{e}\n(install the Debian package debian-archive-keyring)"))
}

fn load(fetcher: &Fetcher) -> Repository {
    let started = Instant::now();
    let repo = load_repository(
        &bookworm(),
        fetcher,
        &SignaturePolicy::Verify(host_keyring()),
    )
    .unwrap_or_else(|e| panic!("loading bookworm failed: {e}"));
    eprintln!(
        "loaded {} packages in {:.2?} (signed by {:?})",
        repo.packages.len(),
        started.elapsed(),
        repo.signer
    );
    repo
}

#[test]
#[ignore = "end-to-end: reads the real Debian mirror"]
fn net_bookworm_main_amd64_verifies_and_parses() {
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path()).unwrap();
    let repo = load(&fetcher);

    assert!(repo.signer.is_some());
    assert_eq!(repo.release.codename.as_deref(), Some("bookworm"));
    assert!(repo.release.acquire_by_hash);
    assert!(
        repo.packages.len() > 60_000,
        "only {} packages",
        repo.packages.len()
    );
    let bash: Vec<_> = repo.find("bash").collect();
    assert!(!bash.is_empty(), "bash missing");
    assert!(
        bash.iter().all(|p| p.essential),
        "bash must be Essential: yes"
    );
    assert!(
        bash[0]
            .pre_depends
            .iter()
            .flatten()
            .any(|r| r.name == "libc6")
    );
    assert!(repo.package_url(bash[0]).ends_with(".deb"));
    assert!(repo.packages.iter().all(|p| p.component == "main"));

    // A second load is served from the verified cache (only InRelease is refetched).
    let started = Instant::now();
    let again = load(&fetcher);
    eprintln!("cached reload took {:.2?}", started.elapsed());
    assert_eq!(again.packages.len(), repo.packages.len());
}

#[test]
#[ignore = "end-to-end: reads the real Debian mirror"]
fn net_wrong_keyring_is_rejected_with_a_remedy() {
    let gpg = common::Gpg::new();
    let fpr = gpg.gen_key("Not The Archive <nobody@example.org>", "never");
    let ring = gpg.path("wrong.gpg");
    gpg.export(&[&fpr], false, &ring);
    let keyring = Keyring::from_file(&ring).unwrap();

    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path()).unwrap();
    let err = load_repository(&bookworm(), &fetcher, &SignaturePolicy::Verify(keyring))
        .expect_err("a foreign keyring must not verify the archive");
    assert!(
        matches!(
            err,
            RepoError::Signature(SignatureError::UnknownSigner { .. })
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("--gpgkey=PATH") && msg.contains("--nogpgcheck"),
        "{msg}"
    );
    eprintln!("{msg}");
}

#[test]
#[ignore = "end-to-end: reads the real Debian mirror"]
fn net_unknown_component_and_architecture_are_reported() {
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path()).unwrap();
    let mut spec = bookworm();
    spec.architecture = "vax".into();
    let err = load_repository(&spec, &fetcher, &SignaturePolicy::NoGpgCheck).unwrap_err();
    assert!(
        matches!(err, RepoError::UnknownArchitecture { .. }),
        "{err}"
    );

    let mut spec = bookworm();
    spec.components = vec!["nonexistent".into()];
    let err = load_repository(&spec, &fetcher, &SignaturePolicy::NoGpgCheck).unwrap_err();
    assert!(matches!(err, RepoError::UnknownComponent { .. }), "{err}");

    let mut spec = bookworm();
    spec.suite = "no-such-suite".into();
    let err = load_repository(&spec, &fetcher, &SignaturePolicy::NoGpgCheck).unwrap_err();
    assert!(matches!(err, RepoError::NoRelease { .. }), "{err}");
}

/// Compares ~20 packages with what apt itself parsed from the same suite,
/// when this machine has apt lists (`apt-get update` was run).
#[test]
#[ignore = "end-to-end: reads the real Debian mirror"]
fn net_matches_apt_cache_show() {
    let names = [
        "bash",
        "coreutils",
        "libc6",
        "dpkg",
        "apt",
        "systemd",
        "openssh-server",
        "python3",
        "perl-base",
        "util-linux",
        "login",
        "passwd",
        "tar",
        "grep",
        "sed",
        "gzip",
        "init",
        "linux-image-amd64",
        "grub-efi-amd64",
        "ca-certificates",
        "libssl3",
        "zlib1g",
    ];
    let out = Command::new("apt-cache")
        .arg("show")
        .args(names)
        .output()
        .expect("apt-cache (the Debian package apt) is the oracle of this test");
    let text = String::from_utf8_lossy(&out.stdout);
    let apt = deb822::parse(&text, ParseOptions::default()).expect("apt-cache output parses");
    assert!(
        !apt.is_empty(),
        "apt knows none of {names:?}: its package lists are empty; run apt-get update (tests/run does)"
    );
    let cache = tempfile::tempdir().unwrap();
    let repo = load(&Fetcher::new(cache.path()).unwrap());
    let mut compared = 0;
    for name in names {
        let ours: Vec<_> = repo.find(name).collect();
        assert!(!ours.is_empty(), "{name} missing from our index");
        // apt may also know newer versions from -updates or -security.
        for para in apt.iter().filter(|p| p.get("Package") == Some(name)) {
            let Some(mine) = ours
                .iter()
                .find(|p| Some(p.version.as_str()) == para.get("Version"))
            else {
                continue;
            };
            assert_eq!(Some(mine.sha256.as_str()), para.get("SHA256"), "{name}");
            let depends = parse_relations(para.get("Depends").unwrap_or("")).unwrap();
            assert_eq!(mine.depends, depends, "{name} Depends");
            let pre = parse_relations(para.get("Pre-Depends").unwrap_or("")).unwrap();
            assert_eq!(mine.pre_depends, pre, "{name} Pre-Depends");
            compared += 1;
        }
    }
    eprintln!("compared {compared} package versions with apt-cache");
    assert!(
        compared >= 15,
        "only {compared} of {} matched apt",
        names.len()
    );
}
