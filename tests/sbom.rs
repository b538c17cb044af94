//! Offline tier: the SBOMs, the signed `SHA256SUMS` and `livecompose
//! verify`. One `--format dir` build from a signed RPM fixture repository
//! (made with `rpmbuild`, `rpmsign`, `createrepo_c`) is checked against the
//! official SPDX 2.3 and CycloneDX 1.6 schemas and against what the real
//! `rpm` says is installed; its `SHA256SUMS.sign` against `gpgv` and `sqv`;
//! `livecompose verify` against a flipped byte, a missing file and bad
//! signatures. A Debian resolution from a generated repository is checked
//! the same way through the library. Needs root, as building does.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::debrepo::{Fixture, Layout, fake_deb, write_repo};
use common::{Gpg, livecompose, rpmrepo, sbom, text};
use livecompose::fetch::sha256_hex;
use tempfile::TempDir;

const PACKAGER: &str = "packager@fixture.invalid";
const PUBLISHER: &str = "publisher@fixture.invalid";

/// A signed RPM repository of three fixture packages, a kickstart that
/// installs them, and a publisher's key pair made by gpg.
struct Setup {
    dir: TempDir,
    repo: PathBuf,
    rpms: Vec<PathBuf>,
    ks: PathBuf,
    publisher: Gpg,
    /// The publisher's public key, binary (what gpgv and sqv take).
    public_key: PathBuf,
    /// The publisher's secret key, armored.
    secret_key: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let busybox = rpmrepo::static_busybox().display().to_string();
        let (dir, rpms) = rpmrepo::build_with(
            &["install/shell", "install/svc", "install/files"],
            &[("busybox", &busybox)],
        );
        let packager = Gpg::new();
        packager.gen_key(&format!("Fixture Packager <{PACKAGER}>"), "never");
        rpmrepo::sign_packages(&packager, PACKAGER, &rpms);
        let repo_key = dir.path().join("RPM-GPG-KEY-fixture");
        packager.export(&[PACKAGER], true, &repo_key);
        let repo = rpmrepo::createrepo(dir.path(), "published", &[]);
        let repomd = fs::read(repo.join("repodata/repomd.xml")).unwrap();
        fs::write(
            repo.join("repodata/repomd.xml.asc"),
            packager.detach_sign(PACKAGER, &repomd, true),
        )
        .unwrap();
        let ks = dir.path().join("ks.cfg");
        fs::write(
            &ks,
            format!(
                "repo --name=fixtures --baseurl=file://{} --gpgkey={}\n\
                 %packages\nlc-files\nlc-svc\n%end\n",
                repo.display(),
                repo_key.display()
            ),
        )
        .unwrap();
        let publisher = Gpg::new();
        let primary = publisher.gen_key(&format!("Image Publisher <{PUBLISHER}>"), "never");
        // A signing subkey, as Debian's archive keys sign.
        publisher.add_signing_subkey(&primary);
        let public_key = dir.path().join("publisher.gpg");
        publisher.export(&[PUBLISHER], false, &public_key);
        let secret_key = dir.path().join("publisher.sec.asc");
        fs::write(
            &secret_key,
            publisher.run(&["--armor", "--export-secret-keys", PUBLISHER]),
        )
        .unwrap();
        Setup {
            dir,
            repo,
            rpms,
            ks,
            publisher,
            public_key,
            secret_key,
        }
    }

    /// `livecompose --format dir` into `out`, with `extra` arguments and
    /// `LIVECOMPOSE_SIGN_KEY` set to `env_key` when given.
    fn build(&self, out: &Path, extra: &[&str], env_key: Option<&Path>) -> Output {
        self.build_labelled("rpmroot", out, extra, env_key)
    }

    /// [`Setup::build`] with another label.
    fn build_labelled(
        &self,
        label: &str,
        out: &Path,
        extra: &[&str],
        env_key: Option<&Path>,
    ) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_livecompose"));
        command
            .args(["--config", self.ks.to_str().unwrap(), "--label", label])
            .args(["--format", "dir", "--output"])
            .arg(out)
            .arg("--cache")
            .arg(self.dir.path().join("cache"))
            .args(extra)
            .env_remove("LIVECOMPOSE_SIGN_KEY")
            .env_remove("SOURCE_DATE_EPOCH");
        if let Some(key) = env_key {
            command.env("LIVECOMPOSE_SIGN_KEY", key);
        }
        command.output().expect("livecompose runs")
    }

    fn rpm_file(&self, name: &str) -> &Path {
        rpmrepo::package_file(&self.rpms, name)
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn spdx_package<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name} in the SPDX document"))
}

