//! What the caller chooses about an image, validated against the format and the kernel.

use std::num::NonZeroUsize;

use super::SquashfsError;

/// Smallest and largest data block the format allows (it stores the block size as a power of two).
const MIN_BLOCK_SIZE: u32 = 4096;
const MAX_BLOCK_SIZE: u32 = 1 << 20;
/// The kernel's xz decoder is given at least a metadata block's worth of dictionary.
const MIN_XZ_DICT: u32 = 8192;

/// How an image is packed. `Default` is what a live root wants: xz with the x86 branch
/// filter (executables and libraries are most of a root filesystem), 128 KiB blocks,
/// every core, owners and times taken from the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquashfsOptions {
    pub compression: Compression,
    /// Data block size in bytes: a power of two from 4 KiB to 1 MiB.
    pub block_size: u32,
    /// Compression threads; `None` uses every core. The output never depends on it.
    pub threads: Option<NonZeroUsize>,
    /// Glob patterns matched against paths relative to the source (`proc/*`, `**/*.pyc`);
    /// `*` stops at `/`, `**` crosses it. An excluded directory takes its contents with it.
    pub exclude: Vec<String>,
    /// Store every entry as owned by root (uid 0, gid 0).
    pub all_root: bool,
    /// Store this modification time (seconds since the epoch) on every entry.
    pub mtime: Option<u32>,
    /// Clamp modification times to this value (`SOURCE_DATE_EPOCH`): later times become it.
    pub clamp_mtime: Option<u32>,
    /// A directory where compressed blocks are remembered for the next image (see
    /// `memo.rs`): one that holds mostly the same files then compresses only what
    /// changed. The image is the same with or without it.
    pub memo: Option<std::path::PathBuf>,
}

impl Default for SquashfsOptions {
    fn default() -> Self {
        SquashfsOptions {
            compression: Compression::Xz(XzOptions::default()),
            block_size: 128 * 1024,
            threads: None,
            exclude: Vec::new(),
            all_root: false,
            mtime: None,
            clamp_mtime: None,
            memo: None,
        }
    }
}

/// The codec for data and metadata blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compression {
    Xz(XzOptions),
    /// zstd level 1..=22 (mksquashfs's default is 15).
    Zstd {
        level: u32,
    },
    /// zlib stream, level 1..=9 (mksquashfs's default is 9).
    Gzip {
        level: u32,
    },
    /// LZ4 block format (the kernel's "legacy" framing); it has no levels.
    Lz4,
}

/// xz settings. The kernel decodes one branch filter per block, so an image names at most one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XzOptions {
    /// liblzma preset 0..=9.
    pub level: u32,
    /// Dictionary size; `None` means the block size. The kernel accepts only 2^n and
    /// 2^n + 2^(n-1), and a dictionary larger than a block buys nothing.
    pub dict_size: Option<u32>,
    /// Branch/call/jump filter, used for the blocks of files that start like machine
    /// code (ELF, `ar` archives); other blocks, fragments and metadata go without it.
    pub bcj: Option<XzBcj>,
}

impl Default for XzOptions {
    fn default() -> Self {
        XzOptions {
            level: 6,
            dict_size: None,
            bcj: Some(XzBcj::X86),
        }
    }
}

/// The branch filters squashfs can name in its xz options (one bit each in the superblock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XzBcj {
    X86,
    PowerPc,
    Ia64,
    Arm,
    ArmThumb,
    Sparc,
}

impl XzBcj {
    pub(crate) fn flag(self) -> u32 {
        match self {
            XzBcj::X86 => 1,
            XzBcj::PowerPc => 2,
            XzBcj::Ia64 => 4,
            XzBcj::Arm => 8,
            XzBcj::ArmThumb => 16,
            XzBcj::Sparc => 32,
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compression::Xz(xz) => {
                write!(f, "xz level {}", xz.level)?;
                if let Some(bcj) = xz.bcj {
                    write!(f, " with the {bcj:?} filter")?;
                }
                Ok(())
            }
            Compression::Zstd { level } => write!(f, "zstd level {level}"),
            Compression::Gzip { level } => write!(f, "gzip level {level}"),
            Compression::Lz4 => f.write_str("lz4"),
        }
    }
}

