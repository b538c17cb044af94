//! The kickstart commands livecompose understands, as typed values.
//!
//! Each command keeps its parser (words → value) beside its renderer
//! (value → line), so `flatten` writes back exactly what was read.

use std::path::PathBuf;

use super::args::{Arg, ArgError, Args};
use super::render::Line;

/// A command that reads its arguments and writes itself back.
pub trait Command: Sized {
    /// Every option the command accepts, for error messages.
    const OPTIONS: &'static [&'static str];
    fn parse(args: &mut Args) -> Result<Self, ArgError>;
    fn render(&self, name: &str) -> String;
}

/// Where a repository's package list is found, as dnf names the three ways.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepoLocation {
    BaseUrl(String),
    MirrorList(String),
    Metalink(String),
}

impl RepoLocation {
    pub fn url(&self) -> &str {
        match self {
            Self::BaseUrl(url) | Self::MirrorList(url) | Self::Metalink(url) => url,
        }
    }
}

/// livecompose's extension: `--suite` makes a `url`/`repo` a Debian archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebianSuite {
    pub suite: String,
    /// `main` unless `--components` says otherwise.
    pub components: Vec<String>,
}

/// Options `url` and `repo` share.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceOptions {
    pub location: Option<RepoLocation>,
    pub proxy: Option<String>,
    pub noverifyssl: bool,
    pub debian: Option<DebianSuite>,
    pub gpgkey: Option<String>,
    pub nogpgcheck: bool,
}

impl SourceOptions {
    /// Handles `option` if it is one of the shared ones; `Ok(false)` if not.
    fn parse_option(
        &mut self,
        option: &str,
        args: &mut Args,
        location_option: &str,
    ) -> Result<bool, ArgError> {
        let location = match option {
            o if o == location_option => Some(RepoLocation::BaseUrl(args.value()?)),
            "--mirrorlist" => Some(RepoLocation::MirrorList(args.value()?)),
            "--metalink" => Some(RepoLocation::Metalink(args.value()?)),
            _ => None,
        };
        if let Some(location) = location {
            if self.location.is_some() {
                return Err(args.invalid(format!(
                    "give only one of {location_option}, --mirrorlist and --metalink"
                )));
            }
            self.location = Some(location);
            return Ok(true);
        }
        match option {
            "--proxy" => self.proxy = Some(args.value()?),
            "--noverifyssl" => self.noverifyssl = true,
            "--suite" => {
                let suite = args.value()?;
                let components = self.debian.take().map(|d| d.components).unwrap_or_default();
                self.debian = Some(DebianSuite { suite, components });
            }
            "--components" => {
                let components = args.list()?;
                match &mut self.debian {
                    Some(debian) => debian.components = components,
                    None => {
                        self.debian = Some(DebianSuite {
                            suite: String::new(),
                            components,
                        })
                    }
                }
            }
            "--gpgkey" => self.gpgkey = Some(args.value()?),
            "--nogpgcheck" => self.nogpgcheck = true,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Cross-option checks, once every option is read.
    fn finish(&mut self, args: &Args, location_option: &str) -> Result<(), ArgError> {
        if self.location.is_none() {
            return Err(args.invalid(format!(
                "one of {location_option}, --mirrorlist or --metalink is required"
            )));
        }
        if let Some(debian) = &mut self.debian {
            if debian.suite.is_empty() {
                return Err(args
                    .invalid("--components only applies to a Debian archive: add --suite=SUITE"));
            }
            if !matches!(self.location, Some(RepoLocation::BaseUrl(_))) {
                return Err(args.invalid(format!(
                    "a Debian archive (--suite) needs {location_option}; Debian has no mirror lists"
                )));
            }
            if debian.components.is_empty() {
                debian.components.push("main".to_owned());
            }
        }
        Ok(())
    }

    fn render(&self, line: Line, location_option: &str) -> Line {
        let line = match &self.location {
            Some(RepoLocation::BaseUrl(url)) => line.value(location_option, Some(url)),
            Some(RepoLocation::MirrorList(url)) => line.value("--mirrorlist", Some(url)),
            Some(RepoLocation::Metalink(url)) => line.value("--metalink", Some(url)),
            None => line,
        };
        let line = match &self.debian {
            Some(debian) => line
                .value("--suite", Some(&debian.suite))
                .list("--components", &debian.components),
            None => line,
        };
        line.value("--proxy", self.proxy.as_ref())
            .flag("--noverifyssl", self.noverifyssl)
            .value("--gpgkey", self.gpgkey.as_ref())
            .flag("--nogpgcheck", self.nogpgcheck)
    }
}

/// `url`: the installation source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url(pub SourceOptions);

impl Command for Url {
    const OPTIONS: &'static [&'static str] = &[
        "--url",
        "--mirrorlist",
        "--metalink",
        "--proxy",
        "--noverifyssl",
        "--suite",
        "--components",
        "--gpgkey",
        "--nogpgcheck",
    ];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut source = SourceOptions::default();
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) if source.parse_option(&o, args, "--url")? => {}
                Arg::Option(o) => return Err(args.unknown(o)),
                Arg::Positional(p) => {
                    return Err(args.unexpected(p, "; give the address as --url=URL"));
                }
            }
        }
        source.finish(args, "--url")?;
        Ok(Self(source))
    }

    fn render(&self, name: &str) -> String {
        self.0.render(Line::new(name), "--url").finish()
    }
}

/// `repo`: an additional package repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repo {
    pub name: String,
    pub source: SourceOptions,
    pub cost: Option<u32>,
    pub excludepkgs: Vec<String>,
    pub includepkgs: Vec<String>,
    pub install: bool,
}

