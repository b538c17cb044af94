//! The Debian back end: suites signed with OpenPGP, `Packages` indexes,
//! Debian's relationship semantics, and the image's own dpkg.
//!
//! Kickstart groups have no Debian equivalent, so the two that every
//! kickstart implies are mapped to Debian's priorities (Policy §2.5):
//!
//! | kickstart         | Debian packages installed                        |
//! |-------------------|--------------------------------------------------|
//! | (always)          | `Essential: yes` and `Priority: required`        |
//! | `@core` (implied unless `%packages --nocore`) | `Priority: important` |
//! | `@standard`       | `Priority: important` and `Priority: standard`   |
//!
//! Any other group or environment is an error (or, with `--ignoremissing`,
//! a warning): Debian archives carry no comps data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr as _;

use anyhow::Context as _;
use indicatif::ProgressBar;

use debversion::Version;

use super::{
    AssetFile, AssetLocation, BootAsset, Distro, FetchedPackage, GrubLayout, NameFilter,
    Resolution, ResolvedPackage, dep5, describe, glob_set,
};
use crate::chroot::Chroot;
use crate::configure::{
    CacheFiles, CacheNames, Conventions, KeyboardStyle, LocaleStyle, SshServer,
};
use crate::fetch::Fetcher;
use crate::install::bootstrap::{self, ToInstall};
use crate::install::{DebPackage, InRootPath, RootFs};
use crate::kickstart::sections::{PackageSpec, Packages};
use crate::plan::{BuildPlan, PackageFormat};
use crate::repo::{BinaryPackage, Release, RepoSpec, Repository, SignaturePolicy, load_repository};
use crate::resolve::{self, BaseSet, Candidate, Request, Requested};
use crate::sbom::{Inventory, PackageFacts, SourceRepository, license, purl_encode};
use crate::source_date::SourceDate;

pub struct Debian<'p> {
    plan: &'p BuildPlan,
    arch: &'static str,
    repositories: Vec<LoadedRepository>,
}

struct LoadedRepository {
    repository: Repository,
    name: String,
    cost: i32,
    /// Which package names of this repository may be used at all.
    filter: NameFilter,
}

impl<'p> Debian<'p> {
    pub fn new(plan: &'p BuildPlan) -> anyhow::Result<Self> {
        Ok(Debian {
            plan,
            arch: super::host_architecture(PackageFormat::Deb),
            repositories: Vec::new(),
        })
    }

    /// A live image boots through livecompose's initrd. Debian's kernel
    /// hook (/etc/kernel/postinst.d/initramfs-tools) makes no initramfs
    /// when INITRD=No, which saves a minute of build time and the
    /// initramfs's tens of MB in the image; the initramfs-tools trigger
    /// then finds no initramfs to update.
    fn without_initramfs(&self) -> bool {
        self.plan.output.boots_live()
    }

