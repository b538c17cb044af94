//! livecompose's own initrd: a small initramfs that finds the live boot
//! medium by its label, mounts the squashfs under a tmpfs overlay and
//! switches root into the image's init; or, for a disk image whose
//! distribution has no initramfs generator in the image, mounts the root
//! the kernel command line names (`root=UUID=…`) and switches into it.
//!
//! [`build`] composes it from three things: a static busybox (from the
//! distribution's `busybox-static` package; the caller extracts it), the
//! image's own kernel modules its [`InitrdMode`] needs with their
//! dependencies,
//! and our `/init` script (`init.sh`, which documents the kernel command
//! line). It needs nothing of the build host and nothing extra in the image.

mod cpio;
mod modules;

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::install::{InRootPath, RootError, RootFs};
use crate::repo::rpm::version::rpmvercmp;

use cpio::CpioWriter;
use modules::{ClosureError, ModuleIndex};

/// The script the kernel runs as PID 1.
const INIT: &str = include_str!("init.sh");

/// What udhcpc runs with a lease (busybox has no default script).
const UDHCPC_SCRIPT: &str = include_str!("udhcpc.script");

/// Where `/init` finds it.
const UDHCPC_SCRIPT_PATH: &str = "etc/livecompose/udhcpc.script";

/// Where `/init` reads the module files to load, in order.
const MODULE_LIST: &str = "etc/livecompose/modules";

/// Where the ISO writer must put the squashfs; `/init` mounts it from the
/// medium's root.
pub const SQUASHFS_PATH: &str = "live/filesystem.squashfs";

/// The kernel command-line word that names the medium's volume label.
pub const LABEL_ARG: &str = "livecompose.label";

/// The kernel command-line word that makes `/init` copy the squashfs to RAM.
pub const TORAM_ARG: &str = "toram";

/// The kernel command-line word that makes `/init` download the squashfs
/// from this `http://` URL into RAM (a netboot).
pub const FETCH_ARG: &str = "livecompose.fetch";

/// The SHA-256 (hex) the fetched squashfs must have.
pub const SHA256_ARG: &str = "livecompose.sha256";

/// The size in bytes the fetched squashfs must have.
pub const SIZE_ARG: &str = "livecompose.size";

/// The modules loaded at boot, in this order, each after its dependencies.
/// They cover the ways a PC reaches the medium and what the overlay needs;
/// a module the kernel has built in is skipped, a module it lacks entirely
/// is an error, so a kernel flavour without these drivers fails at build
/// time rather than at boot.
pub const LIVE_MODULES: &[&str] = &[
    // CD and DVD drives, and the ISO 9660 file system on them.
    "sr_mod",
    "cdrom",
    "isofs",
    // USB sticks: host controllers, mass storage, SCSI disks.
    "xhci_pci",
    "xhci_hcd",
    "ehci_pci",
    "usb_storage",
    "uas",
    "sd_mod",
    // Disk controllers, real and virtual (a hybrid ISO written to a disk).
    "ahci",
    "ata_piix",
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "nvme",
    // The live root: the image, its loop device, the writable layer.
    "squashfs",
    "loop",
    "overlay",
];

/// The network drivers a netboot initrd carries besides [`LIVE_MODULES`],
/// so that it can fetch its squashfs: the virtual cards of qemu, VMware
/// and Hyper-V's legacy emulation, and the common Intel, Realtek and
/// Broadcom cards of servers and PCs. Each is taken when the image's kernel
/// has it and left out otherwise: kernels differ in what they build, and
/// the missing ones cost a card, not the boot. (Cards that need firmware
/// files, such as bnx2x, load without them and stay down.)
pub const NETWORK_MODULES: &[&str] = &[
    "af_packet",
    "virtio_net",
    "e1000",
    "e1000e",
    "igb",
    "igc",
    "ixgbe",
    "i40e",
    "r8169",
    "8139cp",
    "8139too",
    "tg3",
    "bnx2",
    // bnx2x's libcrc32c asks the crypto API for crc32c at load time, a soft
    // dependency modules.dep does not list.
    "crc32c_generic",
    "bnx2x",
    "vmxnet3",
];