impl Command for Repo {
    const OPTIONS: &'static [&'static str] = &[
        "--name",
        "--baseurl",
        "--cost",
        "--excludepkgs",
        "--includepkgs",
        "--install",
        "--mirrorlist",
        "--metalink",
        "--proxy",
        "--noverifyssl",
        "--suite",
        "--components",
        "--gpgkey",
        "--nogpgcheck",
    ];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut repo = Repo {
            name: String::new(),
            source: SourceOptions::default(),
            cost: None,
            excludepkgs: vec![],
            includepkgs: vec![],
            install: false,
        };
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) if repo.source.parse_option(&o, args, "--baseurl")? => {}
                Arg::Option(o) => match o.as_str() {
                    "--name" => repo.name = args.value()?,
                    "--cost" => {
                        repo.cost = Some(args.parsed("a whole number (lower is preferred)")?)
                    }
                    "--excludepkgs" => repo.excludepkgs = args.list()?,
                    "--includepkgs" => repo.includepkgs = args.list()?,
                    "--install" => repo.install = true,
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => return Err(args.unexpected(p, "; repo takes only options")),
            }
        }
        if repo.name.is_empty() {
            return Err(args.invalid("--name=NAME is required"));
        }
        repo.source.finish(args, "--baseurl")?;
        Ok(repo)
    }

    fn render(&self, name: &str) -> String {
        let line = Line::new(name).value("--name", Some(&self.name));
        self.source
            .render(line, "--baseurl")
            .value("--cost", self.cost)
            .list("--excludepkgs", &self.excludepkgs)
            .list("--includepkgs", &self.includepkgs)
            .flag("--install", self.install)
            .finish()
    }
}

/// `lang`: the system language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lang {
    pub lang: String,
    pub addsupport: Vec<String>,
}

impl Command for Lang {
    const OPTIONS: &'static [&'static str] = &["--addsupport"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut lang = None;
        let mut addsupport = vec![];
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) if o == "--addsupport" => addsupport = args.list()?,
                Arg::Option(o) => return Err(args.unknown(o)),
                Arg::Positional(p) if lang.is_none() => lang = Some(p),
                Arg::Positional(p) => return Err(args.unexpected(p, "; lang takes one language")),
            }
        }
        let lang =
            lang.ok_or_else(|| args.invalid("a language is required, e.g. lang en_US.UTF-8"))?;
        Ok(Self { lang, addsupport })
    }

    fn render(&self, name: &str) -> String {
        Line::new(name)
            .word(&self.lang)
            .list("--addsupport", &self.addsupport)
            .finish()
    }
}

/// `keyboard`: a legacy keymap, or the console keymap and X layouts.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Keyboard {
    pub keymap: Option<String>,
    pub vckeymap: Option<String>,
    pub xlayouts: Vec<String>,
    pub switch: Vec<String>,
}

impl Command for Keyboard {
    const OPTIONS: &'static [&'static str] = &["--vckeymap", "--xlayouts", "--switch"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut kb = Keyboard::default();
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--vckeymap" => kb.vckeymap = Some(args.value()?),
                    "--xlayouts" => kb.xlayouts = args.list()?,
                    "--switch" => kb.switch = args.list()?,
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) if kb.keymap.is_none() => kb.keymap = Some(p),
                Arg::Positional(p) => return Err(args.unexpected(p, "; keyboard takes one keymap")),
            }
        }
        if kb.keymap.is_none() && kb.vckeymap.is_none() && kb.xlayouts.is_empty() {
            return Err(args.invalid(
                "a keymap is required: keyboard us, or --vckeymap=KEYMAP, or --xlayouts=LAYOUTS",
            ));
        }
        Ok(kb)
    }

    fn render(&self, name: &str) -> String {
        let mut line = Line::new(name);
        if let Some(keymap) = &self.keymap {
            line = line.word(keymap);
        }
        line.value("--vckeymap", self.vckeymap.as_ref())
            .list("--xlayouts", &self.xlayouts)
            .list("--switch", &self.switch)
            .finish()
    }
}

/// `timezone`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Timezone {
    pub zone: Option<String>,
    pub utc: bool,
    pub nontp: bool,
    pub ntpservers: Vec<String>,
}

impl Command for Timezone {
    const OPTIONS: &'static [&'static str] = &["--utc", "--isUtc", "--nontp", "--ntpservers"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut tz = Timezone::default();
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--utc" | "--isUtc" => tz.utc = true,
                    "--nontp" => tz.nontp = true,
                    "--ntpservers" => tz.ntpservers = args.list()?,
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) if tz.zone.is_none() => tz.zone = Some(p),
                Arg::Positional(p) => {
                    return Err(args.unexpected(p, "; timezone takes one zone, e.g. Europe/Berlin"));
                }
            }
        }
        if tz.nontp && !tz.ntpservers.is_empty() {
            return Err(args.invalid("--nontp and --ntpservers contradict each other"));
        }
        if tz.zone.is_none() && !tz.utc {
            return Err(args.invalid("a time zone is required, e.g. timezone Etc/UTC"));
        }
        Ok(tz)
    }

    fn render(&self, name: &str) -> String {
        let mut line = Line::new(name);
        if let Some(zone) = &self.zone {
            line = line.word(zone);
        }
        line.flag("--utc", self.utc)
            .flag("--nontp", self.nontp)
            .list("--ntpservers", &self.ntpservers)
            .finish()
    }
}

/// `timesource`: one time source (a server, a pool, or none at all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeSource {
    Server { host: String, nts: bool },
    Pool { host: String, nts: bool },
    Disabled,
}

