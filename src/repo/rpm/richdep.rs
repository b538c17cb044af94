//! Rich (boolean) dependencies: `(a or b)`, `(a if b else c)`, nesting and
//! versioned atoms, as rpm ≥ 4.13 accepts them in `Requires`, `Recommends`,
//! `Conflicts` and friends.
//!
//! rpm's chaining rules are kept: `and`, `or` and `with` may repeat
//! (`(a and b and c)`), the others take exactly two operands (plus one
//! `else` after `if`/`unless`), and different operators never mix without
//! parentheses (`(a and b or c)` is an error, not a precedence question).

use std::fmt;

use super::dependency::{Constraint, DepOp};
use super::version::{Evr, EvrError};

/// A package name or capability with an optional version constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Atom {
    pub name: String,
    pub constraint: Option<Constraint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RichDep {
    Atom(Atom),
    /// Every operand (two or more).
    And(Vec<RichDep>),
    /// At least one operand (two or more).
    Or(Vec<RichDep>),
    /// One package satisfying every operand (two or more).
    With(Vec<RichDep>),
    /// One package satisfying the first operand and not the second.
    Without(Box<RichDep>, Box<RichDep>),
    /// `then` applies when `condition` is installed, else `otherwise` does.
    If {
        then: Box<RichDep>,
        condition: Box<RichDep>,
        otherwise: Option<Box<RichDep>>,
    },
    /// `then` applies unless `condition` is installed, else `otherwise` does.
    Unless {
        then: Box<RichDep>,
        condition: Box<RichDep>,
        otherwise: Option<Box<RichDep>>,
    },
}

impl RichDep {
    /// Every atom, left to right; the resolver needs them to know which
    /// names (and file paths) a rich dependency can involve.
    pub fn atoms(&self) -> Vec<&Atom> {
        let mut out = Vec::new();
        self.collect_atoms(&mut out);
        out
    }

    fn collect_atoms<'a>(&'a self, out: &mut Vec<&'a Atom>) {
        match self {
            RichDep::Atom(a) => out.push(a),
            RichDep::And(v) | RichDep::Or(v) | RichDep::With(v) => {
                v.iter().for_each(|d| d.collect_atoms(out))
            }
            RichDep::Without(a, b) => {
                a.collect_atoms(out);
                b.collect_atoms(out);
            }
            RichDep::If {
                then,
                condition,
                otherwise,
            }
            | RichDep::Unless {
                then,
                condition,
                otherwise,
            } => {
                then.collect_atoms(out);
                condition.collect_atoms(out);
                if let Some(o) = otherwise {
                    o.collect_atoms(out);
                }
            }
        }
    }
}

/// Writes the canonical form, with every operator group parenthesised, so
/// that the output parses back to the same tree.
impl fmt::Display for RichDep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, items: &[RichDep], op: &str) -> fmt::Result {
            f.write_str("(")?;
            for (i, d) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{d}")?;
            }
            f.write_str(")")
        }
        fn cond(
            f: &mut fmt::Formatter<'_>,
            then: &RichDep,
            op: &str,
            condition: &RichDep,
            otherwise: Option<&RichDep>,
        ) -> fmt::Result {
            write!(f, "({then} {op} {condition}")?;
            if let Some(o) = otherwise {
                write!(f, " else {o}")?;
            }
            f.write_str(")")
        }
        match self {
            RichDep::Atom(a) => {
                f.write_str(&a.name)?;
                if let Some(c) = &a.constraint {
                    write!(f, " {c}")?;
                }
                Ok(())
            }
            RichDep::And(v) => list(f, v, "and"),
            RichDep::Or(v) => list(f, v, "or"),
            RichDep::With(v) => list(f, v, "with"),
            RichDep::Without(a, b) => write!(f, "({a} without {b})"),
            RichDep::If {
                then,
                condition,
                otherwise,
            } => cond(f, then, "if", condition, otherwise.as_deref()),
            RichDep::Unless {
                then,
                condition,
                otherwise,
            } => cond(f, then, "unless", condition, otherwise.as_deref()),
        }
    }
}

/// The operator keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RichOp {
    And,
    Or,
    If,
    Unless,
    Else,
    With,
    Without,
}

