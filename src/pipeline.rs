//! The build recipe: the stages in the order they run, each taking the
//! previous stage's typed output: plan → resolution → fetched packages →
//! installed and configured root → output (see [`crate::output`]).
//!
//! Everything is built inside a hidden work directory next to the output
//! and moved into place only at the end, so an error or Ctrl-C leaves no
//! half-written output behind (the work directory is removed on the way
//! out; scripts never hold mounts beyond their own lifetime, see
//! [`crate::chroot`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::audit;
use crate::chroot::Chroot;
use crate::configure;
use crate::distro::{
    self, BootAsset, Distro, FetchedPackage, Resolution, ResolvedPackage, UnpackedAssets,
};
use crate::fetch::{Download, Fetcher, Progress, TrustedRoots};
use crate::install::RootFs;
use crate::install::root_cache::{Lookup, Record, RootCache, RootKey};
use crate::interrupt;
use crate::output::{self, OutputInputs};
use crate::plan::BuildPlan;
use crate::progress::{Ui, human_bytes};
use crate::source_date::{SOURCE_DATE_EPOCH, SourceDate};

/// What a finished build left, for the closing message.
#[derive(Debug)]
pub struct Built {
    pub output: PathBuf,
    pub log: PathBuf,
    pub packages: usize,
    /// Bytes written: the image file, or the files of a directory output
    /// (a root directory counts as 0: its size depends on the filesystem).
    pub size: u64,
    /// What holds the image's root in the output: what [`audit`] reads.
    pub root_image: PathBuf,
}

/// The download cache of the plan, shared by every stage that downloads.
pub fn open_cache(plan: &BuildPlan) -> anyhow::Result<Fetcher> {
    let roots = TrustedRoots::bundled_and_host().with_files(&plan.ca_files)?;
    let fetcher = Fetcher::new(&plan.cache_dir)
        .with_context(|| format!("cannot use the cache {}", plan.cache_dir.display()))?;
    Ok(fetcher.with_roots(roots))
}

/// Reads and verifies the repositories and resolves `%packages`.
pub fn resolve<'p>(
    plan: &'p BuildPlan,
    fetcher: &Fetcher,
    ui: &Ui,
) -> anyhow::Result<(Box<dyn Distro + 'p>, Resolution)> {
    let mut distro = distro::for_plan(plan)?;
    ui.step(format!(
        "Reading {} repositor{}",
        plan.repositories.len(),
        if plan.repositories.len() == 1 {
            "y"
        } else {
            "ies"
        }
    ));
    let spinner = ui.spinner("downloading and verifying indexes");
    distro.load_repositories(fetcher, &mut |warning| ui.warn(warning))?;
    spinner.finish_and_clear();
    interrupt::check()?;
    let extra = output::image_packages(&plan.output, &*distro);
    let resolution = distro.resolve(extra, "the boot loader of a disk image")?;
    for warning in &resolution.warnings {
        ui.warn(warning);
    }
    Ok((distro, resolution))
}

