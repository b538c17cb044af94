//! End-to-end: resolve a real Debian suite and check the result with Debian's
//! own tools (dpkg for version comparison, mmdebstrap/apt as an oracle when
//! installed). Run with `cargo test --test network_resolve -- --ignored`.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::time::Instant;

use livecompose::repo::{
    BinaryPackage, Keyring, RepoSpec, Repository, SignaturePolicy, VersionOp, load_repository,
};
use livecompose::resolve::{BaseSet, Candidate, Request, Requested, Transaction, resolve};

const INCLUDE: &[&str] = &["systemd-sysv", "linux-image-amd64", "sudo"];

/// The `%packages` of `kickstarts/debian-hypervisor.ks`.
const HYPERVISOR: &[&str] = &[
    "linux-image-amd64",
    "systemd-sysv",
    "sudo",
    "openssh-server",
    "qemu-system-x86",
    "qemu-utils",
    "libvirt-daemon-system",
    "libvirt-clients",
    "openvswitch-switch",
    "bridge-utils",
    "iproute2",
    "ethtool",
    "pciutils",
];

fn load_bookworm() -> Repository {
    let mirror = livecompose::mirror::discover(None)
        .expect("no Debian mirror: set LIVECOMPOSE_MIRROR or configure apt sources");
    let cache = std::env::temp_dir().join("livecompose-net-resolve-cache");
    let fetcher = livecompose::fetch::Fetcher::new(cache).expect("cache dir");
    let keyring = Keyring::debian_default().expect("debian-archive-keyring installed");
    let spec = RepoSpec {
        mirror,
        suite: "bookworm".into(),
        components: vec!["main".into()],
        architecture: "amd64".into(),
    };
    load_repository(&spec, &fetcher, &SignaturePolicy::Verify(keyring)).expect("load bookworm")
}

fn request(include: &[&str], with_recommends: bool) -> Request {
    Request {
        install: include
            .iter()
            .map(|p| Requested {
                pattern: (*p).into(),
                origin: "net-test".into(),
                ignore_missing: false,
            })
            .collect(),
        exclude: Vec::new(),
        with_recommends,
        arch: "amd64".into(),
        base: BaseSet::Minbase,
    }
}

fn timed_resolve(repo: &Repository, include: &[&str], with_recommends: bool) -> Transaction {
    let universe: Vec<Candidate<'_>> = repo
        .packages
        .iter()
        .map(|package| Candidate {
            package,
            repo: "bookworm",
            cost: 1000,
        })
        .collect();
    let start = Instant::now();
    let t =
        resolve(&universe, &request(include, with_recommends)).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "resolved {} packages ({} MB) from {} candidates in {:.2?} (recommends: {with_recommends})",
        t.packages.len(),
        t.download_size / 1_000_000,
        universe.len(),
        start.elapsed()
    );
    t
}

fn dpkg_op(op: VersionOp) -> &'static str {
    match op {
        VersionOp::Earlier => "lt",
        VersionOp::EarlierOrEqual => "le",
        VersionOp::Equal => "eq",
        VersionOp::LaterOrEqual => "ge",
        VersionOp::Later => "gt",
    }
}

/// Independent of the resolver's comparator on purpose.
fn dpkg_compare(a: &str, op: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, op, b])
        .status()
        .expect("dpkg is installed")
        .success()
}

/// What the chosen set offers under each name: (version of the real package
/// or the provided version, or None for an unversioned Provides).
fn offered(chosen: &[&BinaryPackage]) -> HashMap<String, Vec<Option<String>>> {
    let mut m: HashMap<String, Vec<Option<String>>> = HashMap::new();
    for p in chosen {
        m.entry(p.name.clone())
            .or_default()
            .push(Some(p.version.clone()));
        for prov in p.provides.iter().flatten() {
            let v = match &prov.constraint {
                Some((VersionOp::Equal, v)) => Some(v.clone()),
                _ => None,
            };
            m.entry(prov.name.clone()).or_default().push(v);
        }
    }
    m
}

fn check_closure(t: &Transaction) {
    let chosen: Vec<&BinaryPackage> = t.packages.iter().map(|c| &c.package).collect();
    let offer = offered(&chosen);
    let satisfied = |name: &str, constraint: Option<&(VersionOp, String)>| -> bool {
        offer.get(name).is_some_and(|vs| {
            vs.iter().any(|v| match (constraint, v) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some((op, want)), Some(have)) => dpkg_compare(have, dpkg_op(*op), want),
            })
        })
    };
    let mut checked = 0;
    for p in &chosen {
        for group in p.pre_depends.iter().chain(&p.depends) {
            checked += 1;
            assert!(
                group
                    .iter()
                    .any(|r| satisfied(&r.name, r.constraint.as_ref())),
                "{} {}: unmet dependency {:?}",
                p.name,
                p.version,
                group.iter().map(|r| r.to_string()).collect::<Vec<_>>()
            );
        }
        for rel in p.conflicts.iter().chain(&p.breaks).flatten() {
            // Only other packages can conflict; a self-provided name is fine.
            let hit = chosen.iter().any(|q| {
                q.name != p.name
                    && ((q.name == rel.name
                        && rel
                            .constraint
                            .as_ref()
                            .is_none_or(|(op, v)| dpkg_compare(&q.version, dpkg_op(*op), v)))
                        || q.provides.iter().flatten().any(|pr| {
                            pr.name == rel.name
                                && match (&rel.constraint, &pr.constraint) {
                                    (None, _) => true,
                                    (Some(_), None) => false,
                                    (Some((op, v)), Some((_, have))) => {
                                        dpkg_compare(have, dpkg_op(*op), v)
                                    }
                                }
                        }))
            });
            assert!(!hit, "{} {} conflicts with chosen {rel}", p.name, p.version);
        }
    }
    eprintln!(
        "checked {checked} dependency groups of {} packages with dpkg",
        chosen.len()
    );
}

