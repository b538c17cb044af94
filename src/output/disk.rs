//! `--format raw` and `qcow2`: a disk image that boots with BIOS and UEFI,
//! laid out by the kickstart's partitioning, made without loop devices or
//! mounts. The image boots through its own GRUB and initramfs.
//!
//! The configured root is split into one tree per file system (each
//! mount point's files moved out of the root), the partitions are placed
//! from the trees' sizes, and each file system is written straight into
//! the image file at its partition's offset.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{OutputInputs, Written, has_initramfs_generator, single_file, write_file};
use crate::configure;
use crate::disk::ext4::{self, Ext4Spec};
use crate::disk::gpt::Guid;
use crate::disk::grub::{self, MenuEntry};
use crate::disk::layout::{DiskLayout, FsType, PlacedPartition, Role};
use crate::disk::qcow2::{self, Qcow2Options};
use crate::disk::swap;
use crate::distro::{AssetFile, GrubLayout};
use crate::image::{self, EspFile};
use crate::initrd::{self, InitrdMode, InitrdOptions, Kernel};
use crate::install::RootFs;
use crate::interrupt;
use crate::plan::{DiskFormat, DiskSettings};
use crate::progress::human_bytes;

/// The UEFI fallback loader path: firmware boots it with no NVRAM entry.
const UEFI_LOADER: &str = "EFI/BOOT/BOOTX64.EFI";
const SECTOR: u64 = 512;

