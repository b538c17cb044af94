//! Installing a whole package set into an empty root, the way a Debian
//! bootstrapper does: the files are unpacked natively (fast, and never
//! outside the root), the maintainer scripts and the configuration are left
//! to the image's own `dpkg`, run inside the root.
//!
//! The order is debootstrap's and mmdebstrap's: the Essential set and what
//! it depends on is unpacked first, so that `/bin/sh`, `dpkg` and the
//! coreutils exist; its `preinst` scripts then run and `dpkg --configure`
//! makes it a working base system. Every other package follows in
//! dependency order: `preinst install`, unpack, and once all are unpacked,
//! `dpkg --configure` of all but the kernels and what needs them, then
//! `dpkg --configure --pending` (so the initramfs is built once). The
//! kernels, the largest archives by far, are unpacked last, while the
//! image's scripts configure everything else on the other core. A
//! `Pre-Depends` is configured before the package that needs it is
//! unpacked, as dpkg requires.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::path::Path;

use indicatif::ProgressBar;
use thiserror::Error;

use super::conflicts::FileConflicts;
use super::deb::{DebError, DebPackage, Unpacked};
use super::deb_conflicts::{self, DebConflictError, DebPlan};
use super::dpkg_db::{self, DbError};
use super::rootfs::{InRootPath, Meta, RootError, RootFs};
use crate::chroot::{Chroot, ChrootError};
use crate::interrupt::{self, Interrupted};
use crate::repo::packages::BinaryPackage;
use crate::repo::relation::Relations;

/// One package of the set: its index entry and its verified `.deb`.
#[derive(Debug, Clone, Copy)]
pub struct ToInstall<'a> {
    pub package: &'a BinaryPackage,
    pub deb: &'a Path,
}

#[derive(Debug, Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Deb(#[from] DebError),
    #[error(transparent)]
    Conflicts(#[from] DebConflictError),
    #[error(transparent)]
    Root(#[from] RootError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Chroot(#[from] ChrootError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(
        "the package set has no Essential package, so the image would have no shell or dpkg to configure it with (is the base set missing from the repositories?)"
    )]
    NoEssential,
}

/// The program that tells `invoke-rc.d` and `deb-systemd-invoke` not to
/// start services: nothing of the image may run as a daemon on the build
/// host.
const POLICY_RC_D: &str = "usr/sbin/policy-rc.d";

/// Where dpkg itself keeps a package's control scripts while it unpacks.
const CONTROL_TEMP: &str = "var/lib/dpkg/tmp.ci";

/// Top-level directories that are links into `/usr` on a merged-/usr
/// system (the layout Debian installs since bookworm), per architecture.
fn merged_usr_dirs(arch: &str) -> &'static [&'static str] {
    match arch {
        "amd64" | "ppc64el" | "s390x" | "loong64" => &["bin", "sbin", "lib", "lib64"],
        _ => &["bin", "sbin", "lib"],
    }
}

/// Lays out an empty root: merged `/usr`, the API filesystem mount points,
/// an empty dpkg database for `arch`, and a `policy-rc.d` that forbids
/// service starts (removed with [`allow_service_starts`]).
pub fn prepare_root(root: &RootFs, arch: &str) -> Result<(), BootstrapError> {
    let dir = |path: &str| InRootPath::parse(path);
    for top in merged_usr_dirs(arch) {
        root.create_dir_all(&dir(&format!("usr/{top}"))?, 0o755)?;
        root.symlink(
            &dir(top)?,
            OsStr::new(&format!("usr/{top}")),
            &Meta::root_owned(0o777),
        )?;
    }
    for (path, mode) in [
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("tmp", 0o1777),
    ] {
        root.create_dir(&dir(path)?, &Meta::root_owned(mode))?;
    }
    dpkg_db::init(root, arch)?;
    root.create_dir_all(&dir("usr/sbin")?, 0o755)?;
    root.write_bytes(
        &dir(POLICY_RC_D)?,
        b"#!/bin/sh\n# Written by livecompose while it builds the image.\nexit 101\n",
        0o755,
    )?;
    Ok(())
}

