//! The RPM back end: repositories described by `repomd.xml`, dnf's
//! dependency semantics, and rpm's own install rules.
//!
//! Trust flows as dnf's does with `gpgcheck` on. A repository needs a
//! `--gpgkey` (or an explicit `--nogpgcheck`; the plan refuses neither).
//! `repomd.xml` is vouched for by its signature (`repomd.xml.asc`) when the
//! repository signs it, and by the metalink's digest when it came through
//! one (Fedora signs packages, not `repomd.xml`); `repomd.xml` vouches for
//! each index by checksum, and each index for each package file by
//! checksum. With a key, every package's own signature is checked too,
//! before the first one is installed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;
use indicatif::ProgressBar;
use pgp::composed::SignedPublicKey;
use pgp::types::KeyDetails;
use sha2::{Digest as _, Sha256};

use super::{
    AssetFile, AssetLocation, BootAsset, Distro, FetchedPackage, GrubLayout, NameFilter,
    Resolution, ResolvedPackage, describe, glob_set,
};
use crate::chroot::Chroot;
use crate::configure::{
    CacheFiles, CacheNames, Conventions, KeyboardStyle, LocaleStyle, SshServer,
};
use crate::fetch::{Expected, Fetcher};
use crate::install::RootFs;
use crate::install::rpm::verify::verify_package;
use crate::install::rpm::{self as rpm_install, RpmInstallOptions};
use crate::kickstart::commands::RepoLocation;
use crate::kickstart::sections::{GroupContent, PackageSpec, Packages};
use crate::plan::{BuildPlan, RepositorySpec};
use crate::repo::rpm::metalink::Metalink;
use crate::repo::rpm::{
    Comps, Dependency, FileLists, GroupPackageKind, Repodata, RepodataError, RpmPackage,
    parse_repomd, read_repodata,
};
use crate::repo::signature::{Keyring, verify_detached};
use crate::resolve::{Requested, RpmCandidate, RpmRequest, resolve_rpm};
use crate::sbom::{Inventory, PackageFacts, SourceRepository, license, purl_encode};
use crate::source_date::SourceDate;

pub struct Rpm<'p> {
    plan: &'p BuildPlan,
    arches: Vec<String>,
    repositories: Vec<LoadedRepository>,
}

struct LoadedRepository {
    name: String,
    /// Where `repodata/` was found, ending in `/`.
    base_url: String,
    cost: i32,
    filter: NameFilter,
    repodata: Repodata,
    /// The `--gpgkey` that must sign its packages, if any.
    keyring: Option<Keyring>,
    /// The `repomd.xml` the build used, for the SBOM.
    repomd: RepomdState,
}

/// Which `repomd.xml` a repository was read from.
#[derive(Debug, Clone)]
struct RepomdState {
    sha256: String,
    /// The newest index timestamp it lists, in seconds since the epoch.
    date: Option<i64>,
}

impl<'p> Rpm<'p> {
    pub fn new(plan: &'p BuildPlan) -> Self {
        let arch = super::host_architecture(crate::plan::PackageFormat::Rpm);
        Rpm {
            plan,
            arches: vec![arch.to_owned(), "noarch".to_owned()],
            repositories: Vec::new(),
        }
    }

