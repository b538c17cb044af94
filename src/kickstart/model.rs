//! The parsed kickstart: one typed value per command and section.

use std::path::PathBuf;

use super::commands::{
    AutoPart, Bootloader, ClearPart, Command, Completion, Firewall, Flags, Group, Keyboard, Lang,
    LiveImg, Network, OstreeSetup, Overlay, Partition, Repo, RootPassword, Selinux, Services,
    SshKey, TimeSource, Timezone, Url, User, XConfig,
};
use super::diagnostic::Origin;
use super::render::Line;
use super::sections::{Addon, Packages, Script};

/// A value and the line that gave it, for errors found in later stages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub origin: Origin,
}

/// Where the base system comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallSource {
    Url(Url),
    LiveImg(LiveImg),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiMode {
    Text,
    Graphical,
    Cmdline,
}

/// A command that is valid kickstart but has no effect on an image build
/// (or was removed from the language); kept so `flatten` loses nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredCommand {
    pub words: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Kickstart {
    pub source: Option<Located<InstallSource>>,
    pub ostree: Option<OstreeSetup>,
    pub repos: Vec<Located<Repo>>,
    pub lang: Option<Lang>,
    pub keyboard: Option<Keyboard>,
    pub timezone: Option<Timezone>,
    pub timesources: Vec<TimeSource>,
    pub rootpw: Option<RootPassword>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub sshkeys: Vec<SshKey>,
    pub network: Vec<Network>,
    /// Located: a unit the image lacks is reported at this line.
    pub services: Option<Located<Services>>,
    pub selinux: Option<Selinux>,
    pub firewall: Option<Firewall>,
    pub bootloader: Option<Bootloader>,
    /// Located, as are `clearpart`, `autopart` and `reqpart`: the disk
    /// layout reports what it cannot do at the line that asked for it.
    pub partitions: Vec<Located<Partition>>,
    pub clearpart: Option<Located<ClearPart>>,
    pub zerombr: bool,
    pub autopart: Option<Located<AutoPart>>,
    pub reqpart: Option<Located<Flags>>,
    pub xconfig: Option<XConfig>,
    pub skipx: bool,
    pub completion: Option<Completion>,
    pub eula: Option<Flags>,
    pub firstboot: Option<Flags>,
    pub ui_mode: Option<(UiMode, Flags)>,
    /// `overlay` lines, each path already resolved against its file's directory.
    pub overlays: Vec<Located<PathBuf>>,
    pub ignored: Vec<IgnoredCommand>,
    pub packages: Packages,
    pub scripts: Vec<Script>,
    pub addons: Vec<Addon>,
}

impl Kickstart {
    /// The kickstart as one self-contained file (what `flatten` prints).
    pub fn render(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        let mut push = |line: String| lines.push(line);
        match self.source.as_ref().map(|s| &s.value) {
            Some(InstallSource::Url(url)) => push(url.render("url")),
            Some(InstallSource::LiveImg(img)) => push(img.render("liveimg")),
            None => {}
        }
        self.ostree
            .iter()
            .for_each(|c| push(c.render("ostreesetup")));
        self.repos.iter().for_each(|r| push(r.value.render("repo")));
        self.lang.iter().for_each(|c| push(c.render("lang")));
        self.keyboard
            .iter()
            .for_each(|c| push(c.render("keyboard")));
        self.timezone
            .iter()
            .for_each(|c| push(c.render("timezone")));
        self.timesources
            .iter()
            .for_each(|c| push(c.render("timesource")));
        self.rootpw.iter().for_each(|c| push(c.render("rootpw")));
        self.groups.iter().for_each(|c| push(c.render("group")));
        self.users.iter().for_each(|c| push(c.render("user")));
        self.sshkeys.iter().for_each(|c| push(c.render("sshkey")));
        self.network.iter().for_each(|c| push(c.render("network")));
        self.services
            .iter()
            .for_each(|c| push(c.value.render("services")));
        self.selinux.iter().for_each(|c| push(c.render("selinux")));
        self.firewall
            .iter()
            .for_each(|c| push(c.render("firewall")));
        self.bootloader
            .iter()
            .for_each(|c| push(c.render("bootloader")));
        if self.zerombr {
            push("zerombr".to_owned());
        }
        self.clearpart
            .iter()
            .for_each(|c| push(c.value.render("clearpart")));
        self.reqpart
            .iter()
            .for_each(|c| push(c.value.render("reqpart")));
        self.autopart
            .iter()
            .for_each(|c| push(c.value.render("autopart")));
        self.partitions
            .iter()
            .for_each(|c| push(c.value.render("part")));
        self.xconfig.iter().for_each(|c| push(c.render("xconfig")));
        if self.skipx {
            push("skipx".to_owned());
        }
        self.eula.iter().for_each(|c| push(c.render("eula")));
        self.firstboot
            .iter()
            .for_each(|c| push(c.render("firstboot")));
        if let Some((mode, flags)) = &self.ui_mode {
            let name = match mode {
                UiMode::Text => "text",
                UiMode::Graphical => "graphical",
                UiMode::Cmdline => "cmdline",
            };
            push(flags.render(name));
        }
        self.completion.iter().for_each(|c| push(c.render("")));
        for overlay in &self.overlays {
            let path = overlay.value.clone();
            push(Overlay { path }.render("overlay"));
        }
        for ignored in &self.ignored {
            let mut words = ignored.words.iter();
            if let Some(first) = words.next() {
                push(
                    words
                        .fold(Line::new(first), |line, word| line.word(word))
                        .finish(),
                );
            }
        }
        let mut text = lines.join("\n");
        text.push('\n');
        if self.packages.seen {
            text.push('\n');
            text.push_str(&self.packages.options.render());
            text.push('\n');
            for entry in &self.packages.entries {
                text.push_str(&entry.render());
                text.push('\n');
            }
            text.push_str("%end\n");
        }
        for script in &self.scripts {
            text.push('\n');
            text.push_str(&script.render());
        }
        for addon in &self.addons {
            text.push('\n');
            text.push_str(&addon.render());
        }
        text
    }
}
