//! qcow2 version 3 images, written once from a raw disk image.
//!
//! The file is laid out in the order it is written: the header cluster, the guest's
//! data clusters in guest order (each stored whole, or deflated and packed back to
//! back), then the L2 tables, the L1 table, the refcount table and the refcount
//! blocks. Metadata goes after the data because its size is known only once every
//! cluster is placed (which clusters hold data, how well they compress); qemu finds
//! it wherever the header points. The header is written last of all.
//!
//! Only clusters holding a non-zero byte are stored: holes are found with
//! `SEEK_DATA`/`SEEK_HOLE` and never read, and clusters of zeros are left
//! unallocated, which reads back as zeros without a backing file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io;
use std::num::NonZeroUsize;
use std::os::unix::fs::{FileExt as _, PermissionsExt as _};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

const MAGIC: [u8; 4] = *b"QFI\xfb";
const VERSION: u32 = 3;
/// Version 2 headers end here and have none of the later fields.
const V2_HEADER_LENGTH: u32 = 72;
/// The smallest version 3 header: the fields up to `header_length`.
const V3_MIN_HEADER_LENGTH: u32 = 104;
/// Ours: the version 3 fields, `compression_type` at byte 104, padded to a multiple of 8
/// (what qemu 10 writes).
const HEADER_LENGTH: u32 = 112;
/// 16-bit refcounts: qemu's default, and the only width version 2 knew.
const REFCOUNT_ORDER: u32 = 4;
/// The format allows refcounts up to 64 bits wide.
const MAX_REFCOUNT_ORDER: u32 = 6;
const MIN_CLUSTER_BITS: u32 = 9;
/// qemu opens no image with clusters larger than 2 MiB.
const MAX_CLUSTER_BITS: u32 = 21;
/// qemu's implementation limits on the table sizes; larger images would not open.
pub(super) const MAX_L1_BYTES: u64 = 32 << 20;
const MAX_REFCOUNT_TABLE_BYTES: u64 = 8 << 20;
/// L1 and standard L2 entries: the cluster has refcount 1, so a write needs no copy.
const COPIED: u64 = 1 << 63;
/// L2 entries: the cluster is stored deflated.
pub(super) const COMPRESSED: u64 = 1 << 62;
/// Standard entries hold host offsets in bits 9-55.
const HOST_OFFSET_LIMIT: u64 = 1 << 56;
/// The header extension that names the backing file's format.
pub(crate) const BACKING_FORMAT_EXTENSION: u32 = 0xE279_2ACA;
/// A backing file name must not be longer.
const MAX_BACKING_NAME: usize = 1023;
/// Compressed clusters are addressed in 512-byte sectors whatever the cluster size.
pub(super) const SECTOR: u64 = 512;
/// qemu inflates with a 4 KiB window (`inflateInit2(-12)`): a larger window could
/// reach back further than it can.
pub(super) const DEFLATE_WINDOW_BITS: u8 = 12;
/// Raw data is read in pieces of this size (or one cluster, if larger).
const READ_CHUNK: u64 = 1 << 20;
/// Writes are gathered into pieces of about this size.
const WRITE_CHUNK: usize = 4 << 20;
/// Clusters in flight per compression thread, by bytes; at least two keep a thread busy
/// while its last result is placed.
const WINDOW_BYTES_PER_THREAD: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Qcow2Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}: not a regular file")]
    NotAFile(PathBuf),
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("beyond what qcow2 (or qemu) can hold: {0}")]
    Limit(String),
    #[error("compression failed: {0}")]
    Compress(#[source] flate2::CompressError),
    #[error("a compression thread stopped unexpectedly")]
    WorkerLost,
    #[error("not a qcow2 image (no QFI\\xfb magic)")]
    NotQcow2,
    #[error("qcow2 version {0} is not supported (2 and 3 are)")]
    UnsupportedVersion(u32),
    #[error("truncated qcow2 header: {needed} bytes needed, {available} given")]
    Truncated { needed: usize, available: usize },
    #[error("malformed qcow2 header: {0}")]
    MalformedHeader(String),
    #[error("{0} already exists; remove it or choose another name")]
    Exists(PathBuf),
    #[error(transparent)]
    Read(#[from] crate::disk::qcow2_read::ReadError),
}

/// How an image is written. `Default` is what `qemu-img convert -O qcow2` does:
/// 64 KiB clusters, no compression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qcow2Options {
    /// log2 of the cluster size, 9 (512 bytes) to 21 (2 MiB).
    pub cluster_bits: u32,
    /// Deflate every cluster as `qemu-img convert -c` does; a cluster that would not
    /// shrink is stored as it is.
    pub compress: bool,
    /// Compression threads; `None` uses every core. The output never depends on it.
    pub threads: Option<NonZeroUsize>,
}

impl Default for Qcow2Options {
    fn default() -> Self {
        Qcow2Options {
            cluster_bits: 16,
            compress: false,
            threads: None,
        }
    }
}

impl Qcow2Options {
    fn validate(&self) -> Result<(), Qcow2Error> {
        if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&self.cluster_bits) {
            return Err(Qcow2Error::InvalidOption(format!(
                "cluster_bits {} is outside {MIN_CLUSTER_BITS}..={MAX_CLUSTER_BITS} \
                 (512 bytes to 2 MiB clusters)",
                self.cluster_bits
            )));
        }
        Ok(())
    }
}

/// What went into an image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Qcow2Stats {
    /// The disk size the guest sees: the raw file's length in whole 512-byte sectors.
    pub virtual_size: u64,
    /// The qcow2 file's length.
    pub file_size: u64,
    /// Guest clusters stored (those holding a non-zero byte), compressed or not.
    pub data_clusters: u64,
    /// Of those, the clusters stored deflated.
    pub compressed_clusters: u64,
}

/// Converts the raw disk image `raw` (usually sparse) into a qcow2 version 3 image at
/// `output`. The virtual size is `raw`'s length rounded up to whole 512-byte sectors,
/// as qemu rounds it. The image is written beside `output` under a temporary name and
/// renamed into place when complete, replacing `output`; on error nothing is left behind.
pub fn write_qcow2(
    raw: &Path,
    output: &Path,
    options: &Qcow2Options,
) -> Result<Qcow2Stats, Qcow2Error> {
    options.validate()?;
    // Checked before opening: opening a FIFO would wait for a writer.
    if !fs::metadata(raw).map_err(|e| io_error(raw, e))?.is_file() {
        return Err(Qcow2Error::NotAFile(raw.to_owned()));
    }
    let file = File::open(raw).map_err(|e| io_error(raw, e))?;
    let size = file.metadata().map_err(|e| io_error(raw, e))?.len();
    let mut source = RawDisk {
        file,
        path: raw,
        size,
    };
    write_image(&mut source, output, options, None, Persist::Replace)
}

/// Called with a guest cluster's index and its data.
pub type VisitCluster<'a> = dyn FnMut(u64, &[u8]) -> Result<(), Qcow2Error> + 'a;

/// The guest's disk as a writer reads it: its size and the clusters that hold data.
pub trait GuestDisk {
    /// The disk size the guest sees, in bytes.
    fn virtual_size(&self) -> u64;

