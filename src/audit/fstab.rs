//! The lines of an image's `/etc/fstab` the disk audit needs: which file
//! system is mounted where, as `mount` and systemd's fstab generator read
//! them. Nothing here trusts the text: a line that is no entry is skipped,
//! and a mount point is made a clean relative path or the entry dropped.

use std::path::{Component, Path};

/// How an entry names its file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The file system's UUID (`UUID=`, `/dev/disk/by-uuid/`), lower case.
    Uuid(String),
    /// The file system's label (`LABEL=`, `/dev/disk/by-label/`).
    Label(String),
    /// The GPT partition's GUID or MBR's `SIGNATURE-NN` (`PARTUUID=`,
    /// `/dev/disk/by-partuuid/`), lower case.
    PartUuid(String),
    /// The GPT partition's name (`PARTLABEL=`, `/dev/disk/by-partlabel/`).
    PartLabel(String),
    /// Anything else: a device name (`/dev/vda2`), a server's export,
    /// `tmpfs`, `none`.
    Other(String),
}

/// As fstab writes it.
impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Uuid(v) => write!(f, "UUID={v}"),
            Source::Label(v) => write!(f, "LABEL={v}"),
            Source::PartUuid(v) => write!(f, "PARTUUID={v}"),
            Source::PartLabel(v) => write!(f, "PARTLABEL={v}"),
            Source::Other(v) => f.write_str(v),
        }
    }
}

/// One entry: its source, where it is mounted (relative to the root,
/// without a leading `/`; empty for the root itself) and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub source: Source,
    pub mountpoint: String,
    pub fstype: String,
}

/// The entries of `text`, in order; comments, blank lines, lines of fewer
/// than three fields and mount points that are no absolute path (`none`
/// of a swap area) are skipped.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let spec = fields.next().filter(|f| !f.starts_with('#'))?;
            let mountpoint = mountpoint(&unescape(fields.next()?))?;
            let fstype = unescape(fields.next()?);
            Some(Entry {
                source: source(&unescape(spec)),
                mountpoint,
                fstype,
            })
        })
        .collect()
}

/// fstab writes a space, tab, newline or backslash in a field as its octal
/// escape (`\040`); other backslashes stay.
fn unescape(field: &str) -> String {
    decode_escapes(field, |escape| {
        let digits = escape.strip_prefix(b"\\")?;
        if !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
            return None;
        }
        let value = u32::from(digits[0] - b'0') * 64
            + u32::from(digits[1] - b'0') * 8
            + u32::from(digits[2] - b'0');
        u8::try_from(value).ok()
    })
}

/// udev's names in `/dev/disk/by-*` write a byte it does not keep as
/// `\xNN` (a label's `/` as `\x2f`).
fn unescape_udev(name: &str) -> String {
    decode_escapes(name, |escape| {
        let digits = escape.strip_prefix(b"\\x")?;
        u8::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    })
}

/// `text` with every 4-byte escape that `decode` turns into a byte replaced
/// by it; every other byte kept.
fn decode_escapes(text: &str, decode: impl Fn(&[u8]) -> Option<u8>) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes.get(at..at + 4).and_then(&decode) {
            Some(byte) => {
                out.push(byte);
                at += 4;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn source(spec: &str) -> Source {
    // libmount takes the value quoted too (`UUID="..."`).
    let value = |v: &str| v.trim_matches('"').to_owned();
    type Make = fn(String) -> Source;
    let tags: [(&str, &str, Make); 4] = [
        ("UUID=", "/dev/disk/by-uuid/", |v| {
            Source::Uuid(v.to_lowercase())
        }),
        ("LABEL=", "/dev/disk/by-label/", Source::Label),
        ("PARTUUID=", "/dev/disk/by-partuuid/", |v| {
            Source::PartUuid(v.to_lowercase())
        }),
        ("PARTLABEL=", "/dev/disk/by-partlabel/", Source::PartLabel),
    ];
    for (tag, dir, make) in tags {
        if let Some(v) = spec.strip_prefix(tag) {
            return make(value(v));
        }
        if let Some(name) = spec.strip_prefix(dir) {
            return make(unescape_udev(name));
        }
    }
    Source::Other(spec.to_owned())
}

/// `/var/./log/` as `var/log`; `..` goes up, never above the root (as the
/// kernel resolves it). None for what is not an absolute path.
fn mountpoint(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(name) => parts.push(name.to_str()?),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_of_naming_a_file_system() {
        let text = "# a comment\n\n\
            UUID=0A1B-2C3D /boot/efi vfat umask=0077 0 2\n\
            UUID=\"ABCDEF01-2345-6789-abcd-ef0123456789\" / ext4 defaults 0 1\n\
            LABEL=my\\040data /srv/my\\040data ext4 defaults\n\
            PARTUUID=DEADBEEF-02 /var/./log/ ext4\n\
            /dev/disk/by-label/a\\x2fb /home ext4 defaults 0 2\n\
            /dev/disk/by-partuuid/1234 /opt ext3\n\
            PARTLABEL=tmp /../tmp tmpfs\n\
            /dev/vdb1 none swap sw 0 0\n\
            server:/export /mnt/nfs nfs\n\
            short line\n";
        let entries = parse(text);
        let got: Vec<(Source, &str, &str)> = entries
            .iter()
            .map(|e| (e.source.clone(), e.mountpoint.as_str(), e.fstype.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Source::Uuid("0a1b-2c3d".into()), "boot/efi", "vfat"),
                (
                    Source::Uuid("abcdef01-2345-6789-abcd-ef0123456789".into()),
                    "",
                    "ext4"
                ),
                (Source::Label("my data".into()), "srv/my data", "ext4"),
                (Source::PartUuid("deadbeef-02".into()), "var/log", "ext4"),
                (Source::Label("a/b".into()), "home", "ext4"),
                (Source::PartUuid("1234".into()), "opt", "ext3"),
                (Source::PartLabel("tmp".into()), "tmp", "tmpfs"),
                (Source::Other("server:/export".into()), "mnt/nfs", "nfs"),
            ]
        );
    }
}
