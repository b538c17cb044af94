//! The command line, as typed by the user (validated later, in the plan).

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use regex::Regex;

use crate::boottest::{self, AccelChoice, BootOptions, Firmware, Media, SshLogin};
use crate::image::VolumeFs;
use crate::seed::SeedSpec;
use crate::squashfs::{self, Compression, SquashfsOptions, XzBcj};

#[derive(Parser, Debug)]
#[command(
    name = "livecompose",
    version,
    about = "Build bootable system images (live ISO, network boot files, cloud disk image, root directory) from a kickstart file",
    long_about = "Build bootable system images from a kickstart file.\n\n\
livecompose reads a kickstart (commands, %packages, %post, %include), resolves the \
packages from the repositories it names (Debian archives with `--suite`, or RPM \
repositories), installs and configures a root filesystem, and writes an image, \
with its package list, its SBOMs (LABEL.spdx.json, SPDX 2.3; LABEL.cdx.json, \
CycloneDX 1.6) and SHA256SUMS, signed with --sign-key.",
    after_help = "Examples:\n  \
livecompose --config kickstarts/debian-minimal.ks --label Debian-mini\n  \
livecompose --config kickstarts/debian-minimal.ks --label Debian-root --format dir --output /srv/roots\n  \
livecompose --config kickstarts/debian-cloud.ks --label debian-12-cloud --format qcow2\n  \
livecompose --config kickstarts/debian-minimal.ks --label Debian-mini --sign-key publisher.sec.asc\n  \
livecompose --config kickstarts/debian-minimal.ks --label lc --format pxe --pxe-url http://192.168.1.10/lc\n  \
livecompose --config ks.cfg --label Fedora18-mini --dry-run\n  \
livecompose resolve --config ks.cfg\n  \
livecompose validate --config ks.cfg\n  \
livecompose flatten --config ks.cfg > flat.ks\n  \
livecompose test Debian-mini.iso --firmware uefi --media usb\n  \
livecompose squashfs /srv/root root.squashfs\n  \
livecompose seed --user-data user-data --hostname web1 --output seed.iso\n  \
livecompose derive debian-12-cloud.qcow2 lab1.qcow2\n  \
livecompose commit lab1.qcow2 debian-12-cloud-v2.qcow2\n  \
livecompose audit Debian-mini.iso\n  \
livecompose verify . --key publisher.gpg\n  \
livecompose man /usr/local/share/man/man1\n  \
SOURCE_DATE_EPOCH=1700000000 livecompose --config kickstarts/debian-minimal.ks --label Debian-mini\n\n\
Reproducible: the same kickstart, repository state and options give byte-identical outputs. \
Every date in an image is the build's time: $SOURCE_DATE_EPOCH when set (decimal seconds \
since 1970), else the newest date of the repositories' signed indexes; the build prints it.\n\n\
Exit status: 0 done; 1 the build or the tool failed; 2 the input is wrong (a kickstart, an input image, \
an option, the command line); 3 `livecompose test` booted the image and it did not \
reach the expected line, refused the SSH login, or a --run command failed; or `livecompose audit` \
found a problem in the image; or `livecompose verify` found a bad signature or a missing or changed file.",
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
    /// line and keeps the console log; when the line never comes, exits 3
    /// showing the last console lines. With --ssh (or --ssh-key) it then logs
    /// in over SSH and runs each --run command, printing its output and exit
    /// status.
    /// KVM is used only when a probe boot shows that it works,
    /// else software emulation (TCG). Needs the Debian packages
    /// qemu-system-x86 and, for UEFI, ovmf.
    #[command(after_help = "Examples:\n  \
