//! The qcow2 writer checked against qemu-img (Debian package qemu-utils): for several
//! raw disks, plain and compressed, `qemu-img check` finds no errors, leaks or
//! corruptions, `qemu-img info` reports the virtual size, the format and compat 1.1,
//! and `qemu-img compare` sees the same disk as the raw file. A missing qemu-img is a
//! failure that names the package to install.

mod common;

use std::fs::{self, File};
use std::num::NonZeroUsize;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::require;

use livecompose::disk::qcow2::{Qcow2Error, Qcow2Options, Qcow2Stats, read_header, write_qcow2};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// qemu-img's exit code and standard output.
fn qemu_img(args: &[&str]) -> (i32, String) {
    require("qemu-img", "qemu-utils");
    let output = Command::new("qemu-img")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("qemu-img {args:?}: {e}"));
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// The number after `"key": ` in qemu-img's JSON, if the key is there.
fn json_number(json: &str, key: &str) -> Option<u64> {
    let start = json.find(&format!("\"{key}\": "))? + key.len() + 4;
    let digits: String = json[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(digits.parse().expect("a number"))
}

/// xorshift64*: fixed data without a dependency.
struct Rng(u64);

impl Rng {
    fn bytes(&mut self, length: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(length as usize + 8);
        while (out.len() as u64) < length {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            out.extend_from_slice(&self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        out.truncate(length as usize);
        out
    }
}

/// Text that deflates well but not to nothing.
fn text(length: u64, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(length as usize + 64);
    let mut line = seed;
    while (out.len() as u64) < length {
        out.extend_from_slice(
            format!(
                "{line:08}: the quick brown fox jumps over {} lazy dogs\n",
                line % 97
            )
            .as_bytes(),
        );
        line += 1;
    }
    out.truncate(length as usize);
    out
}

/// A sparse raw disk of `size` bytes with `pieces` written at their offsets.
fn raw_disk(dir: &Path, name: &str, size: u64, pieces: &[(u64, Vec<u8>)]) -> PathBuf {
    let path = dir.join(name);
    let file = File::create(&path).expect("create raw disk");
    file.set_len(size).expect("size raw disk");
    for (offset, bytes) in pieces {
        file.write_all_at(bytes, *offset).expect("write raw disk");
    }
    path
}

/// 64 MiB of random data, text, half-and-half megabytes and holes, some pieces
/// starting and ending inside clusters.
fn mixed_disk(dir: &Path) -> PathBuf {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut pieces = Vec::new();
    for mib in 0..64 {
        let offset = mib * MIB;
        match mib % 4 {
            0 => {}
            1 => pieces.push((offset, rng.bytes(MIB))),
            2 => pieces.push((offset + 1000, text(MIB - 5000, mib))),
            _ => {
                pieces.push((offset, rng.bytes(MIB / 2)));
                pieces.push((offset + MIB / 2, text(MIB / 2, mib)));
            }
        }
    }
    raw_disk(dir, "mixed.raw", 64 * MIB, &pieces)
}

fn options(compress: bool) -> Qcow2Options {
    Qcow2Options {
        compress,
        ..Qcow2Options::default()
    }
}

/// Writes `raw` as qcow2 and checks the image with qemu-img and our own header parser.
fn convert_and_check(raw: &Path, options: &Qcow2Options) -> (PathBuf, Qcow2Stats) {
    let suffix = if options.compress { "c" } else { "plain" };
    let image = raw.with_extension(format!("{suffix}.{}.qcow2", options.cluster_bits));
    let stats = write_qcow2(raw, &image, options)
        .unwrap_or_else(|e| panic!("write_qcow2 {}: {e}", raw.display()));
    let image_str = image.to_str().expect("UTF-8 path");
    let raw_str = raw.to_str().expect("UTF-8 path");
    // qemu sees a raw file as whole sectors, the last one zero-padded.
    let raw_size = fs::metadata(raw)
        .expect("raw size")
        .len()
        .next_multiple_of(512);
    assert_eq!(stats.virtual_size, raw_size);
    assert_eq!(
        stats.file_size,
        fs::metadata(&image).expect("image size").len()
    );
    assert!(stats.compressed_clusters <= stats.data_clusters);
    if !options.compress {
        assert_eq!(stats.compressed_clusters, 0);
    }

    let (code, check) = qemu_img(&["check", "--output=json", image_str]);
    assert_eq!(code, 0, "qemu-img check {image_str}:\n{check}");
    assert_eq!(json_number(&check, "check-errors"), Some(0), "{check}");
    assert_eq!(json_number(&check, "leaks").unwrap_or(0), 0, "{check}");
    assert_eq!(
        json_number(&check, "corruptions").unwrap_or(0),
        0,
        "{check}"
    );
    // qemu-img leaves out the counts that are zero.
    assert_eq!(
        json_number(&check, "allocated-clusters").unwrap_or(0),
        stats.data_clusters,
        "{check}"
    );
    assert_eq!(
        json_number(&check, "compressed-clusters").unwrap_or(0),
        stats.compressed_clusters,
        "{check}"
    );
    assert_eq!(
        json_number(&check, "image-end-offset"),
        Some(stats.file_size),
        "{check}"
    );

    let (code, info) = qemu_img(&["info", "--output=json", image_str]);
    assert_eq!(code, 0, "qemu-img info {image_str}:\n{info}");
    assert_eq!(json_number(&info, "virtual-size"), Some(raw_size), "{info}");
    assert_eq!(
        json_number(&info, "cluster-size"),
        Some(1 << options.cluster_bits),
        "{info}"
    );
    assert!(info.contains("\"format\": \"qcow2\""), "{info}");
    assert!(info.contains("\"compat\": \"1.1\""), "{info}");
    assert!(info.contains("\"compression-type\": \"zlib\""), "{info}");
    assert!(info.contains("\"dirty-flag\": false"), "{info}");

    let (code, compare) = qemu_img(&["compare", "-f", "raw", "-F", "qcow2", raw_str, image_str]);
    assert_eq!(
        code, 0,
        "qemu-img compare {raw_str} {image_str}:\n{compare}"
    );
    assert!(compare.contains("Images are identical."), "{compare}");

    let mut head = vec![0; 1 << options.cluster_bits];
    let read = File::open(&image)
        .expect("open image")
        .read_at(&mut head, 0)
        .expect("read image header");
    let header = read_header(&head[..read]).expect("our header parses");
    assert_eq!(
        (header.version, header.size, header.cluster_bits),
        (3, raw_size, options.cluster_bits)
    );
    assert_eq!((header.header_length, header.refcount_order), (112, 4));
    assert_eq!(header.incompatible_features, 0);
    assert!(header.extensions.is_empty() && header.backing_file.is_none());
    (image, stats)
}

/// Both modes; returns (plain, compressed) stats.
fn check_both(raw: &Path) -> (Qcow2Stats, Qcow2Stats) {
    let (_, plain) = convert_and_check(raw, &options(false));
    let (_, compressed) = convert_and_check(raw, &options(true));
    assert_eq!(plain.data_clusters, compressed.data_clusters);
    (plain, compressed)
}

#[test]
fn empty_sparse_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = raw_disk(dir.path(), "empty.raw", GIB, &[]);
    let (plain, compressed) = check_both(&raw);
    assert_eq!(plain.data_clusters, 0);
    assert_eq!(plain, compressed);
    // Header, one L1 cluster, refcount table and block: nothing else.
    assert_eq!(plain.file_size, 4 * 65536);
}

#[test]
fn zero_length_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = raw_disk(dir.path(), "nothing.raw", 0, &[]);
    let (plain, _) = check_both(&raw);
    assert_eq!((plain.virtual_size, plain.data_clusters), (0, 0));
}

#[test]
fn random_data_text_and_holes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = mixed_disk(dir.path());
    let (plain, compressed) = check_both(&raw);
    // 48 of the 64 MiB hold data; the piece starting at +1000 touches one more cluster.
    assert!(plain.data_clusters >= 48 * 16, "{plain:?}");
    assert!(compressed.compressed_clusters > 0, "{compressed:?}");
    assert!(
        compressed.compressed_clusters < compressed.data_clusters,
        "random clusters must stay uncompressed: {compressed:?}"
    );
    assert!(
        compressed.file_size < plain.file_size * 3 / 4,
        "compressed {} vs plain {}",
        compressed.file_size,
        plain.file_size
    );
}

