//! ifupdown: one file of `interfaces(5)` stanzas per interface, in
//! `/etc/network/interfaces.d/`, which `/etc/network/interfaces` sources.

use std::fmt::Write as _;

use super::header;
use super::interface::{Device, Interface, Ipv4, Ipv6};

pub(super) const DIRECTORY: &str = "/etc/network/interfaces.d";
pub(super) const INTERFACES: &str = "/etc/network/interfaces";

/// What ifupdown's package writes into a new `/etc/network/interfaces`.
pub(super) const SOURCE_LINES: &str =
    "# Include files from /etc/network/interfaces.d:\nsource /etc/network/interfaces.d/*\n";

/// Whether `interfaces` reads the files of `/etc/network/interfaces.d`.
pub(super) fn sources_directory(interfaces: &str) -> bool {
    interfaces.lines().any(|line| {
        let mut words = line.split_whitespace();
        matches!(words.next(), Some("source" | "source-directory"))
            && words.next().is_some_and(|path| {
                let directory = path.trim_end_matches('*').trim_end_matches('/');
                directory == DIRECTORY || directory == "interfaces.d"
            })
    })
}

/// The stanzas for `interface`, and the warnings for what ifupdown cannot
/// do.
pub(super) fn file(interface: &Interface) -> (String, Vec<String>) {
    let mut warnings = Vec::new();
    let label = &interface.label;
    // A device ifupdown must find at boot is matched with a pattern and
    // given a logical name its stanzas use.
    let (logical, pattern) = match &interface.device {
        Device::Name(name) => (name.clone(), name.clone()),
        Device::Link => {
            warnings.push(format!(
                "{label}: ifupdown cannot wait for a link, so the first interface named en* or eth* is configured"
            ));
            let logical = format!("livecompose-{}", interface.device.slug());
            // `/e[nt]*/1`: the first interface whose name matches, the
            // names networkd's `link` matches too (wireless ones start wl).
            let pattern = format!("/e[nt]*/1={logical}");
            (logical, pattern)
        }
        Device::Mac(mac) => {
            let logical = format!("livecompose-{}", interface.device.slug());
            // `/1`: a bridge or VLAN on the interface has its MAC too.
            let pattern = format!("mac/{mac}/1={logical}");
            (logical, pattern)
        }
    };

    let mut stanzas: Vec<String> = Vec::new();
    match &interface.ipv4 {
        Ipv4::Dhcp => stanzas.push(format!("iface {logical} inet dhcp\n")),
        Ipv4::Static {
            address,
            prefix,
            gateway,
        } => stanzas.push(static_stanza(&logical, "inet", address, *prefix, gateway)),
        Ipv4::Off => {}
    }
    match &interface.ipv6 {
        Ipv6::Auto => stanzas.push(format!("iface {logical} inet6 auto\n")),
        Ipv6::Dhcp => stanzas.push(format!("iface {logical} inet6 dhcp\n")),
        Ipv6::Static {
            address,
            prefix,
            gateway,
        } => stanzas.push(static_stanza(&logical, "inet6", address, *prefix, gateway)),
        Ipv6::Off => warnings.push(format!(
            "{label}: --noipv6 is not honoured by ifupdown: the kernel still configures IPv6 from router advertisements"
        )),
    }
    // Options of the interface as a whole go into its first stanza (the
    // parser makes sure there is one: --bootproto=static without --ip needs
    // --ipv6).
    if let Some(first) = stanzas.first_mut() {
        if !interface.nameservers.is_empty() {
            let servers: Vec<String> = interface
                .nameservers
                .iter()
                .map(|s| s.to_string())
                .collect();
            let _ = writeln!(first, "\tdns-nameservers {}", servers.join(" "));
        }
        if let Some(mtu) = interface.mtu {
            // The dhcp and auto methods have no mtu option; ifupdown needs
            // iproute2 anyway.
            let _ = writeln!(first, "\tpre-up ip link set dev $IFACE mtu {mtu}");
        }
    }
    if interface.dynamic() {
        if interface.ignore_auto_dns {
            warnings.push(format!(
                "{label}: --nodns is not honoured by ifupdown: name servers from DHCP are used"
            ));
        }
        if interface.never_default {
            warnings.push(format!(
                "{label}: --nodefroute is not honoured by ifupdown: a default route from DHCP or router advertisements is used"
            ));
        }
    }

    let mut text = header(interface);
    text.push('\n');
    if interface.onboot {
        // `auto`, not `allow-hotplug`: networking.service brings it up at
        // boot (patterns are matched then), and network-online.target waits
        // for it.
        let _ = writeln!(text, "auto {pattern}");
    }
    text.push_str(&stanzas.join("\n"));
    (text, warnings)
}

