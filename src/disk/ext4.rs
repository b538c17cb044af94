//! ext4 file systems made by e2fsprogs' `mke2fs -d` straight into the disk
//! image at the partition's offset: no loop device, no mount, the files
//! copied with their owners, modes, hard links and xattrs.
//!
//! The same tree gives the same bytes: the UUID is given, the directory
//! hash seed derived from it, every time e2fsprogs takes from the clock
//! is the build's (`E2FSPROGS_FAKE_TIME`), and the access and change times
//! it copies from the tree (before 1.47.1 it copies them unclamped, and a
//! change time cannot be set on the tree) are set to the build's time
//! afterwards with `debugfs`.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::process::Command;

use sha2::{Digest as _, Sha256};

use crate::source_date::SOURCE_DATE_EPOCH;

/// e2fsprogs' program, the one host tool disk images need.
pub const MKE2FS: &str = "mke2fs";
/// e2fsprogs' file system debugger, which sets inode fields.
const DEBUGFS: &str = "debugfs";
/// Makes e2fsprogs take this time (seconds) instead of the clock's.
const FAKE_TIME: &str = "E2FSPROGS_FAKE_TIME";
/// The first inode an ext4 file system gives a file (`s_first_ino` of
/// revision 1 file systems, which mke2fs makes); the ones before are
/// reserved, the root directory (2) among them.
const FIRST_INODE: u32 = 11;
const ROOT_INODE: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum Ext4Error {
    #[error("disk images need mke2fs from the host's e2fsprogs (Debian package e2fsprogs): {0}")]
    Missing(std::io::Error),
    #[error("{program} failed for {mountpoint}: {output}")]
    Failed {
        program: &'static str,
        mountpoint: String,
        output: String,
    },
    #[error("cannot {what} for {mountpoint}: {source}")]
    Io {
        what: &'static str,
        mountpoint: String,
        source: std::io::Error,
    },
}

/// Checks that `mke2fs` runs, before a build downloads anything.
pub fn check_host() -> Result<(), Ext4Error> {
    Command::new(MKE2FS)
        .arg("-V")
        .output()
        .map(drop)
        .map_err(Ext4Error::Missing)
}

/// What one ext4 file system is made of.
pub struct Ext4Spec<'a> {
    /// Names the file system in errors.
    pub mountpoint: &'a str,
    /// The tree copied into it; its root directory becomes the file
    /// system's.
    pub tree: &'a Path,
    pub offset: u64,
    pub bytes: u64,
    pub uuid: &'a str,
    pub label: Option<&'a str>,
    /// The kickstart's `--mkfsoptions`, word by word.
    pub extra_options: &'a [String],
    /// The build's time, in seconds since 1970: every time in the file
    /// system not older (modification times are the tree's, clamped).
    pub time: i64,
}

/// The directory hash seed of the file system `uuid` names: a stable hash
/// of it, so the same layout gives the same htree, and file systems apart
/// get seeds apart.
pub fn hash_seed(uuid: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"livecompose ext4 hash seed\0")
        .chain_update(uuid)
        .finalize();
    let mut seed = [0u8; 16];
    seed.copy_from_slice(&digest[..16]);
    crate::derived_uuid::hyphenated(&seed)
}

/// Makes the file system inside `disk`.
pub fn make(disk: &Path, spec: &Ext4Spec<'_>) -> Result<(), Ext4Error> {
    let mut command = Command::new(MKE2FS);
    command
        .args(["-q", "-F", "-t", "ext4"])
        // GRUB 2.06 cannot read these two features, which e2fsprogs 1.47
        // turns on by default where the host's mke2fs.conf does not say
        // otherwise; the boot files may sit on this file system.
        .args(["-O", "^metadata_csum_seed,^orphan_file"])
        .arg("-U")
        .arg(spec.uuid)
        .arg("-E")
        .arg(format!(
            "offset={},root_owner=0:0,hash_seed={}",
            spec.offset,
            hash_seed(spec.uuid)
        ))
        .arg("-d")
        .arg(spec.tree)
        .args(spec.extra_options);
    if let Some(label) = spec.label {
        command.arg("-L").arg(label);
    }
    // The size in 1 KiB blocks: mke2fs's unit when none is given.
    command.arg(disk).arg((spec.bytes / 1024).to_string());
    // e2fsprogs 1.47.1 and later also clamp the copied times to it.
    command.env(SOURCE_DATE_EPOCH, spec.time.to_string());
    run(command, MKE2FS, spec, None)?;
    set_inode_times(disk, spec)
}

/// Runs an e2fsprogs `command` with its clock at the build's time. With
/// a `banner`, any line on its standard error that does not start with it
/// is a failure too: debugfs reports a failed command of its script there,
/// yet exits 0.
fn run(
    mut command: Command,
    program: &'static str,
    spec: &Ext4Spec<'_>,
    banner: Option<&str>,
) -> Result<(), Ext4Error> {
    command.env(FAKE_TIME, spec.time.to_string());
    let output = command.output().map_err(Ext4Error::Missing)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let complained = banner.is_some_and(|banner| {
        stderr
            .lines()
            .any(|line| !line.is_empty() && !line.starts_with(banner))
    });
    if output.status.success() && !complained {
        return Ok(());
    }
    Err(Ext4Error::Failed {
        program,
        mountpoint: spec.mountpoint.to_owned(),
        output: stderr.trim().to_owned(),
    })
}

