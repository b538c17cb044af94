//! Block codecs: one `Compressor` per thread, the same bytes for the same input.

use std::io;

use liblzma::stream::{Action, Check, Filters, LzmaOptions, Status, Stream};

use super::SquashfsError;
use super::content::Content;
use super::options::{Compression, SquashfsOptions, XzBcj};

/// The compressor ids of the superblock.
const ID_GZIP: u16 = 1;
const ID_XZ: u16 = 4;
const ID_LZ4: u16 = 5;
const ID_ZSTD: u16 = 6;

/// The kernel reads LZ4 blocks only in this ("legacy") framing, and only when told so.
const LZ4_LEGACY: u32 = 1;

/// The superblock's compressor id for `compression`.
pub(crate) fn compressor_id(compression: &Compression) -> u16 {
    match compression {
        Compression::Gzip { .. } => ID_GZIP,
        Compression::Xz(_) => ID_XZ,
        Compression::Lz4 => ID_LZ4,
        Compression::Zstd { .. } => ID_ZSTD,
    }
}

/// The compressor options that follow the superblock, when readers need them: only
/// non-default settings are stored, except for LZ4 whose kernel reader requires them.
pub(crate) fn options_payload(options: &SquashfsOptions) -> Option<Vec<u8>> {
    let mut payload = Vec::new();
    match &options.compression {
        Compression::Xz(xz) => {
            let dict = options.xz_dict_size(xz);
            if dict == options.block_size && xz.bcj.is_none() {
                return None;
            }
            payload.extend_from_slice(&dict.to_le_bytes());
            payload.extend_from_slice(&xz.bcj.map_or(0, XzBcj::flag).to_le_bytes());
        }
        Compression::Zstd { level } if *level != 15 => {
            payload.extend_from_slice(&level.to_le_bytes())
        }
        Compression::Gzip { level } if *level != 9 => {
            payload.extend_from_slice(&level.to_le_bytes());
            payload.extend_from_slice(&15u16.to_le_bytes()); // window bits
            payload.extend_from_slice(&0u16.to_le_bytes()); // default strategy
        }
        Compression::Lz4 => {
            payload.extend_from_slice(&LZ4_LEGACY.to_le_bytes());
            payload.extend_from_slice(&0u32.to_le_bytes()); // no high-compression flag
        }
        Compression::Zstd { .. } | Compression::Gzip { .. } => return None,
    }
    Some(payload)
}

/// A codec with its reusable state; not shared between threads.
pub(crate) enum Compressor {
    Xz {
        level: u32,
        dict_size: u32,
        bcj: Option<XzBcj>,
    },
    Zstd(Box<zstd::bulk::Compressor<'static>>),
    Gzip(Box<flate2::Compress>),
    Lz4,
}

impl Compressor {
    pub(crate) fn new(options: &SquashfsOptions) -> Result<Compressor, SquashfsError> {
        Ok(match &options.compression {
            Compression::Xz(xz) => Compressor::Xz {
                level: xz.level,
                dict_size: options.xz_dict_size(xz),
                bcj: xz.bcj,
            },
            Compression::Zstd { level } => {
                // Levels were validated as 1..=22, so the cast cannot wrap.
                let level = i32::try_from(*level).unwrap_or(22);
                Compressor::Zstd(Box::new(
                    zstd::bulk::Compressor::new(level).map_err(SquashfsError::Compress)?,
                ))
            }
            Compression::Gzip { level } => Compressor::Gzip(Box::new(flate2::Compress::new(
                flate2::Compression::new(*level),
                true,
            ))),
            Compression::Lz4 => Compressor::Lz4,
        })
    }

