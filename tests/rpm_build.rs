//! Offline tier: `livecompose --format dir` from a signed RPM repository
//! made with the real tools (`rpmbuild`, `rpmsign`, `createrepo_c`, `gpg`),
//! read back with the real `rpm`; and the packages a signed repository must
//! refuse: unsigned, signed by another key, changed after signing. Needs
//! root, as building an image does.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::dnf::{self, DnfRepo, DnfRequest};
use common::http::Server;
use common::{Gpg, rpmrepo, text};
use tempfile::TempDir;

const SIGNER: &str = "packager@fixture.invalid";

/// A repository of the install fixtures, packages and repomd.xml signed.
struct Repo {
    dir: TempDir,
    root: PathBuf,
    rpms: Vec<PathBuf>,
    key: PathBuf,
    gpg: Gpg,
}

impl Repo {
    fn new(specs: &[&str]) -> Repo {
        Repo::signed(specs, false)
    }

    /// The repository signed by a key whose packages are signed by a
    /// signing subkey when `subkey` (as Debian's keys are), by the primary
    /// key otherwise (as Fedora's are).
    fn signed(specs: &[&str], subkey: bool) -> Repo {
        let specs: Vec<String> = specs.iter().map(|s| format!("install/{s}")).collect();
        let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
        Repo::signed_specs(&specs, subkey)
    }

    /// [`Repo::signed`] of specs named by their path under
    /// `tests/fixtures/rpm/`.
    fn signed_specs(specs: &[&str], subkey: bool) -> Repo {
        let busybox = rpmrepo::static_busybox().display().to_string();
        let (dir, rpms) = rpmrepo::build_with(specs, &[("busybox", &busybox)]);
        Repo::sign_and_index(dir, rpms, subkey)
    }

    /// `lc-shell` and two builds of `overlap.spec` that ship the same
    /// paths: `lc-overlap-a`, and `lc-overlap-b` with `b_defines`.
    fn overlapping(b_defines: &[(&str, &str)]) -> Repo {
        let busybox = rpmrepo::static_busybox().display().to_string();
        let (dir, mut rpms) = rpmrepo::build_with(
            &["install/shell", "install/overlap"],
            &[("busybox", &busybox), ("pkg", "a")],
        );
        let mut defines = vec![("pkg", "b")];
        defines.extend_from_slice(b_defines);
        let (_other, built) = rpmrepo::build_with(&["install/overlap"], &defines);
        for rpm in built {
            let name = rpm.file_name().expect("a file name");
            let to = dir.path().join("repo/noarch").join(name);
            fs::copy(&rpm, &to).expect("copy");
            rpms.push(to);
        }
        Repo::sign_and_index(dir, rpms, false)
    }

    /// Signs `rpms`, built under `dir`, and indexes them.
    fn sign_and_index(dir: TempDir, rpms: Vec<PathBuf>, subkey: bool) -> Repo {
        let gpg = Gpg::new();
        let primary = gpg.gen_key(&format!("Fixture Packager <{SIGNER}>"), "never");
        if subkey {
            gpg.add_signing_subkey(&primary);
        }
        rpmrepo::sign_packages(&gpg, SIGNER, &rpms);
        let key = dir.path().join("RPM-GPG-KEY-fixture");
        gpg.export(&[SIGNER], true, &key);
        let mut repo = Repo {
            root: PathBuf::new(),
            dir,
            rpms,
            key,
            gpg,
        };
        repo.index();
        repo
    }

    /// (Re)indexes the packages as they are now and signs repomd.xml.
    fn index(&mut self) {
        self.index_with(&[]);
    }

    /// The same with more `createrepo_c` options.
    fn index_with(&mut self, options: &[&str]) {
        let name = format!("repo{}", fs::read_dir(self.dir.path()).unwrap().count());
        self.root = rpmrepo::createrepo(self.dir.path(), &name, options);
        let repomd = fs::read(self.root.join("repodata/repomd.xml")).unwrap();
        fs::write(
            self.root.join("repodata/repomd.xml.asc"),
            self.gpg.detach_sign(SIGNER, &repomd, true),
        )
        .unwrap();
    }

