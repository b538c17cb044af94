//! Offline tier: `livecompose resolve` on RPM repositories made by the real
//! tools (`rpmbuild`, `createrepo_c`, `gpg`): groups, environments,
//! obsoletes, file dependencies only `filelists` can answer, and the errors
//! a tampered or incomplete repository must give. Every resolution is also
//! asked of dnf (`common::dnf`), which must install the same packages from
//! the same repositories, or refuse too.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::dnf::{self, DnfRepo, DnfRequest};
use common::{Gpg, rpmrepo};
use tempfile::TempDir;

const SPECS: &[&str] = &["alpha", "beta", "gamma", "shell", "reader"];

/// A signed repository of every fixture spec, with comps.
struct Repo {
    dir: TempDir,
    root: PathBuf,
    key: PathBuf,
    gpg: Gpg,
}

impl Repo {
    fn new() -> Repo {
        let (dir, _) = rpmrepo::build(SPECS);
        let comps = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rpm/comps.xml");
        let root = rpmrepo::createrepo(dir.path(), "signed", &["-g", comps.to_str().unwrap()]);
        let gpg = Gpg::new();
        gpg.gen_key("Fixture Repo <repo@fixture.invalid>", "never");
        let key = dir.path().join("RPM-GPG-KEY-fixture");
        gpg.export(&["repo@fixture.invalid"], true, &key);
        let repo = Repo {
            dir,
            root,
            key,
            gpg,
        };
        repo.sign();
        repo
    }

    fn repomd(&self) -> PathBuf {
        self.root.join("repodata/repomd.xml")
    }

    fn sign(&self) {
        let data = fs::read(self.repomd()).unwrap();
        let signature = self.gpg.detach_sign("repo@fixture.invalid", &data, true);
        fs::write(self.root.join("repodata/repomd.xml.asc"), signature).unwrap();
    }

    /// Runs `livecompose resolve` on a kickstart with this repository and `packages`.
    fn resolve(&self, repo_options: &str, packages: &str) -> Output {
        self.resolve_many(&[&format!("fixtures {repo_options}")], packages)
    }

    /// Runs `livecompose resolve` on a kickstart whose `repo` lines are
    /// `repos` (each `NAME OPTIONS`), all pointing at this repository.
    fn resolve_many(&self, repos: &[&str], packages: &str) -> Output {
        let lines: String = repos
            .iter()
            .map(|repo| {
                let (name, options) = repo.split_once(' ').unwrap_or((repo, ""));
                format!(
                    "repo --name={name} --baseurl=file://{} {options}\n",
                    self.root.display()
                )
            })
            .collect();
        let ks = self.dir.path().join("ks.cfg");
        fs::write(&ks, format!("{lines}%packages\n{packages}\n%end\n")).unwrap();
        Command::new(env!("CARGO_BIN_EXE_livecompose"))
            .args(["resolve", "--config", ks.to_str().unwrap()])
            .arg("--cache")
            .arg(self.dir.path().join("cache"))
            .output()
            .unwrap()
    }

    fn signed(&self, packages: &str) -> Output {
        self.resolve(&format!("--gpgkey={}", self.key.display()), packages)
    }

    /// livecompose's and dnf's answers to `packages` from `repos` (as
    /// [`Repo::resolve_many`] takes them): the `name evr arch repo` lines
    /// of each, or its refusal.
    fn ask_both(
        &self,
        repos: &[&str],
        packages: &str,
    ) -> (Result<Vec<String>, String>, Result<Vec<String>, String>) {
        let ours = self.resolve_many(repos, packages);
        let ours = if ours.status.success() {
            let names: Vec<&str> = repos
                .iter()
                .map(|r| r.split(' ').next().unwrap_or(r))
                .collect();
            let mut lines: Vec<String> = text(&ours.stdout)
                .lines()
                .filter(|line| {
                    line.rsplit(' ')
                        .next()
                        .is_some_and(|repo| names.contains(&repo))
                })
                .map(str::to_owned)
                .collect();
            lines.sort();
            Ok(lines)
        } else {
            assert_eq!(ours.status.code(), Some(1), "{}", text(&ours.stderr));
            Err(text(&ours.stderr))
        };
        let dnf_repos: Vec<DnfRepo<'_>> = repos
            .iter()
            .map(|repo| {
                let (name, options) = repo.split_once(' ').unwrap_or((repo, ""));
                DnfRepo {
                    name,
                    root: &self.root,
                    options,
                }
            })
            .collect();
        let theirs = dnf::resolve(&dnf_repos, &DnfRequest::from_kickstart("", packages, false));
        (ours, theirs)
    }