    fn candidates(&self) -> Vec<RpmCandidate<'_>> {
        self.repositories
            .iter()
            .flat_map(|loaded| {
                loaded
                    .repodata
                    .packages
                    .iter()
                    .filter(|package| loaded.filter.allows(&package.name))
                    .map(|package| RpmCandidate {
                        package,
                        repo: &loaded.name,
                        cost: loaded.cost,
                    })
            })
            .collect()
    }

    /// What the pipeline needs to know of a package from `repo`.
    fn resolved(&self, package: &RpmPackage, repo: &str) -> anyhow::Result<ResolvedPackage> {
        let loaded = self
            .repositories
            .iter()
            .find(|loaded| loaded.name == repo)
            .with_context(|| format!("the resolver chose unknown repository {repo}"))?;
        let base = match &package.location_base {
            Some(base) => with_slash(base),
            None => loaded.base_url.clone(),
        };
        Ok(ResolvedPackage {
            name: package.name.clone(),
            version: package.evr.to_string(),
            architecture: package.arch.clone(),
            repository: repo.to_owned(),
            url: format!("{base}{}", package.location),
            expected: Expected {
                size: package.package_size,
                checksum: package.checksum.clone(),
            },
        })
    }

    /// Checks each downloaded package (`files[i]` holding `packages[i]`)
    /// against the key of the repository it came from.
    /// `%packages --inst-langs`: the languages whose files are installed.
    fn install_langs(&self) -> Option<Vec<String>> {
        let langs = self.plan.kickstart.packages.options.inst_langs.as_ref()?;
        Some(
            langs
                .split(',')
                .map(str::trim)
                .filter(|lang| !lang.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    fn verify(&self, packages: &[FetchedPackage]) -> anyhow::Result<()> {
        for fetched in packages {
            let resolved = &fetched.package;
            let keyring = self.keyring_of(resolved);
            let nevra = format!(
                "{}-{}.{}",
                resolved.name, resolved.version, resolved.architecture
            );
            verify_package(&fetched.file, &nevra, keyring)?;
        }
        Ok(())
    }

    /// The key of the repository `package` comes from, if it has one.
    fn keyring_of(&self, package: &ResolvedPackage) -> Option<&Keyring> {
        self.repositories
            .iter()
            .find(|loaded| loaded.name == package.repository)
            .and_then(|loaded| loaded.keyring.as_ref())
    }

    /// The keys of the repositories `packages` come from, each once: what
    /// dnf would have imported into the image's rpmdb to install them.
    fn trusted_keys(&self, packages: &[FetchedPackage]) -> Vec<SignedPublicKey> {
        let mut keys: Vec<SignedPublicKey> = Vec::new();
        for key in packages
            .iter()
            .filter_map(|fetched| self.keyring_of(&fetched.package))
            .flat_map(Keyring::keys)
        {
            if !keys
                .iter()
                .any(|known| known.fingerprint() == key.fingerprint())
            {
                keys.push(key.clone());
            }
        }
        keys
    }

    /// Every group and environment the repositories define, merged.
    fn comps(&self) -> Comps {
        let mut comps = Comps::default();
        for loaded in &self.repositories {
            comps.merge(&loaded.repodata.groups);
        }
        comps
    }
}

impl Distro for Rpm<'_> {
    fn load_repositories(
        &mut self,
        fetcher: &Fetcher,
        warn: &mut dyn FnMut(String),
    ) -> anyhow::Result<()> {
        for spec in &self.plan.repositories {
            let context = || {
                format!(
                    "{}: cannot use repository {} ({})",
                    spec.origin,
                    spec.name,
                    spec.location.url()
                )
            };
            let fetcher = fetcher.through(&spec.transport);
            let keyring = keyring(spec, &fetcher).with_context(context)?;
            if spec.nogpgcheck {
                warn(format!(
                    "{}: WARNING: --nogpgcheck: the signatures of repository {} are NOT checked; anyone who can change its files can change this image",
                    spec.origin, spec.name
                ));
            }
            let (loaded, repodata) =
                load_repository(spec, &fetcher, keyring.as_ref(), FileLists::PrimaryOnly)
                    .with_context(context)?;
            if let (Some(_), RepomdVouch::PackageSignaturesOnly) = (&keyring, loaded.vouch) {
                warn(format!(
                    "{}: repository {} does not sign its repomd.xml (no repomd.xml.asc) and came through no metalink: every package's signature is checked against --gpgkey, but an older copy of the repository could be served unnoticed",
                    spec.origin, spec.name
                ));
            }
            let base_url = loaded.base_url;
            let repomd = loaded.repomd;
            self.repositories.push(LoadedRepository {
                name: spec.name.clone(),
                base_url,
                cost: i32::try_from(spec.cost).unwrap_or(i32::MAX),
                filter: NameFilter::new(spec)?,
                repodata,
                keyring,
                repomd,
            });
        }
        // A path one repository's packages need may be listed only in
        // another repository's filelists.
        let all: Vec<&RpmPackage> = self
            .repositories
            .iter()
            .flat_map(|repository| &repository.repodata.packages)
            .collect();
        if unlisted_file_dependencies(&all) {
            for (repository, spec) in self.repositories.iter_mut().zip(&self.plan.repositories) {
                if repository.repodata.full_file_lists {
                    continue;
                }
                let fetcher = fetcher.through(&spec.transport);
                let (loaded, repodata) =
                    load_repository(spec, &fetcher, repository.keyring.as_ref(), FileLists::Full)
                        .with_context(|| {
                        format!(
                            "{}: cannot read the file lists of repository {}",
                            spec.origin, spec.name
                        )
                    })?;
                repository.base_url = loaded.base_url;
                repository.repomd = loaded.repomd;
                repository.repodata = repodata;
            }
        }
        Ok(())
    }

    fn resolve(&mut self, extra: &[&str], purpose: &str) -> anyhow::Result<Resolution> {
        let candidates = self.candidates();
        let mut mapped = request(&self.plan.kickstart.packages, &self.comps(), &self.arches)?;
        mapped
            .request
            .install
            .extend(super::extra_requests(extra, purpose));
        let solution = resolve_rpm(&candidates, &mapped.request)?;
        let packages = solution
            .chosen
            .iter()
            .map(|&i| self.resolved(candidates[i].package, candidates[i].repo))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut warnings = mapped.warnings;
        warnings.extend(solution.warnings);
        Ok(Resolution { packages, warnings })
    }

    fn prepare_root(&self, _root: &RootFs) -> anyhow::Result<()> {
        // The installer makes the database directory and the chroot's
        // mount points itself; everything else comes from packages.
        Ok(())
    }

    fn install(
        &self,
        root: &RootFs,
        chroot: &Chroot,
        packages: &[FetchedPackage],
        source_date: &SourceDate,
        bar: &ProgressBar,
    ) -> anyhow::Result<Vec<String>> {
        // Every package is checked before the first is installed: a bad
        // one stops the build with the root untouched.
        bar.set_message("checking package signatures");
        self.verify(packages)?;
        let options = &self.plan.kickstart.packages.options;
        let install_options = RpmInstallOptions {
            // Wherever the packages point /var/lib/rpm.
            dbpath: None,
            install_time: Some(source_date.seconds_u32()),
            trusted_keys: self.trusted_keys(packages),
            file_conflicts: super::file_conflicts(options),
            exclude_docs: options.exclude_docs,
            install_langs: self.install_langs(),
        };
        let files: Vec<PathBuf> = packages.iter().map(|p| p.file.clone()).collect();
        let installed = rpm_install::install(root, chroot, &files, &install_options, &|step| {
            bar.set_message(step.to_owned());
            if step.starts_with("installing ") {
                bar.inc(1);
            }
        })?;
        Ok(installed.into_iter().flat_map(|p| p.warnings).collect())
    }

    /// Each `repomd.xml`'s revision (createrepo_c writes the time there)
    /// and its index files' timestamps.
    fn index_dates(&self) -> Vec<i64> {
        self.repositories
            .iter()
            .flat_map(|loaded| loaded.repodata.repomd.dates())
            .collect()
    }

    fn install_settings(&self, packages: &[FetchedPackage]) -> Vec<String> {
        let options = &self.plan.kickstart.packages.options;
        let mut settings = vec![
            "rpm".to_owned(),
            format!("file conflicts {:?}", super::file_conflicts(options)),
            format!("exclude docs {}", options.exclude_docs),
            format!("languages {:?}", self.install_langs()),
        ];
        // The keys go into the package database, as dnf imports them.
        for key in self.trusted_keys(packages) {
            use pgp::ser::Serialize as _;
            settings.push(match key.to_bytes() {
                Ok(packets) => format!("key {}", hex::encode(Sha256::digest(packets))),
                Err(_) => format!("key {:?}", key.fingerprint()),
            });
        }
        settings
    }

    fn finish_root(&self, _root: &RootFs) -> anyhow::Result<()> {
        Ok(())
    }

    fn conventions(&self) -> Conventions {
        Conventions {
            locale: LocaleStyle::LocaleConf,
            keyboard: KeyboardStyle::Vconsole,
            // dnf's metadata and packages, should a %post script run dnf.
            caches: &[
                CacheFiles {
                    dir: "/var/cache/dnf",
                    names: CacheNames::All,
                },
                CacheFiles {
                    dir: "/var/cache/libdnf5",
                    names: CacheNames::All,
                },
            ],
            // Fedora's openssh-server makes each missing key type at boot.
            build_records: &["/var/cache/ldconfig/aux-cache"],
            ssh: SshServer {
                service: "sshd.service",
                keygen_units: &[
                    "/usr/lib/systemd/system/sshd-keygen@.service",
                    "/usr/lib/systemd/system/sshd-keygen.service",
                ],
                keygen_package: "openssh",
            },
        }
    }

    fn grub(&self) -> GrubLayout {
        GrubLayout {
            packages: &[
                "grub2-pc-modules",
                "grub2-efi-x64-modules",
                // grub2-mkimage is in grub2-tools, not grub2-tools-minimal.
                "grub2-tools",
            ],
            mkimage: "/usr/bin/grub2-mkimage",
            pc_modules: "/usr/lib/grub/i386-pc",
            efi_modules: "/usr/lib/grub/x86_64-efi",
            boot_dir: "/boot/grub2",
        }
    }

    fn initramfs_name(&self, version: &str) -> String {
        format!("initramfs-{version}.img")
    }

    fn initramfs_generators(&self) -> &'static [&'static str] {
        // kernel-install runs it from the kernel's %posttrans.
        &["dracut"]
    }

    fn boot_asset(&self, asset: BootAsset) -> AssetLocation {
        match asset {
            BootAsset::Busybox => BUSYBOX,
            BootAsset::Isolinux => ISOLINUX,
            BootAsset::SystemdBootEfi => SYSTEMD_BOOT,
            BootAsset::Pxelinux => PXELINUX,
            BootAsset::IpxeEfi => IPXE_EFI,
        }
    }

    fn best_package(&self, name: &str, purpose: &str) -> anyhow::Result<ResolvedPackage> {
        let candidates = self.candidates();
        let best = candidates
            .iter()
            .filter(|c| c.package.name == name && self.arches.contains(&c.package.arch))
            .min_by(|a, b| {
                a.cost
                    .cmp(&b.cost)
                    .then_with(|| b.package.evr.cmp(&a.package.evr))
            })
            .with_context(|| {
                format!(
                    "the image needs the package {name} (for {purpose}) and none of the kickstart's repositories has it"
                )
            })?;
        self.resolved(best.package, best.repo)
    }

    fn unpack(&self, packages: &[FetchedPackage], dir: &Path) -> anyhow::Result<()> {
        // Their files boot the image, so they are checked like installed ones.
        self.verify(packages)?;
        let tree = RootFs::open(dir)?;
        for fetched in packages {
            rpm_install::unpack(&tree, &fetched.file)
                .with_context(|| format!("cannot unpack {}", fetched.file.display()))?;
        }
        Ok(())
    }

    fn inventory(&self, resolution: &Resolution, root: &RootFs) -> anyhow::Result<Inventory> {
        let repositories = self
            .repositories
            .iter()
            .map(|loaded| SourceRepository {
                name: loaded.name.clone(),
                url: loaded.base_url.clone(),
                index: "repomd.xml",
                index_sha256: loaded.repomd.sha256.clone(),
                date: loaded.repomd.date,
            })
            .collect();
        // repomd.xml names no distribution: the image's os-release does.
        let vendor = super::os_release(root, "ID");
        let distro = super::os_release(root, "VERSION_ID")
            .zip(vendor.as_ref())
            .map(|(version, id)| format!("{id}-{version}"));
        let mut packages = Vec::with_capacity(resolution.packages.len());
        for resolved in &resolution.packages {
            // The package file's checksum is its id in the repodata.
            let package = self
                .repositories
                .iter()
                .filter(|loaded| loaded.name == resolved.repository)
                .flat_map(|loaded| &loaded.repodata.packages)
                .find(|package| package.checksum == resolved.expected.checksum)
                .with_context(|| {
                    format!(
                        "{} {} is not in repository {}",
                        resolved.name, resolved.version, resolved.repository
                    )
                })?;
            packages.push(PackageFacts {
                purl: purl(package, vendor.as_deref(), distro.as_deref()),
                // RPM headers declare it; primary repeats it.
                license: package
                    .license
                    .as_deref()
                    .and_then(|declared| license::to_spdx(declared, &|_| None)),
            });
        }
        Ok(Inventory {
            repositories,
            packages,
        })
    }
}

