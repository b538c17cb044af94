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
use common::tls::{ConnectProxy, PrivateCa, Serve, TlsServer};
use common::{Gpg, rpmrepo};
use tempfile::TempDir;

const SPECS: &[&str] = &["alpha", "beta", "gamma", "shell", "reader"];

/// A signed repository of fixture specs, with comps.
struct Repo {
    dir: TempDir,
    root: PathBuf,
    key: PathBuf,
    gpg: Gpg,
    /// Whether its comps define `@core`, which a kickstart implies.
    core: bool,
}

impl Repo {
    /// The repository of the specs directly under `tests/fixtures/rpm/`.
    fn new() -> Repo {
        Repo::build(SPECS, "comps.xml", false)
    }

    /// The repository shaped as Fedora's base (`tests/fixtures/rpm/base/`).
    fn fedora_base() -> Repo {
        Repo::build(rpmrepo::FEDORA_BASE_SPECS, "base/comps.xml", true)
    }

    fn build(specs: &[&str], comps: &str, core: bool) -> Repo {
        let busybox = rpmrepo::static_busybox().display().to_string();
        let (dir, _) = rpmrepo::build_with(specs, &[("busybox", &busybox)]);
        let comps = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/rpm")
            .join(comps);
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
            core,
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
        self.resolve_many(&[&format!("fixtures {repo_options}")], "", packages)
    }

    /// Runs `livecompose resolve` on a kickstart whose `repo` lines are
    /// `repos` (each `NAME OPTIONS`), all pointing at this repository, and
    /// whose `%packages` section has the options `header` and the lines
    /// `packages`.
    fn resolve_many(&self, repos: &[&str], header: &str, packages: &str) -> Output {
        resolve_at(self.dir.path(), &self.at_root(repos), header, packages)
    }