pub(super) fn write(
    inputs: &OutputInputs<'_>,
    settings: &DiskSettings,
    output: &Path,
) -> anyhow::Result<Written> {
    let plan = inputs.plan;
    let ui = inputs.ui;
    let root = inputs.root;
    let grub_layout = inputs.distro.grub();
    let kernel = initrd::find_kernel(root).context("a disk image boots the image's kernel")?;
    let time = inputs.source_date.date_time();
    let kernel_path = kernel_in_boot(root, &kernel)?;
    let initramfs_path = initramfs_in_boot(inputs, &kernel)?;

    let mountpoints = settings.layout.mountpoints();
    let boot_separate = mountpoints.contains(&"/boot");
    // Paths as GRUB sees them on the file system that holds /boot.
    let on_boot_fs = |path: &str| -> String {
        if boot_separate {
            path.strip_prefix("/boot").unwrap_or(path).to_owned()
        } else {
            path.to_owned()
        }
    };

    ui.step("Making the GRUB images for BIOS and UEFI");
    let images = make_grub_images(inputs, &grub_layout, &on_boot_fs(grub_layout.boot_dir))?;
    interrupt::check()?;

    ui.step("Laying out the disk");
    let trees = split_root(root, inputs.work, &mountpoints)?;
    let sizes: Vec<(String, u64)> = trees
        .iter()
        .map(|(mountpoint, tree)| Ok((mountpoint.clone(), tree_bytes(tree)?)))
        .collect::<anyhow::Result<_>>()?;
    let content = |mountpoint: &str| -> u64 {
        sizes
            .iter()
            .find(|(m, _)| m == mountpoint)
            .map_or(0, |(_, bytes)| *bytes)
    };
    let layout = settings
        .layout
        .allocate(&plan.label, settings.size, &content)?;
    let tree_of = |mountpoint: &str| -> anyhow::Result<&Path> {
        trees
            .iter()
            .find(|(m, _)| m == mountpoint)
            .map(|(_, tree)| tree.as_path())
            .with_context(|| format!("no tree was split off for {mountpoint}"))
    };

    let root_fs = filesystem(&layout, "/")?;
    let boot_fs = if boot_separate {
        filesystem(&layout, "/boot")?
    } else {
        root_fs
    };
    let mut cmdline = vec![format!("root=UUID={}", fs_uuid(root_fs)?), "ro".to_owned()];
    cmdline.extend(settings.boot.kernel_args.iter().cloned());
    let grub_cfg = grub::config(
        &MenuEntry {
            title: &plan.label,
            boot_fs_uuid: &fs_uuid(boot_fs)?,
            kernel: &on_boot_fs(&kernel_path),
            initramfs: &on_boot_fs(&initramfs_path),
            cmdline: &cmdline.join(" "),
        },
        settings.boot.menu_timeout_secs,
    );
    let boot_tree = tree_of(if boot_separate { "/boot" } else { "/" })?;
    let grub_dir = on_boot_fs(grub_layout.boot_dir);
    std::fs::create_dir_all(inside(boot_tree, &grub_dir)?)
        .with_context(|| format!("cannot create {grub_dir}"))?;
    write_file(
        &inside(boot_tree, &format!("{grub_dir}/grub.cfg"))?,
        grub_cfg.as_bytes(),
    )?;
    write_file(
        &inside(tree_of("/")?, "/etc/fstab")?,
        fstab(&layout)?.as_bytes(),
    )?;
    // GRUB's files, its menu, fstab and the split-off mount points were
    // written after the root's times were clamped: clamped again.
    for (_, tree) in &trees {
        configure::clamp_times(&RootFs::open(tree)?, &inputs.source_date)?;
    }

    let staging = inputs.work.join("disk.raw");
    ui.step(format!(
        "Writing the disk: {} in {} partitions",
        human_bytes(layout.size),
        layout.partitions.len()
    ));
    let disk = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    // Sparse: only what the file systems write takes space.
    disk.set_len(layout.size)
        .with_context(|| format!("cannot size {}", staging.display()))?;
    layout.gpt().write(&disk)?;
    for partition in &layout.partitions {
        interrupt::check()?;
        let offset = partition.first_lba * SECTOR;
        match &partition.role {
            Role::BiosBoot => {
                let boot_img = inside(root, &format!("{}/boot.img", grub_layout.pc_modules))?;
                let boot_img = std::fs::read(&boot_img)
                    .with_context(|| format!("cannot read {}", boot_img.display()))?;
                let core_img = std::fs::read(&images.bios_core)
                    .with_context(|| format!("cannot read {}", images.bios_core.display()))?;
                grub::install_bios(
                    &disk,
                    &boot_img,
                    &core_img,
                    partition.first_lba,
                    partition.size,
                )?;
            }
            Role::Esp(mount) => {
                let mut files = esp_files(tree_of(&mount.mountpoint)?)?;
                files.push(EspFile::host(UEFI_LOADER, &images.uefi));
                write_fat(&disk, &files, time, partition, &staging)?;
            }
            Role::Filesystem(mount) => match mount.fstype {
                FsType::Ext4 => ext4::make(
                    &staging,
                    &Ext4Spec {
                        mountpoint: &mount.mountpoint,
                        tree: tree_of(&mount.mountpoint)?,
                        offset,
                        bytes: partition.size,
                        uuid: &fs_uuid(partition)?,
                        label: mount.format.label.as_deref(),
                        extra_options: &words(mount.format.mkfsoptions.as_deref()),
                        time: inputs.source_date.seconds,
                    },
                )?,
                FsType::Vfat => {
                    let files = esp_files(tree_of(&mount.mountpoint)?)?;
                    write_fat(&disk, &files, time, partition, &staging)?;
                }
                FsType::Xfs => anyhow::bail!(
                    "{}: xfs file systems are not written yet; use --fstype=ext4",
                    mount.mountpoint
                ),
            },
            Role::Swap(format) => swap::write_swap(
                &disk,
                offset,
                partition.size,
                partition
                    .filesystem_uuid
                    .with_context(|| format!("partition {} has no UUID", partition.number))?
                    .bytes(),
                format.label.as_deref(),
            )
            .with_context(|| format!("cannot write the swap area into {}", staging.display()))?,
        }
    }
    disk.sync_all()
        .with_context(|| format!("cannot write {}", staging.display()))?;
    drop(disk);

    match settings.format {
        DiskFormat::Raw => std::fs::rename(&staging, output)
            .with_context(|| format!("cannot move the disk to {}", output.display()))?,
        DiskFormat::Qcow2 { compress } => {
            ui.step(format!(
                "Converting to qcow2{}",
                if compress { ", compressed" } else { "" }
            ));
            qcow2::write_qcow2(
                &staging,
                output,
                &Qcow2Options {
                    compress,
                    ..Qcow2Options::default()
                },
            )?;
        }
    }
    single_file(inputs, output)
}

/// The kernel's path in the image under `/boot`, where GRUB reads it:
/// copied there from the modules directory when the kernel package left
/// it beside its modules (Fedora's, for `kernel-install` to copy).
fn kernel_in_boot(root: &Path, kernel: &Kernel) -> anyhow::Result<String> {
    let in_boot = format!("/boot/vmlinuz-{}", kernel.version);
    let target = inside(root, &in_boot)?;
    if kernel.image != target {
        std::fs::create_dir_all(inside(root, "/boot")?).context("cannot create /boot")?;
        std::fs::copy(&kernel.image, &target).with_context(|| {
            format!(
                "cannot copy the kernel {} to {in_boot}",
                kernel.image.display()
            )
        })?;
    }
    Ok(in_boot)
}