/// The package URL of an RPM package (purl specification, type `rpm`):
/// `VERSION-RELEASE`, the epoch as a qualifier when it is not 0, and the
/// vendor and `distro` from the image's os-release when it has one.
fn purl(package: &RpmPackage, vendor: Option<&str>, distro: Option<&str>) -> String {
    let evr = &package.evr;
    let version = match &evr.release {
        Some(release) => format!("{}-{release}", evr.version),
        None => evr.version.clone(),
    };
    let namespace = vendor
        .map(|v| format!("{}/", purl_encode(v)))
        .unwrap_or_default();
    let mut purl = format!(
        "pkg:rpm/{namespace}{}@{}?arch={}",
        purl_encode(&package.name),
        purl_encode(&version),
        purl_encode(&package.arch)
    );
    if let Some(distro) = distro {
        purl.push_str(&format!("&distro={}", purl_encode(distro)));
    }
    if evr.epoch != 0 {
        purl.push_str(&format!("&epoch={}", evr.epoch));
    }
    purl
}

/// Where Fedora's packages keep the boot assets: its busybox is linked
/// statically, `syslinux-nonlinux` keeps every BIOS file in one directory.
const BUSYBOX: AssetLocation = AssetLocation {
    packages: &["busybox"],
    files: &[(AssetFile::Busybox, "usr/sbin/busybox")],
};
const ISOLINUX: AssetLocation = AssetLocation {
    packages: &["syslinux-nonlinux"],
    files: &[
        (AssetFile::IsolinuxBin, "usr/share/syslinux/isolinux.bin"),
        (AssetFile::IsohdpfxBin, "usr/share/syslinux/isohdpfx.bin"),
        (AssetFile::LdlinuxC32, "usr/share/syslinux/ldlinux.c32"),
        (AssetFile::MenuC32, "usr/share/syslinux/menu.c32"),
        (AssetFile::LibutilC32, "usr/share/syslinux/libutil.c32"),
    ],
};
const PXELINUX: AssetLocation = AssetLocation {
    packages: &["syslinux-nonlinux"],
    files: &[
        (AssetFile::Lpxelinux0, "usr/share/syslinux/lpxelinux.0"),
        (AssetFile::LdlinuxC32, "usr/share/syslinux/ldlinux.c32"),
    ],
};
// Fedora names its x86 iPXE images by architecture.
const IPXE_EFI: AssetLocation = AssetLocation {
    packages: &["ipxe-bootimgs-x86"],
    files: &[(AssetFile::IpxeEfi, "usr/share/ipxe/ipxe-x86_64.efi")],
};
const SYSTEMD_BOOT: AssetLocation = AssetLocation {
    packages: &["systemd-boot-unsigned"],
    files: &[(
        AssetFile::SystemdBootEfi,
        "usr/lib/systemd/boot/efi/systemd-bootx64.efi",
    )],
};

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