/// The modules a disk image's root needs, in this order: the disk
/// controllers a PC or a virtual machine has, and ext4 after the CRC32C
/// implementation it asks the crypto API for (a soft dependency, which
/// `modules.dep` does not list and `insmod` does not follow).
pub const DISK_ROOT_MODULES: &[&str] = &[
    "ahci",
    "ata_piix",
    "sd_mod",
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "nvme",
    "crc32c_generic",
    "ext4",
];

/// What the initrd boots into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitrdMode {
    /// The squashfs on a labelled live medium.
    Live,
    /// The live initrd that can also fetch the squashfs over HTTP
    /// (`livecompose.fetch=`), with network drivers.
    Netboot,
    /// The root file system of a disk, named by `root=` at boot.
    DiskRoot,
}

impl InitrdMode {
    /// The kernel modules `/init` loads in this mode.
    pub fn modules(self) -> &'static [&'static str] {
        match self {
            Self::Live | Self::Netboot => LIVE_MODULES,
            Self::DiskRoot => DISK_ROOT_MODULES,
        }
    }

    /// The modules included when the image's kernel has them.
    pub fn optional_modules(self) -> &'static [&'static str] {
        match self {
            Self::Netboot => NETWORK_MODULES,
            Self::Live | Self::DiskRoot => &[],
        }
    }
}

/// What `build` is asked to do.
#[derive(Debug, Clone)]
pub struct InitrdOptions {
    /// The compressed cpio to write (through a temporary file beside it).
    pub output: PathBuf,
    pub mode: InitrdMode,
}

/// The compression of the cpio; the kernel must be able to unpack it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Zstd,
    Gzip,
}

/// What `build` made, and what the bootloader and ISO writer need.
#[derive(Debug, Clone)]
pub struct Initrd {
    /// The written initrd (`InitrdOptions::output`).
    pub path: PathBuf,
    pub size: u64,
    pub compression: Compression,
    /// The kernel's release, as in `/lib/modules/VERSION`.
    pub kernel_version: String,
    /// The image's kernel: `ROOT/boot/vmlinuz-VERSION`, or `vmlinuz` in its
    /// modules directory.
    pub kernel: PathBuf,
    /// The module files included, relative to the modules directory, in
    /// load order.
    pub modules: Vec<String>,
}

