//! Reading qcow2 images (versions 2 and 3) and the backing files behind them.
//!
//! A guest cluster is found through the L1 table (read whole when the image is opened)
//! and one L2 table (read when needed; the last one is kept). It is stored whole,
//! deflated (raw deflate with qemu's 4 KiB window), reads as zeros (the zero flag), or
//! is unallocated and read from the backing file, or as zeros when there is none.
//!
//! Every image is untrusted input: tables are bounded as qemu bounds them (an L1 table
//! of at most 32 MiB, checked against the file's length before it is read; L2 tables
//! and compressed data of at most a few clusters) and every offset is checked, so a
//! hostile file gives an error, never a panic or a huge allocation. Features this
//! reader does not implement (encryption, external data files, extended L2 entries,
//! compression other than deflate, unknown incompatible bits) are refused by name, as
//! are images marked dirty or corrupt. Files are only ever opened read-only.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use super::qcow2::{
    BACKING_FORMAT_EXTENSION, BackingFormat, COMPRESSED, DEFLATE_WINDOW_BITS, GuestDisk,
    MAX_L1_BYTES, Qcow2Error, Qcow2Header, SECTOR, VisitCluster, is_zero, l1_size, read_header,
};

/// The header, its extensions and the backing file name are in the first cluster,
/// which is at most 2 MiB.
const MAX_HEADER_READ: u64 = 2 << 20;
/// Host offsets in L1 and standard L2 entries: bits 9 to 55.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// L1 entry bits that must be clear (all but the offset and COPIED).
const L1_RESERVED: u64 = 0x7f00_0000_0000_01ff;
/// Standard L2 entry bits that must be clear (all but COPIED, the offset and the zero
/// flag).
const L2_RESERVED: u64 = 0x3f00_0000_0000_01fe;
/// Version 3: a standard cluster that reads as zeros.
const ZERO_FLAG: u64 = 1;
/// Incompatible feature bits.
const DIRTY: u64 = 1 << 0;
const CORRUPT: u64 = 1 << 1;
const EXTERNAL_DATA_FILE: u64 = 1 << 2;
const COMPRESSION_TYPE: u64 = 1 << 3;
const EXTENDED_L2: u64 = 1 << 4;
/// A longer chain of backing files is taken for a loop.
const MAX_CHAIN: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}: no such file")]
    NotFound(PathBuf),
    #[error("{0}: not a regular file")]
    NotAFile(PathBuf),
    #[error("{path}: {source}")]
    Header {
        path: PathBuf,
        #[source]
        source: Box<Qcow2Error>,
    },
    #[error("{0}: encrypted images are not supported")]
    Encrypted(PathBuf),
    #[error("{0}: the image keeps its data in an external data file, which is not supported")]
    ExternalDataFile(PathBuf),
    #[error("{0}: extended L2 entries (subclusters) are not supported")]
    ExtendedL2(PathBuf),
    #[error("{path}: compression type {kind} is not supported (only deflate, type 0)")]
    CompressionType { path: PathBuf, kind: u8 },
    #[error("{path}: unknown incompatible feature bits {bits:#x}")]
    UnknownFeatures { path: PathBuf, bits: u64 },
    #[error(
        "{0}: the image is marked dirty (it was not closed cleanly); `qemu-img check -r all` repairs it"
    )]
    Dirty(PathBuf),
    #[error("{0}: the image is marked corrupt; `qemu-img check -r all` may repair it")]
    MarkedCorrupt(PathBuf),
    #[error("{path}: corrupt qcow2 image: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{image}: its backing file {backing} cannot be opened: {source}")]
    BackingMissing {
        image: PathBuf,
        backing: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{image}: its backing file {backing} is not a {recorded} image as recorded")]
    BackingFormat {
        image: PathBuf,
        backing: PathBuf,
        recorded: &'static str,
    },
    #[error("{image}: backing file format {format:?} is not supported (qcow2 and raw are)")]
    UnsupportedBackingFormat { image: PathBuf, format: String },
    #[error(
        "{image}: its backing file {backing} has a virtual size of {backing_size} bytes, not {size} (it was changed or replaced)"
    )]
    BackingSize {
        image: PathBuf,
        backing: PathBuf,
        size: u64,
        backing_size: u64,
    },
    #[error("{0}: more than {MAX_CHAIN} backing files in a chain (a loop?)")]
    ChainTooDeep(PathBuf),
}

