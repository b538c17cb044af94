//! `comps` (repomd type `group`): the package groups a kickstart names as
//! `@group` and the environments it names as `@^environment`.
//!
//! Only what installing needs is kept: ids, names, which packages a group
//! holds and how strongly (mandatory, default, optional, conditional), and
//! which groups an environment pulls in. Translations, categories and
//! langpacks are skipped.

use std::io::BufRead;

use super::xml::{Element, XmlError, XmlStream};

/// How a group lists a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupPackageKind {
    Mandatory,
    Default,
    Optional,
    /// Installed only when `requires` is installed too.
    Conditional {
        requires: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPackage {
    pub name: String,
    pub kind: GroupPackageKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    /// The untranslated display name.
    pub name: String,
    pub packages: Vec<GroupPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub id: String,
    pub name: String,
    /// Groups always installed with the environment.
    pub groups: Vec<String>,
    /// Groups offered as options, installed only when asked for.
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Comps {
    pub groups: Vec<Group>,
    pub environments: Vec<Environment>,
}

impl Comps {
    /// The group a kickstart's `@name` means: by id, else by display name
    /// (anaconda accepts both), ignoring case.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.id.eq_ignore_ascii_case(name))
            .or_else(|| {
                self.groups
                    .iter()
                    .find(|g| g.name.eq_ignore_ascii_case(name))
            })
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments
            .iter()
            .find(|e| e.id.eq_ignore_ascii_case(name))
            .or_else(|| {
                self.environments
                    .iter()
                    .find(|e| e.name.eq_ignore_ascii_case(name))
            })
    }

    /// Adds `other`'s groups and environments; with several repositories
    /// the first one to define an id wins, as dnf merges them.
    pub fn merge(&mut self, other: &Comps) {
        for group in &other.groups {
            if !self.groups.iter().any(|g| g.id == group.id) {
                self.groups.push(group.clone());
            }
        }
        for environment in &other.environments {
            if !self.environments.iter().any(|e| e.id == environment.id) {
                self.environments.push(environment.clone());
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompsError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("<{element}> at byte {offset} has no <id>")]
    NoId { element: String, offset: u64 },
    #[error("<packagereq> at byte {offset}: unknown type {kind:?}")]
    UnknownType { offset: u64, kind: String },
}

/// Reads a comps document.
pub fn parse_comps(input: impl BufRead) -> Result<Comps, CompsError> {
    let mut stream = XmlStream::open(input, "comps")?;
    let mut comps = Comps::default();
    while let Some(child) = stream.next_child()? {
        match child.name.as_str() {
            "group" => comps.groups.push(group(&child)?),
            "environment" => comps.environments.push(environment(&child)?),
            _ => {}
        }
    }
    Ok(comps)
}

fn id_and_name(element: &Element) -> Result<(String, String), CompsError> {
    let id = element
        .child("id")
        .map(|id| id.text.trim().to_owned())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| CompsError::NoId {
            element: element.name.clone(),
            offset: element.offset,
        })?;
    // The untranslated name is the one without xml:lang.
    let name = element
        .children_named("name")
        .find(|n| n.attr("xml:lang").is_none())
        .map_or_else(|| id.clone(), |n| n.text.trim().to_owned());
    Ok((id, name))
}

fn group(element: &Element) -> Result<Group, CompsError> {
    let (id, name) = id_and_name(element)?;
    let mut packages = Vec::new();
    for list in element.children_named("packagelist") {
        for req in list.children_named("packagereq") {
            let kind = match req.attr("type").unwrap_or("mandatory") {
                "mandatory" => GroupPackageKind::Mandatory,
                "default" => GroupPackageKind::Default,
                "optional" => GroupPackageKind::Optional,
                "conditional" => GroupPackageKind::Conditional {
                    requires: req.attr("requires").unwrap_or_default().to_owned(),
                },
                other => {
                    return Err(CompsError::UnknownType {
                        offset: req.offset,
                        kind: other.to_owned(),
                    });
                }
            };
            packages.push(GroupPackage {
                name: req.text.trim().to_owned(),
                kind,
            });
        }
    }
    Ok(Group { id, name, packages })
}

fn environment(element: &Element) -> Result<Environment, CompsError> {
    let (id, name) = id_and_name(element)?;
    let ids = |list: &str| -> Vec<String> {
        element
            .children_named(list)
            .flat_map(|l| l.children_named("groupid"))
            .map(|g| g.text.trim().to_owned())
            .collect()
    };
    Ok(Environment {
        id,
        name,
        groups: ids("grouplist"),
        options: ids("optionlist"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>core</id>
    <name>Core</name>
    <name xml:lang="de">Kern</name>
    <packagelist>
      <packagereq type="mandatory">bash</packagereq>
      <packagereq>coreutils</packagereq>
      <packagereq type="default">vim-minimal</packagereq>
      <packagereq type="optional">emacs</packagereq>
      <packagereq type="conditional" requires="gnome-shell">gnome-tweaks</packagereq>
    </packagelist>
  </group>
  <category><id>ignored</id></category>
  <environment>
    <id>server-environment</id>
    <name>Server</name>
    <grouplist><groupid>core</groupid></grouplist>
    <optionlist><groupid>web</groupid></optionlist>
  </environment>
</comps>
"#;

    #[test]
    fn groups_and_environments_are_read() {
        let comps = parse_comps(COMPS.as_bytes()).unwrap();
        let core = comps.group("Core").unwrap();
        assert_eq!(core.id, "core");
        assert_eq!(core.name, "Core");
        let kinds: Vec<(&str, &GroupPackageKind)> = core
            .packages
            .iter()
            .map(|p| (p.name.as_str(), &p.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("bash", &GroupPackageKind::Mandatory),
                ("coreutils", &GroupPackageKind::Mandatory),
                ("vim-minimal", &GroupPackageKind::Default),
                ("emacs", &GroupPackageKind::Optional),
                (
                    "gnome-tweaks",
                    &GroupPackageKind::Conditional {
                        requires: "gnome-shell".into()
                    }
                ),
            ]
        );
        let server = comps.environment("server-environment").unwrap();
        assert_eq!(server.groups, ["core"]);
        assert_eq!(server.options, ["web"]);
        assert!(comps.group("ignored").is_none());
    }

    #[test]
    fn a_group_without_id_or_with_an_unknown_type_is_an_error() {
        let no_id = "<comps><group><name>X</name></group></comps>";
        assert!(matches!(
            parse_comps(no_id.as_bytes()),
            Err(CompsError::NoId { .. })
        ));
        let bad = "<comps><group><id>x</id><packagelist><packagereq type=\"sometimes\">a</packagereq></packagelist></group></comps>";
        assert!(matches!(
            parse_comps(bad.as_bytes()),
            Err(CompsError::UnknownType { .. })
        ));
    }
}