/// The initramfs's path in the image under `/boot`: the one the image's
/// own generator made, or, when the image has no generator, livecompose's
/// initrd in its disk-root mode, written there.
fn initramfs_in_boot(inputs: &OutputInputs<'_>, kernel: &Kernel) -> anyhow::Result<String> {
    let in_boot = format!("/boot/{}", inputs.distro.initramfs_name(&kernel.version));
    let target = inside(inputs.root, &in_boot)?;
    if target.is_file() {
        return Ok(in_boot);
    }
    if has_initramfs_generator(inputs.resolution, inputs.distro) {
        anyhow::bail!(
            "the image has an initramfs generator ({}), but it made no {in_boot} for Linux {}; see the build log",
            inputs.distro.initramfs_generators().join(" or "),
            kernel.version
        );
    }
    inputs.ui.step(format!(
        "The image has no initramfs generator ({}): it boots through livecompose's initrd",
        inputs.distro.initramfs_generators().join(", ")
    ));
    let initrd = initrd::build(
        inputs.root,
        inputs.assets.path(AssetFile::Busybox)?,
        &InitrdOptions {
            output: target,
            mode: InitrdMode::DiskRoot,
        },
    )
    .context("cannot compose livecompose's initrd for the disk")?;
    inputs.ui.step(format!(
        "Initrd for Linux {}: {} modules, {}",
        initrd.kernel_version,
        initrd.modules.len(),
        human_bytes(initrd.size)
    ));
    Ok(in_boot)
}

/// The GRUB images, made by the image's own `grub-mkimage`.
struct GrubImages {
    /// core.img for the BIOS boot partition.
    bios_core: PathBuf,
    /// The UEFI executable for the ESP.
    uefi: PathBuf,
}

/// Copies GRUB's module directories where GRUB looks for them at boot (as
/// `grub-install` does) and makes the two images with the configuration
/// that finds `grub_dir_on_fs`.
fn make_grub_images(
    inputs: &OutputInputs<'_>,
    grub: &GrubLayout,
    grub_dir_on_fs: &str,
) -> anyhow::Result<GrubImages> {
    let root = inputs.root;
    let boot_dir = inside(root, grub.boot_dir)?;
    for (modules, platform) in [
        (grub.pc_modules, "i386-pc"),
        (grub.efi_modules, "x86_64-efi"),
    ] {
        let source = inside(root, modules)?;
        let target = boot_dir.join(platform);
        std::fs::create_dir_all(&target)
            .with_context(|| format!("cannot create {}", target.display()))?;
        for entry in std::fs::read_dir(&source)
            .with_context(|| format!("the image has no GRUB modules in {modules}"))?
        {
            let entry = entry.with_context(|| format!("cannot read {}", source.display()))?;
            let name = entry.file_name();
            let regular = entry.file_type().is_ok_and(|kind| kind.is_file());
            let wanted = regular
                && Path::new(&name)
                    .extension()
                    .is_some_and(|ext| ext == "mod" || ext == "lst");
            if wanted {
                std::fs::copy(entry.path(), target.join(&name))
                    .with_context(|| format!("cannot copy {}", entry.path().display()))?;
            }
        }
    }
    let scratch = "/tmp/livecompose-grub";
    let scratch_host = inside(root, scratch)?;
    std::fs::create_dir_all(&scratch_host)
        .with_context(|| format!("cannot create {}", scratch_host.display()))?;
    write_file(
        &scratch_host.join("early.cfg"),
        grub::early_config(grub_dir_on_fs).as_bytes(),
    )?;
    for (format, modules, file, extra) in [
        ("i386-pc", grub.pc_modules, "core.img", &["biosdisk"][..]),
        (
            "x86_64-efi",
            grub.efi_modules,
            "bootx64.efi",
            &["efi_gop"][..],
        ),
    ] {
        let out = format!("{scratch}/{file}");
        let early = format!("{scratch}/early.cfg");
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("-O"),
            OsStr::new(format),
            OsStr::new("-d"),
            OsStr::new(modules),
            OsStr::new("-o"),
            OsStr::new(&out),
            OsStr::new("-c"),
            OsStr::new(&early),
            OsStr::new("-p"),
            OsStr::new(grub_dir_on_fs),
        ];
        args.extend(extra.iter().map(OsStr::new));
        args.extend(grub::CORE_MODULES.iter().map(OsStr::new));
        inputs
            .chroot
            .run(
                inputs.chroot.command(grub.mkimage, &args),
                &format!("grub-mkimage -O {format}"),
            )
            .with_context(|| format!("the image's {} failed; see the build log", grub.mkimage))?;
    }
    // Out of the image: they go into the disk, not its file systems.
    let images = GrubImages {
        bios_core: inputs.work.join("core.img"),
        uefi: inputs.work.join("bootx64.efi"),
    };
    std::fs::rename(scratch_host.join("core.img"), &images.bios_core)
        .context("cannot move GRUB's core image out of the root")?;
    std::fs::rename(scratch_host.join("bootx64.efi"), &images.uefi)
        .context("cannot move GRUB's UEFI image out of the root")?;
    std::fs::remove_dir_all(&scratch_host)
        .with_context(|| format!("cannot remove {}", scratch_host.display()))?;
    Ok(images)
}

