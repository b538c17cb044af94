//! Reading one command's words: positional arguments and `--options`, with
//! values given as `--opt=value` or `--opt value`, as pykickstart accepts.

use std::str::FromStr;

/// One item of a command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Arg {
    /// An option name including its dashes, e.g. `--size`.
    Option(String),
    Positional(String),
}

/// What went wrong reading a command's arguments; the caller adds file:line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("{command}: unknown option {option}; accepted options: {accepted}")]
    UnknownOption {
        command: String,
        option: String,
        accepted: String,
    },
    #[error("{command}: option {option} needs a value")]
    MissingValue { command: String, option: String },
    #[error("{command}: option {option} takes no value, but was given {value:?}")]
    UnexpectedValue {
        command: String,
        option: String,
        value: String,
    },
    #[error("{command}: {option}={value:?} is not {expected}")]
    BadValue {
        command: String,
        option: String,
        value: String,
        expected: String,
    },
    #[error("{command}: unexpected argument {value:?}{hint}")]
    UnexpectedPositional {
        command: String,
        value: String,
        hint: String,
    },
    #[error("{command}: {message}")]
    Invalid { command: String, message: String },
}

/// A cursor over a command's words (without the command name).
pub struct Args<'a> {
    command: &'a str,
    accepted: &'a [&'a str],
    words: std::vec::IntoIter<String>,
    /// A value attached with `=` to the option just returned.
    attached: Option<String>,
    current_option: String,
}

impl<'a> Args<'a> {
    /// `accepted` lists the command's options, for error messages only.
    pub fn new(command: &'a str, words: Vec<String>, accepted: &'a [&'a str]) -> Self {
        Self {
            command,
            accepted,
            words: words.into_iter(),
            attached: None,
            current_option: String::new(),
        }
    }

    pub fn next_arg(&mut self) -> Result<Option<Arg>, ArgError> {
        if let Some(value) = self.attached.take() {
            return Err(ArgError::UnexpectedValue {
                command: self.command.to_owned(),
                option: std::mem::take(&mut self.current_option),
                value,
            });
        }
        let Some(word) = self.words.next() else {
            return Ok(None);
        };
        if word.starts_with("--") && word.len() > 2 {
            let (name, value) = match word.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (word, None),
            };
            self.attached = value;
            self.current_option.clone_from(&name);
            Ok(Some(Arg::Option(name)))
        } else {
            Ok(Some(Arg::Positional(word)))
        }
    }

    /// The value of the option just returned by [`Args::next_arg`].
    pub fn value(&mut self) -> Result<String, ArgError> {
        if let Some(value) = self.attached.take() {
            return Ok(value);
        }
        match self.words.next() {
            Some(word) if !word.starts_with("--") => Ok(word),
            _ => Err(ArgError::MissingValue {
                command: self.command.to_owned(),
                option: self.current_option.clone(),
            }),
        }
    }

    /// The option's value parsed as `T`; `expected` describes `T` to a person.
    pub fn parsed<T: FromStr>(&mut self, expected: &str) -> Result<T, ArgError> {
        let value = self.value()?;
        value.parse().map_err(|_| self.bad_value(value, expected))
    }

    /// The option's value, which must be one of `choices`.
    pub fn choice<T: Copy>(&mut self, choices: &[(&str, T)]) -> Result<T, ArgError> {
        let value = self.value()?;
        choices
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&value))
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
                self.bad_value(value, &format!("one of: {}", names.join(", ")))
            })
    }

    /// A yes/no value, spelled as pykickstart accepts it.
    pub fn boolean(&mut self) -> Result<bool, ArgError> {
        self.choice(&[
            ("yes", true),
            ("on", true),
            ("true", true),
            ("1", true),
            ("no", false),
            ("off", false),
            ("false", false),
            ("0", false),
        ])
    }

    /// A comma-separated list value; empty items are dropped.
    pub fn list(&mut self) -> Result<Vec<String>, ArgError> {
        Ok(split_list(&self.value()?))
    }

    pub fn bad_value(&self, value: String, expected: &str) -> ArgError {
        ArgError::BadValue {
            command: self.command.to_owned(),
            option: self.current_option.clone(),
            value,
            expected: expected.to_owned(),
        }
    }

    pub fn unknown(&mut self, option: String) -> ArgError {
        self.attached = None;
        ArgError::UnknownOption {
            command: self.command.to_owned(),
            option,
            accepted: self.accepted.join(", "),
        }
    }

    pub fn unexpected(&self, value: String, hint: &str) -> ArgError {
        ArgError::UnexpectedPositional {
            command: self.command.to_owned(),
            value,
            hint: hint.to_owned(),
        }
    }

    pub fn invalid(&self, message: impl Into<String>) -> ArgError {
        ArgError::Invalid {
            command: self.command.to_owned(),
            message: message.into(),
        }
    }
}

pub fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn values_attached_or_following() {
        let mut a = Args::new("part", args(&["/", "--size", "5120", "--fstype=ext4"]), &[]);
        assert_eq!(a.next_arg().unwrap(), Some(Arg::Positional("/".into())));
        assert_eq!(a.next_arg().unwrap(), Some(Arg::Option("--size".into())));
        assert_eq!(a.parsed::<u64>("a size in MiB").unwrap(), 5120);
        assert_eq!(a.next_arg().unwrap(), Some(Arg::Option("--fstype".into())));
        assert_eq!(a.value().unwrap(), "ext4");
        assert_eq!(a.next_arg().unwrap(), None);
    }

    #[test]
    fn a_flag_given_a_value_is_an_error() {
        let mut a = Args::new("zerombr", args(&["--x=1"]), &[]);
        assert!(matches!(a.next_arg().unwrap(), Some(Arg::Option(_))));
        assert!(matches!(
            a.next_arg(),
            Err(ArgError::UnexpectedValue { .. })
        ));
    }

    #[test]
    fn bad_values_name_the_choices() {
        let mut a = Args::new("network", args(&["--bootproto=dhcpx"]), &[]);
        a.next_arg().unwrap();
        let err = a.choice(&[("dhcp", 1), ("static", 2)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "network: --bootproto=\"dhcpx\" is not one of: dhcp, static"
        );
    }

    #[test]
    fn missing_value_at_end_or_before_another_option() {
        let mut a = Args::new("part", args(&["--size", "--grow"]), &[]);
        a.next_arg().unwrap();
        assert!(matches!(a.value(), Err(ArgError::MissingValue { .. })));
    }
}
