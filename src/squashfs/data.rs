//! File contents: read in tree order by one thread, compressed on every core, written
//! in the same order by the caller's thread.
//!
//! Every block travels as an event on a channel, in output order, carrying the
//! receiver its compressed form will arrive on. A window of tokens, one per block
//! between its dispatch and its write, bounds memory, and the order of events fixes
//! the output bytes, whatever the thread count or the order workers finish in.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{DefaultHasher, Hasher as _};
use std::io::{self, Read as _, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use super::compress::Compressor;
use super::content::{CodeMap, Content};
use super::inode::{put32, put64};
use super::memo::{Key, Recall, Remember};
use super::options::SquashfsOptions;
use super::tree::{FileSource, Kind, Tree, io_error};
use super::{Packing, Progress, SquashfsError};

/// Set in a block size word when the block is stored uncompressed.
const UNCOMPRESSED_BLOCK: u32 = 1 << 24;
/// Blocks in flight per compression thread: enough to keep every core busy while the
/// reader and writer wait on disk.
const WINDOW_PER_THREAD: usize = 4;
/// Events queued for the writer. Only blocks hold memory, and the window
/// bounds those; the other events are small, and a long queue of them lets
/// the reader go on filling the next fragment block while the writer waits
/// for the previous one (a directory of small files is otherwise packed on
/// one core).
const QUEUED_EVENTS: usize = 4096;

/// Where a file's contents went.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileData {
    pub blocks_start: u64,
    /// Size words of the full blocks; 0 is a hole.
    pub blocks: Vec<u32>,
    /// Fragment block index and offset of the tail.
    pub fragment: Option<(u32, u32)>,
    /// Bytes stored as holes.
    pub sparse: u64,
}

pub(crate) struct DataSection {
    /// Indexed like [`Tree::inodes`]; entries for non-files stay empty.
    pub files: Vec<FileData>,
    /// Fragment table entries (16 bytes each).
    pub fragment_table: Vec<u8>,
    pub fragment_count: u32,
    /// Image offset just past the data.
    pub end: u64,
    pub data_blocks: u64,
    pub duplicate_files: u64,
    /// Blocks (data and fragment) written, and how many of them the memo gave.
    pub blocks_written: u64,
    pub recalled_blocks: u64,
}

struct Job {
    data: Vec<u8>,
    content: Content,
    reply: SyncSender<Result<Packed, SquashfsError>>,
}

struct Packed {
    bytes: Vec<u8>,
    raw: bool,
    /// Its key in the memo, when there is one.
    key: Option<Key>,
    recalled: bool,
}

type Receipt = Receiver<Result<Packed, SquashfsError>>;

enum Event {
    Block(Receipt),
    Hole,
    /// A fragment block and its index in the fragment table (blocks of
    /// different content are filled side by side, so they may finish out of
    /// index order).
    Fragment {
        index: u32,
        receipt: Receipt,
    },
    FileEnd {
        inode: usize,
        fragment: Option<(u32, u32)>,
        duplicate_of: Option<usize>,
    },
}

/// Writes the contents of the regular files among `order` from image offset `start`.
pub(crate) fn write_data<W: Write + Seek>(
    tree: &Tree,
    order: &[usize],
    out: &mut W,
    start: u64,
    options: &SquashfsOptions,
    progress: Progress<'_>,
) -> Result<DataSection, SquashfsError> {
    let threads = options
        .threads
        .or_else(|| thread::available_parallelism().ok())
        .map_or(1, |n| n.get());
    let compressors = (0..threads)
        .map(|_| Compressor::new(options))
        .collect::<Result<Vec<_>, _>>()?;
    // Without a memo the image is packed as well, only slower.
    let (recall, remember) = match options
        .memo
        .as_deref()
        .and_then(|dir| Recall::open(dir, options).ok())
    {
        Some((recall, path)) => (Some(recall), Some(Remember::new(path))),
        None => (None, None),
    };
    let recall = recall.as_ref();
    let (event_tx, event_rx) = sync_channel(QUEUED_EVENTS);
    // One token per block between its dispatch and its write.
    let (window_tx, window_rx) = sync_channel::<()>(threads * WINDOW_PER_THREAD);
    let (job_tx, job_rx) = sync_channel::<Job>(threads);
    let job_rx = Mutex::new(job_rx);
    thread::scope(|scope| {
        for compressor in compressors {
            let job_rx = &job_rx;
            scope.spawn(move || compress_jobs(job_rx, compressor, recall));
        }
        let planner = Planner {
            tree,
            block_size: options.block_size as usize,
            events: event_tx,
            window: window_tx,
            jobs: job_tx,
            fragments: Default::default(),
            fragment_count: 0,
            seen: HashMap::new(),
            fragment_of: vec![None; tree.inodes.len()],
            progress,
            packing: Packing {
                bytes_read: 0,
                bytes_total: tree
                    .inodes
                    .iter()
                    .map(|inode| match &inode.kind {
                        Kind::File(source) => source.size,
                        _ => 0,
                    })
                    .sum(),
            },
        };
        let reader = scope.spawn(move || planner.run(order));
        let written = write_events(
            event_rx,
            &window_rx,
            out,
            Section {
                start,
                inodes: tree.inodes.len(),
                block_size: options.block_size,
            },
            remember,
        );
        // A reader error explains why the event stream ended early, so it comes first.
        reader.join().map_err(|_| SquashfsError::WorkerLost)??;
        written
    })
}

