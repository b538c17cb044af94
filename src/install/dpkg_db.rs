//! The dpkg database inside the root (`/var/lib/dpkg`), written the way dpkg
//! writes it, so that `dpkg`, `dpkg-query` and apt run in the finished image
//! see the packages we unpacked.
//!
//! All writes go through [`RootFs`], so a hostile package that ships
//! `/var -> /` cannot redirect the database onto the host.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::deb::{DebPackage, MAINTAINER_SCRIPTS, Unpacked};
use super::deb822::{self, Paragraph};
use super::rootfs::{InRootPath, RootError, RootFs};

/// dpkg's administrative directory, relative to the root.
pub const ADMIN_DIR: &str = "var/lib/dpkg";

/// The order dpkg writes known status fields in (lib/dpkg/parse.c's field
/// table); unknown fields (Homepage, Built-Using, ...) follow in the order
/// the control file had them.
const FIELD_ORDER: &[&str] = &[
    "Package",
    "Essential",
    "Protected",
    "Status",
    "Priority",
    "Section",
    "Installed-Size",
    "Origin",
    "Maintainer",
    "Bugs",
    "Architecture",
    "Multi-Arch",
    "Source",
    "Version",
    "Config-Version",
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Conffiles",
    "Description",
    "Triggers-Pending",
    "Triggers-Awaited",
];

/// Fields that belong to an archive index entry, never to the status file.
const NOT_IN_STATUS: &[&str] = &["Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512"];

/// The status after `dpkg --unpack`.
pub const STATUS_UNPACKED: &str = "install ok unpacked";
/// The status after successful configuration.
pub const STATUS_INSTALLED: &str = "install ok installed";

