//! The cpio archive inside an rpm payload.
//!
//! rpm writes the "new ASCII" format (`070701`) and, for packages with files
//! of 4 GiB or more, its own stripped form (`07070X`), whose entries carry
//! only the index of the file in the header: all metadata, size included,
//! comes from the header. rpm takes metadata from the header for both forms,
//! and so does the installer; the archive only names the entry and carries
//! its content.

use std::io::{self, Read};

use thiserror::Error;

const NEWC_MAGIC: &[u8; 6] = b"070701";
const STRIPPED_MAGIC: &[u8; 6] = b"07070X";
const TRAILER: &[u8] = b"TRAILER!!!";
/// A newc header is the magic and thirteen 8-digit hex fields.
const NEWC_REST: usize = 13 * 8;
/// Longer names than this are no path any filesystem takes.
const MAX_NAME: usize = 64 * 1024;

#[derive(Debug, Error)]
pub enum CpioError {
    #[error("reading the payload: {0}")]
    Io(#[from] io::Error),
    #[error("payload entry {offset:#x}: unknown cpio magic {magic:?}")]
    BadMagic { offset: u64, magic: String },
    #[error("payload entry {offset:#x}: malformed header field")]
    BadField { offset: u64 },
    #[error("payload entry {offset:#x}: name of {size} bytes is empty, unterminated or too long")]
    BadName { offset: u64, size: usize },
    #[error("the payload ends before its trailer")]
    Truncated,
}

/// How an archive entry names its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryName {
    /// A newc entry: the path as archived (`./usr/bin/x`) and its size.
    Path { name: Vec<u8>, size: u64 },
    /// A stripped entry: the file's index in the header; its size is the
    /// header's, given to [`CpioReader::set_size`].
    Index(u32),
}

/// Reads entries one by one; each entry's content is read (or skipped)
/// before the next header.
pub struct CpioReader<R> {
    inner: R,
    /// Bytes consumed so far, for the 4-byte alignment rules.
    offset: u64,
    /// Content bytes of the current entry not read yet.
    pending: u64,
}

fn hex_field(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    u64::from_str_radix(text, 16).ok()
}

impl<R: Read> CpioReader<R> {
    pub fn new(inner: R) -> Self {
        CpioReader {
            inner,
            offset: 0,
            pending: 0,
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), CpioError> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => CpioError::Truncated,
            _ => CpioError::Io(e),
        })?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn skip(&mut self, mut count: u64) -> Result<(), CpioError> {
        let mut buf = [0u8; 8192];
        while count > 0 {
            let chunk = count.min(buf.len() as u64) as usize;
            self.read_exact(&mut buf[..chunk])?;
            count -= chunk as u64;
        }
        Ok(())
    }

    fn align(&mut self) -> Result<(), CpioError> {
        let pad = (4 - self.offset % 4) % 4;
        self.skip(pad)
    }

    /// The next entry, or `None` at the trailer. The rest of the previous
    /// entry's content is skipped first.
    pub fn next_entry(&mut self) -> Result<Option<EntryName>, CpioError> {
        let pending = std::mem::take(&mut self.pending);
        self.skip(pending)?;
        self.align()?;
        let start = self.offset;
        let mut magic = [0u8; 6];
        self.read_exact(&mut magic)?;
        if &magic == STRIPPED_MAGIC {
            let mut field = [0u8; 8];
            self.read_exact(&mut field)?;
            let index = hex_field(&field)
                .and_then(|i| u32::try_from(i).ok())
                .ok_or(CpioError::BadField { offset: start })?;
            self.align()?;
            return Ok(Some(EntryName::Index(index)));
        }
        if &magic != NEWC_MAGIC {
            return Err(CpioError::BadMagic {
                offset: start,
                magic: String::from_utf8_lossy(&magic).into_owned(),
            });
        }
        let mut rest = [0u8; NEWC_REST];
        self.read_exact(&mut rest)?;
        let field = |n: usize| {
            hex_field(&rest[n * 8..n * 8 + 8]).ok_or(CpioError::BadField { offset: start })
        };
        // Fields: ino mode uid gid nlink mtime filesize devmajor devminor
        // rdevmajor rdevminor namesize check.
        let size = field(6)?;
        let name_size = field(11)? as usize;
        if name_size == 0 || name_size > MAX_NAME {
            return Err(CpioError::BadName {
                offset: start,
                size: name_size,
            });
        }
        let mut name = vec![0u8; name_size];
        self.read_exact(&mut name)?;
        if name.pop() != Some(0) || name.contains(&0) {
            return Err(CpioError::BadName {
                offset: start,
                size: name_size,
            });
        }
        self.align()?;
        if name == TRAILER {
            return Ok(None);
        }
        self.pending = size;
        Ok(Some(EntryName::Path { name, size }))
    }

    /// Sets the content size of a stripped entry.
    pub fn set_size(&mut self, size: u64) {
        self.pending = size;
    }

    /// The current entry's content.
    pub fn content(&mut self) -> Content<'_, R> {
        Content { cpio: self }
    }
}

/// [`Read`] over the current entry's content only.
pub struct Content<'a, R> {
    cpio: &'a mut CpioReader<R>,
}

impl<R: Read> Read for Content<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (buf.len() as u64).min(self.cpio.pending) as usize;
        if want == 0 {
            return Ok(0);
        }
        let got = self.cpio.inner.read(&mut buf[..want])?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "payload ends inside a file",
            ));
        }
        self.cpio.pending -= got as u64;
        self.cpio.offset += got as u64;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newc(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1,
            0o100644,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        )
        .into_bytes();
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    #[test]
    fn reads_newc_and_stripped_entries() {
        let mut archive = newc("./a", b"hello");
        archive.extend_from_slice(b"07070X00000002\0\0abc\0");
        archive.extend(newc("TRAILER!!!", b""));
        let mut cpio = CpioReader::new(&archive[..]);
        let first = cpio.next_entry().expect("entry");
        assert_eq!(
            first,
            Some(EntryName::Path {
                name: b"./a".to_vec(),
                size: 5
            })
        );
        let mut content = Vec::new();
        cpio.content().read_to_end(&mut content).expect("read");
        assert_eq!(content, b"hello");
        assert_eq!(cpio.next_entry().expect("entry"), Some(EntryName::Index(2)));
        cpio.set_size(3);
        let mut content = Vec::new();
        cpio.content().read_to_end(&mut content).expect("read");
        assert_eq!(content, b"abc");
        assert_eq!(cpio.next_entry().expect("trailer"), None);
    }

    #[test]
    fn truncation_and_garbage_are_errors() {
        let archive = newc("./a", b"hello");
        let mut cpio = CpioReader::new(&archive[..archive.len() - 4]);
        assert!(cpio.next_entry().is_ok());
        assert!(matches!(cpio.next_entry(), Err(CpioError::Truncated)));
        let mut cpio = CpioReader::new(&b"070702xxxxxxxx"[..]);
        assert!(matches!(cpio.next_entry(), Err(CpioError::BadMagic { .. })));
    }
}
