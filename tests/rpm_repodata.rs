//! Offline tier: RPM repodata written by the real tools (`rpmbuild`,
//! `createrepo_c`) read back with `repo::rpm`, and checked against what
//! `rpm -qp` says about the same package files.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::rpmrepo;
use livecompose::repo::rpm::primary::{FileKind, RpmPackage};
use livecompose::repo::rpm::{
    ChecksumKind, Dependency, FileLists, Repodata, RepodataError, read_local,
};

const SPECS: &[&str] = &["alpha", "beta", "gamma"];

/// What rpm reports for one package file.
#[derive(Debug, Default)]
struct RpmSays {
    identity: String,
    provides: BTreeSet<String>,
    /// Each requirement with its `deptype` (`pre`, `auto`, `rpmlib`, ...).
    requires: Vec<(String, String)>,
    conflicts: BTreeSet<String>,
    obsoletes: BTreeSet<String>,
    recommends: BTreeSet<String>,
    suggests: BTreeSet<String>,
    supplements: BTreeSet<String>,
    enhances: BTreeSet<String>,
    /// `(path, kind)` for every file.
    files: BTreeSet<(String, FileKind)>,
}

fn rpm_says(rpm: &Path) -> RpmSays {
    let qf = "I %{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH} %{SIZE} %{SOURCERPM}\n\
              [P %{PROVIDENEVRS}\n][R %{REQUIRENEVRS}|%{REQUIREFLAGS:deptype}\n]\
              [C %{CONFLICTNEVRS}\n][O %{OBSOLETENEVRS}\n][REC %{RECOMMENDNEVRS}\n]\
              [SUG %{SUGGESTNEVRS}\n][SUP %{SUPPLEMENTNEVRS}\n][ENH %{ENHANCENEVRS}\n]\
              [F %{FILEMODES:perms}|%{FILEFLAGS:fflags}|%{FILENAMES}\n]";
    let out = rpmrepo::run("rpm", "rpm", &["-qp", "--qf", qf, rpm.to_str().unwrap()]);
    let mut says = RpmSays::default();
    for line in out.lines() {
        let (tag, rest) = line.split_once(' ').unwrap();
        let rest = rest.to_owned();
        match tag {
            "I" => says.identity = rest,
            "P" => drop(says.provides.insert(rest)),
            "R" => {
                let (dep, deptype) = rest.rsplit_once('|').unwrap();
                says.requires.push((dep.to_owned(), deptype.to_owned()));
            }
            "C" => drop(says.conflicts.insert(rest)),
            "O" => drop(says.obsoletes.insert(rest)),
            "REC" => drop(says.recommends.insert(rest)),
            "SUG" => drop(says.suggests.insert(rest)),
            "SUP" => drop(says.supplements.insert(rest)),
            "ENH" => drop(says.enhances.insert(rest)),
            "F" => {
                let mut parts = rest.splitn(3, '|');
                let (perms, flags, path) = (
                    parts.next().unwrap(),
                    parts.next().unwrap(),
                    parts.next().unwrap(),
                );
                let kind = if flags.contains('g') {
                    FileKind::Ghost
                } else if perms.starts_with('d') {
                    FileKind::Dir
                } else {
                    FileKind::File
                };
                says.files.insert((path.to_owned(), kind));
            }
            other => panic!("unexpected rpm output {other:?}"),
        }
    }
    says
}

fn strings(deps: &[Dependency]) -> BTreeSet<String> {
    deps.iter().map(ToString::to_string).collect()
}

/// createrepo_c puts into primary only the files rpm itself would resolve
/// file dependencies against without filelists.
fn in_primary_subset(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

/// Checks every package of `data` against rpm's view of its file.
fn check_against_rpm(data: &Repodata, root: &Path, rpms: &[PathBuf]) {
    assert_eq!(data.packages.len(), rpms.len());
    for rpm in rpms {
        let says = rpm_says(rpm);
        let name = says.identity.split(' ').next().unwrap();
        let pkg: &RpmPackage = data
            .packages
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name} missing from primary"));

        let identity = format!(
            "{} {} {} {} {} {} {}",
            pkg.name,
            pkg.evr.epoch,
            pkg.evr.version,
            pkg.evr.release.as_deref().unwrap(),
            pkg.arch,
            pkg.installed_size,
            pkg.source_rpm.as_deref().unwrap()
        );
        assert_eq!(identity, says.identity);

        // Where the package is, what it weighs and hashes to.
        let on_disk = root.join(&pkg.location);
        assert_eq!(on_disk.canonicalize().unwrap(), rpm.canonicalize().unwrap());
        assert_eq!(pkg.package_size, fs::metadata(rpm).unwrap().len());
        assert_eq!(pkg.checksum.kind, ChecksumKind::Sha256);
        let digest = ChecksumKind::Sha256
            .digest(fs::File::open(rpm).unwrap())
            .unwrap();
        assert_eq!(pkg.checksum, digest);

        assert_eq!(strings(&pkg.provides), says.provides, "{name} provides");
        assert_eq!(strings(&pkg.conflicts), says.conflicts, "{name} conflicts");
        assert_eq!(strings(&pkg.obsoletes), says.obsoletes, "{name} obsoletes");
        assert_eq!(
            strings(&pkg.recommends),
            says.recommends,
            "{name} recommends"
        );
        assert_eq!(strings(&pkg.suggests), says.suggests, "{name} suggests");
        assert_eq!(
            strings(&pkg.supplements),
            says.supplements,
            "{name} supplements"
        );
        assert_eq!(strings(&pkg.enhances), says.enhances, "{name} enhances");

        // createrepo_c drops rpmlib() requirements and those the package
        // provides itself, and merges duplicates; everything else must be
        // there, with `pre` exactly where rpm has a Requires(pre).
        let ours = strings(&pkg.requires);
        let mut expected = BTreeSet::new();
        let mut expected_pre = BTreeSet::new();
        for (dep, deptype) in &says.requires {
            if dep.starts_with("rpmlib(") || says.provides.contains(dep) {
                continue;
            }
            expected.insert(dep.clone());
            if deptype.split(',').any(|t| t == "pre") {
                expected_pre.insert(dep.clone());
            }
        }
        assert_eq!(ours, expected, "{name} requires");
        let ours_pre: BTreeSet<String> = pkg
            .requires
            .iter()
            .filter(|d| d.pre)
            .map(ToString::to_string)
            .collect();
        assert_eq!(ours_pre, expected_pre, "{name} Requires(pre)");
        for dep in pkg.requires.iter().chain(&pkg.supplements) {
            if let Some(rich) = dep.rich() {
                let rich = rich.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(rich.to_string(), dep.name, "rich dependency round trip");
            }
        }

        let files: BTreeSet<(String, FileKind)> =
            pkg.files.iter().map(|f| (f.path.clone(), f.kind)).collect();
        if data.full_file_lists {
            assert_eq!(files, says.files, "{name} files (filelists)");
        } else {
            let subset = says
                .files
                .iter()
                .filter(|(path, kind)| *kind != FileKind::Dir && in_primary_subset(path))
                .cloned()
                .collect();
            assert_eq!(files, subset, "{name} files (primary)");
        }
    }
}