/// Removes the build-time `policy-rc.d`, so the finished image starts its
/// services normally.
pub fn allow_service_starts(root: &RootFs) -> Result<(), BootstrapError> {
    root.remove_file(&InRootPath::parse(POLICY_RC_D)?)?;
    Ok(())
}

/// The install order: which packages form the base system, and in which
/// order everything is unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Order {
    /// Indexes of the Essential packages and everything they depend on.
    base: Vec<usize>,
    /// Indexes of the other packages, dependencies before dependents.
    rest: Vec<usize>,
    /// For each package, the packages its `Pre-Depends` resolve to.
    pre_depends: Vec<Vec<usize>>,
    /// For each package, what its `Depends` and `Pre-Depends` resolve to.
    depends: Vec<Vec<usize>>,
}

impl Order {
    fn new(packages: &[&BinaryPackage]) -> Self {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, package) in packages.iter().enumerate() {
            by_name.entry(&package.name).or_default().push(index);
            for group in &package.provides {
                for provided in group {
                    by_name.entry(&provided.name).or_default().push(index);
                }
            }
        }
        // The first alternative that the set contains is the one dpkg will
        // see satisfied; the resolver made sure one is there.
        let resolve = |relations: &Relations| -> Vec<usize> {
            let mut found: Vec<usize> = relations
                .iter()
                .filter_map(|group| {
                    group
                        .iter()
                        .find_map(|relation| by_name.get(relation.name.as_str()))
                        .and_then(|indexes| indexes.first().copied())
                })
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        };
        let pre_depends: Vec<Vec<usize>> =
            packages.iter().map(|p| resolve(&p.pre_depends)).collect();
        let depends: Vec<Vec<usize>> = packages
            .iter()
            .zip(&pre_depends)
            .map(|(p, pre)| {
                let mut all = resolve(&p.depends);
                all.extend(pre);
                all.sort_unstable();
                all.dedup();
                all
            })
            .collect();

        // Visiting in name order makes the result independent of the order
        // the resolver listed packages in.
        let mut by_package_name: Vec<usize> = (0..packages.len()).collect();
        by_package_name.sort_by(|&a, &b| packages[a].name.cmp(&packages[b].name));

        let mut placed = vec![false; packages.len()];
        let mut base = Vec::new();
        for &index in &by_package_name {
            if packages[index].essential {
                place_after_dependencies(index, &depends, &mut placed, &mut base);
            }
        }
        let mut rest = Vec::new();
        for &index in &by_package_name {
            place_after_dependencies(index, &depends, &mut placed, &mut rest);
        }
        Order {
            base,
            rest,
            pre_depends,
            depends,
        }
    }

    /// `targets` and every package that depends on one of them (within the
    /// set), transitively.
    fn dependents(&self, targets: &[usize]) -> BTreeSet<usize> {
        let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); self.depends.len()];
        for (package, dependencies) in self.depends.iter().enumerate() {
            for &dependency in dependencies {
                needed_by[dependency].push(package);
            }
        }
        let mut seen = BTreeSet::new();
        let mut stack = targets.to_vec();
        while let Some(next) = stack.pop() {
            if seen.insert(next) {
                stack.extend(&needed_by[next]);
            }
        }
        seen
    }

    /// The packages unpacked last, during the configuration of all the
    /// others: the kernels among `rest` and everything that depends on
    /// them, in `rest`'s order. None when one of them is in the base (the
    /// base is configured before anything else is unpacked) or must see
    /// another of them configured before it is unpacked (`Pre-Depends`).
    fn unpacked_last(&self, kernels: &[usize]) -> Vec<usize> {
        let last = self.dependents(kernels);
        let pre_depends_among_them = last
            .iter()
            .any(|&index| self.pre_depends[index].iter().any(|pre| last.contains(pre)));
        if pre_depends_among_them || self.base.iter().any(|index| last.contains(index)) {
            return Vec::new();
        }
        self.rest
            .iter()
            .copied()
            .filter(|index| last.contains(index))
            .collect()
    }

    /// `index` and everything it depends on (within the set), transitively.
    fn closure(&self, index: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![index];
        while let Some(next) = stack.pop() {
            if seen.insert(next) {
                stack.extend(&self.depends[next]);
            }
        }
        seen
    }
}