    /// Calls `visit` with each guest cluster (of `1 << cluster_bits` bytes) that holds
    /// a non-zero byte, in guest order, the last one zero-padded to a whole cluster.
    /// Clusters of zeros may be passed or left out.
    fn for_each_data_cluster(
        &mut self,
        cluster_bits: u32,
        visit: &mut VisitCluster<'_>,
    ) -> Result<(), Qcow2Error>;
}

/// A raw disk image file: holes are skipped unread.
struct RawDisk<'a> {
    file: File,
    path: &'a Path,
    size: u64,
}

impl GuestDisk for RawDisk<'_> {
    fn virtual_size(&self) -> u64 {
        // The disk as qemu sees a raw file: whole sectors, the last one zero-padded.
        // qemu also reads a qcow2 size down to whole sectors, which would hide a
        // partial one.
        self.size.next_multiple_of(SECTOR)
    }

    fn for_each_data_cluster(
        &mut self,
        cluster_bits: u32,
        visit: &mut VisitCluster<'_>,
    ) -> Result<(), Qcow2Error> {
        for_each_data_cluster(&self.file, self.path, self.size, cluster_bits, visit)
    }
}

/// The file an image names as its backing file, recorded in a new image's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backing {
    /// As stored: a relative name is resolved against the image's directory.
    pub name: Vec<u8>,
    /// Its format, `qcow2` or `raw`, recorded in the header extension qemu reads.
    pub format: BackingFormat,
}

/// The formats a backing file can have here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackingFormat {
    Qcow2,
    Raw,
}

impl BackingFormat {
    pub fn name(self) -> &'static str {
        match self {
            BackingFormat::Qcow2 => "qcow2",
            BackingFormat::Raw => "raw",
        }
    }
}

/// What happens to a file already at the output path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persist {
    Replace,
    /// Leave it, and fail with [`Qcow2Error::Exists`].
    Keep,
}

/// Writes `source` as a qcow2 version 3 image at `output`, backed by `backing` if
/// given (clusters the image leaves unallocated read from it). The image is written
/// beside `output` under a temporary name and renamed into place when complete; on
/// error nothing is left behind.
pub fn write_image(
    source: &mut dyn GuestDisk,
    output: &Path,
    options: &Qcow2Options,
    backing: Option<&Backing>,
    persist: Persist,
) -> Result<Qcow2Stats, Qcow2Error> {
    options.validate()?;
    let bits = options.cluster_bits;
    let virtual_size = source.virtual_size();
    let l1_size = l1_size(virtual_size, bits)?;

    let directory = output
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::NamedTempFile::new_in(directory).map_err(|e| io_error(directory, e))?;
    let mut builder = Builder {
        allocator: Allocator::new(bits),
        l2: L2Tables::new(bits),
        out: ImageFile::new(temp.as_file(), output),
        stats: Qcow2Stats {
            virtual_size,
            ..Qcow2Stats::default()
        },
    };
    // The header cluster, written last.
    builder.allocator.append(1)?;
    if options.compress {
        let threads = options
            .threads
            .or_else(|| thread::available_parallelism().ok())
            .map_or(1, NonZeroUsize::get);
        store_compressed(&mut builder, source, threads)?;
    } else {
        source.for_each_data_cluster(bits, &mut |guest_cluster, data| {
            builder.store_whole(guest_cluster, data)
        })?;
    }
    let (tables, file_size) = builder.finish_tables(l1_size)?;
    let mut header = Qcow2Header::new(bits, virtual_size, &tables);
    if let Some(backing) = backing {
        header.backing_file = Some(backing.name.clone());
        header.extensions.push(HeaderExtension {
            kind: BACKING_FORMAT_EXTENSION,
            data: backing.format.name().as_bytes().to_vec(),
        });
    }
    builder.out.write_at(0, &header.encode()?)?;
    builder.out.flush()?;
    let Builder { stats, .. } = builder;

    let write_error = |e| io_error(output, e);
    // Compressed data may end inside the last cluster; readers expect whole clusters.
    temp.as_file().set_len(file_size).map_err(write_error)?;
    temp.as_file().sync_all().map_err(write_error)?;
    // The temporary file is private (0600); the image is for everyone.
    fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o644)).map_err(write_error)?;
    match persist {
        Persist::Replace => temp.persist(output).map(drop),
        Persist::Keep => temp.persist_noclobber(output).map(drop),
    }
    .map_err(|e| match e.error.kind() {
        io::ErrorKind::AlreadyExists => Qcow2Error::Exists(output.to_owned()),
        _ => write_error(e.error),
    })?;
    Ok(Qcow2Stats { file_size, ..stats })
}

/// A qcow2 header as stored in the first cluster. [`read_header`] parses one and
/// [`Qcow2Header::encode`] writes one; a header that `encode` accepts reads back equal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qcow2Header {
    pub version: u32,
    /// The backing file's name as stored (not NUL-terminated, not necessarily UTF-8;
    /// a relative name is resolved against the image's directory). Its format goes in
    /// the header extension `0xE2792ACA`.
    pub backing_file: Option<Vec<u8>>,
    pub cluster_bits: u32,
    /// Virtual disk size in bytes.
    pub size: u64,
    pub crypt_method: u32,
    pub l1_size: u32,
    pub l1_table_offset: u64,
    pub refcount_table_offset: u64,
    pub refcount_table_clusters: u32,
    pub nb_snapshots: u32,
    pub snapshots_offset: u64,
    pub incompatible_features: u64,
    pub compatible_features: u64,
    pub autoclear_features: u64,
    pub refcount_order: u32,
    pub header_length: u32,
    /// 0 is deflate.
    pub compression_type: u8,
    /// The header extensions in file order, without the end marker.
    pub extensions: Vec<HeaderExtension>,
}

/// One header extension: its type and its data (without padding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderExtension {
    pub kind: u32,
    pub data: Vec<u8>,
}

impl Qcow2Header {
    /// The header of a version 3 image with deflate compression, no backing file and no
    /// extensions, for the given geometry and table positions.
    fn new(cluster_bits: u32, size: u64, tables: &Tables) -> Qcow2Header {
        Qcow2Header {
            version: VERSION,
            backing_file: None,
            cluster_bits,
            size,
            crypt_method: 0,
            l1_size: tables.l1_size,
            l1_table_offset: tables.l1_table_offset,
            refcount_table_offset: tables.refcount_table_offset,
            refcount_table_clusters: tables.refcount_table_clusters,
            nb_snapshots: 0,
            snapshots_offset: 0,
            incompatible_features: 0,
            compatible_features: 0,
            autoclear_features: 0,
            refcount_order: REFCOUNT_ORDER,
            header_length: HEADER_LENGTH,
            compression_type: 0,
            extensions: Vec::new(),
        }
    }