fn check_versions_are_highest(repo: &Repository, t: &Transaction) {
    let mut compared = 0;
    for c in &t.packages {
        for other in repo.find(&c.package.name) {
            if other.version != c.package.version
                && (other.architecture == "amd64" || other.architecture == "all")
            {
                compared += 1;
                assert!(
                    dpkg_compare(&c.package.version, "gt", &other.version),
                    "{}: chose {} over higher {}",
                    c.package.name,
                    c.package.version,
                    other.version
                );
            }
        }
    }
    eprintln!("{compared} alternative versions cross-checked with dpkg");
}

/// Packages apt (through mmdebstrap) would install.
fn apt_oracle(mirror: &str, include: &[&str]) -> BTreeSet<String> {
    let out = Command::new("mmdebstrap")
        .args([
            "--variant=minbase",
            "--simulate",
            // apt prints its simulated `Inst` lines only in verbose mode.
            "--verbose",
            "--architectures=amd64",
            "--components=main",
            "--aptopt=APT::Install-Recommends \"false\"",
            &format!("--include={}", include.join(",")),
            "bookworm",
            "/dev/null",
            mirror,
        ])
        .output()
        .expect("mmdebstrap is the apt oracle of this test: apt-get install mmdebstrap (tests/run does)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "mmdebstrap failed, no apt oracle:\n{text}"
    );
    text.lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .filter_map(|l| l.split_whitespace().next())
        .map(|n| n.split(':').next().unwrap_or(n).to_owned())
        .collect()
}

#[test]
#[ignore = "end-to-end: needs the Debian mirror"]
fn net_bookworm_minbase_plus_kernel_systemd_sudo() {
    let repo = load_bookworm();
    let t = timed_resolve(&repo, INCLUDE, false);
    for name in
        INCLUDE
            .iter()
            .copied()
            .chain(["bash", "dpkg", "libc6", "coreutils", "systemd", "apt"])
    {
        assert!(t.get(name).is_some(), "{name} missing");
    }
    assert!(
        t.packages
            .iter()
            .any(|c| c.package.name.starts_with("linux-image-6."))
    );
    check_closure(&t);
    check_versions_are_highest(&repo, &t);

    compare_with_apt(&repo, &t, INCLUDE, &[], &[]);
}

/// Our package set against apt's for the same request. `only_ours` and
/// `only_apt` list the legitimate differences: packages where both choices
/// satisfy the same dependencies.
fn compare_with_apt(
    repo: &Repository,
    t: &Transaction,
    include: &[&str],
    only_ours_allowed: &[&str],
    only_apt_allowed: &[&str],
) {
    let ours: BTreeSet<String> = t.packages.iter().map(|c| c.package.name.clone()).collect();
    let apt = apt_oracle(&repo.base_url, include);
    assert!(!apt.is_empty(), "mmdebstrap printed no Inst lines");
    let only_ours: BTreeSet<&str> = ours.difference(&apt).map(String::as_str).collect();
    let only_apt: BTreeSet<&str> = apt.difference(&ours).map(String::as_str).collect();
    eprintln!(
        "apt oracle: apt {} packages, ours {}; only ours: {only_ours:?}; only apt: {only_apt:?}",
        apt.len(),
        ours.len()
    );
    let allowed_ours: BTreeSet<&str> = only_ours_allowed.iter().copied().collect();
    let allowed_apt: BTreeSet<&str> = only_apt_allowed.iter().copied().collect();
    assert_eq!(only_ours, allowed_ours, "packages only we chose");
    assert_eq!(only_apt, allowed_apt, "packages only apt chose");
}

#[test]
#[ignore = "end-to-end: needs the Debian mirror"]
fn net_bookworm_hypervisor_set_matches_apt() {
    let repo = load_bookworm();
    let t = timed_resolve(&repo, HYPERVISOR, false);
    check_closure(&t);
    check_versions_are_highest(&repo, &t);
    // `lsb-base (>= 3.0-6)`, wanted by openvswitch-switch and others, is
    // satisfied by sysvinit-utils' `Provides: lsb-base (= 11.1.0)`; apt
    // prefers installing the transitional real package as well.
    compare_with_apt(&repo, &t, HYPERVISOR, &[], &["lsb-base"]);
}

#[test]
#[ignore = "end-to-end: needs the Debian mirror"]
fn net_bookworm_with_recommends_is_a_superset() {
    let repo = load_bookworm();
    let plain = timed_resolve(&repo, INCLUDE, false);
    let rich = timed_resolve(&repo, INCLUDE, true);
    assert!(rich.packages.len() > plain.packages.len());
    for c in &plain.packages {
        assert!(
            rich.get(&c.package.name).is_some(),
            "{} lost",
            c.package.name
        );
    }
    check_closure(&rich);
}
