//! `livecompose seed` against its peers: the seed is read back by
//! `isoinfo` (genisoimage), mtools, `fsck.fat` and `blkid`, and carries the
//! same files with the same bytes as a seed `cloud-localds`
//! (cloud-image-utils) makes from the same inputs. Bad user-data is refused
//! at the right line, with the key named, and nothing is written.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const RICH: &str = "#cloud-config
hostname: web1
fqdn: web1.example.org
users:
  - default
  - name: admin
    gecos: Admin User
    groups: [adm, sudo]
    sudo: ALL=(ALL) NOPASSWD:ALL
    shell: /bin/bash
    lock_passwd: true
    ssh_authorized_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh0ZXN0a2V5IGZvciBsaXZlY29tcG9zZQ admin@example
ssh_pwauth: no
package_update: yes
packages:
  - htop
  - [curl, 7.88.1-10+deb12u8]
write_files:
  - path: /etc/motd
    content: |
      built by livecompose
    permissions: '0644'
runcmd:
  - [systemctl, restart, ssh]
  - echo done > /run/seed-done
growpart:
  mode: auto
  devices: ['/']
";

const NETWORK: &str = "version: 2
ethernets:
  eth0:
    dhcp4: true
";

const VENDOR: &str = "#cloud-config
timezone: Etc/UTC
";

fn livecompose(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .args(args)
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run livecompose")
}

fn tool(dir: &Path, name: &str, package: &str, args: &[&str]) -> Output {
    Command::new(name)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {name} ({e}): apt-get install {package} (tests/install-deps does)")
        })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn write(dir: &Path, name: &str, content: &str) {
    fs::write(dir.join(name), content).unwrap();
}

/// The files in an ISO's root, by their Rock Ridge names, with their bytes.
fn iso_files(dir: &Path, image: &str) -> BTreeMap<String, Vec<u8>> {
    let listing = ok(
        tool(dir, "isoinfo", "genisoimage", &["-R", "-f", "-i", image]),
        "isoinfo -f",
    );
    text(&listing.stdout)
        .lines()
        .map(|path| {
            let bytes = ok(
                tool(
                    dir,
                    "isoinfo",
                    "genisoimage",
                    &["-R", "-i", image, "-x", path],
                ),
                "isoinfo -x",
            )
            .stdout;
            (path.trim_start_matches('/').to_owned(), bytes)
        })
        .collect()
}

/// The files in a FAT volume's root, by their long names, with their bytes.
fn fat_files(dir: &Path, image: &str) -> BTreeMap<String, Vec<u8>> {
    let listing = ok(
        tool(dir, "mdir", "mtools", &["-b", "-i", image, "::"]),
        "mdir -b",
    );
    text(&listing.stdout)
        .lines()
        .map(|path| {
            let name = path.trim_start_matches("::/").to_owned();
            let bytes = ok(
                tool(dir, "mtype", "mtools", &["-i", image, &format!("::{name}")]),
                "mtype",
            )
            .stdout;
            (name, bytes)
        })
        .collect()
}

/// `blkid`'s LABEL and TYPE of an image file.
fn blkid(dir: &Path, image: &str) -> (String, String) {
    let out = ok(
        tool(dir, "blkid", "util-linux", &["-p", "-o", "export", image]),
        "blkid",
    );
    let stdout = text(&out.stdout);
    let field = |key: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .unwrap_or_default()
            .to_owned()
    };
    (field("LABEL"), field("TYPE"))
}

fn expected(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(name, content)| ((*name).to_owned(), content.as_bytes().to_vec()))
        .collect()
}

const META_WEB1: &str = "{\n\"instance-id\": \"iid-local01\",\n\"local-hostname\": \"web1\"\n}\n";

