//! One dependency entry (`Requires`, `Provides`, ...) as repodata lists it:
//! a name, an optional versioned constraint and, for requirements, whether
//! it must hold before the package's `%pre` runs.

use std::fmt;

use super::richdep::{self, RichDep, RichDepError};
use super::version::Evr;

/// A version comparison in a dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DepOp {
    Less,
    LessOrEqual,
    Equal,
    GreaterOrEqual,
    Greater,
}

impl DepOp {
    /// Repodata spells operators as flags: `LT`, `LE`, `EQ`, `GE`, `GT`.
    pub fn from_flags(flags: &str) -> Option<DepOp> {
        Some(match flags {
            "LT" => DepOp::Less,
            "LE" => DepOp::LessOrEqual,
            "EQ" => DepOp::Equal,
            "GE" => DepOp::GreaterOrEqual,
            "GT" => DepOp::Greater,
            _ => return None,
        })
    }

    /// Spec files and rich dependencies spell them as symbols; rpm also
    /// accepts `==` and the reversed `=<` / `=>`.
    pub fn from_symbol(symbol: &str) -> Option<DepOp> {
        Some(match symbol {
            "<" => DepOp::Less,
            "<=" | "=<" => DepOp::LessOrEqual,
            "=" | "==" => DepOp::Equal,
            ">=" | "=>" => DepOp::GreaterOrEqual,
            ">" => DepOp::Greater,
            _ => return None,
        })
    }

    pub fn as_symbol(self) -> &'static str {
        match self {
            DepOp::Less => "<",
            DepOp::LessOrEqual => "<=",
            DepOp::Equal => "=",
            DepOp::GreaterOrEqual => ">=",
            DepOp::Greater => ">",
        }
    }
}

impl fmt::Display for DepOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_symbol())
    }
}

/// `op evr`, e.g. `>= 1.2-3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub op: DepOp,
    pub evr: Evr,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op, self.evr)
    }
}

/// One entry of a dependency list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// A package or capability name, a file path (`/bin/sh`), or a whole
    /// rich dependency (`(a or b)`), which repodata stores in the name.
    pub name: String,
    pub constraint: Option<Constraint>,
    /// `Requires(pre)` and friends: repodata's `pre="1"`. Always false
    /// outside requirements.
    pub pre: bool,
}

impl Dependency {
    pub fn is_rich(&self) -> bool {
        self.name.starts_with('(')
    }

    pub fn is_file(&self) -> bool {
        self.name.starts_with('/')
    }

    /// rpm's internal `rpmlib(...)` capabilities are provided by rpm itself,
    /// never by a package.
    pub fn is_rpmlib(&self) -> bool {
        self.name.starts_with("rpmlib(")
    }

    /// The boolean expression of a rich dependency; `None` for a plain one.
    pub fn rich(&self) -> Option<Result<RichDep, RichDepError>> {
        self.is_rich().then(|| richdep::parse(&self.name))
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(c) = &self.constraint {
            write!(f, " {c}")?;
        }
        Ok(())
    }
}
