//! File conflicts between the packages of one installation, found from
//! their file lists before anything is written.
//!
//! Both formats have the same shape: every package, in installation order,
//! claims a list of paths, each with what it would put there. Where two
//! packages claim one path, the package format's rule ([`SharingRule`]:
//! dpkg's `Replaces`, rpm's "identical or `%ghost`") says whether they may
//! share it, which one keeps it, or whether it is a conflict. A conflict
//! stops the installation before its first file is written, unless the
//! kickstart allows conflicts (`%packages --allow-file-conflicts`): then
//! it is a warning and the later package's file wins (and, for dpkg, its
//! ownership), as with `dpkg --force-overwrite` and `rpm --replacefiles`.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

/// Whether a file conflict stops the installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileConflicts {
    /// A conflict is an error (dpkg's and rpm's default).
    #[default]
    Refuse,
    /// A conflict is a warning and the later package's file wins.
    Allow,
}

/// One path a package of the installation puts into the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim<E> {
    /// The package's position in the installation order.
    pub package: usize,
    /// The absolute path, as the package's file list names it.
    pub path: Vec<u8>,
    /// What the package puts there, as the rule needs to know it.
    pub entry: E,
}

/// What a format's rule decides for a path that an earlier package of the
/// order already owns when a later one claims it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Both may have it (a shared directory, identical files): both own it.
    Shared,
    /// The later package takes the path over; the earlier no longer owns it
    /// (dpkg: the later one declares `Replaces` on the earlier).
    LaterReplaces,
    /// The earlier package keeps the path; the later one's entry is not
    /// written and not recorded (dpkg: the earlier one `Replaces` the later).
    EarlierKeeps,
    /// Not allowed; the text says why, after "file PATH is in both A and B".
    Conflict(String),
    /// Not allowed unless something the installation does before the later
    /// package is unpacked settles it (dpkg: a diversion that a script of
    /// one of the two registers); the installer checks again then, and
    /// until then the later package takes the path over.
    Unsettled(String),
}

/// A format's rule for two packages that claim one path.
pub trait SharingRule {
    /// What a package puts at a path.
    type Entry;

    /// The verdict for `later`'s claim on a path `earlier` owns.
    fn verdict(&self, earlier: &Claim<Self::Entry>, later: &Claim<Self::Entry>) -> Verdict;

    /// How a package is named in messages: its name and version.
    fn describe(&self, package: usize) -> String;
}

/// Two packages that may not share a path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "file {path} is in both {earlier} and {later}, {reason}; add --allow-file-conflicts to %packages to let the later one win{}",
    more_note(*.more)
)]
pub struct FileConflict {
    pub path: String,
    /// The package installed first, by name and version.
    pub earlier: String,
    /// The package installed after it.
    pub later: String,
    /// Why the rule refuses it.
    pub reason: String,
    /// How many other conflicts were found besides this one.
    pub more: usize,
}

fn more_note(more: usize) -> String {
    match more {
        0 => String::new(),
        1 => " (1 more conflicting file)".to_owned(),
        n => format!(" ({n} more conflicting files)"),
    }
}

/// How the packages share their paths, for the installer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sharing {
    /// Per package: paths a later package took over, left out of its file
    /// list.
    pub disowned: Vec<BTreeSet<Vec<u8>>>,
    /// Per package: paths an earlier package keeps, not to be written.
    pub skipped: Vec<BTreeSet<Vec<u8>>>,
    /// The conflicts let through with [`FileConflicts::Allow`], one line
    /// each, with the position of the package whose file wins.
    pub warnings: Vec<(usize, String)>,
    /// The [`Verdict::Unsettled`] conflicts, for the installer to check
    /// again.
    pub unsettled: Vec<Unsettled>,
}

/// A conflict the installer has to check again before `later` is unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsettled {
    /// The positions of the two packages in the installation order.
    pub earlier: usize,
    pub later: usize,
    /// The error, should nothing have settled it.
    pub conflict: FileConflict,
}

impl Sharing {
    /// Whether `package` still owns `path` once every package is in.
    pub fn owns(&self, package: usize, path: &[u8]) -> bool {
        self.disowned
            .get(package)
            .is_none_or(|paths| !paths.contains(path))
    }

    /// The unsettled conflicts to check before `package` is unpacked.
    pub fn unsettled_before(&self, package: usize) -> impl Iterator<Item = &Unsettled> {
        self.unsettled.iter().filter(move |u| u.later == package)
    }

    /// The paths of `package` that another package keeps.
    pub fn skipped(&self, package: usize) -> &BTreeSet<Vec<u8>> {
        static NONE: BTreeSet<Vec<u8>> = BTreeSet::new();
        self.skipped.get(package).unwrap_or(&NONE)
    }
}

