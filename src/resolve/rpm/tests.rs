use super::*;
use crate::repo::rpm::{Checksum, FileKind, PackageFile};

/// A package from a one-line description:
/// `name evr [R: dep,dep] [P: cap,cap] [C: ...] [O: ...] [REC: ...] [SUP: ...] [F: /path,/path]
/// [D: /directory,/directory]`,
/// where a dependency is `name`, `name >= evr` or a rich `(…)` expression.
fn pkg(text: &str) -> RpmPackage {
    let mut parts = text.split(" | ");
    let head = parts.next().unwrap();
    let (name, evr) = head.split_once(' ').unwrap();
    let mut package = RpmPackage {
        name: name.to_owned(),
        arch: "x86_64".to_owned(),
        evr: Evr::parse(evr).unwrap(),
        checksum: Checksum::new("sha256", &"0".repeat(64)).unwrap(),
        location: format!("{name}.rpm"),
        location_base: None,
        package_size: 1,
        installed_size: 1,
        source_rpm: None,
        license: None,
        provides: Vec::new(),
        requires: Vec::new(),
        conflicts: Vec::new(),
        obsoletes: Vec::new(),
        recommends: Vec::new(),
        suggests: Vec::new(),
        supplements: Vec::new(),
        enhances: Vec::new(),
        files: Vec::new(),
    };
    for part in parts {
        let (tag, list) = part.split_once(": ").unwrap();
        let deps = || list.split(", ").map(dep).collect::<Vec<_>>();
        match tag {
            "R" => package.requires = deps(),
            "P" => package.provides = deps(),
            "C" => package.conflicts = deps(),
            "O" => package.obsoletes = deps(),
            "REC" => package.recommends = deps(),
            "SUP" => package.supplements = deps(),
            "F" => package.files.extend(files(list, FileKind::File)),
            "D" => package.files.extend(files(list, FileKind::Dir)),
            "A" => package.arch = list.to_owned(),
            other => panic!("unknown tag {other}"),
        }
    }
    package
}

fn files(list: &str, kind: FileKind) -> impl Iterator<Item = PackageFile> + '_ {
    list.split(", ").map(move |path| PackageFile {
        path: path.to_owned(),
        kind,
    })
}

fn dep(text: &str) -> Dependency {
    if text.starts_with('(') {
        return Dependency {
            name: text.to_owned(),
            constraint: None,
            pre: false,
        };
    }
    let mut words = text.split(' ');
    let name = words.next().unwrap().to_owned();
    let constraint = match (words.next(), words.next()) {
        (Some(op), Some(evr)) => Some(Constraint {
            op: DepOp::from_symbol(op).unwrap(),
            evr: Evr::parse(evr).unwrap(),
        }),
        _ => None,
    };
    Dependency {
        name,
        constraint,
        pre: false,
    }
}

fn request(names: &[&str]) -> RpmRequest {
    RpmRequest {
        install: names
            .iter()
            .map(|n| Requested {
                pattern: (*n).to_owned(),
                origin: "ks.cfg:1".to_owned(),
                ignore_missing: false,
            })
            .collect(),
        exclude: Vec::new(),
        weak_deps: true,
        arches: vec!["x86_64".to_owned(), "noarch".to_owned()],
    }
}

/// `name-evr` of what resolving `names` against `packages` installs.
fn solve(packages: &[RpmPackage], req: &RpmRequest) -> Result<Vec<String>, ResolveError> {
    let universe: Vec<RpmCandidate<'_>> = packages
        .iter()
        .map(|package| RpmCandidate {
            package,
            repo: "test",
            cost: 1000,
        })
        .collect();
    let solution = resolve_rpm(&universe, req)?;
    Ok(solution
        .chosen
        .iter()
        .map(|&i| format!("{}-{}", packages[i].name, packages[i].evr))
        .collect())
}

fn installs(packages: &[&str], names: &[&str]) -> Vec<String> {
    let packages: Vec<RpmPackage> = packages.iter().map(|p| pkg(p)).collect();
    solve(&packages, &request(names)).unwrap()
}