#[test]
fn repodata_in_every_compression_matches_rpm() {
    let (dir, rpms) = rpmrepo::build(SPECS);
    let gz = rpmrepo::createrepo(dir.path(), "gz", &[]);
    let xz = rpmrepo::createrepo(dir.path(), "xz", &["--general-compress-type=xz"]);
    let bz2 = rpmrepo::createrepo(dir.path(), "bz2", &["--general-compress-type=bz2"]);
    let zst = rpmrepo::createrepo(dir.path(), "zst", &[]);
    rpmrepo::recompress_zstd(&zst, "primary");
    rpmrepo::recompress_zstd(&zst, "filelists");

    for (root, suffix) in [(&gz, ".gz"), (&xz, ".xz"), (&bz2, ".bz2"), (&zst, ".zst")] {
        for file_lists in [FileLists::PrimaryOnly, FileLists::Full] {
            let data =
                read_local(root, file_lists).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
            let primary = data.repomd.record("primary").unwrap();
            assert!(primary.location.ends_with(suffix), "{}", primary.location);
            check_against_rpm(&data, root, &rpms);
        }
    }

    // The comparisons above are only as good as the fixtures' coverage:
    // make sure the interesting cases are really in the index.
    let full = read_local(&zst, FileLists::Full).unwrap();
    let alpha = full.packages.iter().find(|p| p.name == "alpha").unwrap();
    assert_eq!(alpha.evr.to_string(), "2:1.0~rc1-3");
    assert!(alpha.requires.iter().any(|d| d.pre && d.name == "/bin/sh"));
    assert_eq!(alpha.requires.iter().filter(|d| d.is_rich()).count(), 2);
    assert!(alpha.files.iter().any(|f| f.kind == FileKind::Ghost));
    let gamma = full.packages.iter().find(|p| p.name == "gamma").unwrap();
    assert!(gamma.requires.iter().any(|d| d.is_file()));

    // The files only filelists knows about arrive with FileLists::Full.
    let beta = full.packages.iter().find(|p| p.name == "beta").unwrap();
    assert!(
        beta.files
            .iter()
            .any(|f| f.path == "/usr/lib/beta/only-in-filelists.txt")
    );
    let partial = read_local(&zst, FileLists::PrimaryOnly).unwrap();
    let beta = partial.packages.iter().find(|p| p.name == "beta").unwrap();
    assert!(beta.files.is_empty());
}

#[test]
fn tampered_primary_is_refused_naming_the_file_and_both_sums() {
    let (dir, _rpms) = rpmrepo::build(&["beta"]);
    let root = rpmrepo::createrepo(dir.path(), "repo-signed", &[]);
    let data = read_local(&root, FileLists::PrimaryOnly).unwrap();
    let record = data.repomd.record("primary").unwrap().clone();
    let path = root.join(&record.location);

    // Same size, one byte changed: only the checksum can tell.
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let tampered_sum = livecompose::fetch::sha256_hex(&bytes);
    match read_local(&root, FileLists::PrimaryOnly) {
        Err(RepodataError::ChecksumMismatch {
            path: reported,
            kind,
            expected,
            actual,
        }) => {
            assert_eq!(reported, path);
            assert_eq!(kind, ChecksumKind::Sha256);
            assert_eq!(expected, record.checksum.value());
            assert_eq!(actual, tampered_sum);
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    let message = read_local(&root, FileLists::PrimaryOnly)
        .unwrap_err()
        .to_string();
    assert!(message.contains(&*path.to_string_lossy()), "{message}");
    assert!(message.contains(record.checksum.value()), "{message}");
    assert!(message.contains(&tampered_sum), "{message}");

    // A changed length is caught before hashing.
    bytes.push(0);
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        read_local(&root, FileLists::PrimaryOnly),
        Err(RepodataError::SizeMismatch { .. })
    ));
}