    fn candidates(&self) -> Vec<Candidate<'_>> {
        self.repositories
            .iter()
            .flat_map(|loaded| {
                loaded
                    .repository
                    .packages
                    .iter()
                    .filter(|package| loaded.filter.allows(&package.name))
                    .map(|package| Candidate {
                        package,
                        repo: &loaded.name,
                        cost: loaded.cost,
                    })
            })
            .collect()
    }

    fn repository(&self, name: &str) -> Option<&Repository> {
        self.repositories
            .iter()
            .find(|loaded| loaded.name == name)
            .map(|loaded| &loaded.repository)
    }

    /// What the pipeline needs to know of a package from `repo`.
    fn resolved(&self, package: &BinaryPackage, repo: &str) -> anyhow::Result<ResolvedPackage> {
        let repository = self
            .repository(repo)
            .with_context(|| format!("the resolver chose unknown repository {repo}"))?;
        Ok(ResolvedPackage {
            name: package.name.clone(),
            version: package.version.clone(),
            architecture: package.architecture.clone(),
            repository: repo.to_owned(),
            url: repository.package_url(package),
            expected: repository.package_expected(package).with_context(|| {
                format!("{}: its index entry has no usable SHA256", package.name)
            })?,
        })
    }

    /// The index entry a resolved package was made from.
    fn index_entry(&self, resolved: &ResolvedPackage) -> anyhow::Result<&BinaryPackage> {
        self.repository(&resolved.repository)
            .and_then(|repository| {
                repository.packages.iter().find(|package| {
                    package.name == resolved.name
                        && package.version == resolved.version
                        && package.architecture == resolved.architecture
                })
            })
            .with_context(|| {
                format!(
                    "{} {} is not in repository {}",
                    resolved.name, resolved.version, resolved.repository
                )
            })
    }

    /// The package a repository would give for `name` alone: the cheapest
    /// repository's newest version for this architecture.
    fn best_candidate(&self, name: &str) -> Option<Candidate<'_>> {
        let version =
            |candidate: &Candidate<'_>| Version::from_str(&candidate.package.version).ok();
        self.candidates()
            .into_iter()
            .filter(|c| c.package.name == name)
            .filter(|c| c.package.architecture == self.arch || c.package.architecture == "all")
            .min_by(|a, b| {
                a.cost
                    .cmp(&b.cost)
                    .then_with(|| version(b).cmp(&version(a)))
            })
    }
}

/// Where Debian keeps locale and keyboard settings, and apt's indexes and
/// downloads (the lock files stay: apt expects them).
pub const CONVENTIONS: Conventions = Conventions {
    locale: LocaleStyle::DebianLocales,
    keyboard: KeyboardStyle::DebianKeyboard,
    caches: &[
        CacheFiles {
            dir: "/var/lib/apt/lists",
            names: CacheNames::AllBut("lock"),
        },
        CacheFiles {
            dir: "/var/lib/apt/lists/partial",
            names: CacheNames::All,
        },
        CacheFiles {
            dir: "/var/cache/apt",
            names: CacheNames::Suffix(".bin"),
        },
        CacheFiles {
            dir: "/var/cache/apt/archives",
            names: CacheNames::Suffix(".deb"),
        },
        CacheFiles {
            dir: "/var/cache/apt/archives/partial",
            names: CacheNames::All,
        },
    ],
    // openssh-server makes host keys only in its maintainer script.
    build_records: &[
        "/var/log/dpkg.log",
        "/var/log/alternatives.log",
        "/var/log/apt/history.log",
        "/var/log/apt/term.log",
        "/var/cache/ldconfig/aux-cache",
    ],
    ssh: SshServer {
        service: "ssh.service",
        keygen_units: &[],
        keygen_package: "openssh-client",
    },
};

/// Where Debian's packages keep `asset`.
pub fn boot_asset(asset: BootAsset) -> AssetLocation {
    match asset {
        BootAsset::Busybox => BUSYBOX,
        BootAsset::Isolinux => ISOLINUX,
        BootAsset::SystemdBootEfi => SYSTEMD_BOOT,
        BootAsset::Pxelinux => PXELINUX,
        BootAsset::IpxeEfi => IPXE_EFI,
    }
}

/// Where Debian's packages keep the boot assets.
const BUSYBOX: AssetLocation = AssetLocation {
    packages: &["busybox-static"],
    files: &[(AssetFile::Busybox, "bin/busybox")],
};
const ISOLINUX: AssetLocation = AssetLocation {
    packages: &["isolinux", "syslinux-common"],
    files: &[
        (AssetFile::IsolinuxBin, "usr/lib/ISOLINUX/isolinux.bin"),
        (AssetFile::IsohdpfxBin, "usr/lib/ISOLINUX/isohdpfx.bin"),
        (
            AssetFile::LdlinuxC32,
            "usr/lib/syslinux/modules/bios/ldlinux.c32",
        ),
        (AssetFile::MenuC32, "usr/lib/syslinux/modules/bios/menu.c32"),
        (
            AssetFile::LibutilC32,
            "usr/lib/syslinux/modules/bios/libutil.c32",
        ),
    ],
};
const PXELINUX: AssetLocation = AssetLocation {
    packages: &["pxelinux", "syslinux-common"],
    files: &[
        (AssetFile::Lpxelinux0, "usr/lib/PXELINUX/lpxelinux.0"),
        (
            AssetFile::LdlinuxC32,
            "usr/lib/syslinux/modules/bios/ldlinux.c32",
        ),
    ],
};
// The package keeps the file in /boot (for its GRUB menu entry) and links
// it from /usr/lib/ipxe.
const IPXE_EFI: AssetLocation = AssetLocation {
    packages: &["ipxe"],
    files: &[(AssetFile::IpxeEfi, "boot/ipxe.efi")],
};
const SYSTEMD_BOOT: AssetLocation = AssetLocation {
    packages: &["systemd-boot-efi"],
    files: &[(
        AssetFile::SystemdBootEfi,
        "usr/lib/systemd/boot/efi/systemd-bootx64.efi",
    )],
};