impl ReadError {
    /// Whether the image (or a backing file) is at fault rather than the machine.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ReadError::Io { .. })
    }
}

/// Where a guest cluster's data is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mapping {
    /// In the backing file, or zeros without one.
    Unallocated,
    Zero,
    /// Stored whole at this host offset.
    Standard(u64),
    /// Deflated: `length` bytes from `offset` hold the stream (and maybe more).
    Compressed {
        offset: u64,
        length: u64,
    },
}

/// An open qcow2 image, read-only.
struct Qcow2Image {
    file: File,
    path: PathBuf,
    header: Qcow2Header,
    file_size: u64,
    l1: Vec<u64>,
    /// The last L2 table read, by L1 index.
    l2: Option<(usize, Vec<u64>)>,
    /// The last compressed cluster inflated, by its L2 entry's offset.
    inflated: Option<(u64, Vec<u8>)>,
}

impl Qcow2Image {
    /// Opens `path` read-only and checks its header and L1 table.
    fn open(path: &Path) -> Result<Qcow2Image, ReadError> {
        let (file, file_size) = open_file(path)?;
        let mut first = vec![0; file_size.min(MAX_HEADER_READ) as usize];
        read_exact_at(&file, path, &mut first, 0)?;
        let header = read_header(&first).map_err(|source| ReadError::Header {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        check_features(&header, path)?;
        let corrupt = |reason: String| ReadError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let cluster = 1u64 << header.cluster_bits;
        let needed = l1_size(header.size, header.cluster_bits).map_err(|e| {
            corrupt(format!(
                "a virtual size of {} bytes is too large: {e}",
                header.size
            ))
        })?;
        if header.l1_size < needed {
            return Err(corrupt(format!(
                "an L1 table of {} entries does not cover {} bytes",
                header.l1_size, header.size
            )));
        }
        let l1_bytes = u64::from(header.l1_size) * 8;
        if l1_bytes > MAX_L1_BYTES {
            return Err(corrupt(format!(
                "an L1 table of {l1_bytes} bytes (qemu reads at most {MAX_L1_BYTES})"
            )));
        }
        let offset = header.l1_table_offset;
        if !offset.is_multiple_of(cluster)
            || (l1_bytes > 0 && (offset == 0 || offset.saturating_add(l1_bytes) > file_size))
        {
            return Err(corrupt(format!(
                "the L1 table at {offset} ({l1_bytes} bytes) is not cluster-aligned within the file \
                 ({file_size} bytes)"
            )));
        }
        // Within the file, checked above: the allocation is bounded by its length.
        let mut bytes = vec![0; l1_bytes as usize];
        read_exact_at(&file, path, &mut bytes, offset)?;
        let l1 = be_entries(&bytes);
        Ok(Qcow2Image {
            file,
            path: path.to_owned(),
            header,
            file_size,
            l1,
            l2: None,
            inflated: None,
        })
    }

    /// The backing file's path (resolved against this image's directory) and its
    /// recorded format, if any.
    fn backing(&self) -> Result<Option<(PathBuf, Option<BackingFormat>)>, ReadError> {
        let Some(name) = &self.header.backing_file else {
            return Ok(None);
        };
        let name = Path::new(OsStr::from_bytes(name));
        let path = match self.path.parent() {
            Some(directory) if name.is_relative() => directory.join(name),
            _ => name.to_owned(),
        };
        let format = self
            .header
            .extensions
            .iter()
            .rev()
            .find(|extension| extension.kind == BACKING_FORMAT_EXTENSION)
            .map(|extension| match extension.data.as_slice() {
                b"qcow2" => Ok(BackingFormat::Qcow2),
                b"raw" => Ok(BackingFormat::Raw),
                other => Err(ReadError::UnsupportedBackingFormat {
                    image: self.path.clone(),
                    format: String::from_utf8_lossy(other).into_owned(),
                }),
            })
            .transpose()?;
        Ok(Some((path, format)))
    }

    fn corrupt(&self, reason: String) -> ReadError {
        ReadError::Corrupt {
            path: self.path.clone(),
            reason,
        }
    }

    fn cluster_bits(&self) -> u32 {
        self.header.cluster_bits
    }

    /// Where guest cluster `guest_cluster` (below the virtual size) is.
    fn mapping(&mut self, guest_cluster: u64) -> Result<Mapping, ReadError> {
        let bits = self.cluster_bits();
        let entry_bits = bits - 3;
        // Below the virtual size, which the L1 table covers (checked on opening).
        let l1_index = (guest_cluster >> entry_bits) as usize;
        let l1_entry = *self.l1.get(l1_index).ok_or_else(|| {
            self.corrupt(format!("guest cluster {guest_cluster} beyond the L1 table"))
        })?;
        let table_offset = l1_entry & OFFSET_MASK;
        if l1_entry & L1_RESERVED != 0 {
            return Err(self.corrupt(format!(
                "L1 entry {l1_index} ({l1_entry:#x}) has reserved bits set"
            )));
        }
        if table_offset == 0 {
            return Ok(Mapping::Unallocated);
        }
        let table = self.l2_table(l1_index, table_offset)?;
        let entry = table[(guest_cluster & ((1 << entry_bits) - 1)) as usize];
        self.decode_l2(entry)
    }

    fn l2_table(&mut self, l1_index: usize, offset: u64) -> Result<&[u64], ReadError> {
        let cluster = 1u64 << self.cluster_bits();
        if self.l2.as_ref().is_none_or(|(index, _)| *index != l1_index) {
            if !offset.is_multiple_of(cluster) || offset.saturating_add(cluster) > self.file_size {
                return Err(self.corrupt(format!(
                    "the L2 table at {offset} is not cluster-aligned within the file"
                )));
            }
            // One cluster, at most 2 MiB.
            let mut bytes = vec![0; cluster as usize];
            read_exact_at(&self.file, &self.path, &mut bytes, offset)?;
            self.l2 = Some((l1_index, be_entries(&bytes)));
        }
        Ok(self.l2.as_ref().map_or(&[], |(_, table)| table.as_slice()))
    }

    fn decode_l2(&self, entry: u64) -> Result<Mapping, ReadError> {
        let bits = self.cluster_bits();
        if entry & COMPRESSED != 0 {
            // The byte offset below bit x, then the number of 512-byte sectors beyond
            // the first that the data reaches into.
            let x = 62 - (bits - 8);
            let offset = entry & ((1 << x) - 1);
            let sectors = ((entry >> x) & ((1 << (bits - 8)) - 1)) + 1;
            let length = sectors * SECTOR - offset % SECTOR;
            if offset >= self.file_size {
                return Err(self.corrupt(format!(
                    "compressed cluster at {offset}, beyond the end of the file"
                )));
            }
            return Ok(Mapping::Compressed { offset, length });
        }
        let reserved = if self.header.version >= 3 {
            L2_RESERVED
        } else {
            L2_RESERVED | ZERO_FLAG
        };
        if entry & reserved != 0 {
            return Err(self.corrupt(format!("L2 entry {entry:#x} has reserved bits set")));
        }
        if entry & ZERO_FLAG != 0 {
            return Ok(Mapping::Zero);
        }
        let offset = entry & OFFSET_MASK;
        let cluster = 1u64 << bits;
        if offset == 0 {
            Ok(Mapping::Unallocated)
        } else if !offset.is_multiple_of(cluster) || offset.saturating_add(cluster) > self.file_size
        {
            Err(self.corrupt(format!(
                "data cluster at {offset} is not cluster-aligned within the file"
            )))
        } else {
            Ok(Mapping::Standard(offset))
        }
    }

    /// Fills `out` (within one cluster) from guest offset `at` as this image stores it:
    /// `Some(true)` from stored data, `Some(false)` zeros, `None` where the cluster is
    /// unallocated and the backing file (if any) has the data.
    fn read_own(&mut self, at: u64, out: &mut [u8]) -> Result<Option<bool>, ReadError> {
        let bits = self.cluster_bits();
        let within = at % (1 << bits);
        match self.mapping(at >> bits)? {
            Mapping::Unallocated => Ok(None),
            Mapping::Zero => {
                out.fill(0);
                Ok(Some(false))
            }
            Mapping::Standard(host) => {
                read_exact_at(&self.file, &self.path, out, host + within)?;
                Ok(Some(true))
            }
            Mapping::Compressed { offset, length } => {
                let inflated = self.inflate(offset, length)?;
                let start = within as usize;
                out.copy_from_slice(&inflated[start..start + out.len()]);
                Ok(Some(true))
            }
        }
    }

    /// The inflated cluster whose deflated data is at `offset`.
    fn inflate(&mut self, offset: u64, length: u64) -> Result<&[u8], ReadError> {
        if self.inflated.as_ref().is_none_or(|(at, _)| *at != offset) {
            let cluster = 1usize << self.cluster_bits();
            // At most two clusters (the sector count has bits - 8 bits); the data may
            // end before the last sector does, and before the end of the file.
            let length = length.min(self.file_size - offset) as usize;
            let mut input = vec![0; length];
            read_exact_at(&self.file, &self.path, &mut input, offset)?;
            let mut out = vec![0; cluster];
            let mut stream = flate2::Decompress::new_with_window_bits(false, DEFLATE_WINDOW_BITS);
            let status = stream.decompress(&input, &mut out, flate2::FlushDecompress::Finish);
            // qemu's rule: the cluster is filled, whether or not the stream ended there.
            let filled = stream.total_out() == cluster as u64;
            if status.is_err() || !filled {
                return Err(self.corrupt(format!(
                    "the compressed cluster at {offset} does not inflate to a cluster"
                )));
            }
            self.inflated = Some((offset, out));
        }
        Ok(self
            .inflated
            .as_ref()
            .map_or(&[], |(_, data)| data.as_slice()))
    }
}

fn check_features(header: &Qcow2Header, path: &Path) -> Result<(), ReadError> {
    let path = path.to_owned();
    let features = header.incompatible_features;
    if header.crypt_method != 0 {
        return Err(ReadError::Encrypted(path));
    }
    if features & DIRTY != 0 {
        return Err(ReadError::Dirty(path));
    }
    if features & CORRUPT != 0 {
        return Err(ReadError::MarkedCorrupt(path));
    }
    if features & EXTERNAL_DATA_FILE != 0 {
        return Err(ReadError::ExternalDataFile(path));
    }
    if features & EXTENDED_L2 != 0 {
        return Err(ReadError::ExtendedL2(path));
    }
    if header.compression_type != 0 {
        return Err(ReadError::CompressionType {
            path,
            kind: header.compression_type,
        });
    }
    let unknown =
        features & !(DIRTY | CORRUPT | EXTERNAL_DATA_FILE | COMPRESSION_TYPE | EXTENDED_L2);
    // The compression type bit with type 0 (deflate) asks for nothing unusual.
    if unknown != 0 {
        return Err(ReadError::UnknownFeatures {
            path,
            bits: unknown,
        });
    }
    Ok(())
}

/// One image of a chain.
enum Layer {
    Qcow2(Box<Qcow2Image>),
    Raw {
        file: File,
        path: PathBuf,
        size: u64,
    },
}

/// A qcow2 image and its backing files, top first: the disk its guest sees.
pub struct Chain {
    layers: Vec<Layer>,
    size: u64,
    cluster_bits: u32,
}

impl Chain {
    /// Opens the qcow2 image `path` and every backing file behind it, read-only. Each
    /// backing file must exist, have the format recorded for it (or, unrecorded, be
    /// qcow2 by its magic or else raw) and the same virtual size as the image above it.
    pub fn open(path: &Path) -> Result<Chain, ReadError> {
        let top = Qcow2Image::open(path)?;
        let size = top.header.size;
        let cluster_bits = top.cluster_bits();
        let mut next = top.backing()?;
        let mut layers = vec![Layer::Qcow2(Box::new(top))];
        while let Some((backing, recorded)) = next.take() {
            let image = match layers.last() {
                Some(Layer::Qcow2(image)) => image.path.clone(),
                _ => break,
            };
            if layers.len() >= MAX_CHAIN {
                return Err(ReadError::ChainTooDeep(path.to_owned()));
            }
            let missing = |source| ReadError::BackingMissing {
                image: image.clone(),
                backing: backing.clone(),
                source,
            };
            let metadata = fs::metadata(&backing).map_err(missing)?;
            if !metadata.is_file() {
                return Err(missing(io::Error::other("not a regular file")));
            }
            let is_qcow2 = match recorded {
                Some(format) => format == BackingFormat::Qcow2,
                None => has_qcow2_magic(&backing)?,
            };
            let wrong_format = |recorded: BackingFormat| ReadError::BackingFormat {
                image: image.clone(),
                backing: backing.clone(),
                recorded: recorded.name(),
            };
            let (layer, backing_size) = if is_qcow2 {
                let opened = match Qcow2Image::open(&backing) {
                    Err(ReadError::Header { source, .. })
                        if matches!(*source, Qcow2Error::NotQcow2) =>
                    {
                        return Err(wrong_format(BackingFormat::Qcow2));
                    }
                    other => other?,
                };
                next = opened.backing()?;
                let backing_size = opened.header.size;
                (Layer::Qcow2(Box::new(opened)), backing_size)
            } else {
                if has_qcow2_magic(&backing)? {
                    // Reading a qcow2 file as raw would show its metadata as the disk.
                    return Err(wrong_format(BackingFormat::Raw));
                }
                let (file, length) = open_file(&backing)?;
                let backing_size = length.next_multiple_of(SECTOR);
                let layer = Layer::Raw {
                    file,
                    path: backing.clone(),
                    size: length,
                };
                (layer, backing_size)
            };
            if backing_size != size {
                return Err(ReadError::BackingSize {
                    image,
                    backing,
                    size,
                    backing_size,
                });
            }
            layers.push(layer);
        }
        Ok(Chain {
            layers,
            size,
            cluster_bits,
        })
    }

    /// The top image's cluster size, as log2.
    pub fn cluster_bits(&self) -> u32 {
        self.cluster_bits
    }

    /// Fills `buf` with the guest's bytes from `offset`, as the guest reads
    /// them; the range must lie within the virtual size (callers check).
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        self.read_layer(0, offset, buf).map(drop)
    }

    /// Fills `buf` with the guest's bytes from `offset` (the range within the virtual
    /// size) as layer `index` and those below it give them. Returns whether any byte
    /// came from stored data (rather than holes, zero clusters or unallocated ones).
    fn read_layer(&mut self, index: usize, offset: u64, buf: &mut [u8]) -> Result<bool, ReadError> {
        let bits = match self.layers.get_mut(index) {
            None => {
                buf.fill(0);
                return Ok(false);
            }
            Some(Layer::Raw { file, path, size }) => {
                let available = size.saturating_sub(offset).min(buf.len() as u64) as usize;
                read_exact_at(file, path, &mut buf[..available], offset)?;
                buf[available..].fill(0);
                return Ok(available > 0);
            }
            Some(Layer::Qcow2(image)) => image.cluster_bits(),
        };
        let cluster = 1u64 << bits;
        let mut data = false;
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            let piece = ((cluster - at % cluster) as usize).min(buf.len() - done);
            let out = &mut buf[done..done + piece];
            let own = match &mut self.layers[index] {
                Layer::Qcow2(image) => image.read_own(at, out)?,
                Layer::Raw { .. } => None,
            };
            data |= match own {
                Some(stored) => stored,
                None => self.read_layer(index + 1, at, out)?,
            };
            done += piece;
        }
        Ok(data)
    }
}