    /// The bytes of the header cluster up to its last used byte: the header, the
    /// extensions, the end marker, and then the backing file name, where qemu puts it.
    /// Only version 3 headers of our length are written.
    pub fn encode(&self) -> Result<Vec<u8>, Qcow2Error> {
        if self.version != VERSION || self.header_length != HEADER_LENGTH {
            return Err(Qcow2Error::InvalidOption(format!(
                "only version {VERSION} headers of {HEADER_LENGTH} bytes are written \
                 (asked for version {}, {} bytes)",
                self.version, self.header_length
            )));
        }
        if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&self.cluster_bits) {
            return Err(Qcow2Error::InvalidOption(format!(
                "cluster_bits {}",
                self.cluster_bits
            )));
        }
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_be_bytes());
        // The backing file offset and size are filled in below, once known.
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&self.cluster_bits.to_be_bytes());
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.crypt_method.to_be_bytes());
        out.extend_from_slice(&self.l1_size.to_be_bytes());
        out.extend_from_slice(&self.l1_table_offset.to_be_bytes());
        out.extend_from_slice(&self.refcount_table_offset.to_be_bytes());
        out.extend_from_slice(&self.refcount_table_clusters.to_be_bytes());
        out.extend_from_slice(&self.nb_snapshots.to_be_bytes());
        out.extend_from_slice(&self.snapshots_offset.to_be_bytes());
        out.extend_from_slice(&self.incompatible_features.to_be_bytes());
        out.extend_from_slice(&self.compatible_features.to_be_bytes());
        out.extend_from_slice(&self.autoclear_features.to_be_bytes());
        out.extend_from_slice(&self.refcount_order.to_be_bytes());
        out.extend_from_slice(&self.header_length.to_be_bytes());
        out.push(self.compression_type);
        // Padding up to header_length must be zero.
        out.resize(HEADER_LENGTH as usize, 0);
        for extension in &self.extensions {
            if extension.kind == 0 {
                return Err(Qcow2Error::InvalidOption(
                    "header extension type 0 is the end marker".to_owned(),
                ));
            }
            let length = u32::try_from(extension.data.len()).map_err(|_| {
                Qcow2Error::Limit(format!(
                    "header extension {:#x} of {} bytes",
                    extension.kind,
                    extension.data.len()
                ))
            })?;
            out.extend_from_slice(&extension.kind.to_be_bytes());
            out.extend_from_slice(&length.to_be_bytes());
            out.extend_from_slice(&extension.data);
            out.resize(out.len().next_multiple_of(8), 0);
        }
        // The end of the extension area: type 0, length 0.
        out.extend_from_slice(&[0; 8]);
        if let Some(name) = &self.backing_file {
            if name.is_empty() || name.len() > MAX_BACKING_NAME {
                return Err(Qcow2Error::InvalidOption(format!(
                    "a backing file name is 1 to {MAX_BACKING_NAME} bytes, not {}",
                    name.len()
                )));
            }
            let offset = out.len() as u64;
            out[8..16].copy_from_slice(&offset.to_be_bytes());
            // At most 1023, checked above.
            out[16..20].copy_from_slice(&(name.len() as u32).to_be_bytes());
            out.extend_from_slice(name);
        }
        let cluster = 1usize << self.cluster_bits;
        if out.len() > cluster {
            return Err(Qcow2Error::Limit(format!(
                "the header, its extensions and the backing file name take {} bytes, \
                 more than the first cluster ({cluster})",
                out.len()
            )));
        }
        Ok(out)
    }
}

/// Parses the header at the start of a qcow2 image, with its extensions and backing
/// file name. `bytes` should hold the first cluster (64 KiB covers the default); any
/// input gives a header or an error, never a panic.
pub fn read_header(bytes: &[u8]) -> Result<Qcow2Header, Qcow2Error> {
    let input = Input(bytes);
    if input.slice(0, 4)? != MAGIC {
        return Err(Qcow2Error::NotQcow2);
    }
    let version = input.u32(4)?;
    if !(2..=3).contains(&version) {
        return Err(Qcow2Error::UnsupportedVersion(version));
    }
    let backing_file_offset = input.u64(8)?;
    let backing_file_size = input.u32(16)?;
    let cluster_bits = input.u32(20)?;
    if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&cluster_bits) {
        return Err(malformed(format!(
            "cluster_bits {cluster_bits} is outside {MIN_CLUSTER_BITS}..={MAX_CLUSTER_BITS}"
        )));
    }
    let mut header = Qcow2Header {
        version,
        backing_file: None,
        cluster_bits,
        size: input.u64(24)?,
        crypt_method: input.u32(32)?,
        l1_size: input.u32(36)?,
        l1_table_offset: input.u64(40)?,
        refcount_table_offset: input.u64(48)?,
        refcount_table_clusters: input.u32(56)?,
        nb_snapshots: input.u32(60)?,
        snapshots_offset: input.u64(64)?,
        // Version 2 has none of these; its values are implied.
        incompatible_features: 0,
        compatible_features: 0,
        autoclear_features: 0,
        refcount_order: REFCOUNT_ORDER,
        header_length: V2_HEADER_LENGTH,
        compression_type: 0,
        extensions: Vec::new(),
    };
    if version == 3 {
        header.incompatible_features = input.u64(72)?;
        header.compatible_features = input.u64(80)?;
        header.autoclear_features = input.u64(88)?;
        header.refcount_order = input.u32(96)?;
        header.header_length = input.u32(100)?;
        if header.header_length < V3_MIN_HEADER_LENGTH || !header.header_length.is_multiple_of(8) {
            return Err(malformed(format!(
                "header_length {} is not a multiple of 8 from {V3_MIN_HEADER_LENGTH}",
                header.header_length
            )));
        }
        // A field is absent when the header ends at or before its offset.
        if header.header_length > V3_MIN_HEADER_LENGTH {
            header.compression_type = input.u8(104)?;
        }
    }
    if header.refcount_order > MAX_REFCOUNT_ORDER {
        return Err(malformed(format!(
            "refcount_order {} is above {MAX_REFCOUNT_ORDER}",
            header.refcount_order
        )));
    }
    let cluster = 1usize << cluster_bits;
    let header_length = to_usize(u64::from(header.header_length))?;
    if header_length > cluster {
        return Err(malformed(format!(
            "header_length {header_length} is larger than a cluster"
        )));
    }

    // Extensions follow the header up to the end marker, within the first cluster and
    // before the backing file name, which has that space after them.
    let area_end = match backing_file_offset {
        0 => cluster,
        offset => to_usize(offset)?.min(cluster),
    };
    let mut at = header_length;
    loop {
        let data_start = checked_add(at, 8)?;
        if data_start > area_end {
            return Err(malformed(format!(
                "no end marker in the header extension area (it ends at {area_end})"
            )));
        }
        let kind = input.u32(at)?;
        if kind == 0 {
            break;
        }
        let length = to_usize(u64::from(input.u32(at + 4)?))?;
        let data_end = checked_add(data_start, length)?;
        if data_end > area_end {
            return Err(malformed(format!(
                "header extension {kind:#x} of {length} bytes runs past the extension area"
            )));
        }
        header.extensions.push(HeaderExtension {
            kind,
            data: input.slice(data_start, length)?.to_vec(),
        });
        at = data_end
            .checked_next_multiple_of(8)
            .ok_or_else(|| malformed("header extension length overflows".to_owned()))?;
    }

    if backing_file_offset != 0 {
        let offset = to_usize(backing_file_offset)?;
        let length = to_usize(u64::from(backing_file_size))?;
        if length == 0 || length > MAX_BACKING_NAME || checked_add(offset, length)? > cluster {
            return Err(malformed(format!(
                "backing file name of {length} bytes at {offset} is not 1 to \
                 {MAX_BACKING_NAME} bytes within the first cluster"
            )));
        }
        header.backing_file = Some(input.slice(offset, length)?.to_vec());
    }
    Ok(header)
}