/// Checks the claims of `packages` packages (each package's claims in
/// their list's order, packages in installation order) with `rule`. With
/// [`FileConflicts::Refuse`], the first conflict in installation order is
/// the error, counting the others.
pub fn check<R: SharingRule>(
    rule: &R,
    packages: usize,
    claims: Vec<Claim<R::Entry>>,
    policy: FileConflicts,
) -> Result<Sharing, FileConflict> {
    let mut by_path: BTreeMap<Vec<u8>, Vec<Claim<R::Entry>>> = BTreeMap::new();
    for claim in claims {
        by_path.entry(claim.path.clone()).or_default().push(claim);
    }
    let mut sharing = Sharing {
        disowned: vec![BTreeSet::new(); packages],
        skipped: vec![BTreeSet::new(); packages],
        warnings: Vec::new(),
        unsettled: Vec::new(),
    };
    // With the later package's position, to report the first one met.
    let mut conflicts: Vec<(usize, FileConflict)> = Vec::new();
    for (path, mut claims) in by_path {
        if claims.len() < 2 {
            continue;
        }
        // A stable sort: a package that lists a path twice keeps its order.
        claims.sort_by_key(|c| c.package);
        // The claims whose package owns the path so far, as dpkg's file
        // database has it while it unpacks one package after another.
        let mut owners: Vec<usize> = Vec::new();
        for (index, later) in claims.iter().enumerate() {
            let mut keep = true;
            let mut still: Vec<usize> = Vec::new();
            for &owner in &owners {
                let earlier = &claims[owner];
                if earlier.package == later.package {
                    still.push(owner);
                    continue;
                }
                match rule.verdict(earlier, later) {
                    Verdict::Shared => still.push(owner),
                    Verdict::LaterReplaces => {
                        sharing.disowned[earlier.package].insert(path.clone());
                    }
                    Verdict::EarlierKeeps => {
                        keep = false;
                        still.push(owner);
                    }
                    Verdict::Conflict(reason) | Verdict::Unsettled(reason)
                        if policy == FileConflicts::Allow =>
                    {
                        sharing.warnings.push((
                            later.package,
                            format!(
                                "file {} is in both {} and {}, {reason}; the one of {} is installed (--allow-file-conflicts)",
                                String::from_utf8_lossy(&path),
                                rule.describe(earlier.package),
                                rule.describe(later.package),
                                rule.describe(later.package)
                            ),
                        ));
                        // The later one takes it over, as with
                        // `dpkg --force-overwrite`.
                        sharing.disowned[earlier.package].insert(path.clone());
                    }
                    Verdict::Conflict(reason) => {
                        let conflict = conflict(rule, &path, earlier, later, reason);
                        conflicts.push((later.package, conflict));
                    }
                    Verdict::Unsettled(reason) => {
                        sharing.unsettled.push(Unsettled {
                            earlier: earlier.package,
                            later: later.package,
                            conflict: conflict(rule, &path, earlier, later, reason),
                        });
                        sharing.disowned[earlier.package].insert(path.clone());
                    }
                }
            }
            if keep {
                still.push(index);
            } else {
                sharing.skipped[later.package].insert(path.clone());
            }
            owners = still;
        }
    }
    // The first conflict a package-by-package installation would meet.
    let total = conflicts.len();
    let first = conflicts
        .into_iter()
        .min_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.path.cmp(&y.path)));
    match first {
        Some((_, first)) => Err(FileConflict {
            more: total - 1,
            ..first
        }),
        None => Ok(sharing),
    }
}

