//! `group`, `user`, `rootpw` and `sshkey`: accounts are made by the image's
//! own `groupadd`, `useradd` and `chpasswd`, so its login.defs and skeleton
//! apply; keys are written by us, with the owner `/etc/passwd` gives.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Seek, Write};

use crate::chroot::Chroot;
use crate::install::RootFs;
use crate::install::rootfs::Meta;
use crate::kickstart::Kickstart;
use crate::kickstart::commands::{Group, Password, RootPassword, SshKey, User};

use super::{ConfigureError, crypt, in_root, read_text};
use crate::source_date::SourceDate;

/// Where sshd reads drop-in settings on Debian.
const SSHD_DROP_IN: &str = "/etc/ssh/sshd_config.d/livecompose-rootpw.conf";

pub(super) fn apply(
    root: &RootFs,
    chroot: &Chroot,
    kickstart: &Kickstart,
    source_date: &SourceDate,
) -> Result<(), ConfigureError> {
    for group in &kickstart.groups {
        add_group(root, chroot, group)?;
    }
    for user in &kickstart.users {
        add_user(root, chroot, user, source_date)?;
    }
    if let Some(rootpw) = &kickstart.rootpw {
        set_root_password(root, chroot, rootpw, source_date)?;
    }
    for key in &kickstart.sshkeys {
        add_ssh_key(root, key)?;
    }
    Ok(())
}

/// One account of the image's `/etc/passwd`.
#[derive(Debug, PartialEq, Eq)]
struct Account {
    uid: u32,
    gid: u32,
    home: String,
}

/// The colon-separated records of `/etc/passwd` or `/etc/group`.
fn records(root: &RootFs, file: &str) -> Result<Vec<Vec<String>>, ConfigureError> {
    let text = read_text(root, &in_root(file)?)?.unwrap_or_default();
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| line.split(':').map(str::to_owned).collect())
        .collect())
}

fn account(root: &RootFs, name: &str) -> Result<Option<Account>, ConfigureError> {
    for record in records(root, "/etc/passwd")? {
        if let [user, _, uid, gid, _, home, ..] = record.as_slice()
            && user == name
        {
            let number = |field: &str| {
                field.parse::<u32>().map_err(|_| {
                    ConfigureError::invalid(
                        "sshkey",
                        format!("the image's /etc/passwd has a bad id {field:?} for {name}"),
                    )
                })
            };
            return Ok(Some(Account {
                uid: number(uid)?,
                gid: number(gid)?,
                home: home.clone(),
            }));
        }
    }
    Ok(None)
}

/// Whether a record of the image's `/etc/group` has `value` in `field`
/// (0: the name, 2: the id).
fn group_with(root: &RootFs, field: usize, value: &str) -> Result<bool, ConfigureError> {
    Ok(records(root, "/etc/group")?
        .iter()
        .any(|record| record.get(field).is_some_and(|v| v == value)))
}

fn has_group(root: &RootFs, name: &str) -> Result<bool, ConfigureError> {
    group_with(root, 0, name)
}

fn has_gid(root: &RootFs, gid: u32) -> Result<bool, ConfigureError> {
    group_with(root, 2, &gid.to_string())
}

fn run(
    chroot: &Chroot,
    program: &str,
    args: &[OsString],
    what: &str,
) -> Result<(), ConfigureError> {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(OsString::as_os_str).collect();
    Ok(chroot.run(chroot.command(program, &args), what)?)
}

fn groupadd(chroot: &Chroot, name: &str, gid: Option<u32>) -> Result<(), ConfigureError> {
    let mut args: Vec<OsString> = Vec::new();
    if let Some(gid) = gid {
        args.extend(["-g".into(), gid.to_string().into()]);
    }
    args.push(name.into());
    run(
        chroot,
        "/usr/sbin/groupadd",
        &args,
        &format!("groupadd {name}"),
    )
}

fn add_group(root: &RootFs, chroot: &Chroot, group: &Group) -> Result<(), ConfigureError> {
    if !has_group(root, &group.name)? {
        return groupadd(chroot, &group.name, group.gid);
    }
    match group.gid {
        Some(gid) if !has_gid(root, gid)? => run(
            chroot,
            "/usr/sbin/groupmod",
            &[
                "-g".into(),
                gid.to_string().into(),
                group.name.clone().into(),
            ],
            &format!("groupmod -g {gid} {}", group.name),
        ),
        _ => Ok(()),
    }
}

