//! The stream compressions that packages and indexes use, and one decoder
//! for each. Callers decide which one applies (a `.deb` member's suffix, an
//! index's name, a repodata file's first bytes); decoding is the same.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

/// How much [`Compression::decode_ahead`] decodes before its reader asks:
/// enough to keep both threads busy, little enough not to matter.
const AHEAD_CHUNKS: usize = 16;
const CHUNK_BYTES: usize = 256 << 10;

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

    /// Runs `read` on `input` decoded, the decoding done a few chunks ahead
    /// on a thread of its own: for a package archive, decompressing it and
    /// writing out its files then take two cores instead of adding up. An
    /// error of the decoder is what `read` gets from its next read.
    pub fn decode_ahead<R: Read + Send, T>(
        self,
        input: R,
        read: impl FnOnce(&mut dyn Read) -> T,
    ) -> T {
        thread::scope(|scope| {
            let (chunks, received) = sync_channel(AHEAD_CHUNKS);
            scope.spawn(move || self.decode_into(input, &chunks));
            let mut reader = ChunkReader {
                chunks: received,
                current: Vec::new(),
                at: 0,
            };
            // Dropping the reader when `read` returns, maybe before the
            // end, makes the decoder's next send fail, which ends it.
            read(&mut reader)
        })
    }

    fn decode_into(self, input: impl Read, chunks: &SyncSender<io::Result<Vec<u8>>>) {
        let mut decoder = match self.decoder(input) {
            Ok(decoder) => decoder,
            Err(error) => {
                // The reader may have stopped already; nobody to tell.
                let _ = chunks.send(Err(error));
                return;
            }
        };
        loop {
            let mut chunk = vec![0; CHUNK_BYTES];
            let filled = fill(&mut decoder, &mut chunk);
            let last = !matches!(filled, Ok(n) if n == CHUNK_BYTES);
            let sent = match filled {
                Ok(0) => return,
                Ok(n) => {
                    chunk.truncate(n);
                    chunks.send(Ok(chunk))
                }
                Err(error) => chunks.send(Err(error)),
            };
            if last || sent.is_err() {
                return;
            }
        }
    }
}

/// Reads into `buf` until it is full or the input ends; the bytes read.
fn fill(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// The reading end of [`Compression::decode_ahead`]: the decoded chunks in
/// order, the end of the stream when the decoder hangs up.
struct ChunkReader {
    chunks: Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.chunks.recv() {
                Ok(chunk) => {
                    self.current = chunk?;
                    self.at = 0;
                }
                Err(_hung_up) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut encoded = Vec::new();
        liblzma::read::XzEncoder::new(data, 1)
            .read_to_end(&mut encoded)
            .expect("xz encodes");
        encoded
    }

    #[test]
    fn decode_ahead_reads_what_the_decoder_reads() {
        // Several chunks and a part of one, with a pattern that shows a
        // chunk out of order.
        let data: Vec<u8> = (0..(CHUNK_BYTES * 3 + 1234) as u32)
            .flat_map(|n| n.to_le_bytes())
            .collect();
        let encoded = xz(&data);
        let read = Compression::Xz.decode_ahead(encoded.as_slice(), |reader| {
            let mut out = Vec::new();
            reader.read_to_end(&mut out).map(|_| out)
        });
        assert!(read.expect("decodes") == data);
    }

    #[test]
    fn decode_ahead_passes_on_a_corrupt_stream_and_a_reader_that_stops_early() {
        let mut encoded = xz(&[7; 100_000]);
        let middle = encoded.len() / 2;
        encoded[middle] ^= 0xff;
        let read = Compression::Xz.decode_ahead(encoded.as_slice(), |reader| {
            reader.read_to_end(&mut Vec::new())
        });
        assert!(read.is_err());
        let data: Vec<u8> = (0..CHUNK_BYTES * (AHEAD_CHUNKS + 4))
            .map(|n| n as u8)
            .collect();
        let first = Compression::None.decode_ahead(data.as_slice(), |reader| {
            let mut byte = [0];
            reader.read_exact(&mut byte).map(|()| byte[0])
        });
        assert_eq!(first.expect("one byte"), 0);
    }

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
