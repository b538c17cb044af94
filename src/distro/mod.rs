//! What differs between distributions, behind one interface.
//!
//! The pipeline only knows this trait and the artifacts it passes along: a
//! [`Resolution`] (what to download), the downloaded files, and a root that
//! the distribution's own tools have configured. Which implementation runs
//! is decided once, from the package format of the plan's repositories.

pub mod debian;
pub mod rpm;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use globset::{Glob, GlobSet, GlobSetBuilder};
use indicatif::ProgressBar;

use crate::chroot::Chroot;
use crate::fetch::{Expected, Fetcher};
use crate::image::BootloaderFiles;
use crate::install::RootFs;
use crate::kickstart::sections::PackageSpec;
use crate::plan::{BuildPlan, PackageFormat, RepositorySpec};

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

/// What the live image writers take from the repositories, so the build
/// host needs none of it installed.
#[derive(Debug, Clone)]
pub struct LiveTools {
    /// A statically linked busybox: the live initrd's whole userspace.
    pub busybox: PathBuf,
    pub bootloaders: BootloaderFiles,
}

impl LiveTools {
    /// `self`, once every file is known to be where the distribution keeps
    /// it under `dir`, where `packages` were unpacked.
    pub(crate) fn checked(self, dir: &Path, packages: &[&str]) -> anyhow::Result<LiveTools> {
        let boot = &self.bootloaders;
        for path in [
            &self.busybox,
            &boot.isolinux_bin,
            &boot.isohdpfx_bin,
            &boot.ldlinux_c32,
            &boot.menu_c32,
            &boot.libutil_c32,
            &boot.systemd_boot_efi,
        ] {
            if !path.is_file() {
                anyhow::bail!(
                    "the packages {} do not hold {} where the distribution keeps it",
                    packages.join(", "),
                    path.strip_prefix(dir).unwrap_or(path).display()
                );
            }
        }
        Ok(self)
    }
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

    /// Chooses the packages for the kickstart's `%packages`.
    fn resolve(&mut self) -> Result<Resolution, anyhow::Error>;

    /// Lays out an empty root for the package manager.
    fn prepare_root(&self, root: &RootFs) -> Result<(), anyhow::Error>;

    /// Installs the resolved packages, `files[i]` holding
    /// `resolution.packages[i]`, with their scripts run through `chroot`;
    /// returns what the user should hear that did not stop the install.
    fn install(
        &self,
        root: &RootFs,
        chroot: &Chroot,
        resolution: &Resolution,
        files: &[PathBuf],
        bar: &ProgressBar,
    ) -> Result<Vec<String>, anyhow::Error>;

    /// Undoes what only the build needed (service start blockers).
    fn finish_root(&self, root: &RootFs) -> Result<(), anyhow::Error>;

    /// The packages that hold the [`LiveTools`], chosen from the loaded
    /// repositories without their dependencies: they are unpacked for the
    /// build, never installed in the image.
    fn live_tool_packages(&self) -> Result<Vec<ResolvedPackage>, anyhow::Error>;

    /// Unpacks the live tool packages (`files[i]` holding the `i`th of
    /// [`Distro::live_tool_packages`]) into `dir` and finds the tools there.
    fn unpack_live_tools(&self, files: &[PathBuf], dir: &Path) -> Result<LiveTools, anyhow::Error>;
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
