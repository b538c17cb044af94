//! The kickstart state machine: commands at the top level, and sections
//! from their `%header` to their `%end`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::{ArgError, Args};
use super::commands::{
    AutoPart, Bootloader, ClearPart, Command, Completion, CompletionAction, Firewall, Flags, Group,
    Keyboard, Lang, LiveImg, Network, OstreeSetup, Overlay, Partition, Repo, RootPassword, Selinux,
    Services, SshKey, TimeSource, Timezone, Url, User, XConfig,
};
use super::diagnostic::{Diagnostic, Origin, ParseFailure};
use super::model::{IgnoredCommand, InstallSource, Kickstart, Located, UiMode};
use super::sections::{Addon, PackageEntry, PackagesOptions, SECTION_NAMES, Script, ScriptKind};
use super::source::{Item, LineStream};
use super::words;

/// Valid options (or commands) that would change the image if applied, and
/// what the image gets instead; the user hears it at the line. Options that
/// cannot mean anything in an image built without an installer (`skipx`,
/// `shutdown`, `eula`, ...) are accepted silently.
const UNAPPLIED: &[(&str, Option<&str>, &str)] = &[
    (
        "repo",
        Some("--install"),
        "the repository is not configured in the image",
    ),
    (
        "timezone",
        Some("--ntpservers"),
        "no NTP server is written into the image",
    ),
    (
        "timezone",
        Some("--nontp"),
        "the image's time synchronisation is left as its packages set it",
    ),
    (
        "timesource",
        None,
        "no time source is written into the image",
    ),
    (
        "ostreesetup",
        None,
        "the image is built from packages, not deployed from an ostree",
    ),
    (
        "bootloader",
        Some("--password"),
        "the boot menu has no password",
    ),
    (
        "bootloader",
        Some("--iscrypted"),
        "the boot menu has no password",
    ),
    (
        "bootloader",
        Some("--location"),
        "livecompose places the boot loader itself",
    ),
    (
        "bootloader",
        Some("--boot-drive"),
        "livecompose places the boot loader itself",
    ),
    (
        "bootloader",
        Some("--driveorder"),
        "livecompose places the boot loader itself",
    ),
    (
        "bootloader",
        Some("--md5pass"),
        "the boot menu has no password",
    ),
    (
        "bootloader",
        Some("--extlinux"),
        "livecompose chooses the boot loader",
    ),
    (
        "bootloader",
        Some("--sdboot"),
        "livecompose chooses the boot loader",
    ),
];

/// Warnings for the options of `words` (a command's arguments) in [`UNAPPLIED`].
fn unapplied(command: &str, words: &[String]) -> Vec<String> {
    UNAPPLIED
        .iter()
        .filter(|(name, _, _)| *name == command)
        .filter_map(|(_, option, effect)| match option {
            None => Some(format!("{command} is not applied: {effect}")),
            Some(option) => words
                .iter()
                .any(|word| word.split('=').next() == Some(option))
                .then(|| format!("{command} {option} is not applied: {effect}")),
        })
        .collect()
}

/// Commands the kickstart language dropped; old files still carry them.
const REMOVED_COMMANDS: &[&str] = &[
    "auth",
    "authconfig",
    "install",
    "upgrade",
    "device",
    "deviceprobe",
    "interactive",
    "key",
    "langsupport",
    "lilo",
    "lilocheck",
    "method",
    "monitor",
    "mouse",
    "multipath",
    "dmraid",
    "autostep",
];

/// Valid kickstart commands that describe the installer's machine (disks,
/// storage networks, installer UI), not the image; an image build has
/// nothing to do with them.
const INSTALLER_ONLY_COMMANDS: &[&str] = &[
    "btrfs",
    "cdrom",
    "driverdisk",
    "fcoe",
    "harddrive",
    "hmc",
    "ignoredisk",
    "iscsi",
    "iscsiname",
    "logging",
    "logvol",
    "mediacheck",
    "module",
    "mount",
    "nfs",
    "nvdimm",
    "raid",
    "realm",
    "rescue",
    "rhsm",
    "snapshot",
    "sshpw",
    "syspurpose",
    "updates",
    "vnc",
    "volgroup",
    "zfcp",
    "zipl",
];