livecompose test Debian-mini.iso\n  \
livecompose test Debian-mini.iso --firmware uefi --media usb --timeout 600\n  \
livecompose test disk.raw --media disk --expect 'Reached target .*Multi-User'\n  \
livecompose test Debian-mini.iso --ssh-key ~/.ssh/id_ed25519 --ssh-user live --run 'systemctl is-active ssh'\n  \
livecompose test debian-12-cloud.qcow2 --media disk --ssh --run 'cloud-init status --wait'\n  \
livecompose test debian-12-cloud.qcow2 --media disk --seed seed.iso --ssh-key key --ssh-user ops")]
    Test(TestArgs),
    /// Pack a directory into a squashfs image (what mksquashfs does, on every core).
    ///
    /// Keeps everything a root filesystem holds: hard links, devices, fifos, sockets,
    /// sparse files, owners, times and xattrs (user, trusted and security namespaces,
    /// e.g. file capabilities and SELinux labels). The same tree and options always give
    /// the same bytes, whatever the thread count. The image is written beside OUTPUT
    /// and renamed into place when complete.
    #[command(after_help = "Examples:\n  \
livecompose squashfs /srv/root root.squashfs\n  \
livecompose squashfs /srv/root root.squashfs --compression zstd --level 19 --block-size 1M\n  \
livecompose squashfs /srv/root root.squashfs --exclude 'proc/*' --exclude '**/*.pyc'\n  \
SOURCE_DATE_EPOCH=1700000000 livecompose squashfs /srv/root root.squashfs --all-root")]
    Squashfs(SquashfsArgs),
    /// Write a NoCloud seed: the volume cloud-init reads its configuration from.
    ///
    /// What `cloud-localds` writes: a volume labelled `cidata` (ISO 9660, or FAT
    /// with --fs vfat) holding `user-data`, `meta-data` and, when given,
    /// `network-config` and `vendor-data`, under exactly these names. Without
    /// --meta-data, a meta-data with `instance-id: iid-local01` (and
    /// `local-hostname` from --hostname) is made. Attach the seed to the
    /// instance as a second disk (virtio) or CD; cloud-init finds it by its label.
    ///
    /// The user-data is checked before anything is written: it must start with
    /// `#cloud-config`, a `#!` script line or a MIME `Content-Type: multipart/`
    /// header. A cloud-config must be YAML as cloud-init reads it and valid
    /// against cloud-init's published cloud-config schema, shipped with
    /// livecompose; a misspelt key or `users:` written as a mapping is an error
    /// naming FILE:LINE and the key, and exits 2 without writing a seed. Scripts
    /// and multipart archives are passed through unchecked. The seed is written
    /// beside OUTPUT and renamed into place when complete; its dates are
    /// SOURCE_DATE_EPOCH or the user-data's modification time.
    #[command(after_help = "Examples:\n  \
livecompose seed --user-data user-data --output seed.iso\n  \
livecompose seed --user-data user-data --hostname web1 --output seed.img --fs vfat\n  \
livecompose seed --user-data user-data --meta-data meta-data --network-config net.yaml --output seed.iso\n\n\
A user-data that creates a user who logs in with a key:\n  \
#cloud-config\n  \
users:\n    \
- name: admin\n      \
sudo: ALL=(ALL) NOPASSWD:ALL\n      \
shell: /bin/bash\n      \
ssh_authorized_keys:\n        \
- ssh-ed25519 AAAA... admin@example\n  \
packages: [htop]")]
    Seed(SeedArgs),
    /// Write a copy-on-write child of a qcow2 master image.
    ///
    /// The child stores nothing at first: every read goes to MASTER, and
    /// whatever the guest writes stays in the child, so the master is never
    /// written and many children can share it. The child records MASTER's
    /// path relative to its own directory and the format qcow2, so
    /// `qemu-img info --backing-chain CHILD` shows the chain and the two can
    /// be moved together. MASTER (and any image behind it) is checked and
    /// opened read-only; CHILD must not exist yet. `livecompose commit` turns
    /// a tuned child into the next master.
    #[command(
        after_help = "Examples (derive, boot and tune the child, commit it):\n  \
livecompose derive debian-12-cloud.qcow2 lab1.qcow2\n  \
livecompose test lab1.qcow2 --media disk --keep-writes --ssh --run 'sudo apt-get -y install htop'\n  \
livecompose commit lab1.qcow2 debian-12-cloud-v2.qcow2\n\n\
Any qemu can boot a child too: qemu-system-x86_64 -m 2G -drive file=lab1.qcow2,if=virtio"
    )]
    Derive {
        /// The master image (qcow2); it is only read.
        master: PathBuf,
        /// The child image to write (qcow2, not existing yet).
        child: PathBuf,
    },
    /// Merge a child image and its backing chain into a new standalone master.
    ///
    /// Writes NEW_MASTER, a qcow2 image without a backing file holding the
    /// disk the guest of CHILD sees: the child's changes over its master
    /// (and over any images behind that). Clusters of zeros stay unallocated.
    /// Nothing is written to CHILD or its backing files; a backing file that
    /// is missing, not in its recorded format or of another size is an error
    /// naming it. NEW_MASTER must not exist yet.
    #[command(after_help = "Examples (a tuned child becomes the next master):\n  \