    /// The compressed form of `data`, or `None` when it would not be smaller (the
    /// format then stores the block as it is and flags it uncompressed).
    pub(crate) fn compress(
        &mut self,
        data: &[u8],
        content: Content,
    ) -> Result<Option<Vec<u8>>, SquashfsError> {
        let packed = match self {
            Compressor::Xz {
                level,
                dict_size,
                bcj,
            } => {
                // The branch filter pays off on machine code only, and the
                // caller knows which blocks hold it: one compression per
                // block, where trying both (as mksquashfs does) costs two.
                let filter = bcj.filter(|_| content == Content::MachineCode);
                xz(data, *level, *dict_size, filter)?
            }
            Compressor::Zstd(zstd) => zstd.compress(data).map_err(SquashfsError::Compress)?,
            Compressor::Gzip(deflate) => match gzip(deflate, data)? {
                Some(packed) => packed,
                None => return Ok(None),
            },
            Compressor::Lz4 => lz4_flex::block::compress(data),
        };
        Ok((packed.len() < data.len()).then_some(packed))
    }
}

fn xz(
    data: &[u8],
    level: u32,
    dict_size: u32,
    bcj: Option<XzBcj>,
) -> Result<Vec<u8>, SquashfsError> {
    let lzma_error = |e: liblzma::stream::Error| SquashfsError::Compress(io::Error::from(e));
    let mut lzma = LzmaOptions::new_preset(level).map_err(lzma_error)?;
    lzma.dict_size(dict_size);
    let mut filters = Filters::new();
    match bcj {
        Some(XzBcj::X86) => filters.x86(),
        Some(XzBcj::PowerPc) => filters.powerpc(),
        Some(XzBcj::Ia64) => filters.ia64(),
        Some(XzBcj::Arm) => filters.arm(),
        Some(XzBcj::ArmThumb) => filters.arm_thumb(),
        Some(XzBcj::Sparc) => filters.sparc(),
        None => &mut filters,
    };
    filters.lzma2(&lzma);
    // The kernel's xz decoder checks CRC32 but not every other check type.
    let mut stream = Stream::new_stream_encoder(&filters, Check::Crc32).map_err(lzma_error)?;
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 256);
    loop {
        let consumed = usize::try_from(stream.total_in()).unwrap_or(data.len());
        let rest = data.get(consumed..).unwrap_or_default();
        if stream
            .process_vec(rest, &mut out, Action::Finish)
            .map_err(lzma_error)?
            == Status::StreamEnd
        {
            return Ok(out);
        }
        out.reserve(out.capacity().max(4096));
    }
}

/// zlib-compresses into a buffer one byte smaller than the input: if that does not
/// fit, the block is incompressible and stored raw anyway.
fn gzip(deflate: &mut flate2::Compress, data: &[u8]) -> Result<Option<Vec<u8>>, SquashfsError> {
    deflate.reset();
    let mut out = Vec::with_capacity(data.len().saturating_sub(1));
    let status = deflate
        .compress_vec(data, &mut out, flate2::FlushCompress::Finish)
        .map_err(|e| SquashfsError::Compress(io::Error::other(e)))?;
    Ok((status == flate2::Status::StreamEnd).then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn roundtrip(compression: Compression, data: &[u8]) -> Vec<u8> {
        let options = SquashfsOptions {
            compression: compression.clone(),
            ..SquashfsOptions::default()
        };
        let mut compressor = Compressor::new(&options).expect("codec");
        let packed = compressor
            .compress(data, Content::Other)
            .expect("compress")
            .expect("smaller");
        let mut out = Vec::new();
        match compression {
            Compression::Xz(_) => {
                liblzma::read::XzDecoder::new(&packed[..])
                    .read_to_end(&mut out)
                    .expect("xz");
            }
            Compression::Zstd { .. } => out = zstd::decode_all(&packed[..]).expect("zstd"),
            Compression::Gzip { .. } => {
                flate2::read::ZlibDecoder::new(&packed[..])
                    .read_to_end(&mut out)
                    .expect("zlib");
            }
            Compression::Lz4 => {
                out = lz4_flex::block::decompress(&packed, data.len()).expect("lz4");
            }
        }
        out
    }

    #[test]
    fn every_codec_roundtrips() {
        let data: Vec<u8> = (0..100_000u32)
            .map(|i| ((i % 251) ^ (i / 1000)) as u8)
            .collect();
        for name in ["xz", "zstd", "gzip", "lz4"] {
            let compression = Compression::from_name(name, None).expect("known codec");
            assert_eq!(roundtrip(compression, &data), data, "{name}");
        }
    }

    #[test]
    fn incompressible_blocks_are_reported() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..65536)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        for name in ["xz", "zstd", "gzip", "lz4"] {
            let options = SquashfsOptions {
                compression: Compression::from_name(name, None).expect("known codec"),
                ..SquashfsOptions::default()
            };
            let mut compressor = Compressor::new(&options).expect("codec");
            assert_eq!(
                compressor
                    .compress(&noise, Content::Other)
                    .expect("compress"),
                None,
                "{name}"
            );
        }
    }

    #[test]
    fn option_blocks_only_when_readers_need_them() {
        let mut options = SquashfsOptions::default();
        // x86 filter, dictionary = block size
        assert_eq!(
            options_payload(&options),
            Some([131072u32.to_le_bytes(), 1u32.to_le_bytes()].concat())
        );
        options.compression = Compression::from_name("zstd", None).expect("zstd");
        assert_eq!(options_payload(&options), None);
        options.compression = Compression::from_name("lz4", None).expect("lz4");
        assert_eq!(
            options_payload(&options),
            Some([1u32.to_le_bytes(), 0u32.to_le_bytes()].concat())
        );
    }
}