/// The keys that must sign `repomd.xml`: `--gpgkey` as a path or a URL
/// (as dnf takes it); none with `--nogpgcheck` or without `--gpgkey`.
fn keyring(spec: &RepositorySpec, fetcher: &Fetcher) -> anyhow::Result<Option<Keyring>> {
    let Some(key) = spec.gpgkey.as_deref().filter(|_| !spec.nogpgcheck) else {
        return Ok(None);
    };
    let keyring = match key.strip_prefix("file://") {
        Some(path) => Keyring::from_file(Path::new(path))?,
        None if key.contains("://") => {
            let bytes = fetcher
                .fetch_bytes(key)
                .with_context(|| format!("cannot download --gpgkey {key}"))?;
            Keyring::from_bytes(&bytes, key)?
        }
        None => Keyring::from_file(Path::new(key))?,
    };
    Ok(Some(keyring))
}

/// Where a repository's `repomd.xml` may be read, and the metalink that
/// vouches for it if it came through one.
struct Mirrors {
    /// Base URLs ending in `/`, in the order to try them.
    bases: Vec<String>,
    metalink: Option<Metalink>,
}

/// The `--baseurl` itself, or what a mirror list or metalink names. A plain
/// HTTP mirror from a mirror list is left out when the repository has no
/// key: nothing would vouch for what it serves. A metalink's mirrors all
/// stay, as their `repomd.xml` must match the metalink's digest.
fn mirrors(spec: &RepositorySpec, fetcher: &Fetcher, keyed: bool) -> anyhow::Result<Mirrors> {
    let list_url = match &spec.location {
        RepoLocation::BaseUrl(url) => {
            return Ok(Mirrors {
                bases: vec![with_slash(url)],
                metalink: None,
            });
        }
        RepoLocation::MirrorList(url) | RepoLocation::Metalink(url) => url,
    };
    let bytes = fetcher
        .fetch_bytes(list_url)
        .with_context(|| format!("cannot download the mirror list {list_url}"))?;
    let (listed, metalink) = match &spec.location {
        RepoLocation::Metalink(_) => {
            let metalink = Metalink::parse(bytes.as_slice())
                .with_context(|| format!("the metalink {list_url} cannot be used"))?;
            (metalink.mirrors.clone(), Some(metalink))
        }
        _ => (mirrorlist_urls(&String::from_utf8_lossy(&bytes)), None),
    };
    let bases = usable_mirrors(&listed, keyed || metalink.is_some());
    if bases.is_empty() {
        let why = if listed.iter().any(|url| url.starts_with("http://")) {
            " but plain-HTTP ones, which a repository without a key cannot use"
        } else {
            ""
        };
        anyhow::bail!("the mirror list {list_url} names no http, https or file mirror{why}");
    }
    Ok(Mirrors { bases, metalink })
}