/// The error for `later`'s claim on `path`, which `earlier` owns.
fn conflict<R: SharingRule>(
    rule: &R,
    path: &[u8],
    earlier: &Claim<R::Entry>,
    later: &Claim<R::Entry>,
    reason: String,
) -> FileConflict {
    FileConflict {
        path: String::from_utf8_lossy(path).into_owned(),
        earlier: rule.describe(earlier.package),
        later: rule.describe(later.package),
        reason,
        more: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule for the tests: entries are strings; equal ones are shared,
    /// "dir" is always shared, "replaces" replaces, "keeps" lets an earlier
    /// "kept" entry stay.
    struct Toy;

    impl SharingRule for Toy {
        type Entry = &'static str;

        fn verdict(&self, earlier: &Claim<&'static str>, later: &Claim<&'static str>) -> Verdict {
            match (earlier.entry, later.entry) {
                (a, b) if a == b => Verdict::Shared,
                (_, "diverted") => Verdict::Unsettled("maybe".to_owned()),
                (_, "replaces") => Verdict::LaterReplaces,
                ("kept", _) => Verdict::EarlierKeeps,
                _ => Verdict::Conflict("they differ".to_owned()),
            }
        }

        fn describe(&self, package: usize) -> String {
            format!("p{package} 1.0")
        }
    }

    fn claim(package: usize, path: &str, entry: &'static str) -> Claim<&'static str> {
        Claim {
            package,
            path: path.as_bytes().to_vec(),
            entry,
        }
    }

    #[test]
    fn a_path_of_one_package_is_no_conflict() {
        let claims = vec![claim(0, "/a", "x"), claim(1, "/b", "y")];
        let sharing = check(&Toy, 2, claims, FileConflicts::Refuse).expect("no conflict");
        assert_eq!(
            sharing,
            Sharing {
                disowned: vec![BTreeSet::new(); 2],
                skipped: vec![BTreeSet::new(); 2],
                warnings: vec![],
                unsettled: vec![],
            }
        );
    }

    #[test]
    fn a_differing_path_is_refused_naming_both_packages() {
        let claims = vec![
            claim(1, "/usr/bin/x", "b"),
            claim(0, "/usr/bin/x", "a"),
            claim(0, "/usr/bin/y", "a"),
            claim(1, "/usr/bin/y", "b"),
        ];
        let err = check(&Toy, 2, claims, FileConflicts::Refuse).expect_err("conflict");
        assert_eq!(err.path, "/usr/bin/x");
        assert_eq!(err.earlier, "p0 1.0");
        assert_eq!(err.later, "p1 1.0");
        assert_eq!(err.more, 1);
        assert_eq!(
            err.to_string(),
            "file /usr/bin/x is in both p0 1.0 and p1 1.0, they differ; add --allow-file-conflicts to %packages to let the later one win (1 more conflicting file)"
        );
    }

    #[test]
    fn allowed_conflicts_are_warnings_and_the_later_package_takes_the_path() {
        let claims = vec![claim(0, "/x", "a"), claim(1, "/x", "b")];
        let sharing = check(&Toy, 2, claims, FileConflicts::Allow).expect("allowed");
        assert_eq!(sharing.warnings.len(), 1);
        assert_eq!(sharing.warnings[0].0, 1);
        assert!(
            sharing.warnings[0]
                .1
                .contains("the one of p1 1.0 is installed")
        );
        let x: BTreeSet<Vec<u8>> = [b"/x".to_vec()].into();
        assert_eq!(sharing.disowned, vec![x, BTreeSet::new()]);
        assert!(sharing.skipped.iter().all(BTreeSet::is_empty));
    }

    #[test]
    fn replacing_disowns_the_earlier_package() {
        let claims = vec![
            claim(0, "/x", "a"),
            claim(1, "/x", "a"),
            claim(2, "/x", "replaces"),
        ];
        let sharing = check(&Toy, 3, claims, FileConflicts::Refuse).expect("replaced");
        let x: BTreeSet<Vec<u8>> = [b"/x".to_vec()].into();
        assert_eq!(sharing.disowned, vec![x.clone(), x, BTreeSet::new()]);
    }

    #[test]
    fn a_kept_path_is_skipped_for_the_later_package_and_checked_no_further() {
        // p1's entry is skipped, so p2 meets only p0's, which it equals.
        let claims = vec![
            claim(0, "/x", "kept"),
            claim(1, "/x", "other"),
            claim(2, "/x", "kept"),
        ];
        let sharing = check(&Toy, 3, claims, FileConflicts::Refuse).expect("kept");
        let x: BTreeSet<Vec<u8>> = [b"/x".to_vec()].into();
        assert_eq!(sharing.skipped, vec![BTreeSet::new(), x, BTreeSet::new()]);
    }

    #[test]
    fn unsettled_conflicts_wait_for_the_installer_and_are_warnings_when_allowed() {
        let claims = vec![claim(0, "/x", "a"), claim(1, "/x", "diverted")];
        let sharing = check(&Toy, 2, claims.clone(), FileConflicts::Refuse).expect("unsettled");
        assert_eq!(sharing.unsettled_before(0).count(), 0);
        let waiting: Vec<&Unsettled> = sharing.unsettled_before(1).collect();
        assert_eq!(waiting.len(), 1);
        assert_eq!((waiting[0].earlier, waiting[0].later), (0, 1));
        assert_eq!(waiting[0].conflict.path, "/x");
        assert!(!sharing.owns(0, b"/x"));
        let allowed = check(&Toy, 2, claims, FileConflicts::Allow).expect("allowed");
        assert!(allowed.unsettled.is_empty());
        assert_eq!(allowed.warnings.len(), 1);
    }

    #[test]
    fn a_package_listing_a_path_twice_does_not_conflict_with_itself() {
        let claims = vec![claim(0, "/x", "a"), claim(0, "/x", "b")];
        check(&Toy, 1, claims, FileConflicts::Refuse).expect("own path");
    }
}