/// `name` or `name(gid)`, as `user --groups` may give a group that is to be
/// made with that id.
fn group_spec(spec: &str) -> Result<(&str, Option<u32>), ConfigureError> {
    let Some((name, rest)) = spec.split_once('(') else {
        return Ok((spec, None));
    };
    let gid = rest
        .strip_suffix(')')
        .and_then(|gid| gid.parse().ok())
        .ok_or_else(|| {
            ConfigureError::invalid(
                "user",
                format!("--groups: {spec:?} is not NAME or NAME(GID)"),
            )
        })?;
    Ok((name, Some(gid)))
}

fn add_user(
    root: &RootFs,
    chroot: &Chroot,
    user: &User,
    source_date: &SourceDate,
) -> Result<(), ConfigureError> {
    let exists = account(root, &user.name)?.is_some();
    let mut args: Vec<OsString> = Vec::new();
    if let Some(uid) = user.uid {
        args.extend(["-u".into(), uid.to_string().into()]);
    }
    if let Some(gid) = user.gid {
        // The kickstart meaning: a primary group with that id, named after
        // the user when the image has none yet.
        if !has_gid(root, gid)? {
            groupadd(chroot, &user.name, Some(gid))?;
        }
        args.extend(["-g".into(), gid.to_string().into()]);
    }
    if !user.groups.is_empty() {
        let mut names = Vec::new();
        for spec in &user.groups {
            let (name, gid) = group_spec(spec)?;
            if !has_group(root, name)? {
                groupadd(chroot, name, gid)?;
            }
            names.push(name);
        }
        if exists {
            args.push("-a".into());
        }
        args.extend(["-G".into(), names.join(",").into()]);
    }
    for (option, value) in [
        ("-d", &user.homedir),
        ("-s", &user.shell),
        ("-c", &user.gecos),
    ] {
        if let Some(value) = value {
            args.extend([option.into(), value.into()]);
        }
    }
    let program = if exists {
        "usermod"
    } else {
        args.insert(0, "-m".into());
        "useradd"
    };
    args.push(user.name.clone().into());
    run(
        chroot,
        &format!("/usr/sbin/{program}"),
        &args,
        &format!("{program} for user {}", user.name),
    )?;
    set_password(
        chroot,
        &user.name,
        user.password.as_ref(),
        user.lock,
        source_date,
    )
}

fn set_root_password(
    root: &RootFs,
    chroot: &Chroot,
    rootpw: &RootPassword,
    source_date: &SourceDate,
) -> Result<(), ConfigureError> {
    set_password(
        chroot,
        "root",
        rootpw.password.as_ref(),
        rootpw.lock,
        source_date,
    )?;
    if rootpw.allow_ssh {
        root.write_bytes(
            &in_root(SSHD_DROP_IN)?,
            b"# rootpw --allow-ssh in the kickstart\nPermitRootLogin yes\n",
            0o644,
        )?;
    }
    Ok(())
}

/// Sets `name`'s password through `chpasswd -e` (the hash never appears on
/// a command line), then locks the account if asked.
fn set_password(
    chroot: &Chroot,
    name: &str,
    password: Option<&Password>,
    lock: bool,
    source_date: &SourceDate,
) -> Result<(), ConfigureError> {
    let command = if name == "root" { "rootpw" } else { "user" };
    if let Some(password) = password {
        let hash = match password {
            Password::Plain(text) => crypt::hash_password(text, name, source_date.seconds)?,
            Password::Crypted(hash) => hash.clone(),
        };
        if hash.contains([':', '\n']) || hash.is_empty() {
            return Err(ConfigureError::invalid(
                command,
                format!(
                    "the crypted password for {name} is not a crypt(3) hash (it is empty or has ':' or a line break)"
                ),
            ));
        }
        let stdin = temp_input(format!("{name}:{hash}\n").as_bytes())?;
        chroot.run_with_input(
            chroot.command("/usr/sbin/chpasswd", &["-e".as_ref()]),
            &format!("chpasswd for {name}"),
            Some(stdin),
        )?;
    }
    if lock {
        run(
            chroot,
            "/usr/sbin/usermod",
            &["-L".into(), name.into()],
            &format!("usermod -L {name}"),
        )?;
    }
    Ok(())
}