#[derive(Debug, Error)]
pub enum DbError {
    #[error("dpkg database: {0}")]
    Root(#[from] RootError),
    #[error("dpkg status file: {0}")]
    Syntax(String),
    #[error("dpkg status file has no package {package}{}", arch.as_deref().map(|a| format!(":{a}")).unwrap_or_default())]
    NoSuchPackage {
        package: String,
        arch: Option<String>,
    },
}

fn admin(rel: &str) -> Result<InRootPath, RootError> {
    InRootPath::parse(format!("{ADMIN_DIR}/{rel}"))
}

/// Creates the directories and files dpkg expects before it will work in
/// the root: `status`, `available`, `diversions` and `statoverride` (empty
/// is valid for each), `info/format`, and the `info`, `updates`, `triggers`
/// and `alternatives` directories, plus `arch` naming the native
/// architecture. Existing files are left alone, so calling this on a
/// populated root is harmless.
pub fn init(root: &RootFs, native_arch: &str) -> Result<(), DbError> {
    ensure_admin_dir(root)?;
    let arch = admin("arch")?;
    if root.read(&arch)?.is_none() {
        root.write_bytes(&arch, format!("{native_arch}\n").as_bytes(), 0o644)?;
    }
    Ok(())
}

/// [`init`] without the `arch` file, which only the caller can fill in
/// correctly (a package's own architecture may be `all`).
fn ensure_admin_dir(root: &RootFs) -> Result<(), DbError> {
    root.create_dir_all(&InRootPath::parse(ADMIN_DIR)?, 0o755)?;
    for dir in ["info", "updates", "triggers", "alternatives"] {
        root.create_dir_all(&admin(dir)?, 0o755)?;
    }
    for file in ["status", "available", "diversions", "statoverride"] {
        let path = admin(file)?;
        if root.read(&path)?.is_none() {
            root.write_bytes(&path, b"", 0o644)?;
        }
    }
    // The database layout version dpkg 1.21 writes; without it dpkg
    // assumes the old flat layout and converts it on first use.
    let format = admin("info/format")?;
    if root.read(&format)?.is_none() {
        root.write_bytes(&format, b"1\n", 0o644)?;
    }
    Ok(())
}

/// Base name of a package's files in `info/`: `<pkg>` or, for
/// `Multi-Arch: same` packages, `<pkg>:<arch>`.
pub fn info_name(package: &str, arch: &str, multi_arch_same: bool) -> String {
    if multi_arch_same {
        format!("{package}:{arch}")
    } else {
        package.to_string()
    }
}

/// Records an unpacked package: its `info/` files (`.list`, every control
/// member but `control`, scripts mode 0755) and its status stanza with
/// `Status: install ok unpacked`.
pub fn record_unpacked(
    root: &RootFs,
    package: &DebPackage,
    unpacked: &Unpacked,
) -> Result<(), DbError> {
    ensure_admin_dir(root)?;
    let base = instance_name(package);

    let mut list = String::new();
    for path in &unpacked.paths {
        list.push_str(path);
        list.push('\n');
    }
    root.write_bytes(
        &admin(&format!("info/{base}.list"))?,
        list.as_bytes(),
        0o644,
    )?;

    // Scripts from an earlier version that this one no longer ships must go,
    // or the configure stage would run stale ones.
    for script in MAINTAINER_SCRIPTS
        .iter()
        .chain(&["triggers", "conffiles", "md5sums"])
    {
        if package.control_file(script).is_none() {
            root.remove_file(&admin(&format!("info/{base}.{script}"))?)?;
        }
    }
    if package.md5sums().is_none() {
        // As dpkg does for packages built without md5sums, so that
        // `dpkg --verify` works for every package in the image.
        let mut sums = String::new();
        for (path, md5) in &unpacked.md5 {
            sums.push_str(&format!("{md5}  {}\n", path.trim_start_matches('/')));
        }
        root.write_bytes(
            &admin(&format!("info/{base}.md5sums"))?,
            sums.as_bytes(),
            0o644,
        )?;
    }
    for file in package.control_files() {
        // Member names were checked when the package was read: one plain
        // component, never `list`, so they cannot clobber other info files.
        let mode = if MAINTAINER_SCRIPTS.contains(&file.name.as_str()) {
            0o755
        } else {
            0o644
        };
        root.write_bytes(
            &admin(&format!("info/{base}.{}", file.name))?,
            &file.data,
            mode,
        )?;
    }

    let stanza = status_stanza(package, unpacked, STATUS_UNPACKED);
    upsert_status(root, stanza)
}

/// Builds the status stanza dpkg would write for `package` in `status`.
fn status_stanza(package: &DebPackage, unpacked: &Unpacked, status: &str) -> Paragraph {
    let mut fields: Vec<(String, String)> = package
        .control_paragraph()
        .fields()
        .filter(|(name, _)| !NOT_IN_STATUS.iter().any(|n| n.eq_ignore_ascii_case(name)))
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case("Status") && !name.eq_ignore_ascii_case("Conffiles")
        })
        .map(|(n, v)| (canonical_name(n), v.to_string()))
        .collect();
    fields.push(("Status".to_string(), status.to_string()));
    if !package.conffiles().is_empty() {
        let mut value = String::new();
        for conffile in package.conffiles() {
            // The hash of what we wrote; "newconffile" is what dpkg records
            // while the file still sits under its .dpkg-new name, which is
            // never the case here: we unpack straight into place.
            let hash = unpacked
                .md5
                .iter()
                .find(|(path, _)| path == conffile)
                .map(|(_, md5)| md5.as_str())
                .unwrap_or("newconffile");
            value.push_str(&format!("\n {conffile} {hash}"));
        }
        fields.push(("Conffiles".to_string(), value));
    }
    let position = |name: &str| {
        FIELD_ORDER
            .iter()
            .position(|known| known.eq_ignore_ascii_case(name))
            .unwrap_or(FIELD_ORDER.len())
    };
    // A stable sort keeps unknown fields in their original order.
    fields.sort_by_key(|(name, _)| position(name));
    let mut paragraph = Paragraph::default();
    for (name, value) in fields {
        paragraph.set(&name, value);
    }
    paragraph
}

/// dpkg writes known fields with their canonical capitalisation.
fn canonical_name(name: &str) -> String {
    FIELD_ORDER
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .map(|known| known.to_string())
        .unwrap_or_else(|| name.to_string())
}

fn read_status(root: &RootFs) -> Result<Vec<Paragraph>, DbError> {
    let bytes = root.read(&admin("status")?)?.unwrap_or_default();
    let text = String::from_utf8(bytes).map_err(|_| DbError::Syntax("not UTF-8".to_string()))?;
    deb822::parse(&text).map_err(|e| DbError::Syntax(e.to_string()))
}

