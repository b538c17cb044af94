//! The squashfs block memo is a file in the cache that a crash, a full disk
//! or another program may have damaged: whatever it holds, packing with it
//! must neither panic nor change the image (a block is taken from the memo
//! only when its key and the digest of its stored bytes match).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use livecompose::squashfs::{SquashfsOptions, memo, write_image};

struct Fixture {
    _dir: tempfile::TempDir,
    tree: PathBuf,
    memo_dir: PathBuf,
    image: Vec<u8>,
}

fn options() -> SquashfsOptions {
    SquashfsOptions {
        mtime: Some(1),
        threads: std::num::NonZeroUsize::new(1),
        ..SquashfsOptions::default()
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tree = dir.path().join("tree");
        std::fs::create_dir(&tree).expect("the tree");
        std::fs::write(tree.join("block"), vec![7u8; 200_000]).expect("a file");
        std::fs::write(tree.join("tail"), b"a fragment").expect("a file");
        let memo_dir = dir.path().join("memo");
        std::fs::create_dir(&memo_dir).expect("the memo directory");
        let out = dir.path().join("plain.squashfs");
        write_image(&tree, &out, &options()).expect("packed without a memo");
        let image = std::fs::read(&out).expect("the image");
        Fixture {
            _dir: dir,
            tree,
            memo_dir,
            image,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let with_memo = SquashfsOptions {
        memo: Some(fixture.memo_dir.clone()),
        ..options()
    };
    let file = memo::path(&fixture.memo_dir, &with_memo).expect("the memo's name");
    std::fs::write(&file, data).expect("the memo");
    let out = fixture.memo_dir.join("packed.squashfs");
    write_image(&fixture.tree, &out, &with_memo).expect("packed with the memo");
    assert!(std::fs::read(&out).expect("the image") == fixture.image);
});
