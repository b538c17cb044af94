//! rpm's rule for a path two packages of one transaction ship
//! (`handleOverlappedFiles` in rpm's `transaction.c`, which asks
//! `rpmfilesCompare`): they may share it when either entry is `%ghost`, or
//! when both are the same: the same type and mode (any mode for two
//! symlinks), size, owner and group, and the same link target, content
//! digest or device number. That holds for directories too: two packages
//! owning a directory with different modes conflict. `%config` files get
//! no exception: two packages that ship one differently conflict.
//!
//! Not modelled: rpm compares paths through its fingerprints, which
//! resolve symlinked directories (`/bin/x` and `/usr/bin/x` where `/bin`
//! is a link); here the paths are compared as listed. On a multilib
//! system rpm settles a conflict between a 32-bit and a 64-bit ELF file
//! (their colors) in favour of the 64-bit one; those pairs are let
//! through here and the later package's file is written, as before.

use super::INSTALL_COLOR;
use super::RpmInstallOptions;
use super::extract::{S_IFBLK, S_IFCHR, S_IFLNK, S_IFMT, S_IFREG, left_out};
use super::package::{FileEntry, RpmFile, file_flag};
use crate::install::conflicts::{self, Claim, FileConflict, Sharing, SharingRule, Verdict};

/// The rule over the packages of one transaction, in installation order.
struct RpmRule<'a> {
    packages: Vec<&'a RpmFile>,
    /// How many of them, first, the root's database already holds: what
    /// they share was settled when they were installed.
    installed: usize,
}

impl RpmRule<'_> {
    fn entry(&self, claim: &Claim<usize>) -> (&RpmFile, &FileEntry) {
        let package = self.packages[claim.package];
        (package, &package.files[claim.entry])
    }
}

impl SharingRule for RpmRule<'_> {
    /// The index of the file in its package's file list.
    type Entry = usize;

    fn verdict(&self, earlier: &Claim<usize>, later: &Claim<usize>) -> Verdict {
        if later.package < self.installed {
            return Verdict::Shared;
        }
        let (a_package, a) = self.entry(earlier);
        let (b_package, b) = self.entry(later);
        if (a.flags | b.flags) & file_flag::GHOST != 0 {
            return Verdict::Shared;
        }
        if INSTALL_COLOR != 0 && a.color != 0 && b.color != 0 && a.color != b.color {
            return Verdict::Shared;
        }
        match difference(a, a_package.digest_algo, b, b_package.digest_algo) {
            None => Verdict::Shared,
            Some(what) => Verdict::Conflict(format!("and they differ in {what}")),
        }
    }

    fn describe(&self, package: usize) -> String {
        self.packages[package].nevra()
    }
}

/// What differs between two entries for one path, as `rpmfilesCompare`
/// checks it, or `None` when they are identical to rpm.
fn difference(a: &FileEntry, a_algo: u64, b: &FileEntry, b_algo: u64) -> Option<&'static str> {
    let kind = a.mode & S_IFMT;
    let both_links = kind == S_IFLNK && b.mode & S_IFMT == S_IFLNK;
    if !both_links && a.mode != b.mode {
        return Some(if kind == b.mode & S_IFMT {
            "mode"
        } else {
            "type"
        });
    }
    if (kind == S_IFLNK || kind == S_IFREG) && a.size != b.size {
        return Some("size");
    }
    if a.user != b.user {
        return Some("owner");
    }
    if a.group != b.group {
        return Some("group");
    }
    match kind {
        S_IFLNK if a.link_to != b.link_to => Some("link target"),
        S_IFREG if a_algo != b_algo || a.digest != b.digest => Some("content"),
        S_IFCHR | S_IFBLK if a.rdev != b.rdev => Some("device number"),
        _ => None,
    }
}

