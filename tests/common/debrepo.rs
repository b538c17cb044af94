//! A signed Debian repository generated in a temp dir: `dists/SUITE` with
//! `InRelease` (or `Release` + `Release.gpg`) signed by a throwaway key's
//! subkey, `Packages` in the requested compressions, and `.deb` files (any
//! bytes will do: the fetcher only checks size and hash) in `pool/`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use livecompose::fetch::{Fetcher, sha256_hex};
use livecompose::repo::signature::Keyring;
use livecompose::repo::{RepoSpec, SignaturePolicy};

use super::Gpg;

pub const SUITE: &str = "fixture";
/// A few real `Packages` entries (bash, libc6, ...), without their files.
pub const FIXTURE: &str = include_str!("../fixtures/debrepo/Packages");

pub struct Layout {
    pub by_hash: bool,
    pub xz: bool,
    pub gz: bool,
    pub plain: bool,
    pub valid_until: Option<&'static str>,
    pub codename: &'static str,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            by_hash: false,
            xz: true,
            gz: true,
            plain: true,
            valid_until: None,
            codename: SUITE,
        }
    }
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Writes `dists/SUITE/...` under `root` and returns the unsigned Release text.
pub fn write_repo(root: &Path, packages: &str, layout: &Layout) -> String {
    let dists = root.join("dists").join(SUITE);
    let dir = dists.join("main/binary-amd64");
    std::fs::create_dir_all(dir.join("by-hash/SHA256")).unwrap();
    let mut entries = Vec::new();
    let mut add = |name: &str, data: Vec<u8>, publish: bool| {
        let hash = sha256_hex(&data);
        entries.push(format!(" {hash} {} main/binary-amd64/{name}", data.len()));
        if publish {
            if layout.by_hash {
                std::fs::write(dir.join("by-hash/SHA256").join(&hash), &data).unwrap();
            } else {
                std::fs::write(dir.join(name), &data).unwrap();
            }
        }
    };
    // The plain index is always listed (as the archive does) so the
    // decompressed text can be checked, but only published if asked.
    add("Packages", packages.as_bytes().to_vec(), layout.plain);
    if layout.xz {
        add("Packages.xz", xz(packages.as_bytes()), true);
    }
    if layout.gz {
        add("Packages.gz", gz(packages.as_bytes()), true);
    }
    let mut release = format!(
        "Origin: Fixture\nLabel: Fixture\nSuite: testing\nCodename: {}\n\
         Date: Sat, 10 Jun 2023 09:10:11 UTC\n",
        layout.codename
    );
    if let Some(v) = layout.valid_until {
        release.push_str(&format!("Valid-Until: {v}\n"));
    }
    if layout.by_hash {
        release.push_str("Acquire-By-Hash: yes\n");
    }
    release.push_str("Architectures: amd64 all\nComponents: main\nDescription: test\nSHA256:\n");
    release.push_str(&entries.join("\n"));
    release.push('\n');
    release
}

/// The fixture suite's spec for a repository at `mirror`.
pub fn spec_at(mirror: String) -> RepoSpec {
    RepoSpec {
        mirror,
        suite: SUITE.into(),
        components: vec!["main".into()],
        architecture: "amd64".into(),
    }
}

/// The fixture suite's spec for the repository under `root`, over `file://`.
pub fn spec(root: &Path) -> RepoSpec {
    spec_at(format!("file://{}/", root.display()))
}

/// Bytes standing in for a `.deb`: distinct per `seed`, not compressible,
/// so that sizes and hashes behave like real packages.
pub fn fake_deb(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

pub struct Fixture {
    pub gpg: Gpg,
    pub signer: String,
    pub keyring: Keyring,
    pub root: tempfile::TempDir,
    pub cache: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let gpg = Gpg::new();
        let primary = gpg.gen_key("Fixture Archive <archive@example.org>", "never");
        let subkey = gpg.add_signing_subkey(&primary);
        let ring = gpg.path("archive.gpg");
        gpg.export(&[&primary], false, &ring);
        let keyring = Keyring::from_file(&ring).unwrap();
        Fixture {
            gpg,
            // Sign with the subkey, as the Debian archive does.
            signer: format!("{subkey}!"),
            keyring,
            root: tempfile::tempdir().unwrap(),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    pub fn dists(&self) -> PathBuf {
        self.root.path().join("dists").join(SUITE)
    }

    pub fn publish_inrelease(&self, release: &str) {
        std::fs::write(
            self.dists().join("InRelease"),
            self.gpg.clearsign(&self.signer, release),
        )
        .unwrap();
    }

    pub fn publish_detached(&self, release: &str) {
        std::fs::write(self.dists().join("Release"), release).unwrap();
        std::fs::write(
            self.dists().join("Release.gpg"),
            self.gpg.detach_sign(&self.signer, release.as_bytes(), true),
        )
        .unwrap();
    }

    /// Writes each `(name, bytes)` as `pool/main/<name>_1.0_amd64.deb` and
    /// returns the `Packages` text that lists them.
    pub fn add_debs(&self, debs: &[(&str, &[u8])]) -> String {
        let pool = self.root.path().join("pool/main");
        std::fs::create_dir_all(&pool).unwrap();
        let mut packages = String::new();
        for (name, bytes) in debs {
            let filename = format!("{name}_1.0_amd64.deb");
            std::fs::write(pool.join(&filename), bytes).unwrap();
            packages.push_str(&format!(
                "Package: {name}\nVersion: 1.0\nArchitecture: amd64\n\
                 Filename: pool/main/{filename}\nSize: {}\nSHA256: {}\n\n",
                bytes.len(),
                sha256_hex(bytes)
            ));
        }
        packages
    }

    /// A signed repository (default layout) listing exactly `debs`.
    pub fn publish_debs(&self, debs: &[(&str, &[u8])]) {
        let packages = self.add_debs(debs);
        let release = write_repo(self.root.path(), &packages, &Layout::default());
        self.publish_inrelease(&release);
    }

    /// A fetcher on the fixture's cache; retries come quickly, as nothing
    /// here needs a server time to recover.
    pub fn fetcher(&self) -> Fetcher {
        Fetcher::new(self.cache.path())
            .unwrap()
            .with_backoff(Duration::from_millis(10))
    }

    pub fn verify(&self) -> SignaturePolicy {
        SignaturePolicy::Verify(self.keyring.clone())
    }
}