impl Command for TimeSource {
    const OPTIONS: &'static [&'static str] =
        &["--ntp-server", "--ntp-pool", "--ntp-disable", "--nts"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut source = None;
        let mut nts = false;
        while let Some(arg) = args.next_arg()? {
            let next = match arg {
                Arg::Option(o) => match o.as_str() {
                    "--ntp-server" => TimeSource::Server {
                        host: args.value()?,
                        nts: false,
                    },
                    "--ntp-pool" => TimeSource::Pool {
                        host: args.value()?,
                        nts: false,
                    },
                    "--ntp-disable" => TimeSource::Disabled,
                    "--nts" => {
                        nts = true;
                        continue;
                    }
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => return Err(args.unexpected(p, "")),
            };
            if source.replace(next).is_some() {
                return Err(
                    args.invalid("give one of --ntp-server, --ntp-pool or --ntp-disable per line")
                );
            }
        }
        match source {
            Some(TimeSource::Server { host, .. }) => Ok(TimeSource::Server { host, nts }),
            Some(TimeSource::Pool { host, .. }) => Ok(TimeSource::Pool { host, nts }),
            Some(TimeSource::Disabled) if nts => Err(args.invalid("--nts needs a server or pool")),
            Some(TimeSource::Disabled) => Ok(TimeSource::Disabled),
            None => {
                Err(args.invalid("one of --ntp-server, --ntp-pool or --ntp-disable is required"))
            }
        }
    }

    fn render(&self, name: &str) -> String {
        let line = Line::new(name);
        match self {
            TimeSource::Server { host, nts } => {
                line.value("--ntp-server", Some(host)).flag("--nts", *nts)
            }
            TimeSource::Pool { host, nts } => {
                line.value("--ntp-pool", Some(host)).flag("--nts", *nts)
            }
            TimeSource::Disabled => line.word("--ntp-disable"),
        }
        .finish()
    }
}

/// A password as kickstart gives it: plain text, or already a crypt(3) hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Password {
    Plain(String),
    Crypted(String),
}

/// `rootpw`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootPassword {
    pub password: Option<Password>,
    pub lock: bool,
    pub allow_ssh: bool,
}

impl Command for RootPassword {
    const OPTIONS: &'static [&'static str] =
        &["--iscrypted", "--plaintext", "--lock", "--allow-ssh"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let (mut crypted, mut plaintext, mut lock, mut allow_ssh, mut secret) =
            (false, false, false, false, None);
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--iscrypted" => crypted = true,
                    "--plaintext" => plaintext = true,
                    "--lock" => lock = true,
                    "--allow-ssh" => allow_ssh = true,
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) if secret.is_none() => secret = Some(p),
                Arg::Positional(_) => {
                    return Err(args.invalid("takes one password; quote it if it has spaces"));
                }
            }
        }
        if crypted && plaintext {
            return Err(args.invalid("--iscrypted and --plaintext contradict each other"));
        }
        if secret.is_none() && !lock {
            return Err(args.invalid("a password is required (or --lock to lock the account)"));
        }
        let password = secret.map(|s| {
            if crypted {
                Password::Crypted(s)
            } else {
                Password::Plain(s)
            }
        });
        Ok(Self {
            password,
            lock,
            allow_ssh,
        })
    }

    fn render(&self, name: &str) -> String {
        let line = Line::new(name);
        let line = match &self.password {
            Some(Password::Crypted(hash)) => line.word("--iscrypted").word(hash),
            Some(Password::Plain(text)) => line.word("--plaintext").word(text),
            None => line,
        };
        line.flag("--lock", self.lock)
            .flag("--allow-ssh", self.allow_ssh)
            .finish()
    }
}

/// `user`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct User {
    pub name: String,
    pub password: Option<Password>,
    pub lock: bool,
    pub gecos: Option<String>,
    pub groups: Vec<String>,
    pub homedir: Option<String>,
    pub shell: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Command for User {
    const OPTIONS: &'static [&'static str] = &[
        "--name",
        "--password",
        "--iscrypted",
        "--plaintext",
        "--lock",
        "--gecos",
        "--groups",
        "--homedir",
        "--shell",
        "--uid",
        "--gid",
    ];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut user = User::default();
        let (mut secret, mut crypted, mut plaintext) = (None, false, false);
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--name" => user.name = args.value()?,
                    "--password" => secret = Some(args.value()?),
                    "--iscrypted" => crypted = true,
                    "--plaintext" => plaintext = true,
                    "--lock" => user.lock = true,
                    "--gecos" => user.gecos = Some(args.value()?),
                    "--groups" => user.groups = args.list()?,
                    "--homedir" => user.homedir = Some(args.value()?),
                    "--shell" => user.shell = Some(args.value()?),
                    "--uid" => user.uid = Some(args.parsed("a numeric user id")?),
                    "--gid" => user.gid = Some(args.parsed("a numeric group id")?),
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => {
                    return Err(args.unexpected(p, "; give the name as --name=NAME"));
                }
            }
        }
        if user.name.is_empty() {
            return Err(args.invalid("--name=NAME is required"));
        }
        if crypted && plaintext {
            return Err(args.invalid("--iscrypted and --plaintext contradict each other"));
        }
        user.password = secret.map(|s| {
            if crypted {
                Password::Crypted(s)
            } else {
                Password::Plain(s)
            }
        });
        Ok(user)
    }

    fn render(&self, name: &str) -> String {
        let line = Line::new(name).value("--name", Some(&self.name));
        let line = match &self.password {
            Some(Password::Crypted(hash)) => {
                line.value("--password", Some(hash)).word("--iscrypted")
            }
            Some(Password::Plain(text)) => line.value("--password", Some(text)).word("--plaintext"),
            None => line,
        };
        line.flag("--lock", self.lock)
            .value("--gecos", self.gecos.as_ref())
            .list("--groups", &self.groups)
            .value("--homedir", self.homedir.as_ref())
            .value("--shell", self.shell.as_ref())
            .value("--uid", self.uid)
            .value("--gid", self.gid)
            .finish()
    }
}

