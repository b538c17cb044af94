//! The live ISO end to end, as a user makes it: the README's command,
//! `livecompose --config kickstarts/debian-minimal.ks --label LABEL`, against
//! the real Debian archive, signed with `--sign-key`; the result read back by
//! the peers (xorriso, unsquashfs, sha256sum, gpgv, the SBOM schemas) and
//! booted four ways by `livecompose test`.
//!
//! Run with `cargo test --test network_live -- --ignored --nocapture` to see
//! the build's stage lines and the boot times.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Gpg, boot_to, build_image, extract_squashfs, run, sbom, xorriso};
use regex::Regex;

const LABEL: &str = "LC-Live-Test";
const KICKSTART: &str = "kickstarts/debian-minimal.ks";

struct Fixture {
    dir: tempfile::TempDir,
    /// The public key of the key that signed `SHA256SUMS`, binary.
    public_key: PathBuf,
    /// Holds the signing key's home until the tests end.
    _keys: tempfile::TempDir,
    iso: PathBuf,
    /// `live/filesystem.squashfs`, copied out of the ISO by xorriso.
    squashfs: PathBuf,
    /// What the build printed on standard error.
    stderr: String,
}

/// Built once for all tests of this file: the build takes minutes.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = common::static_tempdir();
        let keys = common::static_tempdir();
        let gpg = Gpg::new();
        gpg.gen_key("Image Publisher <publisher@test.invalid>", "never");
        let public_key = keys.path().join("publisher.gpg");
        gpg.export(&["publisher@test.invalid"], false, &public_key);
        let secret_key = keys.path().join("publisher.sec");
        fs::write(
            &secret_key,
            gpg.run(&["--export-secret-keys", "publisher@test.invalid"]),
        )
        .expect("write the secret key");
        let stderr = build_image(
            Path::new(KICKSTART),
            LABEL,
            dir.path(),
            &["--sign-key", secret_key.to_str().expect("a UTF-8 path")],
        );
        let iso = dir.path().join(format!("{LABEL}.iso"));
        let squashfs = dir.path().join("filesystem.squashfs");
        extract_squashfs(&iso, &squashfs);
        Fixture {
            dir,
            public_key,
            _keys: keys,
            iso,
            squashfs,
            stderr,
        }
    })
}

fn unsquashfs(args: &[&str], image: &Path) -> String {
    run(Command::new("unsquashfs").args(args).arg(image))
}

/// A file of the image, read by unsquashfs.
fn image_file(path: &str) -> String {
    run(Command::new("unsquashfs")
        .arg("-cat")
        .arg(&fixture().squashfs)
        .arg(path))
}

/// An example kickstart is an example to follow: it builds without a
/// single warning (kickstart or build).
#[test]
#[ignore = "end-to-end: builds an image from the Debian mirror"]
fn net_live_example_kickstart_builds_without_warnings() {
    let stderr = &fixture().stderr;
    assert!(
        !stderr.to_lowercase().contains("warning"),
        "{KICKSTART} warns:\n{stderr}"
    );
}

