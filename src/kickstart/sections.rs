//! The kickstart sections: `%packages`, the scripts, and `%addon`.

use super::args::{Arg, ArgError, Args};
use super::diagnostic::Origin;
use super::render::Line;

/// The section names a kickstart may open.
pub const SECTION_NAMES: [&str; 7] = [
    "%packages",
    "%pre",
    "%pre-install",
    "%post",
    "%onerror",
    "%traceback",
    "%addon",
];

/// What one `%packages` line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackageSpec {
    /// A package name, possibly a glob (`kernel-modules*`).
    Package(String),
    /// `@group`, with how much of it to take.
    Group { name: String, content: GroupContent },
    /// `@^environment`.
    Environment(String),
    /// `@module:stream/profile`.
    Module {
        name: String,
        stream: String,
        profile: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupContent {
    /// Mandatory and default packages.
    Default,
    /// `--nodefaults`: mandatory packages only.
    MandatoryOnly,
    /// `--optional`: optional packages too.
    WithOptional,
}

/// One `%packages` line: something to install, or (with `-`) to keep out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageEntry {
    pub spec: PackageSpec,
    pub exclude: bool,
    pub origin: Origin,
}

impl PackageEntry {
    /// Parses one line of a `%packages` section (comments already removed).
    pub fn parse(line: &str, origin: &Origin) -> Result<Self, String> {
        let line = line.trim();
        let (exclude, rest) = match line.strip_prefix('-') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, line),
        };
        let mut words = rest.split_whitespace();
        let first = words.next().ok_or("a package name is missing after '-'")?;
        let options: Vec<&str> = words.collect();
        let spec = if let Some(env) = first.strip_prefix("@^") {
            Self::no_options(&options, first)?;
            PackageSpec::Environment(Self::named(env, "an environment")?)
        } else if let Some(group) = first.strip_prefix('@') {
            match group.split_once(':') {
                Some((name, stream_profile)) => {
                    Self::no_options(&options, first)?;
                    let (stream, profile) = match stream_profile.split_once('/') {
                        Some((stream, profile)) => {
                            (stream, Some(Self::named(profile, "a module profile")?))
                        }
                        None => (stream_profile, None),
                    };
                    PackageSpec::Module {
                        name: Self::named(name, "a module")?,
                        stream: Self::named(stream, "a module stream")?,
                        profile,
                    }
                }
                None => {
                    let content = match options.as_slice() {
                        [] => GroupContent::Default,
                        ["--nodefaults"] => GroupContent::MandatoryOnly,
                        ["--optional"] => GroupContent::WithOptional,
                        other => {
                            return Err(format!(
                                "group {first}: unknown option {}; accepted: --nodefaults, --optional",
                                other.join(" ")
                            ));
                        }
                    };
                    PackageSpec::Group {
                        name: Self::named(group, "a group")?,
                        content,
                    }
                }
            }
        } else {
            Self::no_options(&options, first)?;
            PackageSpec::Package(first.to_owned())
        };
        if exclude && !matches!(spec, PackageSpec::Package(_) | PackageSpec::Group { .. }) {
            return Err(format!(
                "only packages and groups can be excluded, not {first}"
            ));
        }
        Ok(Self {
            spec,
            exclude,
            origin: origin.clone(),
        })
    }

    fn named(name: &str, what: &str) -> Result<String, String> {
        if name.is_empty() {
            Err(format!("{what} name is missing"))
        } else {
            Ok(name.to_owned())
        }
    }

    fn no_options(options: &[&str], first: &str) -> Result<(), String> {
        match options.first() {
            None => Ok(()),
            Some(extra) => Err(format!(
                "one package per line: {first:?} is followed by {extra:?}"
            )),
        }
    }

    pub fn render(&self) -> String {
        let sign = if self.exclude { "-" } else { "" };
        match &self.spec {
            PackageSpec::Package(name) => format!("{sign}{name}"),
            PackageSpec::Group { name, content } => {
                let option = match content {
                    GroupContent::Default => "",
                    GroupContent::MandatoryOnly => " --nodefaults",
                    GroupContent::WithOptional => " --optional",
                };
                format!("{sign}@{name}{option}")
            }
            PackageSpec::Environment(name) => format!("@^{name}"),
            PackageSpec::Module {
                name,
                stream,
                profile: None,
            } => format!("@{name}:{stream}"),
            PackageSpec::Module {
                name,
                stream,
                profile: Some(profile),
            } => format!("@{name}:{stream}/{profile}"),
        }
    }
}