/// Checks the files of `packages`, in installation order (`order` indexes
/// `packages`), against each other and against the packages the root's
/// database already holds (`installed`), for paths rpm would refuse to let
/// two of them ship. Files `options` leaves out of the image are not
/// checked, as rpm skips them. The result's positions are those of
/// `installed`, then those of `order`.
pub fn check(
    installed: &[RpmFile],
    packages: &[RpmFile],
    order: &[usize],
    options: &RpmInstallOptions,
) -> Result<Sharing, FileConflict> {
    let all: Vec<&RpmFile> = installed
        .iter()
        .chain(order.iter().map(|&i| &packages[i]))
        .collect();
    let claims = all
        .iter()
        .enumerate()
        .flat_map(|(position, package)| {
            // An installed package's files are there whatever this
            // installation leaves out.
            let new = position >= installed.len();
            package
                .files
                .iter()
                .enumerate()
                .filter(move |(_, file)| !(new && left_out(options, file)))
                .map(move |(index, file)| Claim {
                    package: position,
                    path: file.path.clone(),
                    entry: index,
                })
        })
        .collect();
    let count = all.len();
    let rule = RpmRule {
        packages: all,
        installed: installed.len(),
    };
    conflicts::check(&rule, count, claims, options.file_conflicts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(mode: u32) -> FileEntry {
        FileEntry {
            path: b"/usr/bin/x".to_vec(),
            mode,
            size: 4,
            mtime: 0,
            flags: 0,
            user: "root".to_owned(),
            group: "root".to_owned(),
            link_to: Vec::new(),
            rdev: 0,
            device: 1,
            inode: 1,
            lang: String::new(),
            caps: String::new(),
            digest: "aa".to_owned(),
            color: 0,
        }
    }

    fn differs(a: &FileEntry, b: &FileEntry) -> Option<&'static str> {
        difference(a, 8, b, 8)
    }

    #[test]
    fn identical_entries_are_shared_whatever_their_times() {
        let a = entry(0o100755);
        let mut b = a.clone();
        b.mtime = 99;
        b.inode = 7;
        assert_eq!(differs(&a, &b), None);
    }

    #[test]
    fn regular_files_differ_in_content_size_mode_owner_or_algorithm() {
        let a = entry(0o100755);
        let mut b = a.clone();
        b.digest = "bb".to_owned();
        assert_eq!(differs(&a, &b), Some("content"));
        let mut b = a.clone();
        b.size = 5;
        assert_eq!(differs(&a, &b), Some("size"));
        let mut b = a.clone();
        b.mode = 0o100644;
        assert_eq!(differs(&a, &b), Some("mode"));
        let mut b = a.clone();
        b.group = "wheel".to_owned();
        assert_eq!(differs(&a, &b), Some("group"));
        assert_eq!(difference(&a, 8, &a.clone(), 1), Some("content"));
    }

    #[test]
    fn directories_must_agree_in_mode_and_owner() {
        let a = entry(0o040755);
        assert_eq!(differs(&a, &entry(0o040755)), None);
        assert_eq!(differs(&a, &entry(0o040700)), Some("mode"));
        let mut b = entry(0o040755);
        b.user = "daemon".to_owned();
        assert_eq!(differs(&a, &b), Some("owner"));
        assert_eq!(differs(&a, &entry(0o100755)), Some("type"));
    }

    #[test]
    fn symlinks_compare_targets_not_modes() {
        let mut a = entry(0o120777);
        a.link_to = b"y".to_vec();
        let mut b = a.clone();
        b.mode = 0o120755;
        assert_eq!(differs(&a, &b), None);
        b.link_to = b"z".to_vec();
        assert_eq!(differs(&a, &b), Some("link target"));
    }

    #[test]
    fn ghosts_are_shared_with_anything() {
        let mut ghost = entry(0o100644);
        ghost.flags = file_flag::GHOST;
        ghost.digest = String::new();
        let real = entry(0o100755);
        let packages = [package("a", vec![ghost]), package("b", vec![real])];
        let order = [0, 1];
        let sharing =
            check(&[], &packages, &order, &RpmInstallOptions::default()).expect("ghost is shared");
        assert!(sharing.warnings.is_empty());
    }

    #[test]
    fn differing_config_files_conflict_naming_both_packages() {
        let mut a = entry(0o100644);
        a.flags = file_flag::CONFIG;
        let mut b = a.clone();
        b.digest = "bb".to_owned();
        let packages = [package("foo-a", vec![a]), package("foo-b", vec![b])];
        let err =
            check(&[], &packages, &[1, 0], &RpmInstallOptions::default()).expect_err("conflict");
        assert_eq!(err.path, "/usr/bin/x");
        assert_eq!(err.earlier, "foo-b-1.0-1.noarch");
        assert_eq!(err.later, "foo-a-1.0-1.noarch");
        assert_eq!(err.reason, "and they differ in content");
    }

    fn package(name: &str, files: Vec<FileEntry>) -> RpmFile {
        RpmFile {
            path: format!("{name}.rpm").into(),
            headers: Default::default(),
            name: name.to_owned(),
            epoch: None,
            version: "1.0".to_owned(),
            release: "1".to_owned(),
            arch: "noarch".to_owned(),
            provides: Vec::new(),
            requires: Vec::new(),
            files,
            digest_algo: 8,
        }
    }
}
