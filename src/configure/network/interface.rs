//! The interface settings of `network` lines, checked once and resolved into
//! one description every network stack's writer only has to format.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::configure::ConfigureError;
use crate::kickstart::commands::{BootProto, Command, Network};

/// Which interface a line configures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Device {
    /// `--device=link`, or no `--device` on the first line: the first
    /// interface that has a link.
    Link,
    /// An interface name, e.g. `eth0` or `enp1s0`.
    Name(String),
    /// A MAC address, lower case and colon-separated as sysfs shows it.
    Mac(String),
}

impl Device {
    /// The device in a form fit for a file name: letters, digits, `-` and
    /// `_` only, which is what ifupdown's `source-directory` accepts.
    pub(super) fn slug(&self) -> String {
        match self {
            Device::Link => "link".to_owned(),
            Device::Name(name) => name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect(),
            Device::Mac(mac) => format!("mac-{}", mac.replace(':', "")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Ipv4 {
    Dhcp,
    Static {
        address: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
    },
    /// `--bootproto=static` with only `--ipv6`.
    Off,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Ipv6 {
    /// Router advertisements (SLAAC, and DHCPv6 when they ask for it):
    /// `--ipv6=auto`, and Anaconda's default.
    Auto,
    /// DHCPv6 only, no SLAAC address.
    Dhcp,
    Static {
        address: Ipv6Addr,
        prefix: u8,
        gateway: Option<Ipv6Addr>,
    },
    /// `--noipv6`.
    Off,
}

/// One interface, as a `network` line describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Interface {
    pub device: Device,
    pub ipv4: Ipv4,
    pub ipv6: Ipv6,
    pub nameservers: Vec<IpAddr>,
    /// `--nodns`: name servers from DHCP and router advertisements are not
    /// used (those given with `--nameserver` still are).
    pub ignore_auto_dns: bool,
    /// `--nodefroute`: the interface never gets the default route.
    pub never_default: bool,
    pub mtu: Option<u32>,
    /// `--onboot`: whether the interface is brought up at boot.
    pub onboot: bool,
    /// `network --device=...` as the kickstart says it, for messages.
    pub label: String,
    /// The whole kickstart line, for a comment in the file written.
    pub line: String,
}

impl Interface {
    /// Whether an address or a route may come from the network
    /// (DHCP or router advertisements), which `--nodns` and
    /// `--nodefroute` are about.
    pub(super) fn dynamic(&self) -> bool {
        self.ipv4 == Ipv4::Dhcp || matches!(self.ipv6, Ipv6::Auto | Ipv6::Dhcp)
    }
}

/// Files are numbered from 10 in a two-digit prefix, so they sort in the
/// order written; 90 lines is far more than any machine has interfaces.
pub(super) const MAX_INTERFACES: usize = 90;

/// The interfaces `lines` configure, in the order their files must sort:
/// the kickstart's order, except that `link` comes last. A `link` file
/// matches every wired interface, and networkd applies the first file that
/// matches, so it must not hide the files for named interfaces.
///
/// Lines with options livecompose cannot honour are left out with a warning.
pub(super) fn interfaces(
    lines: &[Network],
    warnings: &mut Vec<String>,
) -> Result<Vec<Interface>, ConfigureError> {
    let mut found: Vec<Interface> = Vec::new();
    for (index, line) in lines.iter().filter(|l| configures_interface(l)).enumerate() {
        let label = line
            .device
            .as_ref()
            .map_or_else(|| "network".to_owned(), |d| format!("network --device={d}"));
        let unsupported = unsupported_options(line);
        if !unsupported.is_empty() {
            warnings.push(format!(
                "{label}: {} not supported (livecompose writes plain Ethernet interfaces only), so this line is not written into the image; create the VLAN, bond or bridge in an overlay or %post",
                unsupported.join(", ")
            ));
            continue;
        }
        let device = match &line.device {
            Some(device) => parse_device(device)?,
            // As in Anaconda, only the first line may leave the device out.
            None if index == 0 => Device::Link,
            None => {
                return Err(invalid(
                    &label,
                    "--device is missing; only the first network line that configures an interface may leave it out (it then means --device=link)",
                ));
            }
        };
        if found.iter().any(|other| other.device == device) {
            return Err(invalid(
                &label,
                "this device is already configured by an earlier network line",
            ));
        }
        found.push(interface(line, device, label, warnings)?);
    }
    if found.len() > MAX_INTERFACES {
        return Err(ConfigureError::invalid(
            "network",
            format!(
                "{} lines configure interfaces; at most {MAX_INTERFACES} are supported",
                found.len()
            ),
        ));
    }
    // A stable sort keeps the kickstart's order among the others.
    found.sort_by_key(|i| i.device == Device::Link);
    Ok(found)
}

/// Whether `line` says anything about an interface; `network --hostname=x`
/// alone does not, and neither does `--activate`, which only matters to an
/// installer that is running on the machine.
fn configures_interface(line: &Network) -> bool {
    line.device.is_some()
        || line.bootproto.is_some()
        || line.onboot.is_some()
        || line.ip.is_some()
        || line.netmask.is_some()
        || line.gateway.is_some()
        || !line.nameservers.is_empty()
        || line.ipv6.is_some()
        || line.ipv6gateway.is_some()
        || line.noipv6
        || line.nodns
        || line.nodefroute
        || line.mtu.is_some()
        || !unsupported_options(line).is_empty()
}

/// The options given on `line` that make a VLAN, bond or bridge.
fn unsupported_options(line: &Network) -> Vec<&'static str> {
    [
        ("--vlanid", line.vlanid.is_some()),
        ("--interfacename", line.interfacename.is_some()),
        ("--bondslaves", !line.bondslaves.is_empty()),
        ("--bondopts", line.bondopts.is_some()),
        ("--bridgeslaves", !line.bridgeslaves.is_empty()),
        ("--bridgeopts", line.bridgeopts.is_some()),
    ]
    .into_iter()
    .filter_map(|(option, given)| given.then_some(option))
    .collect()
}

fn invalid(label: &str, message: impl std::fmt::Display) -> ConfigureError {
    // `label` starts with the command name, which the error adds itself.
    let options = label.strip_prefix("network").unwrap_or(label).trim_start();
    if options.is_empty() {
        ConfigureError::invalid("network", message.to_string())
    } else {
        ConfigureError::invalid("network", format!("{options}: {message}"))
    }
}

fn parse_device(device: &str) -> Result<Device, ConfigureError> {
    let label = format!("network --device={device}");
    if device == "link" {
        return Ok(Device::Link);
    }
    if device == "bootif" || device == "ibft" {
        return Err(invalid(
            &label,
            "names the interface the installer itself booted from, which an image cannot know; use link, an interface name or a MAC address",
        ));
    }
    if let Some(mac) = parse_mac(device) {
        return Ok(Device::Mac(mac));
    }
    // Linux allows 15 bytes; the characters are the ones names are made of
    // in practice, which keeps them safe in file names and config syntax.
    let name_ok = (1..=15).contains(&device.len())
        && device.starts_with(|c: char| c.is_ascii_alphanumeric())
        && device
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name_ok {
        Ok(Device::Name(device.to_owned()))
    } else {
        Err(invalid(
            &label,
            "is neither link, a MAC address (01:23:45:67:89:ab) nor an interface name (at most 15 letters, digits, '-', '_' or '.')",
        ))
    }
}

/// `01:23:45:67:89:AB` in lower case, or `None` if `text` is not a MAC.
fn parse_mac(text: &str) -> Option<String> {
    let octets: Vec<&str> = text.split(':').collect();
    let valid = octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()));
    valid.then(|| text.to_ascii_lowercase())
}

fn interface(
    line: &Network,
    device: Device,
    label: String,
    warnings: &mut Vec<String>,
) -> Result<Interface, ConfigureError> {
    let ipv4 = ipv4(line, &label, warnings)?;
    let ipv6 = ipv6(line, &label)?;
    if line.nodefroute {
        for (option, given) in [
            ("--gateway", line.gateway.is_some()),
            ("--ipv6gateway", line.ipv6gateway.is_some()),
        ] {
            if given {
                return Err(invalid(
                    &label,
                    format!(
                        "{option} and --nodefroute contradict each other: the gateway is the default route"
                    ),
                ));
            }
        }
    }
    let mut nameservers = Vec::new();
    for text in &line.nameservers {
        let address: IpAddr = text.parse().map_err(|_| {
            invalid(
                &label,
                format!("--nameserver={text} is not an IPv4 or IPv6 address"),
            )
        })?;
        let (family_off, family) = match address {
            IpAddr::V4(_) => (ipv4 == Ipv4::Off, "IPv4"),
            IpAddr::V6(_) => (ipv6 == Ipv6::Off, "IPv6"),
        };
        if family_off {
            return Err(invalid(
                &label,
                format!(
                    "--nameserver={text} is an {family} address, but the interface has no {family}"
                ),
            ));
        }
        nameservers.push(address);
    }
    if let Some(mtu) = line.mtu {
        // 68 is the smallest MTU IPv4 allows, 65535 the largest a
        // non-loopback Linux interface takes.
        if !(68..=65535).contains(&mtu) {
            return Err(invalid(
                &label,
                format!("--mtu={mtu} is not between 68 and 65535"),
            ));
        }
    }
    Ok(Interface {
        device,
        ipv4,
        ipv6,
        nameservers,
        ignore_auto_dns: line.nodns,
        never_default: line.nodefroute,
        mtu: line.mtu,
        onboot: line.onboot.unwrap_or(true),
        label,
        line: line.render("network"),
    })
}

fn ipv4(line: &Network, label: &str, warnings: &mut Vec<String>) -> Result<Ipv4, ConfigureError> {
    match line.bootproto {
        Some(BootProto::Static) => {}
        Some(BootProto::Query) => {
            return Err(invalid(
                label,
                "--bootproto=query asks for the settings while installing, which an image build cannot do; use dhcp or static",
            ));
        }
        dynamic => {
            // DHCP servers answer BOOTP's questions too, and no network
            // stack in an image speaks BOOTP itself.
            if dynamic == Some(BootProto::Ibft) {
                warnings.push(format!(
                    "{label}: --bootproto=ibft reads the iSCSI boot firmware table of the machine being installed, which an image cannot; the interface uses DHCP instead"
                ));
            }
            if let Some((option, value)) = [
                ("--ip", &line.ip),
                ("--netmask", &line.netmask),
                ("--gateway", &line.gateway),
            ]
            .into_iter()
            .find_map(|(option, value)| value.as_ref().map(|v| (option, v)))
            {
                return Err(invalid(
                    label,
                    format!(
                        "{option}={value} needs --bootproto=static (with DHCP the server chooses)"
                    ),
                ));
            }
            return Ok(Ipv4::Dhcp);
        }
    }
    let Some(ip) = &line.ip else {
        // The parser allows --bootproto=static without --ip only with
        // --ipv6: a static IPv6-only interface.
        if let Some(option) = [("--netmask", &line.netmask), ("--gateway", &line.gateway)]
            .into_iter()
            .find_map(|(option, value)| value.is_some().then_some(option))
        {
            return Err(invalid(label, format!("{option} needs --ip")));
        }
        return Ok(Ipv4::Off);
    };
    let address: Ipv4Addr = ip
        .parse()
        .map_err(|_| invalid(label, format!("--ip={ip} is not an IPv4 address")))?;
    let Some(netmask) = &line.netmask else {
        return Err(invalid(
            label,
            format!("--ip={ip} needs --netmask (255.255.255.0 or 24)"),
        ));
    };
    let prefix = parse_netmask(netmask).ok_or_else(|| {
        invalid(
            label,
            format!(
                "--netmask={netmask} is not a netmask (a dotted one like 255.255.255.0, or a prefix length from 1 to 32)"
            ),
        )
    })?;
    let gateway = line
        .gateway
        .as_ref()
        .map(|gateway| {
            gateway
                .parse::<Ipv4Addr>()
                .map_err(|_| invalid(label, format!("--gateway={gateway} is not an IPv4 address")))
        })
        .transpose()?;
    Ok(Ipv4::Static {
        address,
        prefix,
        gateway,
    })
}

/// The prefix length of a netmask given dotted (`255.255.252.0`) or as a
/// length (`22`).
fn parse_netmask(text: &str) -> Option<u8> {
    if let Ok(length) = text.parse::<u8>() {
        return (1..=32).contains(&length).then_some(length);
    }
    let bits = u32::from(text.parse::<Ipv4Addr>().ok()?);
    // Contiguous ones from the top, then only zeros.
    let ones = bits.leading_ones();
    (ones > 0 && ones + bits.trailing_zeros() == 32).then_some(ones as u8)
}

fn ipv6(line: &Network, label: &str) -> Result<Ipv6, ConfigureError> {
    let ipv6 = if line.noipv6 {
        // The parser refuses --noipv6 with --ipv6.
        Ipv6::Off
    } else {
        match line.ipv6.as_deref() {
            None | Some("auto") => Ipv6::Auto,
            Some("dhcp") => Ipv6::Dhcp,
            Some(text) => {
                let (address, prefix) = parse_ipv6_cidr(text).ok_or_else(|| {
                    invalid(
                        label,
                        format!(
                            "--ipv6={text} is not auto, dhcp or an IPv6 address with its prefix length (2001:db8::5/64)"
                        ),
                    )
                })?;
                let gateway = line
                    .ipv6gateway
                    .as_ref()
                    .map(|gateway| {
                        gateway.parse::<Ipv6Addr>().map_err(|_| {
                            invalid(
                                label,
                                format!("--ipv6gateway={gateway} is not an IPv6 address"),
                            )
                        })
                    })
                    .transpose()?;
                return Ok(Ipv6::Static {
                    address,
                    prefix,
                    gateway,
                });
            }
        }
    };
    match &line.ipv6gateway {
        Some(gateway) => Err(invalid(
            label,
            format!("--ipv6gateway={gateway} needs a static --ipv6=ADDRESS/PREFIX"),
        )),
        None => Ok(ipv6),
    }
}

fn parse_ipv6_cidr(text: &str) -> Option<(Ipv6Addr, u8)> {
    let (address, prefix) = text.split_once('/')?;
    let prefix: u8 = prefix.parse().ok()?;
    (1..=128)
        .contains(&prefix)
        .then_some((address.parse().ok()?, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(device: &str) -> Network {
        Network {
            device: Some(device.to_owned()),
            ..Network::default()
        }
    }

    fn one(network: Network) -> Result<Interface, String> {
        let mut warnings = Vec::new();
        let mut found = interfaces(&[network], &mut warnings).map_err(|e| e.to_string())?;
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(found.len(), 1);
        Ok(found.remove(0))
    }

    fn error(network: Network) -> String {
        one(network).expect_err("refused")
    }

    #[test]
    fn the_first_line_without_device_is_link_with_dhcp_and_slaac() {
        let bare = Network {
            bootproto: Some(BootProto::Dhcp),
            activate: Some(true),
            ..Network::default()
        };
        let interface = one(bare).expect("valid");
        assert_eq!(interface.device, Device::Link);
        assert_eq!(interface.ipv4, Ipv4::Dhcp);
        assert_eq!(interface.ipv6, Ipv6::Auto);
        assert!(interface.onboot);
        assert_eq!(interface.label, "network");
        assert_eq!(interface.line, "network --bootproto=dhcp --activate");
    }

    #[test]
    fn devices_are_names_macs_or_link() {
        let device = |text: &str| one(line(text)).map(|i| i.device);
        assert_eq!(device("link"), Ok(Device::Link));
        assert_eq!(device("enp1s0"), Ok(Device::Name("enp1s0".to_owned())));
        assert_eq!(
            device("52:54:00:AB:cd:EF"),
            Ok(Device::Mac("52:54:00:ab:cd:ef".to_owned()))
        );
        assert_eq!(
            Device::Mac("52:54:00:ab:cd:ef".to_owned()).slug(),
            "mac-525400abcdef"
        );
        assert_eq!(Device::Name("eth0.7".to_owned()).slug(), "eth0_7");
        for bad in [
            "eth0/x",
            "-eth0",
            "averyveryverylongname",
            "52:54:00:ab:cd",
            "",
        ] {
            assert!(
                device(bad)
                    .expect_err(bad)
                    .contains("is neither link, a MAC address"),
                "{bad}"
            );
        }
        assert!(
            device("bootif")
                .expect_err("bootif")
                .contains("cannot know")
        );
    }

    #[test]
    fn static_ipv4_takes_a_dotted_or_length_netmask() {
        let fixed = |netmask: &str| Network {
            bootproto: Some(BootProto::Static),
            ip: Some("192.0.2.10".to_owned()),
            netmask: Some(netmask.to_owned()),
            gateway: Some("192.0.2.1".to_owned()),
            ..line("eth0")
        };
        let expected = Ipv4::Static {
            address: Ipv4Addr::new(192, 0, 2, 10),
            prefix: 22,
            gateway: Some(Ipv4Addr::new(192, 0, 2, 1)),
        };
        assert_eq!(
            one(fixed("255.255.252.0")).map(|i| i.ipv4),
            Ok(expected.clone())
        );
        assert_eq!(one(fixed("22")).map(|i| i.ipv4), Ok(expected));
        for bad in ["255.0.255.0", "0.0.0.0", "33", "0", "/24", "mask"] {
            assert_eq!(
                error(fixed(bad)),
                format!(
                    "network: --device=eth0: --netmask={bad} is not a netmask (a dotted one like 255.255.255.0, or a prefix length from 1 to 32)"
                )
            );
        }
        assert!(
            error(Network {
                ip: Some("192.0.2.300".to_owned()),
                ..fixed("24")
            })
            .ends_with("--ip=192.0.2.300 is not an IPv4 address")
        );
        assert!(
            error(Network {
                gateway: Some("2001:db8::1".to_owned()),
                ..fixed("24")
            })
            .ends_with("--gateway=2001:db8::1 is not an IPv4 address")
        );
        assert!(
            error(Network {
                netmask: None,
                ..fixed("24")
            })
            .ends_with("--ip=192.0.2.10 needs --netmask (255.255.255.0 or 24)")
        );
        assert!(
            error(Network {
                bootproto: Some(BootProto::Dhcp),
                ..fixed("24")
            })
            .ends_with("--ip=192.0.2.10 needs --bootproto=static (with DHCP the server chooses)")
        );
        assert!(
            error(Network {
                nodefroute: true,
                ..fixed("24")
            })
            .ends_with(
                "--gateway and --nodefroute contradict each other: the gateway is the default route"
            )
        );
    }

    #[test]
    fn ipv6_is_auto_dhcp_static_or_off() {
        let ipv6 = |value: &str| {
            one(Network {
                ipv6: Some(value.to_owned()),
                ..line("eth0")
            })
        };
        assert_eq!(ipv6("auto").map(|i| i.ipv6), Ok(Ipv6::Auto));
        assert_eq!(ipv6("dhcp").map(|i| i.ipv6), Ok(Ipv6::Dhcp));
        let fixed = Network {
            ipv6: Some("2001:db8::5/64".to_owned()),
            ipv6gateway: Some("2001:db8::1".to_owned()),
            ..line("eth0")
        };
        assert_eq!(
            one(fixed.clone()).map(|i| i.ipv6),
            Ok(Ipv6::Static {
                address: "2001:db8::5".parse().expect("address"),
                prefix: 64,
                gateway: Some("2001:db8::1".parse().expect("gateway")),
            })
        );
        for bad in [
            "2001:db8::5",
            "2001:db8::5/129",
            "2001:db8::5/0",
            "192.0.2.1/24",
            "slaac",
        ] {
            assert!(
                ipv6(bad).expect_err(bad).contains(&format!(
                    "--ipv6={bad} is not auto, dhcp or an IPv6 address"
                )),
                "{bad}"
            );
        }
        assert!(
            error(Network {
                ipv6gateway: Some("192.0.2.1".to_owned()),
                ..fixed.clone()
            })
            .ends_with("--ipv6gateway=192.0.2.1 is not an IPv6 address")
        );
        assert!(
            error(Network {
                ipv6gateway: Some("2001:db8::1".to_owned()),
                ..line("eth0")
            })
            .ends_with("--ipv6gateway=2001:db8::1 needs a static --ipv6=ADDRESS/PREFIX")
        );
        let off = Network {
            noipv6: true,
            ..line("eth0")
        };
        assert_eq!(one(off.clone()).map(|i| i.ipv6), Ok(Ipv6::Off));
        assert!(
            error(Network {
                nameservers: vec!["2001:db8::53".to_owned()],
                ..off
            })
            .ends_with(
                "--nameserver=2001:db8::53 is an IPv6 address, but the interface has no IPv6"
            )
        );
        // A static IPv6-only interface has no IPv4 at all.
        let only6 = Network {
            bootproto: Some(BootProto::Static),
            ..fixed
        };
        assert_eq!(one(only6.clone()).map(|i| i.ipv4), Ok(Ipv4::Off));
        assert!(
            error(Network {
                gateway: Some("192.0.2.1".to_owned()),
                ..only6
            })
            .ends_with("--gateway needs --ip")
        );
    }

    #[test]
    fn other_options_are_checked() {
        let options = Network {
            nameservers: vec!["192.0.2.53".to_owned(), "2001:db8::53".to_owned()],
            nodns: true,
            nodefroute: true,
            mtu: Some(9000),
            onboot: Some(false),
            ..line("eth0")
        };
        let interface = one(options.clone()).expect("valid");
        assert_eq!(
            interface.nameservers,
            vec![
                IpAddr::from([192, 0, 2, 53]),
                "2001:db8::53".parse::<IpAddr>().expect("v6")
            ]
        );
        assert!(interface.ignore_auto_dns && interface.never_default && !interface.onboot);
        assert_eq!(interface.mtu, Some(9000));
        assert!(
            error(Network {
                nameservers: vec!["ns1".to_owned()],
                ..options.clone()
            })
            .ends_with("--nameserver=ns1 is not an IPv4 or IPv6 address")
        );
        for mtu in [0, 67, 65536] {
            assert!(
                error(Network {
                    mtu: Some(mtu),
                    ..options.clone()
                })
                .ends_with(&format!("--mtu={mtu} is not between 68 and 65535"))
            );
        }
        assert!(
            error(Network {
                bootproto: Some(BootProto::Query),
                ..options
            })
            .contains("--bootproto=query asks for the settings while installing")
        );
    }

    #[test]
    fn bootp_is_dhcp_and_ibft_is_dhcp_with_a_warning() {
        let mut warnings = Vec::new();
        let lines = [
            Network {
                bootproto: Some(BootProto::Bootp),
                ..line("eth0")
            },
            Network {
                bootproto: Some(BootProto::Ibft),
                ..line("eth1")
            },
        ];
        let found = interfaces(&lines, &mut warnings).expect("valid");
        assert!(found.iter().all(|i| i.ipv4 == Ipv4::Dhcp));
        assert_eq!(
            warnings,
            [
                "network --device=eth1: --bootproto=ibft reads the iSCSI boot firmware table of the machine being installed, which an image cannot; the interface uses DHCP instead"
            ]
        );
    }

    #[test]
    fn lines_in_order_link_last_and_unsupported_ones_left_out() {
        let mut warnings = Vec::new();
        let lines = [
            Network {
                hostname: Some("h".to_owned()),
                ..Network::default()
            },
            Network {
                bootproto: Some(BootProto::Dhcp),
                ..Network::default()
            },
            line("eth1"),
            Network {
                vlanid: Some(7),
                bondslaves: vec!["eth2".to_owned(), "eth3".to_owned()],
                ..line("bond0")
            },
            line("52:54:00:00:00:01"),
        ];
        let found = interfaces(&lines, &mut warnings).expect("valid");
        let devices: Vec<String> = found.iter().map(|i| i.device.slug()).collect();
        assert_eq!(devices, ["eth1", "mac-525400000001", "link"]);
        assert_eq!(
            warnings,
            [
                "network --device=bond0: --vlanid, --bondslaves not supported (livecompose writes plain Ethernet interfaces only), so this line is not written into the image; create the VLAN, bond or bridge in an overlay or %post"
            ]
        );

        let twice = [line("eth0"), line("eth1"), line("eth0")];
        assert_eq!(
            interfaces(&twice, &mut warnings)
                .expect_err("duplicate")
                .to_string(),
            "network: --device=eth0: this device is already configured by an earlier network line"
        );
        let second_without_device = [
            line("eth0"),
            Network::default(),
            Network {
                mtu: Some(1500),
                ..Network::default()
            },
        ];
        assert!(
            interfaces(&second_without_device, &mut warnings)
                .expect_err("no device")
                .to_string()
                .starts_with("network: --device is missing; only the first network line")
        );
        let too_many: Vec<Network> = (0..=MAX_INTERFACES)
            .map(|n| line(&format!("eth{n}")))
            .collect();
        assert!(
            interfaces(&too_many, &mut warnings)
                .expect_err("too many")
                .to_string()
                .contains("at most 90 are supported")
        );
    }
}
