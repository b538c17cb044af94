//! The serial console as text: escape sequences removed, cut into lines,
//! each line matched against the expected pattern as it grows.

use std::collections::VecDeque;
use std::fmt;

use regex::Regex;

/// What a login prompt looks like on a serial console. Debian's agetty
/// prints `HOSTNAME login: ` with a trailing space and no newline (it waits
/// for input on that line), so the pattern must match a line still being
/// written and tolerate the space.
pub const DEFAULT_EXPECT: &str = r"\blogin:\s*$";

/// How many console lines a failure shows.
pub const TAIL_LINES: usize = 20;

/// A line longer than this is cut, so a console that never sends a newline
/// cannot grow memory without bound.
const MAX_LINE: usize = 4096;

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;

/// Where we are inside an ANSI/VT100 escape sequence. Firmware and boot
/// loaders on a serial line position the cursor and set colours with them;
/// left in, they would split words such as `login:` apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC, deciding which kind of sequence follows.
    Start,
    /// Control sequence (`ESC [`): ends at a byte in `@`..=`~`.
    Csi,
    /// Operating system command (`ESC ]`): ends at BEL or `ESC \`.
    Osc,
}

/// Follows the console byte by byte and reports the first line that matches.
#[derive(Debug)]
pub struct Watcher {
    expect: Regex,
    escape: Escape,
    /// The line being written, as raw bytes so that a UTF-8 character split
    /// across two reads decodes once both halves are here.
    line: Vec<u8>,
    /// Whether `line` changed since it was last matched.
    line_dirty: bool,
    tail: VecDeque<String>,
}

impl Watcher {
    pub fn new(expect: Regex) -> Self {
        Self {
            expect,
            escape: Escape::None,
            line: Vec::new(),
            line_dirty: false,
            tail: VecDeque::with_capacity(TAIL_LINES),
        }
    }

    /// Takes the next bytes from the console; returns the first line that
    /// matches, complete or not (a prompt is never followed by a newline).
    pub fn feed(&mut self, bytes: &[u8]) -> Option<String> {
        for &byte in bytes {
            if let Some(text) = self.byte(byte) {
                self.line_dirty = false;
                if let Some(found) = self.matching(text) {
                    return Some(found);
                }
            }
        }
        if self.line_dirty && !self.line.is_empty() {
            self.line_dirty = false;
            let text = String::from_utf8_lossy(&self.line).into_owned();
            return self.matching(text);
        }
        None
    }

    /// The last console lines, the unfinished one included.
    pub fn last_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.tail.iter().cloned().collect();
        if !self.line.is_empty() {
            if lines.len() == TAIL_LINES {
                lines.remove(0);
            }
            lines.push(String::from_utf8_lossy(&self.line).into_owned());
        }
        lines
    }

    /// The line being written, for a progress display.
    pub fn current_line(&self) -> String {
        String::from_utf8_lossy(&self.line).into_owned()
    }

    fn matching(&self, text: String) -> Option<String> {
        self.expect.is_match(&text).then_some(text)
    }

    /// Consumes one byte; returns a line when this byte completed one.
    fn byte(&mut self, byte: u8) -> Option<String> {
        match self.escape {
            Escape::Start => {
                self.escape = match byte {
                    b'[' => Escape::Csi,
                    b']' => Escape::Osc,
                    // Two-byte sequences (ESC c, ESC 7, ...) end here.
                    _ => Escape::None,
                };
                None
            }
            Escape::Csi => {
                if (0x40..=0x7e).contains(&byte) {
                    self.escape = Escape::None;
                }
                None
            }
            Escape::Osc => {
                match byte {
                    BEL => self.escape = Escape::None,
                    ESC => self.escape = Escape::Start,
                    _ => {}
                }
                None
            }
            Escape::None => match byte {
                ESC => {
                    self.escape = Escape::Start;
                    None
                }
                b'\n' => Some(self.finish_line()),
                b'\t' => self.push(byte),
                // Carriage returns, backspaces and other controls only move
                // the cursor; keeping them would hide text from the pattern.
                0..=0x1f | 0x7f => None,
                _ => self.push(byte),
            },
        }
    }

    fn push(&mut self, byte: u8) -> Option<String> {
        self.line.push(byte);
        self.line_dirty = true;
        (self.line.len() >= MAX_LINE).then(|| self.finish_line())
    }

    fn finish_line(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(text.clone());
        text
    }
}