/// Whether a package's `path` is a kernel Debian's hooks make an initramfs
/// for.
fn is_kernel_image(path: &str) -> bool {
    path.trim_start_matches('/')
        .strip_prefix("boot/vmlinuz-")
        .is_some_and(|version| !version.is_empty() && !version.contains('/'))
}

/// The packages of `candidates` whose `md5sums` (the list of their files
/// that every Debian kernel package has) names a kernel image: found
/// before anything is unpacked, from the small control archives. A kernel
/// without one is still found when it is unpacked, only not unpacked last.
fn kernels_by_file_list(
    packages: &[ToInstall<'_>],
    candidates: &[usize],
) -> Result<Vec<usize>, BootstrapError> {
    let found = crate::parallel::try_map(candidates, |&index| {
        let deb = DebPackage::open(packages[index].deb)?;
        let ships_kernel = deb.control_file("md5sums").is_some_and(|md5sums| {
            String::from_utf8_lossy(md5sums)
                .lines()
                .filter_map(|line| line.split_once("  ").map(|(_, path)| path))
                .any(is_kernel_image)
        });
        Ok::<_, BootstrapError>(ships_kernel.then_some(index))
    })?;
    Ok(found.into_iter().flatten().collect())
}

/// Depth-first post-order: dependencies land before dependents; a cycle is
/// cut where it closes, as dpkg does.
fn place_after_dependencies(
    start: usize,
    depends: &[Vec<usize>],
    placed: &mut [bool],
    out: &mut Vec<usize>,
) {
    // An explicit stack: dependency chains in real archives are deep enough
    // that recursion depth is worth not betting on.
    let mut stack = vec![(start, 0usize)];
    if placed[start] {
        return;
    }
    placed[start] = true;
    while let Some((node, next_child)) = stack.pop() {
        if let Some(&child) = depends[node].get(next_child) {
            stack.push((node, next_child + 1));
            if !placed[child] {
                placed[child] = true;
                stack.push((child, 0));
            }
        } else {
            out.push(node);
        }
    }
}

/// Installs `packages` into `root` (prepared by [`prepare_root`]), running
/// their maintainer scripts through `chroot`. `bar` counts packages. The
/// packages' file lists are checked for conflicts first, in the order they
/// will be unpacked; `policy` says whether one stops the installation
/// before anything is written. Returns the conflicts let through, one
/// warning each.
pub fn install(
    root: &RootFs,
    chroot: &Chroot,
    packages: &[ToInstall<'_>],
    policy: FileConflicts,
    bar: &ProgressBar,
) -> Result<Vec<String>, BootstrapError> {
    let index_entries: Vec<&BinaryPackage> = packages.iter().map(|p| p.package).collect();
    let order = Order::new(&index_entries);
    if order.base.is_empty() {
        return Err(BootstrapError::NoEssential);
    }
    bar.set_message("checking the packages for file conflicts");
    let kernels = kernels_by_file_list(packages, &order.rest)?;
    let last = order.unpacked_last(&kernels);
    let earlier: Vec<usize> = order
        .rest
        .iter()
        .copied()
        .filter(|index| !last.contains(index))
        .collect();
    // The unpack order, which decides who owns a path two packages ship.
    let sequence: Vec<usize> = order
        .base
        .iter()
        .chain(&earlier)
        .chain(&last)
        .copied()
        .collect();
    let debs: Vec<&Path> = sequence.iter().map(|&i| packages[i].deb).collect();
    let plan = deb_conflicts::check(root, &debs, policy)?;
    let mut position = vec![0; packages.len()];
    for (at, &index) in sequence.iter().enumerate() {
        position[index] = at;
    }
    let mut installer = Installer {
        root,
        chroot,
        packages,
        bar,
        plan: &plan,
        position,
        instance: vec![None; packages.len()],
        configured: vec![false; packages.len()],
        unpacked_paths: Vec::new(),
        kernels: kernels.into_iter().collect(),
    };

    bar.set_message("unpacking the base system");
    let mut base_debs = Vec::new();
    for &index in &order.base {
        let mut deb = DebPackage::open(packages[index].deb)?;
        installer.unpack(index, &mut deb)?;
        base_debs.push((index, deb));
    }
    // The base system had no shell before it was unpacked; its preinst
    // scripts run now, as debootstrap runs them when it reinstalls it.
    for (index, deb) in &base_debs {
        installer.run_preinst(*index, deb)?;
    }
    bar.set_message("configuring the base system");
    installer.configure(&order.base)?;

    for &index in &earlier {
        let mut deb = installer.prepare_unpack(index, &order)?;
        installer.unpack(index, &mut deb)?;
    }
    let mut unpacking_last = Vec::new();
    for &index in &last {
        unpacking_last.push((index, installer.prepare_unpack(index, &order)?));
    }

    bar.set_message("configuring packages");
    // A kernel's postinst builds its initramfs, and initramfs-tools'
    // trigger, which other packages' scripts activate, builds it again once
    // dpkg processes triggers: left to `--configure --pending`, dpkg builds
    // it twice (20 s each for Debian's kernel). Everything else is
    // configured first, the trigger then finding no initramfs to update,
    // so the kernels' hooks build it once, from a configured system.
    let kernels: Vec<usize> = installer.kernels.iter().copied().collect();
    let after_kernels = order.dependents(&kernels);
    let first: Vec<usize> = if after_kernels.is_empty() {
        Vec::new()
    } else {
        sequence
            .iter()
            .copied()
            .filter(|&i| !installer.configured[i] && !after_kernels.contains(&i))
            .collect()
    };
    // Meanwhile the kernels are unpacked (files only: dpkg owns its
    // database while it configures), so that decompressing them and the
    // image's scripts share the two cores instead of taking turns. Nothing
    // being configured needs them; they are recorded once dpkg is done.
    // They see the diversions registered before the configuration starts,
    // whenever the scripts register theirs, so the result never depends on
    // which of the two goes faster.
    let positions: Vec<usize> = last
        .iter()
        .map(|&index| installer.position[index])
        .collect();
    let diversions = dpkg_db::diversions(root)?;
    let unpacked_last = std::thread::scope(|scope| {
        let unpacking = scope.spawn(|| {
            unpacking_last
                .into_iter()
                .zip(&positions)
                .map(|((index, mut deb), &position)| {
                    let unpacked =
                        deb_conflicts::unpack_shared(root, &mut deb, &plan, position, &diversions)?;
                    Ok::<_, BootstrapError>((index, deb, unpacked))
                })
                .collect::<Result<Vec<_>, _>>()
        });
        let configured = if first.is_empty() {
            Ok(())
        } else {
            installer.configure(&first)
        };
        let unpacked = unpacking
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        configured.and(unpacked)
    })?;
    for (index, deb, unpacked) in unpacked_last {
        installer.record(index, &deb, unpacked)?;
    }
    installer.configure_pending()?;
    installer.run_file_triggers()?;
    Ok(plan.warnings())
}

struct Installer<'a> {
    root: &'a RootFs,
    chroot: &'a Chroot,
    packages: &'a [ToInstall<'a>],
    bar: &'a ProgressBar,
    /// How the packages share their paths, by position in the unpack order.
    plan: &'a DebPlan,
    /// Each package's position in the unpack order.
    position: Vec<usize>,
    /// dpkg's name for each unpacked package (`name` or `name:arch`).
    instance: Vec<Option<String>>,
    configured: Vec<bool>,
    /// Every path unpacked, to work out which file triggers fire.
    unpacked_paths: Vec<String>,
    /// The packages that ship a kernel (`/boot/vmlinuz-VERSION`).
    kernels: BTreeSet<usize>,
}

