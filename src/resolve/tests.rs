use super::*;
use crate::repo::packages::parse_packages;

const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Parses short Packages-format paragraphs, filling in the fields the
/// resolver ignores but the parser insists on. Architecture defaults to amd64.
fn index(text: &str) -> Vec<BinaryPackage> {
    let mut full = String::new();
    for para in text.split("\n\n") {
        let para = para.trim();
        if para.is_empty() {
            continue;
        }
        let lines: Vec<&str> = para.lines().map(str::trim).collect();
        full.push_str(&lines.join("\n"));
        full.push('\n');
        if !para.contains("Architecture:") {
            full.push_str("Architecture: amd64\n");
        }
        full.push_str(&format!("Filename: pool/x.deb\nSize: 100\nSHA256: {H}\n\n"));
    }
    parse_packages(&full).expect("fixture parses")
}

fn universe<'a>(pkgs: &'a [BinaryPackage], repo: &'a str, cost: i32) -> Vec<Candidate<'a>> {
    pkgs.iter()
        .map(|package| Candidate {
            package,
            repo,
            cost,
        })
        .collect()
}

fn request(names: &[&str]) -> Request {
    Request {
        install: names
            .iter()
            .enumerate()
            .map(|(i, n)| Requested {
                pattern: (*n).to_owned(),
                origin: format!("ks.cfg:{}", i + 10),
                ignore_missing: false,
            })
            .collect(),
        exclude: Vec::new(),
        with_recommends: false,
        arch: "amd64".to_owned(),
        base: BaseSet::None,
    }
}

fn names(t: &Transaction) -> Vec<String> {
    t.packages
        .iter()
        .map(|c| format!("{}={}", c.package.name, c.package.version))
        .collect()
}

fn solve_names(text: &str, req: &Request) -> Result<Vec<String>, ResolveError> {
    let pkgs = index(text);
    let u = universe(&pkgs, "main", 1);
    resolve(&u, req).map(|t| names(&t))
}

fn unsat(text: &str, req: &Request) -> String {
    match solve_names(text, req) {
        Err(ResolveError::Unsatisfiable { explanation }) => explanation,
        other => panic!("expected unsatisfiable, got {other:?}"),
    }
}

#[test]
fn first_satisfiable_alternative_wins() {
    let text = "Package: a\nVersion: 1\nDepends: b | c\n\n\
                Package: b\nVersion: 1\n\nPackage: c\nVersion: 1\n";
    assert_eq!(solve_names(text, &request(&["a"])).unwrap(), ["a=1", "b=1"]);
    // With b out of the picture the second alternative is used.
    let mut req = request(&["a"]);
    req.exclude = vec!["b".into()];
    assert_eq!(solve_names(text, &req).unwrap(), ["a=1", "c=1"]);
    // An alternative that conflicts with the requester is skipped.
    let text = "Package: a\nVersion: 1\nDepends: b | c\n\n\
                Package: b\nVersion: 1\nConflicts: a\n\nPackage: c\nVersion: 1\n";
    assert_eq!(solve_names(text, &request(&["a"])).unwrap(), ["a=1", "c=1"]);
}

#[test]
fn versioned_dependencies_use_debian_ordering() {
    let text = "Package: a\nVersion: 1\nDepends: lib (>= 1.0~rc1), lib (<< 2:0)\n\n\
                Package: lib\nVersion: 1.0~rc1\n\nPackage: lib\nVersion: 1.0\n\n\
                Package: lib\nVersion: 1.0+b1\n\nPackage: lib\nVersion: 1:0.5\n";
    // 1:0.5 is the highest (epoch) and still << 2:0.
    assert_eq!(
        solve_names(text, &request(&["a"])).unwrap(),
        ["a=1", "lib=1:0.5"]
    );
    let text = text.replace("(<< 2:0)", "(<= 1.0+b1)");
    assert_eq!(
        solve_names(&text, &request(&["a"])).unwrap(),
        ["a=1", "lib=1.0+b1"]
    );
    let text = text.replace("(<= 1.0+b1)", "(<< 1.0)");
    assert_eq!(
        solve_names(&text, &request(&["a"])).unwrap(),
        ["a=1", "lib=1.0~rc1"]
    );
    let text = text.replace("(<< 1.0)", "(= 1.0)");
    assert_eq!(
        solve_names(&text, &request(&["a"])).unwrap(),
        ["a=1", "lib=1.0"]
    );
    let text = text.replace("(= 1.0)", "(>> 1.0+b1)");
    assert_eq!(
        solve_names(&text, &request(&["a"])).unwrap(),
        ["a=1", "lib=1:0.5"]
    );
}