impl GuestDisk for Chain {
    fn virtual_size(&self) -> u64 {
        self.size
    }

    fn for_each_data_cluster(
        &mut self,
        cluster_bits: u32,
        visit: &mut VisitCluster<'_>,
    ) -> Result<(), Qcow2Error> {
        let cluster = 1u64 << cluster_bits;
        // One cluster, at most 2 MiB (the writer checks its options first).
        let mut buffer = vec![0; cluster as usize];
        for index in 0..self.size.div_ceil(cluster) {
            let offset = index << cluster_bits;
            let length = (self.size - offset).min(cluster) as usize;
            buffer[length..].fill(0);
            if self.read_layer(0, offset, &mut buffer[..length])? && !is_zero(&buffer) {
                visit(index, &buffer)?;
            }
        }
        Ok(())
    }
}

/// Opens a regular file read-only; returns it with its length.
fn open_file(path: &Path) -> Result<(File, u64), ReadError> {
    let io_error = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    // Checked before opening: opening a FIFO would wait for a writer.
    let metadata = fs::metadata(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ReadError::NotFound(path.to_owned()),
        _ => io_error(source),
    })?;
    if !metadata.is_file() {
        return Err(ReadError::NotAFile(path.to_owned()));
    }
    let file = File::open(path).map_err(io_error)?;
    let length = file.metadata().map_err(io_error)?.len();
    Ok((file, length))
}