impl Distro for Debian<'_> {
    fn load_repositories(
        &mut self,
        fetcher: &Fetcher,
        warn: &mut dyn FnMut(String),
    ) -> anyhow::Result<()> {
        let mut requests = Vec::new();
        for spec in &self.plan.repositories {
            let (suite, components) = spec.suite.clone().with_context(|| {
                format!("{}: repository {} has no --suite", spec.origin, spec.name)
            })?;
            let keyrings: Vec<&str> = spec.gpgkey.iter().map(String::as_str).collect();
            let policy = SignaturePolicy::from_options(&keyrings, spec.nogpgcheck)
                .with_context(|| format!("{}: repository {}", spec.origin, spec.name))?;
            if spec.nogpgcheck {
                warn(format!(
                    "{}: WARNING: --nogpgcheck: the signature of repository {} is NOT checked; anyone who can change its files can change this image",
                    spec.origin, spec.name
                ));
            }
            let repo_spec = RepoSpec {
                mirror: spec.location.url().to_owned(),
                suite,
                components,
                architecture: self.arch.to_owned(),
            };
            requests.push((spec, repo_spec, policy, fetcher.through(&spec.transport)));
        }
        // Side by side: each waits mostly on its InRelease's round trip.
        let loaded = std::thread::scope(|scope| {
            let loads: Vec<_> = requests
                .iter()
                .map(|(_, repo_spec, policy, fetcher)| {
                    scope.spawn(move || load_repository(repo_spec, fetcher, policy))
                })
                .collect();
            loads
                .into_iter()
                .map(|load| {
                    load.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect::<Vec<_>>()
        });
        for ((spec, ..), repository) in requests.iter().zip(loaded) {
            let repository = repository.with_context(|| {
                format!(
                    "{}: cannot use repository {} ({})",
                    spec.origin,
                    spec.name,
                    spec.location.url()
                )
            })?;
            self.repositories.push(LoadedRepository {
                repository,
                name: spec.name.clone(),
                cost: i32::try_from(spec.cost).unwrap_or(i32::MAX),
                filter: NameFilter::new(spec)?,
            });
        }
        Ok(())
    }

    fn resolve(&mut self, extra: &[&str], purpose: &str) -> anyhow::Result<Resolution> {
        let candidates = self.candidates();
        let mut mapped = request(&self.plan.kickstart.packages, &candidates, self.arch)?;
        mapped
            .request
            .install
            .extend(super::extra_requests(extra, purpose));
        let mut transaction = resolve::resolve(&candidates, &mapped.request)?;
        transaction.warnings.extend(mapped.warnings);
        let packages = transaction
            .packages
            .iter()
            .map(|chosen| self.resolved(&chosen.package, &chosen.repo))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Resolution {
            packages,
            warnings: transaction.warnings,
        })
    }

    fn prepare_root(&self, root: &RootFs) -> anyhow::Result<()> {
        Ok(bootstrap::prepare_root(root, self.arch)?)
    }

    fn install(
        &self,
        root: &RootFs,
        chroot: &Chroot,
        packages: &[FetchedPackage],
        // dpkg's database records no install time.
        _source_date: &SourceDate,
        bar: &ProgressBar,
    ) -> anyhow::Result<Vec<String>> {
        // The index entries carry the relationships the install order
        // needs: each package's own, from the repository it was chosen in.
        let mut to_install = Vec::with_capacity(packages.len());
        for fetched in packages {
            to_install.push(ToInstall {
                package: self.index_entry(&fetched.package)?,
                deb: &fetched.file,
            });
        }
        let chroot = if self.without_initramfs() {
            chroot.with_env("INITRD", "No")
        } else {
            chroot.clone()
        };
        let policy = super::file_conflicts(&self.plan.kickstart.packages.options);
        Ok(bootstrap::install(root, &chroot, &to_install, policy, bar)?)
    }

    fn install_settings(&self, _packages: &[FetchedPackage]) -> Vec<String> {
        vec![
            format!("deb {}", self.arch),
            format!("INITRD=No {}", self.without_initramfs()),
            format!(
                "file conflicts {:?}",
                super::file_conflicts(&self.plan.kickstart.packages.options)
            ),
        ]
    }

    /// Each `Release` file's `Date:`.
    fn index_dates(&self) -> Vec<i64> {
        self.repositories
            .iter()
            .filter_map(|loaded| loaded.repository.release.date)
            .collect()
    }

    fn finish_root(&self, root: &RootFs) -> anyhow::Result<()> {
        Ok(bootstrap::allow_service_starts(root)?)
    }

    fn conventions(&self) -> Conventions {
        CONVENTIONS
    }

    fn grub(&self) -> GrubLayout {
        GrubLayout {
            packages: &["grub-pc-bin", "grub-efi-amd64-bin"],
            mkimage: "/usr/bin/grub-mkimage",
            pc_modules: "/usr/lib/grub/i386-pc",
            efi_modules: "/usr/lib/grub/x86_64-efi",
            boot_dir: "/boot/grub",
        }
    }

    fn initramfs_name(&self, version: &str) -> String {
        format!("initrd.img-{version}")
    }

    fn initramfs_generators(&self) -> &'static [&'static str] {
        // The alternatives a kernel's `linux-initramfs-tool` dependency
        // names; each runs from the kernel's postinst hook.
        &["initramfs-tools", "dracut", "tiny-initramfs"]
    }

    fn boot_asset(&self, asset: BootAsset) -> AssetLocation {
        boot_asset(asset)
    }

    fn best_package(&self, name: &str, purpose: &str) -> anyhow::Result<ResolvedPackage> {
        let candidate = self.best_candidate(name).with_context(|| {
            format!(
                "the image needs the package {name} (for {purpose}) and none of the kickstart's repositories has it for {}",
                self.arch
            )
        })?;
        self.resolved(candidate.package, candidate.repo)
    }

    fn unpack(&self, packages: &[FetchedPackage], dir: &Path) -> anyhow::Result<()> {
        let tree = RootFs::open(dir)?;
        for fetched in packages {
            DebPackage::open(&fetched.file)
                .and_then(|mut package| package.unpack(&tree))
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
                url: loaded.repository.base_url.clone(),
                index: loaded.repository.release_file,
                index_sha256: loaded.repository.release_sha256.clone(),
                date: loaded.repository.release.date,
            })
            .collect();
        let mut packages = Vec::with_capacity(resolution.packages.len());
        for package in &resolution.packages {
            let release = &self
                .repository(&package.repository)
                .with_context(|| format!("{} comes from no known repository", package.name))?
                .release;
            // Debian declares licenses only in machine-readable copyright
            // files, which dpkg installs under the package's own name.
            let copyright = InRootPath::parse(format!("usr/share/doc/{}/copyright", package.name))?;
            let license = root
                .read(&copyright)
                .ok()
                .flatten()
                .and_then(|bytes| dep5::declared_license(&String::from_utf8_lossy(&bytes)))
                .and_then(|declared| license::to_spdx(&declared, &dep5::spdx_alias));
            packages.push(PackageFacts {
                purl: purl(package, release),
                license,
            });
        }
        Ok(Inventory {
            repositories,
            packages,
        })
    }
}

