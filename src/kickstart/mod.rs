//! Kickstart front end: files in, a typed [`Kickstart`] out.
//!
//! The language is Red Hat's (pykickstart's) with one extension: a `url` or
//! `repo` line with `--suite=SUITE` names a Debian archive. Errors and
//! warnings name the file and line a person must edit.

mod args;
pub mod commands;
mod diagnostic;
mod model;
mod parser;
mod render;
pub mod sections;
mod source;
mod vars;
mod words;

pub use diagnostic::{Diagnostic, Origin, ParseFailure, Severity};
pub use model::{IgnoredCommand, InstallSource, Kickstart, Located, UiMode};
pub(crate) use parser::closest;
pub use parser::{Parsed, parse_file, parse_text};
pub use vars::{ExpandError, Substitutions};