#[test]
fn an_iso9660_seed_reads_back_with_isoinfo_and_blkid() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "ud", RICH);
    let out = ok(
        livecompose(
            &[
                "seed",
                "--user-data",
                "ud",
                "--hostname",
                "web1",
                "--output",
                "seed.iso",
            ],
            d,
        ),
        "livecompose seed",
    );
    assert!(
        text(&out.stderr).contains("valid cloud-config"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        iso_files(d, "seed.iso"),
        expected(&[("user-data", RICH), ("meta-data", META_WEB1)])
    );
    assert_eq!(
        blkid(d, "seed.iso"),
        ("cidata".to_owned(), "iso9660".to_owned())
    );
    // The Joliet tree (what Windows-style readers use) has the same names.
    let joliet = ok(
        tool(d, "isoinfo", "genisoimage", &["-J", "-f", "-i", "seed.iso"]),
        "isoinfo -J",
    );
    let mut names: Vec<String> = text(&joliet.stdout).lines().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, ["/meta-data", "/user-data"]);
    let pvd = ok(
        tool(d, "isoinfo", "genisoimage", &["-d", "-i", "seed.iso"]),
        "isoinfo -d",
    );
    assert!(
        text(&pvd.stdout).contains("Volume id: cidata"),
        "{}",
        text(&pvd.stdout)
    );
    let mode = fs::metadata(d.join("seed.iso")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o644
    );
}

#[test]
fn a_vfat_seed_reads_back_with_mtools_fsck_and_blkid() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "ud", RICH);
    write(d, "net", NETWORK);
    write(d, "vendor", VENDOR);
    ok(
        livecompose(
            &[
                "seed",
                "--user-data",
                "ud",
                "--network-config",
                "net",
                "--vendor-data",
                "vendor",
                "--output",
                "seed.img",
                "--fs",
                "vfat",
            ],
            d,
        ),
        "livecompose seed --fs vfat",
    );
    assert_eq!(
        fat_files(d, "seed.img"),
        expected(&[
            ("user-data", RICH),
            ("meta-data", "{\n\"instance-id\": \"iid-local01\"\n}\n"),
            ("network-config", NETWORK),
            ("vendor-data", VENDOR),
        ])
    );
    let fsck = tool(d, "fsck.fat", "dosfstools", &["-n", "-v", "seed.img"]);
    let report = text(&fsck.stdout) + &text(&fsck.stderr);
    assert!(fsck.status.success(), "fsck.fat -n:\n{report}");
    assert!(
        !report.contains("Dirty") && !report.contains("Expected"),
        "{report}"
    );
    assert_eq!(
        blkid(d, "seed.img"),
        ("cidata".to_owned(), "vfat".to_owned())
    );
}

#[test]
fn our_seeds_carry_what_cloud_localds_writes_from_the_same_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "ud", RICH);
    write(d, "net", NETWORK);
    write(d, "vendor", VENDOR);
    write(d, "meta", "instance-id: i-0123\nlocal-hostname: db2\n");
    // (our arguments, cloud-localds's) for the same seed.
    let cases: [(&[&str], &[&str]); 3] = [
        (&["--hostname", "web1"], &["-H", "web1"]),
        (
            &[
                "--meta-data",
                "meta",
                "--network-config",
                "net",
                "--vendor-data",
                "vendor",
            ],
            &["-N", "net", "-V", "vendor"],
        ),
        (&["--network-config", "net"], &["-N", "net"]),
    ];
    for (index, (ours, theirs)) in cases.iter().enumerate() {
        for fs_name in ["iso9660", "vfat"] {
            let mine = format!("ours-{index}-{fs_name}");
            let reference = format!("theirs-{index}-{fs_name}");
            let mut args = vec![
                "seed",
                "--user-data",
                "ud",
                "--output",
                &mine,
                "--fs",
                fs_name,
            ];
            args.extend_from_slice(ours);
            ok(livecompose(&args, d), "livecompose seed");
            let mut args = vec!["-f", fs_name];
            args.extend_from_slice(theirs);
            args.extend([reference.as_str(), "ud"]);
            if ours.contains(&"--meta-data") {
                args.push("meta");
            }
            ok(
                tool(d, "cloud-localds", "cloud-image-utils", &args),
                "cloud-localds",
            );
            let read = |image: &str| match fs_name {
                "vfat" => fat_files(d, image),
                _ => iso_files(d, image),
            };
            let (a, b) = (read(&mine), read(&reference));
            assert!(
                a.contains_key("user-data") && a.contains_key("meta-data"),
                "{a:?}"
            );
            assert_eq!(a, b, "case {index} {fs_name}: ours vs cloud-localds");
            assert_eq!(
                blkid(d, &mine),
                blkid(d, &reference),
                "case {index} {fs_name}"
            );
        }
    }
}