/// Bounds-checked big-endian reads.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn slice(&self, start: usize, length: usize) -> Result<&[u8], Qcow2Error> {
        let end = checked_add(start, length)?;
        self.0.get(start..end).ok_or(Qcow2Error::Truncated {
            needed: end,
            available: self.0.len(),
        })
    }

    fn u8(&self, at: usize) -> Result<u8, Qcow2Error> {
        Ok(self.slice(at, 1)?[0])
    }

    fn u32(&self, at: usize) -> Result<u32, Qcow2Error> {
        let mut field = [0; 4];
        field.copy_from_slice(self.slice(at, 4)?);
        Ok(u32::from_be_bytes(field))
    }

    fn u64(&self, at: usize) -> Result<u64, Qcow2Error> {
        let mut field = [0; 8];
        field.copy_from_slice(self.slice(at, 8)?);
        Ok(u64::from_be_bytes(field))
    }
}

fn malformed(message: String) -> Qcow2Error {
    Qcow2Error::MalformedHeader(message)
}

fn checked_add(a: usize, b: usize) -> Result<usize, Qcow2Error> {
    a.checked_add(b)
        .ok_or_else(|| malformed(format!("offset {a} + {b} overflows")))
}

fn to_usize(value: u64) -> Result<usize, Qcow2Error> {
    usize::try_from(value).map_err(|_| malformed(format!("offset {value} is out of range")))
}

/// The L2 entry of a cluster stored whole at `offset`: it is referenced once, so COPIED.
fn standard_entry(offset: u64) -> u64 {
    offset | COPIED
}

/// The L2 entry of a deflated cluster whose `length` bytes start at byte `offset`:
/// bit 62 set, bit 63 clear, the byte offset in bits 0..x and, from bit x, the number of
/// 512-byte sectors the data reaches into after the one holding its first byte
/// (x = 62 - (cluster_bits - 8)).
fn compressed_entry(offset: u64, length: u64, cluster_bits: u32) -> u64 {
    let x = 62 - (cluster_bits - 8);
    let additional_sectors = (offset + length - 1) / SECTOR - offset / SECTOR;
    COMPRESSED | (additional_sectors << x) | offset
}

/// Compressed data must start below 2^x (x as in [`compressed_entry`]), and below 2^56
/// like every host offset.
fn compressed_offset_limit(cluster_bits: u32) -> u64 {
    (1u64 << (62 - (cluster_bits - 8))).min(HOST_OFFSET_LIMIT)
}

/// How many refcount table clusters and refcount blocks an image needs whose other
/// clusters number `used`. The refcount structures are clusters with refcounts too,
/// so both grow until they cover themselves; the result is the smallest such pair.
fn refcount_sizing(used: u64, cluster_bits: u32) -> (u64, u64) {
    let cluster = 1u64 << cluster_bits;
    let per_block = (cluster * 8) >> REFCOUNT_ORDER;
    let per_table_cluster = cluster / 8;
    let (mut table, mut blocks) = (0, 0);
    loop {
        let need_blocks = (used + table + blocks).div_ceil(per_block);
        let need_table = need_blocks.div_ceil(per_table_cluster);
        if (need_table, need_blocks) == (table, blocks) {
            return (table, blocks);
        }
        (table, blocks) = (need_table, need_blocks);
    }
}

/// Host cluster allocation: where each cluster goes and how many references each host
/// cluster has. Whole clusters are appended. Deflated clusters are packed byte by byte
/// after the previous ones, running on into new clusters; when whole clusters are
/// appended behind packed data, the room left in its last cluster is kept, and later
/// compressed data that fits goes there (the smallest room that fits), so little
/// space is lost where compressible and incompressible data alternate.
struct Allocator {
    cluster_bits: u32,
    /// Refcount of each host cluster so far; its length is the file's length in clusters.
    refcounts: Vec<u16>,
    /// The first free byte after the packed data, while that data ends inside the
    /// file's last cluster.
    packed_end: Option<u64>,
    /// Room cut off from the packed data by whole clusters: (bytes, first free byte).
    gaps: BTreeSet<(u64, u64)>,
}

impl Allocator {
    fn new(cluster_bits: u32) -> Allocator {
        Allocator {
            cluster_bits,
            refcounts: Vec::new(),
            packed_end: None,
            gaps: BTreeSet::new(),
        }
    }

    fn clusters(&self) -> u64 {
        self.refcounts.len() as u64
    }

    fn end(&self) -> u64 {
        self.clusters() << self.cluster_bits
    }

    /// `count` new clusters at the end of the file, referenced once each.
    fn append(&mut self, count: u64) -> Result<u64, Qcow2Error> {
        if let Some(end) = self.packed_end.take() {
            let cluster_end = ((end >> self.cluster_bits) + 1) << self.cluster_bits;
            self.gaps.insert((cluster_end - end, end));
        }
        self.grow(count, 1)
    }

    fn grow(&mut self, count: u64, refcount: u16) -> Result<u64, Qcow2Error> {
        let offset = self.end();
        let end = count
            .checked_shl(self.cluster_bits)
            .and_then(|bytes| offset.checked_add(bytes))
            .filter(|&end| end <= HOST_OFFSET_LIMIT)
            .ok_or_else(|| Qcow2Error::Limit("host offsets beyond 64 PiB".to_owned()))?;
        let total = usize::try_from(end >> self.cluster_bits)
            .map_err(|_| Qcow2Error::Limit("more host clusters than memory holds".to_owned()))?;
        self.refcounts.resize(total, refcount);
        Ok(offset)
    }

    /// One more reference to host cluster `cluster`, which exists.
    fn reference(&mut self, cluster: u64) -> Result<(), Qcow2Error> {
        // Below the length of `refcounts`, which fits a usize.
        let refcount = &mut self.refcounts[cluster as usize];
        *refcount = refcount.checked_add(1).ok_or_else(|| {
            Qcow2Error::Limit(format!("host cluster {cluster} referenced 65536 times"))
        })?;
        Ok(())
    }

