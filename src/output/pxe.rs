//! `--format pxe`: the live files as a PXE or HTTP server serves them, in
//! one directory `LABEL/`: the kernel, the netboot initrd, the squashfs,
//! the boot loaders from the distribution's packages (PXELINUX for BIOS
//! clients, iPXE for UEFI ones) with their configurations, the command
//! line, the package list, a README, the SBOMs and `SHA256SUMS` (signed
//! with `--sign-key`).
//!
//! Every configuration names the files under the plan's URL: the boot
//! loaders fetch the kernel and initrd over HTTP, and the initrd fetches
//! the squashfs and checks its size and SHA-256, both written into the
//! kernel command line here.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::live_files::SQUASHFS;
use super::{
    MANIFEST_SUFFIX, OutputInputs, SHA256SUMS, Written, WrittenFile, live, manifest,
    update_sha256sums, write_file,
};
use crate::distro::AssetFile;
use crate::initrd::{FETCH_ARG, InitrdMode, SHA256_ARG, SIZE_ARG};
use crate::plan::PxeSettings;

/// The names of the files in the directory, as the configurations use them.
const KERNEL: &str = "vmlinuz";
const INITRD: &str = "initrd.img";
const IPXE_SCRIPT: &str = "boot.ipxe";
const PXELINUX_DIR: &str = "pxelinux.cfg";
const PXELINUX_CONFIG: &str = "pxelinux.cfg/default";
const LPXELINUX: &str = "lpxelinux.0";
const LDLINUX: &str = "ldlinux.c32";
const IPXE_EFI: &str = "ipxe.efi";
const CMDLINE: &str = "cmdline";
const README: &str = "README";

pub(super) fn write(
    inputs: &OutputInputs<'_>,
    settings: &PxeSettings,
    output: &Path,
) -> anyhow::Result<Written> {
    let plan = inputs.plan;
    let parts = live::compose(inputs, &settings.live, InitrdMode::Netboot)?;
    let staging = &parts.staging;
    let copy = |from: &Path, name: &str| -> anyhow::Result<()> {
        std::fs::copy(from, staging.join(name))
            .map(drop)
            .with_context(|| format!("cannot copy {}", from.display()))
    };
    copy(&parts.kernel, KERNEL)?;
    let assets = inputs.assets;
    copy(assets.path(AssetFile::Lpxelinux0)?, LPXELINUX)?;
    copy(assets.path(AssetFile::LdlinuxC32)?, LDLINUX)?;
    copy(assets.path(AssetFile::IpxeEfi)?, IPXE_EFI)?;

    let squashfs = WrittenFile::read(&parts.squashfs)?;
    let cmdline = kernel_cmdline(&settings.url, &squashfs, &settings.live.boot.kernel_args);
    let pxelinux_dir = staging.join(PXELINUX_DIR);
    std::fs::create_dir(&pxelinux_dir)
        .with_context(|| format!("cannot create {}", pxelinux_dir.display()))?;
    let label = &plan.label;
    let texts = [
        (IPXE_SCRIPT, ipxe_script(label, &settings.url, &cmdline)),
        (
            PXELINUX_CONFIG,
            pxelinux_config(label, &settings.url, &cmdline),
        ),
        (CMDLINE, cmdline.join(" ") + "\n"),
        (README, readme(label, &settings.url, &cmdline)),
        (MANIFEST_SUFFIX, manifest(inputs.resolution)),
    ];
    for (name, text) in &texts {
        write_file(&staging.join(name), text.as_bytes())?;
    }

    let mut files = vec![squashfs];
    for name in [KERNEL, INITRD, LPXELINUX, LDLINUX, IPXE_EFI]
        .into_iter()
        .chain(texts.iter().map(|(name, _)| *name))
    {
        files.push(WrittenFile::read(&staging.join(name))?);
    }
    let bom = super::bill_of_materials(inputs)?;
    files.extend(super::write_sboms(&bom, staging, label)?);
    update_sha256sums(&files, &staging.join(SHA256SUMS), plan.sign_key.as_ref())?;
    files.push(WrittenFile::read(&staging.join(SHA256SUMS))?);
    let signature = crate::sign::signature_path(&staging.join(SHA256SUMS));
    if plan.sign_key.is_some() {
        files.push(WrittenFile::read(&signature)?);
    }
    std::fs::rename(staging, output)
        .with_context(|| format!("cannot move the PXE files to {}", output.display()))?;
    // The files now live under `output`.
    for file in &mut files {
        if let Ok(relative) = file.path.strip_prefix(staging) {
            file.path = output.join(relative);
        }
    }
    Ok(Written {
        path: output.to_owned(),
        files,
    })
}