/// Sets the access and change time of every inode `mke2fs -d` filled to
/// the build's time. A fresh file system hands inodes out in order, so
/// those are the root directory and the used ones from [`FIRST_INODE`] on.
fn set_inode_times(disk: &Path, spec: &Ext4Spec<'_>) -> Result<(), Ext4Error> {
    let io = |what| {
        move |source| Ext4Error::Io {
            what,
            mountpoint: spec.mountpoint.to_owned(),
            source,
        }
    };
    let used = used_inodes(disk, spec.offset).map_err(io("read its superblock"))?;
    let mut text = String::new();
    for inode in std::iter::once(ROOT_INODE).chain(FIRST_INODE..=used) {
        for field in ["atime", "ctime"] {
            text.push_str(&format!("sif <{inode}> {field} @{}\n", spec.time));
        }
    }
    let mut script = tempfile::NamedTempFile::new().map_err(io("write a debugfs script"))?;
    script
        .write_all(text.as_bytes())
        .map_err(io("write a debugfs script"))?;
    let mut command = Command::new(DEBUGFS);
    command
        .arg("-w")
        .arg("-f")
        .arg(script.path())
        // The unix I/O manager's own option: the file system starts there.
        .arg(format!("{}?offset={}", disk.display(), spec.offset));
    run(command, DEBUGFS, spec, Some("debugfs "))
}

/// The highest inode number in use, from the superblock (1024 bytes into
/// the file system): the inode count less the free ones.
fn used_inodes(disk: &Path, offset: u64) -> std::io::Result<u32> {
    let mut superblock = [0u8; 20];
    File::open(disk)?.read_exact_at(&mut superblock, offset + 1024)?;
    let field = |at: usize| {
        u32::from_le_bytes([
            superblock[at],
            superblock[at + 1],
            superblock[at + 2],
            superblock[at + 3],
        ])
    };
    let (count, free) = (field(0), field(16));
    Ok(count.saturating_sub(free))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    const UUID: &str = "0b6a3c43-2e4f-4f4b-9d55-0c1c6f2b7a11";
    const TIME: i64 = 1_700_000_000;

    /// The same small tree, made afresh: its change and access times are
    /// the clock's, its modification times clamped, as in a build.
    fn tree(dir: &Path) {
        std::fs::create_dir_all(dir.join("etc/sub")).unwrap();
        std::fs::write(dir.join("etc/hostname"), "image\n").unwrap();
        std::fs::write(dir.join("etc/sub/file"), vec![7u8; 10_000]).unwrap();
        std::os::unix::fs::symlink("hostname", dir.join("etc/link")).unwrap();
        std::fs::hard_link(dir.join("etc/hostname"), dir.join("hard")).unwrap();
        crate::configure::clamp_times(
            &crate::install::RootFs::open(dir).unwrap(),
            &crate::source_date::SourceDate::for_build(None, [TIME]),
        )
        .unwrap();
    }

    fn make_disk(work: &Path, name: &str, uuid: &str) -> Vec<u8> {
        let source = work.join(format!("{name}-tree"));
        tree(&source);
        // Some of the bytes land in another second of the clock.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let disk = work.join(format!("{name}.raw"));
        let offset = 1 << 20;
        File::create(&disk)
            .unwrap()
            .set_len(offset + (8 << 20))
            .unwrap();
        make(
            &disk,
            &Ext4Spec {
                mountpoint: "/",
                tree: &source,
                offset,
                bytes: 8 << 20,
                uuid,
                label: Some("root"),
                extra_options: &[],
                time: TIME,
            },
        )
        .unwrap();
        std::fs::read(&disk).unwrap()
    }

    #[test]
    fn the_same_tree_gives_the_same_bytes_and_another_uuid_others() {
        let work = tempfile::tempdir().unwrap();
        let first = make_disk(work.path(), "first", UUID);
        let again = make_disk(work.path(), "again", UUID);
        let (ctime_first, ctime_again) = (
            std::fs::metadata(work.path().join("first-tree/etc/hostname"))
                .unwrap()
                .ctime(),
            std::fs::metadata(work.path().join("again-tree/etc/hostname"))
                .unwrap()
                .ctime(),
        );
        assert_ne!(ctime_first, ctime_again, "the trees differ in change time");
        assert!(first == again, "two file systems from the same tree differ");
        let other = make_disk(work.path(), "other", "5d1e7f20-8a77-4b1e-8c3b-2f5f9e6d4c01");
        assert!(first != other);
        // The host's e2fsprogs reads the times back as the build's.
        let stat = Command::new(DEBUGFS)
            .arg("-R")
            .arg("stat /etc/sub/file")
            .arg(format!(
                "{}?offset={}",
                work.path().join("first.raw").display(),
                1 << 20
            ))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&stat.stdout);
        for field in [" ctime: ", " atime: ", " mtime: ", "crtime: "] {
            let line = text
                .lines()
                .find(|line| line.starts_with(field))
                .unwrap_or_else(|| panic!("no {field} in {text}"));
            assert!(
                line.contains("0x6553f100:"),
                "{line} is not the build's time"
            );
        }
    }

    #[test]
    fn hash_seeds_are_stable_per_uuid() {
        assert_eq!(hash_seed(UUID), hash_seed(UUID));
        assert_ne!(
            hash_seed(UUID),
            hash_seed("5d1e7f20-8a77-4b1e-8c3b-2f5f9e6d4c01")
        );
        assert_eq!(hash_seed(UUID).len(), 36);
        assert_ne!(hash_seed(UUID), UUID);
    }
}