/// Console lines shown indented under an error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail(pub Vec<String>);

impl fmt::Display for Tail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("  (the console printed nothing)");
        }
        for (i, line) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "  | {line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watcher(pattern: &str) -> Watcher {
        Watcher::new(Regex::new(pattern).expect("test pattern"))
    }

    fn default_watcher() -> Watcher {
        watcher(DEFAULT_EXPECT)
    }

    #[test]
    fn debian_getty_prompt_matches_without_a_newline() {
        let mut w = default_watcher();
        assert_eq!(
            w.feed(b"\r\nDebian GNU/Linux 12 debian ttyS0\r\n\r\n"),
            None
        );
        assert_eq!(w.feed(b"debian login: ").as_deref(), Some("debian login: "));
    }

    #[test]
    fn prompt_split_across_reads_matches_once_complete() {
        let mut w = default_watcher();
        assert_eq!(w.feed(b"debian log"), None);
        assert_eq!(w.feed(b"in:").as_deref(), Some("debian login:"));
    }

    #[test]
    fn default_pattern_ignores_lines_that_merely_mention_login() {
        let mut w = default_watcher();
        for line in [
            "Last login: Mon Jan  1 00:00:00 UTC 2024 on ttyS0\n",
            "[  OK  ] Started systemd-logind.service - User Login Management.\n",
            "login: timed out after 60 seconds\n",
        ] {
            assert_eq!(w.feed(line.as_bytes()), None, "{line:?}");
        }
    }

    #[test]
    fn escape_sequences_do_not_split_the_prompt() {
        let mut w = default_watcher();
        let grub = b"\x1b[H\x1b[J\x1b[1;1Hfixture \x1b[0mlo\x1b]0;title\x07gin:\r\n";
        assert_eq!(w.feed(grub).as_deref(), Some("fixture login:"));
    }

    #[test]
    fn escape_sequence_split_across_reads_is_still_removed() {
        let mut w = watcher("^ready$");
        assert_eq!(w.feed(b"\x1b[1;"), None);
        assert_eq!(w.feed(b"1Hready\n").as_deref(), Some("ready"));
    }

    #[test]
    fn utf8_split_across_reads_decodes_whole() {
        let mut w = watcher("^grün$");
        assert_eq!(w.feed(&"grün".as_bytes()[..3]), None);
        assert_eq!(w.feed(&"grün".as_bytes()[3..]).as_deref(), Some("grün"));
    }

    #[test]
    fn user_patterns_see_one_line_at_a_time() {
        let mut w = watcher(r"(?m)^Reached target .*Multi-User");
        assert_eq!(
            w.feed(b"boot\nReached target multi-user.target - Multi-User System.\n")
                .as_deref(),
            Some("Reached target multi-user.target - Multi-User System.")
        );
    }

    #[test]
    fn last_lines_keep_the_newest_and_the_unfinished_line() {
        let mut w = watcher("never");
        for i in 0..30 {
            w.feed(format!("line {i}\r\n").as_bytes());
        }
        w.feed(b"half");
        let lines = w.last_lines();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines.first().map(String::as_str), Some("line 11"));
        assert_eq!(lines.last().map(String::as_str), Some("half"));
    }

    #[test]
    fn last_lines_of_a_short_console() {
        let mut w = watcher("never");
        w.feed(b"one\ntwo\n");
        assert_eq!(w.last_lines(), ["one", "two"]);
    }

    #[test]
    fn endless_line_is_cut() {
        let mut w = watcher("never");
        w.feed(&vec![b'x'; MAX_LINE * 2 + 10]);
        let lines = w.last_lines();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[2].len(), 10);
    }

    #[test]
    fn tail_display_indents_and_says_when_empty() {
        assert_eq!(
            Tail(vec!["a".into(), "b".into()]).to_string(),
            "  | a\n  | b"
        );
        assert_eq!(Tail(vec![]).to_string(), "  (the console printed nothing)");
    }
}
