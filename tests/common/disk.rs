//! Disk images as the end-to-end tests build and read them: a build kept
//! for the test process's life, the partition table as `sfdisk` reads it,
//! a boot from the disk to a line of the console.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{boot_to, build_image, run};

pub struct Built {
    pub dir: tempfile::TempDir,
    pub image: PathBuf,
}

/// `kickstart` built with `extra` into a directory removed when the test
/// process exits; it must not warn.
pub fn build(kickstart: &str, label: &str, extra: &[&str], extension: &str) -> Built {
    let dir = super::static_tempdir();
    let stderr = build_image(Path::new(kickstart), label, dir.path(), extra);
    assert!(
        !stderr.to_lowercase().contains("warning"),
        "{kickstart} warns:\n{stderr}"
    );
    let image = dir.path().join(format!("{label}.{extension}"));
    Built { dir, image }
}

#[derive(Debug)]
pub struct Partition {
    pub start: u64,
    pub size: u64,
    pub kind: String,
}

/// The partitions as sfdisk reads them (sectors), after `sfdisk --verify`
/// found nothing wrong.
pub fn partitions(image: &Path) -> Vec<Partition> {
    let verify = Command::new("sfdisk")
        .arg("--verify")
        .arg(image)
        .output()
        .expect("sfdisk (Debian package fdisk)");
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{report}");
    assert!(report.contains("No errors detected"), "{report}");
    let json: serde_json::Value =
        serde_json::from_str(&run(Command::new("sfdisk").arg("--json").arg(image)))
            .expect("sfdisk --json");
    json["partitiontable"]["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| Partition {
            start: p["start"].as_u64().expect("start"),
            size: p["size"].as_u64().expect("size"),
            kind: p["type"].as_str().expect("type").to_lowercase(),
        })
        .collect()
}

/// Boots `image` from the disk with `firmware` until the console shows
/// `expect`; the console log goes beside the image.
pub fn boot(image: &Path, firmware: &str, expect: &str) {
    let log = image.with_extension(format!("{firmware}.console.log"));
    boot_to(image, firmware, "disk", expect, &log);
}