impl RichOp {
    fn from_word(word: &str) -> Option<RichOp> {
        Some(match word {
            "and" => RichOp::And,
            "or" => RichOp::Or,
            "if" => RichOp::If,
            "unless" => RichOp::Unless,
            "else" => RichOp::Else,
            "with" => RichOp::With,
            "without" => RichOp::Without,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RichOp::And => "and",
            RichOp::Or => "or",
            RichOp::If => "if",
            RichOp::Unless => "unless",
            RichOp::Else => "else",
            RichOp::With => "with",
            RichOp::Without => "without",
        }
    }
}

impl fmt::Display for RichOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the parser was looking for when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// A rich dependency starts with `(`.
    OpenParen,
    /// A name or a parenthesised expression.
    Dependency,
    /// `and`, `or`, `if`, ... or the `)` that closes the group.
    OperatorOrClose,
    /// A comparison: `<`, `<=`, `=`, `>=`, `>`.
    Comparison,
    Version,
    /// A `)` to balance a `(` inside a name such as `perl(Foo)`.
    NameClose,
    /// Nothing after the closing `)`.
    End,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expected::OpenParen => "'(' (a rich dependency is parenthesised)",
            Expected::Dependency => "a package name or '('",
            Expected::OperatorOrClose => {
                "an operator (and, or, if, unless, else, with, without) or ')'"
            }
            Expected::Comparison => "a comparison (<, <=, =, >=, >)",
            Expected::Version => "a version after the comparison",
            Expected::NameClose => "')' closing the '(' in the name",
            Expected::End => "the end of the dependency after its closing ')'",
        })
    }
}

/// What the parser found instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    End,
    Text(String),
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::End => f.write_str("the end of the text"),
            Found::Text(t) => write!(f, "{t:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RichDepErrorKind {
    #[error("expected {expected}, found {found}")]
    Expected { expected: Expected, found: Found },
    #[error(
        "'{second}' follows '{first}' in the same group: rpm does not mix operators, add parentheses"
    )]
    MixedOperators { first: RichOp, second: RichOp },
    #[error("'{0}' takes two operands and cannot be chained: add parentheses")]
    NotChainable(RichOp),
    #[error("'else' without a preceding 'if' or 'unless'")]
    ElseWithoutCondition,
    #[error("invalid version: {0}")]
    Version(EvrError),
    #[error("nested deeper than {MAX_DEPTH} groups")]
    TooDeep,
}

/// A malformed rich dependency, with the byte offset where parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rich dependency {text:?}, at byte {offset}: {kind}")]
pub struct RichDepError {
    pub text: String,
    pub offset: usize,
    pub kind: RichDepErrorKind,
}

/// Real rich dependencies nest two or three levels; the bound keeps hostile
/// metadata from exhausting the stack of this recursive parser.
pub const MAX_DEPTH: usize = 64;