/// Runs `seed` on `user_data` where a seed already exists, and returns its
/// stderr after checking it failed as bad input and left everything as it was.
fn refused(user_data: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "ud", user_data);
    write(d, "seed.iso", "the old seed");
    let mut all = vec!["seed", "--user-data", "ud", "--output", "seed.iso"];
    all.extend_from_slice(args);
    let out = livecompose(&all, d);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        fs::read_to_string(d.join("seed.iso")).unwrap(),
        "the old seed"
    );
    let mut left: Vec<String> = fs::read_dir(d)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["seed.iso", "ud"], "{stderr}");
    stderr
}

#[test]
fn bad_user_data_fails_at_its_line_naming_the_key_and_writes_nothing() {
    let cases = [
        (
            "#cloud-config\nhostname: web1\npakages: [htop]\n",
            "ud:3: pakages: not a cloud-config key (did you mean packages?)",
        ),
        (
            "#cloud-config\nhostname: web1\nusers: {name: x}\n",
            "ud:3: users: {name: x} is not valid: expected an array (a YAML list) or a string",
        ),
        (
            "#cloud-config\nusers:\n  - name: admin\n    sudoo: ALL\n",
            "ud:4: users.0.sudoo: not a key users.0 takes",
        ),
        (
            "#cloud-config\nusers:\n  - name: admin\n    sudo: 5\n",
            "ud:4: users.0.sudo: 5 is not valid",
        ),
        (
            "#cloud-config\nusers:\n  - name: admin\n    lock_passwd: maybe\n",
            "ud:4: users.0.lock_passwd: maybe is not valid: expected a boolean",
        ),
        (
            "#cloud-config\npackage_update: true\nruncmd: echo hi\n",
            "ud:3: runcmd: echo hi is not valid: expected an array (a YAML list)",
        ),
        (
            "#cloud-config\nwrite_files:\n  - content: hi\n",
            "ud:3: write_files.0: \"path\" is a required property",
        ),
        ("#cloud-config\npackages: [htop\n", "ud:3: not valid YAML"),
        (
            "#cloud-config\nhostname: a\nhostname: b\n",
            "ud:3: not valid YAML",
        ),
        (
            "#cloud-config\n- htop\n",
            "ud:2: a cloud-config is a mapping",
        ),
        (
            "#cloud-config\nhostname: a\n---\nhostname: b\n",
            "ud:4: a second YAML document",
        ),
        (
            "hostname: web1\n",
            "ud:1: user-data must start with `#cloud-config`",
        ),
    ];
    for (user_data, message) in cases {
        let stderr = refused(user_data, &[]);
        assert!(
            stderr.contains(message),
            "expected {message:?} for\n{user_data}\ngot: {stderr}"
        );
    }
}

#[test]
fn every_problem_is_reported_each_at_its_own_line() {
    let stderr = refused(
        "#cloud-config\nhostnme: web1\npackages: [htop]\nssh_pwauth: [1]\n",
        &[],
    );
    assert!(
        stderr.contains("ud:2: hostnme: not a cloud-config key (did you mean hostname?)"),
        "{stderr}"
    );
    assert!(stderr.contains("ud:4: ssh_pwauth:"), "{stderr}");
    assert!(!stderr.contains("ud:3"), "{stderr}");
}