fn has_qcow2_magic(path: &Path) -> Result<bool, ReadError> {
    let (file, length) = open_file(path)?;
    let mut magic = [0; 4];
    if length < 4 {
        return Ok(false);
    }
    read_exact_at(&file, path, &mut magic, 0)?;
    Ok(&magic == b"QFI\xfb")
}

fn read_exact_at(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
    file.read_exact_at(buf, offset)
        .map_err(|source| match source.kind() {
            io::ErrorKind::UnexpectedEof => ReadError::Corrupt {
                path: path.to_owned(),
                reason: format!(
                    "{} bytes at {offset} are beyond the end of the file",
                    buf.len()
                ),
            },
            _ => ReadError::Io {
                path: path.to_owned(),
                source,
            },
        })
}

fn be_entries(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|entry| {
            let mut field = [0; 8];
            field.copy_from_slice(entry);
            u64::from_be_bytes(field)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::qcow2::{Qcow2Options, write_qcow2};

    const CLUSTER: u64 = 1 << 16;

    /// A 4 MiB qcow2 image with text in its first two clusters and at 3 MiB.
    fn image(dir: &Path, compress: bool) -> PathBuf {
        let raw = dir.join("disk.raw");
        let file = File::create(&raw).expect("create");
        file.set_len(4 << 20).expect("size");
        let text: Vec<u8> = b"reader ".iter().copied().cycle().take(100_000).collect();
        file.write_all_at(&text, 0).expect("write");
        file.write_all_at(b"far out", 3 << 20).expect("write");
        let path = dir.join("disk.qcow2");
        let options = Qcow2Options {
            compress,
            ..Qcow2Options::default()
        };
        write_qcow2(&raw, &path, &options).expect("write");
        path
    }

    /// The guest disk, or the first error.
    fn read_all(path: &Path) -> Result<Vec<u8>, Qcow2Error> {
        let mut chain = Chain::open(path)?;
        let mut disk = vec![0; chain.virtual_size() as usize];
        chain.for_each_data_cluster(16, &mut |index, data| {
            let at = (index * CLUSTER) as usize;
            disk[at..at + data.len()].copy_from_slice(data);
            Ok(())
        })?;
        Ok(disk)
    }

    fn patch(path: &Path, at: u64, bytes: &[u8]) {
        fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|file| file.write_all_at(bytes, at))
            .expect("patch");
    }

    fn field(path: &Path, at: u64) -> u64 {
        let mut bytes = [0; 8];
        File::open(path)
            .and_then(|file| file.read_exact_at(&mut bytes, at))
            .expect("read");
        u64::from_be_bytes(bytes)
    }

    /// The host offset of the L2 table mapping the first guest cluster.
    fn first_l2(path: &Path) -> u64 {
        field(path, field(path, 40)) & OFFSET_MASK
    }

    fn read_error(path: &Path) -> ReadError {
        match read_all(path) {
            Err(Qcow2Error::Read(error)) => error,
            other => panic!("expected a read error, got {:?}", other.map(|d| d.len())),
        }
    }

    #[test]
    fn reads_what_the_writer_wrote() {
        for compress in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = image(dir.path(), compress);
            let disk = read_all(&path).expect("reads");
            assert_eq!(disk.len(), 4 << 20);
            assert!(disk[..100_000].starts_with(b"reader reader"));
            assert_eq!(&disk[99_995..100_000], b"reade");
            assert!(is_zero(&disk[100_000..3 << 20]));
            assert_eq!(&disk[3 << 20..(3 << 20) + 7], b"far out");
        }
    }

    #[test]
    fn refuses_features_it_does_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = image(dir.path(), false);
        let good = fs::read(&path).expect("read");
        let with = |at: u64, bytes: &[u8]| {
            fs::write(&path, &good).expect("restore");
            patch(&path, at, bytes);
            read_error(&path)
        };
        assert!(matches!(with(72, &1u64.to_be_bytes()), ReadError::Dirty(_)));
        assert!(matches!(
            with(72, &2u64.to_be_bytes()),
            ReadError::MarkedCorrupt(_)
        ));
        assert!(matches!(
            with(72, &4u64.to_be_bytes()),
            ReadError::ExternalDataFile(_)
        ));
        assert!(matches!(
            with(72, &16u64.to_be_bytes()),
            ReadError::ExtendedL2(_)
        ));
        assert!(matches!(
            with(72, &(1u64 << 40).to_be_bytes()),
            ReadError::UnknownFeatures { bits, .. } if bits == 1 << 40
        ));
        assert!(matches!(
            with(32, &1u32.to_be_bytes()),
            ReadError::Encrypted(_)
        ));
        assert!(matches!(
            with(104, &[1]),
            ReadError::CompressionType { kind: 1, .. }
        ));
        assert!(matches!(with(0, b"QFI\0"), ReadError::Header { .. }));
        // Untouched, it reads.
        fs::write(&path, &good).expect("restore");
        assert!(read_all(&path).is_ok());
    }

    #[test]
    fn refuses_corrupt_tables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = image(dir.path(), false);
        let good = fs::read(&path).expect("read");
        let l2 = first_l2(&path);
        let corrupt = |at: u64, bytes: &[u8]| {
            fs::write(&path, &good).expect("restore");
            patch(&path, at, bytes);
            matches!(read_error(&path), ReadError::Corrupt { .. })
        };
        // The L1 table: too large for qemu (and not read: no 32 GiB allocation), too
        // small for the disk, beyond the file, not aligned.
        assert!(corrupt(36, &u32::MAX.to_be_bytes()));
        assert!(corrupt(36, &0u32.to_be_bytes()));
        assert!(corrupt(40, &(1u64 << 40).to_be_bytes()));
        assert!(corrupt(40, &(field(&path, 40) + 8).to_be_bytes()));
        // A virtual size whose L1 table qemu would not read.
        assert!(corrupt(24, &(1u64 << 60).to_be_bytes()));
        // An L1 entry with reserved bits, or pointing past the end.
        let l1 = field(&path, 40);
        assert!(corrupt(l1, &(l2 | 1).to_be_bytes()));
        assert!(corrupt(l1, &((1u64 << 40) | 1 << 63).to_be_bytes()));
        // L2 entries: past the end, not aligned, reserved bits.
        assert!(corrupt(l2, &((1u64 << 40) | 1 << 63).to_be_bytes()));
        assert!(corrupt(l2, &((3 * CLUSTER + 512) | 1 << 63).to_be_bytes()));
        assert!(corrupt(l2, &((1u64 << 57) | (3 * CLUSTER)).to_be_bytes()));
        // A compressed entry pointing at the header, which does not inflate.
        assert!(corrupt(l2, &COMPRESSED.to_be_bytes()));
        // A compressed entry past the end.
        assert!(corrupt(l2, &(COMPRESSED | 1 << 40).to_be_bytes()));
        // A file cut short in its data.
        fs::write(&path, &good[..3 * CLUSTER as usize]).expect("truncate");
        assert!(matches!(read_error(&path), ReadError::Corrupt { .. }));
    }

    #[test]
    fn zero_flag_reads_zeros_and_unallocated_has_no_backing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = image(dir.path(), true);
        let l2 = first_l2(&path);
        patch(&path, l2, &ZERO_FLAG.to_be_bytes());
        let disk = read_all(&path).expect("reads");
        assert!(is_zero(&disk[..CLUSTER as usize]));
        assert!(!is_zero(&disk[CLUSTER as usize..2 * CLUSTER as usize]));
        patch(&path, l2 + 8, &0u64.to_be_bytes());
        let disk = read_all(&path).expect("reads");
        assert!(is_zero(&disk[..3 << 20]));
    }

    /// Images with a few bytes changed (header, tables, compressed data) read or fail;
    /// none panics. A small deterministic stand-in for the fuzz target.
    #[test]
    fn damaged_images_never_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = image(dir.path(), true);
        let good = fs::read(&path).expect("read");
        // Knuth's MMIX linear congruential generator, high bits.
        let mut state = 17u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 24
        };
        // The header cluster and everything written after the data: tables and
        // refcounts, where damage matters most.
        let metadata_from = first_l2(&path) as usize;
        for _ in 0..300 {
            let mut damaged = good.clone();
            for _ in 0..1 + next() % 4 {
                let at = match next() % 3 {
                    0 => next() as usize % 128,
                    1 => metadata_from + next() as usize % (good.len() - metadata_from),
                    _ => next() as usize % good.len(),
                };
                damaged[at] = next() as u8;
            }
            fs::write(&path, &damaged).expect("write");
            // Read through without keeping the disk, whose size may now be anything.
            if let Ok(mut chain) = Chain::open(&path)
                && chain.virtual_size() <= 1 << 30
            {
                let _ = chain.for_each_data_cluster(16, &mut |_, _| Ok(()));
            }
        }
    }

    #[test]
    fn a_loop_of_backing_files_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = image(dir.path(), false);
        let mut header = read_header(&fs::read(&path).expect("read")).expect("header");
        header.backing_file = Some(b"disk.qcow2".to_vec());
        patch(&path, 0, &header.encode().expect("encode"));
        assert!(matches!(read_error(&path), ReadError::ChainTooDeep(_)));
        // A format nobody reads here.
        header.extensions = vec![crate::disk::qcow2::HeaderExtension {
            kind: BACKING_FORMAT_EXTENSION,
            data: b"vmdk".to_vec(),
        }];
        patch(&path, 0, &header.encode().expect("encode"));
        assert!(matches!(
            read_error(&path),
            ReadError::UnsupportedBackingFormat { format, .. } if format == "vmdk"
        ));
    }
}