    /// Where `length` bytes of deflated data go (1 <= length < cluster size).
    fn place_compressed(&mut self, length: u64) -> Result<u64, Qcow2Error> {
        let bits = self.cluster_bits;
        // The smallest room that fits, the earliest of equals: the same input always
        // gives the same layout.
        if let Some(&(room, start)) = self.gaps.range((length, 0)..).next() {
            self.gaps.remove(&(room, start));
            if room > length {
                self.gaps.insert((room - length, start + length));
            }
            self.reference(start >> bits)?;
            return Ok(start);
        }
        let start = self.packed_end.unwrap_or_else(|| self.end());
        let end = start + length;
        let limit = compressed_offset_limit(bits);
        if end > limit {
            return Err(Qcow2Error::Limit(format!(
                "compressed data beyond byte {limit} with {}-byte clusters",
                1u64 << bits
            )));
        }
        let last = (end - 1) >> bits;
        if last >= self.clusters() {
            // Unreferenced until counted below.
            self.grow(last + 1 - self.clusters(), 0)?;
        }
        // Every host cluster the data touches counts it once, as qemu-img check counts.
        for cluster in start >> bits..=last {
            self.reference(cluster)?;
        }
        self.packed_end = (!end.is_multiple_of(1 << bits)).then_some(end);
        Ok(start)
    }
}

/// The guest's L2 tables, those that map at least one stored cluster.
struct L2Tables {
    cluster_bits: u32,
    /// By L1 index.
    tables: BTreeMap<u64, Vec<u64>>,
}

impl L2Tables {
    fn new(cluster_bits: u32) -> L2Tables {
        L2Tables {
            cluster_bits,
            tables: BTreeMap::new(),
        }
    }

    fn set(&mut self, guest_cluster: u64, entry: u64) {
        // A cluster-sized table of 8-byte entries.
        let entry_bits = self.cluster_bits - 3;
        let table = self
            .tables
            .entry(guest_cluster >> entry_bits)
            .or_insert_with(|| vec![0; 1 << entry_bits]);
        // Masked below the table's length.
        table[(guest_cluster & ((1 << entry_bits) - 1)) as usize] = entry;
    }
}

/// Where the tables went, for the header.
struct Tables {
    l1_size: u32,
    l1_table_offset: u64,
    refcount_table_offset: u64,
    refcount_table_clusters: u32,
}

/// Positioned writes to the image, gathered into large sequential ones: nearly
/// everything is appended, and compressed clusters are small.
struct ImageFile<'a> {
    file: &'a File,
    /// Named in errors: the file being written is a temporary one beside it.
    path: &'a Path,
    pending: Vec<u8>,
    pending_at: u64,
}

impl<'a> ImageFile<'a> {
    fn new(file: &'a File, path: &'a Path) -> ImageFile<'a> {
        ImageFile {
            file,
            path,
            pending: Vec::with_capacity(WRITE_CHUNK),
            pending_at: 0,
        }
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Qcow2Error> {
        if offset != self.pending_at + self.pending.len() as u64
            || self.pending.len() >= WRITE_CHUNK
        {
            self.flush()?;
            self.pending_at = offset;
        }
        self.pending.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Qcow2Error> {
        self.file
            .write_all_at(&self.pending, self.pending_at)
            .map_err(|e| io_error(self.path, e))?;
        self.pending_at += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }
}

fn io_error(path: &Path, source: io::Error) -> Qcow2Error {
    Qcow2Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// A guest cluster as the image stores it.
enum Stored {
    Whole(Vec<u8>),
    Deflated(Vec<u8>),
}

/// The image being assembled: allocation, mapping and the file.
struct Builder<'a> {
    allocator: Allocator,
    l2: L2Tables,
    out: ImageFile<'a>,
    stats: Qcow2Stats,
}

impl Builder<'_> {
    fn store_whole(&mut self, guest_cluster: u64, data: &[u8]) -> Result<(), Qcow2Error> {
        let offset = self.allocator.append(1)?;
        self.out.write_at(offset, data)?;
        self.l2.set(guest_cluster, standard_entry(offset));
        self.stats.data_clusters += 1;
        Ok(())
    }

    fn store(&mut self, guest_cluster: u64, stored: Stored) -> Result<(), Qcow2Error> {
        match stored {
            Stored::Whole(data) => self.store_whole(guest_cluster, &data),
            Stored::Deflated(data) => {
                let length = data.len() as u64;
                let offset = self.allocator.place_compressed(length)?;
                self.out.write_at(offset, &data)?;
                let entry = compressed_entry(offset, length, self.allocator.cluster_bits);
                self.l2.set(guest_cluster, entry);
                self.stats.data_clusters += 1;
                self.stats.compressed_clusters += 1;
                Ok(())
            }
        }
    }

    /// Appends the L2 tables, the L1 table and the refcount structures; returns where
    /// the tables are and the file's length.
    fn finish_tables(&mut self, l1_size: u32) -> Result<(Tables, u64), Qcow2Error> {
        let bits = self.allocator.cluster_bits;
        let mut l1 = vec![0u64; l1_size as usize];
        for (&index, table) in &self.l2.tables {
            let offset = self.allocator.append(1)?;
            self.out.write_at(offset, &be_bytes(table))?;
            // Tables exist only for guest clusters below the virtual size.
            l1[index as usize] = offset | COPIED;
        }
        let l1_bytes = u64::from(l1_size) * 8;
        let l1_table_offset = self.allocator.append(l1_bytes.div_ceil(1 << bits))?;
        self.out.write_at(l1_table_offset, &be_bytes(&l1))?;

        let (table_clusters, blocks) = refcount_sizing(self.allocator.clusters(), bits);
        if table_clusters << bits > MAX_REFCOUNT_TABLE_BYTES {
            return Err(Qcow2Error::Limit(format!(
                "a refcount table of {table_clusters} clusters (qemu reads at most 8 MiB)"
            )));
        }
        let refcount_table_offset = self.allocator.append(table_clusters)?;
        let first_block = self.allocator.append(blocks)?;
        // Every cluster now has its refcount, the refcount structures' own included.
        let per_block = ((1usize << bits) * 8) >> REFCOUNT_ORDER;
        let block_offsets: Vec<u64> = (0..blocks).map(|b| first_block + (b << bits)).collect();
        let mut table = vec![0u64; (table_clusters << bits) as usize / 8];
        table[..block_offsets.len()].copy_from_slice(&block_offsets);
        self.out
            .write_at(refcount_table_offset, &be_bytes(&table))?;
        for (chunk, &offset) in self
            .allocator
            .refcounts
            .chunks(per_block)
            .zip(&block_offsets)
        {
            let mut block: Vec<u8> = chunk.iter().flat_map(|r| r.to_be_bytes()).collect();
            block.resize(1 << bits, 0);
            self.out.write_at(offset, &block)?;
        }
        let tables = Tables {
            l1_size,
            l1_table_offset,
            refcount_table_offset,
            // At most 8 MiB of table, checked above.
            refcount_table_clusters: table_clusters as u32,
        };
        Ok((tables, self.allocator.end()))
    }
}

fn be_bytes(entries: &[u64]) -> Vec<u8> {
    entries.iter().flat_map(|e| e.to_be_bytes()).collect()
}

