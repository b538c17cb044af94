//! What differs between distributions, behind one interface.
//!
//! The pipeline only knows this trait and the artifacts it passes along: a
//! [`Resolution`] (what to download), the downloaded files, and a root that
//! the distribution's own tools have configured. Which implementation runs
//! is decided once, from the package format of the plan's repositories.

pub mod debian;
pub mod dep5;
pub mod rpm;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use globset::{Glob, GlobSet, GlobSetBuilder};
use indicatif::ProgressBar;

use crate::chroot::Chroot;
use crate::configure::Conventions;
use crate::fetch::{Expected, Fetcher};
use crate::install::{FileConflicts, InRootPath, RootFs};
use crate::kickstart::sections::{PackageSpec, PackagesOptions};
use crate::plan::{BuildPlan, PackageFormat, RepositorySpec};
use crate::resolve::Requested;
use crate::sbom::Inventory;
use crate::source_date::SourceDate;

/// One package the build will install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The kickstart name of the repository it comes from.
    pub repository: String,
    pub url: String,
    pub expected: Expected,
}

/// The output of dependency resolution, the same for every distribution.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolution {
    /// Sorted by name, then architecture.
    pub packages: Vec<ResolvedPackage>,
    /// Notes for the user that did not stop resolution.
    pub warnings: Vec<String>,
}

impl Resolution {
    pub fn download_size(&self) -> u64 {
        self.packages.iter().map(|p| p.expected.size).sum()
    }
}

/// A set of files an output needs from the distribution's packages. The
/// writers ask for these; only the distribution knows which packages hold
/// them and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BootAsset {
    /// A statically linked busybox: the whole userspace of livecompose's
    /// own initrd (live images, and disk images without a generator).
    Busybox,
    /// ISOLINUX and its menu modules: the live ISO's BIOS boot.
    Isolinux,
    /// systemd-boot: the live ISO's UEFI boot.
    SystemdBootEfi,
    /// PXELINUX with its HTTP stack and its core module: network boot of
    /// BIOS clients that get no iPXE from their card.
    Pxelinux,
    /// iPXE as a UEFI program: network boot of UEFI clients, which then
    /// fetch the kernel and initrd over HTTP.
    IpxeEfi,
}

impl BootAsset {
    /// What the asset is for, in an error message.
    fn purpose(self) -> &'static str {
        match self {
            Self::Busybox => "livecompose's initrd",
            Self::Isolinux => "BIOS boot",
            Self::SystemdBootEfi => "UEFI boot",
            Self::Pxelinux => "BIOS network boot",
            Self::IpxeEfi => "UEFI network boot",
        }
    }
}

/// One file of a [`BootAsset`], as the writers name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AssetFile {
    Busybox,
    /// `isolinux.bin`.
    IsolinuxBin,
    /// `isohdpfx.bin`, the MBR code that boots ISOLINUX from a disk.
    IsohdpfxBin,
    LdlinuxC32,
    MenuC32,
    LibutilC32,
    /// `systemd-bootx64.efi`.
    SystemdBootEfi,
    /// `lpxelinux.0`, the PXELINUX that also loads `http://` paths.
    Lpxelinux0,
    /// iPXE's x86-64 UEFI program.
    IpxeEfi,
}

/// Where a distribution keeps a [`BootAsset`]: the packages that hold it
/// and each file's path inside them.
#[derive(Clone, Copy, Debug)]
pub struct AssetLocation {
    pub packages: &'static [&'static str],
    pub files: &'static [(AssetFile, &'static str)],
}

/// Boot assets whose packages were unpacked into one directory, every file
/// checked to be there.
#[derive(Debug, Clone)]
pub struct UnpackedAssets {
    files: BTreeMap<AssetFile, PathBuf>,
}

impl UnpackedAssets {
    /// The assets `locations` describe, found under `dir` (resolved inside
    /// it: a symlink in a package cannot make a host file a boot asset).
    pub fn find(dir: &Path, locations: &[AssetLocation]) -> anyhow::Result<Self> {
        let unpacked = RootFs::open(dir)?;
        let mut files = BTreeMap::new();
        for location in locations {
            for (file, relative) in location.files {
                match unpacked.real_path(&InRootPath::parse(relative)?)? {
                    Some(real) if real.is_file => {
                        files.insert(*file, real.host);
                    }
                    _ => anyhow::bail!(
                        "the packages {} do not hold {relative} where the distribution keeps it",
                        location.packages.join(", ")
                    ),
                }
            }
        }
        Ok(Self { files })
    }