fn write_status(root: &RootFs, mut paragraphs: Vec<Paragraph>) -> Result<(), DbError> {
    // dpkg keeps the file sorted by package name, then architecture.
    paragraphs.sort_by(|a, b| {
        let key = |p: &Paragraph| {
            (
                p.get("Package").unwrap_or_default().to_string(),
                p.get("Architecture").unwrap_or_default().to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    let mut text = String::new();
    for paragraph in &paragraphs {
        paragraph.write_to(&mut text);
        text.push('\n');
    }
    // write_bytes renames a complete temporary over the old file, so a crash
    // never leaves dpkg a truncated status.
    root.write_bytes(&admin("status")?, text.as_bytes(), 0o644)?;
    Ok(())
}

/// Whether a status stanza is the same package instance as `name`/`arch`:
/// `Multi-Arch: same` packages are per architecture, others per name.
fn same_instance(p: &Paragraph, name: &str, arch: Option<&str>, ma_same: bool) -> bool {
    if p.get("Package") != Some(name) {
        return false;
    }
    let their_ma_same = p.get("Multi-Arch") == Some("same");
    match arch {
        Some(arch) if ma_same || their_ma_same => p.get("Architecture") == Some(arch),
        _ => true,
    }
}

fn upsert_status(root: &RootFs, stanza: Paragraph) -> Result<(), DbError> {
    let mut paragraphs = read_status(root)?;
    let name = stanza.get("Package").unwrap_or_default().to_string();
    let arch = stanza.get("Architecture").map(str::to_string);
    let ma_same = stanza.get("Multi-Arch") == Some("same");
    paragraphs.retain(|p| !same_instance(p, &name, arch.as_deref(), ma_same));
    paragraphs.push(stanza);
    write_status(root, paragraphs)
}

/// Sets the `Status:` of an installed package (for example after its
/// maintainer scripts ran). `arch` picks the instance of a `Multi-Arch:
/// same` package; `None` matches any.
pub fn set_status(
    root: &RootFs,
    package: &str,
    arch: Option<&str>,
    status: &str,
) -> Result<(), DbError> {
    let mut paragraphs = read_status(root)?;
    let mut found = false;
    for p in paragraphs
        .iter_mut()
        .filter(|p| p.get("Package") == Some(package))
        .filter(|p| arch.is_none_or(|a| p.get("Architecture") == Some(a)))
    {
        p.set("Status", status);
        found = true;
    }
    if !found {
        return Err(DbError::NoSuchPackage {
            package: package.to_string(),
            arch: arch.map(str::to_string),
        });
    }
    write_status(root, paragraphs)
}

/// Marks a package `install ok installed`, the state after configuration.
pub fn mark_installed(root: &RootFs, package: &str, arch: Option<&str>) -> Result<(), DbError> {
    set_status(root, package, arch, STATUS_INSTALLED)
}

/// `Status:` of every package in the status file, by package name (the
/// architecture is appended as `name:arch` for `Multi-Arch: same`).
pub fn statuses(root: &RootFs) -> Result<BTreeMap<String, String>, DbError> {
    Ok(read_status(root)?
        .into_iter()
        .filter_map(|p| {
            let name = p.get("Package")?;
            let key = if p.get("Multi-Arch") == Some("same") {
                format!("{name}:{}", p.get("Architecture").unwrap_or_default())
            } else {
                name.to_string()
            };
            Some((key, p.get("Status").unwrap_or_default().to_string()))
        })
        .collect())
}

/// A package the root's dpkg database holds with files: what the
/// file-conflict check needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub multi_arch_same: bool,
    /// The raw `Replaces:` value.
    pub replaces: String,
    /// Its name in `info/` ([`info_name`]).
    pub instance: String,
    /// Its `.list`, in order.
    pub paths: Vec<String>,
    /// Its `.md5sums`, by absolute path.
    pub md5: BTreeMap<String, String>,
}

/// The packages of the status file that own files (every state but
/// `not-installed` and `config-files`, as dpkg counts them).
pub fn installed(root: &RootFs) -> Result<Vec<InstalledPackage>, DbError> {
    let mut packages = Vec::new();
    for p in read_status(root)? {
        let state = p.get("Status").unwrap_or_default();
        if state.ends_with(" not-installed") || state.ends_with(" config-files") {
            continue;
        }
        let field = |name: &str| p.get(name).unwrap_or_default().trim().to_owned();
        let multi_arch_same = field("Multi-Arch") == "same";
        let instance = info_name(&field("Package"), &field("Architecture"), multi_arch_same);
        let text = |suffix: &str| -> Result<String, DbError> {
            let bytes = root.read(&admin(&format!("info/{instance}.{suffix}"))?)?;
            Ok(String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned())
        };
        let paths = text("list")?.lines().map(str::to_owned).collect();
        let md5 = text("md5sums")?
            .lines()
            .filter_map(|line| line.split_once("  "))
            .map(|(sum, path)| (format!("/{}", path.trim_start_matches('/')), sum.to_owned()))
            .collect();
        packages.push(InstalledPackage {
            name: field("Package"),
            version: field("Version"),
            architecture: field("Architecture"),
            multi_arch_same,
            replaces: field("Replaces"),
            instance,
            paths,
            md5,
        });
    }
    Ok(packages)
}

/// Removes `paths` from the `.list` of the installed `instance`: another
/// package took them over with `Replaces`, as dpkg records it.
pub fn drop_from_list(
    root: &RootFs,
    instance: &str,
    paths: &BTreeSet<&str>,
) -> Result<(), DbError> {
    let list = admin(&format!("info/{instance}.list"))?;
    let text = String::from_utf8_lossy(&root.read(&list)?.unwrap_or_default()).into_owned();
    let mut kept = String::new();
    for line in text.lines().filter(|line| !paths.contains(line)) {
        kept.push_str(line);
        kept.push('\n');
    }
    root.write_bytes(&list, kept.as_bytes(), 0o644)?;
    Ok(())
}

/// The name dpkg gives a package instance on its command line and in the
/// trigger files: `name:arch` for `Multi-Arch: same`, else `name`.
pub fn instance_name(package: &DebPackage) -> String {
    info_name(
        package.name(),
        package.architecture(),
        package.is_multi_arch_same(),
    )
}

/// Registers the trigger interests of `package`'s `triggers` control file
/// in `triggers/File` (paths) and `triggers/<name>` (explicit triggers), as
/// dpkg does when it unpacks; without them, activations find nobody.
pub fn register_trigger_interests(root: &RootFs, package: &DebPackage) -> Result<(), DbError> {
    let Some(triggers) = package.control_file("triggers") else {
        return Ok(());
    };
    let instance = instance_name(package);
    for line in String::from_utf8_lossy(triggers).lines() {
        let mut words = line.split_whitespace();
        let (Some(directive), Some(trigger)) = (words.next(), words.next()) else {
            continue;
        };
        let awaits = match directive {
            "interest" | "interest-await" => true,
            "interest-noawait" => false,
            _ => continue,
        };
        let who = if awaits {
            instance.clone()
        } else {
            format!("{instance}/noawait")
        };
        if trigger.starts_with('/') {
            append_line(root, &admin("triggers/File")?, &format!("{trigger} {who}"))?;
        } else if !trigger.contains('/') && !trigger.starts_with('.') {
            append_line(root, &admin(&format!("triggers/{trigger}"))?, &who)?;
        }
    }
    Ok(())
}

/// The file triggers of `triggers/File` that a path of `paths` activates:
/// a path activates every interest in itself or in a directory above it.
pub fn activated_file_triggers<'a>(
    root: &RootFs,
    paths: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeSet<String>, DbError> {
    let registered = root.read(&admin("triggers/File")?)?.unwrap_or_default();
    let interests: BTreeSet<String> = String::from_utf8_lossy(&registered)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(|path| path.trim_end_matches('/').to_string())
        .collect();
    let mut activated = BTreeSet::new();
    for path in paths {
        for interest in &interests {
            let under = path
                .strip_prefix(interest.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
            if under {
                activated.insert(interest.clone());
            }
        }
    }
    Ok(activated)
}

fn append_line(root: &RootFs, path: &InRootPath, line: &str) -> Result<(), DbError> {
    let mut text = String::from_utf8_lossy(&root.read(path)?.unwrap_or_default()).into_owned();
    if text.lines().any(|existing| existing == line) {
        return Ok(());
    }
    text.push_str(line);
    text.push('\n');
    root.write_bytes(path, text.as_bytes(), 0o644)?;
    Ok(())
}

/// One entry of dpkg's `diversions` file: files named `from` that a package
/// other than `package` ships are installed as `to` instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diversion {
    pub from: String,
    pub to: String,
    /// The diverting package; `:` for a local (administrator's) diversion.
    pub package: String,
}

/// The diversions registered so far (by `dpkg-divert` in maintainer scripts).
pub fn diversions(root: &RootFs) -> Result<Vec<Diversion>, DbError> {
    let text = root.read(&admin("diversions")?)?.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    if !lines.len().is_multiple_of(3) {
        return Err(DbError::Syntax(format!(
            "diversions has {} lines, not a multiple of 3",
            lines.len()
        )));
    }
    Ok(lines
        .chunks(3)
        .map(|entry| Diversion {
            from: entry[0].to_string(),
            to: entry[1].to_string(),
            package: entry[2].to_string(),
        })
        .collect())
}