/// The L1 table's length for a disk of `size` bytes, within qemu's limit.
pub(super) fn l1_size(size: u64, cluster_bits: u32) -> Result<u32, Qcow2Error> {
    let l2_covers_bits = 2 * cluster_bits - 3;
    let entries = size.div_ceil(1 << l2_covers_bits);
    if entries * 8 > MAX_L1_BYTES {
        return Err(Qcow2Error::Limit(format!(
            "a {size}-byte disk needs an L1 table of {} bytes with {}-byte clusters              (qemu reads at most 32 MiB; use larger clusters)",
            entries * 8,
            1u64 << cluster_bits
        )));
    }
    // At most 4 Mi entries, checked above.
    Ok(entries as u32)
}

/// Calls `visit` with each guest cluster of `file` that holds a non-zero byte, in order,
/// the last one zero-padded to a whole cluster. Holes are skipped unread.
fn for_each_data_cluster(
    file: &File,
    path: &Path,
    size: u64,
    cluster_bits: u32,
    visit: &mut VisitCluster<'_>,
) -> Result<(), Qcow2Error> {
    let cluster = 1usize << cluster_bits;
    let chunk_clusters = (READ_CHUNK >> cluster_bits).max(1);
    let mut buffer = vec![0u8; (chunk_clusters << cluster_bits) as usize];
    let total = size.div_ceil(1 << cluster_bits);
    let mut next = 0;
    while next < total {
        let Some((start, end)) = data_extent(file, path, next << cluster_bits, size)? else {
            break;
        };
        let mut index = next.max(start >> cluster_bits);
        let stop = end.div_ceil(1 << cluster_bits).min(total);
        while index < stop {
            let count = chunk_clusters.min(stop - index);
            let offset = index << cluster_bits;
            let chunk = &mut buffer[..(count << cluster_bits) as usize];
            // Within the chunk, so it fits a usize.
            let wanted = (count << cluster_bits).min(size - offset) as usize;
            file.read_exact_at(&mut chunk[..wanted], offset)
                .map_err(|e| match e.kind() {
                    io::ErrorKind::UnexpectedEof => io_error(
                        path,
                        io::Error::other("the file shrank while it was being converted"),
                    ),
                    _ => io_error(path, e),
                })?;
            chunk[wanted..].fill(0);
            for (i, data) in (index..).zip(chunk.chunks_exact(cluster)) {
                if !is_zero(data) {
                    visit(i, data)?;
                }
            }
            index += count;
        }
        next = stop;
    }
    Ok(())
}

/// The next stretch of data at or after `offset` as `[start, end)`, or `None` past the
/// last data.
fn data_extent(
    file: &File,
    path: &Path,
    offset: u64,
    size: u64,
) -> Result<Option<(u64, u64)>, Qcow2Error> {
    use rustix::fs::{SeekFrom, seek};
    use rustix::io::Errno;
    let start = match seek(file, SeekFrom::Data(offset)) {
        Ok(start) => start,
        Err(Errno::NXIO) => return Ok(None),
        // A file system without SEEK_DATA: everything is data, and clusters of zeros
        // are found by reading them.
        Err(Errno::INVAL | Errno::OPNOTSUPP) => return Ok(Some((offset, size))),
        Err(e) => return Err(io_error(path, e.into())),
    };
    if start >= size {
        return Ok(None);
    }
    let end = match seek(file, SeekFrom::Hole(start)) {
        Ok(end) => end.min(size),
        Err(e) => return Err(io_error(path, e.into())),
    };
    Ok(Some((start, end)))
}

pub(super) fn is_zero(data: &[u8]) -> bool {
    // Slice equality is one memcmp per piece: as fast in the unoptimised
    // build the tests run as in a release, where a loop over the bytes took
    // a minute for the zeroed inode tables of a 1.5 GiB disk.
    const ZEROS: [u8; 4096] = [0; 4096];
    data.chunks(ZEROS.len())
        .all(|piece| piece == &ZEROS[..piece.len()])
}

/// A raw deflate stream (no zlib header) as qemu reads it.
fn deflate_stream() -> flate2::Compress {
    flate2::Compress::new_with_window_bits(
        flate2::Compression::default(),
        false,
        DEFLATE_WINDOW_BITS,
    )
}

/// The deflated form of `cluster` when it is smaller, by qemu's rule: it must fit in
/// one byte less than the cluster. Leaves `stream` ready for the next cluster.
fn deflate(stream: &mut flate2::Compress, cluster: Vec<u8>) -> Result<Stored, Qcow2Error> {
    let mut out = Vec::with_capacity(cluster.len() - 1);
    let status = stream
        .compress_vec(&cluster, &mut out, flate2::FlushCompress::Finish)
        .map_err(Qcow2Error::Compress)?;
    let finished = status == flate2::Status::StreamEnd;
    if finished {
        stream.reset();
    } else {
        // zlib-rs (0.6.8) resets a raw stream that stopped on a full buffer without
        // forgetting where its unsent output began, so every such stream shrinks the
        // room for output until deflate panics (after 128 incompressible 512-byte
        // clusters, or 16 of 4 KiB). A new stream has all its room.
        *stream = deflate_stream();
    }
    // The allocator may have given more capacity than asked for: check the length.
    Ok(if finished && out.len() < cluster.len() {
        Stored::Deflated(out)
    } else {
        Stored::Whole(cluster)
    })
}

struct Job {
    sequence: u64,
    guest_cluster: u64,
    data: Vec<u8>,
}

struct Done {
    sequence: u64,
    guest_cluster: u64,
    stored: Result<Stored, Qcow2Error>,
}

fn deflate_worker(jobs: &Mutex<Receiver<Job>>, done: SyncSender<Done>) {
    let mut stream = deflate_stream();
    loop {
        // Poisoned only if another worker panicked while taking a job: stop too.
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        // A panic would leave the writer waiting forever for this result.
        let stored = catch_unwind(AssertUnwindSafe(|| deflate(&mut stream, job.data)))
            .unwrap_or(Err(Qcow2Error::WorkerLost));
        let lost = stored.is_err();
        let result = Done {
            sequence: job.sequence,
            guest_cluster: job.guest_cluster,
            stored,
        };
        if done.send(result).is_err() || lost {
            return;
        }
    }
}

/// Deflates the data clusters on `threads` threads and stores them in guest order,
/// whatever order the threads finish in, so the image does not depend on the thread
/// count. A bounded window of clusters is in flight.
fn store_compressed(
    builder: &mut Builder<'_>,
    source: &mut dyn GuestDisk,
    threads: usize,
) -> Result<(), Qcow2Error> {
    let bits = builder.allocator.cluster_bits;
    let window = threads as u64 * (WINDOW_BYTES_PER_THREAD >> bits).clamp(2, 16);
    // A job waits in the queue or a result in the other only while it is in flight, so
    // neither side ever blocks on a full channel.
    let capacity = window as usize;
    let (job_tx, job_rx) = sync_channel::<Job>(capacity);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = sync_channel::<Done>(capacity);
    thread::scope(|scope| {
        // Dropped when this returns, early or not, which lets the workers finish.
        let job_tx = job_tx;
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            scope.spawn(move || deflate_worker(job_rx, done_tx));
        }
        drop(done_tx);
        let mut order = InOrder {
            finished: BTreeMap::new(),
            sent: 0,
            stored: 0,
        };
        source.for_each_data_cluster(bits, &mut |guest_cluster, data| {
            while order.sent - order.stored >= window {
                order.collect(&done_rx, builder)?;
            }
            let job = Job {
                sequence: order.sent,
                guest_cluster,
                data: data.to_vec(),
            };
            job_tx.send(job).map_err(|_| Qcow2Error::WorkerLost)?;
            order.sent += 1;
            Ok(())
        })?;
        while order.stored < order.sent {
            order.collect(&done_rx, builder)?;
        }
        Ok(())
    })
}

