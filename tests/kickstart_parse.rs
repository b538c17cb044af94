//! The kickstart language, command by command, and every kind of error with
//! the exact line it is reported at.

use std::path::{Path, PathBuf};

use livecompose::kickstart::commands::{
    AutoPartType, BootProto, BootloaderLocation, ClearScope, CompletionAction, DiskLabel, Password,
    RepoLocation, Selinux, TimeSource,
};
use livecompose::kickstart::sections::{GroupContent, PackageSpec, ScriptKind};
use livecompose::kickstart::{InstallSource, Kickstart, Parsed, UiMode, parse_file, parse_text};

fn ok(text: &str) -> Parsed {
    parse_text(Path::new("test.ks"), text)
        .unwrap_or_else(|failure| panic!("expected a valid kickstart:\n{failure}"))
}

fn ks(text: &str) -> Kickstart {
    ok(text).kickstart
}

/// The first error, as printed: `test.ks:LINE: message`.
fn error(text: &str) -> String {
    let failure = parse_text(Path::new("test.ks"), text).expect_err("expected an error");
    failure.first().expect("at least one error").to_string()
}

fn assert_error_at(text: &str, line: usize, fragment: &str) {
    let message = error(text);
    let prefix = format!("test.ks:{line}: ");
    assert!(
        message.starts_with(&prefix),
        "expected an error at line {line}, got: {message}"
    );
    assert!(
        message.contains(fragment),
        "expected {fragment:?} in: {message}"
    );
}

// ---- commands -------------------------------------------------------------

#[test]
fn url_and_repo_rpm_forms() {
    let k = ks(
        "url --mirrorlist=https://m.example/list?repo=f-$releasever\n\
                repo --name=updates --baseurl=https://u.example/$basearch --cost=50 --excludepkgs=a,b --includepkgs=c --install --proxy=http://p:3128 --noverifyssl\n\
                repo --name=meta --metalink https://m.example/metalink\n",
    );
    let Some(InstallSource::Url(url)) = k.source.map(|s| s.value) else {
        panic!("url expected")
    };
    assert_eq!(
        url.0.location,
        Some(RepoLocation::MirrorList(
            "https://m.example/list?repo=f-$releasever".into()
        ))
    );
    let updates = &k.repos[0].value;
    assert_eq!(updates.name, "updates");
    assert_eq!(updates.cost, Some(50));
    assert_eq!(updates.excludepkgs, ["a", "b"]);
    assert_eq!(updates.includepkgs, ["c"]);
    assert!(updates.install && updates.source.noverifyssl);
    assert_eq!(updates.source.proxy.as_deref(), Some("http://p:3128"));
    assert_eq!(
        k.repos[1].value.source.location,
        Some(RepoLocation::Metalink("https://m.example/metalink".into()))
    );
}

#[test]
fn debian_repositories_are_part_of_the_language() {
    let k = ks("url --url=$mirror --suite=bookworm\n\
                repo --name=sec --baseurl=$mirror --suite=bookworm-updates --components=main,contrib --gpgkey=/k.gpg\n");
    let Some(InstallSource::Url(url)) = k.source.map(|s| s.value) else {
        panic!("url expected")
    };
    let debian = url.0.debian.expect("a Debian suite");
    assert_eq!(
        (debian.suite.as_str(), debian.components),
        ("bookworm", vec!["main".to_owned()])
    );
    let sec = &k.repos[0].value.source;
    assert_eq!(
        sec.debian.as_ref().map(|d| d.components.clone()),
        Some(vec!["main".to_owned(), "contrib".to_owned()])
    );
    assert_eq!(sec.gpgkey.as_deref(), Some("/k.gpg"));
}

#[test]
fn repo_errors() {
    assert_error_at(
        "lang C\nrepo --baseurl=http://x.example/\n",
        2,
        "--name=NAME is required",
    );
    assert_error_at(
        "repo --name=a\n",
        1,
        "one of --baseurl, --mirrorlist or --metalink is required",
    );
    assert_error_at(
        "repo --name=a --baseurl=http://a --mirrorlist=http://b\n",
        1,
        "give only one of",
    );
    assert_error_at(
        "repo --name=a --baseurl=h --cost=cheap\n",
        1,
        "--cost=\"cheap\" is not a whole number",
    );
    assert_error_at(
        "repo --name=a --mirrorlist=h --suite=x\n",
        1,
        "Debian has no mirror lists",
    );
    assert_error_at(
        "repo --name=a --baseurl=h --components=main\n",
        1,
        "add --suite=SUITE",
    );
    assert_error_at("url http://x\n", 1, "give the address as --url=URL");
}

