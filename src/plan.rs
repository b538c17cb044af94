//! The build plan: the kickstart and the command line, checked against each
//! other and frozen before any work starts.

use std::fmt;
use std::path::PathBuf;

use crate::cli::OutputFormat;
use crate::disk::layout::{FsType, LayoutError, LayoutSpec};
use crate::fetch::{CertificateCheck, Transport, TransportError, check_proxy};
use crate::image::{self, ImageError};
use crate::kickstart::commands::{RepoLocation, SourceOptions};
use crate::kickstart::{Diagnostic, ExpandError, InstallSource, Kickstart, Origin, Substitutions};
use crate::output;
use crate::squashfs::SquashfsOptions;

/// The package format of the image; it picks the distribution back end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageFormat {
    Deb,
    Rpm,
}

impl fmt::Display for PackageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deb => "Debian (.deb)",
            Self::Rpm => "RPM",
        })
    }
}

/// A repository with every variable expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositorySpec {
    pub name: String,
    pub format: PackageFormat,
    pub location: RepoLocation,
    /// Debian suite and components; empty for RPM repositories.
    pub suite: Option<(String, Vec<String>)>,
    pub gpgkey: Option<String>,
    pub nogpgcheck: bool,
    /// `--proxy` and `--noverifyssl`.
    pub transport: Transport,
    pub cost: u32,
    pub includepkgs: Vec<String>,
    pub excludepkgs: Vec<String>,
    pub origin: Origin,
}

/// Everything a build needs to know, checked.
#[derive(Debug)]
pub struct BuildPlan {
    pub label: String,
    /// What the build writes, with the settings only that output uses.
    pub output: OutputSpec,
    pub output_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub package_format: PackageFormat,
    pub repositories: Vec<RepositorySpec>,
    /// Trees copied over the root, in order: the command line's.
    pub overlays: Vec<PathBuf>,
    /// `--ca`: certificate authorities trusted besides the bundled and the
    /// host's.
    pub ca_files: Vec<PathBuf>,
    pub kickstart: Kickstart,
    /// What the plan does differently from what the kickstart says, at the
    /// kickstart's lines.
    pub warnings: Vec<Diagnostic>,
    /// `--sign-key`: signs `SHA256SUMS` when set.
    pub sign_key: Option<crate::sign::SigningKey>,
    /// Reuse a root installed before from the same packages the same way
    /// (the cache's `roots/`); `--no-incremental` installs anew.
    pub incremental: bool,
}

/// The output of a build, chosen by `--format` and checked with the
/// kickstart before any download.
#[derive(Debug, Clone)]
pub enum OutputSpec {
    /// The configured root filesystem as a directory.
    Dir,
    /// A hybrid BIOS/UEFI live ISO.
    LiveIso(LiveSettings),
    /// The live files apart: squashfs, kernel, live initrd, command line.
    LiveFiles(LiveSettings),
    /// The live files as a PXE or HTTP server serves them, with the boot
    /// loaders and their configurations.
    Pxe(PxeSettings),
    /// A disk image that boots with BIOS and UEFI.
    Disk(DiskSettings),
}

/// A disk image: its file format, the kickstart's partitioning, checked,
/// and how it boots.
#[derive(Debug, Clone)]
pub struct DiskSettings {
    pub format: DiskFormat,
    pub layout: LayoutSpec,
    /// `--disk-size` in bytes; without it the disk is as small as its
    /// partitions allow.
    pub size: Option<u64>,
    pub boot: BootSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFormat {
    /// A sparse raw image.
    Raw,
    /// qcow2 version 3, its data clusters deflated when `compress`.
    Qcow2 { compress: bool },
}

impl OutputSpec {
    /// The `--format` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Dir => "dir",
            Self::LiveIso(_) => "iso",
            Self::LiveFiles(_) => "squashfs",
            Self::Pxe(_) => "pxe",
            Self::Disk(disk) => match disk.format {
                DiskFormat::Raw => "raw",
                DiskFormat::Qcow2 { .. } => "qcow2",
            },
        }
    }

    /// The output's name in the output directory.
    fn file_name(&self, label: &str) -> String {
        match self {
            Self::LiveIso(_) => format!("{label}.iso"),
            Self::Disk(_) => format!("{label}.{}", self.name()),
            Self::Dir | Self::LiveFiles(_) | Self::Pxe(_) => label.to_owned(),
        }
    }

    /// Whether the image boots through livecompose's own live initrd; then
    /// the distribution's initramfs would be dead weight in it.
    pub fn boots_live(&self) -> bool {
        match self {
            Self::LiveIso(_) | Self::LiveFiles(_) | Self::Pxe(_) => true,
            Self::Dir | Self::Disk(_) => false,
        }
    }
}

