//! The rpm header: the lead, the signature header and the main header of a
//! package file, and the installed form of the main header that the rpmdb
//! stores.
//!
//! A header is an index of `(tag, type, offset, count)` entries followed by
//! a data store. Every entry is bounds-checked when the header is read, so
//! the typed accessors below never index outside the store, whatever the
//! file says. The limits are rpm's own (`hdrchkTags`, `hdrchkData`): a file
//! that rpm would refuse is refused here too.
//!
//! Own code rather than the `rpm` crate: its payload decoders pull their own
//! `zstd`/`lzma` bindings next to the ones this crate links, and the
//! installer needs the raw index and store anyway, to append the install-time
//! tags to the immutable region byte for byte.

use std::io::{self, Read};

use thiserror::Error;

/// The lead is a fixed 96-byte relic; only its magic is checked.
const LEAD_SIZE: usize = 96;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// rpm's limits on a header's entry count and store size.
const MAX_ENTRIES: u32 = 0xffff;
const MAX_DATA: u32 = 0x0fff_ffff;
/// Size of one index entry and of a region trailer.
const ENTRY_SIZE: usize = 16;

/// Tags the installer reads or writes. Names follow rpm's `RPMTAG_*`.
pub mod tag {
    pub const HEADERIMMUTABLE: u32 = 63;
    pub const SIGSIZE: u32 = 257;
    pub const SIGPGP: u32 = 259;
    pub const SIGMD5: u32 = 261;
    pub const SIGGPG: u32 = 262;
    pub const DSAHEADER: u32 = 267;
    pub const RSAHEADER: u32 = 268;
    pub const PUBKEYS: u32 = 266;
    pub const SHA1HEADER: u32 = 269;
    pub const LONGARCHIVESIZE: u32 = 271;
    pub const SHA256HEADER: u32 = 273;
    pub const NAME: u32 = 1000;
    pub const VERSION: u32 = 1001;
    pub const RELEASE: u32 = 1002;
    pub const EPOCH: u32 = 1003;
    pub const SUMMARY: u32 = 1004;
    pub const DESCRIPTION: u32 = 1005;
    pub const BUILDTIME: u32 = 1006;
    pub const BUILDHOST: u32 = 1007;
    pub const INSTALLTIME: u32 = 1008;
    pub const SIZE: u32 = 1009;
    pub const LICENSE: u32 = 1014;
    pub const PACKAGER: u32 = 1015;
    pub const GROUP: u32 = 1016;
    pub const ARCH: u32 = 1022;
    pub const PREIN: u32 = 1023;
    pub const POSTIN: u32 = 1024;
    pub const FILESIZES: u32 = 1028;
    pub const FILESTATES: u32 = 1029;
    pub const FILEMODES: u32 = 1030;
    pub const FILERDEVS: u32 = 1033;
    pub const FILEMTIMES: u32 = 1034;
    pub const FILEDIGESTS: u32 = 1035;
    pub const FILELINKTOS: u32 = 1036;
    pub const FILEFLAGS: u32 = 1037;
    pub const FILEUSERNAME: u32 = 1039;
    pub const FILEGROUPNAME: u32 = 1040;
    pub const SOURCERPM: u32 = 1044;
    pub const ARCHIVESIZE: u32 = 1046;
    pub const PROVIDENAME: u32 = 1047;
    pub const REQUIREFLAGS: u32 = 1048;
    pub const REQUIRENAME: u32 = 1049;
    pub const CONFLICTNAME: u32 = 1054;
    pub const RPMVERSION: u32 = 1064;
    pub const TRIGGERSCRIPTS: u32 = 1065;
    pub const TRIGGERNAME: u32 = 1066;
    pub const TRIGGERVERSION: u32 = 1067;
    pub const TRIGGERFLAGS: u32 = 1068;
    pub const TRIGGERINDEX: u32 = 1069;
    pub const PREINPROG: u32 = 1085;
    pub const POSTINPROG: u32 = 1086;
    pub const OBSOLETENAME: u32 = 1090;
    pub const TRIGGERSCRIPTPROG: u32 = 1092;
    pub const FILEDEVICES: u32 = 1095;
    pub const FILEINODES: u32 = 1096;
    pub const FILELANGS: u32 = 1097;
    pub const PROVIDEFLAGS: u32 = 1112;
    pub const PROVIDEVERSION: u32 = 1113;
    pub const DIRINDEXES: u32 = 1116;
    pub const BASENAMES: u32 = 1117;
    pub const DIRNAMES: u32 = 1118;
    pub const PAYLOADFORMAT: u32 = 1124;
    pub const PAYLOADCOMPRESSOR: u32 = 1125;
    pub const INSTALLCOLOR: u32 = 1127;
    pub const FILECOLORS: u32 = 1140;
    pub const INSTALLTID: u32 = 1128;
    pub const PRETRANS: u32 = 1151;
    pub const POSTTRANS: u32 = 1152;
    pub const PRETRANSPROG: u32 = 1153;
    pub const POSTTRANSPROG: u32 = 1154;
    pub const LONGFILESIZES: u32 = 5008;
    pub const LONGSIGSIZE: u32 = 5009;
    pub const FILECAPS: u32 = 5010;
    pub const FILEDIGESTALGO: u32 = 5011;
    pub const PAYLOADDIGEST: u32 = 5092;
    pub const PAYLOADDIGESTALGO: u32 = 5093;
    pub const SUGGESTNAME: u32 = 5049;
    pub const ENHANCENAME: u32 = 5055;
    pub const RECOMMENDNAME: u32 = 5046;
    pub const SUPPLEMENTNAME: u32 = 5052;
    pub const FILETRIGGERSCRIPTS: u32 = 5066;
    pub const FILETRIGGERSCRIPTPROG: u32 = 5067;
    pub const FILETRIGGERNAME: u32 = 5069;
    pub const FILETRIGGERINDEX: u32 = 5070;
    pub const FILETRIGGERFLAGS: u32 = 5072;
    pub const TRANSFILETRIGGERSCRIPTS: u32 = 5076;
    pub const TRANSFILETRIGGERSCRIPTPROG: u32 = 5077;
    pub const TRANSFILETRIGGERNAME: u32 = 5079;
    pub const TRANSFILETRIGGERINDEX: u32 = 5080;
    pub const TRANSFILETRIGGERFLAGS: u32 = 5082;
    pub const FILETRIGGERPRIORITIES: u32 = 5084;
    pub const TRANSFILETRIGGERPRIORITIES: u32 = 5085;
}