impl Compression {
    /// The codec named `name` (`xz`, `zstd`, `gzip`, `lz4`) at `level`, or its default level.
    pub fn from_name(name: &str, level: Option<u32>) -> Result<Compression, SquashfsError> {
        let compression = match name {
            "xz" => Compression::Xz(XzOptions {
                level: level.unwrap_or(6),
                ..XzOptions::default()
            }),
            "zstd" => Compression::Zstd {
                level: level.unwrap_or(15),
            },
            "gzip" => Compression::Gzip {
                level: level.unwrap_or(9),
            },
            "lz4" if level.is_none() => Compression::Lz4,
            "lz4" => return Err(invalid("lz4 has no compression levels")),
            other => return Err(invalid(format!("unknown compression {other:?}"))),
        };
        compression.validate(MAX_BLOCK_SIZE)?;
        Ok(compression)
    }

    fn validate(&self, block_size: u32) -> Result<(), SquashfsError> {
        match self {
            Compression::Xz(xz) => {
                if xz.level > 9 {
                    return Err(invalid("xz levels are 0 to 9"));
                }
                if let Some(dict) = xz.dict_size {
                    let shape_ok =
                        dict.is_power_of_two() || (dict % 3 == 0 && (dict / 3).is_power_of_two());
                    if !shape_ok || !(MIN_XZ_DICT..=block_size).contains(&dict) {
                        return Err(invalid(format!(
                            "xz dictionary size {dict} must be 2^n or 2^n+2^(n-1), from {MIN_XZ_DICT} up to the block size {block_size}"
                        )));
                    }
                }
                Ok(())
            }
            Compression::Zstd { level } if !(1..=22).contains(level) => {
                Err(invalid("zstd levels are 1 to 22"))
            }
            Compression::Gzip { level } if !(1..=9).contains(level) => {
                Err(invalid("gzip levels are 1 to 9"))
            }
            _ => Ok(()),
        }
    }
}

impl SquashfsOptions {
    pub(crate) fn validate(&self) -> Result<(), SquashfsError> {
        check_block_size(self.block_size)?;
        self.compression.validate(self.block_size)
    }

    /// The xz dictionary actually used: the explicit one or the block size.
    pub(crate) fn xz_dict_size(&self, xz: &XzOptions) -> u32 {
        xz.dict_size.unwrap_or(self.block_size)
    }
}

fn check_block_size(size: u32) -> Result<u32, SquashfsError> {
    if size.is_power_of_two() && (MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&size) {
        Ok(size)
    } else {
        Err(invalid(format!(
            "block size {size} must be a power of two from 4K to 1M"
        )))
    }
}

/// Reads a size such as `131072`, `128K`, `128KiB` or `1M` (binary units).
pub fn parse_size(text: &str) -> Result<u32, SquashfsError> {
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(digits_end);
    let number: u32 = digits
        .parse()
        .map_err(|_| invalid(format!("{text:?} is not a size")))?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        _ => return Err(invalid(format!("{text:?}: unknown unit (use K or M)"))),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| invalid(format!("{text:?} is too large")))
}

/// A data block size: [`parse_size`] restricted to what the format allows.
pub fn parse_block_size(text: &str) -> Result<u32, SquashfsError> {
    check_block_size(parse_size(text)?)
}

fn invalid(message: impl Into<String>) -> SquashfsError {
    SquashfsError::InvalidOption(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_block_size("128K").ok(), Some(131072));
        assert_eq!(parse_block_size("1M").ok(), Some(1 << 20));
        assert_eq!(parse_block_size("4096").ok(), Some(4096));
        assert!(parse_block_size("2M").is_err());
        assert!(parse_block_size("3000").is_err());
        assert!(parse_block_size("K").is_err());
        assert!(parse_size("99999999M").is_err());
    }

    #[test]
    fn xz_dictionaries_follow_the_kernel_rule() {
        let with_dict = |dict| {
            let options = SquashfsOptions {
                compression: Compression::Xz(XzOptions {
                    dict_size: Some(dict),
                    ..XzOptions::default()
                }),
                ..SquashfsOptions::default()
            };
            options.validate().is_ok()
        };
        assert!(with_dict(65536));
        assert!(with_dict(98304)); // 2^16 + 2^15
        assert!(!with_dict(100000));
        assert!(!with_dict(1 << 18)); // larger than the 128 KiB block
    }

    #[test]
    fn levels_are_checked_per_codec() {
        assert!(Compression::from_name("zstd", Some(22)).is_ok());
        assert!(Compression::from_name("zstd", Some(23)).is_err());
        assert!(Compression::from_name("gzip", Some(0)).is_err());
        assert!(Compression::from_name("lz4", Some(1)).is_err());
        assert!(Compression::from_name("lzo", None).is_err());
    }
}
