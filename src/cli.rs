//! The command line, as typed by the user (validated later, in the plan).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "livecompose",
    version,
    about = "Build bootable system images (live ISO, cloud disk, PXE) from a kickstart file",
    long_about = "Build bootable system images from a kickstart file.\n\n\
livecompose reads a kickstart (commands, %packages, %post, %include), resolves the \
packages from the repositories it names (Debian archives with `--suite`, or RPM \
repositories), installs and configures a root filesystem, and writes an image.",
    after_help = "Examples:\n  \
livecompose --config kickstarts/debian-minimal.ks --label Debian-mini\n  \
livecompose --config kickstarts/debian-minimal.ks --label Debian-root --format dir --output /srv/roots\n  \
livecompose --config ks.cfg --label Fedora18-mini --dry-run\n  \
livecompose resolve --config ks.cfg\n  \
livecompose validate --config ks.cfg\n  \
livecompose flatten --config ks.cfg > flat.ks",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub build: BuildArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a kickstart and everything it includes; exit 0 when it is usable.
    ///
    /// Like pykickstart's ksvalidator: every error is printed as FILE:LINE: message,
    /// warnings as FILE:LINE: warning: message.
    Validate(ConfigArg),
    /// Print the kickstart as one self-contained file, every %include resolved.
    ///
    /// Like ksflatten. The output validates again and means the same thing.
    Flatten {
        #[command(flatten)]
        config: ConfigArg,
        /// Write to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Read the repositories and print the packages a build would install.
    ///
    /// One `name version architecture repository` line per package, sorted,
    /// then the total download size. Nothing is installed; indexes are cached.
    Resolve {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        repositories: RepositoryArgs,
    },
}

/// Where packages come from and where they are kept.
#[derive(Args, Debug)]
pub struct RepositoryArgs {
    /// Debian mirror that `$mirror` stands for in kickstart URLs
    /// [default: $LIVECOMPOSE_MIRROR, else the first Debian URI of the host's apt sources].
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,

    /// Release that `$releasever` stands for in RPM repository URLs.
    #[arg(long, value_name = "VERSION")]
    pub releasever: Option<String>,

    /// Where downloaded indexes and packages are kept between builds; a
    /// second build downloads nothing it already has.
    #[arg(
        long = "cache",
        visible_alias = "cache-dir",
        value_name = "DIR",
        default_value = "/var/cache/livecompose"
    )]
    pub cache_dir: PathBuf,

    /// Print only warnings and errors (no progress bars or stage lines).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct ConfigArg {
    /// The kickstart file to read.
    #[arg(short = 'c', long = "config", value_name = "KICKSTART")]
    pub config: PathBuf,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The kickstart file to build from.
    #[arg(
        short = 'c',
        long = "config",
        value_name = "KICKSTART",
        required = true
    )]
    pub config: Option<PathBuf>,

    /// Name of the image: the ISO volume id, the boot label, and the output file name.
    #[arg(short = 'l', long, value_name = "LABEL", required = true)]
    pub label: Option<String>,

    /// What to write.
    #[arg(short = 'f', long, value_enum, default_value_t = OutputFormat::Iso)]
    pub format: OutputFormat,

    /// Directory that receives the output, named after the label.
    #[arg(short = 'o', long, value_name = "DIR", default_value = ".")]
    pub output: PathBuf,

    /// A directory tree copied over the root after the kickstart's settings
    /// and before %post (repeatable; owned by root in the image).
    #[arg(long, value_name = "DIR")]
    pub overlay: Vec<PathBuf>,

    #[command(flatten)]
    pub repositories: RepositoryArgs,

    /// Read the kickstart and print the build plan, then stop without writing anything.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Hybrid BIOS/UEFI live ISO, bootable from CD and USB.
    Iso,
    /// The configured root filesystem as a directory.
    Dir,
    /// The squashfs root with its kernel and live initrd, for PXE.
    Squashfs,
    /// A raw disk image.
    Raw,
    /// A qcow2 disk image.
    Qcow2,
}

impl OutputFormat {
    /// The file extension of a single-file output; directories have none.
    pub fn extension(self) -> Option<&'static str> {
        match self {
            Self::Iso => Some("iso"),
            Self::Raw => Some("raw"),
            Self::Qcow2 => Some("qcow2"),
            Self::Dir | Self::Squashfs => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Iso => "iso",
            Self::Dir => "dir",
            Self::Squashfs => "squashfs",
            Self::Raw => "raw",
            Self::Qcow2 => "qcow2",
        }
    }
}