/// Signature-header tags (`RPMSIGTAG_*`) the installed header keeps.
pub mod sigtag {
    pub const SIZE: u32 = 1000;
    pub const PGP: u32 = 1002;
    pub const MD5: u32 = 1004;
    pub const GPG: u32 = 1005;
    pub const PAYLOADSIZE: u32 = 1007;
    pub const LONGSIZE: u32 = 270;
}

/// rpm's data types (`rpmTagType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Null,
    Char,
    Int8,
    Int16,
    Int32,
    Int64,
    String,
    Bin,
    StringArray,
    I18nString,
}

impl DataType {
    fn from_raw(raw: u32) -> Option<DataType> {
        Some(match raw {
            0 => DataType::Null,
            1 => DataType::Char,
            2 => DataType::Int8,
            3 => DataType::Int16,
            4 => DataType::Int32,
            5 => DataType::Int64,
            6 => DataType::String,
            7 => DataType::Bin,
            8 => DataType::StringArray,
            9 => DataType::I18nString,
            _ => return None,
        })
    }

    fn raw(self) -> u32 {
        match self {
            DataType::Null => 0,
            DataType::Char => 1,
            DataType::Int8 => 2,
            DataType::Int16 => 3,
            DataType::Int32 => 4,
            DataType::Int64 => 5,
            DataType::String => 6,
            DataType::Bin => 7,
            DataType::StringArray => 8,
            DataType::I18nString => 9,
        }
    }

    /// Alignment rpm requires of the data's offset in the store.
    fn align(self) -> usize {
        match self {
            DataType::Int16 => 2,
            DataType::Int32 => 4,
            DataType::Int64 => 8,
            _ => 1,
        }
    }
}

