//! Any bytes as a seed's user-data: checked or refused, never a panic, and
//! every refusal names a line the input has; the shipped schema must load.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecompose::seed::UserDataError;
use livecompose::seed::user_data::check;

fuzz_target!(|data: &[u8]| {
    // A parser may point just past the last line (an unclosed quote).
    let last = data.split(|&b| b == b'\n').count() + 1;
    let lines = match check("user-data", data) {
        Ok(_) => Vec::new(),
        Err(UserDataError::Schema { problems, .. }) => problems.iter().map(|p| p.line).collect(),
        Err(UserDataError::Yaml { line, .. } | UserDataError::NotText { line, .. } | UserDataError::SecondDocument { line, .. } | UserDataError::NotMapping { line, .. }) => vec![line],
        Err(UserDataError::UnknownFormat { .. }) => vec![1],
        Err(UserDataError::BadSchema(message)) => panic!("the shipped schema does not load: {message}"),
    };
    for line in lines {
        assert!((1..=last).contains(&line), "line {line} of {last}");
    }
});