#[test]
fn ranges_overlap_like_rpm() {
    let c = |text: &str| {
        let d = dep(&format!("x {text}"));
        d.constraint
    };
    let overlap = |a: &str, b: &str| ranges_overlap(c(a).as_ref(), c(b).as_ref());
    assert!(overlap("= 1.0-1", ">= 1.0"));
    assert!(
        overlap("= 1.0-1", "= 1.0"),
        "a release-less side matches every release"
    );
    assert!(!overlap("= 1.0-1", "= 1.0-2"));
    assert!(overlap("= 2.0", "> 1.0"));
    assert!(!overlap("= 1.0", "> 1.0"));
    assert!(overlap("< 2.0", "> 1.0"), "two open ranges meet");
    assert!(!overlap("< 1.0", ">= 1.0"));
    assert!(overlap("= 1:1.0", "> 5.0"), "the epoch wins");
    assert!(
        !overlap("= 1.0~rc1", ">= 1.0"),
        "tilde sorts before the release"
    );
    assert!(
        ranges_overlap(None, c(">= 9").as_ref()),
        "an unversioned provide covers all"
    );
}

#[test]
fn versioned_requires_choose_a_matching_version() {
    let repo = ["a 1-1 | R: b < 2", "b 1-1", "b 3-1"];
    assert_eq!(installs(&repo, &["a"]), ["a-1-1", "b-1-1"]);
    let repo = ["a 1-1 | R: b >= 2", "b 1-1", "b 3-1"];
    assert_eq!(installs(&repo, &["a"]), ["a-1-1", "b-3-1"]);
    assert_eq!(installs(&["b 1-1", "b 1:0.5-1"], &["b"]), ["b-1:0.5-1"]);
}

#[test]
fn capabilities_and_files_are_provided() {
    let repo = [
        "a 1-1 | R: webserver >= 2, /bin/sh",
        "nginx 1-1 | P: webserver = 1",
        "httpd 1-1 | P: webserver = 2.4",
        "bash 5-1 | F: /bin/sh, /usr/bin/bash",
    ];
    assert_eq!(installs(&repo, &["a"]), ["a-1-1", "bash-5-1", "httpd-1-1"]);
    // A request may name a path or a capability too, as with dnf.
    assert_eq!(installs(&repo, &["/bin/sh"]), ["bash-5-1"]);
    // A package's own name wins over another package's Provides.
    let repo = [
        "coreutils 9-1 | C: coreutils-single",
        "coreutils-single 9-1 | P: coreutils = 9-1",
    ];
    assert_eq!(installs(&repo, &["coreutils"]), ["coreutils-9-1"]);
}

#[test]
fn a_path_is_provided_by_name_as_well_as_by_a_shipped_file() {
    // Fedora since /bin moved under /usr: bash ships /usr/bin/sh and
    // declares `Provides: /bin/sh`; /bin itself is filesystem's symlink.
    let merged_usr = [
        "tool 1-1 | R: /bin/sh, /usr/bin/sh",
        "bash 5-1 | P: /bin/sh, /bin/bash | F: /usr/bin/sh, /usr/bin/bash",
        "filesystem 3-1 | F: /bin | D: /usr/bin",
    ];
    // Alternatives: several packages provide the same path; one is enough
    // (the first by name, as dnf takes it), and a requested one wins.
    let mail = [
        "cron 1-1 | R: /usr/sbin/sendmail",
        "postfix 3-1 | P: /usr/sbin/sendmail, MTA",
        "esmtp 1-1 | P: /usr/sbin/sendmail, MTA",
    ];
    let cases: [(&[&str], &[&str], &[&str]); 6] = [
        (&merged_usr, &["tool"], &["bash-5-1", "tool-1-1"]),
        (&merged_usr, &["/bin/bash"], &["bash-5-1"]),
        // A dependency on a directory is met by the package that owns it.
        (
            &[
                "plugin 1-1 | R: /usr/lib/host/plugins",
                "host 1-1 | D: /usr/lib/host/plugins",
            ],
            &["plugin"],
            &["host-1-1", "plugin-1-1"],
        ),
        (&mail, &["cron"], &["cron-1-1", "esmtp-1-1"]),
        (&mail, &["cron", "postfix"], &["cron-1-1", "postfix-3-1"]),
        (&mail, &["cron", "esmtp"], &["cron-1-1", "esmtp-1-1"]),
    ];
    for (repo, names, expected) in cases {
        assert_eq!(installs(repo, names), expected, "{names:?} from {repo:?}");
    }
}