#[derive(Debug, Error)]
pub enum HeaderError {
    #[error("cannot read the package: {0}")]
    Io(#[from] io::Error),
    #[error("not an rpm package (bad lead magic)")]
    BadLead,
    #[error("{what}: bad header magic")]
    BadMagic { what: &'static str },
    #[error("{what}: {count} index entries or {size} data bytes exceed rpm's limits")]
    TooLarge {
        what: &'static str,
        count: u32,
        size: u32,
    },
    #[error("{what}: entry for tag {tag} has an unknown data type {raw}")]
    BadType {
        what: &'static str,
        tag: u32,
        raw: u32,
    },
    #[error("{what}: data of tag {tag} lies outside the header's store")]
    OutOfBounds { what: &'static str, tag: u32 },
    #[error("{what}: the immutable region is malformed")]
    BadRegion { what: &'static str },
    #[error("tag {tag} has type {found:?}, expected {expected}")]
    WrongType {
        tag: u32,
        found: DataType,
        expected: &'static str,
    },
    #[error("tag {tag} is not valid UTF-8")]
    NotUtf8 { tag: u32 },
    #[error("required tag {tag} is missing")]
    Missing { tag: u32 },
}

/// One index entry, its data range already checked against the store.
#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    ty: DataType,
    count: u32,
    start: usize,
    end: usize,
}

/// A parsed header: the raw bytes of index and store, and the checked
/// entries. The default is a header without entries.
#[derive(Debug, Clone, Default)]
pub struct Header {
    entries: Vec<Entry>,
    /// The index entries as they were on disk (16 bytes each).
    raw_index: Vec<u8>,
    store: Vec<u8>,
}

/// How much of a header its immutable region must cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    /// Every entry: a header as a package file carries it.
    Whole,
    /// The first entries, followed by tags appended at install time.
    WithAppended,
}

/// Length of the data of one entry starting at `start`, or `None` if it
/// does not fit in `store`.
fn data_len(ty: DataType, count: u32, store: &[u8], start: usize) -> Option<usize> {
    let count = count as usize;
    let rest = store.get(start..)?;
    let fixed = |size: usize| {
        let len = size.checked_mul(count)?;
        (len <= rest.len()).then_some(len)
    };
    match ty {
        DataType::Null => Some(0),
        DataType::Char | DataType::Int8 | DataType::Bin => fixed(1),
        DataType::Int16 => fixed(2),
        DataType::Int32 => fixed(4),
        DataType::Int64 => fixed(8),
        DataType::String if count != 1 => None,
        DataType::String | DataType::StringArray | DataType::I18nString => {
            let mut len = 0usize;
            for _ in 0..count {
                let nul = rest.get(len..)?.iter().position(|b| *b == 0)?;
                len += nul + 1;
            }
            Some(len)
        }
    }
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        word.copy_from_slice(src);
    }
    u32::from_be_bytes(word)
}

impl Header {
    /// Reads one header (magic, counts, index, store) from `reader`.
    pub fn read(reader: &mut dyn Read, what: &'static str) -> Result<Header, HeaderError> {
        let mut intro = [0u8; 16];
        reader.read_exact(&mut intro)?;
        if intro[..4] != HEADER_MAGIC {
            return Err(HeaderError::BadMagic { what });
        }
        let count = be32(&intro, 8);
        let size = be32(&intro, 12);
        if count > MAX_ENTRIES || size > MAX_DATA || count == 0 {
            return Err(HeaderError::TooLarge { what, count, size });
        }
        // Read through `take`, so a short file claiming a large header
        // costs what it holds, not what it claims.
        let mut read = |len: usize| -> Result<Vec<u8>, HeaderError> {
            let mut buf = Vec::new();
            reader.take(len as u64).read_to_end(&mut buf)?;
            if buf.len() != len {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
            Ok(buf)
        };
        let raw_index = read(count as usize * ENTRY_SIZE)?;
        let store = read(size as usize)?;
        Header::from_parts(raw_index, store, what, Region::Whole)
    }

    /// Reads a header as the rpmdb stores it (no magic: counts, index,
    /// store), where tags appended after the immutable region may follow
    /// it.
    pub fn from_blob(blob: &[u8], what: &'static str) -> Result<Header, HeaderError> {
        let count = be32(blob, 0);
        let size = be32(blob, 4);
        if count > MAX_ENTRIES || size > MAX_DATA || count == 0 {
            return Err(HeaderError::TooLarge { what, count, size });
        }
        let index_end = 8 + count as usize * ENTRY_SIZE;
        let store_end = index_end + size as usize;
        if blob.len() != store_end {
            return Err(HeaderError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        let raw_index = blob[8..index_end].to_vec();
        let store = blob[index_end..].to_vec();
        Header::from_parts(raw_index, store, what, Region::WithAppended)
    }

    /// Parses an index and a store, checking every entry.
    fn from_parts(
        raw_index: Vec<u8>,
        store: Vec<u8>,
        what: &'static str,
        region: Region,
    ) -> Result<Header, HeaderError> {
        let mut entries = Vec::with_capacity(raw_index.len() / ENTRY_SIZE);
        for raw in raw_index.chunks_exact(ENTRY_SIZE) {
            let tag = be32(raw, 0);
            let raw_type = be32(raw, 4);
            let offset = be32(raw, 8);
            let count = be32(raw, 12);
            let ty = DataType::from_raw(raw_type).ok_or(HeaderError::BadType {
                what,
                tag,
                raw: raw_type,
            })?;
            let start = offset as usize;
            let out_of_bounds = HeaderError::OutOfBounds { what, tag };
            if count == 0 || count > MAX_DATA || !start.is_multiple_of(ty.align()) {
                return Err(out_of_bounds);
            }
            let len = data_len(ty, count, &store, start).ok_or(out_of_bounds)?;
            entries.push(Entry {
                tag,
                ty,
                count,
                start,
                end: start + len,
            });
        }
        let header = Header {
            entries,
            raw_index,
            store,
        };
        header.check_region(what, region)?;
        Ok(header)
    }

    /// A package's main header is one immutable region covering the whole
    /// header; the installer relies on that to append its own tags.
    fn check_region(&self, what: &'static str, region: Region) -> Result<(), HeaderError> {
        let bad = HeaderError::BadRegion { what };
        let Some(first) = self.entries.first() else {
            return Err(bad);
        };
        if first.tag != tag::HEADERIMMUTABLE && first.tag != 62 {
            // Headers without a region are from before rpm 4.0.
            return Err(bad);
        }
        if first.ty != DataType::Bin || first.count as usize != ENTRY_SIZE {
            return Err(bad);
        }
        let trailer = &self.store[first.start..first.end];
        let region_entries = (be32(trailer, 8) as i32).checked_neg().unwrap_or(0);
        let region_entries = region_entries as usize / ENTRY_SIZE;
        let whole = region_entries == self.entries.len() && first.end == self.store.len();
        let covered = match region {
            Region::Whole => whole,
            Region::WithAppended => (1..=self.entries.len()).contains(&region_entries),
        };
        if be32(trailer, 0) != first.tag || !covered {
            return Err(bad);
        }
        Ok(())
    }

    fn entry(&self, tag: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    /// The header's size in the package file: intro, index and store.
    pub fn disk_len(&self) -> usize {
        ENTRY_SIZE + self.raw_index.len() + self.store.len()
    }

    /// The header as a package file holds it, magic first: what its
    /// digests and signatures are computed over.
    pub fn to_disk(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.disk_len());
        bytes.extend_from_slice(&HEADER_MAGIC);
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&blob(&self.raw_index, &self.store));
        bytes
    }

    /// The blob the rpmdb keeps: this header with `extra` tags appended
    /// after it (sorted here by tag; a tag the header has is not added
    /// twice). The header itself is kept byte for byte, so its digests and
    /// signatures still verify.
    pub fn installed_blob(&self, extra: Vec<(u32, Value)>) -> Vec<u8> {
        let mut added: Vec<(u32, Value)> =
            extra.into_iter().filter(|(t, _)| !self.has(*t)).collect();
        added.sort_by_key(|(t, _)| *t);
        added.dedup_by_key(|(t, _)| *t);
        let mut index = self.raw_index.clone();
        let mut store = self.store.clone();
        for (t, value) in &added {
            push_entry(&mut index, &mut store, *t, value);
        }
        blob(&index, &store)
    }

    pub fn has(&self, tag: u32) -> bool {
        self.entry(tag).is_some()
    }

    fn data(&self, entry: &Entry) -> &[u8] {
        &self.store[entry.start..entry.end]
    }

    /// The NUL-terminated strings of a string-typed tag, as bytes.
    pub fn byte_strings(&self, tag: u32) -> Result<Vec<&[u8]>, HeaderError> {
        let Some(entry) = self.entry(tag) else {
            return Ok(Vec::new());
        };
        match entry.ty {
            DataType::String | DataType::StringArray | DataType::I18nString => {}
            found => {
                return Err(HeaderError::WrongType {
                    tag,
                    found,
                    expected: "string",
                });
            }
        }
        Ok(self
            .data(entry)
            .split(|b| *b == 0)
            .take(entry.count as usize)
            .collect())
    }

    /// A string tag (or the first string of an array), `None` if absent.
    pub fn string(&self, tag: u32) -> Result<Option<String>, HeaderError> {
        match self.byte_strings(tag)?.first() {
            Some(bytes) => std::str::from_utf8(bytes)
                .map(|s| Some(s.to_string()))
                .map_err(|_| HeaderError::NotUtf8 { tag }),
            None => Ok(None),
        }
    }

    /// A string tag that must be there (name, version, ...).
    pub fn required_string(&self, tag: u32) -> Result<String, HeaderError> {
        self.string(tag)?.ok_or(HeaderError::Missing { tag })
    }

    /// The strings of an array tag, lossily decoded (dependency names).
    pub fn strings(&self, tag: u32) -> Result<Vec<String>, HeaderError> {
        Ok(self
            .byte_strings(tag)?
            .into_iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect())
    }

    /// An integer array tag of any width, widened to `u64`.
    pub fn integers(&self, tag: u32) -> Result<Vec<u64>, HeaderError> {
        let Some(entry) = self.entry(tag) else {
            return Ok(Vec::new());
        };
        let data = self.data(entry);
        Ok(match entry.ty {
            DataType::Char | DataType::Int8 => data.iter().map(|b| u64::from(*b)).collect(),
            DataType::Int16 => data
                .chunks_exact(2)
                .map(|c| u64::from(u16::from_be_bytes([c[0], c[1]])))
                .collect(),
            DataType::Int32 => data
                .chunks_exact(4)
                .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            DataType::Int64 => data
                .chunks_exact(8)
                .map(|c| {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(c);
                    u64::from_be_bytes(word)
                })
                .collect(),
            found => {
                return Err(HeaderError::WrongType {
                    tag,
                    found,
                    expected: "integer",
                });
            }
        })
    }

    /// The first value of an integer tag.
    pub fn integer(&self, tag: u32) -> Result<Option<u64>, HeaderError> {
        Ok(self.integers(tag)?.first().copied())
    }

    /// A binary tag's bytes.
    pub fn binary(&self, tag: u32) -> Result<Option<&[u8]>, HeaderError> {
        let Some(entry) = self.entry(tag) else {
            return Ok(None);
        };
        if entry.ty != DataType::Bin {
            return Err(HeaderError::WrongType {
                tag,
                found: entry.ty,
                expected: "binary",
            });
        }
        Ok(Some(self.data(entry)))
    }

    /// A copy of one entry's type, count and data, for moving a tag from
    /// the signature header to the installed header.
    fn value(&self, tag: u32) -> Option<Value> {
        let entry = self.entry(tag)?;
        Some(Value {
            ty: entry.ty,
            count: entry.count,
            data: self.data(entry).to_vec(),
        })
    }
}

/// A tag's typed data, ready to be appended to a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    ty: DataType,
    count: u32,
    data: Vec<u8>,
}

impl Value {
    pub fn int32(values: &[u32]) -> Value {
        Value {
            ty: DataType::Int32,
            count: values.len() as u32,
            data: values.iter().flat_map(|v| v.to_be_bytes()).collect(),
        }
    }

