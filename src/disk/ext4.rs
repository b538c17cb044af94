//! ext4 file systems made by e2fsprogs' `mke2fs -d` straight into the disk
//! image at the partition's offset: no loop device, no mount, the files
//! copied with their owners, modes, hard links and xattrs.

use std::path::Path;
use std::process::Command;

/// e2fsprogs' program, the one host tool disk images need.
pub const MKE2FS: &str = "mke2fs";

#[derive(Debug, thiserror::Error)]
pub enum Ext4Error {
    #[error("disk images need mke2fs from the host's e2fsprogs (Debian package e2fsprogs): {0}")]
    Missing(std::io::Error),
    #[error("mke2fs failed for {mountpoint}: {output}")]
    Failed { mountpoint: String, output: String },
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
        .arg(format!("offset={},root_owner=0:0", spec.offset))
        .arg("-d")
        .arg(spec.tree)
        .args(spec.extra_options);
    if let Some(label) = spec.label {
        command.arg("-L").arg(label);
    }
    // The size in 1 KiB blocks: mke2fs's unit when none is given.
    command.arg(disk).arg((spec.bytes / 1024).to_string());
    let output = command.output().map_err(Ext4Error::Missing)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Ext4Error::Failed {
            mountpoint: spec.mountpoint.to_owned(),
            output: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