/// Runs every stage of `plan`; `source_date_epoch` is the caller's
/// `SOURCE_DATE_EPOCH`, if set.
pub fn build(
    plan: &BuildPlan,
    source_date_epoch: Option<SourceDate>,
    ui: &Ui,
) -> anyhow::Result<Built> {
    if !rustix::process::geteuid().is_root() {
        anyhow::bail!(
            "building an image needs root (package files keep their owners and device nodes, scripts run in a chroot); run it with sudo, or use --dry-run or `livecompose resolve` to check a kickstart without it"
        );
    }
    let output = plan.output_path();
    for path in std::iter::once(output.clone()).chain(output::side_files(plan)) {
        if path.symlink_metadata().is_ok() {
            anyhow::bail!(
                "{} already exists; remove it or choose another --output",
                path.display()
            );
        }
    }
    output::check_host(&plan.output)?;
    std::fs::create_dir_all(&plan.output_dir)
        .with_context(|| format!("cannot create {}", plan.output_dir.display()))?;
    let fetcher = open_cache(plan)?;
    let (distro, resolution) = resolve(plan, &fetcher, ui)?;
    let source_date = SourceDate::for_build(source_date_epoch, distro.index_dates());
    ui.step(format!("The build's time: {source_date}"));
    let wanted_assets = output::boot_assets(&plan.output, &resolution, &*distro);
    let asset_packages = distro::boot_asset_packages(&*distro, wanted_assets)?;
    let (packages, asset_packages) = fetch_all(plan, &fetcher, &resolution, asset_packages, ui)?;

    let work = tempfile::Builder::new()
        .prefix(&format!(".{}.", plan.label))
        .tempdir_in(&plan.output_dir)
        .with_context(|| {
            format!(
                "cannot create a work directory in {}",
                plan.output_dir.display()
            )
        })?;
    let assets = unpack_assets(&*distro, &asset_packages, wanted_assets, work.path())?;
    let root_path = work.path().join("root");
    // Created only now: a build that stops earlier has nothing to log.
    let log = plan.output_dir.join(format!("{}.log", plan.label));
    std::fs::write(&log, format!("The build's time: {source_date}\n"))
        .with_context(|| format!("cannot write the build log {}", log.display()))?;
    // Package scripts and %post see the build's time, as on Debian's and
    // Fedora's builders: the tools that honour it (useradd's and chpasswd's
    // password dates, initramfs-tools' cpio, Python's byte code) then
    // write the same bytes on every build.
    let chroot = Chroot::new(&root_path, &log)?
        .with_env(SOURCE_DATE_EPOCH, &source_date.seconds.to_string());

    let installing = Installing {
        distro: &*distro,
        chroot: &chroot,
        packages: &packages,
        source_date: &source_date,
        log: &log,
        ui,
    };
    let (root, kept_root) =
        installing.install_or_reuse(&plan.cache_dir, &root_path, plan.incremental)?;
    configure(&*distro, plan, &root, &chroot, &source_date, &log, ui)?;

    let written = output::write(
        &OutputInputs {
            plan,
            root: &root_path,
            work: work.path(),
            assets: &assets,
            resolution: &resolution,
            source_date,
            distro: &*distro,
            chroot: &chroot,
            ui,
            kept_root: kept_root.as_deref(),
        },
        &output,
    )?;
    Ok(Built {
        root_image: output::audited_image(&plan.output, &written),
        output,
        log,
        packages: resolution.packages.len(),
        size: written.size(),
    })
}

/// The build's last step: `livecompose audit` on what was written, read
/// back from the output by the audit's own readers (so a writer's mistake
/// shows too), with what the kickstart asked for allowed. Findings are
/// listed and end the build with [`audit::Failed`]; the image stays for
/// inspection.
pub fn audit(plan: &BuildPlan, built: &Built, ui: &Ui) -> anyhow::Result<()> {
    let image = &built.root_image;
    ui.step(format!("Auditing {}", image.display()));
    let report = audit::open(image)
        .and_then(|tree| {
            audit::audit(
                tree.as_ref(),
                &audit::Policy::from_kickstart(&plan.kickstart),
            )
        })
        .with_context(|| format!("cannot audit {}", image.display()))?;
    for note in &report.notes {
        ui.step(format!("audit: {note}"));
    }
    if report.findings.is_empty() {
        return Ok(());
    }
    for finding in &report.findings {
        ui.warn(format!("audit: {finding}"));
    }
    Err(anyhow::Error::new(audit::Failed {
        image: image.clone(),
        count: report.findings.len(),
    })
    .context(
        "the image is written, but its audit found the problems above; it is kept for \
         inspection; fix the kickstart, or build with --no-audit if you meant them",
    ))
}

/// Downloads the resolution's packages and the boot asset packages in one
/// go, each paired with its cached file.
fn fetch_all(
    plan: &BuildPlan,
    fetcher: &Fetcher,
    resolution: &Resolution,
    asset_packages: Vec<ResolvedPackage>,
    ui: &Ui,
) -> anyhow::Result<(Vec<FetchedPackage>, Vec<FetchedPackage>)> {
    let to_fetch: Vec<&ResolvedPackage> =
        resolution.packages.iter().chain(&asset_packages).collect();
    ui.step(format!(
        "{} packages{}, {} to download or take from the cache",
        resolution.packages.len(),
        if asset_packages.is_empty() {
            String::new()
        } else {
            format!(" and {} for the boot", asset_packages.len())
        },
        human_bytes(to_fetch.iter().map(|p| p.expected.size).sum())
    ));
    let files = fetch(plan, fetcher, &to_fetch, ui)?;
    ui.step("Packages are in the cache");
    let mut fetched = to_fetch
        .into_iter()
        .zip(files)
        .map(|(package, file)| FetchedPackage {
            package: package.clone(),
            file,
        })
        .collect::<Vec<_>>();
    let assets = fetched.split_off(resolution.packages.len());
    Ok((fetched, assets))
}

