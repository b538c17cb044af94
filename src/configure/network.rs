//! `network`: the interface settings, written in the form the image's
//! network stack reads (systemd-networkd, NetworkManager or ifupdown), and
//! `--hostname`: `/etc/hostname`, and the `127.0.1.1` line of `/etc/hosts`
//! that Debian uses so the host name resolves without DNS.

mod ifupdown;
mod interface;
mod keyfile;
mod networkd;

use std::fmt::Display;

use crate::install::RootFs;
use crate::kickstart::commands::{Network, Services};

use super::{ConfigureError, exists, in_root, names_unit, read_text};
use interface::Interface;

/// What `/etc/hosts` holds when the image has none.
const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n\
::1\t\tlocalhost ip6-localhost ip6-loopback\n\
ff02::1\t\tip6-allnodes\n\
ff02::2\t\tip6-allrouters\n";

pub(super) fn apply(
    root: &RootFs,
    network: &[Network],
    services: Option<&Services>,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigureError> {
    let interfaces = interface::interfaces(network, warnings)?;
    if !interfaces.is_empty() {
        write_interfaces(root, &interfaces, services, warnings)?;
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

/// A program that configures interfaces at boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stack {
    Networkd,
    NetworkManager,
    Ifupdown,
}

impl Stack {
    /// In order of precedence, see [`choose_stack`].
    const ALL: [Stack; 3] = [Stack::Networkd, Stack::NetworkManager, Stack::Ifupdown];

    /// The programs that show the stack is installed; one is enough. Both
    /// spellings are listed because packages ship either, and only an image
    /// with merged /usr (where /lib and /sbin lead into /usr) has both.
    fn programs(self) -> &'static [&'static str] {
        match self {
            Stack::Networkd => &[
                "/lib/systemd/systemd-networkd",
                "/usr/lib/systemd/systemd-networkd",
            ],
            Stack::NetworkManager => &["/usr/sbin/NetworkManager"],
            Stack::Ifupdown => &["/sbin/ifup", "/usr/sbin/ifup"],
        }
    }

    /// The systemd unit that starts it.
    fn unit(self) -> &'static str {
        match self {
            Stack::Networkd => "systemd-networkd",
            Stack::NetworkManager => "NetworkManager",
            Stack::Ifupdown => "networking",
        }
    }
}

/// Whether `stack` will start when the image boots: as the kickstart's
/// `services` line says (enabling wins, as it runs last), else as the
/// image is. NetworkManager's and ifupdown's packages enable their units
/// when installed (Debian's maintainer scripts, Fedora's presets);
/// systemd-networkd ships disabled, so only its link shows it enabled.
fn starts_at_boot(
    root: &RootFs,
    stack: Stack,
    services: Option<&Services>,
) -> Result<bool, ConfigureError> {
    let unit = stack.unit();
    if let Some(services) = services {
        if names_unit(&services.enabled, unit) {
            return Ok(true);
        }
        if names_unit(&services.disabled, unit) {
            return Ok(false);
        }
    }
    match stack {
        Stack::Networkd => exists(
            root,
            "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
        ),
        Stack::NetworkManager | Stack::Ifupdown => Ok(true),
    }
}

/// The stack to write the interfaces for: the first, in the order
/// networkd, NetworkManager, ifupdown, that is installed and will start at
/// boot. networkd comes first because it starts only if someone enabled it
/// on purpose (here, usually the kickstart's `services` line), while the
/// other two are enabled by merely being installed, often as a dependency.
/// NetworkManager comes before ifupdown because Debian's NetworkManager
/// leaves alone only the interfaces `/etc/network/interfaces` names and
/// manages all the others, and it honours every option.
///
/// When none will start but networkd is installed, networkd is chosen with a
/// warning: enabling it is all the image then lacks. `None` when the image
/// has none of the three.
fn choose_stack(
    root: &RootFs,
    services: Option<&Services>,
    warnings: &mut Vec<String>,
) -> Result<Option<Stack>, ConfigureError> {
    let mut installed = Vec::new();
    let mut starting = Vec::new();
    for stack in Stack::ALL {
        if any_exists(root, stack.programs())? {
            installed.push(stack);
            if starts_at_boot(root, stack, services)? {
                starting.push(stack);
            }
        }
    }
    if starting.contains(&Stack::Networkd) && starting.contains(&Stack::NetworkManager) {
        warnings.push(
            "network: systemd-networkd and NetworkManager both start at boot and will both manage the interfaces; the settings are written for systemd-networkd: add services --disabled=NetworkManager".to_owned(),
        );
    }
    if let Some(stack) = starting.first() {
        return Ok(Some(*stack));
    }
    if installed.contains(&Stack::Networkd) {
        warnings.push(
            "network: the interface settings are written for systemd-networkd, which is installed but not enabled; add services --enabled=systemd-networkd".to_owned(),
        );
        return Ok(Some(Stack::Networkd));
    }
    Ok(None)
}

