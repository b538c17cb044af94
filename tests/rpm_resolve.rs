//! Offline tier: `livecompose resolve` on RPM repositories made by the real
//! tools (`rpmbuild`, `createrepo_c`, `gpg`): groups, environments,
//! obsoletes, file dependencies only `filelists` can answer, and the errors
//! a tampered or incomplete repository must give.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `name version arch` of each package line of a successful run.
fn chosen(out: &Output) -> Vec<String> {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter(|line| line.ends_with(" fixtures"))
        .map(|line| line.trim_end_matches(" fixtures").to_owned())
        .collect()
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
    assert_eq!(chosen(&repo.signed("@fixtures")), all);
    assert_eq!(chosen(&repo.signed("@^fixture-environment")), all);
    // --nodefaults leaves shell out, but alpha's Requires(pre) brings it back.
    assert_eq!(chosen(&repo.signed("@fixtures --nodefaults")), all);
    // alpha obsoletes alpha-legacy: asking for the old name gets alpha.
    assert_eq!(chosen(&repo.signed("alpha-legacy")), all);
    // reader needs a path that only filelists knows (beta ships it).
    assert_eq!(
        chosen(&repo.signed("reader")),
        ["beta 1.2^git20240101-1 noarch", "reader 1-1 noarch"]
    );
    // --optional adds reader to the group.
    let with_optional = chosen(&repo.signed("@fixtures --optional"));
    assert!(with_optional.contains(&"reader 1-1 noarch".to_owned()));
}

#[test]
fn missing_packages_groups_and_exclusions_are_explained() {
    let repo = Repo::new();
    fails_with(
        &repo.signed("nosuchpackage"),
        &["ks.cfg:3", "nosuchpackage"],
    );
    fails_with(
        &repo.signed("@nosuchgroup"),
        &["ks.cfg:3", "group @nosuchgroup"],
    );
    // Excluding what gamma needs makes it unsatisfiable, naming the request.
    fails_with(
        &repo.signed("gamma\n-alpha"),
        &["gamma (requested at", "alpha"],
    );
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
    let out = repo.resolve_many(
        &["dear --cost=2000", "cheap --cost=500 --excludepkgs=bet*"],
        "reader",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut lines: Vec<String> = text(&out.stdout)
        .lines()
        .filter(|line| line.ends_with(" dear") || line.ends_with(" cheap"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "beta 1.2^git20240101-1 noarch dear",
            "reader 1-1 noarch cheap"
        ]
    );
    // A repository limited by --includepkgs offers nothing else.
    fails_with(
        &repo.resolve_many(&["narrow --includepkgs=shell"], "alpha"),
        &["alpha"],
    );
    let out = repo.resolve_many(&["narrow --includepkgs=shell"], "shell");
    assert!(out.status.success(), "{}", text(&out.stderr));
}