    /// `repos` (each `NAME OPTIONS`) as repositories at this one's root.
    fn at_root<'r>(&'r self, repos: &[&'r str]) -> Vec<DnfRepo<'r>> {
        repos
            .iter()
            .map(|repo| {
                let (name, options) = repo.split_once(' ').unwrap_or((repo, ""));
                DnfRepo {
                    name,
                    root: &self.root,
                    options,
                }
            })
            .collect()
    }

    /// The `repo` line (after `--name=`) of this repository with its key.
    fn signed_line(&self) -> String {
        format!("fixtures --gpgkey={}", self.key.display())
    }

    fn signed(&self, packages: &str) -> Output {
        self.resolve(&format!("--gpgkey={}", self.key.display()), packages)
    }

    /// livecompose's and dnf's answers to `packages` from `repos` (as
    /// [`Repo::resolve_many`] takes them).
    fn ask_both(
        &self,
        repos: &[&str],
        header: &str,
        packages: &str,
    ) -> (Result<Vec<String>, String>, Result<Vec<String>, String>) {
        ask_both_at(
            self.dir.path(),
            &self.at_root(repos),
            self.core,
            header,
            packages,
        )
    }

    /// The packages both livecompose and dnf install for `packages` from
    /// `repos`, as `name evr arch repo` lines; fails when they differ.
    fn agreed_many(&self, repos: &[&str], header: &str, packages: &str) -> Vec<String> {
        match self.ask_both(repos, header, packages) {
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
        self.agreed_with("", packages)
    }

    /// [`Repo::agreed`] with the `%packages` options `header`.
    fn agreed_with(&self, header: &str, packages: &str) -> Vec<String> {
        self.agreed_many(&[&self.signed_line()], header, packages)
            .iter()
            .map(|line| line.trim_end_matches(" fixtures").to_owned())
            .collect()
    }

    /// Both livecompose and dnf refuse `packages`; livecompose's message
    /// (exit status 1) holds every fragment.
    fn both_refuse(&self, packages: &str, fragments: &[&str]) {
        match self.ask_both(&[&self.signed_line()], "", packages) {
            (Err(ours), Err(_)) => {
                for fragment in fragments {
                    assert!(ours.contains(fragment), "{fragment:?} not in: {ours}");
                }
            }
            (ours, theirs) => panic!("for {packages:?}, livecompose: {ours:?}\ndnf: {theirs:?}"),
        }
    }
}

/// Runs `livecompose resolve` (its work files in `dir`) on a kickstart with
/// a `repo` line for each of `repos` and a `%packages` section with the
/// options `header` and the lines `packages`.
fn resolve_at(dir: &Path, repos: &[DnfRepo<'_>], header: &str, packages: &str) -> Output {
    let lines: String = repos
        .iter()
        .map(|repo| {
            format!(
                "repo --name={} --baseurl=file://{} {}\n",
                repo.name,
                repo.root.display(),
                repo.options
            )
        })
        .collect();
    let ks = dir.join("ks.cfg");
    fs::write(
        &ks,
        format!("{lines}%packages {header}\n{packages}\n%end\n"),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .args(["resolve", "--config", ks.to_str().unwrap()])
        .arg("--cache")
        .arg(dir.join("cache"))
        .output()
        .unwrap()
}

/// livecompose's and dnf's answers to the same request from `repos` (`core`:
/// whether their comps define the implied `@core`): the `name evr arch
/// repo` lines of each, or its refusal.
fn ask_both_at(
    dir: &Path,
    repos: &[DnfRepo<'_>],
    core: bool,
    header: &str,
    packages: &str,
) -> (Result<Vec<String>, String>, Result<Vec<String>, String>) {
    let ours = resolve_at(dir, repos, header, packages);
    let ours = if ours.status.success() {
        let mut lines: Vec<String> = text(&ours.stdout)
            .lines()
            .filter(|line| {
                line.rsplit(' ')
                    .next()
                    .is_some_and(|name| repos.iter().any(|repo| repo.name == name))
            })
            .map(str::to_owned)
            .collect();
        lines.sort();
        Ok(lines)
    } else {
        assert_eq!(ours.status.code(), Some(1), "{}", text(&ours.stderr));
        Err(text(&ours.stderr))
    };
    let theirs = dnf::resolve(repos, &DnfRequest::from_kickstart(header, packages, core));
    (ours, theirs)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fails_with(out: &Output, fragments: &[&str]) {
    stops_with(out, 1, fragments);
}

/// A kickstart the plan refuses: exit status 2, bad input.
fn refused_with(out: &Output, fragments: &[&str]) {
    stops_with(out, 2, fragments);
}

fn stops_with(out: &Output, status: i32, fragments: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "{stderr}");
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
    match repo.ask_both(&[&repo.signed_line()], "", "alpha-legacy") {
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
    // With --nogpgcheck the change is accepted, with a warning saying so.
    let out = repo.resolve("--nogpgcheck", "gamma");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("WARNING: --nogpgcheck"));

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
    // No signature at all while a key is given: as dnf with gpgcheck on,
    // the packages' signatures vouch, and the build says what is missing.
    fs::remove_file(repo.root.join("repodata/repomd.xml.asc")).unwrap();
    let out = repo.signed("gamma");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("does not sign its repomd.xml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_repository_nothing_vouches_for_is_refused_before_any_download() {
    let repo = Repo::new();
    // No key and no --nogpgcheck: refused at its line, naming the way out.
    refused_with(
        &repo.resolve("", "gamma"),
        &[
            "ks.cfg:1",
            "repository fixtures has no --gpgkey",
            "--nogpgcheck",
        ],
    );
    // A key over plain HTTP could be swapped on the way.
    refused_with(
        &repo.resolve("--gpgkey=http://127.0.0.1:9/key.asc", "gamma"),
        &["ks.cfg:1", "over plain HTTP"],
    );
    // Without a key, plain HTTP vouches for nothing. Port 9 is never
    // contacted: the plan refuses first.
    let lines = "repo --name=plain --baseurl=http://127.0.0.1:9/repo --nogpgcheck\n\
                 %packages\ngamma\n%end\n";
    fs::write(repo.dir.path().join("plain.ks"), lines).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .args(["resolve", "--config"])
        .arg(repo.dir.path().join("plain.ks"))
        .arg("--cache")
        .arg(repo.dir.path().join("cache"))
        .output()
        .unwrap();
    refused_with(&out, &["plain.ks:1", "plain HTTP vouches for nothing"]);
}

#[test]
fn a_metalink_vouches_for_repomd_by_digest_and_a_mismatch_is_refused() {
    let repo = Repo::new();
    let repomd = fs::read(repo.repomd()).unwrap();
    let digest = livecompose::fetch::sha256_hex(&repomd);
    let metalink = |digest: &str| {
        let path = repo.dir.path().join("metalink.xml");
        fs::write(
            &path,
            format!(
                r#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files><file name="repomd.xml">
  <size>{}</size>
  <verification><hash type="md5">00000000000000000000000000000000</hash><hash type="sha256">{digest}</hash></verification>
  <resources maxconnections="1"><url protocol="file" type="file" preference="100">file://{}/repodata/repomd.xml</url></resources>
 </file></files>
</metalink>"#,
                repomd.len(),
                repo.root.display()
            ),
        )
        .unwrap();
        path
    };
    // Unsigned repomd.xml, no key: the metalink's digest vouches for it.
    fs::remove_file(repo.root.join("repodata/repomd.xml.asc")).unwrap();
    let good = metalink(&digest);
    let out = resolve_with_location(&repo, &format!("--metalink=file://{}", good.display()), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("gamma"), "{}", text(&out.stdout));
    // A mirror serving another repomd.xml than the metalink's is not used.
    let stale = metalink(&livecompose::fetch::sha256_hex(b"another repomd.xml"));
    fails_with(
        &resolve_with_location(
            &repo,
            &format!("--metalink=file://{}", stale.display()),
            &[],
        ),
        &[
            "matches none of the 1 digest(s) the metalink gives",
            "no mirror worked",
        ],
    );
}

#[test]
fn https_repositories_trust_ca_files_and_go_through_their_proxy() {
    let repo = Repo::new();
    let ca = PrivateCa::new(repo.dir.path());
    let server = TlsServer::serve(&repo.root, &ca, Serve::Files);
    let proxy = ConnectProxy::start();
    let location = format!("--baseurl={}", server.url());
    // A certificate from a private CA is refused, naming the way out.
    let out = resolve_with_location(&repo, &location, &[]);
    fails_with(&out, &["TLS failed", "--ca FILE"]);
    // Trusted with --ca, through the repository's --proxy.
    let proxied = format!("{location} --proxy={}", proxy.url());
    let ca_file = ca.ca.to_str().unwrap();
    let out = resolve_with_location(&repo, &proxied, &["--ca", ca_file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("gamma"), "{}", text(&out.stdout));
    assert_eq!(
        proxy.tunnels().first().map(String::as_str),
        Some(format!("127.0.0.1:{}", server.port).as_str()),
        "the repository's requests did not go through its --proxy"
    );
    // --noverifyssl takes any certificate, and says so loudly.
    let out = resolve_with_location(&repo, &format!("{location} --noverifyssl"), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "warning: --noverifyssl: the TLS certificates of repository fixtures are NOT checked"
        ),
        "{}",
        text(&out.stderr)
    );
    // A --ca file without a certificate is an error before any download.
    let out = resolve_with_location(&repo, &location, &["--ca", repo.key.to_str().unwrap()]);
    fails_with(&out, &["holds no PEM certificate"]);
}

#[test]
fn an_https_download_redirected_to_plain_http_is_refused() {
    let repo = Repo::new();
    let ca = PrivateCa::new(repo.dir.path());
    // A server whose repomd.xml answers with a redirect to plain HTTP.
    let redirecting = repo.dir.path().join("redirecting");
    fs::create_dir_all(redirecting.join("repodata")).unwrap();
    fs::write(
        redirecting.join("repodata/repomd.xml"),
        "HTTP/1.0 302 Found\r\nLocation: http://127.0.0.1:9/repodata/repomd.xml\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    let server = TlsServer::serve(&redirecting, &ca, Serve::RawResponses);
    let out = resolve_with_location(
        &repo,
        &format!("--baseurl={}", server.url()),
        &["--ca", ca.ca.to_str().unwrap()],
    );
    fails_with(
        &out,
        &[
            "redirects to plain HTTP (http://127.0.0.1:9/repodata/repomd.xml)",
            "use a mirror that stays on HTTPS",
        ],
    );
}

/// `livecompose resolve gamma` from the repository at `location` (a
/// `--metalink=…`, `--mirrorlist=…` or `--baseurl=…` with more options),
/// with its key and the command-line `args`.
fn resolve_with_location(repo: &Repo, location: &str, args: &[&str]) -> Output {
    let ks = repo.dir.path().join("located.ks");
    fs::write(
        &ks,
        format!(
            "repo --name=fixtures {location} --gpgkey={}\n%packages\ngamma\n%end\n",
            repo.key.display()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .args(["resolve", "--config"])
        .arg(&ks)
        .arg("--cache")
        .arg(repo.dir.path().join("cache"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn repository_costs_and_package_filters_choose_where_each_package_comes_from() {
    let repo = Repo::new();
    // Equal versions: the cheaper repository wins, except for what it
    // excludes.
    assert_eq!(
        repo.agreed_many(
            &[
                "dear --cost=2000 --nogpgcheck",
                "cheap --cost=500 --excludepkgs=bet* --nogpgcheck"
            ],
            "",
            "reader",
        ),
        [
            "beta 1.2^git20240101-1 noarch dear",
            "reader 1-1 noarch cheap"
        ]
    );
    // A repository limited by --includepkgs offers nothing else.
    match repo.ask_both(&["narrow --includepkgs=shell --nogpgcheck"], "", "alpha") {
        (Err(ours), Err(_)) => assert!(ours.contains("alpha"), "{ours}"),
        other => panic!("livecompose and dnf should both refuse alpha: {other:?}"),
    }
    assert_eq!(
        repo.agreed_many(&["narrow --includepkgs=shell --nogpgcheck"], "", "shell"),
        ["shell 1-1 noarch narrow"]
    );
}

#[test]
fn fedora_base_paths_provided_by_name_resolve_as_dnf_does() {
    let repo = Repo::fedora_base();
    // grubby requires /bin/sh, which no package ships: bash ships
    // /usr/bin/sh and provides /bin/sh by name, and /bin is filesystem's
    // symlink. bash requires the C library, whose glibc-common needs
    // /bin/sh for its scriptlet, and glibc needs basesystem (setup,
    // filesystem) before it.
    let grubby = repo.agreed_with("--nocore", "grubby");
    for package in [
        "bash 5.2.26-3.fc40 x86_64",
        "filesystem 3.18-8.fc40 x86_64",
        "glibc-common 2.39-17.fc40 x86_64",
        "setup 2.14.5-2.fc40 noarch",
    ] {
        assert!(
            grubby.iter().any(|p| p == package),
            "{package} not in {grubby:?}"
        );
    }
    // A path as a request, and /usr/sbin/sendmail, which two mail servers
    // provide by name (the alternatives way): one is enough, a requested
    // one is preferred.
    for request in ["/bin/sh", "/usr/sbin/sendmail", "cronie", "cronie\npostfix"] {
        repo.agreed_with("--nocore", request);
    }
    let with_postfix = repo.agreed_with("--nocore", "cronie\npostfix");
    assert!(
        !with_postfix.iter().any(|p| p.starts_with("esmtp ")),
        "{with_postfix:?}"
    );
}

#[test]
fn fedora_base_requests_resolve_as_dnf_does() {
    let repo = Repo::fedora_base();
    for (header, packages) in [
        // @core implied, with and without weak dependencies.
        ("", ""),
        ("--exclude-weakdeps", ""),
        ("--nocore", "@core --nodefaults"),
        ("", "@^minimal-environment"),
        // coreutils-single provides coreutils, which conflicts with it.
        ("--nocore", "coreutils-single\nsystemd"),
        ("", "coreutils-single\n-coreutils"),
        // Install-only kernel packages tied by uname-r, and firmware that a
        // rich `if` wants newer than the repository has.
        ("--nocore", "kernel"),
        ("--nocore --exclude-weakdeps", "kernel-core"),
        // grub2 is obsoleted and provided by grub2-pc.
        ("--nocore", "grub2"),
        ("--nocore", "grub2-efi-x64\ngrub2-pc"),
        ("--nocore", "dracut-live"),
        // Three language packs provide glibc-langpack.
        ("--nocore", "glibc"),
        ("--nocore", "glibc-langpack-en\nglibc"),
        // Two release identities conflict.
        ("--nocore", "fedora-release-identity-basic"),
    ] {
        repo.agreed_with(header, packages);
    }
    // Both refuse what cannot be: the two coreutils together, and the
    // kernel with a firmware older than it accepts.
    for (packages, named) in [
        ("coreutils\ncoreutils-single", "coreutils"),
        (
            "kernel-modules\nlinux-firmware",
            "linux-firmware >= 20150904",
        ),
    ] {
        match repo.ask_both(&[&repo.signed_line()], "--nocore", packages) {
            (Err(ours), Err(_)) => assert!(ours.contains(named), "{ours}"),
            other => panic!("livecompose and dnf should both refuse: {other:?}"),
        }
    }
}

#[test]
fn fedora_mini_kickstart_packages_resolve_as_dnf_does() {
    let kickstart =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("kickstarts/fedora-mini.ks"))
            .unwrap();
    let start = kickstart.find("%packages").expect("a %packages section");
    let section = &kickstart[start + "%packages".len()..];
    let (header, rest) = section.split_once('\n').unwrap();
    let body = &rest[..rest.find("%end").expect("%end")];
    let repo = Repo::fedora_base();
    let chosen = repo.agreed_with(header, body);
    assert!(
        chosen.iter().any(|p| p.starts_with("dracut-live ")),
        "{chosen:?}"
    );
    assert!(
        chosen.iter().any(|p| p.starts_with("kernel-modules ")),
        "{chosen:?}"
    );
}

/// A small deterministic generator (xorshift), so that a disagreement can
/// be replayed from the printed seed.
struct Shuffler(u64);

impl Shuffler {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// `name` from the environment, or `default`: a longer differential run
/// is `LIVECOMPOSE_DIFF_REQUESTS=500 LIVECOMPOSE_DIFF_SEED=7 cargo test
/// --test rpm_resolve random -- --nocapture`.
fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|value| {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{name}={value:?}: not a number"))
        })
        .unwrap_or(default)
}

#[test]
fn random_requests_resolve_as_dnf_does() {
    let requests = setting("LIVECOMPOSE_DIFF_REQUESTS", 40);
    let seed = setting("LIVECOMPOSE_DIFF_SEED", 15);
    let repo = Repo::fedora_base();
    // Every package name, the groups and environment, and paths provided
    // by name.
    let mut names: Vec<String> = [
        "@core",
        "@boot",
        "@^minimal-environment",
        "/bin/sh",
        "/usr/sbin/sendmail",
    ]
    .map(str::to_owned)
    .to_vec();
    names.extend(
        repo.dir
            .path()
            .join("repo")
            .read_dir()
            .unwrap()
            .flat_map(|arch| arch.unwrap().path().read_dir().unwrap())
            .map(|rpm| {
                // NAME-VERSION-RELEASE.ARCH.rpm
                let file = rpm.unwrap().file_name().into_string().unwrap();
                let nvr = file.rsplitn(3, '.').nth(2).unwrap().to_owned();
                let mut parts = nvr.rsplitn(3, '-');
                parts.nth(2).unwrap().to_owned()
            }),
    );
    let mut shuffler = Shuffler(seed);
    let mut disagreements = Vec::new();
    for _ in 0..requests {
        let mut lines: Vec<String> = (0..1 + shuffler.below(3))
            .map(|_| names[shuffler.below(names.len())].clone())
            .collect();
        if shuffler.below(4) == 0 {
            let excluded = &names[shuffler.below(names.len())];
            if !excluded.starts_with(['@', '/']) {
                lines.push(format!("-{excluded}"));
            }
        }
        let header = match shuffler.below(3) {
            0 => "--nocore --exclude-weakdeps",
            1 => "--nocore",
            _ => "",
        };
        let packages = lines.join("\n");
        let (ours, theirs) = repo.ask_both(&[&repo.signed_line()], header, &packages);
        // A refusal agrees with a refusal; the wording is each tool's own.
        if ours.is_ok() != theirs.is_ok() || ours.as_ref().ok() != theirs.as_ref().ok() {
            disagreements.push(format!(
                "%packages {header} {packages:?}\n  livecompose: {ours:?}\n  dnf: {theirs:?}"
            ));
        }
    }
    println!(
        "differential (seed {seed}): {requests} requests, {} disagreements",
        disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn a_path_only_another_repositorys_filelists_list_resolves_as_dnf_does() {
    // reader needs a file of beta's that only filelists lists, and the two
    // come from different repositories: beta's own packages need no file
    // lists, yet its are read.
    let (readers, _) = rpmrepo::build(&["reader"]);
    let readers_root = rpmrepo::createrepo(readers.path(), "readers", &[]);
    let (betas, _) = rpmrepo::build(&["beta"]);
    let betas_root = rpmrepo::createrepo(betas.path(), "betas", &[]);
    let repos = [
        DnfRepo {
            name: "readers",
            root: &readers_root,
            options: "--nogpgcheck",
        },
        DnfRepo {
            name: "betas",
            root: &betas_root,
            options: "--nogpgcheck",
        },
    ];
    match ask_both_at(readers.path(), &repos, false, "", "reader") {
        (Ok(ours), Ok(theirs)) => {
            assert_eq!(ours, theirs);
            assert_eq!(
                ours,
                [
                    "beta 1.2^git20240101-1 noarch betas",
                    "reader 1-1 noarch readers"
                ]
            );
        }
        other => panic!("livecompose and dnf should both install reader: {other:?}"),
    }
}