/// The kickstart's `bootloader` line, checked before any work so that a
/// typo fails in a second, not after the install.
#[derive(Debug, Clone)]
pub struct BootSettings {
    /// `bootloader --append`, one argument per word.
    pub kernel_args: Vec<String>,
    pub menu_timeout_secs: u32,
}

impl BootSettings {
    fn new(kickstart: &Kickstart) -> Result<Self, PlanError> {
        let bootloader = kickstart.bootloader.as_ref();
        let kernel_args: Vec<String> = bootloader
            .and_then(|b| b.append.as_deref())
            .map(|append| append.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        // The label argument is checked on its own; this checks the rest.
        image::kernel_cmdline("LABEL", &kernel_args).map_err(PlanError::KernelArgs)?;
        Ok(BootSettings {
            kernel_args,
            menu_timeout_secs: bootloader
                .and_then(|b| b.timeout)
                .unwrap_or(DEFAULT_MENU_TIMEOUT_SECS),
        })
    }
}

/// How a live image boots and is packed.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub boot: BootSettings,
    pub squashfs: SquashfsOptions,
}

/// A live image served over the network.
#[derive(Debug, Clone)]
pub struct PxeSettings {
    pub live: LiveSettings,
    /// Where the output directory will be served (`--pxe-url`), checked,
    /// without a trailing `/`.
    pub url: String,
}

/// Where `--format pxe` expects to be served without `--pxe-url`: the
/// address under which qemu's user-mode network reaches the host, and a
/// web server on its port 8080 serving the output directory (`python3 -m
/// http.server 8080` run there).
pub fn default_pxe_url(label: &str) -> String {
    format!("http://10.0.2.2:8080/{label}")
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Label(ImageError),
    #[error("bootloader --append: {0}")]
    KernelArgs(ImageError),
    #[error("{origin}: {error}")]
    Expand { origin: Origin, error: ExpandError },
    #[error(
        "the kickstart names no repository: add `url --url=...` or `repo --name=... --baseurl=...`"
    )]
    NoRepository,
    #[error(
        "{first_origin}: repository {first} is {first_format} but {second_origin}: repository {second} is {second_format}; one image uses one package format"
    )]
    MixedFormats {
        first: String,
        first_origin: Origin,
        first_format: PackageFormat,
        second: String,
        second_origin: Origin,
        second_format: PackageFormat,
    },
    #[error(
        "{origin}: liveimg installs from an existing image; livecompose builds from packages: use url or repo"
    )]
    LiveImgSource { origin: Origin },
    #[error("--overlay {0}: not a directory")]
    Overlay(PathBuf),
    #[error(transparent)]
    Layout(LayoutError),
    #[error("--compress applies to --format qcow2 only")]
    CompressNeedsQcow2,
    #[error("--disk-size applies to --format raw and qcow2 only")]
    DiskSizeNeedsDisk,
    #[error("--pxe-url applies to --format pxe only")]
    PxeUrlNeedsPxe,
    #[error("--pxe-url {url}: {reason}")]
    PxeUrl { url: String, reason: &'static str },
    #[error("{origin}: {error}")]
    Proxy {
        origin: Origin,
        error: TransportError,
    },
    #[error(
        "{origin}: repository {name} has no --gpgkey, so nothing would vouch for its packages; name the key that signs them (--gpgkey=/path/to/RPM-GPG-KEY or an https:// URL), or add --nogpgcheck to install them unchecked (unsafe)"
    )]
    UnsignedRpmRepository { origin: Origin, name: String },
    #[error(
        "{origin}: --gpgkey={key} would be fetched over plain HTTP, where anyone on the path can replace it; give an https:// URL or a file"
    )]
    KeyOverHttp { origin: Origin, key: String },
    #[error(
        "{origin}: repository {name} has no key (--nogpgcheck), so only the transport could vouch for {url}, and plain HTTP vouches for nothing; give an https:// or file:// URL, or the repository's key"
    )]
    PlainHttpWithoutKey {
        origin: Origin,
        name: String,
        url: String,
    },
}

