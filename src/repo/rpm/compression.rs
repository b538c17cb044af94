//! Decompression of repodata files, chosen by magic bytes rather than by
//! file name: the name is the mirror's claim, the bytes are what the
//! checksum vouched for.

use std::io::{self, BufRead, BufReader};

pub use crate::compression::Compression;

/// Wraps `input` in the decoder its first bytes call for.
pub fn decompress<'a>(
    mut input: impl BufRead + 'a,
) -> io::Result<(Compression, Box<dyn BufRead + 'a>)> {
    let head = input.fill_buf()?;
    let kind = Compression::detect(head);
    let reader: Box<dyn BufRead + 'a> = match kind {
        Compression::None => Box::new(input),
        _ => Box::new(BufReader::new(kind.decoder(input)?)),
    };
    Ok((kind, reader))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn every_format_round_trips() {
        let text = b"<metadata packages=\"0\"></metadata>\n".repeat(50);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&text).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&text).unwrap();
        let cases = [
            (Compression::None, text.clone()),
            (Compression::Gzip, gz.finish().unwrap()),
            (Compression::Xz, xz.finish().unwrap()),
            (Compression::Zstd, zstd::encode_all(&text[..], 3).unwrap()),
            (Compression::Bzip2, bz.finish().unwrap()),
        ];
        for (want, data) in cases {
            let (kind, mut reader) = decompress(&data[..]).unwrap();
            assert_eq!(kind, want);
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            assert_eq!(out, text, "{want:?}");
        }
    }
}