/// `group`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: Option<u32>,
}

impl Command for Group {
    const OPTIONS: &'static [&'static str] = &["--name", "--gid"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let (mut name, mut gid) = (String::new(), None);
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) if o == "--name" => name = args.value()?,
                Arg::Option(o) if o == "--gid" => gid = Some(args.parsed("a numeric group id")?),
                Arg::Option(o) => return Err(args.unknown(o)),
                Arg::Positional(p) => {
                    return Err(args.unexpected(p, "; give the name as --name=NAME"));
                }
            }
        }
        if name.is_empty() {
            return Err(args.invalid("--name=NAME is required"));
        }
        Ok(Self { name, gid })
    }

    fn render(&self, name: &str) -> String {
        Line::new(name)
            .value("--name", Some(&self.name))
            .value("--gid", self.gid)
            .finish()
    }
}

/// `sshkey`: an authorized key for a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshKey {
    pub username: String,
    pub key: String,
}

impl Command for SshKey {
    const OPTIONS: &'static [&'static str] = &["--username"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let (mut username, mut key) = (String::new(), None);
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) if o == "--username" => username = args.value()?,
                Arg::Option(o) => return Err(args.unknown(o)),
                Arg::Positional(p) if key.is_none() => key = Some(p),
                Arg::Positional(_) => return Err(args.invalid("the key must be one quoted argument: sshkey --username=root \"ssh-ed25519 AAAA...\"")),
            }
        }
        if username.is_empty() {
            return Err(args.invalid("--username=NAME is required"));
        }
        let key = key.ok_or_else(|| args.invalid("the public key is required, quoted"))?;
        Ok(Self { username, key })
    }

    fn render(&self, name: &str) -> String {
        Line::new(name)
            .value("--username", Some(&self.username))
            .word(&self.key)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootProto {
    Dhcp,
    Bootp,
    Static,
    Query,
    Ibft,
}

const BOOTPROTOS: [(&str, BootProto); 5] = [
    ("dhcp", BootProto::Dhcp),
    ("bootp", BootProto::Bootp),
    ("static", BootProto::Static),
    ("query", BootProto::Query),
    ("ibft", BootProto::Ibft),
];

fn choice_name<T: PartialEq + Copy>(choices: &[(&'static str, T)], value: T) -> &'static str {
    choices
        .iter()
        .find(|(_, v)| *v == value)
        .map(|(name, _)| *name)
        .unwrap_or_default()
}

/// `network`: one interface's configuration (or just the host name).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Network {
    pub device: Option<String>,
    pub bootproto: Option<BootProto>,
    pub hostname: Option<String>,
    pub activate: Option<bool>,
    pub onboot: Option<bool>,
    pub ip: Option<String>,
    pub netmask: Option<String>,
    pub gateway: Option<String>,
    pub nameservers: Vec<String>,
    pub ipv6: Option<String>,
    pub ipv6gateway: Option<String>,
    pub noipv6: bool,
    pub nodns: bool,
    pub nodefroute: bool,
    pub mtu: Option<u32>,
    pub vlanid: Option<u16>,
    pub interfacename: Option<String>,
    pub bondslaves: Vec<String>,
    pub bondopts: Option<String>,
    pub bridgeslaves: Vec<String>,
    pub bridgeopts: Option<String>,
}

impl Command for Network {
    const OPTIONS: &'static [&'static str] = &[
        "--device",
        "--bootproto",
        "--hostname",
        "--activate",
        "--no-activate",
        "--onboot",
        "--ip",
        "--netmask",
        "--gateway",
        "--nameserver",
        "--ipv6",
        "--ipv6gateway",
        "--noipv6",
        "--nodns",
        "--nodefroute",
        "--mtu",
        "--vlanid",
        "--interfacename",
        "--bondslaves",
        "--bondopts",
        "--bridgeslaves",
        "--bridgeopts",
    ];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut net = Network::default();
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--device" => net.device = Some(args.value()?),
                    "--bootproto" => net.bootproto = Some(args.choice(&BOOTPROTOS)?),
                    "--hostname" => net.hostname = Some(args.value()?),
                    "--activate" => net.activate = Some(true),
                    "--no-activate" => net.activate = Some(false),
                    "--onboot" => net.onboot = Some(args.boolean()?),
                    "--ip" => net.ip = Some(args.value()?),
                    "--netmask" => net.netmask = Some(args.value()?),
                    "--gateway" => net.gateway = Some(args.value()?),
                    "--nameserver" => net.nameservers.extend(args.list()?),
                    "--ipv6" => net.ipv6 = Some(args.value()?),
                    "--ipv6gateway" => net.ipv6gateway = Some(args.value()?),
                    "--noipv6" => net.noipv6 = true,
                    "--nodns" => net.nodns = true,
                    "--nodefroute" => net.nodefroute = true,
                    "--mtu" => net.mtu = Some(args.parsed("a number of bytes")?),
                    "--vlanid" => net.vlanid = Some(args.parsed("a VLAN id from 0 to 4095")?),
                    "--interfacename" => net.interfacename = Some(args.value()?),
                    "--bondslaves" => net.bondslaves = args.list()?,
                    "--bondopts" => net.bondopts = Some(args.value()?),
                    "--bridgeslaves" => net.bridgeslaves = args.list()?,
                    "--bridgeopts" => net.bridgeopts = Some(args.value()?),
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => {
                    return Err(args.unexpected(p, "; network takes only options"));
                }
            }
        }
        if net.bootproto == Some(BootProto::Static) && net.ip.is_none() && net.ipv6.is_none() {
            return Err(args.invalid("--bootproto=static needs --ip=ADDRESS (or --ipv6)"));
        }
        if net.noipv6 && net.ipv6.is_some() {
            return Err(args.invalid("--noipv6 and --ipv6 contradict each other"));
        }
        Ok(net)
    }

    fn render(&self, name: &str) -> String {
        Line::new(name)
            .value("--device", self.device.as_ref())
            .value(
                "--bootproto",
                self.bootproto.map(|b| choice_name(&BOOTPROTOS, b)),
            )
            .value("--hostname", self.hostname.as_ref())
            .flag("--activate", self.activate == Some(true))
            .flag("--no-activate", self.activate == Some(false))
            .value(
                "--onboot",
                self.onboot.map(|b| if b { "yes" } else { "no" }),
            )
            .value("--ip", self.ip.as_ref())
            .value("--netmask", self.netmask.as_ref())
            .value("--gateway", self.gateway.as_ref())
            .list("--nameserver", &self.nameservers)
            .value("--ipv6", self.ipv6.as_ref())
            .value("--ipv6gateway", self.ipv6gateway.as_ref())
            .flag("--noipv6", self.noipv6)
            .flag("--nodns", self.nodns)
            .flag("--nodefroute", self.nodefroute)
            .value("--mtu", self.mtu)
            .value("--vlanid", self.vlanid)
            .value("--interfacename", self.interfacename.as_ref())
            .list("--bondslaves", &self.bondslaves)
            .value("--bondopts", self.bondopts.as_ref())
            .list("--bridgeslaves", &self.bridgeslaves)
            .value("--bridgeopts", self.bridgeopts.as_ref())
            .finish()
    }
}