#[test]
fn duplicate_repo_names_keep_the_last_with_a_warning() {
    let parsed = ok("repo --name=a --baseurl=http://one\nrepo --name=a --baseurl=http://two\n");
    assert_eq!(parsed.kickstart.repos.len(), 1);
    assert_eq!(
        parsed.kickstart.repos[0].value.source.location,
        Some(RepoLocation::BaseUrl("http://two".into()))
    );
    assert_eq!(parsed.warnings[0].origin.line, 2);
    assert!(
        parsed.warnings[0]
            .message
            .contains("already defined at test.ks:1")
    );
}

#[test]
fn lang_keyboard_timezone_timesource() {
    let k = ks("lang de_DE.UTF-8 --addsupport=en_US.UTF-8,fr_FR\n\
                keyboard --vckeymap=de-nodeadkeys --xlayouts=de,us\n\
                timezone Europe/Berlin --isUtc --ntpservers=0.pool.example,1.pool.example\n\
                timesource --ntp-pool=pool.example --nts\n\
                timesource --ntp-disable\n");
    let lang = k.lang.expect("lang");
    assert_eq!(
        (lang.lang.as_str(), lang.addsupport.len()),
        ("de_DE.UTF-8", 2)
    );
    let kb = k.keyboard.expect("keyboard");
    assert_eq!(
        (kb.vckeymap.as_deref(), kb.xlayouts.len()),
        (Some("de-nodeadkeys"), 2)
    );
    let tz = k.timezone.expect("timezone");
    assert!(tz.utc);
    assert_eq!(tz.ntpservers.len(), 2);
    assert_eq!(
        k.timesources,
        [
            TimeSource::Pool {
                host: "pool.example".into(),
                nts: true
            },
            TimeSource::Disabled
        ]
    );
    assert_eq!(
        ks("keyboard us\n")
            .keyboard
            .and_then(|k| k.keymap)
            .as_deref(),
        Some("us")
    );
    assert!(
        ks("timezone --utc --nontp Etc/UTC\n")
            .timezone
            .is_some_and(|t| t.nontp)
    );
}

#[test]
fn lang_keyboard_timezone_errors() {
    assert_error_at("lang\n", 1, "a language is required");
    assert_error_at("lang en_US fr_FR\n", 1, "takes one language");
    assert_error_at("\n\nkeyboard\n", 3, "a keymap is required");
    assert_error_at("timezone --nontp --ntpservers=a Etc/UTC\n", 1, "contradict");
    assert_error_at(
        "timezone --utcc Etc/UTC\n",
        1,
        "unknown option --utcc; accepted options: --utc, --isUtc",
    );
    assert_error_at("timesource\n", 1, "one of --ntp-server");
}

#[test]
fn later_single_commands_override_earlier_ones() {
    let k = ks("lang en_US.UTF-8\ntimezone Etc/UTC\nlang de_DE.UTF-8\n");
    assert_eq!(k.lang.expect("lang").lang, "de_DE.UTF-8");
}

#[test]
fn rootpw_user_group_sshkey() {
    let k = ks("rootpw --iscrypted $6$salt$hash#x\n\
                group --name=admins --gid=1500\n\
                user --name=ops --groups=wheel,admins --password=$6$h --iscrypted --uid=1001 --gid=1500 --gecos=\"Ops Team\" --shell=/bin/bash --homedir=/home/ops\n\
                sshkey --username=ops \"ssh-ed25519 AAAAC3Nz ops@example\"\n");
    let root = k.rootpw.expect("rootpw");
    assert_eq!(
        root.password,
        Some(Password::Crypted("$6$salt$hash#x".into()))
    );
    assert_eq!(k.groups[0].gid, Some(1500));
    let user = &k.users[0];
    assert_eq!(user.password, Some(Password::Crypted("$6$h".into())));
    assert_eq!(
        (user.uid, user.gecos.as_deref(), user.groups.len()),
        (Some(1001), Some("Ops Team"), 2)
    );
    assert_eq!(k.sshkeys[0].key, "ssh-ed25519 AAAAC3Nz ops@example");
    let locked = ks("rootpw --lock\n").rootpw.expect("rootpw");
    assert!(locked.lock && locked.password.is_none());
    assert_eq!(
        ks("rootpw --plaintext s3cret --allow-ssh\n")
            .rootpw
            .map(|r| (r.password, r.allow_ssh)),
        Some((Some(Password::Plain("s3cret".into())), true))
    );
}

