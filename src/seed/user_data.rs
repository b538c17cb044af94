//! The user-data check: what cloud-init would refuse or misread is an
//! error here, named by file and line, before a seed is written.
//!
//! A `#cloud-config` is read as cloud-init reads it (PyYAML: YAML 1.1
//! booleans such as `yes` and `off`, octal `0644`), then validated against
//! cloud-init's own published schema, shipped beside this file
//! (`schema-cloud-config-v1.json`, Apache-2.0, see its `.LICENSE`). The
//! schema's errors point into the document by JSON pointer; every node's
//! line is recorded while converting, so each error names the line of the
//! key it is about.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError, Validator};
use saphyr::{MarkedYaml, Scalar, ScalarStyle, YamlData, YamlLoader};
use serde_json::{Map, Value};

use crate::kickstart::closest;

/// cloud-init's cloud-config schema (canonical/cloud-init, after 26.2,
/// cloudinit/config/schemas/schema-cloud-config-v1.json); only annotation
/// text differs (see its `.LICENSE`), no validation keyword.
const SCHEMA: &str = include_str!("schema-cloud-config-v1.json");

/// What kind of user-data cloud-init will see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserDataKind {
    /// `#cloud-config`: checked as YAML and against the schema.
    CloudConfig,
    /// A `#!` script, run as it is; not checked further.
    Script,
    /// A MIME multipart archive; its parts are not checked.
    Multipart,
}

/// One schema violation: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    /// The key it is about, dotted as cloud-init prints it (`users.0.sudo`).
    pub path: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UserDataError {
    #[error(
        "{file}:1: user-data must start with `#cloud-config`, a `#!` script line or a MIME \
         `Content-Type: multipart/...` header; cloud-init would not read this as configuration"
    )]
    UnknownFormat { file: String },
    #[error("{file}:{line}: not UTF-8 text")]
    NotText { file: String, line: usize },
    #[error("{file}:{line}: not valid YAML: {message}")]
    Yaml {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}:{line}: a second YAML document; cloud-init reads a cloud-config as one")]
    SecondDocument { file: String, line: usize },
    #[error("{file}:{line}: a cloud-config is a mapping of keys such as `users:`, not {found}")]
    NotMapping {
        file: String,
        line: usize,
        found: String,
    },
    #[error("{}", render(file, problems))]
    Schema {
        file: String,
        problems: Vec<Problem>,
    },
    /// Our bug, not the input's: the shipped schema does not load.
    #[error("the shipped cloud-config schema does not load: {0}")]
    BadSchema(String),
}

impl UserDataError {
    /// Whether the user-data is at fault (not livecompose).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Self::BadSchema(_))
    }
}

fn render(file: &str, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("{file}:{}: {}: {}", p.line, p.path, p.message))
        .collect();
    lines.join("\n")
}

