//! NetworkManager: one keyfile connection profile per interface, in
//! `/etc/NetworkManager/system-connections/`. NetworkManager ignores a
//! keyfile anyone but root may read, so they are written 0600.

use std::fmt::Write as _;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::interface::{Device, Interface, Ipv4, Ipv6};
use super::{Section, header, write_sections};

pub(super) const DIRECTORY: &str = "/etc/NetworkManager/system-connections";

/// The profile for `interface`, stored as `<stem>.nmconnection`.
pub(super) fn file(interface: &Interface, stem: &str) -> String {
    let mut connection = Section::new("connection");
    connection.set("id", format!("livecompose-{}", interface.device.slug()));
    connection.set("uuid", uuid(stem));
    connection.set("type", "ethernet");
    let mut ethernet = Section::new("ethernet");
    match &interface.device {
        // A profile bound to no device is activated on one Ethernet
        // interface at a time, the first to get a link: what `link` means.
        // Its lower priority lets the profiles of named interfaces win.
        Device::Link => connection.set("autoconnect-priority", -1),
        Device::Name(name) => connection.set("interface-name", name),
        Device::Mac(mac) => ethernet.set("mac-address", mac),
    }
    if !interface.onboot {
        connection.set("autoconnect", "false");
    }
    if let Some(mtu) = interface.mtu {
        ethernet.set("mtu", mtu);
    }

    let mut ipv4 = Section::new("ipv4");
    match &interface.ipv4 {
        Ipv4::Dhcp => ipv4.set("method", "auto"),
        Ipv4::Static {
            address,
            prefix,
            gateway,
        } => {
            ipv4.set("method", "manual");
            ipv4.set("address1", format!("{address}/{prefix}"));
            if let Some(gateway) = gateway {
                ipv4.set("gateway", gateway);
            }
        }
        Ipv4::Off => ipv4.set("method", "disabled"),
    }
    let mut ipv6 = Section::new("ipv6");
    match &interface.ipv6 {
        Ipv6::Auto => ipv6.set("method", "auto"),
        Ipv6::Dhcp => ipv6.set("method", "dhcp"),
        Ipv6::Static {
            address,
            prefix,
            gateway,
        } => {
            ipv6.set("method", "manual");
            ipv6.set("address1", format!("{address}/{prefix}"));
            if let Some(gateway) = gateway {
                ipv6.set("gateway", gateway);
            }
        }
        Ipv6::Off => ipv6.set("method", "disabled"),
    }
    // Each family's name servers go with that family.
    let servers = |v4: bool| {
        interface
            .nameservers
            .iter()
            .filter(|server| matches!(server, IpAddr::V4(_)) == v4)
            .fold(String::new(), |mut list, server| {
                let _ = write!(list, "{server};");
                list
            })
    };
    for (section, servers, dynamic, enabled) in [
        (
            &mut ipv4,
            servers(true),
            interface.ipv4 == Ipv4::Dhcp,
            interface.ipv4 != Ipv4::Off,
        ),
        (
            &mut ipv6,
            servers(false),
            matches!(interface.ipv6, Ipv6::Auto | Ipv6::Dhcp),
            interface.ipv6 != Ipv6::Off,
        ),
    ] {
        if !servers.is_empty() {
            section.set("dns", servers);
        }
        if dynamic && interface.ignore_auto_dns {
            section.set("ignore-auto-dns", "true");
        }
        if enabled && interface.never_default {
            section.set("never-default", "true");
        }
    }

    let mut text = header(interface);
    write_sections(&mut text, [connection, ethernet, ipv4, ipv6]);
    text
}

/// A UUID derived from the file's name, so that building the same
/// kickstart twice gives the same image: the first 16 bytes of a SHA-256,
/// marked as an RFC 9562 version 8 (custom) UUID.
fn uuid(stem: &str) -> String {
    let digest = Sha256::digest(format!("livecompose network {stem}").as_bytes());
    crate::derived_uuid::from_digest(&digest)
}

#[cfg(test)]
mod tests {
    use super::super::interface::interfaces;
    use super::super::tests::parse_ini;
    use super::*;
    use crate::kickstart::commands::{BootProto, Network};

