//! The command line, as typed by the user (validated later, in the plan).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use regex::Regex;

use crate::boottest::{self, AccelChoice, BootOptions, Firmware, Media};

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
livecompose flatten --config ks.cfg > flat.ks\n  \
livecompose test Debian-mini.iso --firmware uefi --media usb",
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
    /// Boot an image in qemu and wait until its serial console shows a login prompt.
    ///
    /// The image's serial port (ttyS0 / COM1) is captured: the kernel and
    /// getty must use it (console=ttyS0). Prints the time to the expected
    /// line and keeps the console log; on timeout, exits 1 showing the last
    /// console lines. KVM is used only when a probe boot shows that it works,
    /// else software emulation (TCG). Needs the Debian packages
    /// qemu-system-x86 and, for UEFI, ovmf.
    #[command(after_help = "Examples:\n  \
livecompose test Debian-mini.iso\n  \
livecompose test Debian-mini.iso --firmware uefi --media usb --timeout 600\n  \
livecompose test disk.raw --media disk --expect 'Reached target .*Multi-User'")]
    Test(TestArgs),
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
pub struct TestArgs {
    /// The image to boot (ISO, raw or qcow2 disk image); it is never modified.
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,

    /// Firmware to boot with.
    #[arg(long, value_enum, default_value_t = Firmware::Bios)]
    pub firmware: Firmware,

    /// How the image is attached.
    #[arg(long, value_enum, default_value_t = Media::Cdrom)]
    pub media: Media,

    /// Regular expression that one console line must match (escape
    /// sequences removed; a line still being written counts).
    #[arg(long, value_name = "REGEX", default_value = boottest::DEFAULT_EXPECT, value_parser = Regex::new)]
    pub expect: Regex,

    /// Seconds to wait for the expected line.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,

    /// Guest memory in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub memory: u32,

    /// Accelerator: auto probes KVM and falls back to TCG.
    #[arg(long, value_enum, default_value_t = AccelChoice::Auto)]
    pub accel: AccelChoice,

    /// Where to write the console output [default: IMAGE.console.log].
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Directory holding OVMF_CODE_4M.fd and OVMF_VARS_4M.fd (or the 2 MiB pair).
    #[arg(long, value_name = "DIR", default_value = boottest::DEFAULT_OVMF_DIR)]
    pub ovmf_dir: PathBuf,
}

impl TestArgs {
    pub fn options(&self) -> BootOptions {
        BootOptions {
            firmware: self.firmware,
            media: self.media,
            expect: self.expect.clone(),
            timeout: Duration::from_secs(self.timeout),
            memory_mib: self.memory,
            accel: self.accel,
            log: self.log.clone(),
            ovmf_dir: self.ovmf_dir.clone(),
            progress: true,
            ..BootOptions::default()
        }
    }
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
