//! Loading a Debian suite: `InRelease` (or `Release` + `Release.gpg`), then
//! the `Packages` index of each requested component, each checked against
//! the verified Release before it is parsed.

use std::io::Read;
use std::time::SystemTime;

use crate::compression::Compression;
use crate::fetch::{Expected, FetchError, Fetcher};

use super::date;
use super::packages::{BinaryPackage, PackagesError, parse_packages};
use super::parsed_cache::ParsedCache;
use super::release::{Release, ReleaseError, ReleaseFile};
use super::signature::{self, Keyring, SignatureError, Signer};

/// Which part of which archive to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    /// Mirror root, e.g. the discovered `$mirror`; a trailing `/` is ignored.
    pub mirror: String,
    /// Suite or code name (`stable`, `bookworm`).
    pub suite: String,
    pub components: Vec<String>,
    /// Debian architecture name (`amd64`).
    pub architecture: String,
}

/// How to treat signatures on the Release file.
#[derive(Debug, Clone)]
pub enum SignaturePolicy {
    /// Require a valid signature by a key in this keyring.
    Verify(Keyring),
    /// `--nogpgcheck`: trust the Release unverified. The caller must warn.
    /// Index and package hashes are still checked against it.
    NoGpgCheck,
}

impl SignaturePolicy {
    /// Maps the `--gpgkey=PATH` / `--nogpgcheck` options: skipping wins,
    /// then the named keyring(s), then the Debian archive keyring.
    pub fn from_options<P: AsRef<std::path::Path>>(
        gpgkeys: &[P],
        nogpgcheck: bool,
    ) -> Result<Self, SignatureError> {
        if nogpgcheck {
            return Ok(SignaturePolicy::NoGpgCheck);
        }
        if gpgkeys.is_empty() {
            return Keyring::debian_default().map(SignaturePolicy::Verify);
        }
        Keyring::from_files(gpgkeys).map(SignaturePolicy::Verify)
    }
}

/// A loaded suite: what the Release said and every package it lists.
#[derive(Debug, Clone)]
pub struct Repository {
    /// Mirror root without a trailing `/`; package `Filename`s are relative to it.
    pub base_url: String,
    pub spec: RepoSpec,
    pub release: Release,
    /// The file the Release was read from: `InRelease` or `Release`.
    pub release_file: &'static str,
    /// Its SHA-256 as downloaded: the repository state the build used, for
    /// the SBOM.
    pub release_sha256: String,
    /// Who signed the Release; `None` under [`SignaturePolicy::NoGpgCheck`].
    pub signer: Option<Signer>,
    pub packages: Vec<BinaryPackage>,
}

impl Repository {
    /// Where to download a package's `.deb`.
    pub fn package_url(&self, package: &BinaryPackage) -> String {
        format!(
            "{}/{}",
            self.base_url,
            package.filename.trim_start_matches('/')
        )
    }

    /// What the `.deb` must hash to, for [`Fetcher::fetch_verified`].
    pub fn package_expected(&self, package: &BinaryPackage) -> Result<Expected, FetchError> {
        Expected::new(package.size, &package.sha256)
    }

    /// Every listed version of a package name (there may be several, e.g.
    /// one per component).
    pub fn find<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a BinaryPackage> + 'a {
        self.packages.iter().filter(move |p| p.name == name)
    }
}

/// Hint shared by every signature-related failure.
const REMEDY: &str = "pass --gpgkey=PATH to name the keyring that signs this repository, \
                      or --nogpgcheck to skip verification (unsafe)";

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(
        "{base}: neither InRelease nor Release.gpg exists, so the repository is unsigned; {REMEDY}"
    )]
    Unsigned { base: String },
    #[error("{base}: no InRelease and no Release file: is {suite:?} a suite on this mirror?")]
    NoRelease { base: String, suite: String },
    #[error("{url} is not UTF-8 text")]
    NotUtf8 { url: String },
    #[error("{url}: {source}")]
    Release { url: String, source: ReleaseError },
    #[error(
        "{url} describes suite {found:?}, not the requested {requested:?}: the mirror is \
         misconfigured or serving a stale or substituted file"
    )]
    SuiteMismatch {
        url: String,
        requested: String,
        found: String,
    },
    #[error(
        "{url} expired on {valid_until} (Valid-Until; now {now}): the mirror is out of date, \
         or this machine's clock is wrong; use an up-to-date mirror"
    )]
    Expired {
        url: String,
        valid_until: String,
        now: String,
    },
    #[error("{url} does not offer architecture {architecture:?} (it has: {available})")]
    UnknownArchitecture {
        url: String,
        architecture: String,
        available: String,
    },
    #[error("{url} does not offer component {component:?} (it has: {available})")]
    UnknownComponent {
        url: String,
        component: String,
        available: String,
    },
    #[error("{url} lists no Packages index for {component}/binary-{architecture}")]
    NoPackagesIndex {
        url: String,
        component: String,
        architecture: String,
    },
    #[error("{url}: cannot decompress: {source}")]
    Decompress { url: String, source: std::io::Error },
    #[error("{url}: decompressed index does not match Release: {reason}")]
    Uncompressed { url: String, reason: String },
    #[error("{url}: {source}")]
    Packages { url: String, source: PackagesError },
}