    /// The path of `file`; asking for an asset that was not unpacked is a
    /// bug of the caller, reported as an error rather than a crash.
    pub fn path(&self, file: AssetFile) -> anyhow::Result<&Path> {
        self.files
            .get(&file)
            .map(PathBuf::as_path)
            .with_context(|| format!("{file:?} was not among the unpacked boot assets"))
    }
}

/// Where a distribution keeps GRUB, as paths inside the image's root.
#[derive(Clone, Copy, Debug)]
pub struct GrubLayout {
    /// The packages that put GRUB's BIOS and UEFI modules and its
    /// `grub-mkimage` in the image.
    pub packages: &'static [&'static str],
    pub mkimage: &'static str,
    /// The i386-pc modules, `boot.img` among them.
    pub pc_modules: &'static str,
    /// The x86_64-efi modules.
    pub efi_modules: &'static str,
    /// Where GRUB reads its configuration and modules at boot.
    pub boot_dir: &'static str,
}

/// A package of the resolution and the cached file that holds it.
#[derive(Debug, Clone)]
pub struct FetchedPackage {
    pub package: ResolvedPackage,
    pub file: PathBuf,
}

/// A distribution back end.
pub trait Distro {
    /// Reads and verifies every repository of the plan; `warn` receives the
    /// notes the user must see (an unsigned repository, say).
    fn load_repositories(
        &mut self,
        fetcher: &Fetcher,
        warn: &mut dyn FnMut(String),
    ) -> Result<(), anyhow::Error>;

    /// The dates the repositories' verified indexes carry, in seconds since
    /// 1970 (read by [`Distro::load_repositories`]): the newest is the
    /// build's time when `SOURCE_DATE_EPOCH` is not set.
    fn index_dates(&self) -> Vec<i64>;

    /// Chooses the packages for the kickstart's `%packages`, and `extra`
    /// (packages the output needs in the image, named as the distribution
    /// names them, with `purpose` saying why).
    fn resolve(&mut self, extra: &[&str], purpose: &str) -> Result<Resolution, anyhow::Error>;

    /// Lays out an empty root for the package manager.
    fn prepare_root(&self, root: &RootFs) -> Result<(), anyhow::Error>;

    /// Installs the fetched packages of the resolution, with their scripts
    /// run through `chroot`; returns what the user should hear that did not
    /// stop the install. Where the package database records install
    /// times, it records `source_date`.
    fn install(
        &self,
        root: &RootFs,
        chroot: &Chroot,
        packages: &[FetchedPackage],
        source_date: &SourceDate,
        bar: &ProgressBar,
    ) -> Result<Vec<String>, anyhow::Error>;

    /// What besides the files of `packages`, their order and the build's
    /// time decides what [`Distro::install`] writes for them: its settings
    /// from the plan, one fact a line. The cache of installed roots keys on
    /// them, so a setting left out here would let a rebuild reuse a root
    /// installed otherwise.
    fn install_settings(&self, packages: &[FetchedPackage]) -> Vec<String>;

    /// Undoes what only the build needed (service start blockers).
    fn finish_root(&self, root: &RootFs) -> Result<(), anyhow::Error>;

    /// How this distribution keeps locale, keyboard and package caches.
    fn conventions(&self) -> Conventions;

    /// How this distribution's GRUB sits in an image that carries it (disk
    /// images boot through the image's own GRUB and initramfs).
    fn grub(&self) -> GrubLayout;

    /// The file under `/boot` holding the initramfs the image's own
    /// generator made for kernel `version`.
    fn initramfs_name(&self, version: &str) -> String;

    /// The packages whose scripts make that initramfs when a kernel is
    /// installed; an image with none of them boots from a disk through
    /// livecompose's own initrd instead.
    fn initramfs_generators(&self) -> &'static [&'static str];

    /// Where this distribution keeps `asset`.
    fn boot_asset(&self, asset: BootAsset) -> AssetLocation;

    /// The newest package called `name` in the cheapest repository that has
    /// one, without its dependencies; `purpose` says why it is needed.
    fn best_package(&self, name: &str, purpose: &str) -> Result<ResolvedPackage, anyhow::Error>;

    /// Unpacks fetched packages into `dir` (checked as installed ones are),
    /// without running anything: boot assets for the build, not the image.
    fn unpack(&self, packages: &[FetchedPackage], dir: &Path) -> Result<(), anyhow::Error>;

    /// What the SBOM says of the repositories as they were read, and of
    /// each package of `resolution` (its purl and the license it declares,
    /// read from the installed `root` where the distribution keeps it
    /// there).
    fn inventory(&self, resolution: &Resolution, root: &RootFs)
    -> Result<Inventory, anyhow::Error>;
}