/// Checks user-data `text`, read from `file` (named in errors).
pub fn check(file: &str, text: &[u8]) -> Result<UserDataKind, UserDataError> {
    let first_line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    if first_line.starts_with(b"#!") {
        return Ok(UserDataKind::Script);
    }
    if is_multipart(text) {
        return Ok(UserDataKind::Multipart);
    }
    // cloud-init matches the first line's start, so `#cloud-config  # x` counts.
    if !first_line.starts_with(b"#cloud-config") {
        return Err(UserDataError::UnknownFormat {
            file: file.to_owned(),
        });
    }
    let text = std::str::from_utf8(text).map_err(|error| UserDataError::NotText {
        file: file.to_owned(),
        line: 1 + text[..error.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
    })?;
    let mut lines = Lines::default();
    let document = load(file, text)?;
    let config = match document {
        // Only the header: cloud-init reads that as an empty configuration.
        None => Value::Object(Map::new()),
        Some(node) => {
            let value = convert(&node, "", &mut lines);
            if !value.is_object() {
                return Err(UserDataError::NotMapping {
                    file: file.to_owned(),
                    line: node.span.start.line(),
                    found: describe(&value),
                });
            }
            value
        }
    };
    let (validator, top_keys) = schema()?;
    let mut problems = Vec::new();
    for error in validator.iter_errors(&config) {
        explain(&error, &lines, top_keys, &mut problems);
    }
    if problems.is_empty() {
        return Ok(UserDataKind::CloudConfig);
    }
    problems.sort_by(|a, b| (a.line, &a.path, &a.message).cmp(&(b.line, &b.path, &b.message)));
    problems.dedup();
    Err(UserDataError::Schema {
        file: file.to_owned(),
        problems,
    })
}

/// A MIME message whose headers (before the first empty line) declare a
/// multipart type, as `write-mime-multipart` and cloud-init's tools make.
fn is_multipart(text: &[u8]) -> bool {
    text.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
        .any(|line| {
            let lower = line.to_ascii_lowercase();
            lower
                .strip_prefix(b"content-type:")
                .is_some_and(|value| value.trim_ascii_start().starts_with(b"multipart/"))
        })
}

/// The one YAML document of `text`, `None` when it has no content.
fn load<'a>(file: &str, text: &'a str) -> Result<Option<MarkedYaml<'a>>, UserDataError> {
    let mut loader = YamlLoader::<MarkedYaml>::default();
    // Scalars stay as written, so they can be read as PyYAML reads them.
    loader.early_parse(false);
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    let yaml_error = |error: &saphyr::ScanError| UserDataError::Yaml {
        file: file.to_owned(),
        line: error.marker().line(),
        message: error.info().to_owned(),
    };
    parser.load(&mut loader, true).map_err(|e| yaml_error(&e))?;
    if let Some(error) = loader.error() {
        return Err(yaml_error(error));
    }
    let mut documents = loader.into_documents().into_iter();
    let first = documents.next();
    if let Some(second) = documents.next() {
        return Err(UserDataError::SecondDocument {
            file: file.to_owned(),
            line: second.span.start.line(),
        });
    }
    Ok(first.filter(|node| !matches!(scalar(node), Some(Value::Null))))
}

/// Where each node of the document is: JSON pointer → line. A mapping
/// entry is at its key's line, so an error about a value names the key.
#[derive(Default)]
struct Lines(HashMap<String, usize>);

impl Lines {
    /// The line of `pointer`, or of its nearest parent that has one.
    fn of(&self, pointer: &str) -> usize {
        let mut pointer = pointer;
        loop {
            if let Some(line) = self.0.get(pointer) {
                return *line;
            }
            match pointer.rfind('/') {
                Some(at) => pointer = &pointer[..at],
                None => return 1,
            }
        }
    }
}

fn convert(node: &MarkedYaml, pointer: &str, lines: &mut Lines) -> Value {
    lines
        .0
        .entry(pointer.to_owned())
        .or_insert(node.span.start.line());
    match &node.data {
        YamlData::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| convert(item, &format!("{pointer}/{index}"), lines))
                .collect(),
        ),
        YamlData::Mapping(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                // PyYAML allows keys of any scalar type; JSON has strings.
                let name = match convert(key, pointer, lines) {
                    Value::String(name) => name,
                    other => other.to_string(),
                };
                let child = format!("{pointer}/{}", escape(&name));
                lines.0.insert(child.clone(), key.span.start.line());
                map.insert(name, convert(value, &child, lines));
            }
            Value::Object(map)
        }
        YamlData::Tagged(_, inner) => convert(inner, pointer, lines),
        _ => scalar(node).unwrap_or(Value::Null),
    }
}