/// The `%packages` header options.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PackagesOptions {
    pub exclude_docs: bool,
    pub nocore: bool,
    pub inst_langs: Option<String>,
    pub exclude_weakdeps: bool,
    pub ignore_missing: bool,
    pub multilib: bool,
    pub default: bool,
    /// `--allow-file-conflicts` (a livecompose extension): a file two
    /// packages may not share is a warning, and the later package's wins.
    pub allow_file_conflicts: bool,
}

impl PackagesOptions {
    pub const OPTIONS: &'static [&'static str] = &[
        "--excludedocs",
        "--nocore",
        "--inst-langs",
        "--instLangs",
        "--exclude-weakdeps",
        "--excludeWeakdeps",
        "--ignoremissing",
        "--multilib",
        "--default",
        "--allow-file-conflicts",
    ];

    pub fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut options = Self::default();
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--excludedocs" => options.exclude_docs = true,
                    "--nocore" => options.nocore = true,
                    "--inst-langs" | "--instLangs" => options.inst_langs = Some(args.value()?),
                    "--exclude-weakdeps" | "--excludeWeakdeps" => options.exclude_weakdeps = true,
                    "--ignoremissing" => options.ignore_missing = true,
                    "--multilib" => options.multilib = true,
                    "--default" => options.default = true,
                    "--allow-file-conflicts" => options.allow_file_conflicts = true,
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => return Err(args.unexpected(p, "")),
            }
        }
        if options.default && options.nocore {
            return Err(args.invalid("--default and --nocore contradict each other"));
        }
        Ok(options)
    }

    pub fn render(&self) -> String {
        Line::new("%packages")
            .flag("--excludedocs", self.exclude_docs)
            .flag("--nocore", self.nocore)
            .value("--inst-langs", self.inst_langs.as_ref())
            .flag("--exclude-weakdeps", self.exclude_weakdeps)
            .flag("--ignoremissing", self.ignore_missing)
            .flag("--multilib", self.multilib)
            .flag("--default", self.default)
            .flag("--allow-file-conflicts", self.allow_file_conflicts)
            .finish()
    }
}

/// Everything the `%packages` sections of a kickstart ask for.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Packages {
    /// Whether any `%packages` section was given at all.
    pub seen: bool,
    /// The options of the last `%packages` header: each header replaces them.
    pub options: PackagesOptions,
    /// Requests in the order given. A later line about the same thing replaces
    /// the earlier one, so `-foo` after `foo` leaves only the exclusion.
    pub entries: Vec<PackageEntry>,
}

impl Packages {
    pub fn add(&mut self, entry: PackageEntry) {
        self.entries.retain(|existing| existing.spec != entry.spec);
        self.entries.push(entry);
    }

    pub fn included(&self) -> impl Iterator<Item = &PackageEntry> {
        self.entries.iter().filter(|e| !e.exclude)
    }

    pub fn excluded(&self) -> impl Iterator<Item = &PackageEntry> {
        self.entries.iter().filter(|e| e.exclude)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptKind {
    Pre,
    PreInstall,
    Post,
    OnError,
    Traceback,
}

impl ScriptKind {
    pub fn from_section(name: &str) -> Option<Self> {
        Some(match name {
            "%pre" => Self::Pre,
            "%pre-install" => Self::PreInstall,
            "%post" => Self::Post,
            "%onerror" => Self::OnError,
            "%traceback" => Self::Traceback,
            _ => return None,
        })
    }

    pub fn section(self) -> &'static str {
        match self {
            Self::Pre => "%pre",
            Self::PreInstall => "%pre-install",
            Self::Post => "%post",
            Self::OnError => "%onerror",
            Self::Traceback => "%traceback",
        }
    }
}

/// A `%pre`, `%post` (or similar) script, with its body verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub kind: ScriptKind,
    pub interpreter: Option<String>,
    /// `%post` runs inside the image unless `--nochroot`; the others never do.
    pub nochroot: bool,
    /// `--nonet` (a livecompose extension): the script runs without the
    /// network, as package scripts always do.
    pub nonet: bool,
    pub error_on_fail: bool,
    pub log: Option<String>,
    pub body: String,
    pub origin: Origin,
}