/// Moves the files of every mount point but `/` out of the root into a
/// tree of its own (deepest first, so `/boot/efi` leaves `/boot`'s tree),
/// leaving the empty mount point behind; returns each mount point's tree.
fn split_root(
    root: &Path,
    work: &Path,
    mountpoints: &[&str],
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut ordered: Vec<&str> = mountpoints.iter().copied().filter(|m| *m != "/").collect();
    ordered.sort_by_key(|m| std::cmp::Reverse(m.matches('/').count()));
    let mut trees = vec![("/".to_owned(), root.to_owned())];
    let parent = work.join("filesystems");
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    for (index, mountpoint) in ordered.iter().enumerate() {
        let source = inside(root, mountpoint)?;
        let tree = parent.join(index.to_string());
        std::fs::create_dir(&tree).with_context(|| format!("cannot create {}", tree.display()))?;
        if source.is_dir() {
            // The mount point's own mode and owner become the file system root's.
            let meta = std::fs::metadata(&source)
                .with_context(|| format!("cannot read {}", source.display()))?;
            std::fs::set_permissions(&tree, meta.permissions())
                .with_context(|| format!("cannot set the mode of {}", tree.display()))?;
            for entry in std::fs::read_dir(&source)
                .with_context(|| format!("cannot read {}", source.display()))?
            {
                let entry = entry.with_context(|| format!("cannot read {}", source.display()))?;
                std::fs::rename(entry.path(), tree.join(entry.file_name())).with_context(|| {
                    format!("cannot move {} to its file system", entry.path().display())
                })?;
            }
        } else {
            std::fs::create_dir_all(&source)
                .with_context(|| format!("cannot create {}", source.display()))?;
        }
        trees.push(((*mountpoint).to_owned(), tree));
    }
    Ok(trees)
}

/// `path` (absolute in the image) under `root`, refused when any existing
/// component is a symbolic link: the image's files come from packages, and
/// a link there must never lead the build to the host's files.
fn inside(root: &Path, path: &str) -> anyhow::Result<PathBuf> {
    let mut at = root.to_owned();
    for component in path.split('/').filter(|c| !c.is_empty()) {
        at.push(component);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => anyhow::bail!(
                "{path} is under a symbolic link in the image ({}); a disk image needs it to be a directory",
                at.strip_prefix(root).unwrap_or(&at).display()
            ),
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", at.display()));
            }
        }
    }
    Ok(at)
}

/// The bytes the files under `tree` take on disk (each hard-linked file
/// once), and 256 bytes of inode per entry.
fn tree_bytes(tree: &Path) -> anyhow::Result<u64> {
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0u64;
    let mut pending = vec![tree.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            let meta = entry
                .metadata()
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            total += 256;
            if meta.is_dir() {
                pending.push(entry.path());
                total += 4096;
            } else if meta.nlink() < 2 || seen.insert((meta.dev(), meta.ino())) {
                total += meta.blocks() * 512;
            }
        }
    }
    Ok(total)
}

/// The partition mounted at `mountpoint`.
fn filesystem<'a>(layout: &'a DiskLayout, mountpoint: &str) -> anyhow::Result<&'a PlacedPartition> {
    layout
        .partitions
        .iter()
        .find(|p| match &p.role {
            Role::Filesystem(mount) | Role::Esp(mount) => mount.mountpoint == mountpoint,
            Role::BiosBoot | Role::Swap(_) => false,
        })
        .with_context(|| format!("the layout has no file system at {mountpoint}"))
}

