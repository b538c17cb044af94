//! Scriptlets written for rpm's embedded Lua (`-p <lua>`), run in Lua 5.4
//! by livecompose's sandbox helper as an embedded program ([`PROGRAM`],
//! [`main`]): a fresh process in the image's sandbox, chrooted into the
//! image, as rpm runs them chrooted inside its own process.
//!
//! The chunk sees what rpm 4.18 gives it: `...` is `(opt, arg)`, with
//! `arg[1]` the string `"<lua>"` and the scriptlet's arguments after it as
//! numbers; the standard libraries; `posix` (the file and process
//! functions of rpm's `lposix` that scriptlets use); and `rpm` (`vercmp`,
//! `execute`, `expand` of text without macros, `define`/`undefine`, which
//! do nothing as there is no macro context, and `next_file` in file
//! triggers). Each scriptlet gets a fresh interpreter: unlike in rpm,
//! globals do not carry over from one scriptlet to the next.

use std::ffi::{CStr, OsString};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use mlua::{Function, Lua, MultiValue, Table, Value};

use crate::repo::rpm::version::Evr;

/// The name of the embedded Lua interpreter, as rpm writes it for a
/// scriptlet's interpreter and the sandbox helper knows it.
pub const PROGRAM: &str = "<lua>";

/// The flag after which the chunk's file paths come on standard input.
const FILES_ON_STDIN: &str = "--files-on-stdin";

/// The arguments of [`PROGRAM`] for the chunk `name` (`%post(name-v-r.a)`,
/// as rpm names it in errors) in the file `script` of the image, with the
/// numeric arguments rpm passes and, for file triggers (`files_on_stdin`),
/// the matching paths on standard input, one a line.
pub fn arguments(name: &str, script: &str, args: &[&str], files_on_stdin: bool) -> Vec<OsString> {
    let mut argv = vec![OsString::from(name), OsString::from(script)];
    if files_on_stdin {
        argv.push(OsString::from(FILES_ON_STDIN));
    }
    argv.extend(args.iter().map(OsString::from));
    argv
}

/// Runs the scriptlet [`arguments`] describe, in the sandbox; the exit
/// status is 1 when the script raised an error, whose message goes to
/// standard error (the build log) like a shell scriptlet's output.
pub fn main(argv: &[OsString]) -> i32 {
    let script = match LuaScript::from_arguments(argv) {
        Ok(script) => script,
        Err(error) => {
            say(&format!("lua script failed: {error}"));
            return 1;
        }
    };
    let pid = std::process::id();
    let result = script.run();
    if std::process::id() != pid {
        // A `posix.fork` child that did not exec must not go on as the
        // scriptlet.
        say("no exec() called after fork() in lua scriptlet");
        return 1;
    }
    match result {
        Ok(()) => 0,
        Err(error) => {
            say(&format!("lua script failed: {error}"));
            1
        }
    }
}

/// A Lua scriptlet ready to run: its body, the numeric arguments rpm
/// passes, and for file triggers the matching paths.
struct LuaScript {
    /// How rpm names the chunk in its error messages: `%post(name-v-r.a)`.
    name: String,
    body: Vec<u8>,
    args: Vec<i64>,
    files: Option<Vec<Vec<u8>>>,
}

impl LuaScript {
    fn from_arguments(argv: &[OsString]) -> Result<Self, String> {
        let [name, script, rest @ ..] = argv else {
            return Err(format!("{PROGRAM} needs a chunk name and a script file"));
        };
        let body = fs::read(script)
            .map_err(|e| format!("cannot read {}: {e}", script.to_string_lossy()))?;
        let (files, args) = match rest.split_first() {
            Some((flag, args)) if flag == FILES_ON_STDIN => {
                let mut input = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut input)
                    .map_err(|e| format!("cannot read the file list: {e}"))?;
                let lines = input
                    .split(|b| *b == b'\n')
                    .filter(|line| !line.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect();
                (Some(lines), args)
            }
            _ => (None, rest),
        };
        Ok(LuaScript {
            name: name.to_string_lossy().into_owned(),
            body,
            args: args
                .iter()
                .filter_map(|a| a.to_str().and_then(|a| a.parse().ok()))
                .collect(),
            files,
        })
    }