#[test]
fn highest_version_then_cheapest_repo() {
    let old = index("Package: p\nVersion: 2.0\n");
    let new = index("Package: p\nVersion: 2.0\n\nPackage: p\nVersion: 1.9\n");
    let mut u = universe(&old, "cheap", 1);
    u.extend(universe(&new, "dear", 50));
    let t = resolve(&u, &request(&["p"])).unwrap();
    assert_eq!(names(&t), ["p=2.0"]);
    assert_eq!(t.packages[0].repo, "cheap");
    // Cost never beats a higher version.
    let newer = index("Package: p\nVersion: 2.0-1\n");
    let mut u = universe(&old, "cheap", 1);
    u.extend(universe(&newer, "dear", 50));
    let t = resolve(&u, &request(&["p"])).unwrap();
    assert_eq!(
        (names(&t)[0].as_str(), t.packages[0].repo.as_str()),
        ("p=2.0-1", "dear")
    );
}

#[test]
fn virtual_packages_and_versioned_provides() {
    let text = "Package: mutt\nVersion: 1\nDepends: mail-transport-agent\n\n\
                Package: exim4\nVersion: 4\nPriority: standard\nProvides: mail-transport-agent\n\n\
                Package: postfix\nVersion: 3\nPriority: optional\nProvides: mail-transport-agent\n";
    assert_eq!(
        solve_names(text, &request(&["mutt"])).unwrap(),
        ["exim4=4", "mutt=1"]
    );
    // A virtual name can be requested directly.
    assert_eq!(
        solve_names(text, &request(&["mail-transport-agent"])).unwrap(),
        ["exim4=4"]
    );

    let text = "Package: a\nVersion: 1\nDepends: x (>= 2)\n\n\
                Package: p\nVersion: 1\nProvides: x (= 3)\n";
    assert_eq!(solve_names(text, &request(&["a"])).unwrap(), ["a=1", "p=1"]);
    let text = text.replace("(= 3)", "(= 1)");
    let why = unsat(&text, &request(&["a"]));
    assert!(why.contains('x') && why.contains("a"), "{why}");
    // Policy: an unversioned Provides never satisfies a versioned relation...
    let text = "Package: a\nVersion: 1\nDepends: x (>= 2)\n\n\
                Package: p\nVersion: 1\nProvides: x\n";
    unsat(text, &request(&["a"]));
    // ...but does satisfy an unversioned one.
    let text = text.replace("x (>= 2)", "x");
    assert_eq!(
        solve_names(&text, &request(&["a"])).unwrap(),
        ["a=1", "p=1"]
    );
}

#[test]
fn conflicts_and_breaks() {
    // Conflict on a virtual name hits every other provider, never the package itself.
    let text = "Package: exim4\nVersion: 4\nProvides: mail-transport-agent\nConflicts: mail-transport-agent\n\n\
                Package: postfix\nVersion: 3\nProvides: mail-transport-agent\nConflicts: mail-transport-agent\n";
    assert_eq!(
        solve_names(text, &request(&["exim4"])).unwrap(),
        ["exim4=4"]
    );
    let why = unsat(text, &request(&["exim4", "postfix"]));
    assert!(why.contains("exim4") && why.contains("postfix"), "{why}");

    // Versioned Breaks: the old library is rejected, the newer one accepted.
    let text = "Package: app\nVersion: 1\nBreaks: lib (<< 2)\n\n\
                Package: lib\nVersion: 1\n";
    let why = unsat(text, &request(&["app", "lib"]));
    assert!(why.contains("lib"), "{why}");
    let text = format!("{text}\nPackage: lib\nVersion: 2\n");
    assert_eq!(
        solve_names(&text, &request(&["app", "lib"])).unwrap(),
        ["app=1", "lib=2"]
    );
    // A versioned Conflicts forces an older version when that is what works.
    let text = "Package: app\nVersion: 1\nConflicts: lib (>= 2)\n\n\
                Package: lib\nVersion: 1\n\nPackage: lib\nVersion: 2\n";
    assert_eq!(
        solve_names(text, &request(&["app", "lib"])).unwrap(),
        ["app=1", "lib=1"]
    );
}

#[test]
fn base_set_is_essential_plus_required() {
    let text = "Package: bash\nVersion: 5\nEssential: yes\nPriority: required\nDepends: libc6\n\n\
                Package: libc6\nVersion: 2.36\nPriority: optional\n\n\
                Package: mawk\nVersion: 1\nPriority: required\n\n\
                Package: vim\nVersion: 9\nPriority: optional\n\n\
                Package: dash\nVersion: 0.5\nEssential: yes\nArchitecture: i386\n";
    let mut req = request(&[]);
    req.base = BaseSet::Minbase;
    assert_eq!(
        solve_names(text, &req).unwrap(),
        ["bash=5", "libc6=2.36", "mawk=1"]
    );
    req.base = BaseSet::Essential;
    assert_eq!(solve_names(text, &req).unwrap(), ["bash=5", "libc6=2.36"]);
    req.base = BaseSet::None;
    assert!(solve_names(text, &req).unwrap().is_empty());
}