/// The mirrors that can be read, as base URLs; plain HTTP ones only when
/// something (a key, a metalink) vouches for what they serve.
fn usable_mirrors(listed: &[String], vouched: bool) -> Vec<String> {
    listed
        .iter()
        .filter(|url| is_fetchable(url) && (vouched || !url.starts_with("http://")))
        .map(|url| with_slash(url))
        .collect()
}

/// A mirror list: one base URL per line, `#` comments.
fn mirrorlist_urls(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn is_fetchable(url: &str) -> bool {
    ["http://", "https://", "file://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
}

/// What vouched for the `repomd.xml` a repository was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RepomdVouch {
    /// Its signature, by `--gpgkey`.
    Signature,
    /// The metalink's digest.
    Metalink,
    /// Nothing: it is unsigned and came through no metalink. With a key,
    /// the packages' signatures still hold; with `--nogpgcheck`, nothing.
    PackageSignaturesOnly,
}

struct LoadedFrom {
    base_url: String,
    vouch: RepomdVouch,
    repomd: RepomdState,
}

/// Reads one repository from the first of its mirrors that works, with
/// its file lists when `file_lists` says so or its own packages need them.
fn load_repository(
    spec: &RepositorySpec,
    fetcher: &Fetcher,
    keyring: Option<&Keyring>,
    file_lists: FileLists,
) -> anyhow::Result<(LoadedFrom, Repodata)> {
    let mirrors = mirrors(spec, fetcher, keyring.is_some())?;
    let mut failures = Vec::new();
    for base in mirrors.bases {
        match load_from(
            &base,
            fetcher,
            keyring,
            mirrors.metalink.as_ref(),
            file_lists,
        ) {
            Ok((vouch, repomd, repodata)) => {
                return Ok((
                    LoadedFrom {
                        base_url: base,
                        vouch,
                        repomd,
                    },
                    repodata,
                ));
            }
            // A bad signature is not a mirror problem: trying the next
            // mirror would hide an attack or a wrong key. A repomd.xml the
            // metalink does not vouch for is: mirrors lag behind.
            Err(error) if keyring.is_some() && is_signature_error(&error) => return Err(error),
            Err(error) => failures.push(format!("{base}: {error:#}")),
        }
    }
    anyhow::bail!("no mirror worked:\n  {}", failures.join("\n  "))
}

fn is_signature_error(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.is::<crate::repo::signature::SignatureError>())
}

