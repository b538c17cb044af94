//! Installing a set of RPM packages into the image root, the way `rpm -i`
//! of the whole set in one transaction does, without the host needing rpm.
//!
//! The packages were downloaded and checksum-verified against repodata
//! before they get here; this module trusts their content as much as the
//! repository, but not their shape: every header count and offset is
//! checked, the archive cannot name files the header does not list, and
//! every write goes through [`RootFs`], so a hostile package cannot write
//! outside the root.
//!
//! The transaction runs in rpm's order: every `%pretrans`; then, package by
//! package in dependency order, `%pre`, the files, `%post`; then every
//! `%posttrans`. A failing `%pretrans` or `%pre` stops the installation (rpm
//! would leave that package out, and the image would be missing it); a
//! failing `%post` or `%posttrans` is reported as a warning, as rpm does.
//! `%triggerin` scripts run after the `%post` of the package that fires
//! them. `%filetriggerin` scripts run after a package's files are written
//! (before its `%post` from priority 10000 up, after it below), fed the
//! matching paths on standard input: those of owners whose prefixes the
//! new package's files match, and the new package's own on the files
//! installed before it. `%transfiletriggerin` scripts run after every
//! `%posttrans`, fed the matching files of the whole transaction. File
//! triggers see the packages of this transaction only, which in a fresh
//! root is all of them. `%triggerprein` is not run; uninstall-side
//! triggers never fire on a fresh installation.
//!
//! Scriptlets and file triggers written in rpm's embedded Lua (`-p <lua>`)
//! run in an embedded Lua 5.4, in a forked child chrooted into the root
//! (see [`lua`]); a Lua error counts as a failed scriptlet.
//!
//! The database is `rpmdb.sqlite` in the image's dbpath, filled as each
//! package is installed, so a later scriptlet's `rpm -q` sees the earlier
//! packages. The keys the packages were checked against are recorded in it
//! first, as `gpg-pubkey` headers, as dnf imports them before installing.

mod caps;
mod conflicts;
mod cpio;
mod extract;
pub mod header;
pub mod lua;
mod order;
mod package;
mod pubkey;
mod rpmdb;
pub mod verify;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use pgp::composed::SignedPublicKey;
use thiserror::Error;

use self::extract::{Accounts, ExtractError};
use self::header::{Value, tag};
use self::package::{FileTrigger, FileTriggerKind, Script, ScriptKind, Trigger};
pub use self::package::{PackageError, RpmFile};
pub use self::pubkey::PubkeyError;
pub use self::rpmdb::{DbError, headers_in};
use crate::chroot::{Chroot, ChrootError};
use crate::install::conflicts::{FileConflict, FileConflicts};
use crate::install::rootfs::{Existing, InRootPath, Meta, RootError, RootFs};
use crate::interrupt::{self, Interrupted};

/// What the caller may leave out of the image (rpm's `%_excludedocs` and
/// `%_install_langs`), and where the image's rpm keeps its database.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RpmInstallOptions {
    /// Skip files marked `%doc`.
    pub exclude_docs: bool,
    /// Install only files of these languages (and those of none); `None`
    /// installs all.
    pub install_langs: Option<Vec<String>>,
    /// The image's `%_dbpath`, absolute inside the root: `/var/lib/rpm`
    /// up to Fedora 35 and on EL 9; `/usr/lib/sysimage/rpm` from Fedora 36,
    /// whose `rpm` package makes `/var/lib/rpm` a symlink to it. `None`:
    /// where a package being installed points `/var/lib/rpm`, else
    /// `/var/lib/rpm`.
    pub dbpath: Option<String>,
    /// The keys the packages were checked against, recorded in the
    /// database as `gpg-pubkey` so the image's rpm and dnf trust them too.
    pub trusted_keys: Vec<SignedPublicKey>,
    /// Whether two packages that ship one path differently stop the
    /// installation (rpm's default) or the later one's file wins
    /// (`rpm --replacefiles`).
    pub file_conflicts: FileConflicts,
    /// What the database records as the install time (seconds since 1970):
    /// the build's time, so the same build writes the same database; the
    /// clock's when not given.
    pub install_time: Option<u32>,
}