livecompose commit lab1.qcow2 debian-12-cloud-v2.qcow2\n  \
livecompose derive debian-12-cloud-v2.qcow2 lab2.qcow2")]
    Commit {
        /// The child image (qcow2) whose chain is merged; it is only read.
        child: PathBuf,
        /// The standalone image to write (qcow2, not existing yet).
        new_master: PathBuf,
    },
    /// Check an image as a provider does before publishing it as a template.
    ///
    /// Reads IMAGE with livecompose's own readers (nothing is mounted or run,
    /// no symlink is followed out of it): a root directory (--format dir), a
    /// squashfs, a live ISO (its /live/filesystem.squashfs), or a raw or
    /// qcow2 disk (its ext4 root, found by GPT or MBR, with the ext4 file
    /// systems its /etc/fstab mounts, such as a separate /var, at their
    /// mount points). It reports, one line each:
    /// ssh-host-key (etc/ssh/ssh_host_*_key), machine-id (a non-empty
    /// etc/machine-id or var/lib/dbus/machine-id), root-password (root's
    /// shadow field empty or a hash; locked with ! or * is right),
    /// cloud-init-state (anything in var/lib/cloud), authorized-keys (in
    /// root's or a home's .ssh), package-cache (apt's .deb and .bin files and
    /// lists, dnf's and yum's caches), build-log (an installer's kickstart and
    /// logs, livecompose's work files; Debian's dpkg.log is not one),
    /// world-writable (files, and directories without the sticky bit, outside
    /// tmp, var/tmp, dev, proc, sys and run) and unowned-setuid (setuid or
    /// setgid files that no package lists, in dpkg's file lists or rpm's
    /// rpmdb.sqlite; rpm's older database formats are not read, which a
    /// note says).
    ///
    /// Exits 0 when nothing is found, 3 when something is (the image was
    /// read and failed the check), 2 when IMAGE cannot be read as an image.
    /// Every build ends with this audit of what it wrote (--no-audit skips
    /// it).
    #[command(after_help = "Examples:\n  \
livecompose audit Debian-mini.iso\n  \
livecompose audit /srv/roots/debian-root\n  \
livecompose audit root.squashfs --json > audit.json\n  \
livecompose audit debian-12-cloud.qcow2\n  \
livecompose audit debian-12-cloud.raw --allow-authorized-keys   # keys from the kickstart's sshkey\n\n\
In CI, --json prints {\"image\", \"findings\": [{\"kind\", \"path\", \"detail\"}], \"notes\"} whatever the result:\n  \
livecompose audit out/Debian-mini.iso --json | jq -r '.findings[].path'")]
    Audit(AuditArgs),
    /// Check an output directory against its SHA256SUMS and their signature.
    ///
    /// Verifies SHA256SUMS.sign against --key (a public key, armored or
    /// binary, e.g. `gpg --export KEYID > KEY.gpg`), then reads every file
    /// SHA256SUMS lists and compares its SHA-256. Every missing or changed
    /// file is named, and a bad or missing signature too.
    ///
    /// A signature is required: give --key, or --no-signature to check the
    /// checksums alone (which proves the files are intact, not who made
    /// them). Exits 0 when everything verifies, 3 when something does not,
    /// 2 when DIR has no SHA256SUMS or the key cannot be read.
    #[command(after_help = "Examples:\n  \
