//! The boot menus: ISOLINUX for BIOS, systemd-boot for UEFI. Both offer the
//! same two entries, the live system and the same with `toram`, and boot
//! the first after the kickstart's `bootloader --timeout`.

use super::{ISO_INITRD, ISO_KERNEL, TORAM_ARG};

/// The systemd-boot entry files, under `loader/entries/` on the ESP.
pub const LIVE_ENTRY: &str = "live.conf";
pub const TORAM_ENTRY: &str = "live-toram.conf";

/// One boot entry: its menu title and full kernel command line.
struct Entry {
    /// The ISOLINUX label.
    id: &'static str,
    /// The systemd-boot entry file.
    file: &'static str,
    title: String,
    cmdline: String,
}

fn entries(title: &str, cmdline: &[String]) -> [Entry; 2] {
    let live = cmdline.join(" ");
    [
        Entry {
            id: "live",
            file: LIVE_ENTRY,
            title: title.to_owned(),
            cmdline: live.clone(),
        },
        Entry {
            id: "toram",
            file: TORAM_ENTRY,
            title: format!("{title} (copy to RAM)"),
            cmdline: format!("{live} {TORAM_ARG}"),
        },
    ]
}

/// `isolinux.cfg`. ISOLINUX counts tenths of a second and reads 0 as
/// "wait forever", so a zero timeout becomes the shortest one it has.
pub fn isolinux_cfg(title: &str, cmdline: &[String], timeout_secs: u32) -> String {
    let tenths = timeout_secs.saturating_mul(10).max(1);
    // The serial line mirrors the menu for headless machines and the boot test.
    let mut cfg = format!(
        "SERIAL 0 115200\nUI menu.c32\nPROMPT 0\nTIMEOUT {tenths}\nDEFAULT live\nMENU TITLE {title}\n"
    );
    for entry in entries(title, cmdline) {
        cfg.push_str(&format!(
            "\nLABEL {}\n  MENU LABEL {}\n  LINUX /{ISO_KERNEL}\n  INITRD /{ISO_INITRD}\n  APPEND {}\n",
            entry.id, entry.title, entry.cmdline
        ));
    }
    cfg
}

/// `loader/loader.conf`. systemd-boot reads timeout 0 as "boot the default
/// at once", as the kickstart means it.
pub fn loader_conf(timeout_secs: u32) -> String {
    format!("timeout {timeout_secs}\ndefault {LIVE_ENTRY}\n")
}

/// The entry files, as (file name under `loader/entries/`, contents).
pub fn systemd_boot_entries(title: &str, cmdline: &[String]) -> [(&'static str, String); 2] {
    entries(title, cmdline).map(|entry| {
        let text = format!(
            "title {}\nlinux /{ISO_KERNEL}\ninitrd /{ISO_INITRD}\noptions {}\n",
            entry.title, entry.cmdline
        );
        (entry.file, text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmdline() -> Vec<String> {
        vec!["livecompose.label=LIVE".into(), "quiet".into()]
    }

    #[test]
    fn isolinux_menu_has_default_timeout_and_both_entries() {
        let cfg = isolinux_cfg("LIVE", &cmdline(), 5);
        assert!(cfg.contains("UI menu.c32\n"));
        assert!(cfg.contains("TIMEOUT 50\n"));
        assert!(cfg.contains("DEFAULT live\n"));
        assert!(cfg.contains(
            "LABEL live\n  MENU LABEL LIVE\n  LINUX /live/vmlinuz\n  INITRD /live/initrd.img\n  APPEND livecompose.label=LIVE quiet\n"
        ));
        assert!(cfg.contains("LABEL toram\n"));
        assert!(cfg.contains("APPEND livecompose.label=LIVE quiet toram\n"));
    }

    #[test]
    fn isolinux_zero_timeout_does_not_wait_forever() {
        assert!(isolinux_cfg("LIVE", &cmdline(), 0).contains("TIMEOUT 1\n"));
    }

    #[test]
    fn systemd_boot_loader_and_entries() {
        assert_eq!(loader_conf(3), "timeout 3\ndefault live.conf\n");
        let [(live, live_text), (toram, toram_text)] = systemd_boot_entries("LIVE", &cmdline());
        assert_eq!(live, "live.conf");
        assert_eq!(
            live_text,
            "title LIVE\nlinux /live/vmlinuz\ninitrd /live/initrd.img\noptions livecompose.label=LIVE quiet\n"
        );
        assert_eq!(toram, "live-toram.conf");
        assert!(toram_text.starts_with("title LIVE (copy to RAM)\n"));
        assert!(toram_text.ends_with("options livecompose.label=LIVE quiet toram\n"));
    }
}