/// Unpacks the boot asset packages into the work directory and finds the
/// files the output asked for.
fn unpack_assets(
    distro: &dyn Distro,
    packages: &[FetchedPackage],
    assets: &[BootAsset],
    work: &Path,
) -> anyhow::Result<UnpackedAssets> {
    let dir = work.join("boot-assets");
    make_root_dir(&dir)?;
    distro.unpack(packages, &dir)?;
    let locations: Vec<_> = assets
        .iter()
        .map(|asset| distro.boot_asset(*asset))
        .collect();
    UnpackedAssets::find(&dir, &locations)
}

/// The install stage's inputs: the fetched packages, installed into a
/// root by the image's own tools, or that root copied from the cache of
/// installed roots when an earlier build installed them the same way.
struct Installing<'a> {
    distro: &'a dyn Distro,
    chroot: &'a Chroot,
    packages: &'a [FetchedPackage],
    source_date: &'a SourceDate,
    log: &'a Path,
    ui: &'a Ui,
}

impl Installing<'_> {
    /// Installs into a new root at `root_path`; returns it and what the
    /// install warned about (shown already).
    fn install(&self, root_path: &Path) -> anyhow::Result<(RootFs, Vec<String>)> {
        let ui = self.ui;
        make_root_dir(root_path)?;
        let root = RootFs::open(root_path)?;
        ui.step(format!("Installing {} packages", self.packages.len()));
        self.distro.prepare_root(&root)?;
        let bar = ui.counter(self.packages.len() as u64);
        let installed =
            self.distro
                .install(&root, self.chroot, self.packages, self.source_date, &bar);
        bar.finish_and_clear();
        let warnings = installed.with_context(|| {
            format!(
                "installing packages failed; the full log is {}",
                self.log.display()
            )
        })?;
        for warning in &warnings {
            ui.warn(warning);
        }
        Ok((root, warnings))
    }

    /// The root at `root_path` from the cache in `cache_dir` when it holds
    /// one installed from the same packages the same way and `reuse` allows
    /// it; else installed, then stored there for the next build. Also
    /// returns the cache's entry for it, unless it could not be kept.
    fn install_or_reuse(
        &self,
        cache_dir: &Path,
        root_path: &Path,
        reuse: bool,
    ) -> anyhow::Result<(RootFs, Option<PathBuf>)> {
        let ui = self.ui;
        let cache = RootCache::open(cache_dir)?;
        let mut facts = self.distro.install_settings(self.packages);
        facts.push(format!("time {}", self.source_date.seconds));
        facts.extend(self.packages.iter().map(|fetched| {
            let package = &fetched.package;
            format!(
                "package {} {} {} {}",
                package.name, package.version, package.architecture, package.expected.checksum
            )
        }));
        let key = RootKey::new(facts)?;
        let lookup = cache.lookup(key, reuse, &mut || {
            ui.step("Waiting for another build that is installing the same packages")
        })?;
        let reservation = match lookup {
            Lookup::Found(cached) => {
                let spinner = ui.spinner("copying the installed root from the cache");
                let restored = cached.restore(root_path);
                spinner.finish_and_clear();
                let restored = restored?;
                append_log(
                    self.log,
                    &format!(
                        "The installed root is a copy of the one kept in the cache as {} \
                         (--no-incremental installs the packages again); the install that \
                         made it logged:\n",
                        cached.key.short()
                    ),
                    &restored.log,
                )?;
                for warning in &cached.record.warnings {
                    ui.warn(warning);
                }
                ui.step(format!(
                    "The {} packages were installed by an earlier build: {} copied from the cache",
                    cached.record.packages,
                    human_bytes(restored.copied.bytes)
                ));
                interrupt::check()?;
                return Ok((RootFs::open(root_path)?, Some(cached.entry().to_owned())));
            }
            Lookup::Missing(reservation) => reservation,
        };
        let log_start = std::fs::metadata(self.log).map_or(0, |meta| meta.len());
        let (root, warnings) = self.install(root_path)?;
        interrupt::check()?;
        let spinner = ui.spinner("keeping the installed root for the next build");
        let record = Record {
            packages: self.packages.len(),
            warnings,
            bytes: 0,
        };
        let stored = read_from(self.log, log_start)
            .and_then(|log| Ok(reservation.store(root_path, &log, record)?));
        spinner.finish_and_clear();
        // The build goes on without it: the next one installs again.
        let kept = stored
            .map_err(|error| {
                ui.warn(format!(
                    "the installed root could not be kept for the next build: {error:#}"
                ))
            })
            .ok();
        interrupt::check()?;
        Ok((root, kept))
    }
}