livecompose verify out --key publisher.gpg\n  \
livecompose verify out/Debian-pxe --key publisher.asc   # --format squashfs keeps its list inside\n  \
livecompose verify out --no-signature\n\n\
The same checks with the usual tools:\n  \
gpgv --keyring ./publisher.gpg out/SHA256SUMS.sign out/SHA256SUMS && (cd out && sha256sum -c SHA256SUMS)")]
    Verify(VerifyArgs),
    /// Write the manual pages: livecompose(1) and one page per subcommand.
    ///
    /// The pages are made from this help text, so they never disagree with
    /// it. Install them where man finds them, e.g.
    /// `livecompose man /usr/local/share/man/man1`.
    #[command(after_help = "Examples:\n  \
livecompose man /usr/local/share/man/man1\n  \
livecompose man out && man -l out/livecompose-test.1")]
    Man {
        /// The directory that receives the .1 files (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },

    /// Show what the download cache holds, or empty it (--prune).
    ///
    /// Builds keep verified packages and indexes, unfinished downloads and
    /// parsed indexes there, so that the next build downloads and parses only
    /// what changed. Nothing in it is ever trusted without its checksum, so
    /// emptying it only costs time.
    #[command(after_help = "Examples:\n  \
livecompose cache                          # what /var/cache/livecompose holds\n  \
livecompose cache --prune                  # empty it (refused while a build uses it)\n  \
livecompose cache --cache /srv/lc-cache --prune")]
    Cache {
        /// The cache directory, as given to builds.
        #[arg(long = "cache", visible_alias = "cache-dir", value_name = "DIR", default_value = DEFAULT_CACHE_DIR)]
        cache_dir: PathBuf,
        /// Empty the cache. Refused while a build holds it.
        #[arg(long)]
        prune: bool,
    },
}

/// Where builds keep downloads between runs unless told `--cache`.
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/livecompose";

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The directory holding SHA256SUMS (and SHA256SUMS.sign).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The public key (or keyring) that must have signed SHA256SUMS.
    #[arg(long, value_name = "FILE", required_unless_present = "no_signature")]
    pub key: Option<PathBuf>,
    /// Check the checksums without a signature.
    #[arg(long, conflicts_with = "key")]
    pub no_signature: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The image: a root directory, a squashfs, a live ISO, a raw or qcow2 disk.
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// Print the report as JSON on standard output (for CI), not as lines.
    #[arg(long)]
    pub json: bool,
    /// The kickstart set a root password (rootpw without --lock): not a finding.
    #[arg(long)]
    pub allow_root_password: bool,
    /// The kickstart's sshkey put keys in authorized_keys: not a finding.
    #[arg(long)]
    pub allow_authorized_keys: bool,
}

impl AuditArgs {
    pub fn policy(&self) -> crate::audit::Policy {
        crate::audit::Policy {
            allow_root_password: self.allow_root_password,
            allow_authorized_keys: self.allow_authorized_keys,
        }
    }
}

#[derive(Args, Debug)]
pub struct SeedArgs {
    /// The user-data: a `#cloud-config`, a `#!` script or a MIME multipart archive.
    #[arg(long, value_name = "FILE")]
    pub user_data: PathBuf,

    /// The meta-data, copied as it is [default: instance-id iid-local01, and
    /// local-hostname from --hostname].
    #[arg(long, value_name = "FILE")]
    pub meta_data: Option<PathBuf>,

    /// A network configuration (version 1 or 2), copied as `network-config`.
    #[arg(long, value_name = "FILE")]
    pub network_config: Option<PathBuf>,

    /// Vendor data, copied as `vendor-data`.
    #[arg(long, value_name = "FILE")]
    pub vendor_data: Option<PathBuf>,

    /// The instance's host name (`local-hostname` in the generated meta-data;
    /// with --meta-data, set it there instead).
    #[arg(long, value_name = "NAME", conflicts_with = "meta_data")]
    pub hostname: Option<String>,

    /// The seed file to write (replaced if it exists).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// The seed's file system.
    #[arg(long, value_enum, default_value_t = VolumeFs::Iso9660)]
    pub fs: VolumeFs,
}