/// `services`: units to enable and disable.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Services {
    pub enabled: Vec<String>,
    pub disabled: Vec<String>,
}

impl Command for Services {
    const OPTIONS: &'static [&'static str] = &["--enabled", "--disabled"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut services = Services::default();
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) if o == "--enabled" => services.enabled.extend(args.list()?),
                Arg::Option(o) if o == "--disabled" => services.disabled.extend(args.list()?),
                Arg::Option(o) => return Err(args.unknown(o)),
                Arg::Positional(p) => {
                    return Err(args.unexpected(p, "; use --enabled=a,b or --disabled=c"));
                }
            }
        }
        if services.enabled.is_empty() && services.disabled.is_empty() {
            return Err(args.invalid("--enabled=UNITS or --disabled=UNITS is required"));
        }
        Ok(services)
    }

    fn render(&self, name: &str) -> String {
        Line::new(name)
            .list("--enabled", &self.enabled)
            .list("--disabled", &self.disabled)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selinux {
    Enforcing,
    Permissive,
    Disabled,
}

impl Command for Selinux {
    const OPTIONS: &'static [&'static str] = &["--enforcing", "--permissive", "--disabled"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        // A bare `selinux` means enforcing, as it always has.
        let mut mode = Selinux::Enforcing;
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => {
                    mode = match o.as_str() {
                        "--enforcing" => Selinux::Enforcing,
                        "--permissive" => Selinux::Permissive,
                        "--disabled" => Selinux::Disabled,
                        _ => return Err(args.unknown(o)),
                    }
                }
                Arg::Positional(p) => return Err(args.unexpected(p, "")),
            }
        }
        Ok(mode)
    }

    fn render(&self, name: &str) -> String {
        let flag = match self {
            Selinux::Enforcing => "--enforcing",
            Selinux::Permissive => "--permissive",
            Selinux::Disabled => "--disabled",
        };
        Line::new(name).word(flag).finish()
    }
}

/// `firewall`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Firewall {
    pub enabled: bool,
    pub services: Vec<String>,
    pub remove_services: Vec<String>,
    pub ports: Vec<String>,
    pub trusted: Vec<String>,
    pub use_system_defaults: bool,
}

impl Command for Firewall {
    const OPTIONS: &'static [&'static str] = &[
        "--enabled",
        "--enable",
        "--disabled",
        "--disable",
        "--service",
        "--remove-service",
        "--port",
        "--trust",
        "--use-system-defaults",
        "--ssh",
        "--smtp",
        "--http",
        "--ftp",
        "--telnet",
    ];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        // Enabled unless told otherwise, as Anaconda does.
        let mut fw = Firewall {
            enabled: true,
            ..Firewall::default()
        };
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--enabled" | "--enable" => fw.enabled = true,
                    "--disabled" | "--disable" => fw.enabled = false,
                    "--service" => fw.services.extend(args.list()?),
                    "--remove-service" => fw.remove_services.extend(args.list()?),
                    "--port" => fw.ports.extend(args.list()?),
                    "--trust" => fw.trusted.extend(args.list()?),
                    "--use-system-defaults" => fw.use_system_defaults = true,
                    // The old per-service flags name firewalld services.
                    "--ssh" | "--smtp" | "--http" | "--ftp" | "--telnet" => {
                        fw.services.push(o[2..].to_owned())
                    }
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => return Err(args.unexpected(p, "")),
            }
        }
        Ok(fw)
    }

    fn render(&self, name: &str) -> String {
        Line::new(name)
            .word(if self.enabled {
                "--enabled"
            } else {
                "--disabled"
            })
            .list("--service", &self.services)
            .list("--remove-service", &self.remove_services)
            .list("--port", &self.ports)
            .list("--trust", &self.trusted)
            .flag("--use-system-defaults", self.use_system_defaults)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootloaderLocation {
    Mbr,
    Partition,
    Boot,
    None,
}

const LOCATIONS: [(&str, BootloaderLocation); 4] = [
    ("mbr", BootloaderLocation::Mbr),
    ("partition", BootloaderLocation::Partition),
    ("boot", BootloaderLocation::Boot),
    ("none", BootloaderLocation::None),
];

/// `bootloader`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Bootloader {
    pub append: Option<String>,
    pub timeout: Option<u32>,
    pub location: Option<BootloaderLocation>,
    pub password: Option<Password>,
    pub boot_drive: Option<String>,
    pub driveorder: Vec<String>,
    pub disabled: bool,
    pub leavebootorder: bool,
}