/// Every command name the parser knows, for the "unknown command" message.
const TYPED_COMMANDS: &[&str] = &[
    "url",
    "repo",
    "lang",
    "keyboard",
    "timezone",
    "timesource",
    "rootpw",
    "user",
    "group",
    "sshkey",
    "network",
    "services",
    "selinux",
    "firewall",
    "bootloader",
    "part",
    "partition",
    "clearpart",
    "zerombr",
    "autopart",
    "reqpart",
    "xconfig",
    "skipx",
    "shutdown",
    "reboot",
    "poweroff",
    "halt",
    "eula",
    "firstboot",
    "text",
    "graphical",
    "cmdline",
    "liveimg",
    "ostreesetup",
    "overlay",
];

/// A kickstart read without errors, and what is worth a warning.
#[derive(Debug)]
pub struct Parsed {
    pub kickstart: Kickstart,
    pub warnings: Vec<Diagnostic>,
}

/// Reads `path` and everything it includes.
pub fn parse_file(path: &Path) -> Result<Parsed, ParseFailure> {
    match LineStream::open(path) {
        Ok(stream) => Parser::new().run(stream),
        Err(error) => {
            let origin = Origin::new(Arc::from(path), 0);
            Err(ParseFailure {
                errors: vec![Diagnostic::error(
                    &origin,
                    format!("cannot read the kickstart: {error}"),
                )],
                warnings: vec![],
            })
        }
    }
}

/// Parses `text` as if it were the file `name` (includes resolve next to it).
pub fn parse_text(name: &Path, text: &str) -> Result<Parsed, ParseFailure> {
    Parser::new().run(LineStream::from_text(name, text))
}

/// The section being read, with the line and file that opened it.
enum Open {
    Packages,
    Script(Script),
    Addon(Addon),
}

struct OpenSection {
    section: Open,
    header: String,
    origin: Origin,
}

struct Parser {
    kickstart: Kickstart,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    open: Option<OpenSection>,
}

impl Parser {
    fn new() -> Self {
        Self {
            kickstart: Kickstart::default(),
            errors: vec![],
            warnings: vec![],
            open: None,
        }
    }

    fn run(mut self, mut stream: LineStream) -> Result<Parsed, ParseFailure> {
        while let Some(item) = stream.next_item() {
            match item {
                Item::Line { text, origin } => self.line(&text, &origin, &mut stream),
                Item::EndOfInclude { file } => self.end_of_file(&file),
            }
        }
        if let Some(file) = stream.current_file().cloned() {
            self.end_of_file(&file);
        }
        if let Some(open) = self.open.take() {
            self.unterminated(&open, "before the end of the kickstart");
        }
        if self.errors.is_empty() {
            Ok(Parsed {
                kickstart: self.kickstart,
                warnings: self.warnings,
            })
        } else {
            Err(ParseFailure {
                errors: self.errors,
                warnings: self.warnings,
            })
        }
    }

    /// A section must end in the file that opened it.
    fn end_of_file(&mut self, file: &Arc<Path>) {
        if self
            .open
            .as_ref()
            .is_some_and(|open| open.origin.file == *file)
            && let Some(open) = self.open.take()
        {
            self.unterminated(&open, "before the end of its file");
        }
    }

    fn unterminated(&mut self, open: &OpenSection, place: &str) {
        self.errors.push(Diagnostic::error(
            &open.origin,
            format!("section {} is not closed: add %end {place}", open.header),
        ));
    }

    fn error(&mut self, origin: &Origin, message: impl Into<String>) {
        self.errors.push(Diagnostic::error(origin, message));
    }

    fn line(&mut self, text: &str, origin: &Origin, stream: &mut LineStream) {
        let trimmed = text.trim_start();
        let first = trimmed.split_whitespace().next().unwrap_or_default();
        // Inside a script, only a few `%` words are structure; anything else
        // (a printf format, say) is script text.
        let structural = first.starts_with('%')
            && (first == "%end"
                || first == "%include"
                || first == "%ksappend"
                || SECTION_NAMES.contains(&first)
                || self.open.is_none());
        if !structural {
            match &mut self.open {
                Some(OpenSection {
                    section: Open::Script(script),
                    ..
                }) => push_line(&mut script.body, text),
                Some(OpenSection {
                    section: Open::Addon(addon),
                    ..
                }) => push_line(&mut addon.body, text),
                Some(OpenSection {
                    section: Open::Packages,
                    ..
                }) => self.package_line(text, origin),
                None => self.command_line(text, origin),
            }
            return;
        }
        let words = match words::split(trimmed) {
            Ok(words) => words,
            Err(error) => return self.error(origin, error.to_string()),
        };
        match first {
            "%end" => self.close_section(origin, &words),
            "%include" | "%ksappend" => match words.as_slice() {
                [_, target] => {
                    if let Err(error) = stream.include(target) {
                        self.error(origin, error.to_string());
                    }
                }
                _ => self.error(origin, format!("{first} takes exactly one file name")),
            },
            _ => {
                if let Some(open) = self.open.take() {
                    let message = format!(
                        "section {} is not closed: add %end before {first} at line {}",
                        open.header, origin.line
                    );
                    self.errors.push(Diagnostic::error(&open.origin, message));
                }
                self.open_section(first, words, origin);
            }
        }
    }