#[derive(Debug, Error)]
pub enum InitrdError {
    #[error(
        "no kernel in the image: neither {0} nor the modules directories hold a vmlinuz with its modules (add a kernel package, such as linux-image-amd64 or kernel-core, to %packages)"
    )]
    NoKernel(PathBuf),
    #[error("kernel module {name} is neither in {modules_dep} nor built into the kernel")]
    MissingModule { name: String, modules_dep: PathBuf },
    #[error("{modules_dep}: {file} is named as a dependency but has no line of its own")]
    UnlistedDependency { file: String, modules_dep: PathBuf },
    #[error("{path}:{line}: not a modules.dep line (FILE: DEPENDENCY...)")]
    MalformedModulesDep { path: PathBuf, line: usize },
    #[error(
        "{config}: the kernel unpacks neither zstd nor gzip initrds (CONFIG_RD_ZSTD, CONFIG_RD_GZIP)"
    )]
    NoCompression { config: PathBuf },
    #[error("busybox {path}: {reason}")]
    Busybox { path: PathBuf, reason: &'static str },
    #[error("in the image: {0}")]
    Image(#[from] RootError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> InitrdError + '_ {
    move |source| InitrdError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Composes the live initrd for the image at `root` with the static
/// `busybox` binary, and writes it to `options.output`.
pub fn build(root: &Path, busybox: &Path, options: &InitrdOptions) -> Result<Initrd, InitrdError> {
    let busybox_bytes = fs::read(busybox).map_err(io_error(busybox))?;
    check_static_elf(&busybox_bytes).map_err(|reason| InitrdError::Busybox {
        path: busybox.to_owned(),
        reason,
    })?;
    let kernel = find_kernel(root)?;
    // Debian keeps the kernel's configuration in /boot, Fedora beside the
    // modules.
    let image = RootFs::open(root)?;
    let mut config = None;
    for candidate in [
        format!("/boot/config-{}", kernel.version),
        format!("{}/config", in_image(root, &kernel.modules_dir)),
    ] {
        if let Some(real) = image.real_path(&InRootPath::parse(&candidate)?)?
            && real.is_file
        {
            config = Some(real.host);
            break;
        }
    }
    let compression = choose_compression(config.as_deref())?;
    let files = resolve_modules(
        &kernel.modules_dir,
        options.mode.modules(),
        options.mode.optional_modules(),
    )?;

    let output = &options.output;
    let dir = match output.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temp = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
    let sink = BufWriter::new(temp.as_file());
    let sink = match compression {
        Compression::Zstd => write_archive(
            zstd::Encoder::new(sink, 19).map_err(io_error(output))?,
            &busybox_bytes,
            &kernel,
            &files,
        )?
        .finish(),
        Compression::Gzip => write_archive(
            flate2::write::GzEncoder::new(sink, flate2::Compression::best()),
            &busybox_bytes,
            &kernel,
            &files,
        )?
        .finish(),
    };
    sink.and_then(|mut sink| sink.flush())
        .map_err(io_error(output))?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(io_error(output))?;
    temp.persist(output).map_err(|e| InitrdError::Io {
        path: output.clone(),
        source: e.error,
    })?;
    let size = fs::metadata(output).map_err(io_error(output))?.len();
    Ok(Initrd {
        path: output.clone(),
        size,
        compression,
        kernel_version: kernel.version,
        kernel: kernel.image,
        modules: files,
    })
}

/// A kernel installed in a root, with its modules.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub version: String,
    pub image: PathBuf,
    pub modules_dir: PathBuf,
}

/// The newest kernel that has its modules installed: `boot/vmlinuz-VERSION`
/// (Debian), or `vmlinuz` in the modules directory itself, where Fedora's
/// kernel packages leave it for `kernel-install` to copy to `/boot`.
///
/// Every path is resolved inside the root (a symlink in the image cannot
/// lead to a host file), and the paths returned are where the files really
/// are.
pub fn find_kernel(root: &Path) -> Result<Kernel, InitrdError> {
    let image = RootFs::open(root)?;
    let in_root = |path: &str| InRootPath::parse(path).map_err(InitrdError::from);
    // A merged /usr has the modules under usr/lib; /lib is a link to it.
    let modules_roots = ["/usr/lib/modules", "/lib/modules"];
    let mut found: Vec<(String, String)> = Vec::new();
    for name in list_if_present(&image, &in_root("/boot")?)? {
        if let Some(version) = name.strip_prefix("vmlinuz-") {
            found.push((version.to_owned(), format!("/boot/{name}")));
        }
    }
    for modules in modules_roots {
        for version in list_if_present(&image, &in_root(modules)?)? {
            found.push((version.clone(), format!("{modules}/{version}/vmlinuz")));
        }
    }
    let mut newest: Option<Kernel> = None;
    for (version, kernel_path) in found {
        let Some(kernel_file) = image.real_path(&in_root(&kernel_path)?)? else {
            continue;
        };
        if !kernel_file.is_file {
            continue;
        }
        let mut modules_dir = None;
        for modules in modules_roots {
            let dep = image.real_path(&in_root(&format!("{modules}/{version}/modules.dep"))?)?;
            if dep.is_some_and(|dep| dep.is_file) {
                modules_dir = image.real_path(&in_root(&format!("{modules}/{version}"))?)?;
                break;
            }
        }
        let Some(modules_dir) = modules_dir else {
            continue;
        };
        // Kernel releases (`6.1.0-18-amd64`, `6.9.1-300.fc40.x86_64`) are
        // not Debian versions, but rpm's segment-wise comparison orders
        // both kinds.
        if newest
            .as_ref()
            .is_none_or(|best| rpmvercmp(&version, &best.version) == std::cmp::Ordering::Greater)
        {
            newest = Some(Kernel {
                version,
                image: kernel_file.host,
                modules_dir: modules_dir.host,
            });
        }
    }
    newest.ok_or_else(|| InitrdError::NoKernel(root.join("boot")))
}

/// `real`, a path under `root`, as the image names it.
fn in_image(root: &Path, real: &Path) -> String {
    format!("/{}", real.strip_prefix(root).unwrap_or(real).display())
}

/// The names in the image's directory `dir`, none when it does not exist.
fn list_if_present(image: &RootFs, dir: &InRootPath) -> Result<Vec<String>, InitrdError> {
    match image.real_path(dir)? {
        Some(real) if real.is_dir => Ok(image
            .list_dir(dir)?
            .into_iter()
            .filter_map(|name| name.into_string().ok())
            .collect()),
        _ => Ok(Vec::new()),
    }
}

/// zstd when the kernel unpacks it (smaller, and faster to unpack), else
/// gzip. Without a config file, gzip: every distribution kernel has it.
fn choose_compression(config: Option<&Path>) -> Result<Compression, InitrdError> {
    let Some(config) = config else {
        return Ok(Compression::Gzip);
    };
    let text = fs::read_to_string(config).map_err(io_error(config))?;
    let enabled = |option: &str| {
        text.lines()
            .any(|line| line.trim() == format!("{option}=y"))
    };
    if enabled("CONFIG_RD_ZSTD") {
        Ok(Compression::Zstd)
    } else if enabled("CONFIG_RD_GZIP") {
        Ok(Compression::Gzip)
    } else {
        Err(InitrdError::NoCompression {
            config: config.to_owned(),
        })
    }
}

/// The module files of `wanted`, and of those of `optional` the kernel
/// has, with their dependencies, in load order.
fn resolve_modules(
    modules_dir: &Path,
    wanted: &[&str],
    optional: &[&str],
) -> Result<Vec<String>, InitrdError> {
    let dep_path = modules_dir.join("modules.dep");
    let dep = fs::read_to_string(&dep_path).map_err(io_error(&dep_path))?;
    let builtin_path = modules_dir.join("modules.builtin");
    let builtin = match fs::read_to_string(&builtin_path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io_error(&builtin_path)(e)),
    };
    let index =
        ModuleIndex::parse(&dep, &builtin).map_err(|e| InitrdError::MalformedModulesDep {
            path: dep_path.clone(),
            line: e.0,
        })?;
    let wanted: Vec<&str> = wanted
        .iter()
        .copied()
        .chain(optional.iter().copied().filter(|name| index.knows(name)))
        .collect();
    index.closure(&wanted).map_err(|e| match e {
        ClosureError::Unknown(name) => InitrdError::MissingModule {
            name,
            modules_dep: dep_path,
        },
        ClosureError::UnlistedDependency(file) => InitrdError::UnlistedDependency {
            file,
            modules_dep: dep_path,
        },
    })
}

