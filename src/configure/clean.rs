//! What the finished image must not carry from its build: host keys and a
//! machine id (every machine booted from the image would share them), the
//! package manager's indexes and downloaded packages (which the
//! distribution names), the build host's resolver configuration, our
//! own temporary files, and the records of when the build ran.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::install::RootFs;
use crate::install::rootfs::Existing;

use super::scripts::{TEMP_PREFIX, has_host_resolv_conf};
use super::{CacheFiles, CacheNames, ConfigureError, Conventions, HOST_RESOLV_CONF, in_root};

/// Cleans the root once every other stage has written to it.
pub fn clean(root: &RootFs, conventions: &Conventions) -> Result<(), ConfigureError> {
    clean_with_host(
        root,
        conventions.caches,
        conventions.build_records,
        Path::new(HOST_RESOLV_CONF),
    )
}

fn clean_with_host(
    root: &RootFs,
    caches: &[CacheFiles],
    build_records: &[&str],
    host_resolv_conf: &Path,
) -> Result<(), ConfigureError> {
    for record in build_records {
        root.remove_file(&in_root(record)?)?;
    }
    remove_matching(root, "/etc/ssh", |name| name.starts_with(b"ssh_host_"))?;
    // Empty but present: systemd then makes a new id on first boot, and
    // read-only images still have a file to bind-mount over.
    root.write_bytes(&in_root("/etc/machine-id")?, b"", 0o444)?;
    let dbus_id = in_root("/var/lib/dbus/machine-id")?;
    if root.existing_nofollow(&dbus_id)? == Existing::Other {
        root.remove_file(&dbus_id)?;
    }
    for cache in caches {
        remove_matching(root, cache.dir, |name| match cache.names {
            CacheNames::AllBut(kept) => name != kept.as_bytes(),
            CacheNames::All => true,
            CacheNames::Suffix(suffix) => name.ends_with(suffix.as_bytes()),
        })?;
    }
    remove_matching(root, "/tmp", |name| {
        name.starts_with(TEMP_PREFIX.as_bytes())
    })?;
    if has_host_resolv_conf(root, host_resolv_conf)? {
        root.remove_file(&in_root("/etc/resolv.conf")?)?;
    }
    Ok(())
}

/// Removes the files and symlinks in `dir` whose names `remove` picks;
/// subdirectories are left alone.
fn remove_matching(
    root: &RootFs,
    dir: &str,
    remove: impl Fn(&[u8]) -> bool,
) -> Result<(), ConfigureError> {
    let dir_path = in_root(dir)?;
    for name in root.list_dir(&dir_path)? {
        if !remove(name.as_bytes()) {
            continue;
        }
        let path = in_root(&format!("{dir}/{}", OsStr::new(&name).to_string_lossy()))?;
        if root.existing_nofollow(&path)? != Existing::Directory {
            root.remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn build_leftovers_are_removed_and_the_rest_kept() {
        let image = tempfile::tempdir().expect("image");
        let i = image.path();
        for dir in [
            "etc/ssh",
            "var/lib/dbus",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "tmp/livecompose-dir",
            "var/log",
        ] {
            fs::create_dir_all(i.join(dir)).expect(dir);
        }
        for file in [
            "etc/ssh/ssh_host_ed25519_key",
            "etc/ssh/ssh_host_ed25519_key.pub",
            "etc/ssh/sshd_config",
            "etc/machine-id",
            "var/lib/dbus/machine-id",
            "var/lib/apt/lists/lock",
            "var/lib/apt/lists/deb_dists_bookworm_InRelease",
            "var/lib/apt/lists/partial/x",
            "var/cache/apt/pkgcache.bin",
            "var/cache/apt/archives/lock",
            "var/cache/apt/archives/bash_5.2_amd64.deb",
            "tmp/livecompose-post-0",
            "tmp/user-file",
            "var/log/dpkg.log",
            "var/log/syslog",
        ] {
            fs::write(i.join(file), "data").expect(file);
        }
        let host = tempfile::NamedTempFile::new().expect("host resolv.conf");
        fs::write(host.path(), "nameserver 192.0.2.53\n").expect("host");
        fs::write(i.join("etc/resolv.conf"), "nameserver 192.0.2.53\n").expect("leaked");

        let root = RootFs::open(i).expect("root");
        clean_with_host(
            &root,
            crate::distro::debian::CONVENTIONS.caches,
            crate::distro::debian::CONVENTIONS.build_records,
            host.path(),
        )
        .expect("cleaned");

        let present = |p: &str| fs::symlink_metadata(i.join(p)).is_ok();
        for gone in [
            "etc/ssh/ssh_host_ed25519_key",
            "etc/ssh/ssh_host_ed25519_key.pub",
            "var/lib/dbus/machine-id",
            "var/lib/apt/lists/deb_dists_bookworm_InRelease",
            "var/lib/apt/lists/partial/x",
            "var/cache/apt/pkgcache.bin",
            "var/cache/apt/archives/bash_5.2_amd64.deb",
            "tmp/livecompose-post-0",
            "etc/resolv.conf",
            "var/log/dpkg.log",
        ] {
            assert!(!present(gone), "{gone} should be gone");
        }
        for kept in [
            "etc/ssh/sshd_config",
            "var/lib/apt/lists/lock",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/lock",
            "tmp/user-file",
            "tmp/livecompose-dir",
            "var/log/syslog",
        ] {
            assert!(present(kept), "{kept} should be kept");
        }
        assert_eq!(fs::read(i.join("etc/machine-id")).expect("machine-id"), b"");
    }

    #[test]
    fn the_images_own_resolver_and_dbus_link_are_kept() {
        let image = tempfile::tempdir().expect("image");
        let i = image.path();
        fs::create_dir_all(i.join("etc")).expect("etc");
        fs::create_dir_all(i.join("var/lib/dbus")).expect("dbus");
        std::os::unix::fs::symlink("/etc/machine-id", i.join("var/lib/dbus/machine-id"))
            .expect("link");
        std::os::unix::fs::symlink(
            "../run/systemd/resolve/stub-resolv.conf",
            i.join("etc/resolv.conf"),
        )
        .expect("link");
        let host = tempfile::NamedTempFile::new().expect("host resolv.conf");
        let root = RootFs::open(i).expect("root");
        clean_with_host(
            &root,
            crate::distro::debian::CONVENTIONS.caches,
            crate::distro::debian::CONVENTIONS.build_records,
            host.path(),
        )
        .expect("cleaned");
        assert!(fs::read_link(i.join("var/lib/dbus/machine-id")).is_ok());
        assert!(fs::read_link(i.join("etc/resolv.conf")).is_ok());
    }
}