#[test]
fn rich_or_takes_the_first_alternative_by_name_as_dnf_does() {
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["a 1-1 | R: (y or x)", "x 1-1", "y 1-1"],
            &["a-1-1", "x-1-1"],
        ),
        // Even when the other alternative would also meet a later
        // dependency.
        (
            &[
                "a 1-1 | R: (zz-second or aa-first), cap",
                "zz-second 1-1 | P: cap",
                "aa-first 1-1",
                "mm 1-1 | P: cap",
                "m 1-1 | P: cap",
            ],
            &["a-1-1", "aa-first-1-1", "m-1-1"],
        ),
        // A candidate another candidate requires goes first.
        (
            &[
                "a 1-1 | R: (util-linux-core or util-linux)",
                "util-linux 1-1 | R: util-linux-core",
                "util-linux-core 1-1",
            ],
            &["a-1-1", "util-linux-core-1-1"],
        ),
        (
            &[
                "a 1-1 | R: cap",
                "nn 1-1 | P: cap | R: nn-core",
                "nn-core 1-1 | P: cap",
            ],
            &["a-1-1", "nn-core-1-1"],
        ),
    ];
    for (repo, expected) in cases {
        assert_eq!(installs(repo, &["a"]), expected, "{repo:?}");
    }
    // What the requiring package or a requested one recommends goes
    // first, with or without weak dependencies.
    let packages: Vec<RpmPackage> = [
        "g 1-1 | R: lp | REC: lp-en",
        "h 1-1 | R: lp",
        "lp-all 1-1 | P: lp",
        "lp-en 1-1 | P: lp",
    ]
    .iter()
    .map(|p| pkg(p))
    .collect();
    for (names, expected) in [
        (&["g"][..], &["g-1-1", "lp-en-1-1"][..]),
        (&["h", "g"], &["g-1-1", "h-1-1", "lp-en-1-1"]),
        (&["h"], &["h-1-1", "lp-all-1-1"]),
    ] {
        let mut req = request(names);
        assert_eq!(solve(&packages, &req).unwrap(), expected, "{names:?}");
        req.weak_deps = false;
        assert_eq!(solve(&packages, &req).unwrap(), expected, "{names:?}");
    }
}

#[test]
fn rich_if_applies_only_when_its_condition_is_installed() {
    let repo = [
        "a 1-1 | R: (helper if plugin else fallback)",
        "helper 1-1",
        "plugin 1-1",
        "fallback 1-1",
    ];
    assert_eq!(installs(&repo, &["a"]), ["a-1-1", "fallback-1-1"]);
    assert_eq!(
        installs(&repo, &["a", "plugin"]),
        ["a-1-1", "helper-1-1", "plugin-1-1"]
    );
    // Without the condition, the else-part or the condition: the first
    // by name, as dnf chooses, even if that brings the condition in.
    let repo = [
        "a 1-1 | R: (helper if aplugin else zfallback)",
        "helper 1-1",
        "aplugin 1-1",
        "zfallback 1-1",
    ];
    assert_eq!(
        installs(&repo, &["a"]),
        ["a-1-1", "aplugin-1-1", "helper-1-1"]
    );
    let repo = ["a 1-1 | R: (helper if plugin)", "helper 1-1", "plugin 1-1"];
    assert_eq!(installs(&repo, &["a"]), ["a-1-1"]);
}

