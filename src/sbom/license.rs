//! Declared licenses as SPDX license expressions. A package declares its
//! license in its distribution's words (Debian's DEP-5 short names, RPM's
//! `License` tag); SPDX wants listed identifiers or `LicenseRef-` names.
//! Listed identifiers stay, names the distribution maps to one become it,
//! and any other name becomes a `LicenseRef-` that keeps the declared name,
//! so nothing a package said is lost or invented.

/// A declared license in SPDX terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    /// An SPDX license expression.
    pub spdx: String,
    /// The `LicenseRef-` names it uses, each with the name declared.
    pub refs: Vec<(String, String)>,
}

/// The identifiers of the SPDX License List that packages commonly
/// declare. A name not here is kept as a `LicenseRef-`: a safe default,
/// since an unlisted identifier would make the document invalid.
const LISTED: &[&str] = &[
    "0BSD",
    "AFL-2.1",
    "AFL-3.0",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.1",
    "Apache-2.0",
    "Artistic-1.0",
    "Artistic-1.0-Perl",
    "Artistic-2.0",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-4-Clause",
    "BSL-1.0",
    "bzip2-1.0.6",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDDL-1.0",
    "curl",
    "EPL-1.0",
    "EPL-2.0",
    "FSFAP",
    "FSFUL",
    "FSFULLR",
    "FTL",
    "GFDL-1.2-only",
    "GFDL-1.2-or-later",
    "GFDL-1.3-only",
    "GFDL-1.3-or-later",
    "GPL-1.0-only",
    "GPL-1.0-or-later",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "HPND",
    "IJG",
    "ISC",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "Libpng",
    "libtiff",
    "MIT",
    "MIT-0",
    "MPL-1.1",
    "MPL-2.0",
    "NCSA",
    "OFL-1.1",
    "OpenSSL",
    "PSF-2.0",
    "Python-2.0",
    "Ruby",
    "Sleepycat",
    "Unicode-DFS-2016",
    "Unlicense",
    "Vim",
    "W3C",
    "X11",
    "Zlib",
    "ZPL-2.1",
];

/// The exceptions of the SPDX License List commonly found after `WITH`.
const EXCEPTIONS: &[&str] = &[
    "Autoconf-exception-2.0",
    "Autoconf-exception-3.0",
    "Bison-exception-2.2",
    "Classpath-exception-2.0",
    "GCC-exception-2.0",
    "GCC-exception-3.1",
    "Libtool-exception",
    "LLVM-exception",
    "OpenSSL-exception",
];

/// `declared` (a license as the package states it) as an SPDX expression:
/// `alias` gives the SPDX identifier of a distribution's own name.
/// `None` when nothing is declared.
pub fn to_spdx(declared: &str, alias: &dyn Fn(&str) -> Option<&'static str>) -> Option<Expression> {
    let declared = declared.trim();
    if declared.is_empty() {
        return None;
    }
    parse(declared, alias).or_else(|| {
        // An expression we cannot read is kept whole, as one name.
        let id = reference(declared);
        Some(Expression {
            spdx: id.clone(),
            refs: vec![(id, declared.to_owned())],
        })
    })
}

/// Reads `and`/`or`/`with` expressions with parentheses; `None` for
/// anything else (a comma list, a dangling operator).
fn parse(declared: &str, alias: &dyn Fn(&str) -> Option<&'static str>) -> Option<Expression> {
    let spaced = declared.replace('(', " ( ").replace(')', " ) ");
    let mut out: Vec<String> = Vec::new();
    let mut refs: Vec<(String, String)> = Vec::new();
    // What may come next: a license (or `(`), or an operator (or `)`).
    let mut want_license = true;
    let mut after_with = false;
    let mut depth = 0usize;
    for word in spaced.split_whitespace() {
        let operator = match word.to_ascii_lowercase().as_str() {
            "and" => Some("AND"),
            "or" => Some("OR"),
            "with" => Some("WITH"),
            _ => None,
        };
        match (word, operator) {
            ("(", _) if want_license => {
                depth += 1;
                out.push("(".into());
            }
            (")", _) if !want_license && depth > 0 => {
                depth -= 1;
                out.push(")".into());
            }
            (_, Some(op)) if !want_license => {
                after_with = op == "WITH";
                want_license = true;
                out.push(op.into());
            }
            (_, None) if want_license && after_with => {
                out.push(exception(word)?.to_owned());
                after_with = false;
                want_license = false;
            }
            (_, None) if want_license && !word.contains(['(', ')', ',', ';']) => {
                let id = identifier(word, alias);
                if id.starts_with("LicenseRef-") && refs.iter().all(|(known, _)| *known != id) {
                    refs.push((id.clone(), word.to_owned()));
                }
                out.push(id);
                want_license = false;
            }
            _ => return None,
        }
    }
    if want_license || depth != 0 {
        return None;
    }
    Some(Expression {
        spdx: out.join(" ").replace("( ", "(").replace(" )", ")"),
        refs,
    })
}

