//! Offline tier: the initrd reads the image's kernel and modules inside the
//! image. A crafted kernel package (a `modules.dep` naming a host path, a
//! module that is a symlink to a host file, a kernel that is one) must
//! never put a host file's bytes into the initrd: the build fails naming
//! the path, or leaves the file out.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use livecompose::initrd::{self, InitrdMode, InitrdOptions, LIVE_MODULES};

const VERSION: &str = "6.1.0-99-amd64";

/// A host file no image may contain, outside the root, named as the
/// module the crafted modules.dep points at.
fn secret(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let bytes = b"host secret 5f1d0c7e: never in an image".to_vec();
    let path = dir.join("outside/squashfs.ko");
    fs::create_dir_all(dir.join("outside")).expect("mkdir");
    fs::write(&path, &bytes).expect("write the secret");
    (path, bytes)
}

/// A root with a kernel whose modules are all built in but `squashfs`,
/// which modules.dep lists as `dep_line`'s file; `setup` adds the rest.
fn crafted_root(dir: &Path, dep_line: &str, setup: impl FnOnce(&Path)) -> std::path::PathBuf {
    let root = dir.join("root");
    let modules = root.join("lib/modules").join(VERSION);
    fs::create_dir_all(&modules).expect("mkdir modules");
    fs::create_dir_all(root.join("boot")).expect("mkdir boot");
    fs::write(
        root.join("boot").join(format!("vmlinuz-{VERSION}")),
        b"kernel",
    )
    .expect("kernel");
    let builtin: String = LIVE_MODULES
        .iter()
        .filter(|m| **m != "squashfs")
        .map(|m| format!("kernel/{m}.ko\n"))
        .collect();
    fs::write(modules.join("modules.builtin"), builtin).expect("builtin");
    fs::write(modules.join("modules.dep"), format!("{dep_line}:\n")).expect("modules.dep");
    setup(&modules);
    root
}

/// Builds the initrd of `root`; returns the error text, or checks that the
/// initrd holds no byte of the secret.
fn build(root: &Path, out: &Path, secret: &[u8]) -> Option<String> {
    let result = initrd::build(
        root,
        common::rpmrepo::static_busybox(),
        &InitrdOptions {
            output: out.join("initrd.img"),
            mode: InitrdMode::Live,
        },
    );
    match result {
        Err(error) => Some(error.to_string()),
        Ok(built) => {
            let compressed = fs::read(&built.path).expect("read the initrd");
            let mut archive = Vec::new();
            let mut decoder = flate2::read::GzDecoder::new(compressed.as_slice());
            if std::io::Read::read_to_end(&mut decoder, &mut archive).is_err() {
                archive = zstd::decode_all(compressed.as_slice()).expect("a zstd or gzip initrd");
            }
            assert!(
                !archive.windows(secret.len()).any(|w| w == secret),
                "the initrd holds the host file"
            );
            None
        }
    }
}

#[test]
fn a_modules_dep_naming_a_host_path_cannot_read_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (secret_path, secret) = secret(dir.path());
    let root = crafted_root(dir.path(), &secret_path.display().to_string(), |_| {});
    let error = build(&root, dir.path(), &secret).expect("the build fails");
    assert!(
        error.contains(&secret_path.display().to_string()),
        "{error}"
    );
}

#[test]
fn a_modules_dep_climbing_out_with_dot_dot_cannot_read_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, secret) = secret(dir.path());
    // From lib/modules/VERSION inside dir/root, four levels up is dir.
    let root = crafted_root(dir.path(), "../../../../outside/squashfs.ko", |_| {});
    let error = build(&root, dir.path(), &secret).expect("the build fails");
    assert!(error.contains("squashfs.ko"), "{error}");
}

#[test]
fn a_module_symlinked_to_a_host_file_is_not_followed_out_of_the_image() {
    for target in ["absolute", "relative"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (secret_path, secret) = secret(dir.path());
        let root = crafted_root(dir.path(), "kernel/squashfs.ko", |modules| {
            fs::create_dir_all(modules.join("kernel")).expect("mkdir");
            let link = modules.join("kernel/squashfs.ko");
            match target {
                "absolute" => symlink(&secret_path, &link),
                _ => symlink("../../../../../outside/squashfs.ko", &link),
            }
            .expect("symlink");
        });
        if let Some(error) = build(&root, dir.path(), &secret) {
            assert!(error.contains("squashfs.ko"), "{target}: {error}");
        }
    }
}

#[test]
fn a_kernel_symlinked_to_a_host_file_is_not_the_images_kernel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (secret_path, _) = secret(dir.path());
    let root = crafted_root(dir.path(), "kernel/squashfs.ko", |_| {});
    let kernel = root.join("boot").join(format!("vmlinuz-{VERSION}"));
    fs::remove_file(&kernel).expect("remove the kernel");
    symlink(&secret_path, &kernel).expect("symlink");
    match initrd::find_kernel(&root) {
        Ok(found) => {
            let read_from = found.image.canonicalize().expect("the kernel exists");
            assert!(
                read_from.starts_with(root.canonicalize().expect("root")),
                "the kernel is read from {}",
                read_from.display()
            );
        }
        Err(error) => assert!(error.to_string().contains("no kernel"), "{error}"),
    }
}
