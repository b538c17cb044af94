//! The EFI System Partition writer against its peers: `fsck.fat -n`
//! (dosfstools) must find nothing to fix, and mtools must read every file
//! back byte for byte under its long name.

use std::fs;
use std::path::Path;
use std::process::Command;

use hadris_fs::DateTime;
use livecompose::image::{EspFile, ImageError, write_esp};

fn tool(name: &str, package: &str, args: &[&str]) -> std::process::Output {
    Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {name} ({e}): apt-get install {package} (tests/run does)")
    })
}

fn fsck_clean(image: &Path) {
    let out = tool(
        "fsck.fat",
        "dosfstools",
        &["-n", "-v", image.to_str().unwrap()],
    );
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fsck.fat -n failed:\n{report}");
    assert!(
        !report.contains("Dirty") && !report.contains("Expected"),
        "{report}"
    );
}

fn mcopy(image: &Path, path: &str) -> Vec<u8> {
    let out = tool(
        "mcopy",
        "mtools",
        &[
            "-n",
            "-i",
            image.to_str().unwrap(),
            &format!("::{path}"),
            "-",
        ],
    );
    assert!(
        out.status.success(),
        "mcopy {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn time() -> DateTime {
    DateTime::from_unix_seconds(1_700_000_000).unwrap()
}

#[test]
fn esp_passes_fsck_and_mtools_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    // Sizes around cluster boundaries, an empty file, and a file large
    // enough to need clusters bigger than one sector.
    let big: Vec<u8> = (0..40_000_000u32)
        .map(|i| (i * 7 + i / 4096) as u8)
        .collect();
    let big_path = dir.path().join("big");
    fs::write(&big_path, &big).unwrap();
    let files = [
        EspFile::bytes("EFI/BOOT/BOOTX64.EFI", vec![0x4D; 512]),
        EspFile::bytes("loader/loader.conf", "timeout 3\ndefault live.conf\n"),
        EspFile::bytes("loader/entries/live.conf", "title live\n"),
        EspFile::bytes(
            "loader/entries/live-toram.conf",
            "title a name longer than thirteen\n",
        ),
        EspFile::bytes("loader/entries/empty", Vec::new()),
        EspFile::host("live/initrd.img", &big_path),
        EspFile::bytes("live/vmlinuz", vec![1; 513]),
    ];
    let image = dir.path().join("esp.img");
    let size = write_esp(&files, time(), &image).unwrap();
    assert_eq!(size, fs::metadata(&image).unwrap().len());
    fsck_clean(&image);

    let listing = tool(
        "mdir",
        "mtools",
        &["-/", "-i", image.to_str().unwrap(), "::"],
    );
    let listing = String::from_utf8_lossy(&listing.stdout);
    // mdir shows 8.3 names as base and extension in columns, long names after.
    for name in [
        "BOOTX64  EFI",
        "loader.conf",
        "live.conf",
        "live-toram.conf",
        "initrd.img",
        "vmlinuz",
    ] {
        assert!(listing.contains(name), "mdir lacks {name}:\n{listing}");
    }
    assert_eq!(mcopy(&image, "EFI/BOOT/BOOTX64.EFI"), vec![0x4D; 512]);
    assert_eq!(
        mcopy(&image, "loader/entries/live-toram.conf"),
        b"title a name longer than thirteen\n"
    );
    assert_eq!(
        mcopy(&image, "loader/loader.conf"),
        b"timeout 3\ndefault live.conf\n"
    );
    assert!(mcopy(&image, "loader/entries/empty").is_empty());
    assert_eq!(mcopy(&image, "live/vmlinuz"), vec![1; 513]);
    assert!(
        mcopy(&image, "live/initrd.img") == big,
        "initrd.img differs"
    );

    // The same input gives the same bytes.
    let again = dir.path().join("again.img");
    write_esp(&files, time(), &again).unwrap();
    assert!(fs::read(&image).unwrap() == fs::read(&again).unwrap());
}

#[test]
fn smallest_esp_is_still_fat16_and_clean() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("esp.img");
    write_esp(&[EspFile::bytes("a.txt", "x")], time(), &image).unwrap();
    fsck_clean(&image);
    assert_eq!(mcopy(&image, "a.txt"), b"x");
}

#[test]
fn bad_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("esp.img");
    for files in [
        vec![EspFile::bytes("a/../b", "")],
        vec![EspFile::bytes("a//b", "")],
        vec![EspFile::bytes("a:b", "")],
        vec![EspFile::bytes("a", ""), EspFile::bytes("a/b", "")],
        vec![EspFile::bytes("a", ""), EspFile::bytes("a", "")],
    ] {
        assert!(matches!(
            write_esp(&files, time(), &image),
            Err(ImageError::EspName { .. })
        ));
    }
}

#[test]
fn a_partition_sized_fat_fills_its_bytes_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("grubx64.efi");
    fs::write(&source, vec![0x5Au8; 300_000]).unwrap();
    let files = [
        EspFile::host("EFI/BOOT/BOOTX64.EFI", &source),
        EspFile::bytes(
            "EFI/debian/grub.cfg",
            b"search --file /boot/grub/grub.cfg\n".to_vec(),
        ),
    ];
    let image = dir.path().join("esp.img");
    let bytes = 124 << 20;
    let mut out = std::io::BufWriter::new(fs::File::create(&image).unwrap());
    let written = livecompose::image::write_fat_partition(
        &files,
        time(),
        0xABCD_1234,
        bytes,
        &mut out,
        &image,
    )
    .unwrap();
    drop(out);
    assert!(written <= bytes && written > bytes - (1 << 20), "{written}");
    assert_eq!(fs::metadata(&image).unwrap().len(), written);
    fsck_clean(&image);
    assert_eq!(
        mcopy(&image, "/EFI/BOOT/BOOTX64.EFI"),
        vec![0x5Au8; 300_000]
    );
    let serial = tool(
        "blkid",
        "util-linux",
        &["-o", "value", "-s", "UUID", image.to_str().unwrap()],
    );
    assert_eq!(String::from_utf8_lossy(&serial.stdout).trim(), "ABCD-1234");
}