/// One license name as an SPDX identifier, listed or `LicenseRef-`.
fn identifier(name: &str, alias: &dyn Fn(&str) -> Option<&'static str>) -> String {
    let listed = |name: &str| LISTED.iter().find(|id| id.eq_ignore_ascii_case(name));
    if let Some(id) = listed(name) {
        return (*id).to_owned();
    }
    if let Some(id) = alias(name) {
        return id.to_owned();
    }
    // SPDX's `+` operator: this version or any later one.
    if let Some(id) = name.strip_suffix('+').and_then(listed) {
        return format!("{id}+");
    }
    reference(name)
}

fn exception(name: &str) -> Option<&'static str> {
    EXCEPTIONS
        .iter()
        .find(|id| id.eq_ignore_ascii_case(name))
        .copied()
}

/// `LicenseRef-` and `name` with what SPDX forbids there (anything but
/// letters, digits, `.` and `-`) turned into `-`.
fn reference(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("LicenseRef-{cleaned}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<&'static str> {
        None
    }

    fn spdx(declared: &str) -> String {
        to_spdx(declared, &none).unwrap().spdx
    }

    #[test]
    fn listed_identifiers_and_operators_stay() {
        assert_eq!(spdx("MIT"), "MIT");
        assert_eq!(spdx("mit and gpl-2.0-or-later"), "MIT AND GPL-2.0-or-later");
        assert_eq!(
            spdx("(MIT OR Apache-2.0) AND BSD-3-Clause"),
            "(MIT OR Apache-2.0) AND BSD-3-Clause"
        );
        assert_eq!(
            spdx("GPL-3.0-or-later WITH GCC-exception-3.1"),
            "GPL-3.0-or-later WITH GCC-exception-3.1"
        );
        assert_eq!(spdx("Apache-2.0+"), "Apache-2.0+");
    }

    #[test]
    fn unknown_names_become_references_that_keep_the_name() {
        let expression = to_spdx("GPLv2+ and public-domain", &none).unwrap();
        assert_eq!(
            expression.spdx,
            "LicenseRef-GPLv2- AND LicenseRef-public-domain"
        );
        assert_eq!(
            expression.refs,
            vec![
                ("LicenseRef-GPLv2-".to_owned(), "GPLv2+".to_owned()),
                (
                    "LicenseRef-public-domain".to_owned(),
                    "public-domain".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn an_alias_maps_a_distribution_name() {
        let alias = |name: &str| (name == "Expat").then_some("MIT");
        assert_eq!(to_spdx("Expat", &alias).unwrap().spdx, "MIT");
    }

    #[test]
    fn what_is_not_an_expression_is_kept_whole() {
        let expression = to_spdx("GPL-2+, LGPL-2+", &none).unwrap();
        assert_eq!(expression.spdx, "LicenseRef-GPL-2---LGPL-2-");
        assert_eq!(expression.refs[0].1, "GPL-2+, LGPL-2+");
        assert_eq!(spdx("MIT and"), "LicenseRef-MIT-and");
        assert_eq!(
            spdx("GPL-2.0-only WITH Nonsense"),
            "LicenseRef-GPL-2.0-only-WITH-Nonsense"
        );
        assert!(to_spdx("  ", &none).is_none());
    }
}