/// One installed package, in installation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledRpm {
    pub name: String,
    pub epoch: Option<u64>,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// Non-fatal problems: a failed `%post`, an unknown file owner, a
    /// configuration file written as `.rpmnew`.
    pub warnings: Vec<String>,
}

impl InstalledRpm {
    /// `name-version-release.arch`, as `rpm -qa` prints it.
    pub fn nevra(&self) -> String {
        format!(
            "{}-{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }
}

#[derive(Debug, Error)]
pub enum RpmInstallError {
    #[error("{path}: {source}")]
    Package { path: PathBuf, source: PackageError },
    #[error("installing {package}: {source}")]
    Extract {
        package: String,
        source: ExtractError,
    },
    #[error("the {scriptlet} scriptlet of {package} failed: {source}")]
    Scriptlet {
        package: String,
        scriptlet: &'static str,
        source: ChrootError,
    },
    #[error("cannot write a file trigger's input: {source}")]
    Input { source: std::io::Error },
    #[error(transparent)]
    Conflict(#[from] FileConflict),
    #[error(transparent)]
    Root(#[from] RootError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Pubkey(#[from] PubkeyError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// The transaction color rpm records as `INSTALLCOLOR`: 3 on x86_64,
/// where rpm's platform macros set `%_transaction_color 3` (multilib), 0
/// where they set none.
const INSTALL_COLOR: u32 = if cfg!(target_arch = "x86_64") { 3 } else { 0 };

/// Where a scriptlet's body is written for its interpreter to read, in
/// the database directory (which exists before any scriptlet runs).
const SCRIPT_NAME: &str = ".livecompose-scriptlet";

/// Installs `files` (in any order) into `root`, running scriptlets through
/// `chroot`, and records them in the root's rpm database. `progress` gets a
/// line per package.
pub fn install(
    root: &RootFs,
    chroot: &Chroot,
    files: &[PathBuf],
    options: &RpmInstallOptions,
    progress: &dyn Fn(&str),
) -> Result<Vec<InstalledRpm>, RpmInstallError> {
    let packages: Vec<RpmFile> = files
        .iter()
        .map(|path| {
            RpmFile::open(path).map_err(|source| RpmInstallError::Package {
                path: path.clone(),
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    let order = order::install_order(&packages);
    let now = options.install_time.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32)
    });
    let dbpath_text = options
        .dbpath
        .clone()
        .unwrap_or_else(|| image_dbpath(&packages));
    let dbpath = InRootPath::parse(&dbpath_text)?;
    // Every file list, also those of the packages the root already holds,
    // is checked before the first file is written, so a refused conflict
    // leaves the root as it was.
    let installed = installed_packages(root, &dbpath, &dbpath_text)?;
    let sharing = conflicts::check(&installed, &packages, &order, options)?;
    root.create_dir_all(&dbpath, 0o755)?;
    // Mount points for the chroot's API filesystems, with the modes the
    // `filesystem` package gives them (it may come later in the order).
    for (path, mode) in [("proc", 0o555), ("sys", 0o555), ("dev", 0o755)] {
        root.create_dir(&InRootPath::parse(path)?, &Meta::root_owned(mode))?;
    }
    let mut db = rpmdb::RpmDb::open(root.open_dir(&dbpath)?, &dbpath_text)?;
    // Keys first, as dnf imports them before the packages they sign.
    for key in &options.trusted_keys {
        let record = pubkey::key_record(key, now)?;
        if !db.provides(&record.provide)? {
            db.add(&rpmdb::Record {
                label: record.label,
                blob: record.header,
                install_tid: now,
            })?;
        }
    }
    let scripts = Scripts {
        root,
        chroot,
        script_path: format!("{}/{SCRIPT_NAME}", dbpath.to_list_entry()),
    };

    let triggers: Vec<Vec<Trigger>> = packages
        .iter()
        .map(|p| {
            p.install_triggers()
                .map_err(|source| RpmInstallError::Package {
                    path: p.path.clone(),
                    source,
                })
        })
        .collect::<Result<_, _>>()?;
    let file_triggers = all_file_triggers(&packages, FileTriggerKind::File)?;
    let trans_file_triggers = all_file_triggers(&packages, FileTriggerKind::TransFile)?;
    let mut warnings: Vec<Vec<String>> = vec![Vec::new(); packages.len()];
    for (position, warning) in sharing.warnings {
        // A conflict's warning goes to the later package, always a new one.
        if let Some(&i) = position
            .checked_sub(installed.len())
            .and_then(|at| order.get(at))
        {
            warnings[i].push(warning);
        }
    }
    for &i in &order {
        warnings[i].extend(scripts.run_fatal(&packages[i], ScriptKind::PreTrans)?);
    }
    let mut installed: Vec<InstalledRpm> = Vec::with_capacity(order.len());
    let mut files_in: Vec<InstalledFiles> = Vec::with_capacity(order.len());
    for &i in &order {
        interrupt::check()?;
        let package = &packages[i];
        progress(&format!("installing {}", package.nevra()));
        warnings[i].extend(scripts.run_fatal(package, ScriptKind::Pre)?);
        let accounts = Accounts::read(root)?;
        let extracted = extract::extract(root, package, &accounts, options).map_err(|source| {
            RpmInstallError::Extract {
                package: package.nevra(),
                source,
            }
        })?;
        let mut extra = vec![
            (tag::INSTALLTIME, Value::int32(&[now])),
            (tag::INSTALLTID, Value::int32(&[now])),
            (tag::INSTALLCOLOR, Value::int32(&[INSTALL_COLOR])),
        ];
        if !extracted.states.is_empty() {
            extra.push((tag::FILESTATES, Value::chars(&extracted.states)));
        }
        db.add(&rpmdb::Record {
            label: package.nevra(),
            blob: package.headers.installed_blob(extra),
            install_tid: now,
        })?;
        let mut notes = std::mem::take(&mut warnings[i]);
        notes.extend(extracted.warnings);
        files_in.push(InstalledFiles {
            package: i,
            states: extracted.states,
        });
        let fire = |upper| scripts.run_file_triggers(&packages, &file_triggers, &files_in, upper);
        notes.extend(fire(true)?);
        notes.extend(scripts.run_lenient(package, ScriptKind::Post)?);
        let done: Vec<usize> = order[..=installed.len()].to_vec();
        notes.extend(scripts.run_triggers(i, &done, &packages, &triggers)?);
        notes.extend(fire(false)?);
        installed.push(InstalledRpm {
            name: package.name.clone(),
            epoch: package.epoch,
            version: package.version.clone(),
            release: package.release.clone(),
            arch: package.arch.clone(),
            warnings: notes,
        });
    }
    for (&i, done) in order.iter().zip(installed.iter_mut()) {
        done.warnings
            .extend(scripts.run_lenient(&packages[i], ScriptKind::PostTrans)?);
    }
    for (&i, done) in order.iter().zip(installed.iter_mut()) {
        done.warnings.extend(scripts.run_trans_file_triggers(
            i,
            &packages,
            &trans_file_triggers[i],
            &files_in,
        )?);
    }
    Ok(installed)
}

/// The packages the database at `dbpath` in `root` already holds, if there
/// is one; nothing is created.
fn installed_packages(
    root: &RootFs,
    dbpath: &InRootPath,
    dbpath_text: &str,
) -> Result<Vec<RpmFile>, RpmInstallError> {
    if root.existing(dbpath)? != Existing::Directory {
        return Ok(Vec::new());
    }
    let dir = root.open_dir(dbpath)?;
    let label = PathBuf::from(format!("the rpm database in {dbpath_text}"));
    rpmdb::installed_headers(&dir, dbpath_text)?
        .into_iter()
        .map(|header| {
            RpmFile::installed(&label, header).map_err(|source| RpmInstallError::Package {
                path: label.clone(),
                source,
            })
        })
        .collect()
}

fn all_file_triggers(
    packages: &[RpmFile],
    kind: FileTriggerKind,
) -> Result<Vec<Vec<FileTrigger>>, RpmInstallError> {
    packages
        .iter()
        .map(|p| {
            p.file_triggers(kind)
                .map_err(|source| RpmInstallError::Package {
                    path: p.path.clone(),
                    source,
                })
        })
        .collect()
}

/// A package installed in this transaction, in installation order (the
/// order of the database's header numbers), with its `FILESTATES`.
struct InstalledFiles {
    package: usize,
    states: Vec<u8>,
}

impl InstalledFiles {
    /// The installed files of the package under `prefix`, in header order.
    /// rpm finds the packages through its index of directory names, so a
    /// package counts only if one of its directories starts with the
    /// prefix: a prefix that ends inside the last name of a path (`/a/b`
    /// for `/a/bc`, where `/a/` is the directory) finds nothing.
    fn matching<'p>(&self, package: &'p RpmFile, prefix: &[u8]) -> Vec<&'p [u8]> {
        let dir_matches = package.files.iter().any(|f| {
            let dir = match f.path.iter().rposition(|&b| b == b'/') {
                Some(slash) => &f.path[..=slash],
                None => &f.path[..],
            };
            dir.starts_with(prefix)
        });
        if !dir_matches {
            return Vec::new();
        }
        self.under(package, prefix).collect()
    }

    /// The installed files of the package whose paths start with `prefix`,
    /// in header order.
    fn under<'a, 'p: 'a>(
        &'a self,
        package: &'p RpmFile,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = &'p [u8]> + 'a {
        package
            .files
            .iter()
            .zip(&self.states)
            .filter(move |(f, state)| {
                **state == extract::STATE_NORMAL && f.path.starts_with(prefix)
            })
            .map(|(f, _)| f.path.as_slice())
    }
}

/// The priority from which rpm runs a `%filetriggerin` before the `%post`
/// of the package that fires it rather than after.
const UPPER_PRIORITY: u64 = 10000;

/// Where the image's own rpm will look for its database: where one of
/// `packages` points `/var/lib/rpm` (Fedora 36 and later ship it as a link
/// to `/usr/lib/sysimage/rpm` in the rpm package), else `/var/lib/rpm`.
/// Writing the database anywhere else would make that package's link
/// collide with a directory.
fn image_dbpath(packages: &[RpmFile]) -> String {
    const LEGACY: &str = "/var/lib/rpm";
    let link = packages.iter().flat_map(|p| &p.files).find(|f| {
        f.path == LEGACY.as_bytes() && f.mode & 0o170000 == 0o120000 && !f.link_to.is_empty()
    });
    let Some(link) = link else {
        return LEGACY.to_owned();
    };
    let mut resolved = std::path::PathBuf::from("/var/lib");
    for part in std::path::Path::new(OsStr::from_bytes(&link.link_to)).components() {
        match part {
            std::path::Component::RootDir => resolved = std::path::PathBuf::from("/"),
            std::path::Component::ParentDir => {
                resolved.pop();
            }
            std::path::Component::Normal(name) => resolved.push(name),
            std::path::Component::CurDir | std::path::Component::Prefix(_) => {}
        }
    }
    resolved.display().to_string()
}

/// Extracts the payload of `file` into `root` without scriptlets or a
/// database entry: for packages a build only borrows files from (the live
/// boot's busybox and bootloaders), which are never installed in an image.
pub fn unpack(root: &RootFs, file: &std::path::Path) -> Result<(), RpmInstallError> {
    let package = RpmFile::open(file).map_err(|source| RpmInstallError::Package {
        path: file.to_path_buf(),
        source,
    })?;
    extract::extract(
        root,
        &package,
        &Accounts::default(),
        &RpmInstallOptions::default(),
    )
    .map_err(|source| RpmInstallError::Extract {
        package: package.nevra(),
        source,
    })?;
    Ok(())
}

/// Runs scriptlets the way rpm does: `interpreter [args] script 1`, the
/// body in a file inside the root, `1` being the number of instances of
/// the package after the installation.
struct Scripts<'a> {
    root: &'a RootFs,
    chroot: &'a Chroot,
    /// Absolute inside the root.
    script_path: String,
}

/// A scriptlet that could not run or failed, with the reason.
enum ScriptOutcome {
    Ran,
    Skipped(String),
    Failed(ChrootError),
}

impl Scripts<'_> {
    fn run(&self, package: &RpmFile, kind: ScriptKind) -> Result<ScriptOutcome, RpmInstallError> {
        let script = package
            .script(kind)
            .map_err(|source| RpmInstallError::Package {
                path: package.path.clone(),
                source,
            })?;
        match script {
            Some(script) => self.execute(package, kind.name(), &script, &["1"], None),
            None => Ok(ScriptOutcome::Ran),
        }
    }

    /// Runs `script` of `package` (`name` says which, for messages) with
    /// the arguments rpm passes and, for file triggers, the matching paths
    /// on its standard input, one a line.
    fn execute(
        &self,
        package: &RpmFile,
        name: &str,
        script: &Script,
        args: &[&str],
        input: Option<&[&[u8]]>,
    ) -> Result<ScriptOutcome, RpmInstallError> {
        let Some((program, interpreter_args)) = script.interpreter.split_first() else {
            return Ok(ScriptOutcome::Ran);
        };
        let what = format!("the {name} scriptlet of {}", package.nevra());
        let script_path = InRootPath::parse(&self.script_path)?;
        let mut body = script.body.as_deref();
        let (program, argv): (&str, Vec<OsString>) = if program == lua::PROGRAM {
            // An empty chunk is a chunk: the interpreter reads it from the file.
            body = Some(body.unwrap_or_default());
            // rpm names the chunk after the scriptlet kind alone
            // (`%triggerin(...)`, not the trigger's condition).
            let kind = name.split(' ').next().unwrap_or(name);
            let chunk = format!("{kind}({})", package.nevra());
            (
                lua::PROGRAM,
                lua::arguments(&chunk, &self.script_path, args, input.is_some()),
            )
        } else if program.starts_with('/') {
            let mut argv: Vec<OsString> = interpreter_args.iter().map(OsString::from).collect();
            if body.is_some() {
                argv.push(OsString::from(&self.script_path));
            }
            argv.extend(args.iter().map(OsString::from));
            (program.as_str(), argv)
        } else {
            return Ok(ScriptOutcome::Skipped(format!(
                "the {name} scriptlet of {} is in {program}, which livecompose cannot run; skipped",
                package.nevra()
            )));
        };
        if let Some(body) = body {
            self.root.write_bytes(&script_path, body, 0o700)?;
        }
        let argv: Vec<&OsStr> = argv.iter().map(OsString::as_os_str).collect();
        let command = self.chroot.command(program, &argv);
        let stdin = input.map(input_file).transpose()?;
        let result = self.chroot.run_with_input(command, &what, stdin);
        if body.is_some() {
            self.root.remove_file(&script_path)?;
        }
        Ok(outcome(result)?)
    }

    /// `%pretrans` and `%pre`: a failure stops the installation; a
    /// scriptlet that cannot run is a warning.
    fn run_fatal(
        &self,
        package: &RpmFile,
        kind: ScriptKind,
    ) -> Result<Option<String>, RpmInstallError> {
        match self.run(package, kind)? {
            ScriptOutcome::Ran => Ok(None),
            ScriptOutcome::Skipped(why) => Ok(Some(why)),
            ScriptOutcome::Failed(source) => Err(RpmInstallError::Scriptlet {
                package: package.nevra(),
                scriptlet: kind.name(),
                source,
            }),
        }
    }

    /// `%post` and `%posttrans`: a failure is a warning.
    fn run_lenient(
        &self,
        package: &RpmFile,
        kind: ScriptKind,
    ) -> Result<Option<String>, RpmInstallError> {
        let outcome = self.run(package, kind)?;
        Ok(as_warning(package, kind.name(), outcome))
    }

    /// The `%triggerin` scripts that installing `new` fires, in rpm's
    /// order: those of the installed packages (`new` included) that
    /// trigger on it, then those of `new` on packages installed before
    /// it. Each script of a package runs once; its arguments are the
    /// instance counts of the owner and of the triggering package (1 and 1
    /// in a fresh root). A failure is a warning.
    fn run_triggers(
        &self,
        new: usize,
        installed: &[usize],
        packages: &[RpmFile],
        triggers: &[Vec<Trigger>],
    ) -> Result<Vec<String>, RpmInstallError> {
        fn add<'t>(fired: &mut Vec<(usize, &'t Trigger)>, owner: usize, trigger: &'t Trigger) {
            if !fired
                .iter()
                .any(|(o, t)| *o == owner && t.index == trigger.index)
            {
                fired.push((owner, trigger));
            }
        }
        let mut fired = Vec::new();
        for &owner in installed {
            for trigger in triggers[owner]
                .iter()
                .filter(|t| t.fires_on(&packages[new]))
            {
                add(&mut fired, owner, trigger);
            }
        }
        for trigger in &triggers[new] {
            if installed
                .iter()
                .any(|&other| other != new && trigger.fires_on(&packages[other]))
            {
                add(&mut fired, new, trigger);
            }
        }
        let mut warnings = Vec::new();
        for (owner, trigger) in fired {
            let package = &packages[owner];
            let name = format!("%triggerin -- {}", trigger.on);
            let outcome = self.execute(package, &name, &trigger.script, &["1", "1"], None)?;
            warnings.extend(as_warning(package, &name, outcome));
        }
        Ok(warnings)
    }

    /// The `%filetriggerin` scripts due after the last package of
    /// `installed` was written: those above [`UPPER_PRIORITY`] (`upper`,
    /// before its `%post`) or the rest. First the scripts of every
    /// installed package (the new one included) that its files fire, fed
    /// those files; then the new package's own scripts, fed the matching
    /// files of the packages installed before it. Each group runs by
    /// priority, highest first, then in installation order and script
    /// number, as rpm does. Arguments: `0`, as rpm passes. A failure is a
    /// warning.
    fn run_file_triggers(
        &self,
        packages: &[RpmFile],
        triggers: &[Vec<FileTrigger>],
        installed: &[InstalledFiles],
        upper: bool,
    ) -> Result<Vec<String>, RpmInstallError> {
        let Some((new, before)) = installed.split_last() else {
            return Ok(Vec::new());
        };
        let new_package = &packages[new.package];
        let in_class = |t: &FileTrigger| (t.priority >= UPPER_PRIORITY) == upper;
        let mut fired: Vec<(usize, &FileTrigger)> = Vec::new();
        for (number, owner) in installed.iter().enumerate() {
            for trigger in triggers[owner.package].iter().filter(|t| in_class(t)) {
                if new_package.files.iter().any(|f| trigger.matches(&f.path)) {
                    fired.push((number, trigger));
                }
            }
        }
        fired.sort_by_key(|(number, t)| (std::cmp::Reverse(t.priority), *number, t.index));
        let mut warnings = Vec::new();
        for (number, trigger) in fired {
            // The new package's own files: rpm has them in memory, so no
            // directory-index rule applies.
            let files: Vec<&[u8]> = trigger
                .prefixes
                .iter()
                .flat_map(|prefix| new.under(new_package, prefix))
                .collect();
            let owner = &packages[installed[number].package];
            warnings.extend(self.run_file_trigger(
                owner,
                FileTriggerKind::File,
                trigger,
                &files,
            )?);
        }
        // rpm reads the other packages' files from its database; the new
        // package's own are not among them (its in-memory file list has no
        // states yet, and rpm counts a file without a state as not
        // installed).
        let mut own: Vec<&FileTrigger> = triggers[new.package]
            .iter()
            .filter(|t| in_class(t))
            .collect();
        own.sort_by_key(|t| (std::cmp::Reverse(t.priority), t.index));
        for trigger in own {
            let files = matching_files(packages, before, trigger);
            warnings.extend(self.run_file_trigger(
                new_package,
                FileTriggerKind::File,
                trigger,
                &files,
            )?);
        }
        Ok(warnings)
    }

    /// The `%transfiletriggerin` scripts of `owner`, after every
    /// `%posttrans`: by priority, highest first, each fed the matching
    /// files of every package of the transaction.
    fn run_trans_file_triggers(
        &self,
        owner: usize,
        packages: &[RpmFile],
        triggers: &[FileTrigger],
        installed: &[InstalledFiles],
    ) -> Result<Vec<String>, RpmInstallError> {
        let mut sorted: Vec<&FileTrigger> = triggers.iter().collect();
        sorted.sort_by_key(|t| (std::cmp::Reverse(t.priority), t.index));
        let mut warnings = Vec::new();
        for trigger in sorted {
            let files = matching_files(packages, installed, trigger);
            warnings.extend(self.run_file_trigger(
                &packages[owner],
                FileTriggerKind::TransFile,
                trigger,
                &files,
            )?);
        }
        Ok(warnings)
    }

    /// Runs one file trigger script when any file matched.
    fn run_file_trigger(
        &self,
        owner: &RpmFile,
        kind: FileTriggerKind,
        trigger: &FileTrigger,
        files: &[&[u8]],
    ) -> Result<Option<String>, RpmInstallError> {
        if files.is_empty() {
            return Ok(None);
        }
        let outcome = self.execute(owner, kind.name(), &trigger.script, &["0"], Some(files))?;
        Ok(as_warning(owner, kind.name(), outcome))
    }
}