fn static_stanza(
    logical: &str,
    family: &str,
    address: &impl std::fmt::Display,
    prefix: u8,
    gateway: &Option<impl std::fmt::Display>,
) -> String {
    let mut stanza = format!("iface {logical} {family} static\n\taddress {address}/{prefix}\n");
    if let Some(gateway) = gateway {
        let _ = writeln!(stanza, "\tgateway {gateway}");
    }
    stanza
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::super::interface::interfaces;
    use super::*;
    use crate::kickstart::commands::{BootProto, Network};

    fn written(network: Network) -> (String, Vec<String>) {
        let mut warnings = Vec::new();
        let found = interfaces(&[network], &mut warnings).expect("valid");
        assert!(warnings.is_empty());
        file(&found[0])
    }

    /// ifupdown's own parser, as an oracle: what `ifquery` says the
    /// stanzas of `logical` hold, or its error.
    fn ifquery(text: &str, query: &str) -> Result<String, String> {
        let program = ["/usr/sbin/ifquery", "/sbin/ifquery"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "ifquery is missing: install the Debian package ifupdown (tests/install-deps)"
                )
            });
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("interfaces");
        std::fs::write(&path, text).expect("written");
        let output = Command::new(program)
            .arg("-i")
            .arg(&path)
            .arg(format!("--state-dir={}", dir.path().display()))
            .arg(query)
            .output()
            .expect("ifquery runs");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    #[test]
    fn dhcp_on_the_interface_with_a_link() {
        let (text, warnings) = written(Network {
            bootproto: Some(BootProto::Dhcp),
            device: Some("link".to_owned()),
            mtu: Some(9000),
            ..Network::default()
        });
        assert_eq!(
            text,
            "# Written by livecompose from the kickstart line\n\
             # network --device=link --bootproto=dhcp --mtu=9000\n\
             \n\
             auto /e[nt]*/1=livecompose-link\n\
             iface livecompose-link inet dhcp\n\
             \tpre-up ip link set dev $IFACE mtu 9000\n\
             \n\
             iface livecompose-link inet6 auto\n"
        );
        assert_eq!(
            warnings,
            [
                "network --device=link: ifupdown cannot wait for a link, so the first interface named en* or eth* is configured"
            ]
        );
        let parsed = ifquery(&text, "eth7=livecompose-link").expect("ifquery parses it");
        assert!(
            parsed.contains("pre-up: ip link set dev $IFACE mtu 9000\n"),
            "{parsed}"
        );
        assert!(parsed.contains("accept_ra: 2\n"), "{parsed}");
    }

    #[test]
    fn static_addresses_by_mac_not_brought_up_at_boot() {
        let (text, warnings) = written(Network {
            device: Some("52:54:00:12:34:56".to_owned()),
            bootproto: Some(BootProto::Static),
            ip: Some("192.0.2.10".to_owned()),
            netmask: Some("255.255.255.0".to_owned()),
            gateway: Some("192.0.2.1".to_owned()),
            nameservers: vec!["192.0.2.53".to_owned(), "2001:db8::53".to_owned()],
            ipv6: Some("2001:db8::10/64".to_owned()),
            ipv6gateway: Some("2001:db8::1".to_owned()),
            onboot: Some(false),
            ..Network::default()
        });
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(!text.contains("auto "), "{text}");
        let parsed = ifquery(&text, "eth0=livecompose-mac-525400123456").expect("parses");
        for option in [
            "address: 192.0.2.10\n",
            "netmask: 255.255.255.0\n",
            "gateway: 192.0.2.1\n",
            "dns-nameservers: 192.0.2.53 2001:db8::53\n",
            "address: 2001:db8::10\n",
            "netmask: 64\n",
            "gateway: 2001:db8::1\n",
        ] {
            assert!(parsed.contains(option), "{option} missing from\n{parsed}");
        }
        // With `auto`, the MAC pattern must parse too.
        let (text, _) = written(Network {
            device: Some("52:54:00:12:34:56".to_owned()),
            ipv6: Some("dhcp".to_owned()),
            ..Network::default()
        });
        assert!(text.contains("\nauto mac/52:54:00:12:34:56/1=livecompose-mac-525400123456\n"));
        let parsed = ifquery(&text, "eth0=livecompose-mac-525400123456").expect("parses");
        assert!(parsed.contains("request_prefix: 0\n"), "{parsed}");
        // The oracle does refuse a broken file.
        assert!(ifquery("iface eth0 inet nonsense\n", "eth0").is_err());
    }

    #[test]
    fn what_ifupdown_cannot_do_is_a_warning() {
        let (text, warnings) = written(Network {
            device: Some("eth0".to_owned()),
            nodns: true,
            nodefroute: true,
            noipv6: true,
            ..Network::default()
        });
        assert!(
            text.ends_with("\nauto eth0\niface eth0 inet dhcp\n"),
            "{text}"
        );
        assert_eq!(
            warnings,
            [
                "network --device=eth0: --noipv6 is not honoured by ifupdown: the kernel still configures IPv6 from router advertisements",
                "network --device=eth0: --nodns is not honoured by ifupdown: name servers from DHCP are used",
                "network --device=eth0: --nodefroute is not honoured by ifupdown: a default route from DHCP or router advertisements is used",
            ]
        );
        ifquery(&text, "eth0").expect("parses");
    }

    #[test]
    fn the_interfaces_file_must_source_the_directory() {
        assert!(sources_directory(&format!("# x\n{SOURCE_LINES}")));
        assert!(sources_directory(
            "source-directory /etc/network/interfaces.d\n"
        ));
        assert!(sources_directory("source interfaces.d/*\n"));
        assert!(!sources_directory(
            "# source /etc/network/interfaces.d/*\nauto lo\n"
        ));
        assert!(!sources_directory("source /etc/network/other/*\n"));
    }
}