impl Script {
    pub const OPTIONS: &'static [&'static str] = &[
        "--interpreter",
        "--nochroot",
        "--nonet",
        "--erroronfail",
        "--log",
        "--logfile",
    ];

    /// A script with no options and an empty body.
    pub fn new(kind: ScriptKind, origin: &Origin) -> Self {
        Script {
            kind,
            interpreter: None,
            nochroot: false,
            nonet: false,
            error_on_fail: false,
            log: None,
            body: String::new(),
            origin: origin.clone(),
        }
    }

    pub fn parse_header(
        kind: ScriptKind,
        args: &mut Args,
        origin: &Origin,
    ) -> Result<Self, ArgError> {
        let mut script = Script::new(kind, origin);
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--interpreter" => script.interpreter = Some(args.value()?),
                    "--nochroot" if kind == ScriptKind::Post => script.nochroot = true,
                    "--nonet" if kind == ScriptKind::Post => script.nonet = true,
                    "--erroronfail" => script.error_on_fail = true,
                    "--log" | "--logfile" => script.log = Some(args.value()?),
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => return Err(args.unexpected(p, "")),
            }
        }
        Ok(script)
    }

    pub fn render(&self) -> String {
        let header = Line::new(self.kind.section())
            .value("--interpreter", self.interpreter.as_ref())
            .flag("--nochroot", self.nochroot)
            .flag("--nonet", self.nonet)
            .flag("--erroronfail", self.error_on_fail)
            .value("--log", self.log.as_ref())
            .finish();
        format!("{header}\n{}%end\n", self.body)
    }
}

/// An `%addon` section: kept and written back, not interpreted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addon {
    pub name: String,
    pub arguments: Vec<String>,
    pub body: String,
    pub origin: Origin,
}

impl Addon {
    pub fn render(&self) -> String {
        let header = self
            .arguments
            .iter()
            .fold(Line::new("%addon").word(&self.name), |line, arg| {
                line.word(arg)
            })
            .finish();
        format!("{header}\n{}%end\n", self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;

    fn origin() -> Origin {
        Origin::new(Arc::from(Path::new("t.ks")), 1)
    }

    fn spec(line: &str) -> (PackageSpec, bool) {
        let entry = PackageEntry::parse(line, &origin()).unwrap();
        (entry.spec, entry.exclude)
    }

    #[test]
    fn package_lines() {
        assert_eq!(
            spec("kernel-modules*"),
            (PackageSpec::Package("kernel-modules*".into()), false)
        );
        assert_eq!(
            spec("-fcoe-utils"),
            (PackageSpec::Package("fcoe-utils".into()), true)
        );
        assert_eq!(
            spec("@core"),
            (
                PackageSpec::Group {
                    name: "core".into(),
                    content: GroupContent::Default
                },
                false
            )
        );
        assert_eq!(
            spec("@x --nodefaults"),
            (
                PackageSpec::Group {
                    name: "x".into(),
                    content: GroupContent::MandatoryOnly
                },
                false
            )
        );
        assert_eq!(
            spec("-@x"),
            (
                PackageSpec::Group {
                    name: "x".into(),
                    content: GroupContent::Default
                },
                true
            )
        );
        assert_eq!(
            spec("@^workstation-product-environment"),
            (
                PackageSpec::Environment("workstation-product-environment".into()),
                false
            )
        );
        assert_eq!(
            spec("@nodejs:18/minimal"),
            (
                PackageSpec::Module {
                    name: "nodejs".into(),
                    stream: "18".into(),
                    profile: Some("minimal".into())
                },
                false
            )
        );
    }

    #[test]
    fn bad_package_lines() {
        for line in [
            "-",
            "@",
            "@^",
            "foo bar",
            "@g --bogus",
            "-@^env",
            "@m:",
            "@:s",
        ] {
            assert!(
                PackageEntry::parse(line, &origin()).is_err(),
                "{line:?} should be rejected"
            );
        }
    }

    #[test]
    fn later_lines_replace_earlier_ones() {
        let mut packages = Packages::default();
        for line in ["foo", "bar", "-foo", "bar"] {
            packages.add(PackageEntry::parse(line, &origin()).unwrap());
        }
        let rendered: Vec<String> = packages.entries.iter().map(PackageEntry::render).collect();
        assert_eq!(rendered, ["-foo", "bar"]);
    }

    #[test]
    fn entries_render_back() {
        for line in [
            "kernel",
            "-x*",
            "@core",
            "@g --optional",
            "-@g --nodefaults",
            "@^env",
            "@m:1",
            "@m:1/p",
        ] {
            assert_eq!(PackageEntry::parse(line, &origin()).unwrap().render(), line);
        }
    }
}
