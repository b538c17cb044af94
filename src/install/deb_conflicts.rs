//! dpkg's rule for a path two packages of one installation ship
//! (`tarobject` in dpkg's `archives.c`): directories are shared (also with
//! a symlink another package ships there, which dpkg follows); the
//! instances of a `Multi-Arch: same` package share identical files; a
//! package that declares `Replaces:` on the other (by name, and version if
//! the relation has one) takes the path over, in either direction; anything
//! else is a conflict ("trying to overwrite '…', which is also in package
//! …").
//!
//! Paths are compared as the packages list them, as dpkg does: `/bin/x`
//! and `/usr/bin/x` are different paths to it even when `/bin` is a link
//! to `/usr/bin`.
//!
//! [`unpack_shared`] then unpacks each package as the check decided, and
//! as the diversions registered so far say.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use debversion::Version;
use thiserror::Error;

use super::conflicts::{self, Claim, FileConflict, FileConflicts, Sharing, SharingRule, Verdict};
use super::deb::{DataEntry, DebError, DebPackage, Unpacked};
use super::dpkg_db::{self, DbError, Diversion, InstalledPackage};
use super::rootfs::{Existing, InRootPath, RootError, RootFs};
use crate::parallel;
use crate::repo::relation::{RelationError, Relations, parse_relations};
use crate::resolve::debian::satisfies;