/// A scalar node's value as PyYAML (YAML 1.1) resolves it, `None` for
/// anything else.
fn scalar(node: &MarkedYaml) -> Option<Value> {
    let resolved = match &node.data {
        YamlData::Representation(text, style, tag) => {
            if *style == ScalarStyle::Plain
                && tag.is_none()
                && let Some(value) = yaml11_plain(text)
            {
                return Some(value);
            }
            Scalar::parse_from_cow_and_metadata(text.clone(), *style, tag.as_ref())
                .unwrap_or_else(|| Scalar::String(text.clone()))
        }
        YamlData::Value(value) => value.clone(),
        _ => return None,
    };
    Some(match resolved {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(b),
        Scalar::Integer(i) => Value::from(i),
        Scalar::FloatingPoint(f) => {
            serde_json::Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number)
        }
        Scalar::String(s) => Value::String(s.into_owned()),
    })
}

/// Where YAML 1.1 (PyYAML, cloud-init's parser) reads a plain scalar
/// differently from YAML 1.2: more booleans, `0644` octal, `0o644` text.
fn yaml11_plain(text: &str) -> Option<Value> {
    match text {
        "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Some(Value::Bool(true)),
        "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Some(Value::Bool(false)),
        _ => {}
    }
    if text.starts_with("0o") {
        return Some(Value::String(text.to_owned()));
    }
    let digits = text.strip_prefix('0').filter(|rest| !rest.is_empty())?;
    i64::from_str_radix(digits, 8).ok().map(Value::from)
}

/// RFC 6901: `~` and `/` escaped in a pointer's segment.
fn escape(segment: &str) -> Cow<'_, str> {
    if segment.contains(['~', '/']) {
        Cow::Owned(segment.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(segment)
    }
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// A pointer as cloud-init names a key: `users.0.sudo`.
fn dotted(pointer: &str) -> String {
    if pointer.is_empty() {
        return "(top level)".to_owned();
    }
    let segments: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
    segments.join(".")
}

/// The compiled schema and its top-level keys, built once.
fn schema() -> Result<(&'static Validator, &'static [String]), UserDataError> {
    static SCHEMA_STATE: OnceLock<Result<(Validator, Vec<String>), String>> = OnceLock::new();
    let state = SCHEMA_STATE.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).map_err(|e| e.to_string())?;
        let top_keys = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|properties| properties.keys().cloned().collect())
            .unwrap_or_default();
        let validator = jsonschema::draft4::new(&tightened(schema)).map_err(|e| e.to_string())?;
        Ok((validator, top_keys))
    });
    match state {
        Ok((validator, keys)) => Ok((validator, keys)),
        Err(message) => Err(UserDataError::BadSchema(message.clone())),
    }
}

/// The schema with one rule made stricter than cloud-init's: `users` as a
/// mapping. cloud-init reads `users: {NAME: true}` as a user list, but the
/// form is undocumented and `users: {name: x}` (a user's settings without
/// the list dash) creates no user at all, so the image boots without the
/// login its author expected. Here `users` must be a list or a string.
fn tightened(mut schema: Value) -> Value {
    if let Some(kind) = schema.pointer_mut("/$defs/cc_users_groups/properties/users/type") {
        *kind = Value::from(vec!["array", "string"]);
    }
    schema
}