/// The UUID a partition's file system gets, as `/etc/fstab` and GRUB name
/// it: standard text for ext4 and swap, the 32-bit serial for FAT.
fn fs_uuid(partition: &PlacedPartition) -> anyhow::Result<String> {
    let uuid = partition
        .filesystem_uuid
        .with_context(|| format!("partition {} has no file system", partition.number))?;
    Ok(match &partition.role {
        Role::Esp(_) => fat_uuid(fat_volume_id(uuid)),
        Role::Filesystem(mount) if mount.fstype == FsType::Vfat => fat_uuid(fat_volume_id(uuid)),
        _ => uuid.to_string(),
    })
}

/// A FAT volume's serial number: the first 32 bits of its UUID.
fn fat_volume_id(uuid: Guid) -> u32 {
    let [a, b, c, d, ..] = uuid.bytes();
    u32::from_be_bytes([a, b, c, d])
}

/// How blkid and `/etc/fstab` write a FAT serial number.
fn fat_uuid(volume_id: u32) -> String {
    format!("{:04X}-{:04X}", volume_id >> 16, volume_id & 0xFFFF)
}

/// `/etc/fstab`: every file system and swap area by UUID, root first.
fn fstab(layout: &DiskLayout) -> anyhow::Result<String> {
    let mut lines = vec!["# Written by livecompose: the disk's file systems by UUID.".to_owned()];
    for partition in &layout.partitions {
        let line = match &partition.role {
            Role::BiosBoot => continue,
            Role::Esp(mount) => format!(
                "UUID={}\t{}\tvfat\t{}\t0\t2",
                fs_uuid(partition)?,
                mount.mountpoint,
                mount.format.fsoptions.as_deref().unwrap_or("umask=0077")
            ),
            Role::Filesystem(mount) => {
                let is_root = mount.mountpoint == "/";
                // The root grows with its partition (cloud-init's growpart
                // enlarges the partition; systemd then the file system), as
                // on Debian's cloud images.
                let default = if is_root {
                    "defaults,x-systemd.growfs"
                } else {
                    "defaults"
                };
                format!(
                    "UUID={}\t{}\t{}\t{}\t0\t{}",
                    fs_uuid(partition)?,
                    mount.mountpoint,
                    mount.fstype.name(),
                    mount.format.fsoptions.as_deref().unwrap_or(default),
                    if is_root { 1 } else { 2 }
                )
            }
            Role::Swap(format) => format!(
                "UUID={}\tnone\tswap\t{}\t0\t0",
                fs_uuid(partition)?,
                format.fsoptions.as_deref().unwrap_or("sw")
            ),
        };
        lines.push(line);
    }
    Ok(lines.join("\n") + "\n")
}

/// Every regular file under `tree`, as FAT files (owners and modes do not
/// exist there).
fn esp_files(tree: &Path) -> anyhow::Result<Vec<EspFile>> {
    let mut files = Vec::new();
    let mut pending = vec![tree.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .with_context(|| format!("cannot read {}", path.display()))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let relative = path.strip_prefix(tree).unwrap_or(&path);
                files.push(EspFile::host(&relative.to_string_lossy(), &path));
            } else {
                // FAT has no links or special files; a link could lead
                // outside the image.
                anyhow::bail!(
                    "{} is not a regular file or directory, which a FAT file system cannot hold",
                    path.display()
                );
            }
        }
    }
    Ok(files)
}

/// A FAT file system filling `partition`, written straight into the disk
/// at its offset.
fn write_fat(
    disk: &File,
    files: &[EspFile],
    time: hadris_fs::DateTime,
    partition: &PlacedPartition,
    staging: &Path,
) -> anyhow::Result<()> {
    let uuid = partition
        .filesystem_uuid
        .with_context(|| format!("partition {} has no file system", partition.number))?;
    let mut out = std::io::BufWriter::with_capacity(
        1 << 20,
        SparseWriterAt {
            disk,
            at: partition.first_lba * SECTOR,
        },
    );
    image::write_fat_partition(
        files,
        time,
        fat_volume_id(uuid),
        partition.size,
        &mut out,
        staging,
    )?;
    Ok(())
}

/// Writes a stream into the disk from an offset on, leaving the all-zero
/// chunks unwritten: the new disk file reads as zeros there already, and
/// stays sparse.
struct SparseWriterAt<'a> {
    disk: &'a File,
    at: u64,
}