#[test]
fn an_rpm_roots_sboms_validate_and_list_what_rpm_installed() {
    let setup = Setup::new();
    let out = setup.dir.path().join("out");
    let run = setup.build(&out, &[], Some(&setup.secret_key));
    assert!(run.status.success(), "{}", text(&run.stderr));
    let spdx = out.join("rpmroot.spdx.json");
    let cyclonedx = out.join("rpmroot.cdx.json");
    sbom::validate_both(&spdx, &cyclonedx);

    // Exactly what the image's rpm database holds (but the key dnf records).
    let root = out.join("rpmroot");
    let installed: BTreeSet<(String, String, String)> = rpmrepo::run(
        "rpm",
        "rpm",
        &[
            "--root",
            root.to_str().unwrap(),
            "--dbpath",
            "/var/lib/rpm",
            "-qa",
            "--qf",
            "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH}\\n",
        ],
    )
    .lines()
    .filter(|line| !line.starts_with("gpg-pubkey "))
    .map(|line| {
        let f: Vec<&str> = line.split(' ').collect();
        (f[0].to_owned(), f[1].to_owned(), f[2].to_owned())
    })
    .collect();
    assert_eq!(installed.len(), 3, "{installed:?}");
    assert_eq!(sbom::spdx_packages(&spdx), installed);
    assert_eq!(sbom::cyclonedx_packages(&cyclonedx), installed);

    let doc = json(&spdx);
    let files = spdx_package(&doc, "lc-files");
    assert_eq!(files["versionInfo"], "1:3.0-2");
    let purl = files["externalRefs"][0]["referenceLocator"]
        .as_str()
        .unwrap();
    assert!(
        purl.starts_with("pkg:rpm/")
            && purl.contains("lc-files@3.0-2?arch=noarch")
            && purl.ends_with("&epoch=1"),
        "{purl}"
    );
    // The digest the repository gave is the package file's.
    assert_eq!(
        files["checksums"][0]["checksumValue"],
        sha256_hex(&fs::read(setup.rpm_file("lc-files")).unwrap())
    );
    // The License tag, as rpm reads it: an SPDX identifier stays one; a
    // deprecated one is kept as a LicenseRef with the declared name.
    let license = |name: &str| {
        rpmrepo::run(
            "rpm",
            "rpm",
            &[
                "-qp",
                "--qf",
                "%{LICENSE}",
                setup.rpm_file(name).to_str().unwrap(),
            ],
        )
    };
    assert_eq!(license("lc-files"), "MIT");
    assert_eq!(files["licenseDeclared"], "MIT");
    assert_eq!(license("lc-shell"), "GPL-2.0");
    assert_eq!(
        spdx_package(&doc, "lc-shell")["licenseDeclared"],
        "LicenseRef-GPL-2.0"
    );
    let extracted = doc["hasExtractedLicensingInfos"].as_array().unwrap();
    assert!(
        extracted
            .iter()
            .any(|l| l["licenseId"] == "LicenseRef-GPL-2.0" && l["name"] == "GPL-2.0")
    );

    // The inputs: the kickstart as `livecompose flatten` gives it, the
    // repository's repomd.xml as served.
    let flattened = livecompose(&["flatten", "--config", setup.ks.to_str().unwrap()]);
    assert!(flattened.status.success());
    assert_eq!(
        spdx_package(&doc, "kickstart")["checksums"][0]["checksumValue"],
        sha256_hex(&flattened.stdout)
    );
    let repository = spdx_package(&doc, "fixtures");
    assert_eq!(
        repository["checksums"][0]["checksumValue"],
        sha256_hex(&fs::read(setup.repo.join("repodata/repomd.xml")).unwrap())
    );

    // The SBOMs are in SHA256SUMS, which sha256sum checks, and its
    // signature is what gpgv and sqv accept from the publisher's key.
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains("  rpmroot.spdx.json\n") && sums.contains("  rpmroot.cdx.json\n"),
        "{sums}"
    );
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stdout));
    let signature = fs::read_to_string(out.join("SHA256SUMS.sign")).unwrap();
    assert!(
        signature.starts_with("-----BEGIN PGP SIGNATURE-----"),
        "{signature}"
    );
    for (tool, package) in [("gpgv", "gpgv"), ("sqv", "sqv")] {
        common::require(tool, package);
        let checked = Command::new(tool)
            .arg("--keyring")
            .arg(&setup.public_key)
            .args(["SHA256SUMS.sign", "SHA256SUMS"])
            .current_dir(&out)
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "{tool}: {}",
            text(&checked.stderr)
        );
    }

    // The same inputs give the same SBOMs: a second build elsewhere, with
    // the key given on the command line this time.
    let again = setup.dir.path().join("again");
    let run = setup.build(
        &again,
        &["--sign-key", setup.secret_key.to_str().unwrap()],
        None,
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    for name in ["rpmroot.spdx.json", "rpmroot.cdx.json"] {
        assert_eq!(
            fs::read(out.join(name)).unwrap(),
            fs::read(again.join(name)).unwrap(),
            "{name}"
        );
    }
    let checked = Command::new("gpgv")
        .arg("--keyring")
        .arg(&setup.public_key)
        .args(["SHA256SUMS.sign", "SHA256SUMS"])
        .current_dir(&again)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    // A build beside it without a key changes the list: the signature of
    // the old list goes, rather than stay wrong.
    let run = setup.build_labelled("unsigned", &again, &[], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(!again.join("SHA256SUMS.sign").exists());
    let sums = fs::read_to_string(again.join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains("  rpmroot.spdx.json\n") && sums.contains("  unsigned.cdx.json\n"),
        "{sums}"
    );

    verify_catches_each_problem(&setup, &out);
}

/// `livecompose verify` on the signed output: it passes untouched, and
/// names a changed file, a missing one and a bad signature.
fn verify_catches_each_problem(setup: &Setup, out: &Path) {
    let key = setup.public_key.to_str().unwrap();
    let verify = |dir: &Path, extra: &[&str]| {
        let mut args = vec!["verify", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        livecompose(&args)
    };
    let run = verify(out, &["--key", key]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("2 files intact; SHA256SUMS signed by"),
        "{}",
        text(&run.stdout)
    );

    // A flipped byte, and a file gone.
    let copy = setup.dir.path().join("tampered");
    fs::create_dir(&copy).unwrap();
    for name in [
        "SHA256SUMS",
        "SHA256SUMS.sign",
        "rpmroot.spdx.json",
        "rpmroot.cdx.json",
    ] {
        fs::copy(out.join(name), copy.join(name)).unwrap();
    }
    let mut bytes = fs::read(copy.join("rpmroot.cdx.json")).unwrap();
    bytes[100] ^= 1;
    fs::write(copy.join("rpmroot.cdx.json"), bytes).unwrap();
    fs::remove_file(copy.join("rpmroot.spdx.json")).unwrap();
    let run = verify(&copy, &["--key", key]);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run.stderr));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("rpmroot.cdx.json: CHANGED"), "{stderr}");
    assert!(stderr.contains("rpmroot.spdx.json: MISSING"), "{stderr}");
    assert!(
        !stderr.contains("SHA256SUMS.sign"),
        "the signature still holds: {stderr}"
    );

    // A list changed after signing.
    fs::copy(
        out.join("rpmroot.spdx.json"),
        copy.join("rpmroot.spdx.json"),
    )
    .unwrap();
    fs::copy(out.join("rpmroot.cdx.json"), copy.join("rpmroot.cdx.json")).unwrap();
    let mut sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    sums.push_str(&format!("{}  rpmroot.spdx.json.bak\n", "0".repeat(64)));
    fs::write(copy.join("SHA256SUMS"), sums).unwrap();
    let run = verify(&copy, &["--key", key]);
    assert_eq!(run.status.code(), Some(3));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("SHA256SUMS.sign: BAD signature"),
        "{stderr}"
    );
    assert!(
        stderr.contains("rpmroot.spdx.json.bak: MISSING"),
        "{stderr}"
    );

    // A signature by another key, and none at all.
    fs::copy(out.join("SHA256SUMS"), copy.join("SHA256SUMS")).unwrap();
    let stranger = Gpg::new();
    stranger.gen_key("Stranger <stranger@fixture.invalid>", "never");
    let forged = stranger.detach_sign(
        "stranger@fixture.invalid",
        &fs::read(out.join("SHA256SUMS")).unwrap(),
        true,
    );
    fs::write(copy.join("SHA256SUMS.sign"), forged).unwrap();
    let run = verify(&copy, &["--key", key]);
    assert_eq!(run.status.code(), Some(3));
    assert!(
        text(&run.stderr).contains("none of them in --key"),
        "{}",
        text(&run.stderr)
    );
    fs::remove_file(copy.join("SHA256SUMS.sign")).unwrap();
    let run = verify(&copy, &["--key", key]);
    assert_eq!(run.status.code(), Some(3));
    assert!(
        text(&run.stderr).contains("SHA256SUMS.sign: MISSING"),
        "{}",
        text(&run.stderr)
    );
    // Without a signature only when asked; a key is required otherwise.
    let run = verify(&copy, &["--no-signature"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(text(&run.stdout).contains("signature not checked"));
    assert_eq!(verify(&copy, &[]).status.code(), Some(2));
    // Bad input: no list, no key.
    let empty = setup.dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert_eq!(verify(&empty, &["--key", key]).status.code(), Some(2));
    let run = verify(&copy, &["--key", "/nonexistent.gpg"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("--key /nonexistent.gpg"),
        "{}",
        text(&run.stderr)
    );
}

#[test]
fn a_bad_or_protected_sign_key_stops_the_build_before_any_download() {
    let setup = Setup::new();
    let protected = setup.dir.path().join("protected.asc");
    setup.publisher.run_with_passphrase(
        "secret",
        &[
            "--quick-gen-key",
            "Locked <locked@fixture.invalid>",
            "ed25519",
            "sign",
            "never",
        ],
    );
    fs::write(
        &protected,
        setup.publisher.run_with_passphrase(
            "secret",
            &["--armor", "--export-secret-keys", "locked@fixture.invalid"],
        ),
    )
    .unwrap();
    let garbage = setup.dir.path().join("garbage.asc");
    fs::write(&garbage, "not a key\n").unwrap();
    let public_only = setup.public_key.clone();
    for (key, expected) in [
        (protected.as_path(), "protected by a passphrase"),
        (garbage.as_path(), "not an OpenPGP secret key"),
        (public_only.as_path(), "not an OpenPGP secret key"),
        (Path::new("/nonexistent.key"), "cannot read it"),
    ] {
        let out = setup.dir.path().join("refused");
        let run = setup.build(&out, &["--sign-key", key.to_str().unwrap()], None);
        assert_eq!(
            run.status.code(),
            Some(2),
            "{}: {}",
            key.display(),
            text(&run.stderr)
        );
        assert!(
            text(&run.stderr).contains(expected),
            "{}: {}",
            key.display(),
            text(&run.stderr)
        );
        // Stopped before the repository was read or anything written.
        assert!(!out.exists());
        assert!(!setup.dir.path().join("cache").exists());
    }
}

#[test]
fn a_debian_resolutions_sboms_validate_with_purls_and_dep5_licenses() {
    use livecompose::distro;
    use livecompose::kickstart::{Substitutions, parse_file};
    use livecompose::plan::{BuildPlan, PlanInputs};

    let fx = Fixture::new();
    let packages = fx.add_debs(&[("hello", &fake_deb(1, 3000)), ("tool", &fake_deb(2, 2000))]);
    let release = write_repo(fx.root.path(), &packages, &Layout::default());
    fx.publish_inrelease(&release);
    let work = tempfile::tempdir().unwrap();
    let ks = work.path().join("ks.cfg");
    let keyring = fx.gpg.path("archive.gpg");
    fs::write(
        &ks,
        format!(
            "url --url=file://{} --suite={} --gpgkey={}\n%packages\nhello\ntool\n%end\n",
            fx.root.path().display(),
            common::debrepo::SUITE,
            keyring.display()
        ),
    )
    .unwrap();
    let kickstart = parse_file(&ks)
        .map_err(|f| format!("{:?}", f.errors))
        .unwrap()
        .kickstart;
    let inputs = PlanInputs {
        label: "debroot".into(),
        format: livecompose::cli::OutputFormat::Dir,
        output_dir: work.path().join("out"),
        cache_dir: work.path().join("cache"),
        overlays: Vec::new(),
        substitutions: Substitutions {
            mirror: None,
            releasever: None,
            basearch: "x86_64".into(),
        },
        squashfs: Default::default(),
        disk_size: None,
        compress: false,
        ca_files: Vec::new(),
        pxe_url: None,
    };
    let plan = BuildPlan::new(kickstart, inputs).unwrap();
    let mut distro = distro::for_plan(&plan).unwrap();
    distro
        .load_repositories(&fx.fetcher(), &mut |_| {})
        .unwrap();
    let resolution = distro.resolve(&[], "the test").unwrap();
    assert!(!resolution.packages.is_empty());

    // A root where hello declares its license in a DEP-5 file, and tool
    // in a free-form one.
    let root = work.path().join("root");
    let doc = root.join("usr/share/doc");
    fs::create_dir_all(doc.join("hello")).unwrap();
    fs::write(
        doc.join("hello/copyright"),
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
         Files: *\nCopyright: 1987-2022 Free Software Foundation, Inc.\nLicense: GPL-3+\n",
    )
    .unwrap();
    fs::create_dir_all(doc.join("tool")).unwrap();
    fs::write(doc.join("tool/copyright"), "Free-form text: GPL.\n").unwrap();

    let created = livecompose::source_date::SourceDate::for_build(None, distro.index_dates());
    let bom =
        livecompose::sbom::Bom::of_build(&plan, &*distro, &resolution, &root, &created).unwrap();
    let spdx = work.path().join("debroot.spdx.json");
    let cyclonedx = work.path().join("debroot.cdx.json");
    fs::write(&spdx, bom.spdx_json()).unwrap();
    fs::write(&cyclonedx, bom.cyclonedx_json()).unwrap();
    sbom::validate_both(&spdx, &cyclonedx);

    let resolved: BTreeSet<(String, String, String)> = resolution
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone(), p.architecture.clone()))
        .collect();
    assert_eq!(sbom::spdx_packages(&spdx), resolved);
    assert_eq!(sbom::cyclonedx_packages(&cyclonedx), resolved);

    let doc = json(&spdx);
    let hello = spdx_package(&doc, "hello");
    assert_eq!(hello["licenseDeclared"], "GPL-3.0-or-later");
    assert_eq!(spdx_package(&doc, "tool")["licenseDeclared"], "NOASSERTION");
    // The vendor and the distro qualifier come from the Release the
    // fixture signed: `Origin: Fixture`, its codename (it has no Version).
    let codename = release
        .lines()
        .find_map(|l| l.strip_prefix("Codename: "))
        .expect("the fixture's Release has a Codename");
    assert!(!release.contains("\nVersion: "));
    assert_eq!(
        hello["externalRefs"][0]["referenceLocator"],
        format!("pkg:deb/fixture/hello@1.0?arch=amd64&distro=fixture-{codename}")
    );
    assert_eq!(
        hello["checksums"][0]["checksumValue"],
        sha256_hex(&fake_deb(1, 3000))
    );
    assert_eq!(
        spdx_package(&doc, "base")["checksums"][0]["checksumValue"],
        sha256_hex(&fs::read(fx.dists().join("InRelease")).unwrap())
    );
}
