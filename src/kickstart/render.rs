//! Writing typed commands back as kickstart lines (for `flatten`).

use super::words::quote;

/// One kickstart line being built: `name positional --opt=value --flag`.
pub struct Line(String);

impl Line {
    pub fn new(command: &str) -> Self {
        Self(command.to_owned())
    }

    pub fn word(mut self, word: &str) -> Self {
        self.0.push(' ');
        self.0.push_str(&quote(word));
        self
    }

    pub fn flag(self, option: &str, set: bool) -> Self {
        if set { self.word(option) } else { self }
    }

    pub fn value(self, option: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.option_with(option, &value.to_string()),
            None => self,
        }
    }

    pub fn list(self, option: &str, items: &[String]) -> Self {
        if items.is_empty() {
            self
        } else {
            self.option_with(option, &items.join(","))
        }
    }

    /// `--opt=value`, quoting only the value so the line reads naturally.
    fn option_with(mut self, option: &str, value: &str) -> Self {
        self.0.push(' ');
        self.0.push_str(option);
        self.0.push('=');
        self.0.push_str(&quote(value));
        self
    }

    pub fn finish(self) -> String {
        self.0
    }
}
