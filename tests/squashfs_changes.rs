//! The squashfs writer against a source that changes under it: the progress
//! callback runs after each file (in sorted order), so a test can change a
//! later file at a known point, as a process writing into the tree would.

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;

use livecompose::squashfs::{SquashfsError, SquashfsOptions, write_image_with_progress};

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("src")).unwrap();
    fs::write(dir.path().join("src/a"), vec![b'a'; 200_000]).unwrap();
    fs::write(dir.path().join("src/b"), vec![b'b'; 200_000]).unwrap();
    dir
}

fn pack(dir: &Path, after_first_file: impl Fn() + Sync) -> Result<(), SquashfsError> {
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let progress = |_| {
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            after_first_file();
        }
        ControlFlow::Continue(())
    };
    write_image_with_progress(
        &dir.join("src"),
        &dir.join("out.squashfs"),
        &SquashfsOptions::default(),
        &progress,
    )
    .map(drop)
}

/// Nothing but the source is left in the directory: no image, no temporary file.
fn assert_no_output(dir: &Path) {
    let names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["src"], "output left behind");
}

#[test]
fn a_file_that_vanishes_is_named() {
    let dir = tree();
    let b = dir.path().join("src/b");
    let err = pack(dir.path(), || fs::remove_file(&b).unwrap()).unwrap_err();
    assert!(
        matches!(&err, SquashfsError::SourceVanished(p) if p == &b),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("src/b vanished while it was being packed"),
        "{err}"
    );
    assert_no_output(dir.path());
}

#[test]
fn a_file_that_grows_is_named() {
    let dir = tree();
    let b = dir.path().join("src/b");
    let err = pack(dir.path(), || fs::write(&b, vec![b'c'; 300_000]).unwrap()).unwrap_err();
    assert!(
        matches!(&err, SquashfsError::SourceChanged(p) if p == &b),
        "{err}"
    );
    assert_no_output(dir.path());
}

#[test]
fn a_file_that_shrinks_is_named() {
    let dir = tree();
    let b = dir.path().join("src/b");
    let err = pack(dir.path(), || fs::write(&b, b"short").unwrap()).unwrap_err();
    assert!(
        matches!(&err, SquashfsError::SourceChanged(p) if p == &b),
        "{err}"
    );
    assert_no_output(dir.path());
}

#[test]
fn a_file_rewritten_with_the_same_size_is_named() {
    let dir = tree();
    let b = dir.path().join("src/b");
    let err = pack(dir.path(), || {
        // A different modification time, as any write gives.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&b, vec![b'z'; 200_000]).unwrap();
    })
    .unwrap_err();
    assert!(
        matches!(&err, SquashfsError::SourceChanged(p) if p == &b),
        "{err}"
    );
    assert_no_output(dir.path());
}

#[test]
fn stopping_leaves_no_output() {
    let dir = tree();
    let err = write_image_with_progress(
        &dir.path().join("src"),
        &dir.path().join("out.squashfs"),
        &SquashfsOptions::default(),
        &|_| ControlFlow::Break(()),
    )
    .unwrap_err();
    assert!(matches!(err, SquashfsError::Stopped), "{err}");
    assert_no_output(dir.path());
}

#[test]
fn progress_reaches_the_total() {
    let dir = tree();
    let last = std::sync::Mutex::new(None);
    write_image_with_progress(
        &dir.path().join("src"),
        &dir.path().join("out.squashfs"),
        &SquashfsOptions::default(),
        &|packing| {
            *last.lock().unwrap() = Some(packing);
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    let last = last.lock().unwrap().expect("progress was reported");
    assert_eq!((last.bytes_read, last.bytes_total), (400_000, 400_000));
}