#[test]
fn rich_unless_and_with() {
    // "light unless heavy" is "light or heavy": the first by name, unless
    // heavy is already there.
    let repo = ["a 1-1 | R: (light unless heavy)", "light 1-1", "heavy 1-1"];
    assert_eq!(installs(&repo, &["a"]), ["a-1-1", "heavy-1-1"]);
    assert_eq!(installs(&repo, &["a", "light"]), ["a-1-1", "light-1-1"]);
    let repo = [
        "a 1-1 | R: (lib >= 2 with lib < 3)",
        "lib 1-1",
        "lib 2.5-1",
        "lib 3-1",
    ];
    assert_eq!(installs(&repo, &["a"]), ["a-1-1", "lib-2.5-1"]);
    let repo = [
        "a 1-1 | R: (mta without postfix)",
        "postfix 1-1 | P: mta",
        "exim 1-1 | P: mta",
    ];
    assert_eq!(installs(&repo, &["a"]), ["a-1-1", "exim-1-1"]);
}

#[test]
fn conflicts_stop_a_request_and_name_both_sides() {
    let packages: Vec<RpmPackage> = ["a 1-1 | C: b < 2", "b 1-1"]
        .iter()
        .map(|p| pkg(p))
        .collect();
    let error = solve(&packages, &request(&["a", "b"])).unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, ResolveError::Unsatisfiable { .. }),
        "{text}"
    );
    assert!(text.contains("a (requested at ks.cfg:1)"), "{text}");
    assert!(text.contains("b (requested at ks.cfg:1)"), "{text}");
    // A version outside the conflicting range is fine.
    let repo = ["a 1-1 | C: b < 2", "b 1-1", "b 2-1"];
    assert_eq!(installs(&repo, &["a", "b"]), ["a-1-1", "b-2-1"]);
}

#[test]
fn obsoletes_replace_a_requested_name_and_forbid_the_old_package() {
    let repo = ["new 2-1 | O: old < 2", "old 1-1"];
    assert_eq!(installs(&repo, &["old"]), ["new-2-1"]);
    let repo = ["new 2-1 | O: gone", "app 1-1 | R: new"];
    assert_eq!(installs(&repo, &["gone"]), ["new-2-1"]);
    // The obsoleted package cannot come back through a dependency.
    let packages: Vec<RpmPackage> = ["new 2-1 | O: old < 2", "old 1-1", "app 1-1 | R: old"]
        .iter()
        .map(|p| pkg(p))
        .collect();
    assert!(matches!(
        solve(&packages, &request(&["new", "app"])),
        Err(ResolveError::Unsatisfiable { .. })
    ));
}

#[test]
fn weak_dependencies_follow_the_switch() {
    let repo = [
        "a 1-1 | REC: extra",
        "extra 1-1",
        "lang 1-1 | SUP: (a and extra)",
    ];
    assert_eq!(installs(&repo, &["a"]), ["a-1-1", "extra-1-1", "lang-1-1"]);
    let packages: Vec<RpmPackage> = repo.iter().map(|p| pkg(p)).collect();
    let mut req = request(&["a"]);
    req.weak_deps = false;
    assert_eq!(solve(&packages, &req).unwrap(), ["a-1-1"]);
    // A recommendation that cannot be installed is skipped, not an error.
    let repo = ["a 1-1 | REC: broken", "broken 1-1 | R: missing"];
    assert_eq!(installs(&repo, &["a"]), ["a-1-1"]);
    // Nor one that would make a rich `if` of the recommending package
    // false (kernel-core and linux-firmware).
    let repo = ["a 1-1 | R: (fw >= 5 if fw) | REC: fw", "fw 1-1"];
    assert_eq!(installs(&repo, &["a"]), ["a-1-1"]);
    let repo = ["a 1-1 | R: (fw >= 5 if fw) | REC: fw", "fw 1-1", "fw 6-1"];
    assert_eq!(installs(&repo, &["a"]), ["a-1-1", "fw-6-1"]);
}