    fn close_section(&mut self, origin: &Origin, words: &[String]) {
        if words.len() > 1 {
            self.error(origin, "%end takes no arguments");
        }
        match self.open.take().map(|open| open.section) {
            None => self.error(origin, "stray %end: no section is open here"),
            Some(Open::Packages) => {}
            Some(Open::Script(script)) => self.kickstart.scripts.push(script),
            Some(Open::Addon(addon)) => self.kickstart.addons.push(addon),
        }
    }

    fn open_section(&mut self, name: &str, words: Vec<String>, origin: &Origin) {
        let mut rest = words.into_iter().skip(1);
        let section = if name == "%packages" {
            let mut args = Args::new(name, rest.collect(), PackagesOptions::OPTIONS);
            match PackagesOptions::parse(&mut args) {
                Ok(options) => {
                    self.kickstart.packages.seen = true;
                    self.kickstart.packages.options = options;
                }
                Err(error) => self.error(origin, error.to_string()),
            }
            Open::Packages
        } else if let Some(kind) = ScriptKind::from_section(name) {
            let mut args = Args::new(name, rest.collect(), Script::OPTIONS);
            match Script::parse_header(kind, &mut args, origin) {
                Ok(script) => Open::Script(script),
                Err(error) => {
                    self.error(origin, error.to_string());
                    // Keep reading to its %end so the body is not taken for commands.
                    Open::Script(Script::new(kind, origin))
                }
            }
        } else if name == "%addon" {
            let addon_name = rest.next().unwrap_or_default();
            if addon_name.is_empty() {
                self.error(
                    origin,
                    "%addon needs a name, e.g. %addon com_redhat_kdump --enable",
                );
            }
            Open::Addon(Addon {
                name: addon_name,
                arguments: rest.collect(),
                body: String::new(),
                origin: origin.clone(),
            })
        } else {
            let message = format!(
                "unknown section {name}; sections are {}",
                SECTION_NAMES.join(", ")
            );
            self.error(origin, message);
            // Skip to its %end as if it were an add-on, so its body is not
            // reported line by line.
            Open::Addon(Addon {
                name: String::new(),
                arguments: vec![],
                body: String::new(),
                origin: origin.clone(),
            })
        };
        let header = name.to_owned();
        self.open = Some(OpenSection {
            section,
            header,
            origin: origin.clone(),
        });
    }

    fn package_line(&mut self, text: &str, origin: &Origin) {
        let without_comment = text.split('#').next().unwrap_or_default().trim();
        if without_comment.is_empty() {
            return;
        }
        match PackageEntry::parse(without_comment, origin) {
            Ok(entry) => self.kickstart.packages.add(entry),
            Err(message) => self.error(origin, format!("%packages: {message}")),
        }
    }

    fn command_line(&mut self, text: &str, origin: &Origin) {
        let words = match words::split(text) {
            Ok(words) => words,
            Err(error) => return self.error(origin, error.to_string()),
        };
        let Some(name) = words.first().cloned() else {
            return;
        };
        for message in unapplied(&name, &words[1..]) {
            self.warnings.push(Diagnostic::warning(origin, message));
        }
        if let Err(error) = self.command(&name, words, origin) {
            self.error(origin, error.to_string());
        }
    }