#[test]
#[ignore = "end-to-end: builds an image from the Debian mirror"]
fn net_live_output_is_the_iso_its_manifest_sboms_and_signed_checksums_only() {
    let fixture = fixture();
    let mut names: Vec<String> = fs::read_dir(fixture.dir.path())
        .expect("read output dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        // What the other tests of this file put there.
        .filter(|name| name != "filesystem.squashfs" && !name.ends_with(".console.log"))
        .collect();
    names.sort();
    // No work directory, temporary file or leftover root.
    assert_eq!(
        names,
        [
            "LC-Live-Test.cdx.json",
            "LC-Live-Test.iso",
            "LC-Live-Test.log",
            "LC-Live-Test.packages",
            "LC-Live-Test.spdx.json",
            "SHA256SUMS",
            "SHA256SUMS.sign"
        ]
    );
    let checked = run(Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(fixture.dir.path()));
    assert!(checked.contains(&format!("{LABEL}.iso: OK")), "{checked}");
    for name in ["packages", "spdx.json", "cdx.json"] {
        assert!(
            checked.contains(&format!("{LABEL}.{name}: OK")),
            "{checked}"
        );
    }
    run(Command::new("gpgv")
        .arg("--keyring")
        .arg(&fixture.public_key)
        .args(["SHA256SUMS.sign", "SHA256SUMS"])
        .current_dir(fixture.dir.path()));
    // The ISO, the manifest and the two SBOMs.
    let verified = run(Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .arg("verify")
        .arg(fixture.dir.path())
        .arg("--key")
        .arg(&fixture.public_key));
    assert!(verified.contains("4 files intact"), "{verified}");
}

/// The SBOMs validate against the official schemas and list exactly the
/// packages of the manifest (which the next test holds against dpkg).
#[test]
#[ignore = "end-to-end: builds an image from the Debian mirror"]
fn net_live_sboms_validate_and_list_the_manifest() {
    let dir = fixture().dir.path();
    let spdx = dir.join(format!("{LABEL}.spdx.json"));
    let cyclonedx = dir.join(format!("{LABEL}.cdx.json"));
    sbom::validate_both(&spdx, &cyclonedx);
    let manifest = sbom::manifest_packages(&dir.join(format!("{LABEL}.packages")));
    assert_eq!(sbom::spdx_packages(&spdx), manifest);
    assert_eq!(sbom::cyclonedx_packages(&cyclonedx), manifest);
    let doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&spdx).expect("read the SPDX document"))
            .expect("JSON");
    let packages = doc["packages"].as_array().expect("packages");
    let purl = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["externalRefs"][0]["referenceLocator"].as_str())
            .unwrap_or_else(|| panic!("no {name}"))
            .to_owned()
    };
    // bookworm's Release says `Origin: Debian`, `Version: 12.x`.
    let base_files = purl("base-files");
    assert!(
        base_files.starts_with("pkg:deb/debian/base-files@12")
            && base_files.ends_with("?arch=amd64&distro=debian-12"),
        "{base_files}"
    );
    // Many Debian packages declare their license in a DEP-5 file.
    let declared = packages
        .iter()
        .filter(|p| p["externalRefs"].is_array() && p["licenseDeclared"] != "NOASSERTION")
        .count();
    assert!(
        declared > 20,
        "only {declared} packages with a declared license"
    );
}

#[test]
#[ignore = "end-to-end: builds an image from the Debian mirror"]
fn net_live_manifest_is_what_dpkg_installed_in_the_image() {
    let fixture = fixture();
    let manifest: BTreeSet<String> =
        fs::read_to_string(fixture.dir.path().join(format!("{LABEL}.packages")))
            .expect("manifest")
            .lines()
            .map(str::to_owned)
            .collect();
    // The image's own dpkg database, read by dpkg-query.
    let status = tempfile::tempdir().expect("temp dir");
    fs::write(
        status.path().join("status"),
        image_file("var/lib/dpkg/status"),
    )
    .expect("write status");
    let installed: BTreeSet<String> = run(Command::new("dpkg-query")
        .arg(format!("--admindir={}", status.path().display()))
        .args([
            "-W",
            "-f",
            "${db:Status-Abbrev} ${Package} ${Version} ${Architecture}\n",
        ]))
    .lines()
    .filter_map(|line| line.strip_prefix("ii  ").map(str::to_owned))
    .collect();
    assert!(installed.len() > 100, "{installed:?}");
    assert_eq!(manifest, installed);
}