#[test]
fn missing_excluded_and_foreign_arch_requests_are_explained() {
    let packages: Vec<RpmPackage> = [
        "a 1-1 | R: nothere >= 1",
        "b 1-1",
        "arm 1-1 | A: aarch64",
        "doc 1-1 | A: noarch",
    ]
    .iter()
    .map(|p| pkg(p))
    .collect();
    let error = solve(&packages, &request(&["a"])).unwrap_err().to_string();
    assert!(error.contains("nothere"), "{error}");
    assert!(error.contains("a (requested at ks.cfg:1)"), "{error}");
    assert!(matches!(
        solve(&packages, &request(&["zzz"])),
        Err(ResolveError::Missing { .. })
    ));
    assert!(matches!(
        solve(&packages, &request(&["arm"])),
        Err(ResolveError::Missing { .. })
    ));
    assert_eq!(solve(&packages, &request(&["doc"])).unwrap(), ["doc-1-1"]);
    let mut req = request(&["b"]);
    req.exclude = vec!["b".to_owned()];
    assert!(matches!(
        solve(&packages, &req),
        Err(ResolveError::Excluded { .. })
    ));
}

#[test]
fn rpmlib_requirements_need_no_package_and_bad_rich_ones_are_named() {
    assert_eq!(
        installs(&["a 1-1 | R: rpmlib(PayloadIsZstd) <= 5.4.18-1"], &["a"]),
        ["a-1-1"]
    );
    let packages: Vec<RpmPackage> = ["a 1-1 | R: (b or)"].iter().map(|p| pkg(p)).collect();
    let error = solve(&packages, &request(&["a"])).unwrap_err().to_string();
    assert!(error.contains("(b or)"), "{error}");
}

#[test]
fn requests_may_name_a_version_an_arch_or_both_as_dnf_reads_them() {
    let repo = [
        "bash 5.1-2",
        "bash 5.2-1",
        "my-tool 1.0-1",
        "my-tool 2.0-1",
        "lib 1:3.0-1",
        "doc 1-1 | A: noarch",
    ];
    assert_eq!(installs(&repo, &["bash"]), ["bash-5.2-1"]);
    assert_eq!(installs(&repo, &["bash-5.1"]), ["bash-5.1-2"]);
    assert_eq!(installs(&repo, &["bash-5.1-2"]), ["bash-5.1-2"]);
    assert_eq!(installs(&repo, &["bash-5.1-2.x86_64"]), ["bash-5.1-2"]);
    assert_eq!(installs(&repo, &["bash.x86_64"]), ["bash-5.2-1"]);
    // A dash inside the name: the version is what follows the last dash
    // or the one before it.
    assert_eq!(installs(&repo, &["my-tool-1.0"]), ["my-tool-1.0-1"]);
    assert_eq!(installs(&repo, &["lib-1:3.0-1"]), ["lib-1:3.0-1"]);
    assert_eq!(installs(&repo, &["doc.noarch"]), ["doc-1-1"]);
    let packages: Vec<RpmPackage> = repo.iter().map(|p| pkg(p)).collect();
    for missing in ["bash-6", "bash.aarch64", "doc.x86_64", "bash-5.1-9"] {
        assert!(
            matches!(
                solve(&packages, &request(&[missing])),
                Err(ResolveError::Missing { .. })
            ),
            "{missing}"
        );
    }
    // One version of an ordinary package at a time.
    assert!(matches!(
        solve(&packages, &request(&["bash-5.1", "bash-5.2"])),
        Err(ResolveError::Unsatisfiable { .. })
    ));
}