#[test]
fn data_at_the_very_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let size = GIB;
    let raw = raw_disk(
        dir.path(),
        "end.raw",
        size,
        &[(size - 4096, text(4095, 7)), (size - 1, vec![0xff])],
    );
    let (plain, compressed) = check_both(&raw);
    assert_eq!(plain.data_clusters, 1);
    assert_eq!(compressed.compressed_clusters, 1);
}

#[test]
fn size_not_a_cluster_multiple() {
    let dir = tempfile::tempdir().expect("tempdir");
    let size = 10 * MIB + 12345;
    let mut rng = Rng(42);
    let raw = raw_disk(
        dir.path(),
        "odd.raw",
        size,
        &[
            (0, text(300_000, 1)),
            (5 * MIB, rng.bytes(70_000)),
            (10 * MIB, text(12345, 2)),
        ],
    );
    let (plain, _) = check_both(&raw);
    // 5 + 2 + the partial last cluster.
    assert_eq!(plain.data_clusters, 8);
}

#[test]
fn huge_sparse_disk_with_a_little_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let size = 100 * GIB;
    let mut rng = Rng(7);
    let raw = raw_disk(
        dir.path(),
        "huge.raw",
        size,
        &[
            (0, rng.bytes(MIB)),
            (37 * GIB + 12345, text(2 * MIB, 3)),
            (size - MIB, rng.bytes(MIB)),
        ],
    );
    let (plain, compressed) = check_both(&raw);
    assert_eq!(plain.data_clusters, 16 + 33 + 16);
    assert!(compressed.file_size < plain.file_size);
}