#[test]
#[ignore = "end-to-end: builds an image from the Debian mirror"]
fn net_live_iso_boot_records_and_tree_read_back() {
    let iso = &fixture().iso;
    let el_torito = xorriso(iso, &["-report_el_torito", "plain"]);
    for entry in [
        r"(?m)^El Torito boot img :\s+1\s+BIOS\s+y\s+none",
        r"(?m)^El Torito boot img :\s+2\s+UEFI\s+y\s+none",
    ] {
        assert!(
            Regex::new(entry).unwrap().is_match(&el_torito),
            "{el_torito}"
        );
    }
    let system_area = xorriso(iso, &["-report_system_area", "plain"]);
    assert!(
        system_area.contains("MBR isohybrid") && system_area.contains("EFI System"),
        "{system_area}"
    );
    let info = run(Command::new("isoinfo").arg("-d").arg("-i").arg(iso));
    assert!(info.contains(&format!("Volume id: {LABEL}")), "{info}");
    let tree = run(Command::new("isoinfo").args(["-R", "-f", "-i"]).arg(iso));
    for path in [
        "/live/filesystem.squashfs",
        "/live/vmlinuz",
        "/live/initrd.img",
        "/isolinux/isolinux.cfg",
    ] {
        assert!(tree.lines().any(|line| line == path), "{path}:\n{tree}");
    }
    // The menu boots the image's label with the kickstart's --append and timeout.
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = dir.path().join("isolinux.cfg");
    xorriso(
        iso,
        &[
            "-osirrox",
            "on",
            "-extract",
            "/isolinux/isolinux.cfg",
            cfg.to_str().expect("UTF-8 temp path"),
        ],
    );
    let cfg = fs::read_to_string(cfg).expect("isolinux.cfg");
    assert!(
        cfg.contains(&format!(
            "APPEND livecompose.label={LABEL} console=tty0 console=ttyS0,115200n8\n"
        )),
        "{cfg}"
    );
    assert!(cfg.contains("TIMEOUT 30\n"), "{cfg}");
}

#[test]
#[ignore = "end-to-end: builds an image from the Debian mirror"]
fn net_live_squashfs_holds_the_configured_root() {
    let squashfs = &fixture().squashfs;
    let superblock = unsquashfs(&["-s"], squashfs);
    assert!(
        superblock.contains("Compression xz") && superblock.contains("Block size 131072"),
        "{superblock}"
    );
    let listing = unsquashfs(&["-lln"], squashfs);
    // Owners, modes and setuid bits as dpkg left them.
    assert!(
        Regex::new(r"(?m)^-rwsr-xr-x 0/0 .* squashfs-root/usr/bin/sudo$")
            .unwrap()
            .is_match(&listing),
        "no setuid sudo in:\n{}",
        &listing[..listing.len().min(2000)]
    );
    assert!(
        listing.contains("squashfs-root/usr/lib/modules/"),
        "no kernel modules"
    );
    // The kickstart's settings and %post.
    assert_eq!(image_file("etc/hostname").trim(), "debian-live");
    assert_eq!(
        image_file("etc/motd").trim(),
        "Debian live, built by livecompose"
    );
    assert!(image_file("etc/passwd").contains("\nlive:"));
    // Cleaned for a shared image: no machine identity.
    assert_eq!(image_file("etc/machine-id"), "");
    assert!(!listing.contains("etc/ssh/ssh_host_"));
}

fn boot(firmware: &str, media: &str) {
    let fixture = fixture();
    let log = fixture
        .dir
        .path()
        .join(format!("{firmware}-{media}.console.log"));
    boot_to(&fixture.iso, firmware, media, "debian-live login:", &log);
}

#[test]
#[ignore = "end-to-end: builds an image from the Debian mirror and boots it in qemu"]
fn net_live_boots_bios_cdrom() {
    boot("bios", "cdrom");
}

#[test]
#[ignore = "end-to-end: builds an image from the Debian mirror and boots it in qemu"]
fn net_live_boots_bios_usb() {
    boot("bios", "usb");
}

#[test]
#[ignore = "end-to-end: builds an image from the Debian mirror and boots it in qemu"]
fn net_live_boots_uefi_cdrom() {
    boot("uefi", "cdrom");
}

#[test]
#[ignore = "end-to-end: builds an image from the Debian mirror and boots it in qemu"]
fn net_live_boots_uefi_usb() {
    boot("uefi", "usb");
}