    fn rpm(&self, name: &str) -> &Path {
        rpmrepo::package_file(&self.rpms, name)
    }

    /// Changes the package file of `name` with `edit`, then re-indexes, so
    /// the repository's checksums agree with the changed file.
    fn tamper(&mut self, name: &str, edit: impl FnOnce(&mut Vec<u8>)) {
        self.change(name, edit);
        self.index();
    }

    /// Changes the package file of `name` with `edit`, as the repositories
    /// serve it (they link to the package files).
    fn change(&self, name: &str, edit: impl FnOnce(&mut Vec<u8>)) {
        let path = self.rpm(name);
        let mut bytes = fs::read(path).unwrap();
        edit(&mut bytes);
        fs::write(path, &bytes).unwrap();
    }

    /// Builds `--format dir` with `packages`; returns the run and the root.
    fn build(&self, packages: &str) -> (Output, PathBuf) {
        let source = format!("--baseurl=file://{}", self.root.display());
        self.build_from(&source, packages, &[])
    }

    /// The same with the repository at `source` (`--baseurl=…`,
    /// `--mirrorlist=…`) and more command-line `args`.
    fn build_from(&self, source: &str, packages: &str, args: &[&str]) -> (Output, PathBuf) {
        self.build_with_post(source, packages, "echo post-ran > /etc/post-ran", args)
    }

    /// The same with `post` as the kickstart's `%post`.
    fn build_with_post(
        &self,
        source: &str,
        packages: &str,
        post: &str,
        args: &[&str],
    ) -> (Output, PathBuf) {
        let ks = self.dir.path().join("ks.cfg");
        fs::write(
            &ks,
            format!(
                "repo --name=fixtures {source} --gpgkey={}\n\
                 network --hostname=rpmhost\n\
                 %packages\n{packages}\n%end\n\
                 %post\n{post}\n%end\n",
                self.key.display()
            ),
        )
        .unwrap();
        let out = self.dir.path().join("out");
        let _ = fs::remove_dir_all(&out);
        let run = Command::new(env!("CARGO_BIN_EXE_livecompose"))
            .args(["--config", ks.to_str().unwrap(), "--label", "rpmroot"])
            .args(args)
            .args(["--format", "dir", "--output"])
            .arg(&out)
            .arg("--cache")
            .arg(self.dir.path().join("cache"))
            .output()
            .unwrap();
        (run, out.join("rpmroot"))
    }
}

fn fails_with(run: &Output, root: &Path, fragments: &[&str]) {
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    for fragment in fragments {
        assert!(stderr.contains(fragment), "{fragment:?} not in: {stderr}");
    }
    assert!(!root.exists(), "a failed build left {}", root.display());
}

#[test]
fn a_root_from_a_signed_rpm_repository_is_what_rpm_says_it_is() {
    let repo = Repo::new(&["shell", "svc", "files"]);
    let (run, root) = repo.build("lc-files\nlc-svc");
    assert!(run.status.success(), "{}", text(&run.stderr));

    let rpm = |args: &[&str]| {
        let mut all = vec!["--root", root.to_str().unwrap(), "--dbpath", "/var/lib/rpm"];
        all.extend_from_slice(args);
        rpmrepo::run("rpm", "rpm", &all)
    };
    let mut names: Vec<String> = rpm(&["-qa", "--qf", "%{NAME}\n"])
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    // The repository's key is recorded, as dnf records it.
    assert_eq!(names, ["gpg-pubkey", "lc-files", "lc-shell", "lc-svc"]);
    assert_eq!(
        rpm(&["-qf", "/etc/svc/secret"]).trim(),
        "lc-svc-2.1-4.noarch"
    );
    // A user made by %pre owns the files that follow it.
    let secret = fs::metadata(root.join("etc/svc/secret")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&secret), 901);
    // The kickstart was applied after the packages.
    assert_eq!(
        fs::read_to_string(root.join("etc/post-ran")).unwrap(),
        "post-ran\n"
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/hostname"))
            .unwrap()
            .trim(),
        "rpmhost"
    );
}