/// Parses a whole rich dependency, which must start with `(`.
pub fn parse(text: &str) -> Result<RichDep, RichDepError> {
    let mut p = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.peek() != Some(b'(') {
        return Err(p.expected(Expected::OpenParen));
    }
    let dep = p.group()?;
    p.skip_ws();
    if p.peek().is_some() {
        return Err(p.expected(Expected::End));
    }
    Ok(dep)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn error(&self, offset: usize, kind: RichDepErrorKind) -> RichDepError {
        RichDepError {
            text: self.text.to_owned(),
            offset,
            kind,
        }
    }

    /// An "expected X" error that shows the next word (or the next
    /// character, when that is a parenthesis) as what was found.
    fn expected(&self, expected: Expected) -> RichDepError {
        let rest = self.text[self.pos..].trim_start();
        let found = match rest.chars().next() {
            None => Found::End,
            Some(c @ ('(' | ')')) => Found::Text(c.to_string()),
            Some(_) => {
                let end = rest
                    .find(|c: char| c.is_ascii_whitespace() || c == '(' || c == ')')
                    .unwrap_or(rest.len());
                Found::Text(rest[..end].to_owned())
            }
        };
        self.error(self.pos, RichDepErrorKind::Expected { expected, found })
    }

    /// Reads up to whitespace, a comma or a parenthesis.
    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b'(' | b')' | b','))
        {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// Parses `( term op term ... )`; the cursor is on the `(`.
    fn group(&mut self) -> Result<RichDep, RichDepError> {
        if self.depth == MAX_DEPTH {
            return Err(self.error(self.pos, RichDepErrorKind::TooDeep));
        }
        self.depth += 1;
        let dep = self.group_body();
        self.depth -= 1;
        dep
    }

    fn group_body(&mut self) -> Result<RichDep, RichDepError> {
        self.pos += 1;
        let first = self.term()?;
        let Some((op, at)) = self.operator()? else {
            return Ok(first);
        };
        let second = self.term()?;
        let dep = match op {
            RichOp::And | RichOp::Or | RichOp::With => {
                let mut operands = vec![first, second];
                while let Some((next, at)) = self.operator()? {
                    if next != op {
                        return Err(self.mixed(op, next, at));
                    }
                    operands.push(self.term()?);
                }
                return Ok(match op {
                    RichOp::And => RichDep::And(operands),
                    RichOp::Or => RichDep::Or(operands),
                    _ => RichDep::With(operands),
                });
            }
            RichOp::Else => {
                return Err(self.error(at, RichDepErrorKind::ElseWithoutCondition));
            }
            RichOp::Without => RichDep::Without(Box::new(first), Box::new(second)),
            RichOp::If | RichOp::Unless => {
                let mut otherwise = None;
                let mut closing = self.operator()?;
                if let Some((RichOp::Else, _)) = closing {
                    otherwise = Some(Box::new(self.term()?));
                    closing = self.operator()?;
                }
                if let Some((next, at)) = closing {
                    return Err(self.mixed(
                        if otherwise.is_some() {
                            RichOp::Else
                        } else {
                            op
                        },
                        next,
                        at,
                    ));
                }
                let (then, condition) = (Box::new(first), Box::new(second));
                return Ok(if op == RichOp::If {
                    RichDep::If {
                        then,
                        condition,
                        otherwise,
                    }
                } else {
                    RichDep::Unless {
                        then,
                        condition,
                        otherwise,
                    }
                });
            }
        };
        match self.operator()? {
            None => Ok(dep),
            Some((next, at)) => Err(self.mixed(op, next, at)),
        }
    }

    /// The operator after a term, with its offset, or `None` after
    /// consuming the `)` that closes the group.
    fn operator(&mut self) -> Result<Option<(RichOp, usize)>, RichDepError> {
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(None);
        }
        let at = self.pos;
        match RichOp::from_word(self.word()) {
            Some(op) => Ok(Some((op, at))),
            None => {
                self.pos = at;
                Err(self.expected(Expected::OperatorOrClose))
            }
        }
    }

    /// An operator that may not follow `current` in the same group.
    fn mixed(&self, current: RichOp, next: RichOp, at: usize) -> RichDepError {
        let kind = if current == next {
            RichDepErrorKind::NotChainable(current)
        } else {
            RichDepErrorKind::MixedOperators {
                first: current,
                second: next,
            }
        };
        self.error(at, kind)
    }

    fn term(&mut self) -> Result<RichDep, RichDepError> {
        self.skip_ws();
        match self.peek() {
            Some(b'(') => self.group(),
            None | Some(b')') => Err(self.expected(Expected::Dependency)),
            Some(_) => self.atom().map(RichDep::Atom),
        }
    }

    fn atom(&mut self) -> Result<Atom, RichDepError> {
        let start = self.pos;
        // Names such as `perl(Foo::Bar)` carry balanced parentheses; the
        // first unbalanced `)` closes the enclosing group instead.
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'(' => depth += 1,
                b')' if depth == 0 => break,
                b',' => break,
                b')' => depth -= 1,
                b if b.is_ascii_whitespace() => break,
                _ => {}
            }
            self.pos += 1;
        }
        if depth != 0 {
            return Err(self.expected(Expected::NameClose));
        }
        let name = &self.text[start..self.pos];
        if RichOp::from_word(name).is_some() {
            self.pos = start;
            return Err(self.expected(Expected::Dependency));
        }
        let after_name = self.pos;
        self.skip_ws();
        // As in rpm, the comparison is a whole word: `foo>=1` is one name,
        // and `foo >=1` is an error rather than a guess.
        let op_start = self.pos;
        let word = self.word();
        if !word.starts_with(['<', '>', '=']) {
            self.pos = after_name;
            return Ok(Atom {
                name: name.to_owned(),
                constraint: None,
            });
        }
        let Some(op) = DepOp::from_symbol(word) else {
            self.pos = op_start;
            return Err(self.expected(Expected::Comparison));
        };
        self.skip_ws();
        let version_start = self.pos;
        let version = self.word();
        if version.is_empty() || RichOp::from_word(version).is_some() {
            self.pos = version_start;
            return Err(self.expected(Expected::Version));
        }
        let evr = Evr::parse(version)
            .map_err(|e| self.error(version_start, RichDepErrorKind::Version(e)))?;
        Ok(Atom {
            name: name.to_owned(),
            constraint: Some(Constraint { op, evr }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(name: &str) -> RichDep {
        RichDep::Atom(Atom {
            name: name.to_owned(),
            constraint: None,
        })
    }

    fn versioned(name: &str, op: DepOp, evr: &str) -> RichDep {
        RichDep::Atom(Atom {
            name: name.to_owned(),
            constraint: Some(Constraint {
                op,
                evr: Evr::parse(evr).unwrap(),
            }),
        })
    }

    fn err(text: &str) -> RichDepError {
        parse(text).expect_err(text)
    }

    #[test]
    fn every_operator() {
        assert_eq!(
            parse("(a or b)").unwrap(),
            RichDep::Or(vec![atom("a"), atom("b")])
        );
        assert_eq!(
            parse("(a and b and c)").unwrap(),
            RichDep::And(vec![atom("a"), atom("b"), atom("c")])
        );
        assert_eq!(
            parse("(a with b)").unwrap(),
            RichDep::With(vec![atom("a"), atom("b")])
        );
        assert_eq!(
            parse("(a without b)").unwrap(),
            RichDep::Without(Box::new(atom("a")), Box::new(atom("b")))
        );
        assert_eq!(
            parse("(a if b)").unwrap(),
            RichDep::If {
                then: Box::new(atom("a")),
                condition: Box::new(atom("b")),
                otherwise: None
            }
        );
        assert_eq!(
            parse("(a if b else c)").unwrap(),
            RichDep::If {
                then: Box::new(atom("a")),
                condition: Box::new(atom("b")),
                otherwise: Some(Box::new(atom("c")))
            }
        );
        assert_eq!(
            parse("(a unless b else c)").unwrap(),
            RichDep::Unless {
                then: Box::new(atom("a")),
                condition: Box::new(atom("b")),
                otherwise: Some(Box::new(atom("c")))
            }
        );
        assert_eq!(
            parse("(a unless b)").unwrap(),
            RichDep::Unless {
                then: Box::new(atom("a")),
                condition: Box::new(atom("b")),
                otherwise: None
            }
        );
        assert_eq!(parse("(a)").unwrap(), atom("a"));
    }

    #[test]
    fn versions_nesting_and_names_with_parentheses() {
        let dep = parse("(foo >= 1.2-3 or (perl(Foo::Bar) and bar < 2:0.9~rc1))").unwrap();
        assert_eq!(
            dep,
            RichDep::Or(vec![
                versioned("foo", DepOp::GreaterOrEqual, "1.2-3"),
                RichDep::And(vec![
                    atom("perl(Foo::Bar)"),
                    versioned("bar", DepOp::Less, "2:0.9~rc1"),
                ]),
            ])
        );
        let names: Vec<&str> = dep.atoms().iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["foo", "perl(Foo::Bar)", "bar"]);
        // Spacing is free, and `==` is rpm's alias of `=`; without spaces
        // the comparison is part of the name, as rpm reads it.
        assert_eq!(parse("(foo==1)").unwrap(), atom("foo==1"));
        assert_eq!(
            parse("  ( foo == 1 or  /usr/bin/sh )").unwrap(),
            RichDep::Or(vec![
                versioned("foo", DepOp::Equal, "1"),
                atom("/usr/bin/sh")
            ])
        );
        assert_eq!(
            parse("((a or b) if (c with d) else (e unless f))")
                .unwrap()
                .atoms()
                .len(),
            6
        );
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "(a or b)",
            "(foo >= 1:1.2-3 and (bar if baz else qux))",
            "((a with b) without c)",
            "(kernel-core unless (x = 1 or y < 2) else z)",
        ] {
            let dep = parse(text).unwrap();
            assert_eq!(dep.to_string(), text);
            assert_eq!(parse(&dep.to_string()).unwrap(), dep);
        }
    }

    #[test]
    fn malformed_input_says_where_and_what() {
        let e = err("a or b");
        assert_eq!(e.offset, 0);
        assert!(matches!(
            e.kind,
            RichDepErrorKind::Expected {
                expected: Expected::OpenParen,
                ..
            }
        ));

        let e = err("(a or b");
        assert_eq!(e.offset, 7);
        assert_eq!(
            e.kind,
            RichDepErrorKind::Expected {
                expected: Expected::OperatorOrClose,
                found: Found::End
            }
        );

        let e = err("(a and b or c)");
        assert_eq!(e.offset, 9);
        assert_eq!(
            e.kind,
            RichDepErrorKind::MixedOperators {
                first: RichOp::And,
                second: RichOp::Or
            }
        );
        assert_eq!(
            e.to_string(),
            "rich dependency \"(a and b or c)\", at byte 9: 'or' follows 'and' in the same \
             group: rpm does not mix operators, add parentheses"
        );

        assert_eq!(
            err("(a if b if c)").kind,
            RichDepErrorKind::NotChainable(RichOp::If)
        );
        assert_eq!(
            err("(a without b without c)").kind,
            RichDepErrorKind::NotChainable(RichOp::Without)
        );
        assert_eq!(
            err("(a if b else c else d)").kind,
            RichDepErrorKind::NotChainable(RichOp::Else)
        );
        assert_eq!(
            err("(a unless b else c or d)").kind,
            RichDepErrorKind::MixedOperators {
                first: RichOp::Else,
                second: RichOp::Or
            }
        );
        let e = err("(a else b)");
        assert_eq!(
            (e.offset, e.kind),
            (3, RichDepErrorKind::ElseWithoutCondition)
        );

        let e = err("(a xor b)");
        assert_eq!(e.offset, 3);
        assert_eq!(
            e.kind,
            RichDepErrorKind::Expected {
                expected: Expected::OperatorOrClose,
                found: Found::Text("xor".into())
            }
        );

        for (text, offset, expected, found) in [
            ("()", 1, Expected::Dependency, Found::Text(")".into())),
            ("(or b)", 1, Expected::Dependency, Found::Text("or".into())),
            ("(a or)", 5, Expected::Dependency, Found::Text(")".into())),
            ("(a >= )", 6, Expected::Version, Found::Text(")".into())),
            ("(a >=)", 5, Expected::Version, Found::Text(")".into())),
            (
                "(a >= or b)",
                6,
                Expected::Version,
                Found::Text("or".into()),
            ),
            (
                "(a <> 1)",
                3,
                Expected::Comparison,
                Found::Text("<>".into()),
            ),
            (
                "(perl(Foo or b)",
                9,
                Expected::NameClose,
                Found::Text("or".into()),
            ),
            ("(perl(Foo", 9, Expected::NameClose, Found::End),
            ("(a or b) c", 9, Expected::End, Found::Text("c".into())),
            ("(a or b))", 8, Expected::End, Found::Text(")".into())),
            ("", 0, Expected::OpenParen, Found::End),
        ] {
            let e = err(text);
            assert_eq!(
                (e.offset, e.kind),
                (offset, RichDepErrorKind::Expected { expected, found }),
                "{text}"
            );
        }
        assert!(matches!(
            err("(a >= 99999999999:1)").kind,
            RichDepErrorKind::Version(EvrError::EpochOutOfRange { .. })
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |depth: usize| format!("{}a{}", "(".repeat(depth), ")".repeat(depth));
        assert_eq!(parse(&nested(MAX_DEPTH)).unwrap(), atom("a"));
        let e = err(&nested(100_000));
        assert_eq!((e.offset, e.kind), (MAX_DEPTH, RichDepErrorKind::TooDeep));
    }
}
