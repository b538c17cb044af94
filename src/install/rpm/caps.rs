//! File capabilities: the `%caps(...)` text rpm stores in `FILECAPS`
//! (libcap's `cap_to_text` form, such as `cap_net_raw=ep`) turned into the
//! `security.capability` extended attribute the kernel reads.
//!
//! Written by hand rather than through libcap: the attribute is 20 bytes in
//! a fixed layout (`struct vfs_cap_data`, revision 2), and the text grammar
//! is a handful of rules.

use thiserror::Error;

/// The attribute's name.
pub const XATTR_NAME: &str = "security.capability";

/// Capability names in the kernel's numbering (`linux/capability.h`).
const NAMES: &[&str] = &[
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x1;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("file capabilities {text:?}: {reason}")]
pub struct CapsError {
    pub text: String,
    pub reason: String,
}

/// The three capability sets of a file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sets {
    effective: u64,
    permitted: u64,
    inheritable: u64,
}

fn cap_bit(name: &str) -> Option<u64> {
    if name == "all" {
        return Some((1u64 << NAMES.len()) - 1);
    }
    let bare = name.strip_prefix("cap_")?;
    let index = NAMES.iter().position(|n| *n == bare)?;
    Some(1 << index)
}

/// Parses a `cap_to_text` string into the attribute's bytes.
pub fn xattr_value(text: &str) -> Result<Vec<u8>, CapsError> {
    let fail = |reason: String| CapsError {
        text: text.to_string(),
        reason,
    };
    let mut sets = Sets::default();
    for clause in text.split_whitespace() {
        let split = clause
            .find(['=', '+', '-'])
            .ok_or_else(|| fail(format!("{clause:?} has no '=', '+' or '-'")))?;
        let (names, mut actions) = clause.split_at(split);
        let mut mask = 0u64;
        if names.is_empty() {
            mask = (1u64 << NAMES.len()) - 1;
        }
        for name in names.split(',').filter(|n| !n.is_empty()) {
            mask |= cap_bit(&name.to_ascii_lowercase())
                .ok_or_else(|| fail(format!("unknown capability {name:?}")))?;
        }
        while let Some(op) = actions.chars().next() {
            let rest = &actions[1..];
            let end = rest.find(['=', '+', '-']).unwrap_or(rest.len());
            let (flags, next) = rest.split_at(end);
            if op == '=' {
                sets.effective &= !mask;
                sets.permitted &= !mask;
                sets.inheritable &= !mask;
            }
            for flag in flags.chars() {
                let set = match flag {
                    'e' => &mut sets.effective,
                    'p' => &mut sets.permitted,
                    'i' => &mut sets.inheritable,
                    other => return Err(fail(format!("unknown flag {other:?}"))),
                };
                if op == '-' {
                    *set &= !mask;
                } else {
                    *set |= mask;
                }
            }
            actions = next;
        }
    }
    let magic = VFS_CAP_REVISION_2
        | if sets.effective != 0 {
            VFS_CAP_FLAGS_EFFECTIVE
        } else {
            0
        };
    let mut out = Vec::with_capacity(20);
    for word in [
        magic,
        sets.permitted as u32,
        sets.inheritable as u32,
        (sets.permitted >> 32) as u32,
        (sets.inheritable >> 32) as u32,
    ] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_raw_effective_permitted() {
        let value = xattr_value("cap_net_raw=ep").expect("valid");
        assert_eq!(
            value,
            [
                0x01, 0, 0, 0x02, // revision 2, effective
                0, 0x20, 0, 0, // permitted: bit 13
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
    }

    #[test]
    fn lists_high_bits_and_removal() {
        let value = xattr_value("cap_bpf,cap_chown+ip cap_chown-p").expect("valid");
        // chown only inheritable; bpf (39) permitted and inheritable.
        assert_eq!(&value[0..4], &0x0200_0000u32.to_le_bytes());
        assert_eq!(&value[4..8], &0u32.to_le_bytes());
        assert_eq!(&value[8..12], &1u32.to_le_bytes());
        assert_eq!(&value[12..16], &(1u32 << 7).to_le_bytes());
        assert_eq!(&value[16..20], &(1u32 << 7).to_le_bytes());
        assert!(xattr_value("cap_nonsense=ep").is_err());
        assert!(xattr_value("cap_chown").is_err());
    }
}