fn load_from(
    base: &str,
    fetcher: &Fetcher,
    keyring: Option<&Keyring>,
    metalink: Option<&Metalink>,
    file_lists: FileLists,
) -> anyhow::Result<(RepomdVouch, RepomdState, Repodata)> {
    let repomd_url = format!("{base}repodata/repomd.xml");
    let repomd_bytes = fetcher.fetch_bytes(&repomd_url)?;
    let repomd_sha256 = crate::fetch::sha256_hex(&repomd_bytes);
    let mut vouch = RepomdVouch::PackageSignaturesOnly;
    if let Some(metalink) = metalink {
        if !metalink.vouches_for(&repomd_bytes) {
            anyhow::bail!(
                "{repomd_url} matches none of the {} digest(s) the metalink gives for repomd.xml: the mirror is stale or its files were changed",
                metalink.digests.len()
            );
        }
        vouch = RepomdVouch::Metalink;
    }
    if let Some(keyring) = keyring {
        let signature_url = format!("{repomd_url}.asc");
        if let Some(signature) = fetcher.fetch_optional(&signature_url)? {
            verify_detached(
                &repomd_bytes,
                &signature,
                keyring,
                &repomd_url,
                SystemTime::now(),
            )?;
            vouch = RepomdVouch::Signature;
        }
    }
    let repomd_path = PathBuf::from(&repomd_url);
    let repomd = parse_repomd(repomd_bytes.as_slice(), &repomd_path)?;
    let state = RepomdState {
        sha256: repomd_sha256,
        date: repomd
            .records
            .iter()
            .filter_map(|record| record.timestamp)
            .max()
            .and_then(|seconds| i64::try_from(seconds).ok()),
    };
    let mut fetch = |record: &crate::repo::rpm::RepomdRecord| {
        let url = format!("{base}{}", record.location);
        let fetch_error = |source: Box<dyn std::error::Error + Send + Sync>| RepodataError::Fetch {
            location: url.clone(),
            source,
        };
        let size = record
            .size
            .ok_or_else(|| fetch_error("repomd.xml gives no size for it".into()))?;
        let expected = Expected {
            size,
            checksum: record.checksum.clone(),
        };
        fetcher
            .fetch_verified(&url, &expected)
            .map_err(|error| fetch_error(Box::new(error)))
    };
    if file_lists == FileLists::Full {
        let full = read_repodata(repomd, &repomd_path, FileLists::Full, &mut fetch)?;
        return Ok((vouch, state, full));
    }
    let primary_only = read_repodata(
        repomd.clone(),
        &repomd_path,
        FileLists::PrimaryOnly,
        &mut fetch,
    )?;
    // filelists is several times larger than primary: read it only when a
    // file dependency names a path primary does not list.
    let packages: Vec<&RpmPackage> = primary_only.packages.iter().collect();
    if unlisted_file_dependencies(&packages) {
        let full = read_repodata(repomd, &repomd_path, FileLists::Full, &mut fetch)?;
        Ok((vouch, state, full))
    } else {
        Ok((vouch, state, primary_only))
    }
}