#[test]
fn account_errors() {
    assert_error_at("rootpw\n", 1, "a password is required (or --lock");
    assert_error_at("rootpw --iscrypted --plaintext x\n", 1, "contradict");
    assert_error_at("user --password=x\n", 1, "--name=NAME is required");
    assert_error_at(
        "user --name=a --uid=root\n",
        1,
        "--uid=\"root\" is not a numeric user id",
    );
    assert_error_at("group\n", 1, "--name=NAME is required");
    assert_error_at(
        "sshkey \"ssh-rsa AAAA\"\n",
        1,
        "--username=NAME is required",
    );
    assert_error_at(
        "sshkey --username=root ssh-rsa AAAA\n",
        1,
        "one quoted argument",
    );
}

#[test]
fn network() {
    let k = ks(
        "network --bootproto=static --device=eth0 --ip=192.0.2.10 --netmask=255.255.255.0 --gateway=192.0.2.1 --nameserver=192.0.2.53,192.0.2.54 --onboot=yes --activate --noipv6 --hostname=hv1\n\
                network --bootproto dhcp --device=link --ipv6=auto --onboot off\n",
    );
    let eth0 = &k.network[0];
    assert_eq!(eth0.bootproto, Some(BootProto::Static));
    assert_eq!(
        (eth0.onboot, eth0.activate, eth0.noipv6),
        (Some(true), Some(true), true)
    );
    assert_eq!(eth0.nameservers.len(), 2);
    assert_eq!(eth0.hostname.as_deref(), Some("hv1"));
    assert_eq!(
        (k.network[1].bootproto, k.network[1].onboot),
        (Some(BootProto::Dhcp), Some(false))
    );
}

#[test]
fn network_errors_list_the_choices() {
    assert_error_at(
        "network --bootproto=dhcpx\n",
        1,
        "network: --bootproto=\"dhcpx\" is not one of: dhcp, bootp, static, query, ibft",
    );
    assert_error_at("network --bootproto=static\n", 1, "needs --ip=ADDRESS");
    assert_error_at("network --onboot=maybe\n", 1, "is not one of: yes, on");
    assert_error_at("network --device\n", 1, "option --device needs a value");
}

#[test]
fn services_selinux_firewall() {
    let k = ks(
        "services --enabled=sshd,NetworkManager --disabled kdump\nselinux --permissive\nfirewall --enabled --service=mdns,ssh --port=22:tcp\n",
    );
    let services = k.services.expect("services").value;
    assert_eq!(
        (services.enabled.len(), services.disabled.as_slice()),
        (2, ["kdump".to_owned()].as_slice())
    );
    assert_eq!(k.selinux, Some(Selinux::Permissive));
    let fw = k.firewall.expect("firewall");
    assert!(fw.enabled);
    assert_eq!(
        (fw.services.len(), fw.ports.as_slice()),
        (2, ["22:tcp".to_owned()].as_slice())
    );
    assert_eq!(ks("selinux\n").selinux, Some(Selinux::Enforcing));
    assert!(
        !ks("firewall --disabled\n")
            .firewall
            .expect("firewall")
            .enabled
    );
    assert_error_at(
        "services\n",
        1,
        "--enabled=UNITS or --disabled=UNITS is required",
    );
    assert_error_at("selinux --enforcing=1\n", 1, "takes no value");
}

#[test]
fn bootloader() {
    let k = ks(
        "bootloader --append=\"console=ttyS0,115200n8 quiet\" --timeout=5 --location=mbr --password=grub.pbkdf2.x --iscrypted\n",
    );
    let bl = k.bootloader.expect("bootloader");
    assert_eq!(bl.append.as_deref(), Some("console=ttyS0,115200n8 quiet"));
    assert_eq!(
        (bl.timeout, bl.location),
        (Some(5), Some(BootloaderLocation::Mbr))
    );
    assert_eq!(bl.password, Some(Password::Crypted("grub.pbkdf2.x".into())));
    assert_error_at(
        "bootloader --timeout=soon\n",
        1,
        "--timeout=\"soon\" is not a number of seconds",
    );
    assert_error_at(
        "bootloader --location=floppy\n",
        1,
        "is not one of: mbr, partition, boot, none",
    );
}

