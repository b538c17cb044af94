//! `services`, `selinux` and `firewall`: what the image starts at boot and
//! how it is confined.
//!
//! Units are enabled with the image's own `systemctl`, which works offline
//! in a chroot: it only creates the `.wants/` symlinks the unit files ask for.

use crate::chroot::Chroot;
use crate::install::RootFs;
use crate::kickstart::commands::{Selinux, Services};
use crate::kickstart::{Kickstart, Located};

use super::{ConfigureError, exists, in_root, read_text};

const SYSTEMCTL: &str = "/usr/bin/systemctl";
const SELINUX_CONFIG: &str = "/etc/selinux/config";

pub(super) fn apply(
    root: &RootFs,
    chroot: &Chroot,
    kickstart: &Kickstart,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigureError> {
    if let Some(services) = &kickstart.services {
        set_services(root, chroot, services)?;
    }
    if let Some(mode) = kickstart.selinux {
        set_selinux(root, mode, warnings)?;
    }
    if kickstart.firewall.as_ref().is_some_and(|f| f.enabled) {
        warnings.push(
            "firewall --enabled: livecompose does not configure a firewall in the image; install and configure nftables or firewalld in %packages and %post".to_owned(),
        );
    }
    Ok(())
}

fn set_services(
    root: &RootFs,
    chroot: &Chroot,
    services: &Located<Services>,
) -> Result<(), ConfigureError> {
    if !exists(root, SYSTEMCTL)? {
        return Err(ConfigureError::Services {
            origin: services.origin.clone(),
            message: format!(
                "the image has no systemd ({SYSTEMCTL} is missing), so units cannot be enabled or disabled; add systemd-sysv to %packages"
            ),
        });
    }
    // Disabled first, so a unit named in both lists ends up enabled.
    let actions = services
        .value
        .disabled
        .iter()
        .map(|unit| ("disable", unit))
        .chain(services.value.enabled.iter().map(|unit| ("enable", unit)));
    for (action, unit) in actions {
        if unit.starts_with('-') || unit.contains('/') {
            return Err(ConfigureError::Services {
                origin: services.origin.clone(),
                message: format!("{unit:?} is not a unit name"),
            });
        }
        let command = chroot.command(SYSTEMCTL, &[action.as_ref(), unit.as_ref()]);
        chroot
            .run(command, &format!("systemctl {action} {unit}"))
            .map_err(|source| ConfigureError::Unit {
                origin: services.origin.clone(),
                source,
            })?;
    }
    Ok(())
}

fn set_selinux(
    root: &RootFs,
    mode: Selinux,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigureError> {
    let word = match mode {
        Selinux::Enforcing => "enforcing",
        Selinux::Permissive => "permissive",
        Selinux::Disabled => "disabled",
    };
    if !exists(root, "/etc/selinux")? {
        if mode != Selinux::Disabled {
            warnings.push(format!(
                "selinux --{word}: the image has no SELinux (no /etc/selinux); add selinux-basics and selinux-policy-default to %packages, or drop the line"
            ));
        }
        return Ok(());
    }
    let path = in_root(SELINUX_CONFIG)?;
    let current = read_text(root, &path)?.unwrap_or_else(|| "SELINUXTYPE=default\n".to_owned());
    root.write_bytes(&path, selinux_config(&current, word).as_bytes(), 0o644)?;
    Ok(())
}

/// `config` with its `SELINUX=` line set to `word`, everything else kept.
fn selinux_config(config: &str, word: &str) -> String {
    let setting = format!("SELINUX={word}");
    let mut lines: Vec<String> = config.lines().map(str::to_owned).collect();
    match lines.iter_mut().find(|line| line.starts_with("SELINUX=")) {
        Some(line) => *line = setting,
        None => lines.insert(0, setting),
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selinux_mode_replaces_only_its_line() {
        assert_eq!(
            selinux_config(
                "# c\nSELINUX=permissive\nSELINUXTYPE=default\n",
                "enforcing"
            ),
            "# c\nSELINUX=enforcing\nSELINUXTYPE=default\n"
        );
        assert_eq!(
            selinux_config("SELINUXTYPE=default\n", "disabled"),
            "SELINUX=disabled\nSELINUXTYPE=default\n"
        );
    }

    #[test]
    fn selinux_on_an_image_without_it_warns() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = RootFs::open(dir.path()).expect("root");
        let mut warnings = Vec::new();
        set_selinux(&root, Selinux::Disabled, &mut warnings).expect("nothing to do");
        assert!(warnings.is_empty());
        set_selinux(&root, Selinux::Enforcing, &mut warnings).expect("a warning");
        assert!(warnings[0].contains("no SELinux"), "{warnings:?}");
        std::fs::create_dir(dir.path().join("etc")).expect("etc");
        std::fs::create_dir(dir.path().join("etc/selinux")).expect("selinux");
        set_selinux(&root, Selinux::Permissive, &mut warnings).expect("written");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("etc/selinux/config")).expect("config"),
            "SELINUX=permissive\nSELINUXTYPE=default\n"
        );
    }

    #[test]
    fn services_without_systemd_name_the_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = RootFs::open(dir.path()).expect("root");
        let chroot = Chroot::new(dir.path(), &dir.path().join("log")).expect("chroot");
        let origin =
            crate::kickstart::Origin::new(std::sync::Arc::from(std::path::Path::new("ks.cfg")), 7);
        let services = Located {
            value: Services {
                enabled: vec!["ssh".to_owned()],
                disabled: vec![],
            },
            origin,
        };
        let error = set_services(&root, &chroot, &services).expect_err("no systemd");
        assert!(
            error
                .to_string()
                .starts_with("ks.cfg:7: services: the image has no systemd"),
            "{error}"
        );
    }
}
