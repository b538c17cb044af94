//! A qcow2 image is untrusted input when `livecompose derive` and `commit` read a
//! master and its children: the reader walks a fuzzed file's L1 and L2 tables,
//! inflates its compressed clusters and reads its guest disk, and must fail cleanly,
//! never panic, and allocate no more than qemu's table limits allow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecompose::disk::qcow2::GuestDisk as _;
use livecompose::disk::qcow2_read::Chain;

/// Disks larger than this are opened but not read through: reading is linear in the
/// virtual size, which the header sets at will.
const MAX_READ: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    // Alone in its directory: a relative backing file name finds nothing, or the
    // image itself.
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("fuzz.qcow2");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let Ok(mut chain) = Chain::open(&path) else { return };
    if chain.virtual_size() <= MAX_READ {
        let bits = chain.cluster_bits();
        let _ = chain.for_each_data_cluster(bits, &mut |_, _| Ok(()));
    }
});
