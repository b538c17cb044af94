//! SSH host keys made at first boot. The clean-up removes the keys the SSH
//! server's package made at build time (every machine must have its own),
//! and some distributions make none at boot (Debian's `openssh-server` makes
//! them only in its maintainer script), so such an image's SSH server would
//! never start. When the image has no mechanism of its own, a oneshot unit
//! ordered before the SSH service runs the image's `ssh-keygen -A` while no
//! host key exists.
//!
//! The unit is an ordinary unit of the image: `services --disabled=` with
//! its name leaves it out, as for any other unit.

use crate::install::RootFs;
use crate::install::rootfs::Meta;
use crate::kickstart::commands::Services;

use super::{ConfigureError, SshServer, exists, in_root, names_unit};

/// The unit's name, without `.service`, as `services --disabled=` takes it.
const UNIT: &str = "livecompose-ssh-host-keys";

/// Where units that no package owns live.
const UNIT_DIR: &str = "/etc/systemd/system";

/// The OpenSSH server, at the same place on every distribution.
const SSHD: &str = "/usr/sbin/sshd";

/// The image's own key generator, run at boot.
const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

/// cloud-init's `ssh` module deletes the build's keys and makes new ones on
/// an instance's first boot, whatever the distribution.
const CLOUD_INIT: &str = "/usr/bin/cloud-init";

/// The key types `ssh-keygen -A` makes; while none exists, the unit runs.
const KEY_TYPES: [&str; 3] = ["rsa", "ecdsa", "ed25519"];

/// What [`apply`] did, for the build's output.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum HostKeys {
    /// No SSH server in the image.
    NoServer,
    /// The image makes its own keys at boot (the file that shows it).
    OwnMechanism(&'static str),
    /// The unit was written and enabled.
    Added,
    /// The unit was written, and left disabled as `services` asks.
    Disabled,
    /// The image has an SSH server but no `ssh-keygen` to run at boot.
    NoKeygen,
}

impl HostKeys {
    /// A line for the build's output, or `None` when there is nothing to say.
    pub(super) fn note(&self, ssh: &SshServer) -> Option<String> {
        let service = ssh.service;
        match self {
            HostKeys::NoServer => None,
            HostKeys::OwnMechanism(by) => Some(format!(
                "SSH host keys: made at first boot by the image itself ({by})"
            )),
            HostKeys::Added => Some(format!(
                "SSH host keys: made at first boot by {UNIT}.service, before {service}"
            )),
            HostKeys::Disabled => Some(format!(
                "SSH host keys: {UNIT}.service is disabled by the kickstart's services line; {service} will not start until something makes the keys"
            )),
            HostKeys::NoKeygen => None,
        }
    }

    /// A warning for the build's output, or `None`.
    pub(super) fn warning(&self, ssh: &SshServer) -> Option<String> {
        (*self == HostKeys::NoKeygen).then(|| {
            format!(
                "the image has an SSH server ({SSHD}) but no {SSH_KEYGEN} to make its host keys at boot, so {} will not start; add {} to %packages",
                ssh.service, ssh.keygen_package
            )
        })
    }
}

pub(super) fn apply(
    root: &RootFs,
    ssh: &SshServer,
    services: Option<&Services>,
) -> Result<HostKeys, ConfigureError> {
    if !exists(root, SSHD)? {
        return Ok(HostKeys::NoServer);
    }
    for mechanism in std::iter::once(&CLOUD_INIT).chain(ssh.keygen_units) {
        if exists(root, mechanism)? {
            return Ok(HostKeys::OwnMechanism(mechanism));
        }
    }
    if !exists(root, SSH_KEYGEN)? {
        return Ok(HostKeys::NoKeygen);
    }
    root.write_bytes(
        &in_root(&format!("{UNIT_DIR}/{UNIT}.service"))?,
        unit_file(ssh.service).as_bytes(),
        0o644,
    )?;
    // As for the services line itself, enabling wins over disabling.
    if services.is_some_and(|services| {
        names_unit(&services.disabled, UNIT) && !names_unit(&services.enabled, UNIT)
    }) {
        return Ok(HostKeys::Disabled);
    }
    // What `systemctl enable` makes from the unit's [Install] section.
    root.symlink(
        &in_root(&format!("{UNIT_DIR}/{}.wants/{UNIT}.service", ssh.service))?,
        format!("{UNIT_DIR}/{UNIT}.service").as_ref(),
        &Meta::root_owned(0o777),
    )?;
    Ok(HostKeys::Added)
}