fn any_exists(root: &RootFs, paths: &[&str]) -> Result<bool, ConfigureError> {
    for path in paths {
        if exists(root, path)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn write_interfaces(
    root: &RootFs,
    interfaces: &[Interface],
    services: Option<&Services>,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigureError> {
    let Some(stack) = choose_stack(root, services, warnings)? else {
        warnings.push(
            "network: the image has no network stack, so the interface settings (--device, --bootproto, --ip, ...) are not written into it; add one to %packages: systemd-networkd (in the systemd package on Debian 12), network-manager (NetworkManager on Fedora) or ifupdown".to_owned(),
        );
        return Ok(());
    };
    // Numbered in order, so the files sort as the interfaces were ordered.
    let stems = interfaces.iter().enumerate().map(|(index, interface)| {
        format!("{}-livecompose-{}", 10 + index, interface.device.slug())
    });
    let resolved = any_exists(
        root,
        &[
            "/lib/systemd/systemd-resolved",
            "/usr/lib/systemd/systemd-resolved",
        ],
    )?;
    for (interface, stem) in interfaces.iter().zip(stems) {
        let label = &interface.label;
        match stack {
            Stack::Networkd => {
                if !interface.nameservers.is_empty() && !resolved {
                    warnings.push(format!(
                        "{label}: systemd-networkd hands --nameserver to systemd-resolved, which the image lacks; add systemd-resolved to %packages"
                    ));
                }
                let path = format!("{}/{stem}.network", networkd::DIRECTORY);
                root.write_bytes(
                    &in_root(&path)?,
                    networkd::file(interface).as_bytes(),
                    0o644,
                )?;
            }
            Stack::NetworkManager => {
                let path = format!("{}/{stem}.nmconnection", keyfile::DIRECTORY);
                let text = keyfile::file(interface, &stem);
                root.write_bytes(&in_root(&path)?, text.as_bytes(), 0o600)?;
            }
            Stack::Ifupdown => {
                // ifupdown passes dns-nameservers on to resolvconf, or to
                // systemd-resolved through its own hook.
                if !interface.nameservers.is_empty()
                    && !resolved
                    && !any_exists(root, &["/sbin/resolvconf", "/usr/sbin/resolvconf"])?
                {
                    warnings.push(format!(
                        "{label}: ifupdown hands --nameserver to resolvconf or systemd-resolved, and the image has neither; add resolvconf to %packages"
                    ));
                }
                let (text, cannot) = ifupdown::file(interface);
                warnings.extend(cannot);
                let path = format!("{}/{stem}", ifupdown::DIRECTORY);
                root.write_bytes(&in_root(&path)?, text.as_bytes(), 0o644)?;
            }
        }
    }
    if stack == Stack::Ifupdown {
        source_interfaces_d(root)?;
    }
    Ok(())
}

/// Makes `/etc/network/interfaces` read the files written into
/// `interfaces.d`, as the one ifupdown's package creates does.
fn source_interfaces_d(root: &RootFs) -> Result<(), ConfigureError> {
    let path = in_root(ifupdown::INTERFACES)?;
    let current = read_text(root, &path)?;
    if current.as_deref().is_some_and(ifupdown::sources_directory) {
        return Ok(());
    }
    let mut text = current
        .unwrap_or_else(|| "# interfaces(5) file used by ifup(8) and ifdown(8)\n".to_owned());
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(ifupdown::SOURCE_LINES);
    root.write_bytes(&path, text.as_bytes(), 0o644)?;
    Ok(())
}

/// One `[Section]` of an INI-style file (networkd's and NetworkManager's).
struct Section {
    name: &'static str,
    entries: Vec<(&'static str, String)>,
}

impl Section {
    fn new(name: &'static str) -> Self {
        Section {
            name,
            entries: Vec::new(),
        }
    }

    fn set(&mut self, key: &'static str, value: impl Display) {
        self.entries.push((key, value.to_string()));
    }
}

fn write_sections(text: &mut String, sections: impl IntoIterator<Item = Section>) {
    for section in sections {
        text.push_str(&format!("\n[{}]\n", section.name));
        for (key, value) in section.entries {
            text.push_str(&format!("{key}={value}\n"));
        }
    }
}

/// The comment every file written starts with: where it came from.
fn header(interface: &Interface) -> String {
    format!(
        "# Written by livecompose from the kickstart line\n# {}\n",
        interface.line
    )
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
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::*;
    use crate::kickstart::commands::BootProto;

    /// The `(section, key, value)` entries of an INI-style file, in order,
    /// read the way networkd and GKeyFile read them: every line is blank, a
    /// comment, a `[Section]` or a `Key=value` inside a section.
    pub(super) fn parse_ini(text: &str) -> Vec<(String, String, String)> {
        let mut section: Option<String> = None;
        let mut entries = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[') {
                let name = name
                    .strip_suffix(']')
                    .unwrap_or_else(|| panic!("bad section {line:?}"));
                assert!(!name.is_empty() && !name.contains(['[', ']']), "{line:?}");
                section = Some(name.to_owned());
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("no '=' in {line:?}"));
            assert!(
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "bad key in {line:?}"
            );
            assert_eq!(value.trim(), value, "stray blanks in {line:?}");
            let section = section
                .clone()
                .unwrap_or_else(|| panic!("{line:?} before any section"));
            entries.push((section, key.to_owned(), value.to_owned()));
        }
        entries
    }

    fn root() -> (tempfile::TempDir, RootFs) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = RootFs::open(dir.path()).expect("root");
        (dir, root)
    }

    /// An image root holding `programs` (empty files are enough to be
    /// found), with Debian's merged /usr: `/lib` and `/sbin` are links.
    fn image(programs: &[&str]) -> (tempfile::TempDir, RootFs) {
        let (dir, root) = root();
        for directory in ["usr/lib", "usr/sbin"] {
            std::fs::create_dir_all(dir.path().join(directory)).expect("usr");
        }
        std::os::unix::fs::symlink("usr/lib", dir.path().join("lib")).expect("lib");
        std::os::unix::fs::symlink("usr/sbin", dir.path().join("sbin")).expect("sbin");
        for program in programs {
            let path = dir.path().join(program.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("directory");
            std::fs::write(&path, "").expect("program");
        }
        (dir, root)
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn named(hostname: &str) -> Network {
        Network {
            hostname: Some(hostname.to_owned()),
            ..Network::default()
        }
    }

    fn device(device: &str) -> Network {
        Network {
            device: Some(device.to_owned()),
            ..Network::default()
        }
    }

    fn services(enabled: &[&str], disabled: &[&str]) -> Services {
        Services {
            enabled: enabled.iter().map(|s| s.to_string()).collect(),
            disabled: disabled.iter().map(|s| s.to_string()).collect(),
        }
    }

    const NETWORKD: &str = "/lib/systemd/systemd-networkd";
    const NETWORK_MANAGER: &str = "/usr/sbin/NetworkManager";
    const IFUP: &str = "/sbin/ifup";

    #[test]
    fn hostname_and_hosts_are_written() {
        let (dir, root) = root();
        let mut warnings = Vec::new();
        apply(
            &root,
            &[named("first"), named("web1.example.org")],
            None,
            &mut warnings,
        )
        .expect("configured");
        assert_eq!(read(dir.path(), "etc/hostname"), "web1.example.org\n");
        let hosts = read(dir.path(), "etc/hosts");
        assert!(
            hosts.starts_with("127.0.0.1\tlocalhost\n127.0.1.1\tweb1.example.org web1\n::1"),
            "{hosts}"
        );
        assert!(warnings.is_empty());
        assert!(!dir.path().join("etc/systemd").exists());
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
    fn bad_host_names_and_an_image_without_a_network_stack() {
        let (dir, root) = root();
        let mut warnings = Vec::new();
        for bad in ["-x", "a..b", "under_score", &"x".repeat(64)] {
            let error = apply(&root, &[named(bad)], None, &mut warnings).expect_err(bad);
            assert!(
                error.to_string().contains("is not a valid host name"),
                "{error}"
            );
        }
        apply(
            &root,
            &[device("eth0"), device("eth1")],
            None,
            &mut warnings,
        )
        .expect("nothing to write");
        assert_eq!(
            warnings,
            [
                "network: the image has no network stack, so the interface settings (--device, --bootproto, --ip, ...) are not written into it; add one to %packages: systemd-networkd (in the systemd package on Debian 12), network-manager (NetworkManager on Fedora) or ifupdown"
            ]
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("root").count(), 0);
        let error = apply(
            &root,
            &[Network {
                ip: Some("192.0.2.1".to_owned()),
                ..device("eth0")
            }],
            None,
            &mut warnings,
        )
        .expect_err("checked even without a stack");
        assert!(
            error.to_string().contains("needs --bootproto=static"),
            "{error}"
        );
    }

    /// The kickstarts we ship enable systemd-networkd and ask for DHCP on
    /// the interface with a link: they must build without a warning.
    #[test]
    fn the_debian_kickstarts_get_a_networkd_file_and_no_warning() {
        for name in ["debian-minimal.ks", "debian-hypervisor.ks"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("kickstarts")
                .join(name);
            let kickstart = crate::kickstart::parse_file(&path)
                .unwrap_or_else(|e| panic!("{name}: {e:?}"))
                .kickstart;
            let (dir, root) = image(&["/usr/lib/systemd/systemd-networkd"]);
            let mut warnings = Vec::new();
            apply(
                &root,
                &kickstart.network,
                kickstart.services.as_ref().map(|s| &s.value),
                &mut warnings,
            )
            .expect("configured");
            assert!(warnings.is_empty(), "{name}: {warnings:?}");
            let file = read(
                dir.path(),
                "etc/systemd/network/10-livecompose-link.network",
            );
            assert!(
                file.contains("\n[Match]\nType=ether\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n"),
                "{file}"
            );
            assert_eq!(
                std::fs::read_dir(dir.path().join("etc/systemd/network"))
                    .expect("directory")
                    .count(),
                1
            );
            assert!(!read(dir.path(), "etc/hostname").is_empty());
        }
    }

    #[test]
    fn networkmanager_gets_private_keyfiles_link_last() {
        let (dir, root) = image(&[NETWORKD, NETWORK_MANAGER]);
        let mut warnings = Vec::new();
        let lines = [
            Network {
                bootproto: Some(BootProto::Dhcp),
                ..Network::default()
            },
            device("eth1"),
        ];
        apply(&root, &lines, None, &mut warnings).expect("configured");
        assert!(warnings.is_empty(), "{warnings:?}");
        let directory = dir.path().join("etc/NetworkManager/system-connections");
        let mut names: Vec<String> = std::fs::read_dir(&directory)
            .expect("directory")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "10-livecompose-eth1.nmconnection",
                "11-livecompose-link.nmconnection"
            ]
        );
        for name in names {
            let mode = std::fs::metadata(directory.join(&name))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        assert!(
            read(&directory, "10-livecompose-eth1.nmconnection")
                .contains("\ninterface-name=eth1\n")
        );
    }

    #[test]
    fn ifupdown_gets_stanzas_and_the_interfaces_file_sources_them() {
        let (dir, root) = image(&[IFUP]);
        std::fs::create_dir_all(dir.path().join("etc/network")).expect("etc/network");
        std::fs::write(
            dir.path().join("etc/network/interfaces"),
            "auto lo\niface lo inet loopback",
        )
        .expect("interfaces");
        let mut warnings = Vec::new();
        let lines = [Network {
            onboot: Some(false),
            ..device("enp1s0")
        }];
        for _ in 0..2 {
            apply(&root, &lines, None, &mut warnings).expect("configured");
        }
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            read(dir.path(), "etc/network/interfaces"),
            format!(
                "auto lo\niface lo inet loopback\n{}",
                ifupdown::SOURCE_LINES
            )
        );
        let file = read(dir.path(), "etc/network/interfaces.d/10-livecompose-enp1s0");
        assert!(
            file.ends_with("\niface enp1s0 inet dhcp\n\niface enp1s0 inet6 auto\n"),
            "{file}"
        );

        // An image without the file gets the one ifupdown's package makes.
        std::fs::remove_file(dir.path().join("etc/network/interfaces")).expect("removed");
        apply(&root, &lines, None, &mut warnings).expect("configured");
        assert_eq!(
            read(dir.path(), "etc/network/interfaces"),
            format!(
                "# interfaces(5) file used by ifup(8) and ifdown(8)\n{}",
                ifupdown::SOURCE_LINES
            )
        );
    }

    #[test]
    fn the_stack_that_starts_at_boot_is_chosen() {
        let choose = |programs: &[&str], services: Option<&Services>| {
            let (_dir, root) = image(programs);
            let mut warnings = Vec::new();
            let stack = choose_stack(&root, services, &mut warnings).expect("looked");
            (stack, warnings)
        };
        let networkd_on = services(&["ssh", "systemd-networkd.service"], &[]);
        let manager_off = services(&[], &["NetworkManager"]);
        // Installed everywhere, but networkd only starts when enabled.
        assert_eq!(
            choose(&[NETWORKD, NETWORK_MANAGER, IFUP], None),
            (Some(Stack::NetworkManager), vec![])
        );
        assert_eq!(
            choose(&[NETWORKD, IFUP], None),
            (Some(Stack::Ifupdown), vec![])
        );
        assert_eq!(
            choose(&[NETWORKD, IFUP], Some(&networkd_on)),
            (Some(Stack::Networkd), vec![])
        );
        assert_eq!(
            choose(&[NETWORK_MANAGER, IFUP], Some(&manager_off)),
            (Some(Stack::Ifupdown), vec![])
        );
        assert_eq!(choose(&[IFUP], None), (Some(Stack::Ifupdown), vec![]));
        assert_eq!(choose(&[], None), (None, vec![]));
        // Enabled in the image already (a preset, or an overlay).
        assert_eq!(
            choose(
                &[
                    NETWORKD,
                    NETWORK_MANAGER,
                    "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
                ],
                Some(&manager_off)
            ),
            (Some(Stack::Networkd), vec![])
        );
        let (stack, warnings) = choose(&[NETWORKD, NETWORK_MANAGER], Some(&networkd_on));
        assert_eq!(stack, Some(Stack::Networkd));
        assert!(
            warnings[0].contains("add services --disabled=NetworkManager"),
            "{warnings:?}"
        );
        let (stack, warnings) = choose(&[NETWORKD], None);
        assert_eq!(stack, Some(Stack::Networkd));
        assert!(
            warnings[0]
                .contains("installed but not enabled; add services --enabled=systemd-networkd"),
            "{warnings:?}"
        );
    }

    #[test]
    fn name_servers_need_a_resolver_to_reach() {
        let lines = [Network {
            nameservers: vec!["192.0.2.53".to_owned()],
            ..device("eth0")
        }];
        let warnings = |programs: &[&str]| {
            let (_dir, root) = image(programs);
            let networkd_on = services(&["systemd-networkd"], &[]);
            let mut warnings = Vec::new();
            apply(&root, &lines, Some(&networkd_on), &mut warnings).expect("configured");
            warnings
        };
        assert_eq!(
            warnings(&[NETWORKD]),
            [
                "network --device=eth0: systemd-networkd hands --nameserver to systemd-resolved, which the image lacks; add systemd-resolved to %packages"
            ]
        );
        assert!(warnings(&[NETWORKD, "/lib/systemd/systemd-resolved"]).is_empty());
        assert_eq!(
            warnings(&[IFUP]),
            [
                "network --device=eth0: ifupdown hands --nameserver to resolvconf or systemd-resolved, and the image has neither; add resolvconf to %packages"
            ]
        );
        assert!(warnings(&[IFUP, "/sbin/resolvconf"]).is_empty());
        assert!(warnings(&[IFUP, "/usr/lib/systemd/systemd-resolved"]).is_empty());
    }
}
