//! A kickstart's partitioning is untrusted text, and the first sectors of a
//! disk image may hold anything. Any text gives a layout or an error, never
//! a panic; every layout that allocates is MiB-aligned, in order, inside its
//! disk, and its partition table writes and reads back. Any bytes give a
//! table or an error from the GPT reader.
#![no_main]

use std::os::unix::fs::FileExt as _;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use livecompose::disk::gpt::SECTOR_SIZE;
use livecompose::disk::layout::MIB;
use livecompose::disk::{DiskLayout, Gpt, LayoutSpec};
use livecompose::kickstart::parse_text;

fuzz_target!(|data: &[u8]| {
    let _ = Gpt::read(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A path in a directory with no files keeps %include from touching the host.
    let name = Path::new("/nonexistent-livecompose-fuzz/fuzz.ks");
    let Ok(parsed) = parse_text(name, text) else {
        return;
    };
    let Ok(spec) = LayoutSpec::from_kickstart(&parsed.kickstart) else {
        return;
    };
    // File sizes the input steers: from nothing to far more than any disk.
    let scale = 1u64 << (text.len() % 48);
    let content = |mountpoint: &str| (mountpoint.len() as u64).wrapping_mul(scale);
    let given = (text.len() as u64).wrapping_mul(scale);
    for disk_size in [None, Some(given)] {
        if let Ok(layout) = spec.allocate("fuzz", disk_size, &content) {
            check(&layout, disk_size);
        }
    }
});

fn check(layout: &DiskLayout, disk_size: Option<u64>) {
    assert_eq!(layout.size % MIB, 0, "{layout:?}");
    if let Some(size) = disk_size {
        assert!(
            layout.size >= size && layout.size - size < MIB,
            "{size}: {layout:?}"
        );
    }
    let sectors_per_mib = MIB / SECTOR_SIZE;
    let mut next = sectors_per_mib;
    for part in &layout.partitions {
        assert!(part.first_lba >= next, "{layout:?}");
        assert_eq!(part.first_lba % sectors_per_mib, 0, "{layout:?}");
        assert_eq!((part.last_lba + 1) % sectors_per_mib, 0, "{layout:?}");
        assert_eq!(
            (part.last_lba + 1 - part.first_lba) * SECTOR_SIZE,
            part.size,
            "{layout:?}"
        );
        next = part.last_lba + 1;
    }
    assert!(
        next * SECTOR_SIZE <= layout.size - MIB,
        "no room for the backup GPT: {layout:?}"
    );
    // Sparse files this large are cheap on every Linux filesystem.
    if layout.size > 1 << 40 {
        return;
    }
    let Ok(file) = tempfile::tempfile() else {
        return;
    };
    if file.set_len(layout.size).is_err() {
        return;
    }
    let gpt = layout.gpt();
    gpt.write(&file)
        .unwrap_or_else(|e| panic!("the layout's table is refused: {e}\n{layout:?}"));
    let mut head = vec![0u8; 34 * SECTOR_SIZE as usize];
    file.read_exact_at(&mut head, 0)
        .expect("the table was written");
    assert_eq!(Gpt::read(&head).expect("the table reads back"), gpt);
}