/// `KEY` of the image's `os-release` (`/etc/os-release`, else
/// `/usr/lib/os-release`), unquoted; `None` when the image has none.
pub(crate) fn os_release(root: &RootFs, key: &str) -> Option<String> {
    let text = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|path| root.read(&InRootPath::parse(path).ok()?).ok().flatten())?;
    let text = String::from_utf8(text).ok()?;
    text.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix('=')?.trim();
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// The resolver's requests for `extra` packages an output needs in the
/// image; `purpose` says why, in a failure.
pub(crate) fn extra_requests<'a>(
    extra: &'a [&str],
    purpose: &'a str,
) -> impl Iterator<Item = Requested> + 'a {
    extra.iter().map(move |name| Requested {
        pattern: (*name).to_owned(),
        origin: purpose.to_owned(),
        ignore_missing: false,
    })
}

/// What a file conflict between two packages does to the build: an error
/// unless `%packages --allow-file-conflicts`.
pub(crate) fn file_conflicts(options: &PackagesOptions) -> FileConflicts {
    if options.allow_file_conflicts {
        FileConflicts::Allow
    } else {
        FileConflicts::Refuse
    }
}

/// The packages that hold `assets`, each once.
pub fn boot_asset_packages(
    distro: &dyn Distro,
    assets: &[BootAsset],
) -> anyhow::Result<Vec<ResolvedPackage>> {
    let mut packages: Vec<ResolvedPackage> = Vec::new();
    for asset in assets {
        for name in distro.boot_asset(*asset).packages {
            if packages.iter().all(|p| p.name != *name) {
                packages.push(distro.best_package(name, asset.purpose())?);
            }
        }
    }
    Ok(packages)
}

/// The back end for the plan's package format.
pub fn for_plan(plan: &BuildPlan) -> Result<Box<dyn Distro + '_>, anyhow::Error> {
    match plan.package_format {
        PackageFormat::Deb => Ok(Box::new(debian::Debian::new(plan)?)),
        PackageFormat::Rpm => Ok(Box::new(rpm::Rpm::new(plan))),
    }
}

/// The architecture name the package format uses for the build host.
pub fn host_architecture(format: PackageFormat) -> &'static str {
    let arch = std::env::consts::ARCH;
    match format {
        PackageFormat::Rpm => arch,
        PackageFormat::Deb => match arch {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "i386",
            "powerpc64" => "ppc64el",
            other => other,
        },
    }
}

/// `repo --includepkgs/--excludepkgs`: globs over package names.
pub(crate) struct NameFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl NameFilter {
    pub(crate) fn new(spec: &RepositorySpec) -> anyhow::Result<Self> {
        let set = |patterns: &[String]| glob_set(patterns, &spec.origin.to_string());
        Ok(NameFilter {
            include: (!spec.includepkgs.is_empty())
                .then(|| set(&spec.includepkgs))
                .transpose()?,
            exclude: set(&spec.excludepkgs)?,
        })
    }

    pub(crate) fn allows(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(name)) && !self.exclude.is_match(name)
    }
}

/// One matcher for package-name globs; `origin` says where they were
/// written, for the error.
pub(crate) fn glob_set(patterns: &[String], origin: &str) -> anyhow::Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(
            Glob::new(pattern)
                .with_context(|| format!("{origin}: invalid package pattern {pattern:?}"))?,
        );
    }
    Ok(builder.build()?)
}

pub(crate) fn describe(spec: &PackageSpec) -> String {
    match spec {
        PackageSpec::Package(name) => name.clone(),
        PackageSpec::Group { name, .. } => format!("group @{name}"),
        PackageSpec::Environment(name) => format!("environment @^{name}"),
        PackageSpec::Module { name, stream, .. } => format!("module @{name}:{stream}"),
    }
}