#[derive(Debug, Error)]
pub enum DebConflictError {
    #[error(transparent)]
    Deb(#[from] DebError),
    #[error("{package}: Replaces: {source}")]
    Replaces {
        package: PathBuf,
        source: RelationError,
    },
    #[error(transparent)]
    Conflict(#[from] FileConflict),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Root(#[from] RootError),
}

/// The program whose mention in a `preinst` makes a conflict unsettled.
const DIVERT: &[u8] = b"dpkg-divert";

/// What the rule needs to know of a package besides its files.
#[derive(Debug, Clone)]
struct Identity {
    name: String,
    version: String,
    architecture: String,
    multi_arch_same: bool,
    replaces: Relations,
    /// Whether its `preinst` calls `dpkg-divert`: then a path it shares
    /// with another package may be diverted by the time the second of the
    /// two is unpacked, which makes the sharing legal.
    diverts: bool,
}

impl Identity {
    fn of(deb: &DebPackage) -> Result<Identity, DebConflictError> {
        let replaces =
            parse_relations(deb.field("Replaces").unwrap_or_default()).map_err(|source| {
                DebConflictError::Replaces {
                    package: deb.path().to_path_buf(),
                    source,
                }
            })?;
        Ok(Identity {
            name: deb.name().to_owned(),
            version: deb.version().to_owned(),
            architecture: deb.architecture().to_owned(),
            multi_arch_same: deb.is_multi_arch_same(),
            replaces,
            diverts: deb
                .control_file("preinst")
                .is_some_and(|script| script.windows(DIVERT.len()).any(|w| w == DIVERT)),
        })
    }

    /// dpkg's `does_replace`: a `Replaces` relation names `old` and its
    /// version constraint, if any, holds for `old`'s version. A virtual
    /// name (`Provides`) does not count.
    /// An installed package, as the root's dpkg database records it. Its
    /// scripts ran long ago: a diversion of its would be registered.
    fn installed(package: &InstalledPackage) -> Result<Identity, DebConflictError> {
        let replaces =
            parse_relations(&package.replaces).map_err(|source| DebConflictError::Replaces {
                package: PathBuf::from(format!("installed package {}", package.instance)),
                source,
            })?;
        Ok(Identity {
            name: package.name.clone(),
            version: package.version.clone(),
            architecture: package.architecture.clone(),
            multi_arch_same: package.multi_arch_same,
            replaces,
            diverts: false,
        })
    }

    fn replaces(&self, old: &Identity) -> bool {
        self.replaces.iter().flatten().any(|relation| {
            relation.name == old.name
                && relation.constraint.as_ref().is_none_or(|(op, wanted)| {
                    Version::from_str(&old.version).is_ok_and(|have| satisfies(&have, *op, wanted))
                })
        })
    }
}

/// The rule over the packages of one installation, in order.
struct DpkgRule {
    packages: Vec<Identity>,
    /// How many of them, first, the root's database already holds: what
    /// they share was settled when they were unpacked.
    installed: usize,
}

impl SharingRule for DpkgRule {
    type Entry = DataEntry;

    fn verdict(&self, earlier: &Claim<DataEntry>, later: &Claim<DataEntry>) -> Verdict {
        if later.package < self.installed {
            return Verdict::Shared;
        }
        let (old, new) = (
            &self.packages[earlier.package],
            &self.packages[later.package],
        );
        // dpkg looks at what is on disk: a directory entry meets a
        // directory, or a symlink it follows to one, and is shared. The
        // link's target is not known here; one to a file would be refused
        // by dpkg and is let through.
        let on_disk_dir = matches!(
            earlier.entry,
            DataEntry::Directory | DataEntry::Symlink { .. }
        );
        if later.entry == DataEntry::Directory && on_disk_dir {
            return Verdict::Shared;
        }
        // Two instances of one package (a resolved set has a name twice
        // only for `Multi-Arch: same`): dpkg shares the file between them
        // and insists that it is the same.
        if old.name == new.name {
            return if earlier.entry == later.entry {
                Verdict::Shared
            } else {
                Verdict::Conflict(
                    "instances of one Multi-Arch: same package, and they ship it different"
                        .to_owned(),
                )
            };
        }
        if new.replaces(old) {
            Verdict::LaterReplaces
        } else if old.replaces(new) {
            Verdict::EarlierKeeps
        } else {
            let reason = format!("and {} does not declare Replaces: {}", new.name, old.name);
            if old.diverts || new.diverts {
                Verdict::Unsettled(reason)
            } else {
                Verdict::Conflict(reason)
            }
        }
    }

    fn describe(&self, package: usize) -> String {
        let p = &self.packages[package];
        if p.multi_arch_same {
            format!("{}:{} {}", p.name, p.architecture, p.version)
        } else {
            format!("{} {}", p.name, p.version)
        }
    }
}

/// How the packages of one installation share their paths, by position:
/// first the packages the root already holds, then the new ones in unpack
/// order; and their names, to match diversions against.
#[derive(Debug, Clone, Default)]
pub struct DebPlan {
    sharing: Sharing,
    names: Vec<String>,
    /// The `info/` names of the installed packages, by position.
    installed: Vec<String>,
    /// The paths each new package ships, by unpack index (none known for
    /// a package unpacked without a check).
    shipped: Vec<BTreeSet<String>>,
}

impl DebPlan {
    /// The conflicts let through by [`FileConflicts::Allow`], one line each.
    pub fn warnings(&self) -> Vec<String> {
        self.sharing
            .warnings
            .iter()
            .map(|(_, w)| w.clone())
            .collect()
    }
}

/// Checks the data archives of `debs`, in the order they will be unpacked,
/// against each other and against the packages `root` already holds, for
/// paths dpkg would refuse to let two of them ship. Nothing is written. A
/// conflict between two packages of which one may register a diversion is
/// checked again when the later one is unpacked ([`unpack_shared`]).
pub fn check(
    root: &RootFs,
    debs: &[&Path],
    policy: FileConflicts,
) -> Result<DebPlan, DebConflictError> {
    // Listing an archive means decompressing all of it, so they are read
    // side by side, the largest first so that no long one starts last.
    // Each worker has one package file open at a time: a Debian set has
    // more packages than a process may have files open.
    let mut largest_first: Vec<usize> = (0..debs.len()).collect();
    largest_first.sort_by_key(|&i| Reverse(std::fs::metadata(debs[i]).map_or(0, |m| m.len())));
    let mut listed = parallel::try_map(&largest_first, |&i| {
        let mut deb = DebPackage::open(debs[i])?;
        let identity = Identity::of(&deb)?;
        // Only the instances of a Multi-Arch: same package are compared
        // by content; hashing every package would cost a second full read.
        let entries = deb.data_entries(identity.multi_arch_same)?;
        Ok::<_, DebConflictError>((i, dpkg_db::instance_name(&deb), identity, entries))
    })?;
    listed.sort_by_key(|(i, ..)| *i);
    let reinstalled: BTreeSet<String> = listed
        .iter()
        .map(|(_, instance, ..)| instance.clone())
        .collect();
    let new = listed
        .into_iter()
        .map(|(_, _, identity, entries)| (identity, entries));
    let mut packages = Vec::new();
    let mut claims = Vec::new();
    let mut installed = Vec::new();
    // A package being installed again owns its old files itself.
    for old in dpkg_db::installed(root)?
        .into_iter()
        .filter(|p| !reinstalled.contains(&p.instance))
    {
        let position = packages.len();
        for path in &old.paths {
            claims.push(Claim {
                package: position,
                path: path.clone().into_bytes(),
                entry: on_disk(root, path, old.md5.get(path))?,
            });
        }
        packages.push(Identity::installed(&old)?);
        installed.push(old.instance);
    }
    let mut shipped = Vec::new();
    for (identity, entries) in new {
        let position = packages.len();
        shipped.push(entries.iter().map(|(path, _)| path.clone()).collect());
        for (path, entry) in entries {
            claims.push(Claim {
                package: position,
                path: path.into_bytes(),
                entry,
            });
        }
        packages.push(identity);
    }
    let names = packages.iter().map(|p| p.name.clone()).collect();
    let count = packages.len();
    let rule = DpkgRule {
        packages,
        installed: installed.len(),
    };
    let sharing = conflicts::check(&rule, count, claims, policy)?;
    Ok(DebPlan {
        sharing,
        names,
        installed,
        shipped,
    })
}

/// What an installed package's `path` is, as dpkg looks at it on disk: a
/// directory (also through a symlink), a file with the hash its
/// `md5sums` records, a symlink, or something else.
fn on_disk(root: &RootFs, path: &str, md5: Option<&String>) -> Result<DataEntry, RootError> {
    let at = InRootPath::parse(path)?;
    if root.existing(&at)? == Existing::Directory {
        return Ok(DataEntry::Directory);
    }
    if let Some(md5) = md5 {
        return Ok(DataEntry::File {
            md5: Some(md5.clone()),
        });
    }
    Ok(match root.read_link(&at)? {
        Some(target) => DataEntry::Symlink {
            target: target.into_vec(),
        },
        None => DataEntry::Node,
    })
}

/// Unpacks `deb`, the package at `index` of the `debs` [`check`] saw, as
/// `plan` says: without the paths an earlier package keeps, and listing
/// only the paths no later package takes over, so that dpkg's database
/// names one owner per replaced file (an installed package's list loses
/// the paths this one takes over). An unsettled conflict of this package
/// is an error first, unless one of the two packages has diverted the path
/// by now (`diversions`, read by the caller when dpkg would read them), as
/// dpkg then unpacks the other's file under the diverted name.
pub fn unpack_shared(
    root: &RootFs,
    deb: &mut DebPackage,
    plan: &DebPlan,
    index: usize,
    diversions: &[Diversion],
) -> Result<Unpacked, DebConflictError> {
    let position = plan.installed.len() + index;
    let mut waiting = plan.sharing.unsettled_before(position).peekable();
    if waiting.peek().is_some() {
        for unsettled in waiting {
            let by = |index: usize| plan.names.get(index).map(String::as_str);
            let settled = diversions.iter().any(|d| {
                d.from == unsettled.conflict.path
                    && [by(unsettled.earlier), by(unsettled.later)]
                        .contains(&Some(d.package.as_str()))
            });
            if !settled {
                return Err(unsettled.conflict.clone().into());
            }
        }
    }
    let mut unpacked = unpack_diverted(
        root,
        deb,
        plan.sharing.skipped(position),
        plan.shipped.get(index),
        diversions,
    )?;
    for (old, instance) in plan.installed.iter().enumerate() {
        let lost: BTreeSet<&str> = unpacked
            .paths
            .iter()
            .map(String::as_str)
            .filter(|path| !plan.sharing.owns(old, path.as_bytes()))
            .collect();
        if !lost.is_empty() {
            dpkg_db::drop_from_list(root, instance, &lost)?;
        }
    }
    unpacked
        .paths
        .retain(|path| plan.sharing.owns(position, path.as_bytes()));
    Ok(unpacked)
}

/// Where a diverting package's file waits while a diverted one is unpacked.
const STASH_SUFFIX: &str = ".livecompose-diverted";

/// Unpacks `deb` but `skip`, honouring the diversions other packages
/// registered: a diverted file of this package lands at the diversion's
/// target and the diverting package's own file stays in place, as with
/// dpkg. The list keeps the original names, as dpkg's does. When the
/// package's paths are known (`shipped`), only the diverted ones it ships
/// are moved aside: the others (`/bin/sh`, which dash diverts) stay where
/// the image's scripts, which may be running meanwhile, look for them.
fn unpack_diverted(
    root: &RootFs,
    deb: &mut DebPackage,
    skip: &BTreeSet<Vec<u8>>,
    shipped: Option<&BTreeSet<String>>,
    diversions: &[Diversion],
) -> Result<Unpacked, DebConflictError> {
    let foreign: Vec<(InRootPath, InRootPath, InRootPath)> = diversions
        .iter()
        .filter(|diversion| {
            diversion.package != deb.name()
                && shipped.is_none_or(|paths| paths.contains(&diversion.from))
        })
        .map(|diversion| {
            Ok((
                InRootPath::parse(&diversion.from)?,
                InRootPath::parse(&diversion.to)?,
                InRootPath::parse(format!("{}{STASH_SUFFIX}", diversion.from))?,
            ))
        })
        .collect::<Result<_, RootError>>()?;
    let mut stashed = Vec::new();
    for (from, _, stash) in &foreign {
        stashed.push(root.rename(from, stash)?);
    }
    let unpacked = deb.unpack_except(root, skip);
    for ((from, to, stash), was_stashed) in foreign.iter().zip(stashed) {
        if unpacked.is_ok() {
            root.rename(from, to)?;
        }
        if was_stashed {
            root.rename(stash, from)?;
        }
    }
    Ok(unpacked?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(name: &str, version: &str, replaces: &str, ma_same: bool) -> Identity {
        Identity {
            name: name.to_owned(),
            version: version.to_owned(),
            architecture: "amd64".to_owned(),
            multi_arch_same: ma_same,
            replaces: parse_relations(replaces).expect("relations"),
            diverts: false,
        }
    }

    fn claim(package: usize, entry: DataEntry) -> Claim<DataEntry> {
        Claim {
            package,
            path: b"/usr/bin/x".to_vec(),
            entry,
        }
    }

    fn file(md5: &str) -> DataEntry {
        DataEntry::File {
            md5: Some(md5.to_owned()),
        }
    }

    fn verdict(a: Identity, b: Identity, ea: DataEntry, eb: DataEntry) -> Verdict {
        let rule = DpkgRule {
            packages: vec![a, b],
            installed: 0,
        };
        rule.verdict(&claim(0, ea), &claim(1, eb))
    }

    #[test]
    fn replaces_matches_name_and_version_only() {
        let old = identity("foo-a", "1.0-1", "", false);
        let cases = [
            ("foo-a", true),
            ("foo-a (<< 1.1)", true),
            ("foo-a (<= 1.0-1)", true),
            ("foo-a (<< 1.0)", false),
            ("foo-a (>= 2)", false),
            ("foo-b, foo-a (= 1.0-1)", true),
            ("foo", false),
            ("bar | foo-a", true),
        ];
        for (replaces, expected) in cases {
            let new = identity("foo-b", "2.0", replaces, false);
            assert_eq!(new.replaces(&old), expected, "Replaces: {replaces}");
        }
    }

    #[test]
    fn directories_are_shared() {
        let v = verdict(
            identity("a", "1", "", false),
            identity("b", "1", "", false),
            DataEntry::Directory,
            DataEntry::Directory,
        );
        assert_eq!(v, Verdict::Shared);
    }

    #[test]
    fn a_directory_under_another_package_s_symlink_is_shared_but_not_the_reverse() {
        let link = DataEntry::Symlink {
            target: b"../share/x".to_vec(),
        };
        let a = identity("a", "1", "", false);
        let b = identity("b", "1", "", false);
        let v = verdict(a.clone(), b.clone(), link.clone(), DataEntry::Directory);
        assert_eq!(v, Verdict::Shared);
        let v = verdict(a, b, DataEntry::Directory, link);
        assert!(matches!(v, Verdict::Conflict(_)));
    }

    #[test]
    fn a_file_without_replaces_conflicts_even_when_identical() {
        let v = verdict(
            identity("foo-a", "1.0", "", false),
            identity("foo-b", "2.0", "", false),
            file("00"),
            file("00"),
        );
        assert_eq!(
            v,
            Verdict::Conflict("and foo-b does not declare Replaces: foo-a".to_owned())
        );
        // A directory where the other ships a file is no better.
        let v = verdict(
            identity("foo-a", "1.0", "", false),
            identity("foo-b", "2.0", "", false),
            DataEntry::Directory,
            file("00"),
        );
        assert!(matches!(v, Verdict::Conflict(_)));
    }

    #[test]
    fn a_conflict_with_a_diverting_package_is_unsettled() {
        let mut diverter = identity("foo-a", "1.0", "", false);
        diverter.diverts = true;
        let other = identity("foo-b", "2.0", "", false);
        let expected = Verdict::Unsettled("and foo-b does not declare Replaces: foo-a".to_owned());
        let v = verdict(diverter.clone(), other.clone(), file("00"), file("11"));
        assert_eq!(v, expected);
        let v = verdict(other, diverter, file("00"), file("11"));
        assert!(matches!(v, Verdict::Unsettled(_)));
    }

    #[test]
    fn replaces_works_in_both_directions() {
        let v = verdict(
            identity("foo-a", "1.0", "", false),
            identity("foo-b", "2.0", "foo-a (<< 1.1)", false),
            file("00"),
            file("11"),
        );
        assert_eq!(v, Verdict::LaterReplaces);
        let v = verdict(
            identity("foo-b", "2.0", "foo-a", false),
            identity("foo-a", "1.0", "", false),
            file("00"),
            file("11"),
        );
        assert_eq!(v, Verdict::EarlierKeeps);
    }

    #[test]
    fn multi_arch_same_instances_share_identical_entries_only() {
        let mut i386 = identity("libx", "1", "", true);
        i386.architecture = "i386".to_owned();
        let amd64 = identity("libx", "1", "", true);
        let same = verdict(amd64.clone(), i386.clone(), file("ab"), file("ab"));
        assert_eq!(same, Verdict::Shared);
        let link = |t: &str| DataEntry::Symlink {
            target: t.as_bytes().to_vec(),
        };
        let links = verdict(amd64.clone(), i386.clone(), link("a"), link("a"));
        assert_eq!(links, Verdict::Shared);
        let differ = verdict(amd64.clone(), i386.clone(), file("ab"), file("cd"));
        assert!(matches!(differ, Verdict::Conflict(_)));
        let rule = DpkgRule {
            packages: vec![amd64, i386],
            installed: 0,
        };
        assert_eq!(rule.describe(1), "libx:i386 1");
    }
}