#[test]
fn packages_a_signed_repository_must_refuse_stop_the_build_by_name() {
    // An unsigned package in a repository with a --gpgkey.
    let mut repo = Repo::new(&["shell", "svc"]);
    rpmrepo::run(
        "rpmsign",
        "rpm",
        &["--delsign", repo.rpm("lc-svc").to_str().unwrap()],
    );
    repo.index();
    let (run, root) = repo.build("lc-svc");
    fails_with(&run, &root, &["lc-svc-2.1-4.noarch is not signed"]);

    // Signed by a key that is not the repository's --gpgkey.
    let stranger = Gpg::new();
    stranger.gen_key("Stranger <x@fixture.invalid>", "never");
    rpmrepo::sign_packages(
        &stranger,
        "x@fixture.invalid",
        &[repo.rpm("lc-svc").to_owned()],
    );
    repo.index();
    let (run, root) = repo.build("lc-svc");
    fails_with(
        &run,
        &root,
        &["lc-svc-2.1-4.noarch: its signature does not verify"],
    );

    // Changed after signing, and re-indexed so the repository's checksums
    // agree: only the package's own digests can tell.
    let mut repo = Repo::new(&["shell", "svc"]);
    repo.tamper("lc-svc", |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
    });
    let (run, root) = repo.build("lc-svc");
    fails_with(
        &run,
        &root,
        &["lc-svc-2.1-4.noarch: the payload does not match"],
    );

    let mut repo = Repo::new(&["shell", "svc"]);
    repo.tamper("lc-svc", |bytes| {
        let at = bytes
            .windows(b"Service account fixture".len())
            .position(|w| w == b"Service account fixture")
            .expect("the description is in the header");
        bytes[at] = b's';
    });
    let (run, root) = repo.build("lc-svc");
    fails_with(
        &run,
        &root,
        &["lc-svc-2.1-4.noarch: the header does not match"],
    );
}

#[test]
fn a_file_conflict_stops_the_build_unless_the_kickstart_allows_it() {
    let repo = Repo::overlapping(&[("content", "from b")]);
    let (run, root) = repo.build("lc-shell\nlc-overlap-a\nlc-overlap-b");
    fails_with(
        &run,
        &root,
        &[
            "file /usr/bin/lc-overlap is in both lc-overlap-a-1.0-1.noarch and lc-overlap-b-1.0-1.noarch, and they differ in size; add --allow-file-conflicts to %packages to let the later one win",
        ],
    );

    // A second %packages header, whose options replace the first's.
    let (run, root) =
        repo.build("lc-shell\nlc-overlap-a\nlc-overlap-b\n%end\n%packages --allow-file-conflicts");
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("the one of lc-overlap-b-1.0-1.noarch is installed (--allow-file-conflicts)"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(root.join("usr/bin/lc-overlap")).expect("read"),
        "from b\n"
    );
}

#[test]
fn the_database_goes_where_the_images_rpm_package_points_var_lib_rpm() {
    let repo = Repo::new(&["shell", "rpmdb-link"]);
    let (run, root) = repo.build("lc-shell\nlc-rpmdb-link");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let link = fs::read_link(root.join("var/lib/rpm")).unwrap();
    assert_eq!(link, Path::new("../../usr/lib/sysimage/rpm"));
    let listed = rpmrepo::run(
        "rpm",
        "rpm",
        &[
            "--root",
            root.to_str().unwrap(),
            "--dbpath",
            "/usr/lib/sysimage/rpm",
            "-qa",
            "--qf",
            "%{NAME}\n",
        ],
    );
    let mut names: Vec<&str> = listed.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["gpg-pubkey", "lc-rpmdb-link", "lc-shell"]);
}