/// The unit, for the SSH server's unit `service`.
fn unit_file(service: &str) -> String {
    // Conditions that are not triggering (no `|`) must all hold: the unit
    // runs only while every key type is missing, so a type an administrator
    // removed on purpose is not made again at the next boot.
    let conditions: String = KEY_TYPES
        .iter()
        .map(|key_type| format!("ConditionPathExists=!/etc/ssh/ssh_host_{key_type}_key\n"))
        .collect();
    format!(
        "# Written by livecompose: the image is built without SSH host keys, so that\n\
         # every machine has its own. Leave it out with the kickstart line\n\
         # services --disabled={UNIT}\n\
         [Unit]\n\
         Description=SSH host keys of this machine\n\
         Documentation=man:ssh-keygen(1)\n\
         Before={service}\n\
         {conditions}\n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart={SSH_KEYGEN} -A\n\
         \n\
         [Install]\n\
         WantedBy={service}\n"
    )
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;

    const DEBIAN: SshServer = crate::distro::debian::CONVENTIONS.ssh;

    /// An image root holding `files` (empty files are enough to be found),
    /// with merged /usr as Debian and Fedora have it.
    fn image(files: &[&str]) -> (tempfile::TempDir, RootFs) {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join("usr/sbin")).expect("usr/sbin");
        std::os::unix::fs::symlink("usr/sbin", dir.path().join("sbin")).expect("sbin");
        for file in files {
            let path = dir.path().join(file.trim_start_matches('/'));
            fs::create_dir_all(path.parent().expect("parent")).expect("directory");
            fs::write(&path, "").expect("file");
        }
        let root = RootFs::open(dir.path()).expect("root");
        (dir, root)
    }

    fn unit_path(dir: &Path) -> std::path::PathBuf {
        dir.join("etc/systemd/system/livecompose-ssh-host-keys.service")
    }

    fn link_path(dir: &Path) -> std::path::PathBuf {
        dir.join("etc/systemd/system/ssh.service.wants/livecompose-ssh-host-keys.service")
    }

    #[test]
    fn an_ssh_server_without_a_keygen_of_its_own_gets_the_unit() {
        let (dir, root) = image(&[SSHD, SSH_KEYGEN]);
        assert_eq!(
            apply(&root, &DEBIAN, None).expect("applied"),
            HostKeys::Added
        );
        assert_eq!(
            fs::read_to_string(unit_path(dir.path())).expect("unit"),
            unit_file("ssh.service")
        );
        assert_eq!(
            fs::read_link(link_path(dir.path())).expect("wants link"),
            Path::new("/etc/systemd/system/livecompose-ssh-host-keys.service")
        );
        let note = HostKeys::Added.note(&DEBIAN).expect("a note");
        assert!(note.contains("before ssh.service"), "{note}");
    }

    #[test]
    fn the_unit_runs_keygen_before_the_service_only_while_no_key_exists() {
        let unit = unit_file("sshd.service");
        let lines: Vec<&str> = unit.lines().collect();
        for expected in [
            "[Unit]",
            "Before=sshd.service",
            "ConditionPathExists=!/etc/ssh/ssh_host_rsa_key",
            "ConditionPathExists=!/etc/ssh/ssh_host_ecdsa_key",
            "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key",
            "[Service]",
            "Type=oneshot",
            "ExecStart=/usr/bin/ssh-keygen -A",
            "[Install]",
            "WantedBy=sshd.service",
        ] {
            assert!(lines.contains(&expected), "{expected:?} missing:\n{unit}");
        }
        // A triggering condition (`|`) would make any one of them enough.
        assert!(!unit.contains("=|"), "{unit}");
        let sections: Vec<&&str> = lines.iter().filter(|l| l.starts_with('[')).collect();
        assert_eq!(sections, [&"[Unit]", &"[Service]", &"[Install]"]);
    }

    /// systemd's own reader of unit files finds nothing to say about it.
    #[test]
    fn systemd_analyze_verify_accepts_the_unit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(format!("{UNIT}.service"));
        fs::write(&path, unit_file("ssh.service")).expect("unit");
        let out = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .expect("systemd-analyze: apt-get install systemd (tests/run does)");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && said.is_empty(), "{said}");
    }

    #[test]
    fn images_that_make_their_own_keys_or_have_no_server_are_left_alone() {
        let fedora = SshServer {
            service: "sshd.service",
            keygen_units: &["/usr/lib/systemd/system/sshd-keygen@.service"],
            keygen_package: "openssh",
        };
        for (files, ssh, expected) in [
            (&[SSH_KEYGEN][..], &DEBIAN, HostKeys::NoServer),
            (
                &[SSHD, SSH_KEYGEN, CLOUD_INIT][..],
                &DEBIAN,
                HostKeys::OwnMechanism(CLOUD_INIT),
            ),
            (
                &[
                    SSHD,
                    SSH_KEYGEN,
                    "/usr/lib/systemd/system/sshd-keygen@.service",
                ][..],
                &fedora,
                HostKeys::OwnMechanism("/usr/lib/systemd/system/sshd-keygen@.service"),
            ),
            (&[SSHD][..], &DEBIAN, HostKeys::NoKeygen),
        ] {
            let (dir, root) = image(files);
            assert_eq!(
                apply(&root, ssh, None).expect("looked"),
                expected,
                "{files:?}"
            );
            assert!(!dir.path().join("etc/systemd").exists(), "{files:?}");
        }
        let warning = HostKeys::NoKeygen.warning(&DEBIAN).expect("a warning");
        assert!(
            warning.contains("add openssh-client to %packages"),
            "{warning}"
        );
        assert_eq!(HostKeys::Added.warning(&DEBIAN), None);
        assert_eq!(HostKeys::NoServer.note(&DEBIAN), None);
    }

    #[test]
    fn services_disabled_leaves_the_unit_unlinked() {
        for name in [UNIT.to_owned(), format!("{UNIT}.service")] {
            let (dir, root) = image(&[SSHD, SSH_KEYGEN]);
            let services = Services {
                enabled: vec![],
                disabled: vec!["bluetooth".to_owned(), name.clone()],
            };
            assert_eq!(
                apply(&root, &DEBIAN, Some(&services)).expect("applied"),
                HostKeys::Disabled,
                "{name}"
            );
            // Still there, so the services line's own `systemctl disable`
            // finds the unit it names.
            assert!(unit_path(dir.path()).is_file());
            assert!(
                fs::symlink_metadata(link_path(dir.path())).is_err(),
                "{name}"
            );
        }
    }
}