impl std::io::Write for SparseWriterAt<'_> {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        if buffer.iter().any(|byte| *byte != 0) {
            self.disk.write_all_at(buffer, self.at)?;
        }
        self.at += buffer.len() as u64;
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `--mkfsoptions`, split into words.
fn words(options: Option<&str>) -> Vec<String> {
    options
        .map(|text| text.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_serial_numbers_read_as_blkid_prints_them() {
        let uuid = Guid::from_bytes([
            0xAB, 0xCD, 0x12, 0x34, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 0,
        ]);
        assert_eq!(fat_volume_id(uuid), 0xABCD_1234);
        assert_eq!(fat_uuid(0xABCD_1234), "ABCD-1234");
        assert_eq!(fat_uuid(0x0000_00FF), "0000-00FF");
    }

    #[test]
    fn each_mount_point_takes_its_files_deepest_first_and_stays_as_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let work = dir.path().join("work");
        for path in ["boot/efi/EFI", "var/lib", "etc"] {
            std::fs::create_dir_all(root.join(path)).unwrap();
        }
        std::fs::write(root.join("boot/vmlinuz"), b"kernel").unwrap();
        std::fs::write(root.join("boot/efi/EFI/x"), b"efi").unwrap();
        std::fs::write(root.join("var/lib/y"), b"var").unwrap();
        std::fs::write(root.join("etc/z"), b"etc").unwrap();
        std::fs::create_dir(&work).unwrap();
        let trees =
            split_root(&root, &work, &["/", "/boot", "/boot/efi", "/var", "/home"]).unwrap();
        let tree = |mountpoint: &str| {
            trees
                .iter()
                .find(|(m, _)| m == mountpoint)
                .map(|(_, t)| t.clone())
                .unwrap()
        };
        assert_eq!(tree("/"), root);
        assert!(tree("/boot/efi").join("EFI/x").is_file());
        assert!(tree("/boot").join("vmlinuz").is_file());
        assert!(
            tree("/boot").join("efi").is_dir(),
            "/boot/efi stays a mount point"
        );
        assert!(!tree("/boot").join("efi/EFI").exists());
        assert!(tree("/var").join("lib/y").is_file());
        assert!(root.join("etc/z").is_file());
        for mountpoint in ["boot", "var", "home"] {
            let left = root.join(mountpoint);
            assert!(left.is_dir(), "{mountpoint}");
            assert_eq!(std::fs::read_dir(&left).unwrap().count(), 0, "{mountpoint}");
        }
    }

    #[test]
    fn a_symbolic_link_on_the_way_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("home")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("etc/fstab")).unwrap();
        assert_eq!(
            inside(&root, "/etc/hostname").unwrap(),
            root.join("etc/hostname")
        );
        assert_eq!(inside(&root, "/var/new").unwrap(), root.join("var/new"));
        for linked in ["/home", "/home/user", "/etc/fstab"] {
            let error = inside(&root, linked).unwrap_err().to_string();
            assert!(error.contains("symbolic link"), "{linked}: {error}");
        }
    }

    #[test]
    fn hard_links_count_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![1u8; 64 << 10]).unwrap();
        let one = tree_bytes(dir.path()).unwrap();
        std::fs::hard_link(dir.path().join("a"), dir.path().join("b")).unwrap();
        let linked = tree_bytes(dir.path()).unwrap();
        assert_eq!(
            linked,
            one + 256,
            "a second name costs an entry, not the data"
        );
        assert!(one >= 64 << 10);
    }

    #[test]
    fn a_sparse_writer_writes_at_its_offset_and_leaves_zeros_as_holes() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        let disk = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        disk.set_len(64 << 20).unwrap();
        let mut out = SparseWriterAt {
            disk: &disk,
            at: 1 << 20,
        };
        out.write_all(b"data").unwrap();
        out.write_all(&vec![0u8; 32 << 20]).unwrap();
        out.write_all(b"tail").unwrap();
        drop(disk);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1 << 20..(1 << 20) + 4], b"data");
        let tail = (1 << 20) + 4 + (32 << 20);
        assert_eq!(&bytes[tail..tail + 4], b"tail");
        assert!(bytes[..1 << 20].iter().all(|b| *b == 0));
        // The 32 MiB of zeros took no space.
        let allocated = std::fs::metadata(&path).unwrap().blocks() * 512;
        assert!(allocated < 1 << 20, "{allocated} bytes allocated");
    }
}