/// `header` and `text` at the end of the build log.
fn append_log(log: &Path, header: &str, text: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .and_then(|mut file| {
            file.write_all(header.as_bytes())?;
            file.write_all(text)
        })
        .with_context(|| format!("cannot write the build log {}", log.display()))
}

/// The build log from byte `start` on.
fn read_from(log: &Path, start: u64) -> anyhow::Result<Vec<u8>> {
    let mut text = std::fs::read(log)
        .with_context(|| format!("cannot read the build log {}", log.display()))?;
    Ok(text.split_off((start as usize).min(text.len())))
}

/// The configure stage: the kickstart applied to the root, the build's
/// leftovers cleaned, SELinux labels set last.
fn configure(
    distro: &dyn Distro,
    plan: &BuildPlan,
    root: &RootFs,
    chroot: &Chroot,
    source_date: &SourceDate,
    log: &Path,
    ui: &Ui,
) -> anyhow::Result<()> {
    ui.step("Configuring the image from the kickstart");
    let overlays: Vec<PathBuf> = plan
        .kickstart
        .overlays
        .iter()
        .map(|overlay| overlay.value.clone())
        .chain(plan.overlays.iter().cloned())
        .collect();
    let report = configure::configure(
        root,
        chroot,
        &plan.kickstart,
        &overlays,
        &distro.conventions(),
        source_date,
    )
    .with_context(|| {
        format!(
            "configuring the image failed; the full log is {}",
            log.display()
        )
    })?;
    for note in report.notes {
        ui.step(note);
    }
    for warning in report.warnings {
        ui.warn(warning);
    }
    distro.finish_root(root)?;
    configure::clean(root, &distro.conventions())?;
    interrupt::check()?;
    if let Some(warning) = configure::label(root, chroot, &plan.kickstart).with_context(|| {
        format!(
            "labelling the image for SELinux failed; the full log is {}",
            log.display()
        )
    })? {
        ui.warn(warning);
    }
    // After the last script and label: nothing writes to the root now.
    configure::clamp_times(root, source_date)?;
    ui.step("The image is configured");
    Ok(())
}

/// How many downloads run at once: enough to hide a mirror's latency,
/// few enough to be polite to it.
const PARALLEL_DOWNLOADS: usize = 6;

/// Downloads every package into the cache (files already there and intact
/// cost nothing), returning their paths in the order given.
fn fetch(
    plan: &BuildPlan,
    fetcher: &Fetcher,
    packages: &[&ResolvedPackage],
    ui: &Ui,
) -> anyhow::Result<Vec<PathBuf>> {
    let bar = ui.bytes(packages.iter().map(|p| p.expected.size).sum());
    bar.set_message("downloading packages");
    let progress_bar = bar.clone();
    let fetcher = fetcher
        .clone()
        .with_progress(Arc::new(move |event| match event {
            Progress::Added { bytes, .. } => progress_bar.inc(bytes),
            Progress::Discarded { bytes, .. } => {
                progress_bar.set_position(progress_bar.position().saturating_sub(bytes));
            }
            Progress::Finished { .. } => {}
        }));
    let downloads: Vec<Download> = packages
        .iter()
        .map(|package| Download {
            url: package.url.clone(),
            expected: package.expected.clone(),
            transport: plan.transport_of(&package.repository),
        })
        .collect();
    let files = fetcher.fetch_all(&downloads, PARALLEL_DOWNLOADS);
    bar.finish_and_clear();
    interrupt::check()?;
    let files =
        files.context("cannot download the packages (a rerun resumes where this one stopped)")?;
    Ok(files)
}

/// The root directory of the image is world-readable, whatever the umask
/// or the work directory's mode.
fn make_root_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}