    fn run(&self) -> mlua::Result<()> {
        let lua = Lua::new();
        lua.globals().set("posix", posix(&lua)?)?;
        lua.globals().set("rpm", rpm(&lua, self.files.clone())?)?;
        let arg = lua.create_table()?;
        arg.push("<lua>")?;
        for a in &self.args {
            arg.push(*a)?;
        }
        // `arg` is a local of the chunk in rpm; declaring it on the
        // chunk's first line keeps error line numbers the same as rpm's.
        let mut chunk = b"local opt, arg = ...;".to_vec();
        chunk.extend_from_slice(&self.body);
        lua.load(chunk)
            .set_name(self.name.as_str())
            .call::<()>((lua.create_table()?, arg))
    }
}

/// Writes a line to standard error (the build log) straight to the
/// descriptor: the print macros may be captured (by the test harness) or
/// locked by a thread that does not exist in this child.
fn say(text: &str) {
    let line = format!("{text}\n");
    // SAFETY: writes a live buffer of the given length.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}

/// Whether this process is a child made by `posix.fork`, the only place
/// `posix.exec` may replace the process (not the scriptlet's own).
static FORKED: AtomicBool = AtomicBool::new(false);

/// `strerror` text of the last error, as rpm's Lua functions report it.
fn describe(e: &std::io::Error) -> (String, i64) {
    let code = e.raw_os_error().unwrap_or(0);
    // SAFETY: strerror returns a pointer to a static or thread-local
    // string, read at once.
    let text = unsafe { CStr::from_ptr(libc::strerror(code)) }
        .to_string_lossy()
        .into_owned();
    (text, i64::from(code))
}

/// rpm's convention: `0` on success, else `nil, "path: reason", errno`.
fn outcome(lua: &Lua, result: std::io::Result<()>, path: &str) -> mlua::Result<MultiValue> {
    match result {
        Ok(()) => Ok(MultiValue::from_iter([Value::Number(0.0)])),
        Err(e) => failure(lua, &e, path),
    }
}

fn failure(lua: &Lua, e: &std::io::Error, path: &str) -> mlua::Result<MultiValue> {
    let (text, code) = describe(e);
    Ok(MultiValue::from_iter([
        Value::Nil,
        Value::String(lua.create_string(format!("{path}: {text}"))?),
        Value::Number(code as f64),
    ]))
}

fn posix(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "access",
        lua.create_function(|lua, (path, how): (String, Option<String>)| {
            let mut mode = rustix::fs::Access::EXISTS;
            for c in how.as_deref().unwrap_or("f").chars() {
                mode |= match c {
                    'r' => rustix::fs::Access::READ_OK,
                    'w' => rustix::fs::Access::WRITE_OK,
                    'x' => rustix::fs::Access::EXEC_OK,
                    'f' | ' ' => rustix::fs::Access::EXISTS,
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "bad argument #2 to 'access' (unknown mode option `{other}')"
                        )));
                    }
                };
            }
            let result = rustix::fs::access(path.as_str(), mode).map_err(std::io::Error::from);
            outcome(lua, result, &path)
        })?,
    )?;
    t.set(
        "chmod",
        lua.create_function(|lua, (path, mode): (String, String)| {
            let meta = match fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => return failure(lua, &e, &path),
            };
            let bits = parse_mode(&mode, meta.mode())
                .ok_or_else(|| mlua::Error::runtime("bad argument #2 to 'chmod' (bad mode)"))?;
            let result = fs::set_permissions(&path, fs::Permissions::from_mode(bits));
            outcome(lua, result, &path)
        })?,
    )?;
    t.set(
        "chown",
        lua.create_function(|lua, (path, user, group): (String, Value, Value)| {
            let uid = account_id(&user, "/etc/passwd")?;
            let gid = account_id(&group, "/etc/group")?;
            let result = std::os::unix::fs::chown(&path, uid, gid);
            outcome(lua, result, &path)
        })?,
    )?;
    t.set(
        "getenv",
        lua.create_function(|_, name: String| Ok(std::env::var(name).ok()))?,
    )?;
    t.set(
        "mkdir",
        lua.create_function(|lua, path: String| {
            let result = fs::DirBuilder::new().mode(0o777).create(&path);
            outcome(lua, result, &path)
        })?,
    )?;
    t.set(
        "readlink",
        lua.create_function(|lua, path: String| match fs::read_link(&path) {
            Ok(target) => Ok(MultiValue::from_iter([Value::String(
                lua.create_string(target.as_os_str().as_encoded_bytes())?,
            )])),
            Err(e) => failure(lua, &e, &path),
        })?,
    )?;
    t.set(
        "rmdir",
        lua.create_function(|lua, path: String| outcome(lua, fs::remove_dir(&path), &path))?,
    )?;
    t.set(
        "unlink",
        lua.create_function(|lua, path: String| outcome(lua, fs::remove_file(&path), &path))?,
    )?;
    t.set(
        "symlink",
        lua.create_function(|lua, (target, link): (String, String)| {
            outcome(lua, std::os::unix::fs::symlink(&target, &link), &link)
        })?,
    )?;
    t.set(
        "stat",
        lua.create_function(|lua, (path, field): (String, Option<String>)| {
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => return failure(lua, &e, &path),
            };
            let stat = stat_table(lua, &meta)?;
            let value = match field {
                Some(name) => stat.get::<Value>(name)?,
                None => Value::Table(stat),
            };
            Ok(MultiValue::from_iter([value]))
        })?,
    )?;
    t.set(
        "utime",
        lua.create_function(
            |lua, (path, mtime, atime): (String, Option<i64>, Option<i64>)| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let at = |secs: Option<i64>| rustix::fs::Timespec {
                    tv_sec: secs.unwrap_or(now),
                    tv_nsec: 0,
                };
                let times = rustix::fs::Timestamps {
                    last_access: at(atime),
                    last_modification: at(mtime),
                };
                let result = rustix::fs::utimensat(
                    rustix::fs::CWD,
                    path.as_str(),
                    &times,
                    rustix::fs::AtFlags::empty(),
                )
                .map_err(std::io::Error::from);
                outcome(lua, result, &path)
            },
        )?,
    )?;
    t.set(
        "fork",
        lua.create_function(|lua, ()| {
            // SAFETY: this process has a single thread (it is itself a
            // forked child), so the new child inherits a consistent state.
            let pid = unsafe { libc::fork() };
            match pid {
                -1 => failure(lua, &std::io::Error::last_os_error(), "fork"),
                0 => {
                    FORKED.store(true, Ordering::Relaxed);
                    Ok(MultiValue::from_iter([Value::Number(0.0)]))
                }
                pid => Ok(MultiValue::from_iter([Value::Number(f64::from(pid))])),
            }
        })?,
    )?;
    t.set(
        "exec",
        lua.create_function(|lua, (path, args): (String, mlua::Variadic<String>)| {
            if !FORKED.load(Ordering::Relaxed) {
                return Err(mlua::Error::runtime("exec not permitted in this context"));
            }
            let error =
                std::os::unix::process::CommandExt::exec(Command::new(&path).args(args.iter()));
            failure(lua, &error, &path)
        })?,
    )?;
    t.set(
        "wait",
        lua.create_function(|lua, pid: Option<i32>| {
            // SAFETY: a null status pointer is allowed.
            let reaped = unsafe { libc::waitpid(pid.unwrap_or(-1), std::ptr::null_mut(), 0) };
            if reaped == -1 {
                return failure(lua, &std::io::Error::last_os_error(), "wait");
            }
            Ok(MultiValue::from_iter([Value::Number(f64::from(reaped))]))
        })?,
    )?;
    Ok(t)
}