/// `rpm --root ROOT --dbpath /var/lib/rpm ARGS`: its output, after
/// checking that rpm printed nothing on stderr (it complains there of a
/// header whose digests do not match).
fn rpm_in(root: &Path, args: &[&str]) -> String {
    let run = Command::new("rpm")
        .args(["--root", root.to_str().unwrap(), "--dbpath", "/var/lib/rpm"])
        .args(args)
        .output()
        .expect("rpm runs (Debian package rpm)");
    assert!(
        run.status.success() && run.stderr.is_empty(),
        "rpm {args:?}: {}",
        text(&run.stderr)
    );
    text(&run.stdout)
}

#[test]
fn the_repository_key_is_recorded_as_rpmkeys_records_it() {
    let repo = Repo::signed(&["shell"], true);
    let (run, root) = repo.build("lc-shell");
    assert!(run.status.success(), "{}", text(&run.stderr));

    // The oracle: the same key imported by rpm itself into an empty root.
    let reference = tempfile::tempdir().unwrap();
    rpmrepo::run(
        "rpmkeys",
        "rpm",
        &[
            "--root",
            reference.path().to_str().unwrap(),
            "--dbpath",
            "/var/lib/rpm",
            "--import",
            repo.key.to_str().unwrap(),
        ],
    );
    // Every field rpm derives from the key; RPMVERSION and the armor's
    // "Version:" line name the program that made the record, so they
    // differ by design.
    let fields = "%{NAME}-%{VERSION}-%{RELEASE}|%{ARCH}|%{SUMMARY}|%{PACKAGER}|%{GROUP}|\
                  %{LICENSE}|%{SIZE}|%{BUILDHOST}|%{BUILDTIME}|%{SOURCERPM}|\
                  [%{PROVIDES} %{PROVIDEFLAGS} %{PROVIDEVERSION};]|%{PUBKEYS}|%{DESCRIPTION}";
    let query = |root: &Path| {
        rpm_in(root, &["-q", "gpg-pubkey", "--qf", fields])
            .lines()
            .filter(|line| !line.starts_with("Version: "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let ours = query(&root);
    assert_eq!(ours, query(reference.path()));
    // Primary and subkey: user ID, short and long ID of each.
    assert_eq!(ours.matches("gpg(").count(), 5, "{ours}");

    // The image's rpm trusts the key: it checks a package of the
    // repository against its own database's keyring.
    let checked = rpm_in(
        &root,
        &["--checksig", repo.rpm("lc-shell").to_str().unwrap()],
    );
    assert!(
        checked.trim_end().ends_with("digests signatures OK"),
        "{checked}"
    );
}

#[test]
fn a_repository_over_http_through_a_mirror_list_with_a_dead_first_mirror() {
    let repo = Repo::new(&["shell"]);
    let server = Server::serve(repo.dir.path());
    let name = repo.root.file_name().unwrap().to_str().unwrap();
    // The first mirror has no repository; the build must go on to the
    // second. The list's own URL uses $releasever and $basearch.
    fs::write(
        repo.dir.path().join("mirrors-40-x86_64.txt"),
        format!(
            "# mirrors\n{url}/gone/\n{url}/{name}/\n",
            url = server.url()
        ),
    )
    .unwrap();
    let source = format!(
        "--mirrorlist={}/mirrors-$releasever-$basearch.txt",
        server.url()
    );
    let (run, root) = repo.build_from(&source, "lc-shell", &["--releasever", "40"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(root.join("usr/bin/busybox").exists());
    let paths: Vec<String> = server.take_requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths.iter().any(|p| p.starts_with("/gone/")),
        "the dead mirror was not tried: {paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with(&format!("/{name}/")) && p.ends_with(".rpm")),
        "the package did not come over http: {paths:?}"
    );
}

#[test]
fn a_repository_indexed_with_sha512_is_verified_with_sha512() {
    let mut repo = Repo::new(&["shell"]);
    repo.index_with(&["--checksum", "sha512"]);
    let repomd = fs::read_to_string(repo.root.join("repodata/repomd.xml")).unwrap();
    assert!(repomd.contains(r#"<checksum type="sha512">"#), "{repomd}");
    let (run, root) = repo.build("lc-shell");
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(root.join("usr/bin/busybox").exists());
    let cached: Vec<_> = fs::read_dir(repo.dir.path().join("cache/sha512"))
        .unwrap()
        .collect();
    assert!(!cached.is_empty(), "nothing was verified by SHA-512");

    // A package changed after indexing is caught by its SHA-512 (fetched
    // again: the cache holds only what verified).
    repo.change("lc-shell", |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
    });
    fs::remove_dir_all(repo.dir.path().join("cache")).unwrap();
    let (run, root) = repo.build("lc-shell");
    fails_with(&run, &root, &["SHA512 mismatch"]);
}

#[test]
fn a_kickstart_build_takes_every_resolver_path_and_installs_every_file_kind() {
    let mut repo = Repo::new(&[
        "shell", "meta", "xz", "zstd", "files", "svc", "trig", "plain",
    ]);
    let comps = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rpm/install-comps.xml");
    repo.index_with(&["-g", comps.to_str().unwrap()]);
    // @lc-base: lc-meta (mandatory) and lc-svc (default), not lc-plain
    // (optional). lc-old is obsoleted by lc-meta. lc-meta pulls lc-xz (a
    // rich "or"), lc-zstd (a rich "if" on lc-files), lc-shell (a file
    // dependency), lc-files (a versioned requirement with an epoch) and
    // lc-trig (Recommends).
    let (run, root) = repo.build("@lc-base\nlc-old");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let mut names: Vec<String> = rpm_in(&root, &["-qa", "--qf", "%{NAME}\n"])
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "gpg-pubkey",
            "lc-files",
            "lc-meta",
            "lc-shell",
            "lc-svc",
            "lc-trig",
            "lc-xz",
            "lc-zstd"
        ]
    );
    assert_eq!(
        rpm_in(&root, &["-q", "--qf", "%{EPOCH}:%{VERSION}", "lc-meta"]),
        "2:1.0"
    );
    // Every installed file is as its package says (modes, owners, digests,
    // caps), by rpm's own reckoning; configuration files are left out, as
    // lc-svc's %pre rightly added its user to /etc/passwd.
    let verify = Command::new("rpm")
        .args(["--root", root.to_str().unwrap(), "--dbpath", "/var/lib/rpm"])
        .args([
            "-V",
            "--noconfig",
            "lc-meta",
            "lc-xz",
            "lc-zstd",
            "lc-svc",
            "lc-shell",
        ])
        .output()
        .unwrap();
    assert!(verify.status.success(), "rpm -V: {}", text(&verify.stdout));
    // File kinds: caps, hard links, a %pre-made owner, xz and zstd payloads.
    let caps = rpmrepo::run(
        "getcap",
        "libcap2-bin",
        &[root.join("usr/bin/lc-ping").to_str().unwrap()],
    );
    assert!(caps.contains("cap_net_raw=ep"), "{caps}");
    let inode =
        |path: &str| std::os::unix::fs::MetadataExt::ino(&fs::metadata(root.join(path)).unwrap());
    assert_eq!(
        inode("usr/lib/lc-files/hard1"),
        inode("usr/lib/lc-files/hard2")
    );
    let secret = fs::metadata(root.join("etc/svc/secret")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&secret), 901);
    assert_eq!(
        fs::read_to_string(root.join("usr/share/lc-xz/numbers"))
            .unwrap()
            .lines()
            .count(),
        5000
    );
    assert!(root.join("usr/share/lc-zstd").is_dir());
    // lc-trig's %triggerin on lc-shell ran in the build.
    let log = fs::read_to_string(root.join("var/log/order.log")).unwrap_or_default();
    assert!(
        log.contains("triggerin trig on lc-shell 1 1"),
        "{}",
        text(&run.stderr)
    );
}

#[test]
fn the_build_ends_with_an_audit_whose_findings_fail_it_and_keep_the_image() {
    let repo = Repo::new(&["shell"]);
    let source = format!("--baseurl=file://{}", repo.root.display());
    // What a careless %post leaves: a world-writable file and cloud-init
    // state from the build.
    let careless = "echo x > /etc/planted && chmod 666 /etc/planted\n\
                    mkdir -p /var/lib/cloud/instance && touch /var/lib/cloud/instance/boot-finished";
    let (run, root) = repo.build_with_post(&source, "lc-shell", careless, &[]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    for fragment in [
        "Auditing ",
        "audit: world-writable: /etc/planted",
        "audit: cloud-init-state: /var/lib/cloud/instance",
        "2 findings",
        "--no-audit",
    ] {
        assert!(stderr.contains(fragment), "{fragment:?} not in: {stderr}");
    }
    assert!(!stderr.contains("Done:"), "{stderr}");
    // Kept for inspection, and `livecompose audit` says the same of it.
    assert!(root.join("etc/planted").is_file(), "{stderr}");
    let audit = Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .arg("audit")
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(audit.status.code(), Some(3));
    let findings = text(&audit.stdout);
    assert!(
        findings.contains("world-writable: /etc/planted"),
        "{findings}"
    );
    assert!(
        findings.contains("cloud-init-state: /var/lib/cloud/instance"),
        "{findings}"
    );

    // Meant on purpose: --no-audit builds it and says nothing of it.
    let (run, root) = repo.build_with_post(&source, "lc-shell", careless, &["--no-audit"]);
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(!stderr.contains("Auditing"), "{stderr}");
    assert!(root.join("etc/planted").is_file());

    // A clean build says it audited, and passes.
    let (run, _) = repo.build("lc-shell");
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("Auditing "), "{stderr}");
}

/// Sends `signal` to the build once its `%post` has started (it writes
/// `marker` into the image, then waits in a daemon and a sleep), and checks
/// what the build leaves: the shell's exit status for the signal, no work
/// directory or output, no process of the script.
fn interrupted_during_post(signal: &str, times: usize, expected_status: i32) {
    let repo = Repo::new(&["shell"]);
    let ks = repo.dir.path().join("interrupted.ks");
    // Odd durations, so that the processes are recognisably the script's.
    fs::write(
        &ks,
        format!(
            "repo --name=fixtures --baseurl=file://{} --gpgkey={}\n\
             %packages\nlc-shell\n%end\n\
             %post\nbusybox sleep 7919 </dev/null >/dev/null 2>&1 &\n\
             touch /post-started\nbusybox sleep 7907\n%end\n",
            repo.root.display(),
            repo.key.display()
        ),
    )
    .unwrap();
    let out = repo.dir.path().join("out");
    let mut build = Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .args(["--config", ks.to_str().unwrap(), "--label", "stopped"])
        .args(["--format", "dir", "--output"])
        .arg(&out)
        .arg("--cache")
        .arg(repo.dir.path().join("cache"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let started = || {
        fs::read_dir(&out)
            .into_iter()
            .flatten()
            .flatten()
            .any(|work| work.path().join("root/post-started").exists())
    };
    while !started() {
        assert!(
            build.try_wait().unwrap().is_none(),
            "the build ended before its %post started"
        );
        assert!(std::time::Instant::now() < deadline, "%post never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for _ in 0..times {
        rpmrepo::run(
            "kill",
            "procps",
            &[&format!("-{signal}"), &build.id().to_string()],
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A script that is not ended would keep the build for hours.
    let stop_deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while build.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > stop_deadline {
            build.kill().unwrap();
            panic!("the build was still running a minute after SIG{signal}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let run = build.wait_with_output().unwrap();
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(expected_status), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let left: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".log"))
        .collect();
    assert!(left.is_empty(), "the build left {left:?}");
    let cmdlines: Vec<String> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| text(&cmdline).replace('\0', " "))
        .collect();
    for needle in ["sleep 7919", "sleep 7907"] {
        assert!(
            !cmdlines.iter().any(|c| c.contains(needle)),
            "`{needle}` of the script outlived the build"
        );
    }
}

#[test]
fn sigterm_during_post_ends_its_sandbox_and_removes_the_work_directory() {
    interrupted_during_post("TERM", 1, 143);
}

#[test]
fn a_second_ctrl_c_during_post_still_removes_the_work_directory() {
    interrupted_during_post("INT", 2, 130);
}

#[test]
fn fedora_base_builds_the_root_dnf_would_install() {
    let mut repo = Repo::signed_specs(rpmrepo::FEDORA_BASE_SPECS, false);
    let comps = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rpm/base/comps.xml");
    repo.index_with(&["-g", comps.to_str().unwrap()]);
    // @core is implied. Nothing ships /bin/sh: bash provides it by name
    // and /bin is filesystem's symlink, yet glibc-common's %post runs.
    let packages = "kernel\ndracut-live\nglibc-langpack-en";
    let (run, root) = repo.build(packages);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let mut installed: Vec<String> = rpm_in(
        &root,
        &[
            "-qa",
            "--qf",
            "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH} fixtures\n",
        ],
    )
    .lines()
    .filter(|line| !line.starts_with("gpg-pubkey "))
    .map(str::to_owned)
    .collect();
    installed.sort();
    let dnf_repo = DnfRepo {
        name: "fixtures",
        root: &repo.root,
        options: "",
    };
    let theirs = dnf::resolve(&[dnf_repo], &DnfRequest::from_kickstart("", packages, true))
        .unwrap_or_else(|refusal| panic!("dnf refuses {packages:?}: {refusal}"));
    assert_eq!(
        installed, theirs,
        "rpm -qa of the root (left) and dnf's transaction (right)"
    );
    assert_eq!(
        fs::read_link(root.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    assert_eq!(
        rpm_in(&root, &["-qf", "/bin/sh", "--qf", "%{NAME}"]),
        "bash"
    );
}

/// Incremental builds: a rebuild that changes only `%post` copies the root
/// the first build installed (it says so, and its log holds the install's
/// part), and its image is the one a clean build (`--no-incremental`)
/// makes, file by file: owners, modes, contents, links and times.
#[test]
fn a_rebuild_reuses_the_installed_root_and_equals_a_clean_build() {
    let repo = Repo::new(&["shell", "svc", "files"]);
    let source = format!("--baseurl=file://{}", repo.root.display());
    let reused = "were installed by an earlier build";
    let build = |post: &str, args: &[&str]| {
        let (run, root) = repo.build_with_post(&source, "lc-files\nlc-svc", post, args);
        assert!(run.status.success(), "{}", text(&run.stderr));
        (text(&run.stderr), root)
    };
    let (first, _) = build("echo one > /etc/post-says", &[]);
    assert!(!first.contains(reused), "{first}");

    let (second, root) = build("echo two > /etc/post-says", &[]);
    assert!(second.contains(reused), "{second}");
    assert_eq!(fs::read(root.join("etc/post-says")).unwrap(), b"two\n");
    let log = fs::read_to_string(root.with_file_name("rpmroot.log")).unwrap();
    assert!(
        log.contains("is a copy of the one kept in the cache"),
        "{log}"
    );
    let incremental = common::snapshot(&root);

    let (clean, root) = build("echo two > /etc/post-says", &["--no-incremental"]);
    assert!(clean.contains("Installing"), "{clean}");
    assert!(!clean.contains(reused), "{clean}");
    let clean = common::snapshot(&root);
    assert_eq!(
        incremental.keys().collect::<Vec<_>>(),
        clean.keys().collect::<Vec<_>>()
    );
    for (path, node) in &incremental {
        assert_eq!(Some(node), clean.get(path), "{path} differs");
    }
}