#[test]
fn install_only_packages_coexist_in_several_versions() {
    let repo = [
        "kernel 6.9-1 | R: kernel-core = 6.9-1",
        "kernel 6.1-1 | R: kernel-core = 6.1-1",
        "kernel-core 6.9-1 | P: installonlypkg(kernel)",
        "kernel-core 6.1-1 | P: installonlypkg(kernel)",
        "tool 1-1 | R: kernel-core",
        "old-driver 1-1 | R: kernel-core = 6.1-1",
    ];
    // A bare name is the newest version, and dependencies follow it.
    assert_eq!(
        installs(&repo, &["kernel"]),
        ["kernel-6.9-1", "kernel-core-6.9-1"]
    );
    assert_eq!(
        installs(&repo, &["kernel-6.1", "kernel-6.9"]),
        [
            "kernel-6.1-1",
            "kernel-6.9-1",
            "kernel-core-6.1-1",
            "kernel-core-6.9-1"
        ]
    );
    // A capability any version offers is met by the newest, unless a pin
    // already brings a version that meets it.
    assert_eq!(
        installs(&repo, &["tool"]),
        ["kernel-core-6.9-1", "tool-1-1"]
    );
    assert_eq!(
        installs(&repo, &["tool", "old-driver"]),
        ["kernel-core-6.1-1", "old-driver-1-1", "tool-1-1"]
    );
    // Beside a requested version, a pin on another adds it.
    assert_eq!(
        installs(&repo, &["kernel", "old-driver"]),
        [
            "kernel-6.9-1",
            "kernel-core-6.1-1",
            "kernel-core-6.9-1",
            "old-driver-1-1"
        ]
    );
    // Globs name packages, not versions: each matching package once.
    assert_eq!(
        installs(&repo, &["kernel*"]),
        ["kernel-6.9-1", "kernel-core-6.9-1"]
    );
    // Excluding the package excludes every version.
    let packages: Vec<RpmPackage> = repo.iter().map(|p| pkg(p)).collect();
    let mut req = request(&["kernel-core"]);
    req.exclude = vec!["kernel-core".to_owned()];
    assert!(matches!(
        solve(&packages, &req),
        Err(ResolveError::Excluded { .. })
    ));
}

#[test]
fn an_unsatisfiable_dependency_is_explained_from_the_package_that_has_it() {
    let packages: Vec<RpmPackage> = [
        "holdout-tools 1.0-1 | R: /bin/sh",
        "busybox 1-1 | F: /usr/bin/busybox, /usr/bin/sh",
    ]
    .iter()
    .map(|p| pkg(p))
    .collect();
    // busybox is asked for twice (a group and a line), holdout-tools once.
    let mut req = request(&["busybox", "holdout-tools", "busybox"]);
    req.install[0].origin = "ks.cfg:2 (@core)".to_owned();
    req.install[2].origin = "ks.cfg:4".to_owned();
    let error = solve(&packages, &req).unwrap_err().to_string();
    let mut lines = error.lines();
    assert_eq!(
        lines.next(),
        Some("the requested packages cannot be installed together:")
    );
    assert_eq!(
        lines.next(),
        Some(
            "holdout-tools 1.0-1 requires /bin/sh: no repository has a package named or \
             providing /bin/sh"
        )
    );
    assert_eq!(lines.next(), Some("involved requests:"));
    assert_eq!(
        lines.next(),
        Some("  - holdout-tools (requested at ks.cfg:1)")
    );
    assert_eq!(lines.next(), Some("why:"), "{error}");
    // A request named in several places is one request.
    let packages: Vec<RpmPackage> = ["a 1-1 | R: b >= 2", "b 1-1"]
        .iter()
        .map(|p| pkg(p))
        .collect();
    let mut req = request(&["a", "a"]);
    req.install[1].origin = "ks.cfg:2 (@core)".to_owned();
    let error = solve(&packages, &req).unwrap_err().to_string();
    assert!(
        error.starts_with(
            "the requested packages cannot be installed together:\n\
             a 1-1 requires b providing b >= 2: the repositories have only b 1-1 (test)\n\
             involved requests:\n  \
             - a (requested at ks.cfg:1) and (requested at ks.cfg:2 (@core))\n\
             why:\n"
        ),
        "{error}"
    );
    // A request under resolvo's "incompatible" heading is involved too
    // (the kernel and an older firmware).
    let packages: Vec<RpmPackage> = ["mods 1-1 | R: (fw >= 5 if fw)", "fw 1-1"]
        .iter()
        .map(|p| pkg(p))
        .collect();
    let error = solve(&packages, &request(&["mods", "fw"]))
        .unwrap_err()
        .to_string();
    for involved in [
        "  - mods (requested at ks.cfg:1)\n",
        "  - fw (requested at ks.cfg:1)\n",
    ] {
        assert!(error.contains(involved), "{involved:?} not in {error}");
    }
}