#[test]
fn storage_commands() {
    let k = ks(
        "zerombr\nclearpart --all --initlabel --disklabel=gpt\nreqpart --add-boot\n\
                part / --size 5120 --fstype ext4 --grow --maxsize=10000 --label=root\n\
                partition swap --recommended\nautopart --type=btrfs --noswap --nohome\n",
    );
    assert!(k.zerombr);
    let cp = k.clearpart.expect("clearpart").value;
    assert_eq!(
        (cp.scope, cp.initlabel, cp.disklabel),
        (Some(ClearScope::All), true, Some(DiskLabel::Gpt))
    );
    assert!(k.reqpart.is_some_and(|r| r.value.has("--add-boot")));
    assert_eq!(k.partitions[0].value.size, Some(5120));
    assert_eq!(k.partitions[0].value.fstype.as_deref(), Some("ext4"));
    assert!(k.partitions[1].value.recommended);
    let ap = k.autopart.expect("autopart").value;
    assert_eq!(
        (ap.kind, ap.noswap, ap.nohome),
        (Some(AutoPartType::Btrfs), true, true)
    );
}

#[test]
fn part_errors_and_redefinition() {
    assert_error_at(
        "part / --size=abc\n",
        1,
        "part: --size=\"abc\" is not a size in MiB",
    );
    assert_error_at("part --size=10\n", 1, "a mount point is required");
    let parsed =
        ok("part / --size=1000\npart swap --size=1\npart swap --size=2\npart / --size=2000\n");
    let roots: Vec<_> = parsed
        .kickstart
        .partitions
        .iter()
        .filter(|p| p.value.mountpoint == "/")
        .collect();
    assert_eq!(
        (roots.len(), roots[0].value.size),
        (1, Some(2000)),
        "the last `part /` wins"
    );
    assert_eq!(
        roots[0].origin.line, 4,
        "a partition keeps its line for the disk layout's errors"
    );
    assert_eq!(
        parsed
            .kickstart
            .partitions
            .iter()
            .filter(|p| p.value.mountpoint == "swap")
            .count(),
        2
    );
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(parsed.warnings[0].origin.line, 4);
    assert!(
        parsed.warnings[0]
            .to_string()
            .starts_with("test.ks:4: warning: partition / is defined more than once")
    );
}

#[test]
fn display_and_completion_commands() {
    let k = ks(
        "xconfig --startxonboot --defaultdesktop=GNOME\nskipx\neula --agreed\nfirstboot --disable\ntext --non-interactive\nreboot --eject\n",
    );
    assert!(k.xconfig.expect("xconfig").startxonboot);
    assert!(k.skipx);
    assert!(k.eula.is_some_and(|e| e.has("--agreed")));
    assert!(k.firstboot.is_some_and(|f| f.has("--disable")));
    assert!(
        k.ui_mode
            .as_ref()
            .is_some_and(|(mode, flags)| *mode == UiMode::Text && flags.has("--non-interactive"))
    );
    let done = k.completion.expect("completion");
    assert_eq!((done.action, done.eject), (CompletionAction::Reboot, true));
    for (line, action) in [
        ("shutdown", CompletionAction::Shutdown),
        ("poweroff", CompletionAction::Poweroff),
        ("halt", CompletionAction::Halt),
    ] {
        assert_eq!(ks(line).completion.map(|c| c.action), Some(action));
    }
    assert_eq!(
        ks("graphical\n").ui_mode.map(|m| m.0),
        Some(UiMode::Graphical)
    );
    assert_eq!(ks("cmdline\n").ui_mode.map(|m| m.0), Some(UiMode::Cmdline));
    assert_error_at("skipx now\n", 1, "unexpected argument \"now\"");
}

#[test]
fn liveimg_and_ostreesetup() {
    let k = ks(
        "liveimg --url=file:///img.tar --checksum=abc\nostreesetup --osname=fedora-iot --remote=r --url=https://o.example/repo --ref=fedora/${basearch}/iot --nogpg\n",
    );
    assert!(
        matches!(k.source.map(|s| s.value), Some(InstallSource::LiveImg(img)) if img.checksum.as_deref() == Some("abc"))
    );
    let ostree = k.ostree.expect("ostree");
    assert_eq!(
        (ostree.reference.as_str(), ostree.nogpg),
        ("fedora/${basearch}/iot", true)
    );
    assert_error_at("ostreesetup --osname=x --url=u\n", 1, "--ref is required");
}

