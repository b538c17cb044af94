//! The disk layout and GPT writer against their peers: util-linux's
//! `sfdisk --verify` and GPT fdisk's `sgdisk -v` must find nothing wrong
//! with a sparse disk we write, and `sfdisk --json` and `sgdisk -i` must
//! read back exactly our partitions: numbers, starts, sizes, type GUIDs,
//! unique GUIDs, names, and the disk GUID.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Output};

use livecompose::disk::gpt::SECTOR_SIZE;
use livecompose::disk::layout::MIB;
use livecompose::disk::{DiskLayout, Gpt, LayoutSpec};
use livecompose::kickstart::parse_text;
use serde_json::Value;

const GIB: u64 = 1 << 30;

/// Runs a peer; a missing one fails the test and names its Debian package.
fn tool(name: &str, package: &str, args: &[&str]) -> Output {
    Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {name} ({e}): install the Debian package {package} (apt-get install {package})")
    })
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

fn layout(kickstart: &str, disk_size: Option<u64>) -> DiskLayout {
    let parsed = parse_text(Path::new("disk.ks"), kickstart).expect("the kickstart parses");
    let spec = LayoutSpec::from_kickstart(&parsed.kickstart).expect("the layout is accepted");
    // 700 MiB of files on the root, a little everywhere else.
    let content = |mountpoint: &str| if mountpoint == "/" { 700 * MIB } else { MIB };
    spec.allocate("disk-gpt-test", disk_size, &content)
        .expect("the partitions fit")
}

/// Writes the layout's table into a sparse file and checks it with the
/// peers and with our own reader.
fn write_and_check(layout: &DiskLayout) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.raw");
    let file = File::create(&path).unwrap();
    file.set_len(layout.size).unwrap();
    let gpt = layout.gpt();
    gpt.write(&file).unwrap();
    drop(file);
    let image = path.to_str().unwrap();

    let verify = tool("sfdisk", "fdisk", &["--verify", image]);
    assert!(
        verify.status.success(),
        "sfdisk --verify failed:\n{}",
        text(&verify)
    );
    assert!(
        text(&verify).contains("No errors detected"),
        "sfdisk --verify:\n{}",
        text(&verify)
    );
    let verify = tool("sgdisk", "gdisk", &["-v", image]);
    assert!(
        verify.status.success(),
        "sgdisk -v failed:\n{}",
        text(&verify)
    );
    assert!(
        text(&verify).contains("No problems found"),
        "sgdisk -v:\n{}",
        text(&verify)
    );

    let json = tool("sfdisk", "fdisk", &["--json", image]);
    assert!(
        json.status.success(),
        "sfdisk --json failed:\n{}",
        text(&json)
    );
    let json: Value = serde_json::from_slice(&json.stdout).expect("sfdisk prints JSON");
    let table = &json["partitiontable"];
    assert_eq!(table["label"], "gpt");
    assert_eq!(table["sectorsize"], SECTOR_SIZE);
    assert_eq!(table["firstlba"], 34);
    assert_eq!(table["lastlba"], layout.size / SECTOR_SIZE - 34);
    assert_eq!(table["id"], layout.disk_guid.to_string().to_uppercase());
    let listed = table["partitions"].as_array().expect("a partition list");
    assert_eq!(listed.len(), layout.partitions.len());
    for part in &layout.partitions {
        let node = format!("{image}{}", part.number);
        let entry = listed
            .iter()
            .find(|entry| entry["node"] == node.as_str())
            .unwrap_or_else(|| panic!("sfdisk does not list {node}: {listed:?}"));
        assert_eq!(entry["start"], part.first_lba, "{node}");
        assert_eq!(entry["size"], part.size / SECTOR_SIZE, "{node}");
        assert_eq!(
            entry["type"],
            part.type_guid.to_string().to_uppercase(),
            "{node}"
        );
        assert_eq!(
            entry["uuid"],
            part.partition_guid.to_string().to_uppercase(),
            "{node}"
        );
        assert_eq!(entry["name"], part.name.as_str(), "{node}");
        assert!(
            entry.get("attrs").is_none(),
            "{node} has attributes: {entry}"
        );

        // sgdisk, from its own reading of the entries.
        let info = tool("sgdisk", "gdisk", &["-i", &part.number.to_string(), image]);
        assert!(info.status.success(), "sgdisk -i failed:\n{}", text(&info));
        let info = text(&info);
        let field = |label: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(label))
                .unwrap_or_else(|| panic!("sgdisk -i prints no {label:?}:\n{info}"))
                .trim()
                .to_owned()
        };
        let type_code = field("Partition GUID code:");
        assert!(
            type_code.starts_with(&part.type_guid.to_string().to_uppercase()),
            "{node}: {type_code}"
        );
        assert_eq!(
            field("Partition unique GUID:"),
            part.partition_guid.to_string().to_uppercase()
        );
        assert!(field("First sector:").starts_with(&format!("{} ", part.first_lba)));
        assert!(field("Last sector:").starts_with(&format!("{} ", part.last_lba)));
        assert_eq!(field("Partition name:"), format!("'{}'", part.name));
    }

    // Our reader agrees, from the primary table alone.
    let mut head = vec![0u8; 34 * SECTOR_SIZE as usize];
    std::os::unix::fs::FileExt::read_exact_at(&File::open(&path).unwrap(), &mut head, 0).unwrap();
    assert_eq!(Gpt::read(&head).unwrap(), gpt);
}

#[test]
fn a_kickstart_layout_reads_back_exactly_in_sfdisk_and_sgdisk() {
    let disk = layout(
        "part /boot --size=512\npart / --grow\npart /var --size=1024\n",
        Some(8 * GIB),
    );
    // BIOS boot and ESP added; / grows into the rest, last on the disk.
    let numbers: Vec<u32> = disk.partitions.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [14, 15, 1, 3, 2]);
    let root = &disk.partitions[4];
    assert_eq!(root.size, 8 * GIB - (128 + 512 + 1024 + 1) * MIB);
    write_and_check(&disk);
}

#[test]
fn the_default_cloud_layout_reads_back_exactly_in_sfdisk_and_sgdisk() {
    // Sized from its files (700 MiB on the root), then given a disk.
    for disk_size in [None, Some(10 * GIB)] {
        let disk = layout("lang en_US.UTF-8\n", disk_size);
        let starts: Vec<(u32, u64)> = disk
            .partitions
            .iter()
            .map(|p| (p.number, p.first_lba))
            .collect();
        assert_eq!(starts, [(14, 2048), (15, 8192), (1, 262144)]);
        write_and_check(&disk);
    }
}

#[test]
fn a_disk_past_2_tib_caps_the_protective_mbr_and_still_verifies() {
    // Beyond 2^32 sectors the protective partition records 0xFFFFFFFF.
    let disk = layout(
        "part / --size=2048\npart /srv --grow\npart swap --size=1024\n",
        Some(3 << 40),
    );
    write_and_check(&disk);
}