impl SeedArgs {
    pub fn spec(&self) -> SeedSpec {
        SeedSpec {
            user_data: self.user_data.clone(),
            meta_data: self.meta_data.clone(),
            network_config: self.network_config.clone(),
            vendor_data: self.vendor_data.clone(),
            hostname: self.hostname.clone(),
            fs: self.fs,
        }
    }
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
        default_value = DEFAULT_CACHE_DIR
    )]
    pub cache_dir: PathBuf,

    /// Also trust the certificate authorities in FILE (PEM) for https://
    /// repositories, e.g. a company's TLS-inspecting proxy. Mozilla's roots
    /// (built in) and the host's CA store are always trusted. Repeatable.
    #[arg(long = "ca", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,

    /// Print only warnings and errors (no progress bars or stage lines).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("login").multiple(true).args(["ssh", "ssh_key"])))]
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

    /// Seconds to wait for the expected line (and, with --ssh, for the
    /// SSH login and the commands too), counted from qemu's start.
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

    /// After the expected line, log in over SSH. The guest gets qemu's
    /// user-mode network, restricted so that it reaches nothing; only its
    /// port 22 is forwarded, from a free port on 127.0.0.1. Uses the host's
    /// ssh client (openssh-client). Without --ssh-key, a key is made for this
    /// boot and a NoCloud seed is attached whose user-data creates --ssh-user
    /// with that key and sudo, as a cloud would: the image needs cloud-init.
    #[arg(long)]
    pub ssh: bool,

    /// Log in with this private key (implies --ssh). The image's
    /// authorized_keys must accept it: from a kickstart sshkey line, or from
    /// the user-data of --seed.
    #[arg(long, value_name = "KEY")]
    pub ssh_key: Option<PathBuf>,

    /// The account to log in to [default: root with --ssh-key, livecompose
    /// with a generated key].
    #[arg(long, value_name = "NAME", requires = "login")]
    pub ssh_user: Option<String>,

    /// A command to run in the guest over SSH, through the user's shell;
    /// repeat for more, run in order. Each one's output and exit status is
    /// printed; the first that fails ends the test with exit status 3.
    #[arg(long = "run", value_name = "COMMAND", requires = "login")]
    pub commands: Vec<String>,

    /// A cloud-init NoCloud seed (`livecompose seed` writes one) attached as a
    /// second, read-only virtio disk, as cloud platforms hand instances
    /// their user-data. Virtio, not a CD-ROM: Debian's cloud images on q35
    /// do not look for a seed on an emulated CD.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,

    /// Boot a disk of SIZE (e.g. 8G), larger than the image, as a cloud gives
    /// an instance a larger disk than its template: a throwaway qcow2 overlay
    /// backed by the image, which is not written. cloud-init's growpart then
    /// grows the root. `--media disk` only.
    #[arg(long, value_name = "SIZE", value_parser = parse_disk_size)]
    pub disk_size: Option<u64>,

    /// Keep what the guest writes, in IMAGE, which must be a child made by
    /// `livecompose derive` (so no master is ever written): tune a child
    /// over SSH, then `livecompose commit` it into the next master.
    /// `--media disk` only.
    #[arg(long)]
    pub keep_writes: bool,
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
            ssh: self.ssh_key.as_ref().map(|key| SshLogin {
                key: key.clone(),
                user: self
                    .ssh_user
                    .clone()
                    .unwrap_or_else(|| boottest::DEFAULT_SSH_USER.to_owned()),
                commands: self.commands.clone(),
                client: boottest::DEFAULT_SSH_CLIENT.into(),
            }),
            seed: self.seed.clone(),
            disk_size: self.disk_size,
            keep_writes: self.keep_writes,
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

    /// Size of a disk image (`--format raw`, `qcow2`), e.g. 4G or 20480M
    /// [default: as small as the partitions allow; --grow partitions take
    /// what a larger disk leaves].
    #[arg(long, value_name = "SIZE", value_parser = parse_disk_size)]
    pub disk_size: Option<u64>,

    /// Compress the qcow2 image's data (deflate, as `qemu-img convert -c`):
    /// smaller to store and upload, slower to read.
    #[arg(long)]
    pub compress: bool,

    /// Where the `--format pxe` directory will be served over HTTP, as
    /// clients will fetch it: `http://`, an IPv4 address (the initrd's
    /// wget resolves no names), an optional port and path, e.g.
    /// http://192.168.1.10/live/LABEL. The boot scripts and the kernel
    /// command line name the files under it [default:
    /// http://10.0.2.2:8080/LABEL: qemu's user-mode network reaching a web
    /// server on the host's port 8080 that serves the output directory].
    #[arg(long, value_name = "URL")]
    pub pxe_url: Option<String>,

    /// How the live root is packed (`--format iso`, `squashfs` and `pxe`).
    #[command(flatten)]
    pub squashfs: SquashfsCodecArgs,

    /// Sign SHA256SUMS with this OpenPGP secret key (armored or binary, no
    /// passphrase): a detached, armored SHA256SUMS.sign beside it, as
    /// Debian signs its checksum lists. The key is read before anything is
    /// downloaded.
    #[arg(long, value_name = "FILE", env = "LIVECOMPOSE_SIGN_KEY")]
    pub sign_key: Option<PathBuf>,

    /// Read the kickstart and print the build plan, then stop without writing anything.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Skip the audit the build ends with (see `livecompose audit`). Without
    /// it, an image with findings is kept for inspection but the build
    /// exits with status 3; use this only for an image whose findings you
    /// put there on purpose (a world-writable directory of your own, say).
    #[arg(long)]
    pub no_audit: bool,

    /// Install every package again, even when an earlier build installed
    /// the same packages the same way; the fresh root replaces the one the
    /// cache kept. By default such a build copies that installed root from
    /// the cache (`roots/`, see `livecompose cache`) and starts at the
    /// configuration, `%post` and overlays; the image is the same either way.
    #[arg(long)]
    pub no_incremental: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Hybrid BIOS/UEFI live ISO, bootable from CD and USB.
    Iso,
    /// The configured root filesystem as a directory.
    Dir,
    /// A directory of separate live files: the squashfs root, the kernel, the
    /// live initrd and the kernel command line they boot with (the initrd
    /// finds the squashfs on a medium labelled LABEL).
    Squashfs,
    /// A directory a PXE or HTTP server serves as it is: kernel, live
    /// initrd, squashfs, an iPXE script (boot.ipxe), PXELINUX
    /// (lpxelinux.0, ldlinux.c32, pxelinux.cfg/default), iPXE for UEFI
    /// clients (ipxe.efi), the package list, SHA256SUMS and a README. The
    /// initrd fetches the squashfs over HTTP from --pxe-url, checks its size
    /// and SHA-256, and runs it from RAM.
    Pxe,
    /// A sparse raw disk image that boots with BIOS and UEFI, partitioned
    /// by the kickstart's part/reqpart/autopart (default: BIOS boot, ESP,
    /// root last).
    Raw,
    /// The same disk as qcow2 (version 3), written by livecompose.
    Qcow2,
}