#[test]
fn removed_and_installer_only_commands_warn() {
    let parsed = ok("auth --enableshadow --passalgo=sha512\ninstall\nignoredisk --only-use=vda\n");
    let lines: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert!(
        lines[0].starts_with("test.ks:1: warning: auth was removed"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("test.ks:2: warning: install was removed"),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with("test.ks:3: warning: ignoredisk configures the installer"),
        "{lines:?}"
    );
    assert_eq!(parsed.kickstart.ignored.len(), 3);
}

// ---- sections ---------------------------------------------------------------

#[test]
fn packages_section() {
    let k = ks(
        "%packages --excludedocs --instLangs=en:de --exclude-weakdeps --ignoremissing --nocore --multilib\n\
                @core\n@^minimal-environment\n@nodejs:18\nkernel*  # comment\n-plymouth\n\n# whole-line comment\n%end\n",
    );
    let p = &k.packages;
    assert!(p.seen);
    let o = &p.options;
    assert!(o.exclude_docs && o.exclude_weakdeps && o.ignore_missing && o.nocore && o.multilib);
    assert_eq!(o.inst_langs.as_deref(), Some("en:de"));
    let specs: Vec<&PackageSpec> = p.entries.iter().map(|e| &e.spec).collect();
    assert_eq!(
        specs[0],
        &PackageSpec::Group {
            name: "core".into(),
            content: GroupContent::Default
        }
    );
    assert_eq!(
        specs[1],
        &PackageSpec::Environment("minimal-environment".into())
    );
    assert!(
        matches!(specs[2], PackageSpec::Module { name, stream, .. } if name == "nodejs" && stream == "18")
    );
    assert_eq!(specs[3], &PackageSpec::Package("kernel*".into()));
    assert!(p.entries[4].exclude);
    assert_eq!(
        p.entries[4].origin.line, 6,
        "entries keep their line for later errors"
    );
    assert!(
        ks("%packages --inst-langs=en --excludeWeakdeps --default\n%end\n")
            .packages
            .options
            .default
    );
}

#[test]
fn packages_allow_file_conflicts_is_parsed_and_rendered() {
    assert!(
        !ks("%packages\n%end\n")
            .packages
            .options
            .allow_file_conflicts
    );
    let options = ks("%packages --allow-file-conflicts\nvim\n%end\n")
        .packages
        .options;
    assert!(options.allow_file_conflicts);
    assert_eq!(options.render(), "%packages --allow-file-conflicts");
    assert_error_at(
        "%packages --allow-file-conflicts=yes\n%end\n",
        1,
        "%packages",
    );
}

#[test]
fn packages_errors() {
    assert_error_at(
        "%packages --bogus\n%end\n",
        1,
        "%packages: unknown option --bogus",
    );
    assert_error_at(
        "%packages\nvim\nvim emacs\n%end\n",
        3,
        "one package per line",
    );
    assert_error_at("%packages --default --nocore\n%end\n", 1, "contradict");
}

#[test]
fn several_packages_sections_merge_and_the_last_header_sets_options() {
    let k = ks("%packages --excludedocs\na\nb\n%end\n%packages\n-a\n%end\n");
    let rendered: Vec<String> = k.packages.entries.iter().map(|e| e.render()).collect();
    assert_eq!(rendered, ["b", "-a"]);
    assert!(!k.packages.options.exclude_docs);
}

#[test]
fn scripts() {
    let k = ks(
        "%pre --interpreter=/usr/bin/python3 --erroronfail\nprint('hi')\n%end\n\
                %post --nochroot --log=/mnt/sysimage/root/post.log\ncp -a x \"$INSTALL_ROOT\"\n# kept comment\n\nprintf '%s\\n' x\n%end\n\
                %pre-install\ntrue\n%end\n%onerror\nfalse\n%end\n%traceback\necho tb\n%end\n",
    );
    let kinds: Vec<ScriptKind> = k.scripts.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            ScriptKind::Pre,
            ScriptKind::Post,
            ScriptKind::PreInstall,
            ScriptKind::OnError,
            ScriptKind::Traceback
        ]
    );
    assert_eq!(
        k.scripts[0].interpreter.as_deref(),
        Some("/usr/bin/python3")
    );
    assert!(k.scripts[0].error_on_fail);
    let post = &k.scripts[1];
    assert!(post.nochroot);
    assert_eq!(post.log.as_deref(), Some("/mnt/sysimage/root/post.log"));
    assert_eq!(
        post.body, "cp -a x \"$INSTALL_ROOT\"\n# kept comment\n\nprintf '%s\\n' x\n",
        "bodies are verbatim"
    );
    assert_eq!(post.origin.line, 4);
    assert_error_at(
        "%pre --nochroot\n%end\n",
        1,
        "%pre: unknown option --nochroot",
    );
}

