//! SELinux labels: the last change to the root, so every file the build
//! made (packages, configuration, `%post`, overlays) carries the label the
//! image's policy gives its path. An image whose policy is enforcing and
//! whose files are unlabelled does not boot: its services are denied
//! everything, and a live system's read-only root cannot be relabelled at
//! boot.
//!
//! The image's own `setfiles` applies its own policy's `file_contexts`,
//! as anaconda and livecd-creator do; the labels are ordinary
//! `security.selinux` attributes, which the host stores whether or not it
//! runs SELinux itself, and which the squashfs writer keeps.

use std::ffi::OsStr;

use crate::chroot::Chroot;
use crate::install::RootFs;
use crate::kickstart::Kickstart;
use crate::kickstart::commands::Selinux;

use super::{ConfigureError, exists, in_root, read_text};

/// Where the policy's tools put `setfiles`, newest layout first.
const SETFILES: &[&str] = &["/usr/sbin/setfiles", "/sbin/setfiles"];
const CONFIG: &str = "/etc/selinux/config";

/// Labels the root's files when the image has SELinux and it is not
/// disabled (by the kickstart's `selinux` line or the image's own
/// configuration). Returns a warning when the image asks for SELinux but
/// lacks what labelling needs.
pub fn label(
    root: &RootFs,
    chroot: &Chroot,
    kickstart: &Kickstart,
) -> Result<Option<String>, ConfigureError> {
    if kickstart.selinux == Some(Selinux::Disabled) {
        return Ok(None);
    }
    let Some(config) = read_text(root, &in_root(CONFIG)?)? else {
        return Ok(None);
    };
    let setting = |key: &str| {
        config.lines().find_map(|line| {
            let (name, value) = line.trim().split_once('=')?;
            (name.trim() == key).then(|| value.trim().trim_matches('"').to_owned())
        })
    };
    if kickstart.selinux.is_none() && setting("SELINUX").as_deref() == Some("disabled") {
        return Ok(None);
    }
    let Some(policy) = setting("SELINUXTYPE").filter(|p| is_policy_name(p)) else {
        return Ok(Some(format!(
            "{CONFIG} names no policy (SELINUXTYPE=); the image's files are left unlabelled"
        )));
    };
    let contexts = format!("/etc/selinux/{policy}/contexts/files/file_contexts");
    if !exists(root, &contexts)? {
        return Ok(Some(format!(
            "SELinux policy {policy:?} is not installed ({contexts} is missing), so the image's files are left unlabelled and an enforcing image will not boot; add the policy package (selinux-policy-{policy} on Fedora, selinux-policy-default on Debian) to %packages"
        )));
    }
    let mut setfiles = None;
    for candidate in SETFILES {
        if exists(root, candidate)? {
            setfiles = Some(*candidate);
            break;
        }
    }
    let Some(setfiles) = setfiles else {
        return Ok(Some(
            "the image has an SELinux policy but no setfiles, so its files are left unlabelled and an enforcing image will not boot; add policycoreutils to %packages".to_owned(),
        ));
    };
    // -F: set the whole label, not only its type; the API filesystems
    // mounted for the run are not the image's.
    let words = [
        "-F", "-e", "/proc", "-e", "/sys", "-e", "/dev", &contexts, "/",
    ];
    let args: Vec<&OsStr> = words.iter().map(OsStr::new).collect();
    let command = chroot.command(setfiles, &args);
    chroot.run(command, "setfiles (SELinux labels)")?;
    Ok(None)
}

/// A policy name is one path component (`targeted`, `default`, `mls`).
fn is_policy_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

#[cfg(test)]
mod tests {
    use super::is_policy_name;

    #[test]
    fn a_policy_name_cannot_leave_etc_selinux() {
        assert!(is_policy_name("targeted"));
        assert!(!is_policy_name("../../tmp"));
        assert!(!is_policy_name(".."));
        assert!(!is_policy_name(""));
    }
}
