//! dnf as the oracle of the RPM resolver, as `mmdebstrap --simulate` is for
//! the Debian one: the same request on the same repositories, asked of
//! Debian's `dnf` with an empty `--installroot` and `--assumeno`, so nothing
//! is downloaded or installed.
//!
//! The package set is read from the file `--debugsolver` makes the same run
//! write (`debugdata/rpms/solver.result`): libsolv's decisions, one
//! `install NAME-[EPOCH:]VERSION-RELEASE.ARCH@REPO` per line. The transaction
//! table dnf prints is meant for eyes: it wraps long names and versions onto
//! continuation lines at 80 columns when not on a terminal, and its size
//! column has a space inside, so reading it back would be guesswork.

use std::fs;
use std::path::Path;
use std::process::Command;

/// One `repo` line of a kickstart, as dnf's `.repo` file states it.
pub struct DnfRepo<'a> {
    pub name: &'a str,
    pub root: &'a Path,
    /// The kickstart `repo` options after the name and URL (`--cost=`,
    /// `--excludepkgs=`, `--includepkgs=`; `--gpgkey=` is dropped, see
    /// [`resolve`]).
    pub options: &'a str,
}

/// What dnf is asked: the command line words of `dnf install`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnfRequest {
    pub specs: Vec<String>,
    pub excludes: Vec<String>,
    pub weak_deps: bool,
    /// dnf's `group_package_types`: one setting for every group of a run.
    pub group_types: &'static str,
}

impl DnfRequest {
    /// The request a kickstart's `%packages` section (its header options
    /// and body lines) makes of livecompose, in dnf's words. `core` says
    /// whether the repositories define `@core`, which a kickstart implies
    /// unless `--nocore`.
    pub fn from_kickstart(header: &str, body: &str, core: bool) -> DnfRequest {
        let header: Vec<&str> = header.split_whitespace().collect();
        let mut request = DnfRequest {
            specs: Vec::new(),
            excludes: Vec::new(),
            weak_deps: !header.contains(&"--exclude-weakdeps"),
            group_types: "mandatory,default",
        };
        if core && !header.contains(&"--nocore") {
            request.specs.push("@core".to_owned());
        }
        // The implied @core takes its default packages.
        let mut group_types = request.specs.first().map(|_| request.group_types);
        for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let mut words = line.split_whitespace();
            let spec = words.next().unwrap_or_default();
            if let Some(excluded) = spec.strip_prefix('-') {
                request.excludes.push(excluded.to_owned());
            } else if let Some(group) = spec.strip_prefix('@') {
                // dnf 4's command line names an environment like a group,
                // without the kickstart's `^`.
                request
                    .specs
                    .push(format!("@{}", group.trim_start_matches('^')));
                let types = match words.next() {
                    None => "mandatory,default",
                    Some("--nodefaults") => "mandatory",
                    Some("--optional") => "mandatory,default,optional",
                    Some(other) => panic!("no dnf equivalent for the group option {other}"),
                };
                assert!(
                    group_types.is_none_or(|t| t == types),
                    "dnf takes one group_package_types per run: {body:?}"
                );
                group_types = Some(types);
            } else {
                request.specs.push(spec.to_owned());
            }
        }
        request.group_types = group_types.unwrap_or(request.group_types);
        // A kickstart that lists a name and excludes it too excludes it
        // (pykickstart drops it from the list); dnf would refuse to install
        // an excluded name.
        let excludes = request.excludes.clone();
        request.specs.retain(|spec| !excludes.contains(spec));
        request
    }
}

/// dnf's `.repo` keys for the kickstart `repo` options the tests use.
fn repo_keys(options: &str) -> String {
    let mut keys = String::new();
    for option in options.split_whitespace() {
        let (option, value) = option.split_once('=').unwrap_or((option, ""));
        match option {
            "--cost" => keys.push_str(&format!("cost={value}\n")),
            "--excludepkgs" => keys.push_str(&format!("excludepkgs={value}\n")),
            "--includepkgs" => keys.push_str(&format!("includepkgs={value}\n")),
            // gpgcheck=0 for every repository (see `resolve`).
            "--gpgkey" | "--nogpgcheck" => {}
            other => panic!("no dnf .repo key for the kickstart repo option {other}"),
        }
    }
    keys
}

/// The packages dnf would install, as `name evr arch repo` lines sorted,
/// or dnf's own words when it refuses the request.
///
/// Signatures are livecompose's own tests' business (`gpgcheck=0`): with
/// `--assumeno` dnf stops before it downloads or checks a package.
pub fn resolve(repos: &[DnfRepo<'_>], request: &DnfRequest) -> Result<Vec<String>, String> {
    let work = tempfile::tempdir().expect("a temporary directory");
    let reposdir = work.path().join("repos.d");
    let root = work.path().join("root");
    fs::create_dir_all(&reposdir).expect("creating the repos.d directory");
    fs::create_dir_all(&root).expect("creating the install root");
    let mut repo_file = String::new();
    for repo in repos {
        repo_file.push_str(&format!(
            "[{}]\nname={0}\nbaseurl=file://{}\ngpgcheck=0\nenabled=1\n{}\n",
            repo.name,
            repo.root.display(),
            repo_keys(repo.options)
        ));
    }
    fs::write(reposdir.join("fixtures.repo"), repo_file).expect("writing the .repo file");
    let mut command = Command::new("dnf");
    command
        .current_dir(work.path())
        .arg("--installroot")
        .arg(&root)
        .arg(format!("--setopt=reposdir={}", reposdir.display()))
        .arg(format!(
            "--setopt=install_weak_deps={}",
            if request.weak_deps { "True" } else { "False" }
        ))
        .arg(format!(
            "--setopt=group_package_types={}",
            request.group_types
        ))
        // The fixture packages claim Fedora 40; the empty root has no
        // release package to tell dnf, and no .repo line uses the value.
        .args([
            "--releasever=40",
            "--noplugins",
            "--assumeno",
            "--debugsolver",
        ]);
    for excluded in &request.excludes {
        command.arg(format!("--exclude={excluded}"));
    }
    command.arg("install").args(&request.specs);
    let output = command.output().unwrap_or_else(|e| {
        panic!("cannot run dnf ({e}): install the Debian package dnf (tests/run installs it)")
    });
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // `--assumeno` answers no to a transaction dnf was ready to run: that
    // is the only way this run ends well, and dnf exits 1 for it too.
    if !said.contains("Operation aborted.") {
        return Err(said);
    }
    let result_path = work.path().join("debugdata/rpms/solver.result");
    let result = fs::read_to_string(&result_path).unwrap_or_else(|e| {
        panic!(
            "dnf wrote no {} ({e}); it said: {said}",
            result_path.display()
        )
    });
    let mut packages: Vec<String> = result
        .lines()
        .map(|line| match line.split_once(' ') {
            Some(("install", nevra)) => nevra_words(nevra),
            _ => panic!("unexpected line in dnf's solver.result: {line:?}\n{result}"),
        })
        .collect();
    packages.sort();
    Ok(packages)
}

/// `name-[epoch:]version-release.arch@repo` as `name evr arch repo`.
fn nevra_words(nevra: &str) -> String {
    let parse = || {
        let (nevra, repo) = nevra.rsplit_once('@')?;
        let (nevr, arch) = nevra.rsplit_once('.')?;
        let (nev, release) = nevr.rsplit_once('-')?;
        let (name, version) = nev.rsplit_once('-')?;
        Some(format!("{name} {version}-{release} {arch} {repo}"))
    };
    parse().unwrap_or_else(|| panic!("not a NEVRA@repo in dnf's solver.result: {nevra:?}"))
}
