//! The root's timestamps clamped to the build's time once the last script
//! has run, as mkosi and live-build do: whatever the build itself wrote or
//! read carries the build's time instead of the wall clock's, while the
//! older times packages ship stay as they are.

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};

use super::ConfigureError;
use crate::install::RootFs;
use crate::source_date::SourceDate;

/// Gives every entry of `root` (symlinks themselves, never what they point
/// to) modified after `date` that time instead. Access and change times
/// are left: reading the root to pack it moves access times again, and
/// change times cannot be set; squashfs stores neither, and the ext4
/// writer sets both itself.
pub fn clamp_times(root: &RootFs, date: &SourceDate) -> Result<(), ConfigureError> {
    clamp_tree(root.path(), date.seconds)
}

fn clamp_tree(path: &Path, seconds: i64) -> Result<(), ConfigureError> {
    let error = |source| ConfigureError::Times {
        path: path.to_owned(),
        source,
    };
    let meta = fs::symlink_metadata(path).map_err(error)?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(error)? {
            clamp_tree(&entry.map_err(error)?.path(), seconds)?;
        }
    }
    if (meta.mtime(), meta.mtime_nsec()) <= (seconds, 0) {
        return Ok(());
    }
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: seconds,
            tv_nsec: 0,
        },
    };
    utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(|errno| error(errno.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source_date::SourceDate;

    fn set(path: &Path, atime: i64, mtime: i64) {
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: atime,
                tv_nsec: 0,
            },
            last_modification: Timespec {
                tv_sec: mtime,
                tv_nsec: 0,
            },
        };
        utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).unwrap();
    }

    fn mtime(path: &Path) -> (i64, i64) {
        let meta = fs::symlink_metadata(path).unwrap();
        (meta.mtime(), meta.mtime_nsec())
    }

    #[test]
    fn later_times_become_the_build_time_and_earlier_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("etc")).unwrap();
        fs::write(root.join("etc/new"), "written by the build").unwrap();
        fs::write(root.join("etc/old"), "from a package").unwrap();
        std::os::unix::fs::symlink("/nowhere", root.join("dangling")).unwrap();
        std::os::unix::fs::symlink("etc/old", root.join("link")).unwrap();
        let date = SourceDate::for_build(None, [1_700_000_000]);
        set(&root.join("etc/old"), 1_800_000_000, 1_500_000_000);
        set(&root.join("link"), 1_600_000_000, 1_600_000_000);
        clamp_times(&RootFs::open(root).unwrap(), &date).unwrap();
        let now = (date.seconds, 0);
        assert_eq!(mtime(&root.join("etc/new")), now);
        assert_eq!(mtime(&root.join("etc/old")), (1_500_000_000, 0));
        assert_eq!(mtime(&root.join("link")), (1_600_000_000, 0));
        assert_eq!(
            mtime(&root.join("dangling")),
            now,
            "the link, not its target"
        );
        assert_eq!(mtime(&root.join("etc")), now);
        assert_eq!(mtime(root), now);
        // Access times are not the clamp's business.
        let old = fs::symlink_metadata(root.join("etc/old")).unwrap();
        assert_eq!(old.atime(), 1_800_000_000);
    }
}