    fn command(&mut self, name: &str, words: Vec<String>, origin: &Origin) -> Result<(), ArgError> {
        let ks = &mut self.kickstart;
        let arguments: Vec<String> = words[1..].to_vec();
        match name {
            "url" => {
                let url = parse::<Url>(name, arguments)?;
                ks.source = Some(Located {
                    value: InstallSource::Url(url),
                    origin: origin.clone(),
                });
            }
            "liveimg" => {
                let img = parse::<LiveImg>(name, arguments)?;
                ks.source = Some(Located {
                    value: InstallSource::LiveImg(img),
                    origin: origin.clone(),
                });
            }
            "ostreesetup" => ks.ostree = Some(parse::<OstreeSetup>(name, arguments)?),
            "repo" => {
                let repo = parse::<Repo>(name, arguments)?;
                if let Some(previous) = ks.repos.iter().position(|r| r.value.name == repo.name) {
                    let earlier = ks.repos.remove(previous).origin;
                    let message = format!(
                        "repo {} was already defined at {earlier}; this definition replaces it",
                        repo.name
                    );
                    self.warnings.push(Diagnostic::warning(origin, message));
                }
                ks.repos.push(Located {
                    value: repo,
                    origin: origin.clone(),
                });
            }
            "lang" => ks.lang = Some(parse::<Lang>(name, arguments)?),
            "keyboard" => ks.keyboard = Some(parse::<Keyboard>(name, arguments)?),
            "timezone" => ks.timezone = Some(parse::<Timezone>(name, arguments)?),
            "timesource" => ks.timesources.push(parse::<TimeSource>(name, arguments)?),
            "rootpw" => ks.rootpw = Some(parse::<RootPassword>(name, arguments)?),
            "user" => {
                let user = parse::<User>(name, arguments)?;
                replace_with_warning(
                    &mut ks.users,
                    user,
                    |a, b| a.name == b.name,
                    "user",
                    |u| &u.name,
                    origin,
                    &mut self.warnings,
                );
            }
            "group" => {
                let group = parse::<Group>(name, arguments)?;
                replace_with_warning(
                    &mut ks.groups,
                    group,
                    |a, b| a.name == b.name,
                    "group",
                    |g| &g.name,
                    origin,
                    &mut self.warnings,
                );
            }
            "sshkey" => ks.sshkeys.push(parse::<SshKey>(name, arguments)?),
            "network" => ks.network.push(parse::<Network>(name, arguments)?),
            "services" => {
                ks.services = Some(Located {
                    value: parse::<Services>(name, arguments)?,
                    origin: origin.clone(),
                });
            }
            "overlay" => {
                let overlay = parse::<Overlay>(name, arguments)?;
                ks.overlays.push(Located {
                    value: resolve_overlay(&overlay.path, origin)?,
                    origin: origin.clone(),
                });
            }
            "selinux" => ks.selinux = Some(parse::<Selinux>(name, arguments)?),
            "firewall" => ks.firewall = Some(parse::<Firewall>(name, arguments)?),
            "bootloader" => ks.bootloader = Some(parse::<Bootloader>(name, arguments)?),
            "part" | "partition" => {
                let part = Located {
                    value: parse::<Partition>(name, arguments)?,
                    origin: origin.clone(),
                };
                if part.value.is_unique_mountpoint() {
                    let same = |a: &Located<Partition>, b: &Located<Partition>| {
                        a.value.mountpoint == b.value.mountpoint
                    };
                    replace_with_warning(
                        &mut ks.partitions,
                        part,
                        same,
                        "partition",
                        |p| &p.value.mountpoint,
                        origin,
                        &mut self.warnings,
                    );
                } else {
                    ks.partitions.push(part);
                }
            }
            "clearpart" => {
                ks.clearpart = Some(Located {
                    value: parse::<ClearPart>(name, arguments)?,
                    origin: origin.clone(),
                });
            }
            "zerombr" => {
                Flags::parse_with(&mut Args::new(name, arguments, &[]), &[])?;
                ks.zerombr = true;
            }
            "autopart" => {
                ks.autopart = Some(Located {
                    value: parse::<AutoPart>(name, arguments)?,
                    origin: origin.clone(),
                });
            }
            "reqpart" => {
                ks.reqpart = Some(Located {
                    value: flags(name, arguments, &["--add-boot"])?,
                    origin: origin.clone(),
                });
            }
            "xconfig" => ks.xconfig = Some(parse::<XConfig>(name, arguments)?),
            "skipx" => {
                Flags::parse_with(&mut Args::new(name, arguments, &[]), &[])?;
                ks.skipx = true;
            }
            "shutdown" | "reboot" | "poweroff" | "halt" => {
                let mut completion = parse::<Completion>(name, arguments)?;
                completion.action = match name {
                    "reboot" => CompletionAction::Reboot,
                    "poweroff" => CompletionAction::Poweroff,
                    "halt" => CompletionAction::Halt,
                    _ => CompletionAction::Shutdown,
                };
                ks.completion = Some(completion);
            }
            "eula" => ks.eula = Some(flags(name, arguments, &["--agreed"])?),
            "firstboot" => {
                ks.firstboot = Some(flags(
                    name,
                    arguments,
                    &[
                        "--enable",
                        "--enabled",
                        "--disable",
                        "--disabled",
                        "--reconfig",
                    ],
                )?);
            }
            "text" | "graphical" | "cmdline" => {
                let mode = match name {
                    "text" => UiMode::Text,
                    "graphical" => UiMode::Graphical,
                    _ => UiMode::Cmdline,
                };
                ks.ui_mode = Some((mode, flags(name, arguments, &["--non-interactive"])?));
            }
            removed if REMOVED_COMMANDS.contains(&removed) => {
                let message = format!(
                    "{removed} was removed from the kickstart language; the line is ignored"
                );
                self.warnings.push(Diagnostic::warning(origin, message));
                ks.ignored.push(IgnoredCommand { words });
            }
            installer if INSTALLER_ONLY_COMMANDS.contains(&installer) => {
                let message = format!(
                    "{installer} configures the installer's machine, not the image; livecompose ignores it"
                );
                self.warnings.push(Diagnostic::warning(origin, message));
                ks.ignored.push(IgnoredCommand { words });
            }
            unknown => {
                let hint = match closest(unknown, TYPED_COMMANDS) {
                    Some(known) => format!("; did you mean {known}?"),
                    None => "; expected a kickstart command (url, repo, lang, part, ...) or a section (%packages, %post, ...)".to_owned(),
                };
                return Err(ArgError::Invalid {
                    command: unknown.to_owned(),
                    message: format!("unknown command{hint}"),
                });
            }
        }
        Ok(())
    }
}