/// Loads and verifies a suite's package indexes.
pub fn load_repository(
    spec: &RepoSpec,
    fetcher: &Fetcher,
    policy: &SignaturePolicy,
) -> Result<Repository, RepoError> {
    load_repository_at(spec, fetcher, policy, SystemTime::now())
}

/// [`load_repository`] with an explicit "now", for expiry checks in tests.
pub fn load_repository_at(
    spec: &RepoSpec,
    fetcher: &Fetcher,
    policy: &SignaturePolicy,
    now: SystemTime,
) -> Result<Repository, RepoError> {
    let base_url = spec.mirror.trim_end_matches('/').to_owned();
    let dists = format!("{base_url}/dists/{}/", spec.suite);
    let (release_text, release_url, release_sha256, signer) =
        fetch_release(&dists, &spec.suite, fetcher, policy, now)?;
    let release = Release::parse(&release_text).map_err(|source| RepoError::Release {
        url: release_url.clone(),
        source,
    })?;
    check_release(spec, &release, &release_url, now)?;

    let mut packages = Vec::new();
    for component in &spec.components {
        let mut listed = load_packages(
            &dists,
            component,
            &spec.architecture,
            &release,
            &release_url,
            fetcher,
        )?;
        for p in &mut listed {
            p.component.clone_from(component);
        }
        packages.append(&mut listed);
    }
    Ok(Repository {
        base_url,
        spec: spec.clone(),
        release,
        release_file: if release_url.ends_with("InRelease") {
            "InRelease"
        } else {
            "Release"
        },
        release_sha256,
        signer,
        packages,
    })
}

/// Returns the Release text (only the signed part), its URL, the SHA-256
/// of the file downloaded and the signer.
fn fetch_release(
    dists: &str,
    suite: &str,
    fetcher: &Fetcher,
    policy: &SignaturePolicy,
    now: SystemTime,
) -> Result<(String, String, String, Option<Signer>), RepoError> {
    let inrelease_url = format!("{dists}InRelease");
    if let Some(bytes) = fetcher.fetch_optional(&inrelease_url)? {
        let digest = crate::fetch::sha256_hex(&bytes);
        let text = String::from_utf8(bytes).map_err(|_| RepoError::NotUtf8 {
            url: inrelease_url.clone(),
        })?;
        return match policy {
            SignaturePolicy::Verify(keyring) => {
                let verified = signature::verify_clearsigned(&text, keyring, &inrelease_url, now)?;
                Ok((verified.text, inrelease_url, digest, Some(verified.signer)))
            }
            SignaturePolicy::NoGpgCheck => {
                let content = signature::clearsigned_content_unverified(&text, &inrelease_url)?;
                Ok((content, inrelease_url, digest, None))
            }
        };
    }
    // Older or hand-made repositories publish only the detached form.
    let release_url = format!("{dists}Release");
    let bytes = fetcher
        .fetch_optional(&release_url)?
        .ok_or_else(|| RepoError::NoRelease {
            base: dists.to_owned(),
            suite: suite.to_owned(),
        })?;
    let signer = match policy {
        SignaturePolicy::NoGpgCheck => None,
        SignaturePolicy::Verify(keyring) => {
            let sig_url = format!("{dists}Release.gpg");
            let sig = fetcher
                .fetch_optional(&sig_url)?
                .ok_or_else(|| RepoError::Unsigned {
                    base: dists.to_owned(),
                })?;
            Some(signature::verify_detached(
                &bytes,
                &sig,
                keyring,
                &release_url,
                now,
            )?)
        }
    };
    let digest = crate::fetch::sha256_hex(&bytes);
    let text = String::from_utf8(bytes).map_err(|_| RepoError::NotUtf8 {
        url: release_url.clone(),
    })?;
    Ok((text, release_url, digest, signer))
}