#[test]
fn addon_sections_are_kept() {
    let k = ks("%addon com_redhat_kdump --enable --reserve-mb=auto\nsome text\n%end\n");
    assert_eq!(k.addons[0].name, "com_redhat_kdump");
    assert_eq!(k.addons[0].arguments, ["--enable", "--reserve-mb=auto"]);
    assert_eq!(k.addons[0].body, "some text\n");
    assert_error_at("%addon\n%end\n", 1, "%addon needs a name");
}

// ---- structural errors --------------------------------------------------------

#[test]
fn unknown_commands_and_sections() {
    assert_error_at(
        "lang C\n\n  timezon Etc/UTC\n",
        3,
        "timezon: unknown command; did you mean timezone?",
    );
    assert_error_at(
        "# comment\nfrobnicate --x\n",
        2,
        "frobnicate: unknown command",
    );
    assert_error_at("lang C\n%postt\n%end\n", 2, "unknown section %postt");
}

#[test]
fn unterminated_quotes() {
    assert_error_at(
        "lang C\nuser --name=a --gecos=\"Jo Smith\n",
        2,
        "unterminated double quote",
    );
    assert_error_at("rootpw 'abc\n", 1, "unterminated single quote");
}

#[test]
fn stray_end_and_unclosed_sections() {
    assert_error_at("lang C\n%end\n", 2, "stray %end");
    assert_error_at(
        "lang C\n%post\necho hi\n",
        2,
        "section %post is not closed: add %end",
    );
    assert_error_at(
        "lang C\n%packages\nvim\n%post\n%end\n",
        2,
        "section %packages is not closed: add %end before %post at line 4",
    );
}

#[test]
fn several_errors_are_all_reported_in_order() {
    let failure =
        parse_text(Path::new("t.ks"), "bogus\nlang\npart / --size=x\n").expect_err("three errors");
    let lines: Vec<usize> = failure.errors.iter().map(|e| e.origin.line).collect();
    assert_eq!(lines, [1, 2, 3]);
}

// ---- includes -----------------------------------------------------------------

struct Tree(tempfile::TempDir);

