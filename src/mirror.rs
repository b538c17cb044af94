//! Where the Debian mirror comes from.
//!
//! The mirror is configuration, never a constant: `--mirror`, else the
//! `LIVECOMPOSE_MIRROR` environment variable, else the first Debian URI the
//! machine's own apt sources name. Kickstarts refer to it as `$mirror`.

use std::path::{Path, PathBuf};

/// The environment variable that names the Debian mirror.
pub const MIRROR_ENV: &str = "LIVECOMPOSE_MIRROR";

/// Apt's source lists, in the order apt itself reads them.
const APT_SOURCES_LIST: &str = "/etc/apt/sources.list";
const APT_SOURCES_DIR: &str = "/etc/apt/sources.list.d";

/// Picks the mirror: the explicit value, else the environment, else apt's sources.
pub fn discover(explicit: Option<&str>) -> Option<String> {
    if let Some(url) = explicit.filter(|u| !u.trim().is_empty()) {
        return Some(normalize(url));
    }
    if let Ok(url) = std::env::var(MIRROR_ENV)
        && !url.trim().is_empty()
    {
        return Some(normalize(&url));
    }
    from_apt_sources(Path::new(APT_SOURCES_LIST), Path::new(APT_SOURCES_DIR))
}

/// The first Debian archive URI named by apt's configuration.
///
/// Security archives are skipped: they carry only `*-security` suites and
/// cannot serve as the main mirror.
pub fn from_apt_sources(list: &Path, dir: &Path) -> Option<String> {
    let mut candidates = Vec::new();
    if let Ok(text) = std::fs::read_to_string(list) {
        candidates.extend(one_line_style_uris(&text));
    }
    let mut deb822_files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "sources" || ext == "list")
        })
        .collect();
    deb822_files.sort();
    for path in deb822_files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if path.extension().is_some_and(|ext| ext == "list") {
            candidates.extend(one_line_style_uris(&text));
        } else {
            candidates.extend(deb822_style_uris(&text));
        }
    }
    candidates
        .into_iter()
        .find(|uri| !uri.trim_end_matches('/').ends_with("-security"))
        .map(|uri| normalize(&uri))
}

/// URIs of `deb` lines in the classic one-line format.
fn one_line_style_uris(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            if words.next() != Some("deb") {
                return None;
            }
            // `deb [arch=amd64 signed-by=...] URI suite components`
            words.find(|word| word.contains("://")).map(str::to_owned)
        })
        .collect()
}

/// URIs of stanzas whose `Types` include `deb`, in the deb822 format.
fn deb822_style_uris(text: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for stanza in text.split("\n\n") {
        let mut is_binary = false;
        let mut enabled = true;
        let mut stanza_uris = Vec::new();
        for line in stanza.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key.trim().to_ascii_lowercase().as_str() {
                "types" => is_binary = value.split_whitespace().any(|t| t == "deb"),
                "uris" => stanza_uris.extend(value.split_whitespace().map(str::to_owned)),
                "enabled" => enabled = !value.trim().eq_ignore_ascii_case("no"),
                _ => {}
            }
        }
        if is_binary && enabled {
            uris.extend(stanza_uris);
        }
    }
    uris
}

fn normalize(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_sources_give_the_first_binary_uri_and_skip_security() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.sources"),
            "Types: deb-src\nURIs: http://src.example/debian\nSuites: x\n\n\
             Types: deb\nURIs: http://sec.example/debian-security\nSuites: x-security\n\n\
             Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: x\n",
        )
        .unwrap();
        let found = from_apt_sources(&dir.path().join("missing.list"), dir.path());
        assert_eq!(found.as_deref(), Some("http://mirror.example/debian"));
    }

    #[test]
    fn one_line_sources_skip_options_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("sources.list");
        std::fs::write(
            &list,
            "# deb http://commented.example/debian x main\n\
             deb-src http://src.example/debian x main\n\
             deb [arch=amd64 signed-by=/k.gpg] https://one.example/debian x main\n",
        )
        .unwrap();
        let found = from_apt_sources(&list, &dir.path().join("none"));
        assert_eq!(found.as_deref(), Some("https://one.example/debian"));
    }

    #[test]
    fn disabled_stanzas_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("b.sources"),
            "Types: deb\nURIs: http://off.example/debian\nEnabled: no\n",
        )
        .unwrap();
        assert_eq!(from_apt_sources(&dir.path().join("x"), dir.path()), None);
    }
}