impl Installer<'_> {
    /// What dpkg does before it unpacks a package: configures what it
    /// pre-depends on, then runs its `preinst`. Returns the opened package.
    fn prepare_unpack(
        &mut self,
        index: usize,
        order: &Order,
    ) -> Result<DebPackage, BootstrapError> {
        interrupt::check()?;
        let unconfigured: BTreeSet<usize> = order.pre_depends[index]
            .iter()
            .flat_map(|&pre| order.closure(pre))
            .filter(|&dep| !self.configured[dep] && self.instance[dep].is_some())
            .collect();
        if !unconfigured.is_empty() {
            let needed: Vec<usize> = unconfigured.into_iter().collect();
            self.configure(&needed)?;
        }
        self.bar
            .set_message(format!("unpacking {}", self.packages[index].package.name));
        let deb = DebPackage::open(self.packages[index].deb)?;
        self.run_preinst(index, &deb)?;
        Ok(deb)
    }

    /// `dpkg --unpack` without the scripts: files, then the database.
    fn unpack(&mut self, index: usize, deb: &mut DebPackage) -> Result<(), BootstrapError> {
        let diversions = dpkg_db::diversions(self.root)?;
        let position = self.position[index];
        let unpacked =
            deb_conflicts::unpack_shared(self.root, deb, self.plan, position, &diversions)?;
        self.record(index, deb, unpacked)
    }

    /// The database's part of `dpkg --unpack`, for files already unpacked.
    fn record(
        &mut self,
        index: usize,
        deb: &DebPackage,
        unpacked: Unpacked,
    ) -> Result<(), BootstrapError> {
        dpkg_db::record_unpacked(self.root, deb, &unpacked)?;
        dpkg_db::register_trigger_interests(self.root, deb)?;
        if unpacked.paths.iter().any(|path| is_kernel_image(path)) {
            self.kernels.insert(index);
        }
        self.unpacked_paths.extend(unpacked.paths);
        self.instance[index] = Some(dpkg_db::instance_name(deb));
        self.bar.inc(1);
        Ok(())
    }

    /// Runs `preinst install` the way dpkg does for a first installation.
    fn run_preinst(&self, index: usize, deb: &DebPackage) -> Result<(), BootstrapError> {
        let Some(script) = deb.control_file("preinst") else {
            return Ok(());
        };
        let dir = InRootPath::parse(CONTROL_TEMP)?;
        self.root.create_dir_all(&dir, 0o755)?;
        let path = InRootPath::parse(format!("{CONTROL_TEMP}/preinst"))?;
        self.root.write_bytes(&path, script, 0o755)?;
        let mut command = self.chroot.command(
            &format!("/{CONTROL_TEMP}/preinst"),
            &[OsStr::new("install")],
        );
        command
            .env("DPKG_MAINTSCRIPT_PACKAGE", deb.name())
            .env("DPKG_MAINTSCRIPT_ARCH", deb.architecture())
            .env("DPKG_MAINTSCRIPT_NAME", "preinst")
            .env("DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT", "1")
            .env("DPKG_ADMINDIR", "/var/lib/dpkg")
            .env("DPKG_ROOT", "");
        let result = self.chroot.run(
            command,
            &format!(
                "the preinst script of {}",
                self.packages[index].package.name
            ),
        );
        self.root.remove_file(&path)?;
        Ok(result?)
    }

    fn dpkg(&self, args: &[&str], what: &str) -> Result<(), BootstrapError> {
        let mut all = vec!["--force-unsafe-io"];
        all.extend_from_slice(args);
        let args: Vec<&OsStr> = all.iter().map(OsStr::new).collect();
        self.chroot
            .run(self.chroot.command("/usr/bin/dpkg", &args), what)?;
        Ok(())
    }

    /// `dpkg --configure` for these packages (dpkg orders them itself).
    fn configure(&mut self, indexes: &[usize]) -> Result<(), BootstrapError> {
        interrupt::check()?;
        let names: Vec<&str> = indexes
            .iter()
            .filter_map(|&i| self.instance[i].as_deref())
            .collect();
        let mut args = vec!["--configure"];
        args.extend(&names);
        self.dpkg(&args, &format!("dpkg --configure {}", names.join(" ")))?;
        for &index in indexes {
            self.configured[index] = true;
        }
        Ok(())
    }

    fn configure_pending(&mut self) -> Result<(), BootstrapError> {
        interrupt::check()?;
        self.dpkg(&["--configure", "--pending"], "dpkg --configure --pending")?;
        self.configured.iter_mut().for_each(|c| *c = true);
        Ok(())
    }

    /// dpkg activates file triggers when it writes the files; the files
    /// were written by us, so the activations are made here, once, and
    /// processed the way dpkg processes deferred triggers.
    fn run_file_triggers(&self) -> Result<(), BootstrapError> {
        let activated = dpkg_db::activated_file_triggers(
            self.root,
            self.unpacked_paths.iter().map(|p| p.as_str()),
        )?;
        if activated.is_empty() {
            return Ok(());
        }
        for trigger in &activated {
            let args = [OsStr::new("--no-await"), OsStr::new(trigger)];
            self.chroot.run(
                self.chroot.command("/usr/bin/dpkg-trigger", &args),
                &format!("dpkg-trigger {trigger}"),
            )?;
        }
        self.dpkg(
            &["--triggers-only", "--pending"],
            "dpkg --triggers-only --pending",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::relation::Relation;

    fn package(name: &str, essential: bool, depends: &[&str], pre: &[&str]) -> BinaryPackage {
        let relations = |names: &[&str]| -> Relations {
            names
                .iter()
                .map(|alternatives| {
                    alternatives
                        .split('|')
                        .map(|n| Relation {
                            name: n.trim().to_string(),
                            arch_qualifier: None,
                            constraint: None,
                        })
                        .collect()
                })
                .collect()
        };
        BinaryPackage {
            name: name.to_string(),
            version: "1".to_string(),
            architecture: "amd64".to_string(),
            essential,
            depends: relations(depends),
            pre_depends: relations(pre),
            ..BinaryPackage::default()
        }
    }

    fn names(packages: &[BinaryPackage], indexes: &[usize]) -> Vec<String> {
        indexes.iter().map(|&i| packages[i].name.clone()).collect()
    }

    #[test]
    fn base_is_essential_closure_in_dependency_order() {
        let set = vec![
            package("vim", false, &["libc6", "vim-common"], &[]),
            package("coreutils", true, &["libc6"], &[]),
            package("libc6", false, &["libgcc-s1"], &[]),
            package("libgcc-s1", false, &["gcc-base"], &[]),
            package("gcc-base", false, &[], &[]),
            package("vim-common", false, &[], &[]),
            package("dpkg", true, &["tar"], &["libc6"]),
            package("tar", true, &["libc6"], &[]),
        ];
        let refs: Vec<&BinaryPackage> = set.iter().collect();
        let order = Order::new(&refs);
        assert_eq!(
            names(&set, &order.base),
            ["gcc-base", "libgcc-s1", "libc6", "coreutils", "tar", "dpkg"]
        );
        assert_eq!(names(&set, &order.rest), ["vim-common", "vim"]);
    }

    #[test]
    fn alternatives_and_virtual_names_resolve_to_the_set_member() {
        let mut mawk = package("mawk", false, &[], &[]);
        mawk.provides = vec![vec![Relation {
            name: "awk".to_string(),
            arch_qualifier: None,
            constraint: None,
        }]];
        let set = vec![package("base-files", true, &["gawk | awk"], &[]), mawk];
        let refs: Vec<&BinaryPackage> = set.iter().collect();
        let order = Order::new(&refs);
        assert_eq!(names(&set, &order.base), ["mawk", "base-files"]);
        assert!(order.rest.is_empty());
    }

    #[test]
    fn cycles_are_cut_and_every_package_placed_once() {
        let set = vec![
            package("a", true, &["b"], &[]),
            package("b", false, &["c"], &[]),
            package("c", false, &["a"], &[]),
            package("d", false, &["d", "a"], &[]),
        ];
        let refs: Vec<&BinaryPackage> = set.iter().collect();
        let order = Order::new(&refs);
        let mut all = order.base.clone();
        all.extend(&order.rest);
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3]);
        assert_eq!(names(&set, &order.rest), ["d"]);
    }

    #[test]
    fn kernels_and_what_needs_them_are_unpacked_and_configured_last() {
        let set = vec![
            package(
                "linux-image-amd64",
                false,
                &["linux-image-6.1.0-18-amd64"],
                &[],
            ),
            package(
                "linux-image-6.1.0-18-amd64",
                false,
                &["kmod", "initramfs-tools | linux-initramfs-tool"],
                &[],
            ),
            package("kmod", false, &["libc6"], &[]),
            package("initramfs-tools", false, &["kmod"], &[]),
            package("e2fsprogs", false, &["libc6"], &[]),
            package("libc6", true, &[], &[]),
        ];
        let refs: Vec<&BinaryPackage> = set.iter().collect();
        let order = Order::new(&refs);
        let last: Vec<usize> = order.dependents(&[1]).into_iter().collect();
        assert_eq!(
            names(&set, &last),
            ["linux-image-amd64", "linux-image-6.1.0-18-amd64"]
        );
        assert!(order.dependents(&[]).is_empty());
        assert_eq!(
            names(&set, &order.unpacked_last(&[1])),
            ["linux-image-6.1.0-18-amd64", "linux-image-amd64"]
        );
        assert!(order.unpacked_last(&[]).is_empty());
        // A kernel in the base, or one that must be configured before
        // another is unpacked, is unpacked in its turn.
        assert!(order.unpacked_last(&[5]).is_empty());
        let mut waits = set.clone();
        waits[0].pre_depends = waits[0].depends.clone();
        let refs: Vec<&BinaryPackage> = waits.iter().collect();
        assert!(Order::new(&refs).unpacked_last(&[1]).is_empty());
    }

    #[test]
    fn only_a_kernel_in_boot_is_a_kernel_image() {
        assert!(is_kernel_image("/boot/vmlinuz-6.1.0-18-amd64"));
        assert!(is_kernel_image("boot/vmlinuz-6.1.0-18-amd64"));
        assert!(!is_kernel_image("/boot/vmlinuz-"));
        assert!(!is_kernel_image("/boot/vmlinuz"));
        assert!(!is_kernel_image("/boot/config-6.1.0-18-amd64"));
        assert!(!is_kernel_image("/usr/lib/modules/6.1.0-18-amd64/vmlinuz"));
        assert!(!is_kernel_image("/boot/vmlinuz-6.1/extra"));
    }

    #[test]
    fn pre_depends_closure_includes_their_dependencies() {
        let set = vec![
            package("init", false, &[], &["systemd-sysv"]),
            package("systemd-sysv", false, &["systemd"], &[]),
            package("systemd", false, &["libc6"], &[]),
            package("libc6", true, &[], &[]),
        ];
        let refs: Vec<&BinaryPackage> = set.iter().collect();
        let order = Order::new(&refs);
        let closure: Vec<usize> = order.pre_depends[0]
            .iter()
            .flat_map(|&p| order.closure(p))
            .collect();
        assert_eq!(names(&set, &closure), ["systemd-sysv", "systemd", "libc6"]);
        assert_eq!(
            names(&set, &order.rest),
            ["systemd", "systemd-sysv", "init"]
        );
    }
}
