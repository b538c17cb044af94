//! Kernel modules by name, from the image's `modules.dep` and
//! `modules.builtin`, closed over their dependencies in a load order.

use std::collections::{HashMap, HashSet};

/// What `depmod` wrote for one kernel: each loadable module's file (relative
/// to `/lib/modules/VER`) and the files it needs, and the built-in names.
#[derive(Debug, Default)]
pub struct ModuleIndex {
    /// Module name (dashes as underscores) to its file.
    files: HashMap<String, String>,
    /// Module file to the files it depends on.
    deps: HashMap<String, Vec<String>>,
    builtin: HashSet<String>,
}

/// A `modules.dep` line that is not `file: [dep...]`.
#[derive(Debug, PartialEq, Eq)]
pub struct MalformedLine(pub usize);

/// Which of the wanted modules cannot be found.
#[derive(Debug, PartialEq, Eq)]
pub enum ClosureError {
    /// Neither loadable nor built in.
    Unknown(String),
    /// A file named as a dependency has no line of its own.
    UnlistedDependency(String),
}

impl ModuleIndex {
    /// Reads `modules.dep` and `modules.builtin` (either may be empty; a
    /// kernel with everything built in has no loadable modules).
    pub fn parse(modules_dep: &str, modules_builtin: &str) -> Result<Self, MalformedLine> {
        let mut index = Self::default();
        for (number, line) in modules_dep.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (file, deps) = line.split_once(':').ok_or(MalformedLine(number + 1))?;
            let file = file.trim();
            if file.is_empty() {
                return Err(MalformedLine(number + 1));
            }
            index.files.insert(module_name(file), file.to_owned());
            index.deps.insert(
                file.to_owned(),
                deps.split_whitespace().map(str::to_owned).collect(),
            );
        }
        index.builtin = modules_builtin
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(module_name)
            .collect();
        Ok(index)
    }

    /// Whether the kernel has the module `name`, loadable or built in.
    pub fn knows(&self, name: &str) -> bool {
        let name = normalize(name);
        self.files.contains_key(&name) || self.builtin.contains(&name)
    }

    /// The files to load for `wanted`, every dependency before the modules
    /// that need it; built-in modules need no file and are left out.
    pub fn closure(&self, wanted: &[&str]) -> Result<Vec<String>, ClosureError> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        for name in wanted {
            let name = normalize(name);
            match self.files.get(&name) {
                Some(file) => self.visit(file, &mut seen, &mut order)?,
                None if self.builtin.contains(&name) => {}
                None => return Err(ClosureError::Unknown(name)),
            }
        }
        Ok(order)
    }

    // depmod lists the whole transitive closure on each line already, but a
    // depth-first walk also gets the order right for a hand-written or
    // partial file without relying on the order of the list.
    fn visit(
        &self,
        file: &str,
        seen: &mut HashSet<String>,
        order: &mut Vec<String>,
    ) -> Result<(), ClosureError> {
        if !seen.insert(file.to_owned()) {
            return Ok(());
        }
        let deps = self
            .deps
            .get(file)
            .ok_or_else(|| ClosureError::UnlistedDependency(file.to_owned()))?;
        for dep in deps {
            self.visit(dep, seen, order)?;
        }
        order.push(file.to_owned());
        Ok(())
    }
}

/// `kernel/fs/isofs/isofs.ko.xz` → `isofs`, with dashes as underscores the
/// way the kernel names modules.
pub fn module_name(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    let base = base.split_once(".ko").map_or(base, |(stem, _)| stem);
    normalize(base)
}

fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/drivers/scsi/sr_mod.ko.xz: kernel/drivers/cdrom/cdrom.ko.xz kernel/drivers/scsi/scsi_mod.ko.xz
kernel/drivers/cdrom/cdrom.ko.xz:
kernel/drivers/scsi/scsi_mod.ko.xz: kernel/drivers/scsi/scsi_common.ko.xz
kernel/drivers/scsi/scsi_common.ko.xz:
kernel/drivers/usb/storage/usb-storage.ko.zst: kernel/drivers/scsi/scsi_mod.ko.xz
kernel/fs/isofs/isofs.ko:
";

    #[test]
    fn a_module_is_known_loadable_or_built_in_by_either_spelling() {
        let index = ModuleIndex::parse(DEP, "kernel/drivers/net/virtio_net.ko\n").unwrap();
        assert!(index.knows("usb_storage"));
        assert!(index.knows("usb-storage"));
        assert!(index.knows("virtio_net"));
        assert!(!index.knows("e1000e"));
    }

    #[test]
    fn dependencies_come_before_their_users_once_each() {
        let index = ModuleIndex::parse(DEP, "").unwrap();
        let order = index.closure(&["sr_mod", "usb_storage", "isofs"]).unwrap();
        assert_eq!(
            order,
            [
                "kernel/drivers/cdrom/cdrom.ko.xz",
                "kernel/drivers/scsi/scsi_common.ko.xz",
                "kernel/drivers/scsi/scsi_mod.ko.xz",
                "kernel/drivers/scsi/sr_mod.ko.xz",
                "kernel/drivers/usb/storage/usb-storage.ko.zst",
                "kernel/fs/isofs/isofs.ko",
            ]
        );
    }

    #[test]
    fn dashes_and_underscores_name_the_same_module() {
        let index = ModuleIndex::parse(DEP, "").unwrap();
        assert_eq!(
            index.closure(&["usb-storage"]).unwrap().last().unwrap(),
            "kernel/drivers/usb/storage/usb-storage.ko.zst"
        );
    }

    #[test]
    fn built_in_modules_need_no_file() {
        let index = ModuleIndex::parse(DEP, "kernel/fs/overlayfs/overlay.ko\n").unwrap();
        assert_eq!(
            index.closure(&["overlay", "isofs"]).unwrap(),
            ["kernel/fs/isofs/isofs.ko"]
        );
    }

    #[test]
    fn a_missing_module_is_named() {
        let index = ModuleIndex::parse(DEP, "").unwrap();
        assert_eq!(
            index.closure(&["isofs", "nvme"]),
            Err(ClosureError::Unknown("nvme".into()))
        );
    }

    #[test]
    fn a_dependency_without_its_own_line_is_an_error() {
        let index = ModuleIndex::parse("a.ko: b.ko\n", "").unwrap();
        assert_eq!(
            index.closure(&["a"]),
            Err(ClosureError::UnlistedDependency("b.ko".into()))
        );
    }

    #[test]
    fn a_line_without_a_colon_is_malformed() {
        assert_eq!(
            ModuleIndex::parse("a.ko:\nb.ko c.ko\n", "").unwrap_err(),
            MalformedLine(2)
        );
    }

    #[test]
    fn module_names_drop_directory_and_compression_suffix() {
        assert_eq!(module_name("kernel/a/usb-storage.ko.zst"), "usb_storage");
        assert_eq!(module_name("x.ko"), "x");
    }
}