/// Results by job sequence number, stored as soon as all earlier ones are.
struct InOrder {
    finished: BTreeMap<u64, (u64, Result<Stored, Qcow2Error>)>,
    sent: u64,
    stored: u64,
}

impl InOrder {
    /// Waits for one result, then stores every result that is next in order.
    fn collect(
        &mut self,
        done: &Receiver<Done>,
        builder: &mut Builder<'_>,
    ) -> Result<(), Qcow2Error> {
        let result = done.recv().map_err(|_| Qcow2Error::WorkerLost)?;
        self.finished
            .insert(result.sequence, (result.guest_cluster, result.stored));
        while let Some((guest_cluster, stored)) = self.finished.remove(&self.stored) {
            builder.store(guest_cluster, stored?)?;
            self.stored += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (byte offset, additional sectors) back out of a compressed L2 entry.
    fn decode_compressed(entry: u64, cluster_bits: u32) -> (u64, u64) {
        assert_eq!(
            entry & COPIED,
            0,
            "COPIED is never set on compressed clusters"
        );
        assert_ne!(entry & COMPRESSED, 0);
        let x = 62 - (cluster_bits - 8);
        let descriptor = entry & !(COPIED | COMPRESSED);
        (descriptor & ((1 << x) - 1), descriptor >> x)
    }

    #[test]
    fn compressed_entry_fields() {
        // 64 KiB clusters: x = 54. 1000 bytes from byte 196708 (sector 384) end in
        // sector 386: two sectors beyond the first.
        assert_eq!(
            compressed_entry(196_708, 1000, 16),
            1 << 62 | 2 << 54 | 196_708
        );
        // 512-byte clusters: x = 61, a one-bit sector count.
        assert_eq!(compressed_entry(1000, 24, 9), 1 << 62 | 1000);
        assert_eq!(compressed_entry(1000, 30, 9), 1 << 62 | 1 << 61 | 1000);
        // The widest case for every cluster size: cluster - 1 bytes starting at the
        // last byte of a sector reach cluster / 512 sectors further, and the count must
        // not spill into the offset or the flag bits.
        for bits in MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS {
            let length = (1u64 << bits) - 1;
            let offset = compressed_offset_limit(bits) - 2 * (1 << bits) + 511;
            let entry = compressed_entry(offset, length, bits);
            assert_eq!(
                decode_compressed(entry, bits),
                (offset, (1 << bits) / 512),
                "{bits}"
            );
        }
    }

    #[test]
    fn standard_entries_are_copied() {
        assert_eq!(standard_entry(0x3_0000), 0x8000_0000_0003_0000);
    }

    #[test]
    fn refcount_sizing_counts_itself() {
        // 64 KiB clusters: a block counts 32768 clusters, a table cluster points at
        // 8192 blocks.
        assert_eq!(refcount_sizing(0, 16), (0, 0));
        assert_eq!(refcount_sizing(1, 16), (1, 1));
        assert_eq!(refcount_sizing(32_766, 16), (1, 1));
        // One more and the table and block no longer fit beside it in one block.
        assert_eq!(refcount_sizing(32_767, 16), (1, 2));
        // 512-byte clusters: 256 per block, 64 blocks per table cluster.
        assert_eq!(refcount_sizing(254, 9), (1, 1));
        assert_eq!(refcount_sizing(255, 9), (1, 2));
        for bits in [9, 12, 16] {
            let per_block = (1u64 << bits) * 8 / 16;
            let per_table_cluster = (1u64 << bits) / 8;
            for used in (0..300_000)
                .step_by(97)
                .chain([per_block * per_table_cluster])
            {
                let (table, blocks) = refcount_sizing(used, bits);
                let total = used + table + blocks;
                assert!(blocks * per_block >= total, "{bits} {used}");
                assert!(table * per_table_cluster >= blocks, "{bits} {used}");
                // Smallest: one block fewer would not cover even the clusters without it.
                if blocks > 0 {
                    assert!((blocks - 1) * per_block < used + table + blocks - 1);
                    assert_eq!(table, blocks.div_ceil(per_table_cluster));
                }
            }
        }
    }

    #[test]
    fn allocator_packs_compressed_data() {
        let mut allocator = Allocator::new(9);
        assert_eq!(allocator.append(1).unwrap(), 0);
        // Into a new cluster, then on across a cluster boundary.
        assert_eq!(allocator.place_compressed(300).unwrap(), 512);
        assert_eq!(allocator.place_compressed(300).unwrap(), 812);
        assert_eq!(allocator.refcounts, [1, 2, 1]);
        // A whole cluster after it cuts off the 424 bytes left in cluster 2.
        assert_eq!(allocator.append(1).unwrap(), 1536);
        assert_eq!(allocator.gaps, BTreeSet::from([(424, 1112)]));
        // Data that does not fit there starts a new run at the end of the file...
        assert_eq!(allocator.place_compressed(500).unwrap(), 2048);
        // ...and data that fits fills the room, smallest room first.
        assert_eq!(allocator.append(1).unwrap(), 2560);
        assert_eq!(allocator.gaps, BTreeSet::from([(424, 1112), (12, 2548)]));
        assert_eq!(allocator.place_compressed(100).unwrap(), 1112);
        assert_eq!(allocator.place_compressed(12).unwrap(), 2548);
        assert_eq!(allocator.place_compressed(324).unwrap(), 1212);
        assert!(allocator.gaps.is_empty());
        assert_eq!(allocator.refcounts, [1, 2, 3, 1, 2, 1]);
        // Data ending on a cluster boundary leaves no room behind.
        assert_eq!(allocator.place_compressed(512).unwrap(), 3072);
        assert_eq!(allocator.packed_end, None);
        assert_eq!(allocator.place_compressed(1).unwrap(), 3584);
        assert_eq!(allocator.refcounts, [1, 2, 3, 1, 2, 1, 1, 1]);
    }

    #[test]
    fn l1_table_length() {
        assert_eq!(l1_size(0, 16).unwrap(), 0);
        assert_eq!(l1_size(1, 16).unwrap(), 1);
        // One L2 table maps 8192 clusters of 64 KiB: 512 MiB.
        assert_eq!(l1_size(1 << 30, 16).unwrap(), 2);
        assert_eq!(l1_size((1 << 30) + 512, 16).unwrap(), 3);
        assert!(matches!(l1_size(1 << 40, 9), Err(Qcow2Error::Limit(_))));
    }

    #[test]
    fn options_are_checked() {
        for cluster_bits in [8, 22] {
            let options = Qcow2Options {
                cluster_bits,
                ..Qcow2Options::default()
            };
            assert!(matches!(
                options.validate(),
                Err(Qcow2Error::InvalidOption(_))
            ));
        }
        assert!(Qcow2Options::default().validate().is_ok());
    }

    fn inflate(data: &[u8], length: usize) -> Vec<u8> {
        // qemu's reader: raw inflate with a 4 KiB window.
        let mut stream = flate2::Decompress::new_with_window_bits(false, 12);
        let mut out = Vec::with_capacity(length);
        let status = stream
            .decompress_vec(data, &mut out, flate2::FlushDecompress::Finish)
            .expect("inflates");
        assert_eq!(status, flate2::Status::StreamEnd);
        out
    }

    #[test]
    fn deflate_keeps_working_after_incompressible_clusters() {
        let mut stream = deflate_stream();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        // Enough incompressible clusters in a row to exhaust a stream that is only
        // reset (see `deflate`).
        for _ in 0..300 {
            let noise: Vec<u8> = (0..512)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            assert!(matches!(
                deflate(&mut stream, noise.clone()).unwrap(),
                Stored::Whole(data) if data == noise
            ));
        }
        let text: Vec<u8> = b"qcow2 ".iter().copied().cycle().take(512).collect();
        let Stored::Deflated(packed) = deflate(&mut stream, text.clone()).unwrap() else {
            panic!("text must deflate");
        };
        assert!(packed.len() < 100);
        assert_eq!(inflate(&packed, 512), text);
    }

    fn sample_header() -> Qcow2Header {
        let tables = Tables {
            l1_size: 200,
            l1_table_offset: 5 << 16,
            refcount_table_offset: 6 << 16,
            refcount_table_clusters: 1,
        };
        Qcow2Header::new(16, 100 << 30, &tables)
    }

    #[test]
    fn header_layout() {
        let bytes = sample_header().encode().unwrap();
        // 112 bytes of header and the 8-byte end marker.
        assert_eq!(bytes.len(), 120);
        assert_eq!(&bytes[0..4], b"QFI\xfb");
        assert_eq!(&bytes[4..8], &3u32.to_be_bytes());
        // No backing file.
        assert_eq!(&bytes[8..20], &[0; 12]);
        assert_eq!(&bytes[20..24], &16u32.to_be_bytes());
        assert_eq!(&bytes[24..32], &(100u64 << 30).to_be_bytes());
        assert_eq!(&bytes[36..40], &200u32.to_be_bytes());
        // Incompatible, compatible and autoclear features all clear.
        assert_eq!(&bytes[72..96], &[0; 24]);
        assert_eq!(&bytes[96..100], &4u32.to_be_bytes());
        assert_eq!(&bytes[100..104], &112u32.to_be_bytes());
        // compression_type 0 (deflate), its padding, the end marker.
        assert_eq!(&bytes[104..120], &[0; 16]);
    }

    #[test]
    fn header_round_trip() {
        let plain = sample_header();
        assert_eq!(read_header(&plain.encode().unwrap()).unwrap(), plain);

        // What a differential image will need: a backing file name and its format.
        let mut overlay = sample_header();
        overlay.backing_file = Some(b"../base.qcow2".to_vec());
        overlay.extensions = vec![
            HeaderExtension {
                kind: BACKING_FORMAT_EXTENSION,
                data: b"qcow2".to_vec(),
            },
            HeaderExtension {
                kind: 0x1234_5678,
                data: vec![7; 8],
            },
        ];
        let bytes = overlay.encode().unwrap();
        // The name follows the end marker; the five-byte format name is padded to 8.
        let name_at = 112 + 16 + 16 + 8;
        assert_eq!(&bytes[8..16], &(name_at as u64).to_be_bytes());
        assert_eq!(&bytes[16..20], &13u32.to_be_bytes());
        assert_eq!(&bytes[name_at..], b"../base.qcow2");
        assert_eq!(read_header(&bytes).unwrap(), overlay);
        // As read from the start of an image: the rest of the cluster follows.
        let mut cluster = bytes.clone();
        cluster.resize(1 << 16, 0xaa);
        assert_eq!(read_header(&cluster).unwrap(), overlay);
    }

    #[test]
    fn header_encode_refuses_what_it_cannot_write() {
        let mut header = sample_header();
        header.version = 2;
        assert!(header.encode().is_err());
        let mut header = sample_header();
        header.backing_file = Some(vec![b'a'; 1024]);
        assert!(header.encode().is_err());
        let mut header = sample_header();
        header.extensions = vec![HeaderExtension {
            kind: 0,
            data: Vec::new(),
        }];
        assert!(header.encode().is_err());
        let mut header = sample_header();
        header.cluster_bits = 9;
        header.extensions = vec![HeaderExtension {
            kind: 1,
            data: vec![0; 400],
        }];
        assert!(matches!(header.encode(), Err(Qcow2Error::Limit(_))));
    }

    #[test]
    fn read_header_rejects_bad_input() {
        let mut overlay = sample_header();
        overlay.backing_file = Some(b"base".to_vec());
        let good = overlay.encode().unwrap();
        // Every prefix is an error, not a panic.
        for length in 0..good.len() {
            assert!(read_header(&good[..length]).is_err(), "{length}");
        }
        assert!(matches!(
            read_header(&good[..50]),
            Err(Qcow2Error::Truncated {
                needed: 56,
                available: 50
            })
        ));
        let patched = |at: usize, bytes: &[u8]| {
            let mut copy = good.clone();
            copy[at..at + bytes.len()].copy_from_slice(bytes);
            read_header(&copy)
        };
        assert!(matches!(patched(0, b"QFI\xfa"), Err(Qcow2Error::NotQcow2)));
        assert!(matches!(
            patched(4, &4u32.to_be_bytes()),
            Err(Qcow2Error::UnsupportedVersion(4))
        ));
        for (at, field) in [
            (20, 8u32),     // cluster_bits below 9
            (20, 64),       // cluster_bits far too large to shift by
            (96, 7),        // refcount_order above 6
            (100, 100),     // header_length below 104
            (100, 116),     // header_length not a multiple of 8
            (100, 1 << 20), // header_length beyond the cluster
            (16, 1024),     // backing file name too long
        ] {
            assert!(
                matches!(
                    patched(at, &field.to_be_bytes()),
                    Err(Qcow2Error::MalformedHeader(_))
                ),
                "{at}: {field}"
            );
        }
        // An extension whose length runs past the extension area (up to the name).
        let mut bad = sample_header();
        bad.extensions = vec![HeaderExtension {
            kind: 9,
            data: vec![1; 8],
        }];
        let mut bytes = bad.encode().unwrap();
        bytes[116..120].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            read_header(&bytes),
            Err(Qcow2Error::MalformedHeader(_))
        ));
        // Version 2: 72 bytes of header and the version 3 fields implied.
        let mut v2 = good[..72].to_vec();
        v2[4..8].copy_from_slice(&2u32.to_be_bytes());
        v2[8..20].fill(0);
        v2.extend_from_slice(&[0; 8]);
        let header = read_header(&v2).unwrap();
        assert_eq!(
            (header.version, header.header_length, header.refcount_order),
            (2, 72, 4)
        );
    }
}