/// The package URL of a Debian package (purl specification, type `deb`):
/// the vendor is the Release's `Origin`, the `distro` qualifier its major
/// version (`debian-12`), else its codename or suite.
fn purl(package: &ResolvedPackage, release: &Release) -> String {
    let vendor = release
        .origin
        .as_deref()
        .map(str::to_ascii_lowercase)
        .filter(|origin| {
            !origin.is_empty()
                && origin
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        })
        .unwrap_or_else(|| "debian".to_owned());
    let release_name = release
        .version
        .as_deref()
        .and_then(|version| version.split('.').next())
        .filter(|major| !major.is_empty())
        .or(release.codename.as_deref())
        .or(release.suite.as_deref());
    let mut purl = format!(
        "pkg:deb/{vendor}/{}@{}?arch={}",
        purl_encode(&package.name),
        purl_encode(&package.version),
        purl_encode(&package.architecture)
    );
    if let Some(name) = release_name {
        purl.push_str(&format!(
            "&distro={}",
            purl_encode(&format!("{vendor}-{name}"))
        ));
    }
    purl
}

/// The resolver request for a kickstart's `%packages`, and notes about
/// what was skipped.
struct MappedRequest {
    request: Request,
    warnings: Vec<String>,
}

fn request(
    packages: &Packages,
    candidates: &[Candidate<'_>],
    arch: &str,
) -> anyhow::Result<MappedRequest> {
    let options = &packages.options;
    let mut install = Vec::new();
    let mut warnings = Vec::new();
    let mut priorities: BTreeSet<&str> = BTreeSet::new();
    if !options.nocore {
        priorities.insert("important");
    }
    if options.exclude_docs {
        warnings.push(
            "%packages --excludedocs is not applied to Debian images yet: documentation is installed".to_owned(),
        );
    }
    if options.inst_langs.is_some() {
        warnings.push(
            "%packages --inst-langs is not applied to Debian images yet: every translation is installed".to_owned(),
        );
    }
    for entry in packages.included() {
        let origin = entry.origin.to_string();
        match &entry.spec {
            PackageSpec::Package(name) => install.push(Requested {
                pattern: name.clone(),
                origin,
                ignore_missing: options.ignore_missing,
            }),
            PackageSpec::Group { name, .. } if name == "core" => {
                priorities.insert("important");
            }
            PackageSpec::Group { name, .. } if name == "standard" => {
                priorities.extend(["important", "standard"]);
            }
            other => {
                let message = format!(
                    "{origin}: {} has no Debian equivalent: Debian archives have no package groups; livecompose maps only @core and @standard (to Debian priorities)",
                    describe(other)
                );
                if options.ignore_missing {
                    warnings.push(format!("{message}; skipped (--ignoremissing)"));
                } else {
                    anyhow::bail!(message);
                }
            }
        }
    }
    let excluded: Vec<String> = packages
        .excluded()
        .filter_map(|entry| match &entry.spec {
            PackageSpec::Package(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    let by_priority: BTreeMap<&str, &str> = candidates
        .iter()
        .filter(|c| c.package.architecture == arch || c.package.architecture == "all")
        .filter(|c| {
            c.package
                .priority
                .as_deref()
                .is_some_and(|p| priorities.contains(p))
        })
        .filter_map(|c| Some((c.package.name.as_str(), c.package.priority.as_deref()?)))
        .collect();
    let exclude_set = glob_set(&excluded, "%packages exclusion")?;
    for (name, priority) in by_priority {
        // An exclusion wins over a group's default members.
        if !exclude_set.is_match(name) {
            install.push(Requested {
                pattern: name.to_owned(),
                origin: format!("@core/@standard (Priority: {priority})"),
                ignore_missing: true,
            });
        }
    }
    Ok(MappedRequest {
        request: Request {
            install,
            exclude: excluded,
            with_recommends: !options.exclude_weakdeps,
            arch: arch.to_owned(),
            base: BaseSet::Minbase,
        },
        warnings,
    })
}
