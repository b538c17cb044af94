//! The checks, over any [`Tree`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path};

use super::rpm::{self, RpmFiles};
use super::{AuditError, Entry, EntryKind, Finding, FindingKind, Policy, READ_LIMIT, Report, Tree};

/// Where anyone may write by design: the temporary directories and the
/// kernel's and runtime's own trees (their mode in an image is not what a
/// running system shows anyway).
const WRITABLE_TREES: &[&str] = &["tmp", "var/tmp", "dev", "proc", "sys", "run"];

/// Package caches: a directory and which of its files are the cache. The
/// same places `clean` empties (src/distro), checked independently.
const CACHES: &[(&str, CacheFiles)] = &[
    ("var/cache/apt/archives", CacheFiles::Suffix(".deb")),
    ("var/cache/apt", CacheFiles::Suffix(".bin")),
    // apt's lists are a cache of the archive's indexes: stale the day the
    // image ships, and tens of MiB. `lock` is apt's, not a list.
    ("var/lib/apt/lists", CacheFiles::AllBut("lock")),
    ("var/cache/dnf", CacheFiles::All),
    ("var/cache/libdnf5", CacheFiles::All),
    ("var/cache/yum", CacheFiles::All),
];

#[derive(Clone, Copy)]
enum CacheFiles {
    All,
    AllBut(&'static str),
    Suffix(&'static str),
}

/// Runs every check; findings come sorted by kind, then path.
pub fn audit(tree: &dyn Tree, policy: &Policy) -> Result<Report, AuditError> {
    let entries = tree.entries()?;
    let by_path: HashMap<&str, &Entry> = entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut report = Report {
        notes: tree.notes(),
        ..Report::default()
    };
    let findings = &mut report.findings;
    for entry in &entries {
        host_key(entry, findings);
        cloud_state(entry, findings);
        if !policy.allow_authorized_keys {
            authorized_keys(entry, findings);
        }
        build_log(entry, findings);
        world_writable(entry, findings);
    }
    for path in ["etc/machine-id", "var/lib/dbus/machine-id"] {
        machine_id(tree, by_path.get(path).copied(), findings)?;
    }
    if !policy.allow_root_password {
        root_password(tree, by_path.get("etc/shadow").copied(), findings)?;
    }
    package_caches(&entries, findings);
    unowned_setuid(tree, &entries, &by_path, &mut report)?;
    report.findings.sort();
    Ok(report)
}

fn finding(kind: FindingKind, path: &str, detail: impl Into<String>) -> Finding {
    Finding {
        kind,
        path: format!("/{path}"),
        detail: detail.into(),
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// A private host key shared by every machine booted from the image: each
/// can impersonate the others. (A symlink counts: it still names a key.)
fn host_key(entry: &Entry, findings: &mut Vec<Finding>) {
    let name = file_name(&entry.path);
    if parent(&entry.path) == "etc/ssh"
        && entry.kind != EntryKind::Dir
        && name.starts_with("ssh_host_")
        && name.ends_with("_key")
    {
        findings.push(finding(
            FindingKind::SshHostKey,
            &entry.path,
            "an SSH host key baked into the image: every instance would share it",
        ));
    }
}

/// A machine id in the image makes every instance the same machine (DHCP
/// client ids, journald, D-Bus). Empty, absent, a symlink (D-Bus's usually
/// points at /etc/machine-id) or systemd's `uninitialized` are right.
fn machine_id(
    tree: &dyn Tree,
    entry: Option<&Entry>,
    findings: &mut Vec<Finding>,
) -> Result<(), AuditError> {
    let Some(entry) = entry.filter(|e| e.kind == EntryKind::File && e.size > 0) else {
        return Ok(());
    };
    let bytes = tree.read(entry, READ_LIMIT)?;
    let id = String::from_utf8_lossy(&bytes);
    let id = id.trim();
    if !id.is_empty() && id != "uninitialized" {
        findings.push(finding(
            FindingKind::MachineId,
            &entry.path,
            format!("holds the machine id {id}: every instance would share it"),
        ));
    }
    Ok(())
}

/// root's password field: a hash, or empty (a login without any password),
/// unless the kickstart asked for one. `!` or `*` at the start locks it.
fn root_password(
    tree: &dyn Tree,
    shadow: Option<&Entry>,
    findings: &mut Vec<Finding>,
) -> Result<(), AuditError> {
    let Some(shadow) = shadow.filter(|e| e.kind == EntryKind::File) else {
        return Ok(());
    };
    let bytes = tree.read(shadow, READ_LIMIT)?;
    let text = String::from_utf8_lossy(&bytes);
    let Some(field) = text
        .lines()
        .find_map(|line| line.strip_prefix("root:"))
        .map(|rest| rest.split(':').next().unwrap_or(""))
    else {
        return Ok(());
    };
    let detail = if field.is_empty() {
        "root's password is empty: root logs in without one"
    } else if field.starts_with('!') || field.starts_with('*') {
        return Ok(());
    } else {
        "root has a password (a hash) the kickstart did not ask for (--allow-root-password if it did)"
    };
    findings.push(finding(FindingKind::RootPassword, &shadow.path, detail));
    Ok(())
}

/// cloud-init's state from the build (`instance`, `instances`, `data`,
/// `sem`...) makes the first boot of an instance look like a reboot of the
/// build's, so per-instance modules (users, keys, hostname) never run. One
/// finding per top-level name under /var/lib/cloud.
fn cloud_state(entry: &Entry, findings: &mut Vec<Finding>) {
    if parent(&entry.path) == "var/lib/cloud" {
        findings.push(finding(
            FindingKind::CloudInitState,
            &entry.path,
            "cloud-init state left from the build: instances would not initialise as new",
        ));
    }
}

/// Keys that let someone in to every instance; a template has none unless
/// the kickstart's `sshkey` put them there (--allow-authorized-keys).
fn authorized_keys(entry: &Entry, findings: &mut Vec<Finding>) {
    let name = file_name(&entry.path);
    if name != "authorized_keys" && name != "authorized_keys2" {
        return;
    }
    let ssh_dir = parent(&entry.path);
    let home = parent(ssh_dir);
    let is_home = home == "root" || (parent(home) == "home" && !home.is_empty());
    if file_name(ssh_dir) == ".ssh" && is_home {
        findings.push(finding(
            FindingKind::AuthorizedKeys,
            &entry.path,
            "SSH keys nobody asked for: they log in to every instance (--allow-authorized-keys if the kickstart's sshkey put them there)",
        ));
    }
}

/// What a build leaves that is not the system: the kickstart an installer
/// copies into root's home (it may hold passwords), anaconda's logs, and
/// livecompose's own work files in /tmp. Debian's dpkg.log, apt's
/// history.log and alternatives.log are not findings: every installed
/// Debian system has them, and they say what is installed, not how it was
/// built.
fn build_log(entry: &Entry, findings: &mut Vec<Finding>) {
    let path = entry.path.as_str();
    let detail = if matches!(
        path,
        "root/anaconda-ks.cfg" | "root/original-ks.cfg" | "root/install.log"
    ) {
        "the installer's kickstart or log (it may hold passwords)"
    } else if parent(path) == "var/log/anaconda" && entry.kind == EntryKind::File {
        "anaconda's log from the build"
    } else if parent(path) == "tmp" && file_name(path).starts_with("livecompose-") {
        "livecompose's work file from the build"
    } else {
        return;
    };
    findings.push(finding(FindingKind::BuildLog, path, detail));
}

/// Anyone may change a world-writable file, or replace what is in a
/// world-writable directory without the sticky bit. Symlinks are always
/// 0777 and mean nothing; devices, fifos and sockets are left out.
fn world_writable(entry: &Entry, findings: &mut Vec<Finding>) {
    if entry.mode & 0o002 == 0
        || WRITABLE_TREES
            .iter()
            .any(|dir| entry.path == *dir || under(&entry.path, dir))
    {
        return;
    }
    let detail = match entry.kind {
        EntryKind::File => format!("a world-writable file (mode {:04o})", entry.mode),
        EntryKind::Dir if entry.mode & 0o1000 == 0 => format!(
            "a world-writable directory without the sticky bit (mode {:04o})",
            entry.mode
        ),
        _ => return,
    };
    findings.push(finding(FindingKind::WorldWritable, &entry.path, detail));
}

/// One finding per cache directory that holds any of its cache files.
fn package_caches(entries: &[Entry], findings: &mut Vec<Finding>) {
    let mut found: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for entry in entries.iter().filter(|e| e.kind == EntryKind::File) {
        let dir = parent(&entry.path);
        let name = file_name(&entry.path);
        for (cache, files) in CACHES {
            // dnf and yum keep their caches in subdirectories; apt's are flat
            // (its `partial/` holds downloads cut short: a cache too).
            let in_cache = match files {
                CacheFiles::All => under(&entry.path, cache),
                CacheFiles::AllBut(kept) => (dir == *cache && name != *kept) || under(dir, cache),
                CacheFiles::Suffix(suffix) => dir == *cache && name.ends_with(suffix),
            };
            if in_cache {
                let (count, bytes) = found.entry(cache).or_default();
                *count += 1;
                *bytes += entry.size;
                break;
            }
        }
    }
    for (cache, (count, bytes)) in found {
        findings.push(finding(
            FindingKind::PackageCache,
            cache,
            format!("a package cache left in the image: {count} file(s), {bytes} bytes"),
        ));
    }
}

/// setuid or setgid regular files no package ships: the one a package
/// ships is the distribution's; another one is someone's backdoor or a
/// forgotten test. Packages are read from dpkg's file lists and from the
/// rpm database; an rpm database in a format not read gives a note, and
/// nothing is reported.
fn unowned_setuid(
    tree: &dyn Tree,
    entries: &[Entry],
    by_path: &HashMap<&str, &Entry>,
    report: &mut Report,
) -> Result<(), AuditError> {
    let privileged: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && e.mode & 0o6000 != 0)
        .collect();
    if privileged.is_empty() {
        return Ok(());
    }
    let lists: Vec<&Entry> = entries
        .iter()
        .filter(|e| {
            e.kind == EntryKind::File
                && parent(&e.path) == "var/lib/dpkg/info"
                && e.path.ends_with(".list")
        })
        .collect();
    let mut packaged = Vec::new();
    for list in &lists {
        let bytes = tree.read(list, READ_LIMIT)?;
        packaged.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_owned));
    }
    match rpm::packaged_files(tree, by_path)? {
        RpmFiles::Absent => {}
        // A Debian root may hold rpm's empty directory; its dpkg lists
        // still judge it.
        RpmFiles::Unread(why) if lists.is_empty() => {
            report.notes.push(format!(
                "{} setuid/setgid file(s) not checked against the RPM database: {why}",
                privileged.len()
            ));
            return Ok(());
        }
        RpmFiles::Unread(_) => {}
        RpmFiles::Listed(files) => packaged.extend(files),
    }
    // Packages list paths as packaged (/bin/mount); on a merged-/usr
    // system the file is reached through the bin -> usr/bin symlink.
    let owned: HashSet<String> = packaged
        .iter()
        .filter_map(|path| resolve(path, by_path))
        .collect();
    for entry in privileged {
        if !owned.contains(&entry.path) {
            report.findings.push(finding(
                FindingKind::UnownedSetuid,
                &entry.path,
                format!(
                    "a set{} file (mode {:04o}, owner uid {}) that no package ships",
                    if entry.mode & 0o4000 != 0 {
                        "uid"
                    } else {
                        "gid"
                    },
                    entry.mode,
                    entry.uid
                ),
            ));
        }
    }
    Ok(())
}

/// The image path `path` (absolute, in the image) reaches, following the
/// image's own directory symlinks (never the host's): at most 40 of them,
/// as the kernel. None when it leaves the image's entries.
pub(super) fn resolve(path: &str, by_path: &HashMap<&str, &Entry>) -> Option<String> {
    let mut pending: Vec<String> = Path::new(path)
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_owned()),
            _ => None,
        })
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            done.pop();
            continue;
        }
        done.push(name);
        // The last component is the file itself: not followed.
        if pending.is_empty() {
            break;
        }
        let here = done.join("/");
        let Some(target) = by_path.get(here.as_str()).and_then(|e| e.link.as_ref()) else {
            continue;
        };
        hops += 1;
        if hops > 40 {
            return None;
        }
        done.pop();
        if target.is_absolute() {
            done.clear();
        }
        for component in target.components().rev() {
            match component {
                Component::Normal(name) => pending.push(name.to_string_lossy().into_owned()),
                Component::ParentDir => pending.push("..".to_owned()),
                _ => {}
            }
        }
    }
    (!done.is_empty()).then(|| done.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(path: &str, target: &str) -> Entry {
        Entry {
            path: path.to_owned(),
            kind: EntryKind::Symlink,
            mode: 0o777,
            uid: 0,
            size: 0,
            link: Some(target.into()),
        }
    }

    #[test]
    fn dpkg_paths_resolve_through_the_images_own_symlinks() {
        let entries = [
            link("bin", "usr/bin"),
            link("usr/sbin2", "/usr/sbin"),
            link("loop", "loop"),
        ];
        let by_path = entries.iter().map(|e| (e.path.as_str(), e)).collect();
        assert_eq!(
            resolve("/bin/mount", &by_path).as_deref(),
            Some("usr/bin/mount")
        );
        assert_eq!(
            resolve("/usr/sbin2/x", &by_path).as_deref(),
            Some("usr/sbin/x")
        );
        assert_eq!(
            resolve("/usr/bin/su", &by_path).as_deref(),
            Some("usr/bin/su")
        );
        assert_eq!(resolve("/loop/x", &by_path), None);
        assert_eq!(resolve("/..", &by_path), None);
    }
}