fn compress_jobs(jobs: &Mutex<Receiver<Job>>, mut compressor: Compressor, memo: Option<&Recall>) {
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(Job {
            data,
            content,
            reply,
        }) = job
        else {
            return;
        };
        let key = memo.map(|memo| memo.key(content, &data));
        let recalled = memo
            .zip(key.as_ref())
            .and_then(|(memo, key)| memo.recall(key));
        let result = match recalled {
            Some(remembered) => Ok(Packed {
                bytes: remembered.bytes,
                raw: remembered.raw,
                key,
                recalled: true,
            }),
            None => compressor
                .compress(&data, content)
                .map(|packed| match packed {
                    Some(bytes) => Packed {
                        bytes,
                        raw: false,
                        key,
                        recalled: false,
                    },
                    None => Packed {
                        bytes: data,
                        raw: true,
                        key,
                        recalled: false,
                    },
                }),
        };
        // A closed reply means the writer stopped; it reports why.
        let _ = reply.send(result);
    }
}

/// Why the reader stopped early.
enum Halt {
    Failed(SquashfsError),
    /// The writer hung up; it has its own error to report.
    WriterGone,
}

impl From<SquashfsError> for Halt {
    fn from(error: SquashfsError) -> Halt {
        Halt::Failed(error)
    }
}

struct Planner<'a> {
    tree: &'a Tree,
    block_size: usize,
    events: SyncSender<Event>,
    /// Holds a token for every block dispatched and not yet written.
    window: SyncSender<()>,
    jobs: SyncSender<Job>,
    /// The fragment blocks being filled with tails, one per kind of content,
    /// so that machine code is compressed with machine code.
    fragments: [OpenFragment; 2],
    /// Fragment indexes handed out so far.
    fragment_count: u32,
    /// Stored files by (size, content hash): candidates for deduplication.
    seen: HashMap<(u64, u64), Vec<usize>>,
    fragment_of: Vec<Option<(u32, u32)>>,
    progress: Progress<'a>,
    packing: Packing,
}

/// A fragment block being filled: its index is fixed by its first tail.
#[derive(Default)]
struct OpenFragment {
    index: u32,
    bytes: Vec<u8>,
}

