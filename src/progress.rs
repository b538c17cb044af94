//! What the user sees while a build runs: one line per stage, progress bars
//! on a terminal, plain lines in CI logs, nothing but problems with
//! `--quiet`.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Ui {
    multi: MultiProgress,
    bars: bool,
    quiet: bool,
    started: std::time::Instant,
}

impl Ui {
    /// Bars only on a terminal; `quiet` keeps only warnings.
    pub fn new(quiet: bool) -> Self {
        let bars = !quiet && std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Ui {
            multi,
            bars,
            quiet,
            started: std::time::Instant::now(),
        }
    }

    /// Announces a stage, with the time since the build started, so a
    /// slow stage shows in every log.
    pub fn step(&self, message: impl AsRef<str>) {
        if !self.quiet {
            let elapsed = self.started.elapsed().as_secs_f64();
            self.print(format!("[{elapsed:7.1}s] {}", message.as_ref()));
        }
    }

    /// Something the user must read even with `--quiet`.
    pub fn warn(&self, message: impl AsRef<str>) {
        self.print(format!("livecompose: warning: {}", message.as_ref()));
    }

    fn print(&self, line: String) {
        if self.bars {
            // Printed above the bars, which are redrawn below it.
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    /// A bar counting `len` items (packages, files).
    pub fn counter(&self, len: u64) -> ProgressBar {
        self.add(
            ProgressBar::new(len),
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
        )
    }

    /// A bar counting `len` bytes.
    pub fn bytes(&self, len: u64) -> ProgressBar {
        self.add(
            ProgressBar::new(len),
            "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {wide_msg}",
        )
    }

    /// A spinner for work of unknown length.
    pub fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        let bar = self.add(
            ProgressBar::new_spinner(),
            "{spinner} [{elapsed_precise}] {wide_msg}",
        );
        bar.set_message(message.into());
        bar
    }

    fn add(&self, bar: ProgressBar, template: &str) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        self.multi.add(bar)
    }
}

/// Bytes as a person reads them: `1.4 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn human_bytes_picks_the_largest_whole_unit() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