    pub fn chars(values: &[u8]) -> Value {
        Value {
            ty: DataType::Char,
            count: values.len() as u32,
            data: values.to_vec(),
        }
    }

    pub fn string(value: &str) -> Value {
        Value::nul_terminated(DataType::String, value)
    }

    /// A translatable string (summary, description, group); with no
    /// translation table in the header, every locale reads this one.
    pub fn i18n_string(value: &str) -> Value {
        Value::nul_terminated(DataType::I18nString, value)
    }

    /// One element of a string array; [`HeaderBuilder::put`] appends
    /// further ones.
    pub fn array_string(value: &str) -> Value {
        Value::nul_terminated(DataType::StringArray, value)
    }

    fn nul_terminated(ty: DataType, value: &str) -> Value {
        let mut data = value.as_bytes().to_vec();
        data.push(0);
        Value { ty, count: 1, data }
    }
}

/// A header without its magic: counts, index, store.
fn blob(index: &[u8], store: &[u8]) -> Vec<u8> {
    let mut blob = Vec::with_capacity(8 + index.len() + store.len());
    blob.extend_from_slice(&((index.len() / ENTRY_SIZE) as u32).to_be_bytes());
    blob.extend_from_slice(&(store.len() as u32).to_be_bytes());
    blob.extend_from_slice(index);
    blob.extend_from_slice(store);
    blob
}

/// Appends one index entry and its data (aligned as its type needs).
fn push_entry(index: &mut Vec<u8>, store: &mut Vec<u8>, tag: u32, value: &Value) {
    while !store.len().is_multiple_of(value.ty.align()) {
        store.push(0);
    }
    for word in [tag, value.ty.raw(), store.len() as u32, value.count] {
        index.extend_from_slice(&word.to_be_bytes());
    }
    store.extend_from_slice(&value.data);
}

/// A header made from scratch, for what rpm records that is not a package
/// file (an imported OpenPGP key).
#[derive(Debug, Default)]
pub struct HeaderBuilder {
    entries: Vec<(u32, Value)>,
}

impl HeaderBuilder {
    /// Adds `value` to `tag`, after what an array tag already holds, as
    /// rpm's `headerPut` appends.
    pub fn put(&mut self, tag: u32, value: Value) {
        match self.entries.iter_mut().find(|(t, _)| *t == tag) {
            Some((_, held)) if held.ty == value.ty && held.ty != DataType::String => {
                held.count += value.count;
                held.data.extend_from_slice(&value.data);
            }
            Some((_, held)) => *held = value,
            None => self.entries.push((tag, value)),
        }
    }