impl Planner<'_> {
    fn run(mut self, order: &[usize]) -> Result<(), SquashfsError> {
        let result = order
            .iter()
            .try_for_each(|&inode| match &self.tree.inodes[inode].kind {
                Kind::File(source) => self.pack_file(inode, *source),
                _ => Ok(()),
            });
        let flushed = result
            .and_then(|()| self.flush_fragment(Content::Other))
            .and_then(|()| self.flush_fragment(Content::MachineCode));
        match flushed {
            Ok(()) | Err(Halt::WriterGone) => Ok(()),
            Err(Halt::Failed(error)) => Err(error),
        }
    }

    fn pack_file(&mut self, inode: usize, source: FileSource) -> Result<(), Halt> {
        let path = &self.tree.inodes[inode].path;
        let file = File::open(path).map_err(|e| vanished_or(path, e))?;
        let block_size = self.block_size as u64;
        let full_blocks = source.size / block_size;
        let mut hasher = DefaultHasher::new();
        let mut code = CodeMap::None;
        for index in 0..full_blocks {
            let offset = index * block_size;
            if source.maybe_sparse && in_hole(&file, offset, block_size) {
                hasher.write_u8(0);
                self.send(Event::Hole)?;
                continue;
            }
            let mut block = vec![0; self.block_size];
            read_at(&file, &mut block, offset, path)?;
            if index == 0 {
                code = CodeMap::of_file_start(&block);
            }
            if block.iter().all(|&byte| byte == 0) {
                hasher.write_u8(0);
                self.send(Event::Hole)?;
            } else {
                hasher.write_u8(1);
                hasher.write(&block);
                let content = code.content(offset..offset + block_size);
                self.dispatch(block, content, Event::Block)?;
            }
        }
        let mut tail = vec![0; (source.size % block_size) as usize];
        read_at(&file, &mut tail, full_blocks * block_size, path)?;
        if full_blocks == 0 {
            code = CodeMap::of_file_start(&tail);
        }
        let tail_start = full_blocks * block_size;
        let content = code.content(tail_start..tail_start + tail.len() as u64);
        hasher.write(&tail);
        check_unchanged(&file, source, path)?;

        let key = (source.size, hasher.finish());
        let duplicate_of = self.seen.get(&key).and_then(|candidates| {
            candidates
                .iter()
                .copied()
                .find(|&c| same_content(&self.tree.inodes[c].path, path))
        });
        let fragment = match duplicate_of {
            Some(original) => self.fragment_of[original],
            None => {
                self.seen.entry(key).or_default().push(inode);
                if tail.is_empty() {
                    None
                } else {
                    Some(self.add_fragment(&tail, content)?)
                }
            }
        };
        self.fragment_of[inode] = fragment;
        self.send(Event::FileEnd {
            inode,
            fragment,
            duplicate_of,
        })?;
        self.packing.bytes_read += source.size;
        match (self.progress)(self.packing) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(Halt::Failed(SquashfsError::Stopped)),
        }
    }

    fn add_fragment(&mut self, tail: &[u8], content: Content) -> Result<(u32, u32), Halt> {
        if self.fragments[content as usize].bytes.len() + tail.len() > self.block_size {
            self.flush_fragment(content)?;
        }
        let open = &mut self.fragments[content as usize];
        if open.bytes.is_empty() {
            open.index = self.fragment_count;
            self.fragment_count += 1;
        }
        // Offsets stay below the block size (at most 1 MiB).
        let at = (open.index, open.bytes.len() as u32);
        open.bytes.extend_from_slice(tail);
        Ok(at)
    }

    fn flush_fragment(&mut self, content: Content) -> Result<(), Halt> {
        let open = &mut self.fragments[content as usize];
        if open.bytes.is_empty() {
            return Ok(());
        }
        let index = open.index;
        let block = std::mem::take(&mut open.bytes);
        self.dispatch(block, content, |receipt| Event::Fragment { index, receipt })
    }

    fn dispatch(
        &mut self,
        data: Vec<u8>,
        content: Content,
        event: impl FnOnce(Receipt) -> Event,
    ) -> Result<(), Halt> {
        let (reply, receipt) = sync_channel(1);
        self.window.send(()).map_err(|_| Halt::WriterGone)?;
        self.send(event(receipt))?;
        self.jobs
            .send(Job {
                data,
                content,
                reply,
            })
            .map_err(|_| Halt::WriterGone)
    }

    fn send(&self, event: Event) -> Result<(), Halt> {
        self.events.send(event).map_err(|_| Halt::WriterGone)
    }
}

/// Whether `[offset, offset + length)` lies in a hole, without reading it.
fn in_hole(file: &File, offset: u64, length: u64) -> bool {
    match rustix::fs::seek(file, rustix::fs::SeekFrom::Data(offset)) {
        Ok(next_data) => next_data >= offset + length,
        Err(rustix::io::Errno::NXIO) => true,
        // Filesystems without SEEK_DATA: read it and look for zeros instead.
        Err(_) => false,
    }
}

fn read_at(file: &File, buffer: &mut [u8], offset: u64, path: &Path) -> Result<(), SquashfsError> {
    file.read_exact_at(buffer, offset)
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => SquashfsError::SourceChanged(path.to_owned()),
            _ => io_error(path, e),
        })
}

/// A file that grew, shrank or was rewritten while it was read would be stored as a
/// mix of old and new bytes; refuse instead.
fn check_unchanged(file: &File, source: FileSource, path: &Path) -> Result<(), SquashfsError> {
    let metadata = file.metadata().map_err(|e| io_error(path, e))?;
    let mut probe = [0u8; 1];
    let grew = file
        .read_at(&mut probe, source.size)
        .map_err(|e| io_error(path, e))?
        > 0;
    let now = (metadata.mtime(), metadata.mtime_nsec());
    if grew || metadata.len() != source.size || now != source.modified {
        return Err(SquashfsError::SourceChanged(path.to_owned()));
    }
    Ok(())
}

fn vanished_or(path: &Path, error: io::Error) -> SquashfsError {
    match error.kind() {
        io::ErrorKind::NotFound => SquashfsError::SourceVanished(path.to_owned()),
        _ => io_error(path, error),
    }
}