#[test]
fn excludes_remove_candidates_with_clear_errors() {
    let text = "Package: a\nVersion: 1\nDepends: b\n\nPackage: b\nVersion: 1\n";
    let mut req = request(&["a"]);
    req.exclude = vec!["b*".into()];
    let why = unsat(text, &req);
    assert!(why.contains("excluded"), "{why}");
    assert!(why.contains("a (requested at ks.cfg:10)"), "{why}");
    let mut req = request(&["b"]);
    req.exclude = vec!["b".into()];
    assert_eq!(
        solve_names(text, &req),
        Err(ResolveError::Excluded {
            pattern: "b".into(),
            origin: "ks.cfg:10".into()
        })
    );
}

#[test]
fn globs_expand_to_every_matching_name() {
    let text = "Package: linux-image-6.1.0-1-amd64\nVersion: 1\n\n\
                Package: linux-image-amd64\nVersion: 1\n\n\
                Package: linux-headers-amd64\nVersion: 1\n\n\
                Package: fonts-a\nVersion: 1\n\nPackage: fonts-b\nVersion: 1\n\nPackage: fonts-c\nVersion: 1\n";
    assert_eq!(
        solve_names(text, &request(&["linux-image-*"])).unwrap(),
        ["linux-image-6.1.0-1-amd64=1", "linux-image-amd64=1"]
    );
    assert_eq!(
        solve_names(text, &request(&["fonts-[ab]", "linux-?eaders-amd64"])).unwrap(),
        ["fonts-a=1", "fonts-b=1", "linux-headers-amd64=1"]
    );
    assert!(matches!(
        solve_names(text, &request(&["fonts-[a"])),
        Err(ResolveError::BadPattern { .. })
    ));
}

#[test]
fn missing_requests_error_or_warn() {
    let text = "Package: a\nVersion: 1\n";
    assert_eq!(
        solve_names(text, &request(&["a", "nope"])),
        Err(ResolveError::Missing {
            pattern: "nope".into(),
            origin: "ks.cfg:11".into()
        })
    );
    let err = solve_names(text, &request(&["zz-*"])).unwrap_err();
    assert!(err.to_string().contains("ks.cfg:10"), "{err}");
    let pkgs = index(text);
    let u = universe(&pkgs, "main", 1);
    let mut req = request(&["a", "nope"]);
    req.install[1].ignore_missing = true;
    let t = resolve(&u, &req).unwrap();
    assert_eq!(names(&t), ["a=1"]);
    assert_eq!(t.warnings.len(), 1);
    assert!(t.warnings[0].contains("nope") && t.warnings[0].contains("ks.cfg:11"));
}

#[test]
fn recommends_are_soft_and_transitive() {
    let text = "Package: a\nVersion: 1\nRecommends: b, broken, c | d\n\n\
                Package: b\nVersion: 1\nRecommends: e\n\n\
                Package: broken\nVersion: 1\nDepends: nowhere\n\n\
                Package: c\nVersion: 1\nConflicts: a\n\n\
                Package: d\nVersion: 1\n\n\
                Package: e\nVersion: 1\n";
    let mut req = request(&["a"]);
    assert_eq!(solve_names(text, &req).unwrap(), ["a=1"]);
    req.with_recommends = true;
    // broken cannot be installed and c conflicts: both skipped, not fatal.
    // c | d tries c first, which fails, then falls back to d.
    assert_eq!(
        solve_names(text, &req).unwrap(),
        ["a=1", "b=1", "d=1", "e=1"]
    );
}

#[test]
fn architecture_filter_and_qualifiers() {
    let text = "Package: a\nVersion: 1\nDepends: python3:any, libc6:amd64, perl:native\n\n\
                Package: python3\nVersion: 3\nArchitecture: all\n\n\
                Package: libc6\nVersion: 2\n\nPackage: libc6\nVersion: 9\nArchitecture: i386\n\n\
                Package: perl\nVersion: 5\n";
    assert_eq!(
        solve_names(text, &request(&["a"])).unwrap(),
        ["a=1", "libc6=2", "perl=5", "python3=3"]
    );
    let text = text.replace("libc6:amd64", "libc6:i386");
    unsat(&text, &request(&["a"]));
}

#[test]
fn unsatisfiable_explains_the_chain() {
    let text = "Package: top\nVersion: 1\nDepends: mid\n\n\
                Package: mid\nVersion: 2\nDepends: bottom (>= 5)\n\n\
                Package: bottom\nVersion: 1.0-3\n";
    let err = solve_names(text, &request(&["top"])).unwrap_err();
    let text = err.to_string();
    for needle in [
        "top (requested at ks.cfg:10)",
        "mid",
        "bottom",
        ">= 5",
        "1.0-3",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in:\n{text}");
    }
}

#[test]
fn pre_depends_count_and_download_size_sums() {
    let text = "Package: a\nVersion: 1\nPre-Depends: b\n\nPackage: b\nVersion: 1\n";
    let pkgs = index(text);
    let u = universe(&pkgs, "main", 1);
    let t = resolve(&u, &request(&["a"])).unwrap();
    assert_eq!(names(&t), ["a=1", "b=1"]);
    assert_eq!(t.download_size, 200);
    assert_eq!(t.get("b").map(|c| c.repo.as_str()), Some("main"));
    assert!(t.get("zz").is_none());
}