/// A chmod mode as `lposix` takes it: octal digits, or the nine letters
/// `ls` shows (`rwxr-xr-x`). Anything else is refused rather than guessed.
fn parse_mode(text: &str, current: u32) -> Option<u32> {
    if !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return u32::from_str_radix(text, 8).ok().filter(|m| *m <= 0o7777);
    }
    let letters = text.as_bytes();
    if letters.len() != 9 {
        return None;
    }
    let mut mode = current & 0o7000;
    for (i, (&have, want)) in letters.iter().zip(b"rwxrwxrwx").enumerate() {
        match have {
            b'-' => {}
            c if c == *want => mode |= 1 << (8 - i),
            _ => return None,
        }
    }
    Some(mode)
}

/// A user or group as a number or a name looked up in the root's account
/// file; absent or unknown leaves it unchanged, as `lposix` does.
fn account_id(value: &Value, file: &str) -> mlua::Result<Option<u32>> {
    match value {
        Value::Nil => Ok(None),
        Value::Integer(n) => Ok(u32::try_from(*n).ok()),
        Value::Number(n) => Ok(Some(*n as u32)),
        Value::String(name) => {
            let name = name.to_str()?.to_string();
            let table = fs::read_to_string(file).unwrap_or_default();
            Ok(table.lines().find_map(|line| {
                let mut fields = line.split(':');
                (fields.next() == Some(name.as_str()))
                    .then(|| fields.nth(1).and_then(|id| id.parse().ok()))
                    .flatten()
            }))
        }
        _ => Err(mlua::Error::runtime("string or number expected")),
    }
}

