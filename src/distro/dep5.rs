//! Debian's machine-readable copyright files (DEP-5,
//! `copyright-format/1.0`): the only place a Debian package declares its
//! license, as `/usr/share/doc/PACKAGE/copyright`. Free-form copyright
//! files declare nothing a machine can read, so they give no license.

use crate::repo::deb822::{ParseOptions, Parser};

/// The license of the files `Files: *` covers (the package's own
/// license), else the header's `License`; `None` when `text` is not a
/// DEP-5 file or declares neither.
pub fn declared_license(text: &str) -> Option<String> {
    let mut paragraphs = Parser::new(text, ParseOptions::default());
    let header = paragraphs.next()?.ok()?;
    let format = header.get("Format")?;
    // The URL has moved over the years (dep5, then copyright-format).
    if !format.contains("copyright-format") && !format.contains("dep5") {
        return None;
    }
    let first_line = |value: &str| {
        let name = value.lines().next().unwrap_or("").trim();
        (!name.is_empty()).then(|| name.to_owned())
    };
    for paragraph in paragraphs {
        // A paragraph further down that does not parse ends the reading:
        // what was read so far had no `Files: *`.
        let Ok(paragraph) = paragraph else { break };
        let covers_all = paragraph
            .get("Files")
            .is_some_and(|files| files.split_whitespace().any(|pattern| pattern == "*"));
        if covers_all {
            return paragraph.get("License").and_then(first_line);
        }
    }
    header.get("License").and_then(first_line)
}

/// The SPDX identifier of a DEP-5 standard short name (copyright-format
/// 1.0, "License specification") where it differs from SPDX's own.
pub fn spdx_alias(name: &str) -> Option<&'static str> {
    Some(match name {
        "Expat" => "MIT",
        "Artistic" => "Artistic-1.0-Perl",
        "BSD-2-clause" => "BSD-2-Clause",
        "BSD-3-clause" => "BSD-3-Clause",
        "BSD-4-clause" => "BSD-4-Clause",
        "GPL-1" => "GPL-1.0-only",
        "GPL-1+" => "GPL-1.0-or-later",
        "GPL-2" => "GPL-2.0-only",
        "GPL-2+" => "GPL-2.0-or-later",
        "GPL-3" => "GPL-3.0-only",
        "GPL-3+" => "GPL-3.0-or-later",
        "LGPL-2" => "LGPL-2.0-only",
        "LGPL-2+" => "LGPL-2.0-or-later",
        "LGPL-2.1" => "LGPL-2.1-only",
        "LGPL-2.1+" => "LGPL-2.1-or-later",
        "LGPL-3" => "LGPL-3.0-only",
        "LGPL-3+" => "LGPL-3.0-or-later",
        "AGPL-3" => "AGPL-3.0-only",
        "AGPL-3+" => "AGPL-3.0-or-later",
        "GFDL-1.2" => "GFDL-1.2-only",
        "GFDL-1.2+" => "GFDL-1.2-or-later",
        "GFDL-1.3" => "GFDL-1.3-only",
        "GFDL-1.3+" => "GFDL-1.3-or-later",
        "MPL-1.1" => "MPL-1.1",
        "MPL-2.0" => "MPL-2.0",
        "Zlib" => "Zlib",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COPYRIGHT: &str = "\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tool
Source: somewhere

Files: debian/*
Copyright: 2020 Someone
License: GPL-2+

Files: *
Copyright: 2019 Upstream
License: GPL-3+ or Artistic
 The text of the license,
 .
 over several lines.

License: Artistic
 Its text.
";

    #[test]
    fn the_license_of_files_star_is_the_packages() {
        assert_eq!(
            declared_license(COPYRIGHT).as_deref(),
            Some("GPL-3+ or Artistic")
        );
    }

    #[test]
    fn the_header_license_when_no_paragraph_covers_all_files() {
        let text = "Format: http://dep.debian.net/deps/dep5\nLicense: MIT\n\nFiles: src/*\nCopyright: x\nLicense: BSD-3-clause\n";
        assert_eq!(declared_license(text).as_deref(), Some("MIT"));
    }

    #[test]
    fn a_free_form_file_declares_nothing() {
        assert_eq!(
            declared_license("This package was debianized by someone.\n\nIt is GPL.\n"),
            None
        );
        assert_eq!(declared_license(""), None);
    }

    #[test]
    fn dep5_names_map_to_spdx() {
        let expression = crate::sbom::license::to_spdx("GPL-3+ or Artistic", &spdx_alias).unwrap();
        assert_eq!(expression.spdx, "GPL-3.0-or-later OR Artistic-1.0-Perl");
    }
}