    /// `network` as NetworkManager reads it: GKeyFile keeps only the last of
    /// a repeated key, so sections and keys must be unique.
    fn written(network: Network) -> Vec<String> {
        let mut warnings = Vec::new();
        let found = interfaces(&[network], &mut warnings).expect("valid");
        let text = file(&found[0], "10-livecompose-x");
        let entries = parse_ini(&text);
        let mut seen = std::collections::HashSet::new();
        for (section, key, _) in &entries {
            assert!(
                seen.insert((section, key)),
                "{section}.{key} twice in\n{text}"
            );
        }
        entries
            .into_iter()
            .map(|(section, key, value)| format!("{section}.{key}={value}"))
            .collect()
    }

    #[test]
    fn dhcp_on_the_interface_with_a_link() {
        assert_eq!(
            written(Network {
                bootproto: Some(BootProto::Dhcp),
                device: Some("link".to_owned()),
                ..Network::default()
            }),
            [
                "connection.id=livecompose-link",
                "connection.uuid=2e72a04a-cdb8-8ae1-a77f-a6b0d0fdf2da",
                "connection.type=ethernet",
                "connection.autoconnect-priority=-1",
                "ipv4.method=auto",
                "ipv6.method=auto",
            ]
        );
    }

    #[test]
    fn static_addresses_on_a_named_interface() {
        assert_eq!(
            written(Network {
                device: Some("enp1s0".to_owned()),
                bootproto: Some(BootProto::Static),
                ip: Some("192.0.2.10".to_owned()),
                netmask: Some("24".to_owned()),
                gateway: Some("192.0.2.1".to_owned()),
                nameservers: vec![
                    "192.0.2.53".to_owned(),
                    "2001:db8::53".to_owned(),
                    "192.0.2.54".to_owned()
                ],
                ipv6: Some("2001:db8::10/64".to_owned()),
                ipv6gateway: Some("2001:db8::1".to_owned()),
                onboot: Some(false),
                mtu: Some(1400),
                ..Network::default()
            })[2..],
            [
                "connection.type=ethernet",
                "connection.interface-name=enp1s0",
                "connection.autoconnect=false",
                "ethernet.mtu=1400",
                "ipv4.method=manual",
                "ipv4.address1=192.0.2.10/24",
                "ipv4.gateway=192.0.2.1",
                "ipv4.dns=192.0.2.53;192.0.2.54;",
                "ipv6.method=manual",
                "ipv6.address1=2001:db8::10/64",
                "ipv6.gateway=2001:db8::1",
                "ipv6.dns=2001:db8::53;",
            ]
        );
    }

    #[test]
    fn dhcp_by_mac_without_dns_default_route_or_ipv6() {
        assert_eq!(
            written(Network {
                device: Some("52:54:00:12:34:56".to_owned()),
                nodns: true,
                nodefroute: true,
                noipv6: true,
                ..Network::default()
            })[2..],
            [
                "connection.type=ethernet",
                "ethernet.mac-address=52:54:00:12:34:56",
                "ipv4.method=auto",
                "ipv4.ignore-auto-dns=true",
                "ipv4.never-default=true",
                "ipv6.method=disabled",
            ]
        );
        assert_eq!(
            written(Network {
                device: Some("eth0".to_owned()),
                ipv6: Some("dhcp".to_owned()),
                bootproto: Some(BootProto::Static),
                nodns: true,
                ..Network::default()
            })[4..],
            [
                "ipv4.method=disabled",
                "ipv6.method=dhcp",
                "ipv6.ignore-auto-dns=true",
            ]
        );
    }

    #[test]
    fn uuids_are_well_formed_and_differ_per_file() {
        let first = uuid("10-livecompose-eth0");
        assert_eq!(first, uuid("10-livecompose-eth0"));
        assert_ne!(first, uuid("11-livecompose-eth0"));
        let groups: Vec<usize> = first.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(first.as_bytes()[14], b'8', "{first}");
        assert!(
            matches!(first.as_bytes()[19], b'8' | b'9' | b'a' | b'b'),
            "{first}"
        );
    }
}