impl Tree {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

#[test]
fn includes_resolve_relative_to_the_including_file_and_inside_sections() {
    let tree = Tree::new(&[
        (
            "top.ks",
            "%include sub/base.ks\nlang de_DE\n%packages\n%include sub/pkgs.ks\nvim\n%end\n%post\n%include sub/post.sh\n%end\n",
        ),
        ("sub/base.ks", "lang en_US\n%include more.ks\n"),
        ("sub/more.ks", "timezone Etc/UTC\n"),
        ("sub/pkgs.ks", "kernel\n-plymouth\n"),
        ("sub/post.sh", "echo from include\n"),
    ]);
    let k = parse_file(&tree.path("top.ks")).expect("valid").kickstart;
    assert_eq!(k.lang.expect("lang").lang, "de_DE");
    assert_eq!(k.timezone.and_then(|t| t.zone).as_deref(), Some("Etc/UTC"));
    let rendered: Vec<String> = k.packages.entries.iter().map(|e| e.render()).collect();
    assert_eq!(rendered, ["kernel", "-plymouth", "vim"]);
    assert_eq!(
        k.packages.entries[0]
            .origin
            .file
            .file_name()
            .and_then(|f| f.to_str()),
        Some("pkgs.ks")
    );
    assert_eq!(k.scripts[0].body, "echo from include\n");
}

#[test]
fn errors_in_included_files_name_that_file_and_line() {
    let tree = Tree::new(&[
        ("top.ks", "lang C\n%include inc.ks\n"),
        ("inc.ks", "# first\ntimezone\n"),
    ]);
    let failure = parse_file(&tree.path("top.ks")).expect_err("error inside the include");
    let first = failure.first().expect("error");
    assert!(first.origin.file.ends_with("inc.ks"));
    assert_eq!(first.origin.line, 2);
}

#[test]
fn ksappend_reads_like_an_include() {
    let tree = Tree::new(&[
        ("top.ks", "%ksappend extra.ks\n"),
        ("extra.ks", "lang fr_FR\n"),
    ]);
    assert_eq!(
        parse_file(&tree.path("top.ks"))
            .expect("valid")
            .kickstart
            .lang
            .expect("lang")
            .lang,
        "fr_FR"
    );
}

#[test]
fn missing_include_names_the_path_at_the_include_line() {
    let tree = Tree::new(&[("top.ks", "lang C\n\n%include nowhere/missing.ks\n")]);
    let failure = parse_file(&tree.path("top.ks")).expect_err("missing include");
    let message = failure.first().expect("error").to_string();
    assert!(
        message.contains("top.ks:3: cannot read included file"),
        "{message}"
    );
    assert!(
        message.contains("nowhere/missing.ks: no such file"),
        "{message}"
    );
}

#[test]
fn include_loops_are_detected() {
    let tree = Tree::new(&[
        ("a.ks", "lang C\n%include b.ks\n"),
        ("b.ks", "\n%include a.ks\n"),
    ]);
    let failure = parse_file(&tree.path("a.ks")).expect_err("loop");
    let first = failure.first().expect("error");
    assert!(
        first.origin.file.ends_with("b.ks") && first.origin.line == 2,
        "{first}"
    );
    assert!(first.message.contains("%include loop"), "{first}");
    let own = Tree::new(&[("self.ks", "%include self.ks\n")]);
    assert!(parse_file(&own.path("self.ks")).is_err());
}

#[test]
fn a_section_must_end_in_the_file_that_opened_it() {
    let tree = Tree::new(&[
        ("top.ks", "%include inc.ks\nlang C\n%end\n"),
        ("inc.ks", "\n%post\necho\n"),
    ]);
    let failure = parse_file(&tree.path("top.ks")).expect_err("unclosed in include");
    let first = failure.first().expect("error");
    assert!(
        first.origin.file.ends_with("inc.ks") && first.origin.line == 2,
        "{first}"
    );
    assert!(
        first.message.contains("before the end of its file"),
        "{first}"
    );
}

#[test]
fn include_needs_one_argument() {
    assert_error_at("%include\n", 1, "%include takes exactly one file name");
    assert_error_at(
        "%include http://host.example/ks.cfg\n",
        1,
        "only local files can be included",
    );
}

// ---- flatten --------------------------------------------------------------------

#[test]
fn flatten_writes_every_command_back() {
    let text = "url --url=$mirror --suite=bookworm --components=main,contrib --nogpgcheck\n\
        repo --name=u --baseurl=http://u.example --cost=5 --excludepkgs=a,b --includepkgs=c --install --proxy=http://p --noverifyssl --gpgkey=/k\n\
        lang en_US.UTF-8 --addsupport=de_DE\nkeyboard us --vckeymap=us --xlayouts=us,de --switch=grp:alt_shift_toggle\n\
        timezone Etc/UTC --utc --ntpservers=a,b\ntimesource --ntp-server=t.example --nts\nrootpw --iscrypted '$6$x y'\n\
        group --name=g --gid=5\nuser --name=u --password=p --plaintext --lock --gecos='A B' --groups=g --homedir=/h --shell=/bin/sh --uid=7 --gid=5\n\
        sshkey --username=u 'ssh-ed25519 AAA c'\n\
        network --device=eth0 --bootproto=static --ip=192.0.2.2 --netmask=255.0.0.0 --gateway=192.0.2.1 --nameserver=192.0.2.3 --hostname=h --activate --onboot=no --noipv6 --mtu=9000 --vlanid=7 --interfacename=v7 --bondslaves=a,b --bondopts=mode=1 --nodns --nodefroute\n\
        services --enabled=a --disabled=b\nselinux --disabled\nfirewall --enabled --service=ssh --remove-service=x --port=1:tcp --trust=eth1 --use-system-defaults\n\
        bootloader --append='a b' --timeout=3 --location=none --password=h --iscrypted --boot-drive=vda --driveorder=vda,vdb --leavebootorder\n\
        zerombr\nclearpart --linux --drives=vda --initlabel --disklabel=msdos\nreqpart\nautopart --type=thinp --fstype=xfs --noboot --encrypted --passphrase=p\n\
        part /boot --size=512 --fstype=ext4 --ondisk=vda --asprimary --label=boot --fsoptions=noatime --mkfsoptions=-m0\npart swap --recommended\n\
        xconfig --startxonboot\nskipx\neula --agreed\nfirstboot --reconfig\ngraphical\npoweroff\nauth --useshadow\n\
        %packages --excludedocs --inst-langs=en\n@core --nodefaults\n-@x\n@^e\n@m:s/p\nvim*\n-nano\n%end\n\
        %pre --interpreter=/bin/bash\necho pre\n%end\n%post --nochroot --erroronfail --log=/tmp/l\necho post\n%end\n%addon org_x --on\nbody\n%end\n";
    let first = ks(text);
    let flat = first.render();
    let second = parse_text(Path::new("flat.ks"), &flat)
        .unwrap_or_else(|f| panic!("{f}\n{flat}"))
        .kickstart;
    assert_eq!(second, first, "flattened:\n{flat}");
    assert_eq!(second.render(), flat);
}

// ---- the overlay extension ---------------------------------------------------

#[test]
fn overlay_paths_resolve_against_the_file_that_names_them() {
    let tree = Tree::new(&[
        ("top.ks", "overlay trees/top\n%include sub/base.ks\n"),
        (
            "sub/base.ks",
            "overlay ../trees/base\noverlay 'tree with space'\n",
        ),
        ("trees/top/etc/motd", "top\n"),
        ("trees/base/etc/issue", "base\n"),
        ("sub/tree with space/x", "x\n"),
    ]);
    let k = parse_file(&tree.path("top.ks")).expect("valid").kickstart;
    let paths: Vec<&Path> = k.overlays.iter().map(|o| o.value.as_path()).collect();
    let canonical = |name: &str| tree.path(name).canonicalize().expect("canonical");
    assert_eq!(
        paths,
        [
            canonical("trees/top"),
            canonical("trees/base"),
            canonical("sub/tree with space"),
        ]
    );
    assert!(k.overlays[1].origin.file.ends_with("base.ks"));
    assert_eq!(k.overlays[1].origin.line, 1);
}

#[test]
fn overlay_errors_name_the_line() {
    let tree = Tree::new(&[
        ("top.ks", "lang C\noverlay missing/tree\n"),
        ("file.ks", "overlay top.ks\n"),
        ("bare.ks", "\n\noverlay\n"),
        ("two.ks", "overlay a b\n"),
    ]);
    let message = |name: &str| {
        parse_file(&tree.path(name))
            .expect_err("overlay error")
            .first()
            .expect("error")
            .to_string()
    };
    let missing = message("top.ks");
    assert!(
        missing.contains("top.ks:2: overlay: cannot use missing/tree"),
        "{missing}"
    );
    assert!(missing.contains("No such file"), "{missing}");
    let file = message("file.ks");
    assert!(
        file.contains("file.ks:1: overlay:") && file.contains("is not a directory"),
        "{file}"
    );
    assert!(
        message("bare.ks").contains("bare.ks:3: overlay: a directory is required"),
        "{}",
        message("bare.ks")
    );
    assert!(message("two.ks").contains("overlay takes one directory"));
}

#[test]
fn flatten_keeps_overlays_with_their_resolved_paths() {
    let tree = Tree::new(&[
        ("ks/top.ks", "overlay ../o\nservices --enabled=ssh\n"),
        ("o/etc/motd", "hi\n"),
    ]);
    let first = parse_file(&tree.path("ks/top.ks"))
        .expect("valid")
        .kickstart;
    let flat = first.render();
    assert!(flat.contains("overlay "), "{flat}");
    // Parsed from elsewhere, the flattened file still names the same tree.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let second = parse_text(&elsewhere.path().join("flat.ks"), &flat)
        .unwrap_or_else(|f| panic!("{f}\n{flat}"))
        .kickstart;
    assert_eq!(second, first);
    assert_eq!(
        second.overlays[0].value,
        tree.path("o").canonicalize().expect("o")
    );
}

#[test]
fn options_that_would_change_the_image_but_are_not_applied_are_warned_at_their_line() {
    let parsed = ok("url --url=http://m/debian --suite=bookworm\n\
                     skipx\n\
                     timesource --ntp-server=ntp.example\n\
                     bootloader --append=quiet --password=secret\n\
                     shutdown\n");
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        vec![
            "test.ks:3: warning: timesource is not applied: no time source is written into the image",
            "test.ks:4: warning: bootloader --password is not applied: the boot menu has no password",
        ]
    );
}
