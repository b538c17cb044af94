//! systemd-networkd: one `.network` file per interface, in
//! `/etc/systemd/network/`. Every key used here exists in systemd 252
//! (Debian 12), the oldest systemd we build images with.

use super::interface::{Device, Interface, Ipv4, Ipv6};
use super::{Section, header, write_sections};

/// The directory networkd reads administrator files from.
pub(super) const DIRECTORY: &str = "/etc/systemd/network";

/// The `.network` file for `interface`.
pub(super) fn file(interface: &Interface) -> String {
    let mut matching = Section::new("Match");
    match &interface.device {
        Device::Link => {
            // networkd cannot match "the first interface with a link", so
            // every wired Ethernet interface gets the settings, and the one
            // with a cable is configured: what `link` means. Type=ether
            // alone would also catch the veth and tap interfaces containers
            // and virtual machines add later; their names start otherwise.
            matching.set("Type", "ether");
            matching.set("Name", "en* eth*");
        }
        Device::Name(name) => matching.set("Name", name),
        Device::Mac(mac) => {
            // Bridges, bonds and VLANs take their port's MAC address;
            // Type=ether keeps them out of the match.
            matching.set("MACAddress", mac);
            matching.set("Type", "ether");
        }
    }

    let mut link = Section::new("Link");
    if let Some(mtu) = interface.mtu {
        link.set("MTUBytes", mtu);
    }
    if !interface.onboot {
        // The link is left down until someone brings it up; networkd then
        // configures it as usual.
        link.set("ActivationPolicy", "manual");
    }

    let mut network = Section::new("Network");
    let dhcp4 = interface.ipv4 == Ipv4::Dhcp;
    let dhcp6 = interface.ipv6 == Ipv6::Dhcp;
    match (dhcp4, dhcp6) {
        (true, true) => network.set("DHCP", "yes"),
        (true, false) => network.set("DHCP", "ipv4"),
        (false, true) => network.set("DHCP", "ipv6"),
        (false, false) => {}
    }
    if let Ipv4::Static {
        address,
        prefix,
        gateway,
    } = &interface.ipv4
    {
        network.set("Address", format!("{address}/{prefix}"));
        if let Some(gateway) = gateway {
            network.set("Gateway", gateway);
        }
    }
    if let Ipv6::Static {
        address,
        prefix,
        gateway,
    } = &interface.ipv6
    {
        network.set("Address", format!("{address}/{prefix}"));
        if let Some(gateway) = gateway {
            network.set("Gateway", gateway);
        }
    }
    for server in &interface.nameservers {
        network.set("DNS", server);
    }
    match interface.ipv6 {
        // Said explicitly: networkd's default turns router advertisements
        // off when the machine forwards packets (a hypervisor often does).
        Ipv6::Auto | Ipv6::Dhcp => network.set("IPv6AcceptRA", "yes"),
        Ipv6::Static { .. } => network.set("IPv6AcceptRA", "no"),
        Ipv6::Off => {
            // Without a link-local address the interface has no IPv6 at all.
            network.set("LinkLocalAddressing", "no");
            network.set("IPv6AcceptRA", "no");
        }
    }

    let mut dhcpv4 = Section::new("DHCPv4");
    if dhcp4 {
        if interface.ignore_auto_dns {
            dhcpv4.set("UseDNS", "no");
        }
        if interface.never_default {
            dhcpv4.set("UseGateway", "no");
        }
    }

    let mut dhcpv6 = Section::new("DHCPv6");
    if dhcp6 {
        // Ask a DHCPv6 server at once instead of waiting for a router to
        // say there is one.
        dhcpv6.set("WithoutRA", "solicit");
    }
    let mut accept_ra = Section::new("IPv6AcceptRA");
    if matches!(interface.ipv6, Ipv6::Auto | Ipv6::Dhcp) {
        if dhcp6 {
            // Routes from router advertisements, but addresses from DHCPv6
            // only.
            accept_ra.set("UseAutonomousPrefix", "no");
        }
        if interface.ignore_auto_dns {
            // Router advertisements can start DHCPv6 with --ipv6=auto too.
            dhcpv6.set("UseDNS", "no");
            accept_ra.set("UseDNS", "no");
        }
        if interface.never_default {
            accept_ra.set("UseGateway", "no");
        }
    }

    let mut text = header(interface);
    // A section without keys would only be noise.
    write_sections(
        &mut text,
        [matching, link, network, dhcpv4, dhcpv6, accept_ra]
            .into_iter()
            .filter(|section| !section.entries.is_empty()),
    );
    text
}

#[cfg(test)]
mod tests {
    use super::super::interface::interfaces;
    use super::super::tests::parse_ini;
    use super::*;
    use crate::kickstart::commands::{BootProto, Network};

    /// Every key of a `[Section]` the writer may use, as systemd 252's
    /// networkd knows them (checked against the strings of its parser
    /// table): a misspelt key would only be a warning in the journal.
    const KNOWN: &[(&str, &[&str])] = &[
        ("Match", &["Name", "Type", "MACAddress"]),
        ("Link", &["MTUBytes", "ActivationPolicy"]),
        (
            "Network",
            &[
                "DHCP",
                "Address",
                "Gateway",
                "DNS",
                "IPv6AcceptRA",
                "LinkLocalAddressing",
            ],
        ),
        ("DHCPv4", &["UseDNS", "UseGateway"]),
        ("DHCPv6", &["WithoutRA", "UseDNS"]),
        (
            "IPv6AcceptRA",
            &["UseAutonomousPrefix", "UseDNS", "UseGateway"],
        ),
    ];

