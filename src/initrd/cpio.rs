//! A writer for the "newc" cpio format (magic `070701`), the one format the
//! kernel unpacks into its initial root filesystem.
//!
//! Each entry is a 110-byte ASCII header of thirteen 8-digit hexadecimal
//! fields, the NUL-terminated name padded to a multiple of four bytes, then
//! the data padded the same way; a `TRAILER!!!` entry ends the archive.
//! Every entry gets its own inode number and a zero mtime, so the same input
//! gives the same bytes.

use std::io::{self, Write};

const MAGIC: &[u8] = b"070701";
const TRAILER: &str = "TRAILER!!!";

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

/// Writes entries in the order given; parents must come before their
/// children because the kernel's unpacker does not create directories on its
/// own. Names are relative (`bin/busybox`), owned by root.
pub struct CpioWriter<W: Write> {
    out: W,
    next_ino: u32,
    offset: u64,
}

struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    size: u32,
    rdev: (u32, u32),
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            next_ino: 1,
            offset: 0,
        }
    }

    pub fn dir(&mut self, name: &str, perm: u32) -> io::Result<()> {
        let header = Header {
            ino: self.take_ino(),
            mode: S_IFDIR | perm,
            nlink: 2,
            size: 0,
            rdev: (0, 0),
        };
        self.entry(name, &header, &[])
    }

    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        let header = Header {
            ino: self.take_ino(),
            mode: S_IFREG | perm,
            nlink: 1,
            size: data_size(name, data)?,
            rdev: (0, 0),
        };
        self.entry(name, &header, data)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        let header = Header {
            ino: self.take_ino(),
            mode: S_IFLNK | 0o777,
            nlink: 1,
            size: data_size(name, target.as_bytes())?,
            rdev: (0, 0),
        };
        self.entry(name, &header, target.as_bytes())
    }

    pub fn char_device(&mut self, name: &str, perm: u32, major: u32, minor: u32) -> io::Result<()> {
        let header = Header {
            ino: self.take_ino(),
            mode: S_IFCHR | perm,
            nlink: 1,
            size: 0,
            rdev: (major, minor),
        };
        self.entry(name, &header, &[])
    }

    /// Writes the trailer and hands back the inner writer (an encoder the
    /// caller still has to finish).
    pub fn finish(mut self) -> io::Result<W> {
        let header = Header {
            ino: 0,
            mode: 0,
            nlink: 1,
            size: 0,
            rdev: (0, 0),
        };
        self.entry(TRAILER, &header, &[])?;
        Ok(self.out)
    }

    fn entry(&mut self, name: &str, header: &Header, data: &[u8]) -> io::Result<()> {
        if name.is_empty() || name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cpio: invalid entry name {name:?}"),
            ));
        }
        let namesize = name.len() + 1;
        let fields = [
            header.ino,
            header.mode,
            0, // uid
            0, // gid
            header.nlink,
            0, // mtime
            header.size,
            0, // device major: the unpacker only uses it to pair hard links
            0, // device minor
            header.rdev.0,
            header.rdev.1,
            namesize as u32,
            0, // check: only the crc format uses it
        ];
        let mut head = Vec::with_capacity(110 + namesize + 3);
        head.extend_from_slice(MAGIC);
        for field in fields {
            head.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        head.extend_from_slice(name.as_bytes());
        head.push(0);
        head.resize(head.len() + padding(self.offset + head.len() as u64), 0);
        self.write(&head)?;
        self.write(data)?;
        self.write(&vec![0; padding(self.offset)])?;
        Ok(())
    }

    fn take_ino(&mut self) -> u32 {
        self.next_ino += 1;
        self.next_ino - 1
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }
}

fn data_size(name: &str, data: &[u8]) -> io::Result<u32> {
    u32::try_from(data.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cpio: {name} is larger than the 4 GiB newc allows"),
        )
    })
}

/// Bytes that bring `offset` to the next multiple of four.
fn padding(offset: u64) -> usize {
    ((4 - offset % 4) % 4) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use std::path::Path;
    use std::process::{Command, Stdio};

    fn sample() -> Vec<u8> {
        let mut cpio = CpioWriter::new(Vec::new());
        cpio.dir("bin", 0o755).unwrap();
        cpio.dir("dev", 0o755).unwrap();
        cpio.file("bin/tool", 0o755, b"#!/bin/sh\necho hi\n")
            .unwrap();
        // Lengths 0 to 4 cover every padding of data and of names.
        for len in 0..5 {
            cpio.file(
                &format!("bin/{}", "n".repeat(len + 1)),
                0o644,
                &vec![b'x'; len],
            )
            .unwrap();
        }
        cpio.symlink("bin/sh", "tool").unwrap();
        cpio.char_device("dev/console", 0o600, 5, 1).unwrap();
        cpio.finish().unwrap()
    }

    fn run_cpio(args: &[&str], dir: &Path, input: &[u8]) -> String {
        let mut child = Command::new("cpio")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the cpio tool (Debian package cpio; tests/run installs it)");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "cpio {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn cpio_lists_every_entry_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let listing = run_cpio(&["-t", "--quiet"], dir.path(), &sample());
        assert_eq!(
            listing.lines().collect::<Vec<_>>(),
            [
                "bin",
                "dev",
                "bin/tool",
                "bin/n",
                "bin/nn",
                "bin/nnn",
                "bin/nnnn",
                "bin/nnnnn",
                "bin/sh",
                "dev/console"
            ]
        );
    }

    #[test]
    fn cpio_extracts_contents_modes_links_and_devices() {
        let dir = tempfile::tempdir().unwrap();
        run_cpio(
            &["-i", "--quiet", "--no-absolute-filenames"],
            dir.path(),
            &sample(),
        );
        let root = dir.path();
        assert_eq!(
            fs::read(root.join("bin/tool")).unwrap(),
            b"#!/bin/sh\necho hi\n"
        );
        let mode = |p: &str| {
            fs::symlink_metadata(root.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("bin/tool"), 0o755);
        assert_eq!(mode("bin/nnn"), 0o644);
        for len in 0..5 {
            let name = format!("bin/{}", "n".repeat(len + 1));
            assert_eq!(fs::read(root.join(name)).unwrap(), vec![b'x'; len]);
        }
        assert_eq!(
            fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new("tool")
        );
        // Device nodes need root to be made; the listing test covers them otherwise.
        if rustix::process::geteuid().is_root() {
            let console = fs::symlink_metadata(root.join("dev/console")).unwrap();
            assert!(console.file_type().is_char_device());
            assert_eq!(console.rdev(), rustix::fs::makedev(5, 1));
        }
    }
}