impl Command for Bootloader {
    const OPTIONS: &'static [&'static str] = &[
        "--append",
        "--timeout",
        "--location",
        "--password",
        "--iscrypted",
        "--boot-drive",
        "--driveorder",
        "--disabled",
        "--leavebootorder",
    ];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut bl = Bootloader::default();
        let (mut secret, mut crypted) = (None, false);
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--append" => bl.append = Some(args.value()?),
                    "--timeout" => bl.timeout = Some(args.parsed("a number of seconds")?),
                    "--location" => bl.location = Some(args.choice(&LOCATIONS)?),
                    "--password" => secret = Some(args.value()?),
                    "--iscrypted" => crypted = true,
                    "--boot-drive" => bl.boot_drive = Some(args.value()?),
                    "--driveorder" => bl.driveorder = args.list()?,
                    "--disabled" => bl.disabled = true,
                    "--leavebootorder" => bl.leavebootorder = true,
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => {
                    return Err(args.unexpected(p, "; bootloader takes only options"));
                }
            }
        }
        if crypted && secret.is_none() {
            return Err(args.invalid("--iscrypted needs --password=HASH"));
        }
        bl.password = secret.map(|s| {
            if crypted {
                Password::Crypted(s)
            } else {
                Password::Plain(s)
            }
        });
        Ok(bl)
    }

    fn render(&self, name: &str) -> String {
        let line = Line::new(name)
            .value("--append", self.append.as_ref())
            .value("--timeout", self.timeout)
            .value(
                "--location",
                self.location.map(|l| choice_name(&LOCATIONS, l)),
            );
        let line = match &self.password {
            Some(Password::Crypted(hash)) => {
                line.value("--password", Some(hash)).word("--iscrypted")
            }
            Some(Password::Plain(text)) => line.value("--password", Some(text)),
            None => line,
        };
        line.value("--boot-drive", self.boot_drive.as_ref())
            .list("--driveorder", &self.driveorder)
            .flag("--disabled", self.disabled)
            .flag("--leavebootorder", self.leavebootorder)
            .finish()
    }
}

/// `part` / `partition`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Partition {
    pub mountpoint: String,
    /// Size in MiB.
    pub size: Option<u64>,
    pub grow: bool,
    pub maxsize: Option<u64>,
    pub fstype: Option<String>,
    pub ondisk: Option<String>,
    pub asprimary: bool,
    pub label: Option<String>,
    pub fsoptions: Option<String>,
    pub mkfsoptions: Option<String>,
    pub noformat: bool,
    pub onpart: Option<String>,
    pub recommended: bool,
    pub encrypted: bool,
    pub passphrase: Option<String>,
}

impl Partition {
    /// Mount points that may appear once only; swap and LVM/RAID members repeat.
    pub fn is_unique_mountpoint(&self) -> bool {
        self.mountpoint.starts_with('/') || self.mountpoint == "biosboot"
    }
}

impl Command for Partition {
    const OPTIONS: &'static [&'static str] = &[
        "--size",
        "--grow",
        "--maxsize",
        "--fstype",
        "--ondisk",
        "--ondrive",
        "--asprimary",
        "--label",
        "--fsoptions",
        "--mkfsoptions",
        "--noformat",
        "--onpart",
        "--usepart",
        "--recommended",
        "--encrypted",
        "--passphrase",
    ];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut part = Partition::default();
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--size" => part.size = Some(args.parsed("a size in MiB (a whole number)")?),
                    "--grow" => part.grow = true,
                    "--maxsize" => {
                        part.maxsize = Some(args.parsed("a size in MiB (a whole number)")?)
                    }
                    "--fstype" => part.fstype = Some(args.value()?),
                    "--ondisk" | "--ondrive" => part.ondisk = Some(args.value()?),
                    "--asprimary" => part.asprimary = true,
                    "--label" => part.label = Some(args.value()?),
                    "--fsoptions" => part.fsoptions = Some(args.value()?),
                    "--mkfsoptions" => part.mkfsoptions = Some(args.value()?),
                    "--noformat" => part.noformat = true,
                    "--onpart" | "--usepart" => part.onpart = Some(args.value()?),
                    "--recommended" => part.recommended = true,
                    "--encrypted" => part.encrypted = true,
                    "--passphrase" => part.passphrase = Some(args.value()?),
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) if part.mountpoint.is_empty() => part.mountpoint = p,
                Arg::Positional(p) => {
                    return Err(args.unexpected(p, "; part takes one mount point"));
                }
            }
        }
        if part.mountpoint.is_empty() {
            return Err(args.invalid("a mount point is required, e.g. part / --size=4096"));
        }
        Ok(part)
    }

    fn render(&self, name: &str) -> String {
        Line::new(name)
            .word(&self.mountpoint)
            .value("--size", self.size)
            .flag("--grow", self.grow)
            .value("--maxsize", self.maxsize)
            .value("--fstype", self.fstype.as_ref())
            .value("--ondisk", self.ondisk.as_ref())
            .flag("--asprimary", self.asprimary)
            .value("--label", self.label.as_ref())
            .value("--fsoptions", self.fsoptions.as_ref())
            .value("--mkfsoptions", self.mkfsoptions.as_ref())
            .flag("--noformat", self.noformat)
            .value("--onpart", self.onpart.as_ref())
            .flag("--recommended", self.recommended)
            .flag("--encrypted", self.encrypted)
            .value("--passphrase", self.passphrase.as_ref())
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskLabel {
    Gpt,
    Msdos,
}

const DISKLABELS: [(&str, DiskLabel); 2] = [("gpt", DiskLabel::Gpt), ("msdos", DiskLabel::Msdos)];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClearScope {
    All,
    Linux,
    None,
}

/// `clearpart`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClearPart {
    pub scope: Option<ClearScope>,
    pub drives: Vec<String>,
    pub partitions: Vec<String>,
    pub initlabel: bool,
    pub disklabel: Option<DiskLabel>,
}