/// A size in bytes with an optional K, M, G or T suffix (powers of 1024).
pub fn parse_disk_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((at, 'K' | 'k')) => (&text[..at], 10),
        Some((at, 'M' | 'm')) => (&text[..at], 20),
        Some((at, 'G' | 'g')) => (&text[..at], 30),
        Some((at, 'T' | 't')) => (&text[..at], 40),
        _ => (text, 0),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 4G, 512M or 1073741824"))?;
    number
        .checked_mul(1 << shift)
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| format!("{text:?} is not a usable disk size"))
}

#[derive(Args, Debug)]
pub struct SquashfsArgs {
    /// The directory to pack; it becomes the image's root.
    #[arg(value_name = "SOURCE_DIR")]
    pub source: PathBuf,

    /// The image file to write (replaced if it exists).
    #[arg(value_name = "OUTPUT")]
    pub output: PathBuf,

    #[command(flatten)]
    pub codec: SquashfsCodecArgs,

    /// Leave out paths matching this glob, relative to SOURCE_DIR (`*` stops at `/`,
    /// `**` crosses it); repeatable. An excluded directory takes its contents with it.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,

    /// Store every entry as owned by root (uid 0, gid 0).
    #[arg(long)]
    pub all_root: bool,

    /// Store this modification time (seconds since 1970) on every entry.
    #[arg(long, value_name = "EPOCH")]
    pub mtime: Option<u32>,

