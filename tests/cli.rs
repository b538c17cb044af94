//! The `livecompose` binary as a user runs it: exit codes, what goes to
//! stdout and stderr, and that nothing is written when a build cannot run.

use std::path::Path;
use std::process::{Command, Output};

fn livecompose(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .args(args)
        .current_dir(dir)
        .env_remove("LIVECOMPOSE_MIRROR")
        .output()
        .expect("livecompose runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit codes: the build or the tool failed; the input is wrong.
const FAILED: i32 = 1;
const BAD_INPUT: i32 = 2;

/// The run failed with `code` and said `fragment` on stderr.
fn assert_fails_with(out: &Output, code: i32, fragment: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(fragment), "{fragment:?} not in: {stderr}");
}

fn write(dir: &Path, name: &str, content: &str) {
    std::fs::write(dir.join(name), content).expect("write fixture");
}

#[test]
fn validate_exits_zero_and_prints_warnings_to_stderr() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "ok.ks", "lang C\nauth --useshadow\n");
    let out = livecompose(&["validate", "--config", "ok.ks"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("ok.ks:2: warning: auth was removed"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn validate_reports_file_and_line_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "bad.ks", "lang C\n%include part.ks\n");
    write(dir.path(), "part.ks", "\npart / --size=abc\n");
    let out = livecompose(&["validate", "-c", "bad.ks"], dir.path());
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("part.ks:2: part: --size=\"abc\" is not a size in MiB"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.ks has 1 error"), "{stderr}");
}

#[test]
fn a_missing_kickstart_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = livecompose(&["validate", "-c", "nope.ks"], dir.path());
    assert_fails_with(&out, BAD_INPUT, "nope.ks: cannot read the kickstart");
}

#[test]
fn flatten_prints_a_self_contained_kickstart_that_validates() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(
        dir.path(),
        "top.ks",
        "%include base.ks\n%packages\nvim\n%end\n",
    );
    write(
        dir.path(),
        "base.ks",
        "lang en_US.UTF-8\ntimezone Etc/UTC\n",
    );
    let out = livecompose(&["flatten", "-c", "top.ks"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let flat = text(&out.stdout);
    assert_eq!(
        flat,
        "lang en_US.UTF-8\ntimezone Etc/UTC\n\n%packages\nvim\n%end\n"
    );
    let out = livecompose(&["flatten", "-c", "top.ks", "-o", "flat.ks"], dir.path());
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("flat.ks")).expect("written"),
        flat
    );
    assert!(
        livecompose(&["validate", "-c", "flat.ks"], dir.path())
            .status
            .success()
    );
}

#[test]
fn dry_run_shows_the_plan_with_the_mirror_expanded() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(
        dir.path(),
        "d.ks",
        "url --url=$mirror --suite=bookworm\n%packages\nbash\n%end\n",
    );
    let out = livecompose(
        &[
            "-c",
            "d.ks",
            "-l",
            "Test-1",
            "--mirror",
            "http://mirror.example/debian",
            "--dry-run",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(
        plan.contains("http://mirror.example/debian suite bookworm [main]"),
        "{plan}"
    );
    assert!(plan.contains("Test-1.iso"), "{plan}");
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        1,
        "a dry run writes nothing"
    );
}

#[test]
fn help_offers_only_the_formats_that_build() {
    let dir = tempfile::tempdir().expect("temp dir");
    // One line, however the help is wrapped.
    let short = text(&livecompose(&["-h"], dir.path()).stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        short.contains("[possible values: iso, dir, squashfs, pxe, raw, qcow2]"),
        "{short}"
    );
    let out = livecompose(&["--help"], dir.path());
    assert!(text(&out.stdout).contains("--pxe-url <URL>"));
    write(dir.path(), "d.ks", "url --url=$mirror --suite=bookworm\n");
    let out = livecompose(
        &["-c", "d.ks", "-l", "Test-1", "--format", "vmdk"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(text(&out.stderr).contains("invalid value 'vmdk'"));
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
}

#[test]
fn pxe_url_is_checked_before_any_work_and_shown_by_the_dry_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "d.ks", "url --url=$mirror --suite=bookworm\n");
    let run = |format: &str, url: Option<&str>| {
        let mut args = vec!["-c", "d.ks", "-l", "Net-1", "--format", format];
        args.extend(url.map(|url| ["--pxe-url", url]).into_iter().flatten());
        args.extend(["--mirror", "http://mirror.example/debian", "--dry-run"]);
        livecompose(&args, dir.path())
    };
    assert_fails_with(
        &run("pxe", Some("http://boot.example/lc")),
        BAD_INPUT,
        "--pxe-url http://boot.example/lc: the host must be an IPv4 address",
    );
    assert_fails_with(
        &run("squashfs", Some("http://10.0.0.1/lc")),
        BAD_INPUT,
        "--pxe-url applies to --format pxe only",
    );
    let out = run("pxe", None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.contains("Net-1 (pxe)"), "{plan}");
    assert!(
        plan.contains("served at:    http://10.0.2.2:8080/Net-1"),
        "{plan}"
    );
    let out = run("pxe", Some("http://192.168.1.10/lc/"));
    assert!(text(&out.stdout).contains("served at:    http://192.168.1.10/lc\n"));
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
}