/// An unnamed host file holding `bytes`, to feed a command's standard input.
fn temp_input(bytes: &[u8]) -> Result<File, ConfigureError> {
    let host = |source| ConfigureError::HostFile {
        what: "a temporary file for chpasswd".to_owned(),
        source,
    };
    let mut file = tempfile::tempfile().map_err(host)?;
    file.write_all(bytes).map_err(host)?;
    file.rewind().map_err(host)?;
    Ok(file)
}

fn add_ssh_key(root: &RootFs, key: &SshKey) -> Result<(), ConfigureError> {
    let account = account(root, &key.username)?.ok_or_else(|| {
        ConfigureError::invalid(
            "sshkey",
            format!(
                "--username={}: the image has no such user; add a user line for it",
                key.username
            ),
        )
    })?;
    let owned = |mode| Meta {
        mode,
        uid: account.uid,
        gid: account.gid,
        mtime: None,
    };
    let dir = in_root(&format!("{}/.ssh", account.home))?;
    if !root.create_dir(&dir, &owned(0o700))? {
        root.set_meta(&dir, &owned(0o700))?;
    }
    let file = in_root(&format!("{}/.ssh/authorized_keys", account.home))?;
    let mut text = read_text(root, &file)?.unwrap_or_default();
    let wanted = key.key.trim();
    if !text.lines().any(|line| line.trim() == wanted) {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(wanted);
        text.push('\n');
    }
    root.write_file(&file, &mut text.as_bytes(), &owned(0o600))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    fn image(passwd: &str) -> (tempfile::TempDir, RootFs) {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir(dir.path().join("etc")).expect("etc");
        fs::write(dir.path().join("etc/passwd"), passwd).expect("passwd");
        let root = RootFs::open(dir.path()).expect("root");
        (dir, root)
    }

    #[test]
    fn keys_go_to_the_home_from_passwd_with_its_owner() {
        let (dir, root) =
            image("root:x:0:0:root:/root:/bin/bash\nann:x:1234:2345::/srv/ann:/bin/sh\n");
        let key = |text: &str| SshKey {
            username: "ann".to_owned(),
            key: text.to_owned(),
        };
        add_ssh_key(&root, &key("ssh-ed25519 AAAA one")).expect("first key");
        add_ssh_key(&root, &key("ssh-ed25519 BBBB two ")).expect("second key");
        add_ssh_key(&root, &key("ssh-ed25519 AAAA one")).expect("repeated key");
        let keys = dir.path().join("srv/ann/.ssh/authorized_keys");
        assert_eq!(
            fs::read_to_string(&keys).expect("keys"),
            "ssh-ed25519 AAAA one\nssh-ed25519 BBBB two\n"
        );
        let ssh = fs::metadata(dir.path().join("srv/ann/.ssh")).expect(".ssh");
        let file = fs::metadata(&keys).expect("file");
        assert_eq!((ssh.mode() & 0o7777, file.mode() & 0o7777), (0o700, 0o600));
        if rustix::process::geteuid().is_root() {
            assert_eq!(
                (ssh.uid(), ssh.gid(), file.uid(), file.gid()),
                (1234, 2345, 1234, 2345)
            );
        }
        let error = add_ssh_key(
            &root,
            &SshKey {
                username: "bob".to_owned(),
                key: "k".to_owned(),
            },
        )
        .expect_err("no such user");
        assert_eq!(
            error.to_string(),
            "sshkey: --username=bob: the image has no such user; add a user line for it"
        );
    }

    #[test]
    fn group_specs_may_carry_an_id() {
        assert_eq!(group_spec("wheel").expect("name"), ("wheel", None));
        assert_eq!(
            group_spec("devs(5001)").expect("name and id"),
            ("devs", Some(5001))
        );
        assert!(group_spec("devs(x)").is_err());
    }
}
