//! Where a kickstart line came from, and what is wrong with it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The file and 1-based line a person must edit.
#[derive(Clone, Debug)]
pub struct Origin {
    pub file: Arc<Path>,
    pub line: usize,
}

impl Origin {
    pub fn new(file: Arc<Path>, line: usize) -> Self {
        Self { file, line }
    }
}

/// Where a line came from is not part of what it means: the same kickstart
/// spread over several `%include`d files, or flattened into one, compares
/// equal. Positions are still kept for error messages.
impl PartialEq for Origin {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for Origin {}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0 stands for the file as a whole (it could not be read).
        match self.line {
            0 => write!(f, "{}", self.file.display()),
            line => write!(f, "{}:{line}", self.file.display()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding, printed the way compilers print them: `PATH:LINE: message`.
#[derive(Clone, Debug, thiserror::Error)]
pub struct Diagnostic {
    pub origin: Origin,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn error(origin: &Origin, message: impl Into<String>) -> Self {
        Self {
            origin: origin.clone(),
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(origin: &Origin, message: impl Into<String>) -> Self {
        Self {
            origin: origin.clone(),
            severity: Severity::Warning,
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "{}: {}", self.origin, self.message),
            Severity::Warning => write!(f, "{}: warning: {}", self.origin, self.message),
        }
    }
}

/// Every error found in a kickstart; parsing goes on past the first one so a
/// person can fix them all in one pass.
#[derive(Debug, thiserror::Error)]
pub struct ParseFailure {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl ParseFailure {
    pub fn first(&self) -> Option<&Diagnostic> {
        self.errors.first()
    }
}

impl fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = self.errors.iter().map(ToString::to_string);
        if let Some(first) = lines.next() {
            f.write_str(&first)?;
        }
        for line in lines {
            write!(f, "\n{line}")?;
        }
        Ok(())
    }
}
