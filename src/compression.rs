//! The stream compressions that packages and indexes use, and one decoder
//! for each. Callers decide which one applies (a `.deb` member's suffix, an
//! index's name, a repodata file's first bytes); decoding is the same.

use std::io::{self, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
    Bzip2,
}

impl Compression {
    /// The compression whose magic bytes `head` starts with.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }

    /// The file-name suffix of this compression (`""` for none).
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Xz => ".xz",
            Compression::Zstd => ".zst",
            Compression::Bzip2 => ".bz2",
        }
    }

    /// The compression a name ending in [`Compression::suffix`] has after
    /// `base` (`control.tar.xz` with base `control.tar` is xz).
    pub fn after(name: &str, base: &str) -> Option<Compression> {
        let suffix = name.strip_prefix(base)?;
        [
            Compression::None,
            Compression::Gzip,
            Compression::Xz,
            Compression::Zstd,
            Compression::Bzip2,
        ]
        .into_iter()
        .find(|compression| compression.suffix() == suffix)
    }

    /// Decodes `reader`. Every decoder reads concatenated streams, which all
    /// five formats allow and dpkg and createrepo accept.
    pub fn decoder<'a, R: Read + 'a>(self, reader: R) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(reader),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(reader)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(reader)?),
            Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(reader)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_name_the_compression_after_the_base() {
        assert_eq!(
            Compression::after("data.tar.zst", "data.tar"),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::after("data.tar", "data.tar"),
            Some(Compression::None)
        );
        assert_eq!(Compression::after("data.tar.lz", "data.tar"), None);
        assert_eq!(Compression::after("control.tar.gz", "data.tar"), None);
    }
}