    /// Clamp modification times to this time (later ones become it).
    #[arg(long, value_name = "EPOCH", env = "SOURCE_DATE_EPOCH")]
    pub clamp_mtime: Option<u32>,
}

/// How the squashfs is compressed: shared by `livecompose squashfs` and the
/// live image build.
#[derive(Args, Debug)]
#[command(next_help_heading = "Squashfs")]
pub struct SquashfsCodecArgs {
    /// Codec for data and metadata.
    #[arg(long, value_enum, default_value_t = SquashfsCompression::Xz)]
    pub compression: SquashfsCompression,

    /// Compression level [default: xz 6, zstd 15, gzip 9; lz4 has none].
    #[arg(long, value_name = "N")]
    pub level: Option<u32>,

    /// Data block size, a power of two from 4K to 1M (e.g. 131072, 128K, 1M).
    #[arg(long, value_name = "BYTES", default_value = "128K", value_parser = squashfs::parse_block_size)]
    pub block_size: u32,

    /// Compression threads [default: every core]; the output does not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,

    /// xz branch filter for one architecture's machine code, applied to the files that
    /// hold it (ELF objects, static libraries); the kernel reads one filter per image.
    #[arg(long, value_enum, default_value_t = SquashfsBcj::X86)]
    pub xz_bcj: SquashfsBcj,

    /// xz dictionary size, 2^n or 2^n+2^(n-1), at most the block size [default: the block size].
    #[arg(long, value_name = "BYTES", value_parser = squashfs::parse_size)]
    pub xz_dict_size: Option<u32>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SquashfsCompression {
    Xz,
    Zstd,
    Gzip,
    Lz4,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SquashfsBcj {
    None,
    X86,
    Powerpc,
    Ia64,
    Arm,
    Armthumb,
    Sparc,
}

impl SquashfsCodecArgs {
    /// The library options for this codec; the tree options keep their defaults.
    pub fn options(&self) -> Result<SquashfsOptions, squashfs::SquashfsError> {
        let name = match self.compression {
            SquashfsCompression::Xz => "xz",
            SquashfsCompression::Zstd => "zstd",
            SquashfsCompression::Gzip => "gzip",
            SquashfsCompression::Lz4 => "lz4",
        };
        let mut compression = Compression::from_name(name, self.level)?;
        if let Compression::Xz(xz) = &mut compression {
            xz.dict_size = self.xz_dict_size;
            xz.bcj = match self.xz_bcj {
                SquashfsBcj::None => None,
                SquashfsBcj::X86 => Some(XzBcj::X86),
                SquashfsBcj::Powerpc => Some(XzBcj::PowerPc),
                SquashfsBcj::Ia64 => Some(XzBcj::Ia64),
                SquashfsBcj::Arm => Some(XzBcj::Arm),
                SquashfsBcj::Armthumb => Some(XzBcj::ArmThumb),
                SquashfsBcj::Sparc => Some(XzBcj::Sparc),
            };
        }
        let options = SquashfsOptions {
            compression,
            block_size: self.block_size,
            threads: self.threads,
            ..SquashfsOptions::default()
        };
        options.validate()?;
        Ok(options)
    }
}

impl SquashfsArgs {
    /// The library options these arguments ask for.
    pub fn options(&self) -> Result<SquashfsOptions, squashfs::SquashfsError> {
        Ok(SquashfsOptions {
            exclude: self.exclude.clone(),
            all_root: self.all_root,
            mtime: self.mtime,
            clamp_mtime: self.clamp_mtime,
            ..self.codec.options()?
        })
    }
}