    /// The header as one immutable region, laid out as rpm lays out a
    /// header it reloads as immutable: entries and data in tag order, the
    /// region's trailer last.
    pub fn immutable(mut self) -> Result<Header, HeaderError> {
        self.entries.sort_by_key(|(t, _)| *t);
        let mut index = Vec::new();
        let mut store = Vec::new();
        for (t, value) in &self.entries {
            push_entry(&mut index, &mut store, *t, value);
        }
        let region_len = ((self.entries.len() + 1) * ENTRY_SIZE) as i32;
        let trailer = Value {
            ty: DataType::Bin,
            count: ENTRY_SIZE as u32,
            data: [
                tag::HEADERIMMUTABLE,
                DataType::Bin.raw(),
                region_len.wrapping_neg() as u32,
                ENTRY_SIZE as u32,
            ]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect(),
        };
        let mut raw_index = Vec::with_capacity(region_len as usize);
        push_entry(&mut raw_index, &mut store, tag::HEADERIMMUTABLE, &trailer);
        raw_index.extend_from_slice(&index);
        Header::from_parts(raw_index, store, "new header", Region::Whole)
    }
}

/// The signature header is padded to a multiple of 8 bytes.
fn signature_padding(len: usize) -> usize {
    (8 - len % 8) % 8
}

/// The two headers of a package file, read up to the start of the payload.
#[derive(Debug, Clone, Default)]
pub struct PackageHeaders {
    pub signature: Header,
    pub main: Header,
}

impl PackageHeaders {
    /// Reads the lead, the signature header (with its padding to 8 bytes)
    /// and the main header; `reader` is left at the payload.
    pub fn read(reader: &mut dyn Read) -> Result<PackageHeaders, HeaderError> {
        let mut lead = [0u8; LEAD_SIZE];
        reader.read_exact(&mut lead)?;
        if lead[..4] != LEAD_MAGIC {
            return Err(HeaderError::BadLead);
        }
        let signature = Header::read(reader, "signature header")?;
        let mut pad = [0u8; 8];
        reader.read_exact(&mut pad[..signature_padding(signature.disk_len())])?;
        let main = Header::read(reader, "main header")?;
        Ok(PackageHeaders { signature, main })
    }

