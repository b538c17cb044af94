//! `timezone`, `lang` and `keyboard`, written where the distribution's own
//! tools keep them (Debian's tzdata, locales and keyboard-configuration;
//! systemd's locale.conf and vconsole.conf elsewhere).

use std::ffi::OsStr;

use crate::chroot::Chroot;
use crate::install::RootFs;
use crate::install::rootfs::Meta;
use crate::kickstart::Kickstart;
use crate::kickstart::commands::{Keyboard, Lang, Timezone};

use super::{ConfigureError, Conventions, KeyboardStyle, LocaleStyle, exists, in_root, read_text};

const ZONEINFO: &str = "/usr/share/zoneinfo";
const LOCALE_GEN: &str = "/etc/locale.gen";
const LOCALE_GEN_PROGRAM: &str = "/usr/sbin/locale-gen";
const SUPPORTED_LOCALES: &str = "/usr/share/i18n/SUPPORTED";

pub(super) fn apply(
    root: &RootFs,
    chroot: &Chroot,
    kickstart: &Kickstart,
    conventions: &Conventions,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigureError> {
    if let Some(timezone) = &kickstart.timezone {
        set_timezone(root, timezone, warnings)?;
    }
    if let Some(lang) = &kickstart.lang {
        check_locale_name(&lang.lang)?;
        match conventions.locale {
            LocaleStyle::DebianLocales => set_lang(root, chroot, lang, warnings)?,
            LocaleStyle::LocaleConf => root.write_bytes(
                &in_root("/etc/locale.conf")?,
                format!("LANG={}\n", lang.lang).as_bytes(),
                0o644,
            )?,
        }
    }
    if let Some(keyboard) = &kickstart.keyboard {
        set_keyboard(root, keyboard, conventions.keyboard)?;
    }
    Ok(())
}

fn check_locale_name(lang: &str) -> Result<(), ConfigureError> {
    if lang.contains(['\n', '"', '\'', '\\', '$', '`']) {
        return Err(ConfigureError::invalid(
            "lang",
            format!("{lang:?} is not a locale name such as en_US.UTF-8"),
        ));
    }
    Ok(())
}

fn set_timezone(
    root: &RootFs,
    timezone: &Timezone,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigureError> {
    if let Some(zone) = &timezone.zone {
        let valid = !zone.is_empty()
            && !zone.starts_with('/')
            && zone.split('/').all(|part| !part.is_empty() && part != "..");
        if !valid {
            return Err(ConfigureError::invalid(
                "timezone",
                format!("{zone:?} is not a zone name such as Europe/Berlin"),
            ));
        }
        let target = format!("{ZONEINFO}/{zone}");
        if !exists(root, &target)? {
            if exists(root, ZONEINFO)? {
                return Err(ConfigureError::invalid(
                    "timezone",
                    format!(
                        "{zone} is not a time zone the image knows (no {target}); check the spelling, e.g. Europe/Berlin or Etc/UTC"
                    ),
                ));
            }
            warnings.push(format!(
                "timezone {zone}: the image has no tzdata, so /etc/localtime points to nothing; add tzdata to %packages"
            ));
        }
        root.symlink(
            &in_root("/etc/localtime")?,
            OsStr::new(&target),
            &Meta::root_owned(0o777),
        )?;
        root.write_bytes(
            &in_root("/etc/timezone")?,
            format!("{zone}\n").as_bytes(),
            0o644,
        )?;
    }
    // The third line of adjtime says how the hardware clock is kept.
    let clock = if timezone.utc { "UTC" } else { "LOCAL" };
    root.write_bytes(
        &in_root("/etc/adjtime")?,
        format!("0.0 0 0.0\n0\n{clock}\n").as_bytes(),
        0o644,
    )?;
    Ok(())
}

/// Locales glibc has built in: nothing to generate.
fn is_builtin(locale: &str) -> bool {
    matches!(locale, "C" | "POSIX" | "C.UTF-8" | "C.utf8")
}

fn set_lang(
    root: &RootFs,
    chroot: &Chroot,
    lang: &Lang,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigureError> {
    root.write_bytes(
        &in_root("/etc/default/locale")?,
        format!("LANG={}\n", lang.lang).as_bytes(),
        0o644,
    )?;
    let wanted: Vec<&str> = std::iter::once(&lang.lang)
        .chain(&lang.addsupport)
        .map(String::as_str)
        .filter(|locale| !is_builtin(locale))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let generator = in_root(LOCALE_GEN)?;
    let Some(current) = read_text(root, &generator)? else {
        warnings.push(format!(
            "lang {}: the image has no locales package, so programs fall back to the C locale; add locales to %packages",
            wanted.join(", ")
        ));
        return Ok(());
    };
    let supported = read_text(root, &in_root(SUPPORTED_LOCALES)?)?.unwrap_or_default();
    let updated = enable_locales(&current, &supported, &wanted)?;
    root.write_bytes(&generator, updated.as_bytes(), 0o644)?;
    if !exists(root, LOCALE_GEN_PROGRAM)? {
        return Err(ConfigureError::invalid(
            "lang",
            format!(
                "the image has {LOCALE_GEN} but no {LOCALE_GEN_PROGRAM} to generate locales with"
            ),
        ));
    }
    Ok(chroot.run(chroot.command(LOCALE_GEN_PROGRAM, &[]), "locale-gen")?)
}

/// `locale.gen` with each of `wanted` enabled: an existing (commented) line
/// is uncommented; otherwise the entry from `SUPPORTED` is added.
fn enable_locales(
    current: &str,
    supported: &str,
    wanted: &[&str],
) -> Result<String, ConfigureError> {
    let mut lines: Vec<String> = current.lines().map(str::to_owned).collect();
    for locale in wanted {
        let names = |line: &str| line.split_whitespace().next() == Some(*locale);
        let found = lines
            .iter_mut()
            .find(|line| names(line.trim_start_matches('#').trim_start()));
        match found {
            Some(line) => *line = line.trim_start_matches('#').trim_start().to_owned(),
            None => {
                let entry = supported.lines().find(|line| names(line)).ok_or_else(|| {
                    ConfigureError::invalid(
                        "lang",
                        format!(
                            "{locale} is not a locale the image supports (not in {SUPPORTED_LOCALES}); e.g. en_US.UTF-8"
                        ),
                    )
                })?;
                lines.push(entry.trim().to_owned());
            }
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(text)
}

/// `layout` or `layout (variant)`, as `--xlayouts` names them.
fn layout_and_variant(spec: &str) -> (String, String) {
    match spec.split_once('(') {
        Some((layout, variant)) => (
            layout.trim().to_owned(),
            variant.trim_end().trim_end_matches(')').trim().to_owned(),
        ),
        None => (spec.trim().to_owned(), String::new()),
    }
}

fn set_keyboard(
    root: &RootFs,
    keyboard: &Keyboard,
    style: KeyboardStyle,
) -> Result<(), ConfigureError> {
    let console = keyboard.vckeymap.as_ref().or(keyboard.keymap.as_ref());
    let layouts: Vec<(String, String)> = if keyboard.xlayouts.is_empty() {
        console.iter().map(|map| layout_and_variant(map)).collect()
    } else {
        keyboard
            .xlayouts
            .iter()
            .map(|spec| layout_and_variant(spec))
            .collect()
    };
    let values = [console.map(String::as_str).unwrap_or_default()]
        .into_iter()
        .chain(keyboard.switch.iter().map(String::as_str))
        .chain(layouts.iter().flat_map(|(l, v)| [l.as_str(), v.as_str()]));
    for value in values {
        if value.contains(['\n', '"', '\\', '$', '`']) {
            return Err(ConfigureError::invalid(
                "keyboard",
                format!("{value:?} is not a keymap or layout name"),
            ));
        }
    }
    let join = |pick: fn(&(String, String)) -> &str| {
        layouts.iter().map(pick).collect::<Vec<_>>().join(",")
    };
    match style {
        KeyboardStyle::DebianKeyboard => {
            let text = format!(
                "# KEYBOARD CONFIGURATION FILE, written from the kickstart's keyboard line\n\
                 XKBMODEL=\"pc105\"\nXKBLAYOUT=\"{}\"\nXKBVARIANT=\"{}\"\nXKBOPTIONS=\"{}\"\n\nBACKSPACE=\"guess\"\n",
                join(|(layout, _)| layout),
                join(|(_, variant)| variant),
                keyboard.switch.join(",")
            );
            root.write_bytes(&in_root("/etc/default/keyboard")?, text.as_bytes(), 0o644)?;
        }
        KeyboardStyle::Vconsole => {
            let text = format!(
                "# Written from the kickstart's keyboard line, as localectl writes it.\n\
                 Section \"InputClass\"\n\
                 \tIdentifier \"system-keyboard\"\n\
                 \tMatchIsKeyboard \"on\"\n\
                 \tOption \"XkbLayout\" \"{}\"\n\
                 \tOption \"XkbVariant\" \"{}\"\n\
                 \tOption \"XkbOptions\" \"{}\"\n\
                 EndSection\n",
                join(|(layout, _)| layout),
                join(|(_, variant)| variant),
                keyboard.switch.join(",")
            );
            root.write_bytes(
                &in_root("/etc/X11/xorg.conf.d/00-keyboard.conf")?,
                text.as_bytes(),
                0o644,
            )?;
        }
    }
    if let Some(keymap) = console {
        root.write_bytes(
            &in_root("/etc/vconsole.conf")?,
            format!("KEYMAP={keymap}\n").as_bytes(),
            0o644,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn locale_gen_lines_are_uncommented_or_added() {
        let current = "# This file lists locales\n# en_US.UTF-8 UTF-8\n#  de_DE.UTF-8 UTF-8\n# fr_FR ISO-8859-1\n";
        let supported = "en_US.UTF-8 UTF-8\nnl_NL.UTF-8 UTF-8\n";
        let updated = enable_locales(
            current,
            supported,
            &["en_US.UTF-8", "de_DE.UTF-8", "nl_NL.UTF-8"],
        )
        .expect("known locales");
        assert_eq!(
            updated,
            "# This file lists locales\nen_US.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\n# fr_FR ISO-8859-1\nnl_NL.UTF-8 UTF-8\n"
        );
        let error = enable_locales(current, supported, &["xx_YY.UTF-8"]).expect_err("unknown");
        assert!(
            error.to_string().contains("xx_YY.UTF-8 is not a locale"),
            "{error}"
        );
    }

    #[test]
    fn layouts_with_variants() {
        assert_eq!(
            layout_and_variant("cz (qwerty)"),
            ("cz".to_owned(), "qwerty".to_owned())
        );
        assert_eq!(layout_and_variant("us"), ("us".to_owned(), String::new()));
    }

    #[test]
    fn timezone_and_keyboard_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join("usr/share/zoneinfo/Europe")).expect("zoneinfo");
        fs::write(dir.path().join("usr/share/zoneinfo/Europe/Paris"), "TZif").expect("zone");
        let root = RootFs::open(dir.path()).expect("root");
        let mut warnings = Vec::new();
        let zone = |name: &str, utc| Timezone {
            zone: Some(name.to_owned()),
            utc,
            ..Timezone::default()
        };
        set_timezone(&root, &zone("Europe/Paris", false), &mut warnings).expect("known zone");
        let read = |p: &str| fs::read_to_string(dir.path().join(p)).expect(p);
        assert_eq!(
            fs::read_link(dir.path().join("etc/localtime")).expect("link"),
            std::path::Path::new("/usr/share/zoneinfo/Europe/Paris")
        );
        assert_eq!(read("etc/timezone"), "Europe/Paris\n");
        assert_eq!(read("etc/adjtime"), "0.0 0 0.0\n0\nLOCAL\n");
        for bad in ["Mars/Base", "../etc/passwd", "/Europe/Paris"] {
            let error = set_timezone(&root, &zone(bad, true), &mut warnings).expect_err(bad);
            assert!(error.to_string().starts_with("timezone: "), "{error}");
        }
        assert!(warnings.is_empty());

        let keyboard = Keyboard {
            keymap: None,
            vckeymap: Some("cz-qwerty".to_owned()),
            xlayouts: vec!["cz (qwerty)".to_owned(), "us".to_owned()],
            switch: vec!["grp:alt_shift_toggle".to_owned()],
        };
        set_keyboard(&root, &keyboard, KeyboardStyle::DebianKeyboard).expect("keyboard");
        let file = read("etc/default/keyboard");
        assert!(
            file.contains(
                "XKBLAYOUT=\"cz,us\"\nXKBVARIANT=\"qwerty,\"\nXKBOPTIONS=\"grp:alt_shift_toggle\"\n"
            ),
            "{file}"
        );
        assert_eq!(read("etc/vconsole.conf"), "KEYMAP=cz-qwerty\n");
        let legacy = Keyboard {
            keymap: Some("de".to_owned()),
            ..Keyboard::default()
        };
        set_keyboard(&root, &legacy, KeyboardStyle::DebianKeyboard).expect("keyboard");
        assert!(read("etc/default/keyboard").contains("XKBLAYOUT=\"de\"\n"));

        // Where systemd keeps them (an RPM image).
        set_keyboard(&root, &keyboard, KeyboardStyle::Vconsole).expect("keyboard");
        let x11 = read("etc/X11/xorg.conf.d/00-keyboard.conf");
        assert!(x11.contains("Option \"XkbLayout\" \"cz,us\"\n"), "{x11}");
        assert!(x11.contains("Option \"XkbVariant\" \"qwerty,\"\n"), "{x11}");
    }

    #[test]
    fn lang_goes_to_locale_conf_where_the_distribution_keeps_it_there() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = RootFs::open(dir.path()).expect("root");
        let chroot = Chroot::new(dir.path(), &dir.path().join("log")).expect("chroot");
        let kickstart = Kickstart {
            lang: Some(Lang {
                lang: "de_DE.UTF-8".to_owned(),
                addsupport: vec![],
            }),
            ..Kickstart::default()
        };
        let systemd_style = Conventions {
            locale: LocaleStyle::LocaleConf,
            keyboard: KeyboardStyle::Vconsole,
            caches: &[],
            build_records: &[],
            ssh: crate::distro::debian::CONVENTIONS.ssh,
        };
        let mut warnings = Vec::new();
        apply(&root, &chroot, &kickstart, &systemd_style, &mut warnings).expect("applied");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/locale.conf")).expect("locale.conf"),
            "LANG=de_DE.UTF-8\n"
        );
        assert!(!dir.path().join("etc/default/locale").exists());
    }

    #[test]
    fn lang_without_the_locales_package_warns() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = RootFs::open(dir.path()).expect("root");
        let chroot = Chroot::new(dir.path(), &dir.path().join("log")).expect("chroot");
        let mut warnings = Vec::new();
        let lang = |name: &str| Lang {
            lang: name.to_owned(),
            addsupport: vec![],
        };
        set_lang(&root, &chroot, &lang("C.UTF-8"), &mut warnings).expect("built in");
        assert!(warnings.is_empty());
        set_lang(&root, &chroot, &lang("de_DE.UTF-8"), &mut warnings).expect("written");
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/default/locale")).expect("locale"),
            "LANG=de_DE.UTF-8\n"
        );
        assert!(warnings[0].contains("no locales package"), "{warnings:?}");
        assert!(check_locale_name("x\"y").is_err());
        assert!(check_locale_name("de_DE.UTF-8").is_ok());
    }
}