/// Checks a `--pxe-url` and returns it without trailing `/`: `http://`, an
/// IPv4 address, an optional port, an optional path of plain URL
/// characters. Names are refused because the initrd's busybox wget, linked
/// statically, resolves none; `https://` because neither Debian's iPXE nor
/// PXELINUX speaks it; other characters because the URL goes unquoted
/// into an iPXE script, a PXELINUX configuration and a kernel command line.
pub fn check_url(url: &str) -> Result<String, &'static str> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("not an http:// URL (iPXE, PXELINUX and the initrd fetch over plain HTTP)")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    host.parse::<std::net::Ipv4Addr>().map_err(|_| {
        "the host must be an IPv4 address such as 192.168.1.10: the initrd's wget resolves no names"
    })?;
    if let Some(port) = port
        && port.parse::<u16>().ok().filter(|port| *port > 0).is_none()
    {
        return Err("the port must be a number from 1 to 65535");
    }
    if !path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~/%+".contains(c))
    {
        return Err("the path may hold only letters, digits and - . _ ~ / % +");
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The kernel command line of a netboot: where the initrd fetches the
/// squashfs, the size and SHA-256 it must have, then the kickstart's
/// `bootloader --append`.
fn kernel_cmdline(url: &str, squashfs: &WrittenFile, kernel_args: &[String]) -> Vec<String> {
    let mut cmdline = vec![
        format!("{FETCH_ARG}={url}/{SQUASHFS}"),
        format!("{SHA256_ARG}={}", squashfs.sha256),
        format!("{SIZE_ARG}={}", squashfs.size),
    ];
    cmdline.extend(kernel_args.iter().cloned());
    cmdline
}

/// The iPXE script: kernel and initrd over HTTP. `initrd=` names the
/// initrd for kernels started through their EFI stub (ipxe.efi), which
/// find it by that name.
fn ipxe_script(label: &str, url: &str, cmdline: &[String]) -> String {
    format!(
        "#!ipxe\n\
         # livecompose {label}: the live system over HTTP from {url}\n\
         echo Booting {label} from {url}\n\
         kernel {url}/{KERNEL} initrd={INITRD} {}\n\
         initrd {url}/{INITRD}\n\
         boot\n",
        cmdline.join(" ")
    )
}

/// PXELINUX's configuration for `lpxelinux.0`, which loads `http://` paths
/// itself; one entry, started at once.
fn pxelinux_config(label: &str, url: &str, cmdline: &[String]) -> String {
    format!(
        "# livecompose {label}: the live system over HTTP from {url}\n\
         DEFAULT livecompose\n\
         PROMPT 0\n\
         TIMEOUT 0\n\
         LABEL livecompose\n  \
         LINUX {url}/{KERNEL}\n  \
         INITRD {url}/{INITRD}\n  \
         APPEND {}\n",
        cmdline.join(" ")
    )
}

/// What a person serving the directory needs to know.
fn readme(label: &str, url: &str, cmdline: &[String]) -> String {
    let cmdline = cmdline.join(" ");
    let mut text = String::new();
    let _ = write!(
        text,
        "{label}: a live system that boots over the network (livecompose --format pxe)\n\
         \n\
         Serve this directory over HTTP so that {url}/ lists these files, and\n\
         its files over TFTP for the boot loaders. The initrd fetches\n\
         {SQUASHFS} from there into RAM (the client needs that much memory\n\
         besides the system's own), checks its size and SHA-256, and boots it.\n\
         \n\
         Kernel: {url}/{KERNEL}\n\
         Initrd: {url}/{INITRD}\n\
         Kernel arguments (also in {CMDLINE}):\n  {cmdline}\n\
         \n\
         How clients start:\n\
         - iPXE (a card's iPXE ROM, or ipxe.efi): give it {IPXE_SCRIPT} as its boot file\n\
           (DHCP filename, or `chain {url}/{IPXE_SCRIPT}`).\n\
         - BIOS PXE: give {LPXELINUX} as the DHCP boot file and serve it with\n\
           {LDLINUX} and {PXELINUX_CONFIG} over TFTP.\n\
         - UEFI PXE: give {IPXE_EFI} as the DHCP boot file to firmware and\n\
           {IPXE_SCRIPT} to iPXE (DHCP user class \"iPXE\"), or iPXE loops on itself.\n\
         \n\
         Cobbler:\n  \
         cobbler distro add --name={label} --arch=x86_64 --breed=generic \\\n    \
         --kernel=/path/to/{label}/{KERNEL} --initrd=/path/to/{label}/{INITRD} \\\n    \
         --kernel-options=\"{cmdline}\"\n  \
         cobbler profile add --name={label} --distro={label}\n\
         \n\
         Check the files with `sha256sum -c {SHA256SUMS}` here.\n"
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn squashfs() -> WrittenFile {
        WrittenFile {
            path: SQUASHFS.into(),
            size: 4096,
            sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn urls_are_plain_http_to_an_address_with_safe_paths() {
        assert_eq!(
            check_url("http://10.0.2.2:8080/lc/").unwrap(),
            "http://10.0.2.2:8080/lc"
        );
        assert_eq!(
            check_url("http://192.168.1.10").unwrap(),
            "http://192.168.1.10"
        );
        assert_eq!(
            check_url("http://192.168.1.10/a/b-c_d.e~f%20").unwrap(),
            "http://192.168.1.10/a/b-c_d.e~f%20"
        );
        for (bad, why) in [
            ("https://10.0.0.1/x", "http://"),
            ("ftp://10.0.0.1/x", "http://"),
            ("10.0.0.1/x", "http://"),
            ("http://boot.example/x", "IPv4"),
            ("http:///x", "IPv4"),
            ("http://10.0.0.256/x", "IPv4"),
            ("http://10.0.0.1:0/x", "port"),
            ("http://10.0.0.1:99999/x", "port"),
            ("http://10.0.0.1:/x", "port"),
            ("http://10.0.0.1/a b", "path"),
            ("http://10.0.0.1/a\nb", "path"),
            ("http://10.0.0.1/${x}", "path"),
            ("http://10.0.0.1/a?b", "path"),
            ("http://10.0.0.1/a\"b", "path"),
        ] {
            let err = check_url(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn the_command_line_names_the_squashfs_its_size_and_hash_then_the_kickstarts_arguments() {
        let cmdline = kernel_cmdline(
            "http://10.0.0.1/lc",
            &squashfs(),
            &["console=ttyS0".to_owned()],
        );
        assert_eq!(
            cmdline,
            [
                "livecompose.fetch=http://10.0.0.1/lc/filesystem.squashfs".to_owned(),
                format!("livecompose.sha256={}", "ab".repeat(32)),
                "livecompose.size=4096".to_owned(),
                "console=ttyS0".to_owned(),
            ]
        );
    }

    #[test]
    fn the_ipxe_script_loads_kernel_and_initrd_over_http() {
        let cmdline = kernel_cmdline("http://10.0.0.1/lc", &squashfs(), &[]);
        let script = ipxe_script("LC", "http://10.0.0.1/lc", &cmdline);
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines[0], "#!ipxe");
        assert_eq!(
            lines[3],
            format!(
                "kernel http://10.0.0.1/lc/vmlinuz initrd=initrd.img {}",
                cmdline.join(" ")
            )
        );
        assert_eq!(lines[4], "initrd http://10.0.0.1/lc/initrd.img");
        assert_eq!(lines[5], "boot");
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn the_pxelinux_entry_starts_at_once_with_http_paths() {
        let cmdline = kernel_cmdline("http://10.0.0.1/lc", &squashfs(), &[]);
        let config = pxelinux_config("LC", "http://10.0.0.1/lc", &cmdline);
        let lines: Vec<&str> = config.lines().map(str::trim).collect();
        for wanted in [
            "DEFAULT livecompose",
            "PROMPT 0",
            "TIMEOUT 0",
            "LABEL livecompose",
            "LINUX http://10.0.0.1/lc/vmlinuz",
            "INITRD http://10.0.0.1/lc/initrd.img",
        ] {
            assert!(lines.contains(&wanted), "{wanted:?} in:\n{config}");
        }
        assert!(lines.contains(&format!("APPEND {}", cmdline.join(" ")).as_str()));
    }

    #[test]
    fn the_readme_gives_the_kernel_arguments_for_cobbler() {
        let cmdline = kernel_cmdline("http://10.0.0.1/lc", &squashfs(), &[]);
        let text = readme("LC", "http://10.0.0.1/lc", &cmdline);
        assert!(
            text.contains(&format!("--kernel-options=\"{}\"", cmdline.join(" "))),
            "{text}"
        );
        assert!(
            text.contains("Kernel: http://10.0.0.1/lc/vmlinuz"),
            "{text}"
        );
    }
}