    /// The header blob rpm keeps in its database for an installed package:
    /// the immutable region untouched, followed by the signature digests
    /// and the install-time tags (`extra`, sorted here by tag).
    pub fn installed_blob(&self, extra: Vec<(u32, Value)>) -> Vec<u8> {
        let moved = [
            (sigtag::SIZE, tag::SIGSIZE),
            (sigtag::PGP, tag::SIGPGP),
            (sigtag::MD5, tag::SIGMD5),
            (sigtag::GPG, tag::SIGGPG),
            (tag::DSAHEADER, tag::DSAHEADER),
            (tag::RSAHEADER, tag::RSAHEADER),
            (tag::SHA1HEADER, tag::SHA1HEADER),
            (tag::SHA256HEADER, tag::SHA256HEADER),
            (sigtag::LONGSIZE, tag::LONGSIGSIZE),
            (tag::LONGARCHIVESIZE, tag::LONGARCHIVESIZE),
            (sigtag::PAYLOADSIZE, tag::ARCHIVESIZE),
        ];
        let mut added: Vec<(u32, Value)> = moved
            .iter()
            .filter_map(|(from, to)| Some((*to, self.signature.value(*from)?)))
            .collect();
        added.extend(extra);
        self.main.installed_blob(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-region header with one string tag, built by hand.
    fn header_bytes(string_tag: u32, name: &[u8]) -> Vec<u8> {
        let mut store = name.to_vec();
        store.push(0);
        let trailer_at = store.len() as u32;
        store.extend_from_slice(&tag::HEADERIMMUTABLE.to_be_bytes());
        store.extend_from_slice(&7u32.to_be_bytes());
        store.extend_from_slice(&(-32i32).to_be_bytes());
        store.extend_from_slice(&16u32.to_be_bytes());
        let mut out = HEADER_MAGIC.to_vec();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&2u32.to_be_bytes());
        out.extend_from_slice(&(store.len() as u32).to_be_bytes());
        for (t, ty, off, count) in [(63, 7, trailer_at, 16), (string_tag, 6, 0, 1)] {
            for word in [t, ty, off, count] {
                out.extend_from_slice(&word.to_be_bytes());
            }
        }
        out.extend_from_slice(&store);
        out
    }

    #[test]
    fn reads_a_header_and_appends_tags_after_the_region() {
        let bytes = header_bytes(tag::NAME, b"hello");
        let header = Header::read(&mut &bytes[..], "test").expect("valid header");
        assert_eq!(header.required_string(tag::NAME).expect("name"), "hello");
        let signature = header_bytes(tag::SHA1HEADER, b"0123");
        let headers = PackageHeaders {
            signature: Header::read(&mut &signature[..], "sig").expect("valid"),
            main: header,
        };
        let blob = headers.installed_blob(vec![(tag::INSTALLTIME, Value::int32(&[7]))]);
        // Four entries now, the new ones by tag; the old index and store
        // are kept byte for byte, and the integer lands 4-aligned.
        assert_eq!(be32(&blob, 0), 4);
        assert_eq!(&blob[8..40], &bytes[16..48]);
        assert_eq!(be32(&blob[40..56], 0), tag::SHA1HEADER);
        let entry = &blob[56..72];
        assert_eq!(be32(entry, 0), tag::INSTALLTIME);
        let offset = be32(entry, 8) as usize;
        assert_eq!(offset % 4, 0);
        let store = &blob[72..];
        assert_eq!(&store[..bytes.len() - 48], &bytes[48..]);
        assert_eq!(be32(store, offset), 7);
    }

    #[test]
    fn out_of_bounds_offsets_and_counts_are_refused() {
        let mut bytes = header_bytes(tag::NAME, b"x");
        // NAME's offset (second entry, third word) far beyond the store.
        let at = 16 + 16 + 8;
        bytes[at..at + 4].copy_from_slice(&1000u32.to_be_bytes());
        assert!(matches!(
            Header::read(&mut &bytes[..], "t"),
            Err(HeaderError::OutOfBounds { .. })
        ));
        let mut bytes = header_bytes(tag::NAME, b"x");
        bytes[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Header::read(&mut &bytes[..], "t"),
            Err(HeaderError::TooLarge { .. })
        ));
    }
}
