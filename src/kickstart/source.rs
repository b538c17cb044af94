//! Reading kickstart files as one stream of lines, following `%include`.
//!
//! The parser asks for an include when it meets one, so includes work at any
//! point, inside sections too, exactly where they stand.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diagnostic::Origin;

/// How deep includes may nest before we call it a mistake.
const MAX_INCLUDE_DEPTH: usize = 32;

/// One file being read.
struct OpenFile {
    path: Arc<Path>,
    /// The path as canonicalized, to recognise a file already being read.
    identity: PathBuf,
    lines: std::vec::IntoIter<String>,
    next_line: usize,
}

/// What the stream gives next.
pub enum Item {
    Line {
        text: String,
        origin: Origin,
    },
    /// An included file ended (not the top-level one).
    EndOfInclude {
        file: Arc<Path>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum IncludeError {
    #[error("cannot read included file {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("%include loop: {chain}")]
    Loop { chain: String },
    #[error("includes nest deeper than {MAX_INCLUDE_DEPTH} files")]
    TooDeep,
    #[error("cannot include {0}: only local files can be included")]
    Remote(String),
}

/// A stack of open files; lines come from the innermost one.
pub struct LineStream {
    stack: Vec<OpenFile>,
}

impl LineStream {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let text = read_lossy(path)?;
        Ok(Self {
            stack: vec![open_file(path, &text)],
        })
    }

    /// A stream over text that has no file of its own (standard input, tests).
    pub fn from_text(name: &Path, text: &str) -> Self {
        Self {
            stack: vec![open_file(name, text)],
        }
    }

    pub fn next_item(&mut self) -> Option<Item> {
        loop {
            let top = self.stack.last_mut()?;
            if let Some(text) = top.lines.next() {
                let origin = Origin::new(top.path.clone(), top.next_line);
                top.next_line += 1;
                return Some(Item::Line { text, origin });
            }
            let finished = self.stack.pop()?;
            if !self.stack.is_empty() {
                return Some(Item::EndOfInclude {
                    file: finished.path,
                });
            }
        }
    }

    /// Starts reading `target`, named by a `%include` on the line just read.
    pub fn include(&mut self, target: &str) -> Result<(), IncludeError> {
        if target.contains("://") {
            return Err(IncludeError::Remote(target.to_owned()));
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(IncludeError::TooDeep);
        }
        // Relative to the including file, so a tree of kickstarts can be
        // validated from any working directory.
        let base = self
            .stack
            .last()
            .and_then(|f| f.path.parent())
            .unwrap_or(Path::new(""));
        let path = base.join(target);
        let identity = std::fs::canonicalize(&path).map_err(|e| IncludeError::Unreadable {
            path: path.clone(),
            reason: io_reason(&e),
        })?;
        if self.stack.iter().any(|open| open.identity == identity) {
            let mut chain: Vec<String> = self
                .stack
                .iter()
                .map(|f| f.path.display().to_string())
                .collect();
            chain.push(path.display().to_string());
            return Err(IncludeError::Loop {
                chain: chain.join(" -> "),
            });
        }
        let text = read_lossy(&path).map_err(|e| IncludeError::Unreadable {
            path: path.clone(),
            reason: io_reason(&e),
        })?;
        let mut file = open_file(&path, &text);
        file.identity = identity;
        self.stack.push(file);
        Ok(())
    }

    /// The file that the next line comes from.
    pub fn current_file(&self) -> Option<&Arc<Path>> {
        self.stack.last().map(|f| &f.path)
    }
}

fn open_file(path: &Path, text: &str) -> OpenFile {
    OpenFile {
        path: Arc::from(path),
        identity: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        lines: text
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .into_iter(),
        next_line: 1,
    }
}

/// Kickstarts are text, but a stray Latin-1 byte in a comment should not make
/// a whole file unreadable.
fn read_lossy(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        _ => error.to_string(),
    }
}