fn write_archive<W: Write>(
    out: W,
    busybox: &[u8],
    kernel: &Kernel,
    modules: &[String],
) -> Result<W, InitrdError> {
    let archive = Path::new("initrd");
    let mut cpio = CpioWriter::new(out);
    let modules_root = format!("lib/modules/{}", kernel.version);
    // Decompressed names, since /init loads what is in the archive.
    let names: Vec<String> = modules
        .iter()
        .map(|file| format!("{modules_root}/{}", strip_compression(file)))
        .collect();

    let mut dirs = BTreeSet::new();
    for path in
        names
            .iter()
            .map(String::as_str)
            .chain([MODULE_LIST, UDHCPC_SCRIPT_PATH, "bin/busybox"])
    {
        let mut parent = Path::new(path).parent();
        while let Some(dir) = parent.filter(|dir| !dir.as_os_str().is_empty()) {
            dirs.insert(dir.to_string_lossy().into_owned());
            parent = dir.parent();
        }
    }
    dirs.extend(["dev", "proc", "sys", "run", "newroot"].map(String::from));
    // BTreeSet order puts every parent before its children.
    for dir in &dirs {
        cpio.dir(dir, 0o755).map_err(io_error(archive))?;
    }
    // The kernel opens the console for /init before anything is mounted.
    cpio.char_device("dev/console", 0o600, 5, 1)
        .map_err(io_error(archive))?;
    cpio.file("bin/busybox", 0o755, busybox)
        .map_err(io_error(archive))?;
    cpio.symlink("bin/sh", "busybox")
        .map_err(io_error(archive))?;
    cpio.file("init", 0o755, INIT.as_bytes())
        .map_err(io_error(archive))?;
    cpio.file(UDHCPC_SCRIPT_PATH, 0o755, UDHCPC_SCRIPT.as_bytes())
        .map_err(io_error(archive))?;

    // Module files are read inside the modules directory as if it were the
    // root: an absolute path or a `..` in modules.dep, or a symlinked
    // module, cannot make a host file part of the initrd.
    let modules_dir = RootFs::open(&kernel.modules_dir)?;
    let mut list = String::new();
    for (file, name) in modules.iter().zip(&names) {
        let path = kernel.modules_dir.join(file);
        let data = read_module(&modules_dir, file, &path)?;
        cpio.file(name, 0o644, &data).map_err(io_error(&path))?;
        list.push_str(&format!("/{name}\n"));
    }
    cpio.file(MODULE_LIST, 0o644, list.as_bytes())
        .map_err(io_error(archive))?;
    cpio.finish().map_err(io_error(archive))
}