/// The installed files of `installed` under the prefixes of `trigger`:
/// prefix by prefix, package by package in installation order, as rpm
/// lists them (a file under two prefixes is listed twice).
fn matching_files<'p>(
    packages: &'p [RpmFile],
    installed: &[InstalledFiles],
    trigger: &FileTrigger,
) -> Vec<&'p [u8]> {
    trigger
        .prefixes
        .iter()
        .flat_map(|prefix| {
            installed
                .iter()
                .flat_map(move |done| done.matching(&packages[done.package], prefix))
        })
        .collect()
}

/// How a scriptlet's run ended; an interruption stops the installation.
fn outcome(result: Result<(), ChrootError>) -> Result<ScriptOutcome, Interrupted> {
    match result {
        Ok(()) => Ok(ScriptOutcome::Ran),
        Err(ChrootError::Interrupted { .. }) => Err(Interrupted),
        Err(e) => Ok(ScriptOutcome::Failed(e)),
    }
}

/// A scriptlet's standard input holding `lines`, each ended by a newline.
fn input_file(lines: &[&[u8]]) -> Result<std::fs::File, RpmInstallError> {
    use std::io::{Seek, Write};
    let io = |source| RpmInstallError::Input { source };
    let mut file = tempfile::tempfile().map_err(io)?;
    for line in lines {
        file.write_all(line).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
    }
    file.rewind().map_err(io)?;
    Ok(file)
}

/// How a scriptlet whose failure does not stop the installation is
/// reported.
fn as_warning(package: &RpmFile, name: &str, outcome: ScriptOutcome) -> Option<String> {
    match outcome {
        ScriptOutcome::Ran => None,
        ScriptOutcome::Skipped(why) => Some(why),
        ScriptOutcome::Failed(e) => Some(format!(
            "the {name} scriptlet of {} failed: {e}",
            package.nevra()
        )),
    }
}