/// Whether some package depends on a path that no package's primary file
/// list holds and none provides by name (`Provides: /bin/sh`).
fn unlisted_file_dependencies(packages: &[&RpmPackage]) -> bool {
    let listed: BTreeSet<&str> = packages
        .iter()
        .flat_map(|p| {
            let files = p.files.iter().map(|f| f.path.as_str());
            files.chain(p.provides.iter().map(|provide| provide.name.as_str()))
        })
        .collect();
    let file_atoms = |dep: &Dependency| -> Vec<String> {
        match dep.rich() {
            Some(Ok(rich)) => rich
                .atoms()
                .into_iter()
                .filter(|a| a.name.starts_with('/'))
                .map(|a| a.name.clone())
                .collect(),
            Some(Err(_)) => Vec::new(),
            None if dep.is_file() => vec![dep.name.clone()],
            None => Vec::new(),
        }
    };
    packages
        .iter()
        .flat_map(|p| p.requires.iter().chain(&p.recommends))
        .flat_map(file_atoms)
        .any(|path| !listed.contains(path.as_str()))
}

/// The resolver request for a kickstart's `%packages`, and notes about
/// what was skipped.
struct MappedRequest {
    request: RpmRequest,
    warnings: Vec<String>,
}

fn request(packages: &Packages, comps: &Comps, arches: &[String]) -> anyhow::Result<MappedRequest> {
    let options = &packages.options;
    let mut install = Vec::new();
    let mut warnings = Vec::new();
    let excluded: Vec<String> = packages
        .excluded()
        .filter_map(|entry| match &entry.spec {
            PackageSpec::Package(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    let exclude_set = glob_set(&excluded, "%packages exclusion")?;
    let mut groups: Vec<(String, GroupContent, String)> = Vec::new();
    if !options.nocore {
        groups.push((
            "core".to_owned(),
            GroupContent::Default,
            "@core (implied)".to_owned(),
        ));
    }
    for entry in packages.included() {
        let origin = entry.origin.to_string();
        match &entry.spec {
            PackageSpec::Package(name) => install.push(Requested {
                pattern: name.clone(),
                origin,
                ignore_missing: options.ignore_missing,
            }),
            PackageSpec::Group { name, content } => groups.push((name.clone(), *content, origin)),
            PackageSpec::Environment(name) => match comps.environment(name) {
                Some(environment) => {
                    for group in &environment.groups {
                        groups.push((
                            group.clone(),
                            GroupContent::Default,
                            format!("{origin} (@^{})", environment.id),
                        ));
                    }
                }
                None => missing_group(
                    &mut warnings,
                    options.ignore_missing,
                    &origin,
                    &describe(&entry.spec),
                )?,
            },
            other @ PackageSpec::Module { .. } => missing_group(
                &mut warnings,
                options.ignore_missing,
                &origin,
                &format!("{} (modules are not supported)", describe(other)),
            )?,
        }
    }
    let requested_names: BTreeSet<String> = install.iter().map(|r| r.pattern.clone()).collect();
    for (name, content, origin) in groups {
        let Some(group) = comps.group(&name) else {
            if origin == "@core (implied)" {
                // A repository without comps (or without @core) is common for
                // small custom repositories; only an explicit @core must exist.
                continue;
            }
            missing_group(
                &mut warnings,
                options.ignore_missing,
                &origin,
                &format!("group @{name}"),
            )?;
            continue;
        };
        for member in &group.packages {
            let wanted = match &member.kind {
                GroupPackageKind::Mandatory => true,
                GroupPackageKind::Default => content != GroupContent::MandatoryOnly,
                GroupPackageKind::Optional => content == GroupContent::WithOptional,
                GroupPackageKind::Conditional { requires } => requested_names.contains(requires),
            };
            // An exclusion wins over a group's members.
            if wanted && !exclude_set.is_match(&member.name) {
                install.push(Requested {
                    pattern: member.name.clone(),
                    origin: format!("{origin} (@{})", group.id),
                    // dnf skips group members the repositories lack.
                    ignore_missing: true,
                });
            }
        }
    }
    Ok(MappedRequest {
        request: RpmRequest {
            install,
            exclude: excluded,
            weak_deps: !options.exclude_weakdeps,
            arches: arches.to_vec(),
        },
        warnings,
    })
}

/// A group, environment or module the repositories do not define: an error,
/// or with `--ignoremissing` a warning.
fn missing_group(
    warnings: &mut Vec<String>,
    ignore_missing: bool,
    origin: &str,
    what: &str,
) -> anyhow::Result<()> {
    let message = format!("{origin}: {what} is not defined by the repositories' comps data");
    if ignore_missing {
        warnings.push(format!("{message}; skipped (--ignoremissing)"));
        Ok(())
    } else {
        anyhow::bail!(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_mirrors_need_something_to_vouch_for_them() {
        let list =
            "# comment\nhttp://a.example/os/\n\nhttps://b.example/os\nrsync://c.example/os/\n";
        let listed = mirrorlist_urls(list);
        assert_eq!(
            usable_mirrors(&listed, true),
            ["http://a.example/os/", "https://b.example/os/"]
        );
        assert_eq!(usable_mirrors(&listed, false), ["https://b.example/os/"]);
    }

    #[test]
    fn purls_carry_the_epoch_and_the_images_distribution() {
        let primary = r#"<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm"><name>shadow-utils</name><arch>x86_64</arch><version epoch="2" ver="4.15.1" rel="3.fc40"/>
<checksum type="sha256" pkgid="YES">1111111111111111111111111111111111111111111111111111111111111111</checksum>
<size package="1" installed="1" archive="1"/><location href="s.rpm"/></package>
<package type="rpm"><name>c++lib</name><arch>noarch</arch><version epoch="0" ver="1.0" rel="1"/>
<checksum type="sha256" pkgid="YES">2222222222222222222222222222222222222222222222222222222222222222</checksum>
<size package="1" installed="1" archive="1"/><location href="c.rpm"/></package>
</metadata>"#;
        let packages = crate::repo::rpm::primary::parse_primary(primary.as_bytes()).unwrap();
        assert_eq!(
            purl(&packages[0], Some("fedora"), Some("fedora-40")),
            "pkg:rpm/fedora/shadow-utils@4.15.1-3.fc40?arch=x86_64&distro=fedora-40&epoch=2"
        );
        assert_eq!(
            purl(&packages[1], None, None),
            "pkg:rpm/c%2B%2Blib@1.0-1?arch=noarch"
        );
    }
}