#[test]
fn clusters_of_written_zeros_are_not_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = raw_disk(
        dir.path(),
        "zeros.raw",
        32 * MIB,
        &[
            (0, vec![0; 8 * MIB as usize]),
            // One byte in an otherwise zero region makes exactly one cluster.
            (3 * MIB + 100, vec![1]),
            (16 * MIB, vec![0; MIB as usize]),
            (20 * MIB, text(MIB, 9)),
        ],
    );
    // The zeros really are written, not holes.
    let blocks = std::os::unix::fs::MetadataExt::blocks(&fs::metadata(&raw).expect("stat"));
    assert!(blocks >= 9 * MIB / 512, "{blocks} blocks");
    let (plain, _) = check_both(&raw);
    assert_eq!(plain.data_clusters, 1 + 16);
}

#[test]
fn other_cluster_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng(99);
    let raw = raw_disk(
        dir.path(),
        "sizes.raw",
        6 * MIB + 777,
        &[
            (0, text(MIB + 3, 5)),
            (2 * MIB, rng.bytes(300_000)),
            (4 * MIB + 511, text(2 * MIB + 266, 6)),
        ],
    );
    // The smallest and largest clusters qemu opens, and one between: the compressed
    // descriptor's field widths depend on it.
    for cluster_bits in [9, 12, 21] {
        for compress in [false, true] {
            let options = Qcow2Options {
                cluster_bits,
                compress,
                threads: None,
            };
            let (_, stats) = convert_and_check(&raw, &options);
            if compress {
                assert!(stats.compressed_clusters > 0, "{cluster_bits}: {stats:?}");
            }
        }
    }
}

#[test]
fn thread_count_does_not_change_the_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = mixed_disk(dir.path());
    let mut images = Vec::new();
    for threads in [1, 4] {
        let output = dir.path().join(format!("threads-{threads}.qcow2"));
        let options = Qcow2Options {
            compress: true,
            threads: NonZeroUsize::new(threads),
            ..Qcow2Options::default()
        };
        write_qcow2(&raw, &output, &options).expect("write_qcow2");
        images.push(fs::read(&output).expect("read image"));
    }
    assert!(
        images[0] == images[1],
        "1 and 4 threads wrote different images"
    );
}

#[test]
fn a_failure_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    fs::create_dir(&out).expect("mkdir");
    let target = out.join("x.qcow2");
    let error = write_qcow2(dir.path(), &target, &Qcow2Options::default())
        .expect_err("a directory is no raw disk");
    assert!(matches!(error, Qcow2Error::NotAFile(_)), "{error}");

    let raw = raw_disk(dir.path(), "huge.raw", 1 << 40, &[]);
    let small_clusters = Qcow2Options {
        cluster_bits: 9,
        ..Qcow2Options::default()
    };
    let error = write_qcow2(&raw, &target, &small_clusters)
        .expect_err("a 1 TiB disk with 512-byte clusters needs too large an L1 table");
    assert!(matches!(error, Qcow2Error::Limit(_)), "{error}");
    assert_eq!(fs::read_dir(&out).expect("list").count(), 0);

    // The image is complete when the rename onto a non-empty directory fails.
    fs::create_dir(&target).expect("mkdir");
    fs::write(target.join("keep"), b"").expect("write");
    let raw = raw_disk(dir.path(), "small.raw", MIB, &[(0, text(MIB, 1))]);
    let error = write_qcow2(&raw, &target, &options(true)).expect_err("rename onto a directory");
    assert!(matches!(error, Qcow2Error::Io { .. }), "{error}");
    let left: Vec<_> = fs::read_dir(&out)
        .expect("list")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(left, [target.file_name().expect("name")]);
}