    /// `network` as networkd would read it, every key checked against
    /// [`KNOWN`] and every value against what the key takes.
    fn written(network: Network) -> (String, Vec<(String, String, String)>) {
        let mut warnings = Vec::new();
        let found = interfaces(&[network], &mut warnings).expect("valid");
        let text = file(&found[0]);
        let entries = parse_ini(&text);
        for (section, key, value) in &entries {
            let known = KNOWN
                .iter()
                .find(|(name, _)| name == section)
                .unwrap_or_else(|| panic!("unknown section [{section}] in\n{text}"));
            assert!(known.1.contains(&key.as_str()), "unknown {section}.{key}");
            let fine = match key.as_str() {
                "DHCP" => ["yes", "ipv4", "ipv6"].contains(&value.as_str()),
                "ActivationPolicy" => value == "manual",
                "WithoutRA" => value == "solicit",
                "Type" => value == "ether",
                "MTUBytes" => value.parse::<u32>().is_ok(),
                "Address" => value.split_once('/').is_some_and(|(a, p)| {
                    a.parse::<std::net::IpAddr>().is_ok() && p.parse::<u8>().is_ok()
                }),
                "Gateway" | "DNS" => value.parse::<std::net::IpAddr>().is_ok(),
                "Name" | "MACAddress" => !value.is_empty(),
                _ => ["yes", "no"].contains(&value.as_str()),
            };
            assert!(fine, "{section}.{key}={value}");
        }
        (text, entries)
    }

    fn keys(entries: &[(String, String, String)]) -> Vec<String> {
        entries
            .iter()
            .map(|(section, key, value)| format!("{section}.{key}={value}"))
            .collect()
    }

    #[test]
    fn dhcp_on_the_interface_with_a_link() {
        // debian-minimal.ks and debian-hypervisor.ks.
        let (text, _) = written(Network {
            bootproto: Some(BootProto::Dhcp),
            device: Some("link".to_owned()),
            activate: Some(true),
            hostname: Some("debian-live".to_owned()),
            ..Network::default()
        });
        assert_eq!(
            text,
            "# Written by livecompose from the kickstart line\n\
             # network --device=link --bootproto=dhcp --hostname=debian-live --activate\n\
             \n\
             [Match]\n\
             Type=ether\n\
             Name=en* eth*\n\
             \n\
             [Network]\n\
             DHCP=ipv4\n\
             IPv6AcceptRA=yes\n"
        );
    }

    #[test]
    fn static_addresses_by_mac() {
        let (_, entries) = written(Network {
            device: Some("52:54:00:12:34:56".to_owned()),
            bootproto: Some(BootProto::Static),
            ip: Some("192.0.2.10".to_owned()),
            netmask: Some("255.255.255.0".to_owned()),
            gateway: Some("192.0.2.1".to_owned()),
            nameservers: vec!["192.0.2.53".to_owned(), "2001:db8::53".to_owned()],
            ipv6: Some("2001:db8::10/64".to_owned()),
            ipv6gateway: Some("2001:db8::1".to_owned()),
            mtu: Some(9000),
            onboot: Some(false),
            ..Network::default()
        });
        assert_eq!(
            keys(&entries),
            [
                "Match.MACAddress=52:54:00:12:34:56",
                "Match.Type=ether",
                "Link.MTUBytes=9000",
                "Link.ActivationPolicy=manual",
                "Network.Address=192.0.2.10/24",
                "Network.Gateway=192.0.2.1",
                "Network.Address=2001:db8::10/64",
                "Network.Gateway=2001:db8::1",
                "Network.DNS=192.0.2.53",
                "Network.DNS=2001:db8::53",
                "Network.IPv6AcceptRA=no",
            ]
        );
    }

    #[test]
    fn dhcpv6_without_dns_or_default_route() {
        let (_, entries) = written(Network {
            device: Some("eth0".to_owned()),
            ipv6: Some("dhcp".to_owned()),
            nodns: true,
            nodefroute: true,
            ..Network::default()
        });
        assert_eq!(
            keys(&entries),
            [
                "Match.Name=eth0",
                "Network.DHCP=yes",
                "Network.IPv6AcceptRA=yes",
                "DHCPv4.UseDNS=no",
                "DHCPv4.UseGateway=no",
                "DHCPv6.WithoutRA=solicit",
                "DHCPv6.UseDNS=no",
                "IPv6AcceptRA.UseAutonomousPrefix=no",
                "IPv6AcceptRA.UseDNS=no",
                "IPv6AcceptRA.UseGateway=no",
            ]
        );
    }

    #[test]
    fn no_ipv6_and_static_ipv6_only() {
        let (_, entries) = written(Network {
            device: Some("eth0".to_owned()),
            noipv6: true,
            ..Network::default()
        });
        assert_eq!(
            keys(&entries),
            [
                "Match.Name=eth0",
                "Network.DHCP=ipv4",
                "Network.LinkLocalAddressing=no",
                "Network.IPv6AcceptRA=no",
            ]
        );
        let (_, entries) = written(Network {
            device: Some("eth0".to_owned()),
            bootproto: Some(BootProto::Static),
            ipv6: Some("2001:db8::10/64".to_owned()),
            ..Network::default()
        });
        assert_eq!(
            keys(&entries),
            [
                "Match.Name=eth0",
                "Network.Address=2001:db8::10/64",
                "Network.IPv6AcceptRA=no",
            ]
        );
    }
}
