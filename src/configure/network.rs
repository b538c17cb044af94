//! `network --hostname`: `/etc/hostname`, and the `127.0.1.1` line of
//! `/etc/hosts` that Debian uses so the host name resolves without DNS.

use crate::install::RootFs;
use crate::kickstart::commands::Network;

use super::{ConfigureError, in_root, read_text};

/// What `/etc/hosts` holds when the image has none.
const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n\
::1\t\tlocalhost ip6-localhost ip6-loopback\n\
ff02::1\t\tip6-allnodes\n\
ff02::2\t\tip6-allrouters\n";

pub(super) fn apply(
    root: &RootFs,
    network: &[Network],
    warnings: &mut Vec<String>,
) -> Result<(), ConfigureError> {
    let configures_interfaces = network
        .iter()
        .any(|n| n.device.is_some() || n.bootproto.is_some() || n.ip.is_some() || n.ipv6.is_some());
    if configures_interfaces {
        warnings.push(
            "network: interface settings (--device, --bootproto, --ip, ...) are not written into the image; only --hostname is. Configure interfaces in an overlay or %post".to_owned(),
        );
    }
    // As with the installer, the last host name given wins.
    let Some(hostname) = network.iter().rev().find_map(|n| n.hostname.as_ref()) else {
        return Ok(());
    };
    check_hostname(hostname)?;
    root.write_bytes(
        &in_root("/etc/hostname")?,
        format!("{hostname}\n").as_bytes(),
        0o644,
    )?;
    let hosts = in_root("/etc/hosts")?;
    let current = read_text(root, &hosts)?;
    let updated = hosts_with(current.as_deref().unwrap_or(DEFAULT_HOSTS), hostname);
    root.write_bytes(&hosts, updated.as_bytes(), 0o644)?;
    Ok(())
}

/// A host name as RFC 1123 allows: dot-separated labels of letters, digits
/// and inner hyphens, each at most 63 characters, 253 in all.
fn check_hostname(name: &str) -> Result<(), ConfigureError> {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(ConfigureError::invalid(
            "network",
            format!("--hostname={name:?} is not a valid host name (letters, digits, '-' and '.')"),
        ))
    }
}

/// `hosts` with its `127.0.1.1` line naming `hostname` (the full name first,
/// then the short one), placed after the localhost line.
fn hosts_with(hosts: &str, hostname: &str) -> String {
    let short = hostname.split('.').next().unwrap_or(hostname);
    let entry = if short == hostname {
        format!("127.0.1.1\t{hostname}")
    } else {
        format!("127.0.1.1\t{hostname} {short}")
    };
    let mut lines: Vec<String> = hosts
        .lines()
        .filter(|line| line.split_whitespace().next() != Some("127.0.1.1"))
        .map(str::to_owned)
        .collect();
    let after = lines
        .iter()
        .position(|line| line.split_whitespace().next() == Some("127.0.0.1"))
        .map_or(0, |index| index + 1);
    lines.insert(after, entry);
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, RootFs) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = RootFs::open(dir.path()).expect("root");
        (dir, root)
    }

    fn named(hostname: &str) -> Network {
        Network {
            hostname: Some(hostname.to_owned()),
            ..Network::default()
        }
    }

    #[test]
    fn hostname_and_hosts_are_written() {
        let (dir, root) = root();
        let mut warnings = Vec::new();
        apply(
            &root,
            &[named("first"), named("web1.example.org")],
            &mut warnings,
        )
        .expect("configured");
        let read = |name| std::fs::read_to_string(dir.path().join(name)).expect("written");
        assert_eq!(read("etc/hostname"), "web1.example.org\n");
        let hosts = read("etc/hosts");
        assert!(
            hosts.starts_with("127.0.0.1\tlocalhost\n127.0.1.1\tweb1.example.org web1\n::1"),
            "{hosts}"
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn an_existing_hosts_file_keeps_its_lines() {
        let before = "# mine\n127.0.0.1 localhost\n127.0.1.1 old\n10.0.0.1 db\n";
        assert_eq!(
            hosts_with(before, "new"),
            "# mine\n127.0.0.1 localhost\n127.0.1.1\tnew\n10.0.0.1 db\n"
        );
    }

    #[test]
    fn bad_host_names_and_interface_settings() {
        let (_dir, root) = root();
        let mut warnings = Vec::new();
        for bad in ["-x", "a..b", "under_score", &"x".repeat(64)] {
            let error = apply(&root, &[named(bad)], &mut warnings).expect_err(bad);
            assert!(
                error.to_string().contains("is not a valid host name"),
                "{error}"
            );
        }
        let dhcp = Network {
            device: Some("eth0".to_owned()),
            ..Network::default()
        };
        apply(&root, &[dhcp], &mut warnings).expect("nothing to write");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("only --hostname"));
    }
}