#[test]
fn an_unreachable_mirror_stops_the_build_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "d.ks", "url --url=$mirror --suite=bookworm\n");
    let out = livecompose(
        &[
            "-c",
            "d.ks",
            "-l",
            "Test-1",
            "--format",
            "dir",
            "--output",
            "out",
            "--cache",
            "cache",
            "--mirror",
            // The discard port: nothing listens there, the connection is refused.
            "http://127.0.0.1:9/debian",
        ],
        dir.path(),
    );
    assert_fails_with(
        &out,
        FAILED,
        "d.ks:1: cannot use repository base (http://127.0.0.1:9/debian)",
    );
    let out_dir = dir.path().join("out");
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "the output directory holds {left:?}");
}

#[test]
fn bad_labels_are_refused_before_any_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(
        dir.path(),
        "d.ks",
        "url --url=http://m.example/debian --suite=bookworm\n",
    );
    let out = livecompose(&["-c", "d.ks", "-l", "has space"], dir.path());
    assert_fails_with(
        &out,
        BAD_INPUT,
        "the label \"has space\" cannot be an ISO 9660 volume id",
    );
}

#[test]
fn a_bad_source_date_epoch_is_refused_before_any_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The discard port: were the build to get that far, nothing would answer.
    write(
        dir.path(),
        "d.ks",
        "url --url=http://127.0.0.1:9/debian --suite=bookworm\n",
    );
    for value in ["yesterday", "-1", "1.5", ""] {
        let out = Command::new(env!("CARGO_BIN_EXE_livecompose"))
            .args(["-c", "d.ks", "-l", "Test-1", "--output", "out"])
            .current_dir(dir.path())
            .env("SOURCE_DATE_EPOCH", value)
            .output()
            .expect("livecompose runs");
        assert_fails_with(
            &out,
            BAD_INPUT,
            &format!("SOURCE_DATE_EPOCH={value:?} is not a number of seconds since 1970"),
        );
        assert!(!dir.path().join("out").exists(), "{value:?}: output made");
    }
}

#[test]
fn build_needs_config_and_label() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = livecompose(&["--config", "x.ks"], dir.path());
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
    assert!(
        text(&out.stderr).contains("--label"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn help_teaches_with_examples() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = livecompose(&["--help"], dir.path());
    let help = text(&out.stdout);
    assert!(
        help.contains("livecompose --config kickstarts/debian-minimal.ks --label Debian-mini"),
        "{help}"
    );
    for sub in ["validate", "flatten"] {
        let out = livecompose(&[sub, "--help"], dir.path());
        assert!(
            out.status.success() && text(&out.stdout).contains("--config"),
            "{sub} --help"
        );
    }
}

#[test]
fn the_repository_kickstarts_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in [
        "debian-minimal.ks",
        "debian-hypervisor.ks",
        "fedora-mini.ks",
    ] {
        let out = livecompose(&["validate", "-c", &format!("kickstarts/{name}")], root);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert!(
            out.stderr.is_empty(),
            "{name} has warnings: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn the_fedora_kickstart_names_a_key_that_loads_for_each_shipped_release() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = tempfile::tempdir().expect("temp dir");
    for release in ["43", "44", "45"] {
        let out = livecompose(
            &[
                "resolve",
                "-c",
                "kickstarts/fedora-mini.ks",
                &format!("--releasever={release}"),
                "--mirror=file:///nonexistent",
                "--cache",
                cache.path().to_str().unwrap(),
            ],
            root,
        );
        // The key loads, so the build goes on to the (missing) repomd.xml.
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "releases/{release}/Everything/x86_64/os/repodata/repomd.xml: not found"
            )),
            "{release}: {stderr}"
        );
        assert!(!stderr.contains("keyring"), "{release}: {stderr}");
    }
}

