//! Overlays: directory trees (usually kept in git, so owned by whoever
//! checked them out) copied onto the image root, owned by root.
//!
//! Files, directories and symlinks are copied with their permission bits;
//! symlinks stay symlinks. Directories the image already has keep their own
//! mode and owner, so an overlay's `etc/` cannot loosen the image's `/etc`.

use std::ffi::OsString;
use std::fs::{self, File};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use crate::install::rootfs::Meta;
use crate::install::{InRootPath, RootFs};
use crate::interrupt;

use super::ConfigureError;

/// Copies the tree at `source` onto `root`.
pub(super) fn copy(root: &RootFs, source: &Path) -> Result<(), ConfigureError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConfigureError::OverlayRead { path, source }
    };
    let top = fs::metadata(source).map_err(read_error(source))?;
    if !top.is_dir() {
        return Err(ConfigureError::Overlay {
            path: source.to_path_buf(),
            message: "is not a directory; an overlay is a tree copied onto the image root"
                .to_owned(),
        });
    }
    // Depth first, parents before their entries, names in sorted order so
    // two builds copy in the same order.
    let mut pending: Vec<Vec<OsString>> = vec![Vec::new()];
    while let Some(relative) = pending.pop() {
        interrupt::check()?;
        let host_dir = relative.iter().fold(source.to_path_buf(), |p, c| p.join(c));
        let mut names: Vec<OsString> = fs::read_dir(&host_dir)
            .map_err(read_error(&host_dir))?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(read_error(&host_dir))?;
        names.sort();
        for name in names.into_iter().rev() {
            let mut child = relative.clone();
            child.push(name);
            if copy_entry(root, source, &child)? {
                pending.push(child);
            }
        }
    }
    Ok(())
}

/// Copies one entry; returns whether it is a directory to descend into.
fn copy_entry(root: &RootFs, source: &Path, relative: &[OsString]) -> Result<bool, ConfigureError> {
    let host = relative.iter().fold(source.to_path_buf(), |p, c| p.join(c));
    let read_error = |error| ConfigureError::OverlayRead {
        path: host.clone(),
        source: error,
    };
    let joined = relative.join(std::ffi::OsStr::new("/"));
    let target = InRootPath::parse(&joined)?;
    let metadata = fs::symlink_metadata(&host).map_err(read_error)?;
    let meta = Meta::root_owned(metadata.permissions().mode() & 0o7777);
    let kind = metadata.file_type();
    if kind.is_dir() {
        root.create_dir(&target, &meta)?;
        return Ok(true);
    }
    if kind.is_symlink() {
        let link = fs::read_link(&host).map_err(read_error)?;
        root.symlink(&target, link.as_os_str(), &Meta::root_owned(0o777))?;
    } else if kind.is_file() {
        let mut file = File::open(&host).map_err(read_error)?;
        root.write_file(&target, &mut file, &meta)?;
    } else {
        let what = if kind.is_fifo() {
            "a fifo"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a device node"
        };
        return Err(ConfigureError::Overlay {
            path: host.clone(),
            message: format!(
                "is {what}; overlays hold files, directories and symlinks (create special files in %post)"
            ),
        });
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, symlink};

    #[test]
    fn trees_are_copied_with_modes_and_links_owned_by_root() {
        let overlay = tempfile::tempdir().expect("overlay");
        let o = overlay.path();
        fs::create_dir_all(o.join("etc/skel/.config")).expect("dirs");
        fs::write(o.join("etc/motd"), "hello\n").expect("motd");
        fs::write(o.join("etc/skel/.config/app"), "x").expect("app");
        fs::create_dir_all(o.join("usr/local/bin")).expect("bin");
        fs::write(o.join("usr/local/bin/tool"), "#!/bin/sh\n").expect("tool");
        fs::set_permissions(
            o.join("usr/local/bin/tool"),
            fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        fs::set_permissions(
            o.join("etc/skel/.config"),
            fs::Permissions::from_mode(0o700),
        )
        .expect("chmod");
        symlink("/etc/motd", o.join("etc/motd.link")).expect("link");

        let image = tempfile::tempdir().expect("image");
        let i = image.path();
        fs::create_dir(i.join("etc")).expect("etc");
        fs::set_permissions(i.join("etc"), fs::Permissions::from_mode(0o751)).expect("chmod");
        fs::write(i.join("etc/motd"), "old\n").expect("old motd");
        let root = RootFs::open(i).expect("root");
        copy(&root, o).expect("copied");

        assert_eq!(
            fs::read_to_string(i.join("etc/motd")).expect("motd"),
            "hello\n"
        );
        let mode = |p: &str| fs::symlink_metadata(i.join(p)).expect(p).mode() & 0o7777;
        assert_eq!(mode("usr/local/bin/tool"), 0o755);
        assert_eq!(mode("etc/skel/.config"), 0o700);
        assert_eq!(mode("etc"), 0o751, "an existing directory keeps its mode");
        assert_eq!(
            fs::read_link(i.join("etc/motd.link")).expect("link"),
            Path::new("/etc/motd")
        );
        if rustix::process::geteuid().is_root() {
            let owner = fs::metadata(i.join("etc/skel/.config/app")).expect("app");
            assert_eq!((owner.uid(), owner.gid()), (0, 0));
        }
    }

    #[test]
    fn a_symlink_in_the_image_never_leads_a_copy_out_of_the_root() {
        let host = tempfile::tempdir().expect("host");
        let outside = host.path().join("outside");
        fs::create_dir(&outside).expect("outside");
        let image = host.path().join("image");
        fs::create_dir(&image).expect("image");
        // The image's /etc is a link to a host directory, as a hostile
        // package could leave it.
        symlink(&outside, image.join("etc")).expect("link");
        let inside = image.join(outside.strip_prefix("/").expect("absolute"));
        fs::create_dir_all(&inside).expect("the same path inside the image");
        let overlay = tempfile::tempdir().expect("overlay");
        fs::create_dir(overlay.path().join("etc")).expect("etc");
        fs::write(overlay.path().join("etc/passwd"), "evil").expect("file");
        let root = RootFs::open(&image).expect("root");
        copy(&root, overlay.path()).expect("copied inside");
        assert!(!outside.join("passwd").exists());
        assert!(inside.join("passwd").exists());
    }

    #[test]
    fn special_files_and_missing_trees_are_errors() {
        let image = tempfile::tempdir().expect("image");
        let root = RootFs::open(image.path()).expect("root");
        let missing = copy(&root, Path::new("/nonexistent/overlay")).expect_err("missing");
        assert!(
            missing
                .to_string()
                .starts_with("overlay /nonexistent/overlay: "),
            "{missing}"
        );
        let overlay = tempfile::tempdir().expect("overlay");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            overlay.path().join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .expect("mkfifo");
        let error = copy(&root, overlay.path()).expect_err("fifo");
        assert!(error.to_string().contains("is a fifo"), "{error}");
    }
}