/// What the plan is made from besides the kickstart.
pub struct PlanInputs {
    pub label: String,
    pub format: OutputFormat,
    pub output_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub overlays: Vec<PathBuf>,
    pub substitutions: Substitutions,
    pub squashfs: SquashfsOptions,
    /// `--disk-size`.
    pub disk_size: Option<u64>,
    /// `--compress` (qcow2).
    pub compress: bool,
    /// `--pxe-url`.
    pub pxe_url: Option<String>,
    /// `--ca`.
    pub ca_files: Vec<PathBuf>,
}

/// The boot menu waits this long when the kickstart has no `bootloader
/// --timeout`: time to pick the `toram` entry, short enough for unattended boots.
pub const DEFAULT_MENU_TIMEOUT_SECS: u32 = 5;

/// Repositories without `--cost` rank as dnf ranks them.
const DEFAULT_COST: u32 = 1000;

impl BuildPlan {
    pub fn new(kickstart: Kickstart, inputs: PlanInputs) -> Result<Self, PlanError> {
        image::validate_label(&inputs.label).map_err(PlanError::Label)?;
        let output = output_spec(&kickstart, &inputs)?;
        let mut warnings = match &output {
            OutputSpec::Disk(disk) => disk.layout.warnings.clone(),
            OutputSpec::Dir
            | OutputSpec::LiveIso(_)
            | OutputSpec::LiveFiles(_)
            | OutputSpec::Pxe(_) => partitioning_unused(&kickstart, output.name()),
        };
        if let Some(missing) = inputs.overlays.iter().find(|dir| !dir.is_dir()) {
            return Err(PlanError::Overlay(missing.clone()));
        }
        let mut repositories = Vec::new();
        if let Some(located) = &kickstart.source {
            match &located.value {
                InstallSource::Url(url) => {
                    repositories.push(repository(
                        "base",
                        &url.0,
                        None,
                        &located.origin,
                        &inputs.substitutions,
                    )?);
                }
                InstallSource::LiveImg(_) => {
                    return Err(PlanError::LiveImgSource {
                        origin: located.origin.clone(),
                    });
                }
            }
        }
        for repo in &kickstart.repos {
            let r = &repo.value;
            let mut spec = repository(
                &r.name,
                &r.source,
                r.cost,
                &repo.origin,
                &inputs.substitutions,
            )?;
            spec.includepkgs.clone_from(&r.includepkgs);
            spec.excludepkgs.clone_from(&r.excludepkgs);
            repositories.push(spec);
        }
        warnings.extend(unverified_tls(&repositories));
        let first = repositories.first().ok_or(PlanError::NoRepository)?;
        if let Some(other) = repositories.iter().find(|r| r.format != first.format) {
            return Err(PlanError::MixedFormats {
                first: first.name.clone(),
                first_origin: first.origin.clone(),
                first_format: first.format,
                second: other.name.clone(),
                second_origin: other.origin.clone(),
                second_format: other.format,
            });
        }
        Ok(Self {
            label: inputs.label,
            output,
            output_dir: inputs.output_dir,
            cache_dir: inputs.cache_dir,
            package_format: first.format,
            repositories,
            overlays: inputs.overlays,
            ca_files: inputs.ca_files,
            kickstart,
            warnings,
            sign_key: None,
            incremental: true,
        })
    }