#[test]
fn bad_options_are_refused_before_anything_is_written() {
    let stderr = refused(RICH, &["--hostname", "web 1"]);
    assert!(stderr.contains("\"web 1\" is not a host name"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ud", RICH);
    write(dir.path(), "meta", "instance-id: x\n");
    let out = livecompose(
        &[
            "seed",
            "--user-data",
            "ud",
            "--meta-data",
            "meta",
            "--hostname",
            "h",
            "--output",
            "s.iso",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!dir.path().join("s.iso").exists());
    let out = livecompose(
        &["seed", "--user-data", "missing", "--output", "s.iso"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot read missing"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("s.iso").exists());
}

#[test]
fn scripts_multipart_and_rich_cloud_configs_are_accepted() {
    let multipart = "Content-Type: multipart/mixed; boundary=\"XX\"\nMIME-Version: 1.0\n\n--XX\n\
Content-Type: text/x-shellscript\n\n#!/bin/sh\necho hi\n--XX--\n";
    let cases = [
        // Not YAML at all, and not checked as YAML.
        ("#!/bin/sh\nusers: {name: x}\n[unclosed\n", "is a script"),
        (multipart, "is a MIME multipart archive"),
        (RICH, "is a valid cloud-config"),
        // Only the header: an empty configuration.
        ("#cloud-config\n", "is a valid cloud-config"),
        // YAML 1.1 as cloud-init reads it: `on` a boolean, `0644` octal text kept by quotes.
        (
            "#cloud-config\nssh_pwauth: on\nusers: [default]\n",
            "is a valid cloud-config",
        ),
    ];
    for (user_data, kind) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ud", user_data);
        let out = ok(
            livecompose(
                &["seed", "--user-data", "ud", "--output", "seed.iso"],
                dir.path(),
            ),
            user_data,
        );
        assert!(text(&out.stderr).contains(kind), "{}", text(&out.stderr));
        assert_eq!(
            iso_files(dir.path(), "seed.iso")["user-data"],
            user_data.as_bytes()
        );
    }
}

/// cloud-init's own way to check a cloud-config, without cloud-init: PyYAML
/// loads it and python3-jsonschema's Draft 4 validator checks it against the
/// same schema file. Prints `valid` or the errors.
const ORACLE: &str = "
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
config = yaml.safe_load(open(sys.argv[2])) or {}
errors = [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(config)]
print('; '.join(errors) if errors else 'valid')
";

fn oracle(dir: &Path, user_data: &str) -> String {
    write(dir, "oracle-input", user_data);
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/seed/schema-cloud-config-v1.json");
    let out = ok(
        tool(
            dir,
            "python3",
            "python3-yaml and python3-jsonschema",
            &[
                "-W",
                "ignore",
                "-c",
                ORACLE,
                schema.to_str().unwrap(),
                "oracle-input",
            ],
        ),
        "the PyYAML + jsonschema oracle",
    );
    text(&out.stdout).trim().to_owned()
}

#[test]
fn our_verdicts_agree_with_pyyaml_and_python_jsonschema() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        (RICH, true),
        ("#cloud-config\nssh_pwauth: on\nusers: [default]\n", true),
        (
            "#cloud-config\nwrite_files:\n  - path: /x\n    permissions: '0644'\n",
            true,
        ),
        ("#cloud-config\nhostname: web1\npakages: [htop]\n", false),
        (
            "#cloud-config\nusers:\n  - name: admin\n    lock_passwd: maybe\n",
            false,
        ),
        (
            "#cloud-config\nusers:\n  - name: admin\n    sudoo: ALL\n",
            false,
        ),
        (
            "#cloud-config\nusers:\n  - name: admin\n    sudo: 5\n",
            false,
        ),
        ("#cloud-config\nruncmd: echo hi\n", false),
        ("#cloud-config\nwrite_files:\n  - content: hi\n", false),
        // YAML 1.1: `off` is a boolean, which package_update takes.
        ("#cloud-config\npackage_update: off\n", true),
        ("#cloud-config\npackage_update: maybe\n", false),
    ];
    for (user_data, valid) in cases {
        let theirs = oracle(d, user_data);
        assert_eq!(
            theirs == "valid",
            valid,
            "the oracle on\n{user_data}\nsays {theirs}"
        );
        write(d, "ud", user_data);
        let ours = livecompose(&["seed", "--user-data", "ud", "--output", "seed.iso"], d);
        assert_eq!(
            ours.status.success(),
            valid,
            "ours on\n{user_data}\n{}",
            text(&ours.stderr)
        );
    }
    // The one rule stricter than cloud-init's schema (docs/cloud.md).
    let mapping = "#cloud-config\nusers: {name: x}\n";
    assert_eq!(oracle(d, mapping), "valid");
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "ud", RICH);
    for fs_name in ["iso9660", "vfat"] {
        for name in ["a", "b"] {
            ok(
                livecompose(
                    &[
                        "seed",
                        "--user-data",
                        "ud",
                        "--output",
                        name,
                        "--fs",
                        fs_name,
                    ],
                    d,
                ),
                "livecompose seed",
            );
        }
        assert_eq!(
            fs::read(d.join("a")).unwrap(),
            fs::read(d.join("b")).unwrap(),
            "{fs_name}"
        );
    }
}
