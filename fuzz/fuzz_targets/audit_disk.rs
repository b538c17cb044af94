//! `livecompose audit` reads disks nobody vouches for: the composed open
//! (partition table, every ext4 superblock, the root's walk, its fstab and
//! the file systems it mounts) and the checks over it must fail cleanly on
//! any bytes, never panic or hang. The fstab parser gets the same bytes as
//! text, as it reads whatever an image's `/etc/fstab` holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecompose::audit;

fuzz_target!(|data: &[u8]| {
    let _ = audit::fstab::parse(&String::from_utf8_lossy(data));
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("fuzz.raw");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(tree) = audit::open(&path) {
        let _ = audit::audit(tree.as_ref(), &audit::Policy::default());
    }
});