impl Command for ClearPart {
    const OPTIONS: &'static [&'static str] = &[
        "--all",
        "--linux",
        "--none",
        "--drives",
        "--list",
        "--initlabel",
        "--disklabel",
    ];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut cp = ClearPart {
            scope: None,
            drives: vec![],
            partitions: vec![],
            initlabel: false,
            disklabel: None,
        };
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--all" => cp.scope = Some(ClearScope::All),
                    "--linux" => cp.scope = Some(ClearScope::Linux),
                    "--none" => cp.scope = Some(ClearScope::None),
                    "--drives" => cp.drives = args.list()?,
                    "--list" => cp.partitions = args.list()?,
                    "--initlabel" => cp.initlabel = true,
                    "--disklabel" => cp.disklabel = Some(args.choice(&DISKLABELS)?),
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => return Err(args.unexpected(p, "")),
            }
        }
        Ok(cp)
    }

    fn render(&self, name: &str) -> String {
        let scope = match self.scope {
            Some(ClearScope::All) => "--all",
            Some(ClearScope::Linux) => "--linux",
            Some(ClearScope::None) => "--none",
            None => "",
        };
        Line::new(name)
            .flag(scope, !scope.is_empty())
            .list("--drives", &self.drives)
            .list("--list", &self.partitions)
            .flag("--initlabel", self.initlabel)
            .value(
                "--disklabel",
                self.disklabel.map(|d| choice_name(&DISKLABELS, d)),
            )
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPartType {
    Lvm,
    Btrfs,
    Plain,
    ThinP,
}

const AUTOPART_TYPES: [(&str, AutoPartType); 4] = [
    ("lvm", AutoPartType::Lvm),
    ("btrfs", AutoPartType::Btrfs),
    ("plain", AutoPartType::Plain),
    ("thinp", AutoPartType::ThinP),
];

/// `autopart`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AutoPart {
    pub kind: Option<AutoPartType>,
    pub fstype: Option<String>,
    pub noboot: bool,
    pub nohome: bool,
    pub noswap: bool,
    pub encrypted: bool,
    pub passphrase: Option<String>,
}

impl Command for AutoPart {
    const OPTIONS: &'static [&'static str] = &[
        "--type",
        "--fstype",
        "--nolvm",
        "--noboot",
        "--nohome",
        "--noswap",
        "--encrypted",
        "--passphrase",
    ];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut ap = AutoPart::default();
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--type" => ap.kind = Some(args.choice(&AUTOPART_TYPES)?),
                    "--nolvm" => ap.kind = Some(AutoPartType::Plain),
                    "--fstype" => ap.fstype = Some(args.value()?),
                    "--noboot" => ap.noboot = true,
                    "--nohome" => ap.nohome = true,
                    "--noswap" => ap.noswap = true,
                    "--encrypted" => ap.encrypted = true,
                    "--passphrase" => ap.passphrase = Some(args.value()?),
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => return Err(args.unexpected(p, "")),
            }
        }
        Ok(ap)
    }

    fn render(&self, name: &str) -> String {
        Line::new(name)
            .value("--type", self.kind.map(|k| choice_name(&AUTOPART_TYPES, k)))
            .value("--fstype", self.fstype.as_ref())
            .flag("--noboot", self.noboot)
            .flag("--nohome", self.nohome)
            .flag("--noswap", self.noswap)
            .flag("--encrypted", self.encrypted)
            .value("--passphrase", self.passphrase.as_ref())
            .finish()
    }
}

/// `xconfig`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct XConfig {
    pub startxonboot: bool,
    pub defaultdesktop: Option<String>,
}

impl Command for XConfig {
    const OPTIONS: &'static [&'static str] = &["--startxonboot", "--defaultdesktop"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut xc = XConfig::default();
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) if o == "--startxonboot" => xc.startxonboot = true,
                Arg::Option(o) if o == "--defaultdesktop" => {
                    xc.defaultdesktop = Some(args.value()?)
                }
                Arg::Option(o) => return Err(args.unknown(o)),
                Arg::Positional(p) => return Err(args.unexpected(p, "")),
            }
        }
        Ok(xc)
    }

    fn render(&self, name: &str) -> String {
        Line::new(name)
            .flag("--startxonboot", self.startxonboot)
            .value("--defaultdesktop", self.defaultdesktop.as_ref())
            .finish()
    }
}