/// `x.ko.xz` → `x.ko`.
fn strip_compression(file: &str) -> &str {
    [".xz", ".zst", ".gz"]
        .iter()
        .find_map(|suffix| file.strip_suffix(suffix))
        .unwrap_or(file)
}

/// The module's ELF object, decompressed. Busybox insmod hands the kernel a
/// file descriptor without the flag that asks for in-kernel decompression
/// and falls back to its own decompressors, which know no zstd; so every
/// module goes in uncompressed, whatever the kernel could do, and the
/// archive's compression covers them all at once.
fn read_module(modules_dir: &RootFs, file: &str, path: &Path) -> Result<Vec<u8>, InitrdError> {
    let stored = modules_dir
        .read(&InRootPath::parse(file)?)?
        .ok_or_else(|| InitrdError::Io {
            path: path.to_owned(),
            source: io::Error::from(io::ErrorKind::NotFound),
        })?;
    let mut data = Vec::new();
    let read = if file.ends_with(".xz") {
        liblzma::read::XzDecoder::new(stored.as_slice()).read_to_end(&mut data)
    } else if file.ends_with(".zst") {
        zstd::Decoder::new(stored.as_slice()).and_then(|mut d| d.read_to_end(&mut data))
    } else if file.ends_with(".gz") {
        flate2::read::GzDecoder::new(stored.as_slice()).read_to_end(&mut data)
    } else {
        return Ok(stored);
    };
    read.map_err(io_error(path))?;
    Ok(data)
}

/// A busybox that needs a dynamic loader cannot run in the initrd, which has
/// no libraries: catch that here, not as a kernel panic at boot.
fn check_static_elf(bytes: &[u8]) -> Result<(), &'static str> {
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF executable (pass the busybox binary of busybox-static)");
    }
    // Only 64-bit little-endian binaries are inspected further: the
    // architectures livecompose builds for.
    if bytes.get(4..6) != Some(&[2, 1]) {
        return Ok(());
    }
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let truncated = "truncated ELF header";
    let phoff = u64_at(0x20).ok_or(truncated)? as usize;
    let phentsize = usize::from(u16_at(0x36).ok_or(truncated)?);
    let phnum = usize::from(u16_at(0x38).ok_or(truncated)?);
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let kind = bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(truncated)?;
        if kind == PT_INTERP {
            return Err(
                "dynamically linked; the initrd has no libraries (pass the binary of busybox-static)",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, b"x").expect("write");
    }

    #[test]
    fn the_newest_kernel_is_found_in_boot_or_beside_its_modules() {
        let root = tempfile::tempdir().expect("tempdir");
        let root = root.path();
        assert!(matches!(find_kernel(root), Err(InitrdError::NoKernel(_))));
        // Debian's layout.
        touch(&root.join("boot/vmlinuz-6.1.0-18-amd64"));
        touch(&root.join("lib/modules/6.1.0-18-amd64/modules.dep"));
        let kernel = find_kernel(root).expect("Debian kernel");
        assert_eq!(kernel.image, root.join("boot/vmlinuz-6.1.0-18-amd64"));
        // Fedora's, newer: found in the modules directory.
        touch(&root.join("usr/lib/modules/6.9.1-300.fc40.x86_64/vmlinuz"));
        touch(&root.join("usr/lib/modules/6.9.1-300.fc40.x86_64/modules.dep"));
        let kernel = find_kernel(root).expect("Fedora kernel");
        assert_eq!(kernel.version, "6.9.1-300.fc40.x86_64");
        assert_eq!(
            kernel.image,
            root.join("usr/lib/modules/6.9.1-300.fc40.x86_64/vmlinuz")
        );
        // A kernel without modules is not a candidate.
        touch(&root.join("boot/vmlinuz-7.0.0"));
        assert_eq!(
            find_kernel(root).expect("kernel").version,
            "6.9.1-300.fc40.x86_64"
        );
    }
}