#[test]
fn man_pages_are_written_for_every_subcommand_and_render() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = livecompose(&["man", "pages"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pages = dir.path().join("pages");
    for name in [
        "livecompose",
        "livecompose-validate",
        "livecompose-flatten",
        "livecompose-resolve",
        "livecompose-test",
        "livecompose-squashfs",
        "livecompose-seed",
        "livecompose-derive",
        "livecompose-commit",
        "livecompose-audit",
        "livecompose-man",
    ] {
        let page = pages.join(format!("{name}.1"));
        assert!(page.is_file(), "{} missing", page.display());
        // man-db's own renderer, as a reader would see the page.
        let rendered = Command::new("man")
            .args(["-l", "-P", "cat"])
            .arg(&page)
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("man (Debian package man-db) renders the pages");
        assert!(
            rendered.status.success(),
            "{name}: {}",
            text(&rendered.stderr)
        );
        assert!(
            text(&rendered.stderr).trim().is_empty(),
            "{name}: the renderer complained: {}",
            text(&rendered.stderr)
        );
        let page_text = text(&rendered.stdout);
        assert!(page_text.contains("NAME"), "{name}: {page_text}");
        assert!(page_text.contains(name), "{name}: {page_text}");
    }
    let main_page = Command::new("man")
        .args(["-l", "-P", "cat"])
        .arg(pages.join("livecompose.1"))
        .output()
        .expect("man");
    let main_page = text(&main_page.stdout);
    assert!(main_page.contains("--config"), "{main_page}");
}

#[test]
fn cache_shows_its_parts_and_prune_empties_it_but_not_under_a_build() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(cache.join("sha256")).unwrap();
    std::fs::create_dir_all(cache.join("parsed")).unwrap();
    std::fs::write(cache.join("sha256").join("a".repeat(64)), vec![0u8; 2048]).unwrap();
    std::fs::write(cache.join("parsed").join("b".repeat(64)), b"x").unwrap();
    let cache_arg = cache.to_str().unwrap();

    let shown = livecompose(&["cache", "--cache", cache_arg], dir.path());
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let listing = text(&shown.stdout);
    let line = |part: &str| -> Vec<String> {
        let line = listing.lines().find(|line| line.starts_with(part));
        line.unwrap_or_default()
            .split_whitespace()
            .take(5)
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        line("sha256"),
        ["sha256", "1", "files", "2.0", "KiB"],
        "{listing}"
    );
    assert_eq!(
        line("parsed"),
        ["parsed", "1", "files", "1", "B"],
        "{listing}"
    );
    assert!(listing.contains("2 files, 2.0 KiB in all"), "{listing}");

    // A build holds the cache shared (util-linux flock stands in for one):
    // pruning is refused and removes nothing.
    let held = dir.path().join("held");
    let mut build = Command::new("flock")
        .args(["--shared", "--no-fork"])
        .arg(cache.join(".lock"))
        // One process from flock to sleep, so that killing it lets go.
        .args([
            "sh",
            "-c",
            &format!("touch {} && exec sleep 30", held.display()),
        ])
        .spawn()
        .expect("flock (util-linux)");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !held.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "flock never held the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let refused = livecompose(&["cache", "--cache", cache_arg, "--prune"], dir.path());
    assert_fails_with(&refused, FAILED, "a build is using the cache");
    assert!(cache.join("sha256").join("a".repeat(64)).exists());
    build.kill().unwrap();
    build.wait().unwrap();

    let pruned = livecompose(&["cache", "--cache", cache_arg, "--prune"], dir.path());
    assert!(pruned.status.success(), "{}", text(&pruned.stderr));
    assert!(text(&pruned.stdout).contains("2 files, 2.0 KiB removed"));
    let left: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(left, [".lock"]);
}