/// The overlay directory `path` names, relative to the directory of the file
/// that holds the line, made absolute so a flattened kickstart still finds it.
fn resolve_overlay(path: &Path, origin: &Origin) -> Result<PathBuf, ArgError> {
    let base = origin.file.parent().unwrap_or(Path::new(""));
    let joined = base.join(path);
    let invalid = |message: String| ArgError::Invalid {
        command: "overlay".to_owned(),
        message,
    };
    let resolved = joined.canonicalize().map_err(|error| {
        invalid(format!(
            "cannot use {} (looked for {}): {error}",
            path.display(),
            joined.display()
        ))
    })?;
    if !resolved.is_dir() {
        return Err(invalid(format!(
            "{} is not a directory; an overlay is a directory tree copied onto the image root",
            joined.display()
        )));
    }
    Ok(resolved)
}

fn parse<C: Command>(name: &str, arguments: Vec<String>) -> Result<C, ArgError> {
    C::parse(&mut Args::new(name, arguments, C::OPTIONS))
}

fn flags(
    name: &str,
    arguments: Vec<String>,
    known: &'static [&'static str],
) -> Result<Flags, ArgError> {
    Flags::parse_with(&mut Args::new(name, arguments, known), known)
}

/// Adds `item`, replacing an earlier one that `same` matches: the later
/// definition wins, with a warning, as pykickstart does.
fn replace_with_warning<T>(
    items: &mut Vec<T>,
    item: T,
    same: impl Fn(&T, &T) -> bool,
    what: &str,
    key: impl Fn(&T) -> &String,
    origin: &Origin,
    warnings: &mut Vec<Diagnostic>,
) {
    if let Some(index) = items.iter().position(|existing| same(existing, &item)) {
        let message = format!(
            "{what} {} is defined more than once; this definition replaces the earlier one",
            key(&item)
        );
        warnings.push(Diagnostic::warning(origin, message));
        items.remove(index);
    }
    items.push(item);
}

fn push_line(body: &mut String, text: &str) {
    body.push_str(text);
    body.push('\n');
}

/// The known word nearest to a misspelling, if it is near enough to be
/// meant (also the seed's user-data check's hint for a misspelt key).
pub(crate) fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, _)| *d <= (word.len() / 3).max(1))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}