    /// The packages both livecompose and dnf install for `packages` from
    /// `repos`, as `name evr arch repo` lines; fails when they differ.
    fn agreed_many(&self, repos: &[&str], packages: &str) -> Vec<String> {
        match self.ask_both(repos, packages) {
            (Ok(ours), Ok(theirs)) => {
                assert_eq!(
                    ours, theirs,
                    "livecompose (left) and dnf (right) differ for {packages:?}"
                );
                ours
            }
            (ours, theirs) => panic!("for {packages:?}, livecompose: {ours:?}\ndnf: {theirs:?}"),
        }
    }

    /// [`Repo::agreed_many`] from this signed repository alone, as
    /// `name evr arch` lines.
    fn agreed(&self, packages: &str) -> Vec<String> {
        let repo = format!("fixtures --gpgkey={}", self.key.display());
        self.agreed_many(&[&repo], packages)
            .iter()
            .map(|line| line.trim_end_matches(" fixtures").to_owned())
            .collect()
    }

    /// Both livecompose and dnf refuse `packages`; livecompose's message
    /// (exit status 1) holds every fragment.
    fn both_refuse(&self, packages: &str, fragments: &[&str]) {
        let repo = format!("fixtures --gpgkey={}", self.key.display());
        match self.ask_both(&[&repo], packages) {
            (Err(ours), Err(_)) => {
                for fragment in fragments {
                    assert!(ours.contains(fragment), "{fragment:?} not in: {ours}");
                }
            }
            (ours, theirs) => panic!("for {packages:?}, livecompose: {ours:?}\ndnf: {theirs:?}"),
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fails_with(out: &Output, fragments: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for fragment in fragments {
        assert!(stderr.contains(fragment), "{fragment:?} not in: {stderr}");
    }
}

#[test]
fn groups_obsoletes_and_file_dependencies_resolve_as_dnf_does() {
    let repo = Repo::new();
    let all = [
        "alpha 2:1.0~rc1-3 noarch",
        "beta 1.2^git20240101-1 noarch",
        "gamma 0.9-7.fc40 x86_64",
        "shell 1-1 noarch",
    ];
    // @fixtures: gamma (mandatory) needs /usr/bin/alpha, alpha needs beta
    // and /bin/sh; shell is the group's default.
    assert_eq!(repo.agreed("@fixtures"), all);
    assert_eq!(repo.agreed("@^fixture-environment"), all);
    // --nodefaults leaves shell out, but alpha's Requires(pre) brings it back.
    assert_eq!(repo.agreed("@fixtures --nodefaults"), all);
    // alpha obsoletes alpha-legacy, which no package is called or
    // provides. A listed difference: livecompose installs the replacement
    // for the old name (docs/kickstart.md, so that a kickstart written for
    // an older release keeps building), while dnf only looks for the
    // replacement of a package that exists and finds no match.
    let repo_line = format!("fixtures --gpgkey={}", repo.key.display());
    match repo.ask_both(&[&repo_line], "alpha-legacy") {
        (Ok(ours), Err(theirs)) => {
            let ours: Vec<&str> = ours
                .iter()
                .map(|l| l.trim_end_matches(" fixtures"))
                .collect();
            assert_eq!(ours, all);
            assert!(
                theirs.contains("No match for argument: alpha-legacy"),
                "{theirs}"
            );
        }
        other => panic!("the listed difference for alpha-legacy changed: {other:?}"),
    }
    // reader needs a path that only filelists knows (beta ships it).
    assert_eq!(
        repo.agreed("reader"),
        ["beta 1.2^git20240101-1 noarch", "reader 1-1 noarch"]
    );
    // --optional adds reader to the group.
    let mut with_optional = all.to_vec();
    with_optional.push("reader 1-1 noarch");
    with_optional.sort_unstable();
    assert_eq!(repo.agreed("@fixtures --optional"), with_optional);
}

#[test]
fn missing_packages_groups_and_exclusions_are_explained() {
    let repo = Repo::new();
    repo.both_refuse("nosuchpackage", &["ks.cfg:3", "nosuchpackage"]);
    repo.both_refuse("@nosuchgroup", &["ks.cfg:3", "group @nosuchgroup"]);
    // Excluding what gamma needs makes it unsatisfiable, naming the request.
    repo.both_refuse("gamma\n-alpha", &["gamma (requested at", "alpha"]);
}

#[test]
fn a_tampered_repomd_or_index_stops_with_what_is_wrong() {
    let repo = Repo::new();
    // repomd.xml changed after signing.
    let repomd = fs::read_to_string(repo.repomd()).unwrap();
    fs::write(repo.repomd(), repomd.replace("<revision>", "<revision>1")).unwrap();
    fails_with(&repo.signed("gamma"), &["BAD signature", "repomd.xml"]);
    // Without a key the change is accepted, with a warning saying so.
    let out = repo.resolve("", "gamma");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("nothing vouches for its repomd.xml"));

    // primary changed after repomd.xml listed it: its checksum no longer matches.
    let repo = Repo::new();
    let repomd = fs::read_to_string(repo.repomd()).unwrap();
    let start = repomd.find("<data type=\"primary\">").unwrap();
    let href_at = start + repomd[start..].find("href=\"").unwrap() + 6;
    let href = &repomd[href_at..href_at + repomd[href_at..].find('"').unwrap()];
    let primary = repo.root.join(href);
    let mut bytes = fs::read(&primary).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&primary, bytes).unwrap();
    fails_with(&repo.signed("gamma"), &["primary", "SHA256 mismatch"]);

    // A signature by a key that is not the --gpgkey.
    let repo = Repo::new();
    let stranger = Gpg::new();
    stranger.gen_key("Stranger <x@fixture.invalid>", "never");
    let data = fs::read(repo.repomd()).unwrap();
    fs::write(
        repo.root.join("repodata/repomd.xml.asc"),
        stranger.detach_sign("x@fixture.invalid", &data, true),
    )
    .unwrap();
    fails_with(
        &repo.signed("gamma"),
        &["repomd.xml", "none of them is in keyring"],
    );
    // And no signature at all while a key is given.
    fs::remove_file(repo.root.join("repodata/repomd.xml.asc")).unwrap();
    fails_with(&repo.signed("gamma"), &["repomd.xml.asc does not exist"]);
}

#[test]
fn repository_costs_and_package_filters_choose_where_each_package_comes_from() {
    let repo = Repo::new();
    // Equal versions: the cheaper repository wins, except for what it
    // excludes.
    assert_eq!(
        repo.agreed_many(
            &["dear --cost=2000", "cheap --cost=500 --excludepkgs=bet*"],
            "reader",
        ),
        [
            "beta 1.2^git20240101-1 noarch dear",
            "reader 1-1 noarch cheap"
        ]
    );
    // A repository limited by --includepkgs offers nothing else.
    match repo.ask_both(&["narrow --includepkgs=shell"], "alpha") {
        (Err(ours), Err(_)) => assert!(ours.contains("alpha"), "{ours}"),
        other => panic!("livecompose and dnf should both refuse alpha: {other:?}"),
    }
    assert_eq!(
        repo.agreed_many(&["narrow --includepkgs=shell"], "shell"),
        ["shell 1-1 noarch narrow"]
    );
}