/// What happens when the installation ends: `shutdown`, `reboot`, `poweroff`, `halt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub action: CompletionAction,
    pub eject: bool,
    pub kexec: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionAction {
    Shutdown,
    Reboot,
    Poweroff,
    Halt,
}

impl Command for Completion {
    const OPTIONS: &'static [&'static str] = &["--eject", "--kexec"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        // The action comes from the command's name; see `Completion::named`.
        let mut done = Completion {
            action: CompletionAction::Shutdown,
            eject: false,
            kexec: false,
        };
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) if o == "--eject" => done.eject = true,
                Arg::Option(o) if o == "--kexec" => done.kexec = true,
                Arg::Option(o) => return Err(args.unknown(o)),
                Arg::Positional(p) => return Err(args.unexpected(p, "")),
            }
        }
        Ok(done)
    }

    fn render(&self, _name: &str) -> String {
        let name = match self.action {
            CompletionAction::Shutdown => "shutdown",
            CompletionAction::Reboot => "reboot",
            CompletionAction::Poweroff => "poweroff",
            CompletionAction::Halt => "halt",
        };
        Line::new(name)
            .flag("--eject", self.eject)
            .flag("--kexec", self.kexec)
            .finish()
    }
}

/// Commands whose whole meaning is a handful of flags.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Flags(pub Vec<&'static str>);

impl Flags {
    pub fn parse_with(args: &mut Args, known: &'static [&'static str]) -> Result<Self, ArgError> {
        let mut set = Vec::new();
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match known.iter().find(|k| **k == o) {
                    Some(flag) if !set.contains(flag) => set.push(*flag),
                    Some(_) => {}
                    None => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => return Err(args.unexpected(p, "")),
            }
        }
        Ok(Self(set))
    }

    pub fn has(&self, flag: &str) -> bool {
        self.0.contains(&flag)
    }

    pub fn render(&self, name: &str) -> String {
        self.0
            .iter()
            .fold(Line::new(name), |line, flag| line.word(flag))
            .finish()
    }
}

/// `liveimg`: install from a root filesystem image.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LiveImg {
    pub url: String,
    pub proxy: Option<String>,
    pub checksum: Option<String>,
    pub noverifyssl: bool,
}

impl Command for LiveImg {
    const OPTIONS: &'static [&'static str] = &["--url", "--proxy", "--checksum", "--noverifyssl"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut li = LiveImg::default();
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--url" => li.url = args.value()?,
                    "--proxy" => li.proxy = Some(args.value()?),
                    "--checksum" => li.checksum = Some(args.value()?),
                    "--noverifyssl" => li.noverifyssl = true,
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => {
                    return Err(args.unexpected(p, "; give the image as --url=URL"));
                }
            }
        }
        if li.url.is_empty() {
            return Err(args.invalid("--url=URL is required"));
        }
        Ok(li)
    }

    fn render(&self, name: &str) -> String {
        Line::new(name)
            .value("--url", Some(&self.url))
            .value("--proxy", self.proxy.as_ref())
            .value("--checksum", self.checksum.as_ref())
            .flag("--noverifyssl", self.noverifyssl)
            .finish()
    }
}

/// `ostreesetup`: deploy an OSTree commit.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OstreeSetup {
    pub osname: String,
    pub remote: Option<String>,
    pub url: String,
    pub reference: String,
    pub nogpg: bool,
}

impl Command for OstreeSetup {
    const OPTIONS: &'static [&'static str] = &["--osname", "--remote", "--url", "--ref", "--nogpg"];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut os = OstreeSetup::default();
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => match o.as_str() {
                    "--osname" => os.osname = args.value()?,
                    "--remote" => os.remote = Some(args.value()?),
                    "--url" => os.url = args.value()?,
                    "--ref" => os.reference = args.value()?,
                    "--nogpg" => os.nogpg = true,
                    _ => return Err(args.unknown(o)),
                },
                Arg::Positional(p) => return Err(args.unexpected(p, "")),
            }
        }
        for (value, option) in [
            (&os.osname, "--osname"),
            (&os.url, "--url"),
            (&os.reference, "--ref"),
        ] {
            if value.is_empty() {
                return Err(args.invalid(format!("{option} is required")));
            }
        }
        Ok(os)
    }

    fn render(&self, name: &str) -> String {
        Line::new(name)
            .value("--osname", Some(&self.osname))
            .value("--remote", self.remote.as_ref())
            .value("--url", Some(&self.url))
            .value("--ref", Some(&self.reference))
            .flag("--nogpg", self.nogpg)
            .finish()
    }
}

/// livecompose's extension `overlay PATH`: a directory tree copied onto the
/// image root. The parser resolves `PATH` against the including file's
/// directory, so a flattened kickstart carries the resolved path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlay {
    pub path: PathBuf,
}

impl Command for Overlay {
    const OPTIONS: &'static [&'static str] = &[];

    fn parse(args: &mut Args) -> Result<Self, ArgError> {
        let mut path = None;
        while let Some(arg) = args.next_arg()? {
            match arg {
                Arg::Option(o) => return Err(args.unknown(o)),
                Arg::Positional(p) if path.is_none() => path = Some(PathBuf::from(p)),
                Arg::Positional(p) => {
                    return Err(args.unexpected(p, "; overlay takes one directory"));
                }
            }
        }
        let path = path.ok_or_else(|| {
            args.invalid("a directory is required, e.g. overlay overlays/debian-minimal")
        })?;
        Ok(Self { path })
    }

    fn render(&self, name: &str) -> String {
        Line::new(name).word(&self.path.to_string_lossy()).finish()
    }
}