/// `posix.stat`'s table: the `ls`-style mode, the numbers, the type word.
fn stat_table(lua: &Lua, meta: &fs::Metadata) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let mode = meta.mode();
    let letters: String = b"rwxrwxrwx"
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if mode & (1 << (8 - i)) != 0 {
                c as char
            } else {
                '-'
            }
        })
        .collect();
    t.set("mode", letters)?;
    for (name, value) in [
        ("ino", meta.ino() as f64),
        ("dev", meta.dev() as f64),
        ("nlink", meta.nlink() as f64),
        ("uid", f64::from(meta.uid())),
        ("gid", f64::from(meta.gid())),
        ("size", meta.size() as f64),
        ("atime", meta.atime() as f64),
        ("mtime", meta.mtime() as f64),
        ("ctime", meta.ctime() as f64),
        ("_mode", f64::from(mode)),
    ] {
        t.set(name, value)?;
    }
    let kind = match mode & libc::S_IFMT {
        libc::S_IFREG => "regular",
        libc::S_IFLNK => "link",
        libc::S_IFDIR => "directory",
        libc::S_IFCHR => "character device",
        libc::S_IFBLK => "block device",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "?",
    };
    t.set("type", kind)?;
    Ok(t)
}

fn rpm(lua: &Lua, files: Option<Vec<Vec<u8>>>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "vercmp",
        lua.create_function(|_, (a, b): (String, String)| {
            let parse = |v: &str| {
                Evr::parse(v).map_err(|e| mlua::Error::runtime(format!("invalid version {v}: {e}")))
            };
            Ok(parse(&a)?.cmp(&parse(&b)?) as i64)
        })?,
    )?;
    t.set(
        "expand",
        lua.create_function(|_, text: String| {
            if text.contains('%') {
                return Err(mlua::Error::runtime(format!(
                    "rpm.expand: livecompose has no rpm macros to expand {text:?}"
                )));
            }
            Ok(text)
        })?,
    )?;
    let nothing = lua.create_function(|_, _: MultiValue| Ok(()))?;
    t.set("define", nothing.clone())?;
    t.set("undefine", nothing)?;
    t.set(
        "execute",
        lua.create_function(|lua, (file, args): (String, mlua::Variadic<String>)| {
            match Command::new(&file).args(args.iter()).status() {
                Ok(status) if status.success() => Ok(MultiValue::from_iter([Value::Number(0.0)])),
                Ok(status) => {
                    let raw = std::os::unix::process::ExitStatusExt::into_raw(status);
                    Ok(MultiValue::from_iter([
                        Value::Nil,
                        Value::String(lua.create_string(format!("exit status {raw}"))?),
                        Value::Number(f64::from(raw)),
                    ]))
                }
                Err(e) => failure(lua, &e, "posix_spawnp"),
            }
        })?,
    )?;
    if let Some(files) = files {
        let mut files = files.into_iter();
        let next: Function = lua.create_function_mut(move |lua, ()| {
            files.next().map(|path| lua.create_string(path)).transpose()
        })?;
        t.set("next_file", next)?;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::parse_mode;

    #[test]
    fn chmod_modes_as_lposix_takes_them() {
        assert_eq!(parse_mode("0640", 0o100755), Some(0o640));
        assert_eq!(parse_mode("4755", 0o100644), Some(0o4755));
        assert_eq!(parse_mode("rw-r-----", 0o104755), Some(0o4640));
        for bad in ["", "u+x", "rwxrwxrwz", "9", "77777"] {
            assert_eq!(parse_mode(bad, 0o644), None, "{bad}");
        }
    }
}