/// Byte-for-byte comparison: hashes only pick the candidates. Unreadable means unequal.
fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(mut a), Ok(mut b)) = (File::open(a), File::open(b)) else {
        return false;
    };
    let mut left = vec![0; 1 << 16];
    let mut right = vec![0; 1 << 16];
    loop {
        let n = match a.read(&mut left) {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 {
            return matches!(b.read(&mut right[..1]), Ok(0));
        }
        if b.read_exact(&mut right[..n]).is_err() || left[..n] != right[..n] {
            return false;
        }
    }
}

/// Bytes of one fragment table entry: start, size word, unused.
const FRAGMENT_ENTRY: usize = 16;

/// The writer's side: takes events in order and puts bytes in the image.
/// Where the data section starts, and what it is laid out for.
struct Section {
    start: u64,
    inodes: usize,
    block_size: u32,
}

fn write_events<W: Write + Seek>(
    events: Receiver<Event>,
    window: &Receiver<()>,
    out: &mut W,
    Section {
        start,
        inodes,
        block_size,
    }: Section,
    mut remember: Option<Remember>,
) -> Result<DataSection, SquashfsError> {
    let mut section = DataSection {
        files: vec![FileData::default(); inodes],
        fragment_table: Vec::new(),
        fragment_count: 0,
        end: start,
        data_blocks: 0,
        duplicate_files: 0,
        blocks_written: 0,
        recalled_blocks: 0,
    };
    let mut current: Option<FileData> = None;
    let start_file = |position| FileData {
        blocks_start: position,
        ..FileData::default()
    };
    for event in events {
        match event {
            Event::Block(receipt) => {
                let position = section.end;
                let word = put(out, &mut section, receipt, window, &mut remember)?;
                current
                    .get_or_insert_with(|| start_file(position))
                    .blocks
                    .push(word);
                section.data_blocks += 1;
            }
            Event::Hole => {
                let file = current.get_or_insert_with(|| start_file(section.end));
                file.blocks.push(0);
                file.sparse += u64::from(block_size);
            }
            Event::Fragment { index, receipt } => {
                let position = section.end;
                let word = put(out, &mut section, receipt, window, &mut remember)?;
                let mut entry = Vec::with_capacity(FRAGMENT_ENTRY);
                put64(&mut entry, position);
                put32(&mut entry, word);
                put32(&mut entry, 0);
                let at = index as usize * FRAGMENT_ENTRY;
                if section.fragment_table.len() < at + FRAGMENT_ENTRY {
                    section.fragment_table.resize(at + FRAGMENT_ENTRY, 0);
                }
                section.fragment_table[at..at + FRAGMENT_ENTRY].copy_from_slice(&entry);
                section.fragment_count = section.fragment_count.max(index + 1);
            }
            Event::FileEnd {
                inode,
                fragment,
                duplicate_of,
            } => {
                let written = current.take().unwrap_or_default();
                let mut data = match duplicate_of {
                    Some(original) => {
                        // The copy's blocks were written already: drop them.
                        if !written.blocks.is_empty() {
                            section.end = written.blocks_start;
                            out.seek(SeekFrom::Start(section.end))
                                .map_err(write_error)?;
                        }
                        section.duplicate_files += 1;
                        section.files[original].clone()
                    }
                    None => written,
                };
                data.fragment = fragment;
                section.files[inode] = data;
            }
        }
    }
    if let Some(memo) = remember {
        // Kept or not, the image is the same; only the next one is slower.
        memo.commit();
    }
    Ok(section)
}

/// Writes one compressed block, frees its place in the window and adds it
/// to the memo; returns its size word.
fn put<W: Write>(
    out: &mut W,
    section: &mut DataSection,
    receipt: Receipt,
    window: &Receiver<()>,
    memo: &mut Option<Remember>,
) -> Result<u32, SquashfsError> {
    let packed = receipt.recv().map_err(|_| SquashfsError::WorkerLost)??;
    out.write_all(&packed.bytes).map_err(write_error)?;
    // The reader sent the token before the block's event, so it is there.
    let _ = window.recv();
    section.end += packed.bytes.len() as u64;
    section.blocks_written += 1;
    section.recalled_blocks += u64::from(packed.recalled);
    if let (Some(memo), Some(key)) = (memo.as_mut(), packed.key) {
        memo.remember(key, &packed.bytes, packed.raw);
    }
    // Blocks are at most 1 MiB, below the flag bit.
    let size = packed.bytes.len() as u32;
    Ok(if packed.raw {
        size | UNCOMPRESSED_BLOCK
    } else {
        size
    })
}

pub(crate) fn write_error(source: io::Error) -> SquashfsError {
    SquashfsError::Write(source)
}