    /// Where the result goes: named after the label, in the output directory.
    /// How downloads from the repository named `name` go out (the
    /// defaults for a name the plan does not know).
    pub fn transport_of(&self, name: &str) -> Transport {
        self.repositories
            .iter()
            .find(|spec| spec.name == name)
            .map(|spec| spec.transport.clone())
            .unwrap_or_default()
    }

    pub fn output_path(&self) -> PathBuf {
        self.output_dir.join(self.output.file_name(&self.label))
    }

    /// The plan as a person reads it (`--dry-run`).
    pub fn describe(&self) -> String {
        let ks = &self.kickstart;
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!("label:        {}", self.label));
        line(format!(
            "output:       {} ({})",
            self.output_path().display(),
            self.output.name()
        ));
        if let OutputSpec::Pxe(pxe) = &self.output {
            line(format!("served at:    {}", pxe.url));
        }
        if let OutputSpec::Disk(disk) = &self.output {
            let size = disk
                .size
                .map_or("as small as the partitions allow".to_owned(), |bytes| {
                    format!("{} MiB", bytes >> 20)
                });
            line(format!("disk:         {size}"));
            for partition in disk.layout.describe() {
                line(format!("  {partition}"));
            }
        }
        line(format!("packages:     {}", self.package_format));
        line("repositories:".to_owned());
        for repo in &self.repositories {
            let suite = match &repo.suite {
                Some((suite, components)) => format!(" suite {suite} [{}]", components.join(" ")),
                None => String::new(),
            };
            let check = if repo.nogpgcheck {
                " (signatures NOT checked)"
            } else {
                ""
            };
            line(format!(
                "  {:<12} {}{suite} cost {}{check}",
                repo.name,
                repo.location.url(),
                repo.cost
            ));
        }
        let included = ks.packages.included().count();
        let excluded = ks.packages.excluded().count();
        line(format!(
            "%packages:    {included} requested, {excluded} excluded"
        ));
        line(format!("scripts:      {}", ks.scripts.len()));
        for overlay in &self.overlays {
            line(format!("overlay:      {}", overlay.display()));
        }
        if let Some(key) = &self.sign_key {
            line(format!("signed by:    {}", key.fingerprint()));
        }
        line(format!(
            "installed root: {}",
            if self.incremental {
                "reused from the cache when installed before from the same packages"
            } else {
                "installed anew (--no-incremental)"
            }
        ));
        line(format!(
            "users:        {}",
            ks.users
                .iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        out
    }
}

/// A warning at each partitioning line, which only disk formats apply.
fn partitioning_unused(kickstart: &Kickstart, format: &str) -> Vec<Diagnostic> {
    let origins = kickstart
        .partitions
        .iter()
        .map(|part| &part.origin)
        .chain(kickstart.autopart.iter().map(|autopart| &autopart.origin))
        .chain(kickstart.reqpart.iter().map(|reqpart| &reqpart.origin));
    origins
        .map(|origin| {
            Diagnostic::warning(
                origin,
                format!("partitioning applies to --format raw and qcow2; --format {format} has no partitions"),
            )
        })
        .collect()
}

/// The output `--format` asks for, with the kickstart's settings for it.
fn output_spec(kickstart: &Kickstart, inputs: &PlanInputs) -> Result<OutputSpec, PlanError> {
    let live = || -> Result<LiveSettings, PlanError> {
        Ok(LiveSettings {
            boot: BootSettings::new(kickstart)?,
            squashfs: inputs.squashfs.clone(),
        })
    };
    let disk = |format: DiskFormat| -> Result<OutputSpec, PlanError> {
        let layout = LayoutSpec::from_kickstart(kickstart).map_err(PlanError::Layout)?;
        layout.refuse(FsType::Xfs).map_err(PlanError::Layout)?;
        Ok(OutputSpec::Disk(DiskSettings {
            format,
            layout,
            size: inputs.disk_size,
            boot: BootSettings::new(kickstart)?,
        }))
    };
    if inputs.compress && inputs.format != OutputFormat::Qcow2 {
        return Err(PlanError::CompressNeedsQcow2);
    }
    if inputs.disk_size.is_some()
        && !matches!(inputs.format, OutputFormat::Raw | OutputFormat::Qcow2)
    {
        return Err(PlanError::DiskSizeNeedsDisk);
    }
    if inputs.pxe_url.is_some() && inputs.format != OutputFormat::Pxe {
        return Err(PlanError::PxeUrlNeedsPxe);
    }
    let pxe = || -> Result<OutputSpec, PlanError> {
        let url = inputs
            .pxe_url
            .clone()
            .unwrap_or_else(|| default_pxe_url(&inputs.label));
        let url =
            output::check_pxe_url(&url).map_err(|reason| PlanError::PxeUrl { url, reason })?;
        Ok(OutputSpec::Pxe(PxeSettings { live: live()?, url }))
    };
    Ok(match inputs.format {
        OutputFormat::Dir => OutputSpec::Dir,
        OutputFormat::Iso => OutputSpec::LiveIso(live()?),
        OutputFormat::Squashfs => OutputSpec::LiveFiles(live()?),
        OutputFormat::Pxe => pxe()?,
        OutputFormat::Raw => disk(DiskFormat::Raw)?,
        OutputFormat::Qcow2 => disk(DiskFormat::Qcow2 {
            compress: inputs.compress,
        })?,
    })
}

fn repository(
    name: &str,
    source: &SourceOptions,
    cost: Option<u32>,
    origin: &Origin,
    substitutions: &Substitutions,
) -> Result<RepositorySpec, PlanError> {
    let expand = |text: &str| {
        substitutions
            .expand(text)
            .map_err(|error| PlanError::Expand {
                origin: origin.clone(),
                error,
            })
    };
    // The parser guarantees a location; a repository without one cannot reach here.
    let location = match source.location.as_ref() {
        Some(RepoLocation::BaseUrl(url)) => RepoLocation::BaseUrl(expand(url)?),
        Some(RepoLocation::MirrorList(url)) => RepoLocation::MirrorList(expand(url)?),
        Some(RepoLocation::Metalink(url)) => RepoLocation::Metalink(expand(url)?),
        None => return Err(PlanError::NoRepository),
    };
    let (format, suite) = match &source.debian {
        Some(debian) => (
            PackageFormat::Deb,
            Some((expand(&debian.suite)?, debian.components.clone())),
        ),
        None => (PackageFormat::Rpm, None),
    };
    let gpgkey = source
        .gpgkey
        .as_deref()
        .map(expand)
        .transpose()?
        .map(|key| beside_kickstart(origin, key));
    trust(
        name,
        format,
        &location,
        gpgkey.as_deref(),
        source.nogpgcheck,
        origin,
    )?;
    let proxy = source.proxy.as_deref().map(expand).transpose()?;
    if let Some(proxy) = &proxy {
        check_proxy(proxy).map_err(|error| PlanError::Proxy {
            origin: origin.clone(),
            error,
        })?;
    }
    let certificates = if source.noverifyssl {
        CertificateCheck::Skip
    } else {
        CertificateCheck::Verify
    };
    Ok(RepositorySpec {
        name: name.to_owned(),
        format,
        location,
        suite,
        gpgkey,
        nogpgcheck: source.nogpgcheck,
        transport: Transport {
            proxy,
            certificates,
        },
        cost: cost.unwrap_or(DEFAULT_COST),
        includepkgs: vec![],
        excludepkgs: vec![],
        origin: origin.clone(),
    })
}

/// A key given as a relative path is read beside the kickstart that names
/// it (as overlays are), so a kickstart can ship with its keys.
fn beside_kickstart(origin: &Origin, key: String) -> String {
    if key.contains("://") || key.starts_with('/') {
        return key;
    }
    let dir = origin.file.parent().unwrap_or(std::path::Path::new(""));
    dir.join(key).display().to_string()
}

/// What may vouch for a repository's content, checked before any download.
/// Debian repositories without `--gpgkey` are checked against the Debian
/// archive keyring; RPM has no such default, so an RPM repository needs a
/// key or an explicit `--nogpgcheck`; and without a key only the transport
/// can vouch for what the repository serves, so it must not be plain HTTP.
fn trust(
    name: &str,
    format: PackageFormat,
    location: &RepoLocation,
    gpgkey: Option<&str>,
    nogpgcheck: bool,
    origin: &Origin,
) -> Result<(), PlanError> {
    if let Some(key) = gpgkey.filter(|key| key.starts_with("http://")) {
        return Err(PlanError::KeyOverHttp {
            origin: origin.clone(),
            key: key.to_owned(),
        });
    }
    if format != PackageFormat::Rpm {
        return Ok(());
    }
    if gpgkey.is_none() && !nogpgcheck {
        return Err(PlanError::UnsignedRpmRepository {
            origin: origin.clone(),
            name: name.to_owned(),
        });
    }
    // Only --nogpgcheck reaches here without a key.
    let url = location.url();
    if gpgkey.is_none() && url.starts_with("http://") {
        return Err(PlanError::PlainHttpWithoutKey {
            origin: origin.clone(),
            name: name.to_owned(),
            url: url.to_owned(),
        });
    }
    Ok(())
}

/// A loud line at each repository whose certificates go unchecked.
fn unverified_tls(repositories: &[RepositorySpec]) -> impl Iterator<Item = Diagnostic> + '_ {
    repositories
        .iter()
        .filter(|spec| spec.transport.certificates == CertificateCheck::Skip)
        .map(|spec| {
            // `trust` let no repository through without a key unless it says
            // --nogpgcheck (Debian's default keyring is a key).
            let vouched = if spec.nogpgcheck {
                "and it has no key either: anyone on the network path can change this image"
            } else {
                "its signatures still vouch for what it serves"
            };
            Diagnostic::warning(
                &spec.origin,
                format!(
                    "--noverifyssl: the TLS certificates of repository {} are NOT checked; {vouched}",
                    spec.name
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kickstart::parse_text;
    use std::path::Path;

    fn inputs(label: &str) -> PlanInputs {
        PlanInputs {
            label: label.to_owned(),
            format: OutputFormat::Iso,
            output_dir: PathBuf::from("."),
            cache_dir: PathBuf::from("/tmp/c"),
            overlays: Vec::new(),
            substitutions: Substitutions {
                mirror: Some("http://m.example/debian".into()),
                releasever: None,
                basearch: "x86_64".into(),
            },
            squashfs: SquashfsOptions::default(),
            disk_size: None,
            compress: false,
            pxe_url: None,
            ca_files: Vec::new(),
        }
    }

    const KS: &str = "url --url=$mirror --suite=bookworm\n";

    fn plan(text: &str, label: &str) -> Result<BuildPlan, PlanError> {
        let parsed = parse_text(Path::new("p.ks"), text).expect("test kickstart parses");
        BuildPlan::new(parsed.kickstart, inputs(label))
    }

    #[test]
    fn debian_repositories_expand_the_mirror() {
        let plan = plan("url --url=$mirror --suite=bookworm\nrepo --name=sec --baseurl=$mirror --suite=bookworm-updates --cost=5\n", "Deb-1")
            .unwrap();
        assert_eq!(plan.package_format, PackageFormat::Deb);
        assert_eq!(
            plan.repositories[0].location,
            RepoLocation::BaseUrl("http://m.example/debian".into())
        );
        assert_eq!(
            plan.repositories[0].suite,
            Some(("bookworm".into(), vec!["main".into()]))
        );
        assert_eq!(plan.repositories[1].cost, 5);
    }

    #[test]
    fn proxies_are_checked_and_unchecked_certificates_are_warned_at_their_line() {
        let err = plan(
            "url --url=$mirror --suite=bookworm --proxy=ftp://p.example\n",
            "L",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("p.ks:1: --proxy \"ftp://p.example\""),
            "{err}"
        );
        let plan = plan(
            "url --url=$mirror --suite=bookworm --proxy=p.example:3128 --noverifyssl\n",
            "L",
        )
        .unwrap();
        let transport = &plan.repositories[0].transport;
        assert_eq!(transport.proxy.as_deref(), Some("p.example:3128"));
        assert_eq!(transport.certificates, CertificateCheck::Skip);
        let warnings: Vec<String> = plan.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "p.ks:1: warning: --noverifyssl: the TLS certificates of repository base are NOT checked; its signatures still vouch for what it serves"
            ]
        );
    }

    #[test]
    fn mixed_formats_name_both_lines() {
        let err = plan(
            "url --url=$mirror --suite=bookworm\nrepo --name=f --baseurl=http://x.example/f --gpgkey=/k\n",
            "L",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("p.ks:1: repository base is Debian"),
            "{text}"
        );
        assert!(text.contains("p.ks:2: repository f is RPM"), "{text}");
    }

    #[test]
    fn releasever_is_required_when_used() {
        let err = plan(
            "repo --name=f --baseurl=http://x.example/$releasever/\n",
            "L",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("p.ks:1: "), "{err}");
        assert!(err.to_string().contains("--releasever"), "{err}");
    }

    #[test]
    fn labels() {
        for good in ["Fedora18-mini", "Debian_12", "A"] {
            assert!(plan(KS, good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "has space",
            "-x",
            "ÄÖ",
            "x".repeat(33).as_str(),
            "a/b",
            "a.b",
        ] {
            assert!(matches!(plan(KS, bad), Err(PlanError::Label(_))), "{bad:?}");
        }
    }

    #[test]
    fn bootloader_line_gives_the_live_settings() {
        let with = format!("{KS}bootloader --timeout=2 --append=\"console=ttyS0 quiet\"\n");
        let live = |text: &str| match plan(text, "L").unwrap().output {
            OutputSpec::LiveIso(live) => live.boot,
            other => panic!("{other:?}"),
        };
        let boot = live(&with);
        assert_eq!(boot.kernel_args, ["console=ttyS0", "quiet"]);
        assert_eq!(boot.menu_timeout_secs, 2);
        let boot = live(KS);
        assert!(boot.kernel_args.is_empty());
        assert_eq!(boot.menu_timeout_secs, DEFAULT_MENU_TIMEOUT_SECS);
    }

    #[test]
    fn pxe_url_is_checked_defaulted_and_only_for_pxe() {
        let build = |format: OutputFormat, url: Option<&str>| {
            let parsed = parse_text(Path::new("p.ks"), KS).expect("test kickstart parses");
            let mut inputs = inputs("Net-1");
            inputs.format = format;
            inputs.pxe_url = url.map(str::to_owned);
            BuildPlan::new(parsed.kickstart, inputs)
        };
        let url = |plan: BuildPlan| match plan.output {
            OutputSpec::Pxe(pxe) => pxe.url,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            url(build(OutputFormat::Pxe, None).unwrap()),
            "http://10.0.2.2:8080/Net-1"
        );
        assert_eq!(
            url(build(OutputFormat::Pxe, Some("http://192.168.1.5/live/")).unwrap()),
            "http://192.168.1.5/live"
        );
        let plan = build(OutputFormat::Pxe, None).unwrap();
        assert_eq!(plan.output.name(), "pxe");
        assert!(plan.output.boots_live());
        assert_eq!(plan.output_path(), Path::new("./Net-1"));
        assert!(matches!(
            build(OutputFormat::Squashfs, Some("http://10.0.0.1/")),
            Err(PlanError::PxeUrlNeedsPxe)
        ));
        let err = build(OutputFormat::Pxe, Some("http://boot.example/x")).unwrap_err();
        assert!(matches!(err, PlanError::PxeUrl { .. }), "{err}");
        assert!(err.to_string().contains("IPv4 address"), "{err}");
    }

    #[test]
    fn no_repository_is_an_error() {
        assert!(matches!(
            plan("lang en_US.UTF-8\n", "L"),
            Err(PlanError::NoRepository)
        ));
    }
}