/// Turns one validation error into problems at the lines they concern.
fn explain(error: &ValidationError, lines: &Lines, top_keys: &[String], out: &mut Vec<Problem>) {
    let pointer = error.instance_path().as_str();
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for key in unexpected {
                let child = format!("{pointer}/{}", escape(key));
                let message = if pointer.is_empty() {
                    let known: Vec<&str> = top_keys.iter().map(String::as_str).collect();
                    match closest(key, &known) {
                        Some(near) => format!("not a cloud-config key (did you mean {near}?)"),
                        None => "not a cloud-config key".to_owned(),
                    }
                } else {
                    format!("not a key {} takes", dotted(pointer))
                };
                out.push(Problem {
                    line: lines.of(&child),
                    path: dotted(&child),
                    message,
                });
            }
        }
        ValidationErrorKind::Type { kind } => out.push(Problem {
            line: lines.of(pointer),
            path: dotted(pointer),
            message: format!(
                "{} is not valid: expected {}",
                flow(error.instance()),
                types(kind)
            ),
        }),
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // The branch of the right type tells what is wrong inside the
            // value; without one, say which types would do.
            let matching: Vec<&Vec<ValidationError>> = context
                .iter()
                .filter(|branch| !branch.iter().any(|e| is_type_error_at(e, pointer)))
                .collect();
            if let [branch] = matching.as_slice() {
                for inner in branch.iter() {
                    explain(inner, lines, top_keys, out);
                }
            } else {
                out.push(Problem {
                    line: lines.of(pointer),
                    path: dotted(pointer),
                    message: format!(
                        "{} is not valid: it matches none of the forms the schema allows",
                        flow(error.instance())
                    ),
                });
            }
        }
        _ => out.push(Problem {
            line: lines.of(pointer),
            path: dotted(pointer),
            message: error.to_string(),
        }),
    }
}

fn is_type_error_at(error: &ValidationError, pointer: &str) -> bool {
    matches!(error.kind(), ValidationErrorKind::Type { .. })
        && error.instance_path().as_str() == pointer
}

fn types(kind: &TypeKind) -> String {
    let mut kinds: Vec<JsonType> = match kind {
        TypeKind::Single(one) => vec![*one],
        TypeKind::Multiple(set) => set.iter().collect(),
    };
    // Containers first: they are what a wrong shape most often needed.
    kinds.sort_by_key(|kind| match kind {
        JsonType::Array => 0,
        JsonType::Object => 1,
        _ => 2,
    });
    let names: Vec<&str> = kinds.into_iter().map(type_name).collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "nothing".to_owned(),
    }
}

fn type_name(kind: JsonType) -> &'static str {
    match kind {
        JsonType::Array => "an array (a YAML list)",
        JsonType::Boolean => "a boolean",
        JsonType::Integer => "an integer",
        JsonType::Null => "null",
        JsonType::Number => "a number",
        JsonType::Object => "an object (a YAML mapping)",
        JsonType::String => "a string",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Array(_) => "a list".to_owned(),
        other => flow(other),
    }
}

/// A short YAML flow rendering of a value for messages: `{name: x}`.
fn flow(value: &Value) -> String {
    const MAX: usize = 60;
    let mut text = String::new();
    write_flow(value, &mut text);
    if text.chars().count() > MAX {
        text = text.chars().take(MAX).collect::<String>() + "…";
    }
    text
}

fn write_flow(value: &Value, out: &mut String) {
    match value {
        Value::String(s) if reads_back_as_string(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_flow(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (index, (key, item)) in map.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push_str(": ");
                write_flow(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Whether `s`, written plain, is read back as the same string (so `5`
/// and `yes` are quoted in messages, `admin` is not).
fn reads_back_as_string(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || "_-./@ ".contains(c))
        && yaml11_plain(s).is_none()
        && matches!(Scalar::parse_from_cow(Cow::Borrowed(s)), Scalar::String(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_1_1_scalars_read_as_cloud_init_reads_them() {
        assert_eq!(yaml11_plain("yes"), Some(Value::Bool(true)));
        assert_eq!(yaml11_plain("Off"), Some(Value::Bool(false)));
        assert_eq!(yaml11_plain("0644"), Some(Value::from(420)));
        assert_eq!(yaml11_plain("0o644"), Some(Value::from("0o644")));
        assert_eq!(yaml11_plain("0"), None);
        assert_eq!(yaml11_plain("089"), None);
        assert_eq!(yaml11_plain("true"), None);
    }

    #[test]
    fn pointers_print_dotted() {
        assert_eq!(dotted("/users/0/sudo"), "users.0.sudo");
        assert_eq!(dotted("/a~1b/c~0d"), "a/b.c~d");
        assert_eq!(dotted(""), "(top level)");
    }
}