fn check_release(
    spec: &RepoSpec,
    release: &Release,
    url: &str,
    now: SystemTime,
) -> Result<(), RepoError> {
    // A validly signed Release for another suite (say, an old one) must not
    // be accepted in place of the one asked for.
    if (release.suite.is_some() || release.codename.is_some()) && !release.is_suite(&spec.suite) {
        let found = [release.suite.as_deref(), release.codename.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/");
        return Err(RepoError::SuiteMismatch {
            url: url.to_owned(),
            requested: spec.suite.clone(),
            found,
        });
    }
    let now_secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if let Some(valid_until) = release.valid_until
        && valid_until < now_secs
    {
        return Err(RepoError::Expired {
            url: url.to_owned(),
            valid_until: date::format_utc(valid_until),
            now: date::format_utc(now_secs),
        });
    }
    if !release.architectures.is_empty() && !release.architectures.contains(&spec.architecture) {
        return Err(RepoError::UnknownArchitecture {
            url: url.to_owned(),
            architecture: spec.architecture.clone(),
            available: release.architectures.join(" "),
        });
    }
    for component in &spec.components {
        if !release.components.is_empty() && !release.components.contains(component) {
            return Err(RepoError::UnknownComponent {
                url: url.to_owned(),
                component: component.clone(),
                available: release.components.join(" "),
            });
        }
    }
    Ok(())
}

fn load_packages(
    dists: &str,
    component: &str,
    arch: &str,
    release: &Release,
    release_url: &str,
    fetcher: &Fetcher,
) -> Result<Vec<BinaryPackage>, RepoError> {
    let dir = format!("{component}/binary-{arch}");
    let plain_path = format!("{dir}/Packages");
    // Smallest download first; the Release decides what exists.
    let (entry, compression) = [Compression::Xz, Compression::Gzip, Compression::None]
        .into_iter()
        .find_map(|c| {
            release
                .file(&format!("{plain_path}{}", c.suffix()))
                .map(|e| (e, c))
        })
        .ok_or_else(|| RepoError::NoPackagesIndex {
            url: release_url.to_owned(),
            component: component.to_owned(),
            architecture: arch.to_owned(),
        })?;
    // Parsed before: the signed Release names the same index.
    let parsed = ParsedCache::new(fetcher.cache_dir());
    if let Some(packages) = parsed.load(&entry.sha256) {
        return Ok(packages);
    }
    let expected = Expected::new(entry.size, &entry.sha256)?;
    let path_url = format!("{dists}{}", entry.path);
    // By-hash URLs never change content, so a mirror that updates between
    // our Release and index downloads cannot hand us a mismatched pair.
    let (url, file) = if release.acquire_by_hash {
        let by_hash = format!("{dists}{dir}/by-hash/SHA256/{}", expected.checksum.value());
        match fetcher.fetch_verified(&by_hash, &expected) {
            Ok(file) => (by_hash, file),
            Err(FetchError::NotFound { .. }) => (
                path_url.clone(),
                fetcher.fetch_verified(&path_url, &expected)?,
            ),
            Err(e) => return Err(e.into()),
        }
    } else {
        (
            path_url.clone(),
            fetcher.fetch_verified(&path_url, &expected)?,
        )
    };
    let plain = release.file(&plain_path);
    let text = decompress(&file, compression, plain, &url)?;
    let packages = parse_packages(&text).map_err(|source| RepoError::Packages { url, source })?;
    // Not kept, the next build parses again: nothing is lost.
    let _ = parsed.store(&entry.sha256, &packages);
    Ok(packages)
}

/// Decompresses a verified index. When the Release also lists the
/// uncompressed file, its size bounds the output and its hash is checked:
/// a decompressor bug or a bomb cannot slip through.
fn decompress(
    file: &std::path::Path,
    compression: Compression,
    plain: Option<&ReleaseFile>,
    url: &str,
) -> Result<String, RepoError> {
    let err = |source| RepoError::Decompress {
        url: url.to_owned(),
        source,
    };
    let input = std::fs::File::open(file).map_err(err)?;
    let reader = compression
        .decoder(std::io::BufReader::new(input))
        .map_err(err)?;
    // Without a listed size, 4 GiB is far beyond any real index.
    let limit = plain.map_or(4 << 30, |p| p.size);
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if let Some(plain) = plain {
        let mismatch = |reason: String| RepoError::Uncompressed {
            url: url.to_owned(),
            reason,
        };
        if bytes.len() as u64 != plain.size {
            return Err(mismatch(format!(
                "{} bytes, Release says {}",
                bytes.len(),
                plain.size
            )));
        }
        let actual = crate::fetch::sha256_hex(&bytes);
        if actual != plain.sha256 {
            return Err(mismatch(format!(
                "SHA256 {actual}, Release says {}",
                plain.sha256
            )));
        }
    }
    String::from_utf8(bytes).map_err(|_| RepoError::NotUtf8 {
        url: url.to_owned(),
    })
}
