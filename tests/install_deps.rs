//! tests/install-deps, the install step of the test command, run against a
//! simulated apt: the real apt-get, apt-cache and dpkg-query, pointed at a
//! package state and a repository made here (APT_CONFIG, DPKG_ADMINDIR),
//! with every install simulated (`APT::Get::Simulate`), so the host is
//! never changed. The fresh machine of issue 13 is reproduced first: a
//! qemu-utils from a backport, held, and a source that offers only the
//! distribution's qemu.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BACKPORT: &str = "1:10.0.2+ds-2+deb13u1~bpo12+1";
const DISTRIBUTION: &str = "1:7.2+dfsg-7+deb12u18";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/install-deps")
}

/// The packages the script installs, as it lists them.
fn needed() -> Vec<String> {
    let output = Command::new(script()).arg("--list").output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// One deb822 paragraph of a Packages or status file.
struct Stanza {
    package: String,
    version: String,
    fields: Vec<String>,
}

fn stanza(package: &str, version: &str, fields: &[&str]) -> Stanza {
    Stanza {
        package: package.to_owned(),
        version: version.to_owned(),
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
    }
}

/// qemu's own packages as the distribution and the backport build them:
/// since 8.0, qemu-utils holds files that qemu-system-common used to.
fn qemu_utils(version: &str) -> Stanza {
    if version == BACKPORT {
        stanza(
            "qemu-utils",
            version,
            &[
                "Source: qemu",
                "Breaks: qemu-system-common (<< 1:8.0+dfsg-5~)",
            ],
        )
    } else {
        stanza("qemu-utils", version, &["Source: qemu"])
    }
}

fn qemu_system(version: &str) -> [Stanza; 2] {
    let depends = format!("Depends: qemu-system-common (= {version})");
    [
        stanza("qemu-system-x86", version, &["Source: qemu", &depends]),
        stanza("qemu-system-common", version, &["Source: qemu"]),
    ]
}

struct SimulatedApt {
    dir: tempfile::TempDir,
}

impl SimulatedApt {
    /// A machine with `installed` in its dpkg database (`held` ones on
    /// hold) and a source offering every package the script needs at 1.0,
    /// besides `offered`.
    fn new(installed: &[Stanza], held: &[&str], offered: &[Stanza]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in [
            "repo",
            "etc/sources.list.d",
            "etc/preferences.d",
            "admin",
            "state/lists/partial",
            "cache/archives/partial",
            "log",
            "bin",
        ] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        let mut packages = String::new();
        let fillers: Vec<Stanza> = needed()
            .into_iter()
            .filter(|name| offered.iter().all(|s| &s.package != name))
            .map(|name| stanza(&name, "1.0", &[]))
            .collect();
        for s in offered.iter().chain(&fillers) {
            packages += &paragraph(
                s,
                &[format!("Filename: ./{}.deb", s.package), "Size: 1".into()],
            );
        }
        fs::write(root.join("repo/Packages"), packages).unwrap();
        let mut status = String::new();
        for s in installed {
            let want = if held.contains(&s.package.as_str()) {
                "hold"
            } else {
                "install"
            };
            status += &paragraph(s, &[format!("Status: {want} ok installed")]);
        }
        fs::write(root.join("admin/status"), status).unwrap();
        fs::write(
            root.join("etc/sources.list"),
            format!(
                "deb [trusted=yes] file:{} ./\n",
                root.join("repo").display()
            ),
        )
        .unwrap();
        let d = root.display();
        fs::write(
            root.join("apt.conf"),
            format!(
                "Dir::State \"{d}/state/\";\n\
                 Dir::State::status \"{d}/admin/status\";\n\
                 Dir::Cache \"{d}/cache/\";\n\
                 Dir::Etc::sourcelist \"{d}/etc/sources.list\";\n\
                 Dir::Etc::sourceparts \"{d}/etc/sources.list.d/\";\n\
                 Dir::Etc::preferences \"{d}/etc/preferences\";\n\
                 Dir::Etc::preferencesparts \"{d}/etc/preferences.d/\";\n\
                 Dir::Log \"{d}/log/\";\n\
                 APT::Architecture \"amd64\";\n\
                 Debug::NoLocking \"true\";\n\
                 APT::Get::Simulate \"true\";\n"
            ),
        )
        .unwrap();
        // apt-get as the script sees it: the real one, every call recorded
        // with what it printed.
        let shim = root.join("bin/apt-get");
        fs::write(
            &shim,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {d}/calls\n\
                 /usr/bin/apt-get \"$@\" > {d}/last.out 2>&1\nrc=$?\n\
                 cat {d}/last.out >> {d}/apt.out\ncat {d}/last.out\nexit $rc\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).unwrap();
        SimulatedApt { dir }
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let root = self.dir.path();
        let mut command = Command::new(program);
        command
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    root.join("bin").display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("APT_CONFIG", root.join("apt.conf"))
            .env("DPKG_ADMINDIR", root.join("admin"));
        command
    }

    fn run_script(&self) -> Output {
        self.command(script()).arg("all").output().unwrap()
    }

    /// Every apt-get command line the script ran.
    fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// What apt printed (the simulated install's Inst/Remv lines among it).
    fn apt_output(&self) -> String {
        fs::read_to_string(self.dir.path().join("apt.out")).unwrap_or_default()
    }
}

fn paragraph(s: &Stanza, extra: &[String]) -> String {
    let mut text = format!(
        "Package: {}\nVersion: {}\nArchitecture: amd64\nMaintainer: test <test@localhost>\n",
        s.package, s.version
    );
    for field in s.fields.iter().chain(extra) {
        text += field;
        text.push('\n');
    }
    text + "Description: test package\n\n"
}

/// Every package the script needs, installed at 1.0, except `except`.
fn installed_except(except: &[&str]) -> Vec<Stanza> {
    needed()
        .into_iter()
        .filter(|name| !except.contains(&name.as_str()))
        .map(|name| stanza(&name, "1.0", &[]))
        .collect()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn backported_qemu_utils_is_aligned_with_the_distributions_qemu_system() {
    assert!(is_root(), "the install step runs as root");
    let mut installed = installed_except(&["qemu-system-x86", "qemu-utils", "ovmf"]);
    installed.push(qemu_utils(BACKPORT));
    let mut offered: Vec<Stanza> = qemu_system(DISTRIBUTION).into();
    offered.push(qemu_utils(DISTRIBUTION));
    let apt = SimulatedApt::new(&installed, &["qemu-utils"], &offered);

    // The fresh machine as issue 13 found it: a plain install fails.
    let plain = apt
        .command("/usr/bin/apt-get")
        .args(["update", "-qq"])
        .output()
        .unwrap();
    assert!(plain.status.success(), "{}", stdout(&plain));
    let plain = apt
        .command("/usr/bin/apt-get")
        .args(["install", "-y", "qemu-system-x86", "ovmf"])
        .output()
        .unwrap();
    assert!(
        !plain.status.success() && stdout(&plain).contains("unmet dependencies"),
        "the simulated machine does not reproduce the issue:\n{}",
        stdout(&plain)
    );

    let output = apt.run_script();
    let text = stdout(&output);
    assert!(output.status.success(), "{text}\n{}", apt.apt_output());
    let install = apt
        .calls()
        .into_iter()
        .find(|call| call.starts_with("install"))
        .expect("an apt-get install");
    for word in [
        "--allow-downgrades",
        "ovmf",
        &format!("qemu-system-x86={DISTRIBUTION}"),
        &format!("qemu-utils={DISTRIBUTION}"),
    ] {
        assert!(
            install.split(' ').any(|w| w == word),
            "{word} missing from: apt-get {install}"
        );
    }
    let simulated = apt.apt_output();
    assert!(
        simulated.contains(&format!("Inst qemu-utils [{BACKPORT}] ({DISTRIBUTION}")),
        "{simulated}"
    );
    assert!(
        simulated.contains(&format!("Inst qemu-system-x86 ({DISTRIBUTION}")),
        "{simulated}"
    );
    assert!(!simulated.contains("Remv "), "{simulated}");
    assert!(
        text.contains("downgrade") && text.contains("qemu-utils"),
        "the script must say what it did: {text}"
    );
}

#[test]
fn qemu_system_of_the_installed_version_is_taken_when_a_source_offers_it() {
    assert!(is_root(), "the install step runs as root");
    let mut installed = installed_except(&["qemu-system-x86", "qemu-utils"]);
    installed.push(qemu_utils(BACKPORT));
    let mut offered: Vec<Stanza> = qemu_system(DISTRIBUTION).into();
    offered.extend(qemu_system(BACKPORT));
    offered.push(qemu_utils(DISTRIBUTION));
    let apt = SimulatedApt::new(&installed, &[], &offered);
    let output = apt.run_script();
    assert!(output.status.success(), "{}", stdout(&output));
    let install = apt
        .calls()
        .into_iter()
        .find(|call| call.starts_with("install"))
        .expect("an apt-get install");
    assert!(
        install.contains(&format!("qemu-system-x86={BACKPORT}")),
        "{install}"
    );
    assert!(!install.contains("qemu-utils"), "{install}");
    assert!(!install.contains("--allow-downgrades"), "{install}");
    let simulated = apt.apt_output();
    assert!(
        simulated.contains(&format!("Inst qemu-system-x86 ({BACKPORT}")),
        "{simulated}"
    );
    assert!(!simulated.contains("Remv "), "{simulated}");
}

#[test]
fn without_qemu_utils_the_candidate_is_installed_plainly() {
    assert!(is_root(), "the install step runs as root");
    let installed = installed_except(&["qemu-system-x86", "qemu-utils", "mtools"]);
    let mut offered: Vec<Stanza> = qemu_system(DISTRIBUTION).into();
    offered.push(qemu_utils(DISTRIBUTION));
    let apt = SimulatedApt::new(&installed, &[], &offered);
    let output = apt.run_script();
    assert!(output.status.success(), "{}", stdout(&output));
    let calls = apt.calls();
    assert_eq!(
        calls.first().map(String::as_str),
        Some("update -qq"),
        "{calls:?}"
    );
    let install = calls.iter().find(|c| c.starts_with("install")).unwrap();
    let words: Vec<&str> = install.split(' ').collect();
    for word in ["qemu-system-x86", "qemu-utils", "mtools"] {
        assert!(words.contains(&word), "{install}");
    }
    assert!(!install.contains("--allow-downgrades"), "{install}");
    assert!(
        apt.apt_output()
            .contains(&format!("Inst qemu-system-x86 ({DISTRIBUTION}")),
        "{}",
        apt.apt_output()
    );
}

#[test]
fn nothing_is_run_when_everything_is_there() {
    assert!(is_root(), "the install step runs as root");
    let apt = SimulatedApt::new(&installed_except(&[]), &[], &[]);
    // Package lists present: the end-to-end tier needs nothing more.
    let update = apt
        .command("/usr/bin/apt-get")
        .args(["update", "-qq"])
        .output()
        .unwrap();
    assert!(update.status.success(), "{}", stdout(&update));
    fs::remove_file(apt.dir.path().join("calls")).ok();
    let output = apt.run_script();
    assert!(output.status.success(), "{}", stdout(&output));
    assert_eq!(apt.calls(), Vec::<String>::new());
}

#[test]
fn a_missing_package_list_is_fetched_for_the_end_to_end_tier() {
    assert!(is_root(), "the install step runs as root");
    let apt = SimulatedApt::new(&installed_except(&[]), &[], &[]);
    let output = apt.run_script();
    assert!(output.status.success(), "{}", stdout(&output));
    assert_eq!(apt.calls(), vec!["update -qq".to_owned()]);
}
