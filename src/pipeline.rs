//! The build recipe: the stages in the order they run, each taking the
//! previous stage's typed output.
//!
//! Everything is built inside a hidden work directory next to the output
//! and moved into place only at the end, so an error or Ctrl-C leaves no
//! half-written output behind (the work directory is removed on the way
//! out; scripts never hold mounts beyond their own lifetime, see
//! [`crate::chroot`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::chroot::Chroot;
use crate::cli::OutputFormat;
use crate::configure;
use crate::distro::{self, Distro, Resolution};
use crate::fetch::{Download, Fetcher, Progress};
use crate::install::RootFs;
use crate::interrupt;
use crate::plan::BuildPlan;
use crate::progress::{Ui, human_bytes};

/// What a finished build left, for the closing message.
#[derive(Debug)]
pub struct Built {
    pub output: PathBuf,
    pub log: PathBuf,
    pub packages: usize,
}

/// The download cache of the plan, shared by every stage that downloads.
pub fn open_cache(plan: &BuildPlan) -> anyhow::Result<Fetcher> {
    Fetcher::new(&plan.cache_dir)
        .with_context(|| format!("cannot use the cache {}", plan.cache_dir.display()))
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
    let resolution = distro.resolve()?;
    for warning in &resolution.warnings {
        ui.warn(warning);
    }
    Ok((distro, resolution))
}

/// Runs every stage of `plan`.
pub fn build(plan: &BuildPlan, ui: &Ui) -> anyhow::Result<Built> {
    if plan.format != OutputFormat::Dir {
        anyhow::bail!(
            "--format {} is not built yet; --format dir writes the configured root filesystem (the image writers come next)",
            plan.format.name()
        );
    }
    if !rustix::process::geteuid().is_root() {
        anyhow::bail!(
            "building an image needs root (package files keep their owners and device nodes, scripts run in a chroot); run it with sudo, or use --dry-run or `livecompose resolve` to check a kickstart without it"
        );
    }
    let output = plan.output_path();
    if output.symlink_metadata().is_ok() {
        anyhow::bail!(
            "{} already exists; remove it or choose another --output",
            output.display()
        );
    }
    std::fs::create_dir_all(&plan.output_dir)
        .with_context(|| format!("cannot create {}", plan.output_dir.display()))?;
    let fetcher = open_cache(plan)?;
    let (distro, resolution) = resolve(plan, &fetcher, ui)?;
    ui.step(format!(
        "{} packages, {} to download or take from the cache",
        resolution.packages.len(),
        human_bytes(resolution.download_size())
    ));
    let files = fetch(&fetcher, &resolution, ui)?;
    ui.step("Packages are in the cache");

    let work = tempfile::Builder::new()
        .prefix(&format!(".{}.", plan.label))
        .tempdir_in(&plan.output_dir)
        .with_context(|| {
            format!(
                "cannot create a work directory in {}",
                plan.output_dir.display()
            )
        })?;
    let root_path = work.path().join("root");
    make_root_dir(&root_path)?;
    let root = RootFs::open(&root_path)?;
    // Created only now: a build that stops earlier has nothing to log.
    let log = plan.output_dir.join(format!("{}.log", plan.label));
    std::fs::write(&log, b"")
        .with_context(|| format!("cannot write the build log {}", log.display()))?;
    let chroot = Chroot::new(&root_path, &log)?;

    ui.step(format!("Installing {} packages", resolution.packages.len()));
    distro.prepare_root(&root)?;
    let bar = ui.counter(resolution.packages.len() as u64);
    let installed = distro.install(&root, &chroot, &resolution, &files, &bar);
    bar.finish_and_clear();
    installed.with_context(|| {
        format!(
            "installing packages failed; the full log is {}",
            log.display()
        )
    })?;

    ui.step("Configuring the image from the kickstart");
    let overlays: Vec<PathBuf> = plan
        .kickstart
        .overlays
        .iter()
        .map(|overlay| overlay.value.clone())
        .chain(plan.overlays.iter().cloned())
        .collect();
    let warnings =
        configure::configure(&root, &chroot, &plan.kickstart, &overlays).with_context(|| {
            format!(
                "configuring the image failed; the full log is {}",
                log.display()
            )
        })?;
    for warning in warnings {
        ui.warn(warning);
    }
    distro.finish_root(&root)?;
    configure::clean(&root)?;
    interrupt::check()?;
    ui.step("The image is configured");

    std::fs::rename(&root_path, &output)
        .with_context(|| format!("cannot move the finished root to {}", output.display()))?;
    Ok(Built {
        output,
        log,
        packages: resolution.packages.len(),
    })
}

/// How many downloads run at once: enough to hide a mirror's latency,
/// few enough to be polite to it.
const PARALLEL_DOWNLOADS: usize = 6;

/// Downloads every package into the cache (files already there and intact
/// cost nothing), returning their paths in resolution order.
fn fetch(fetcher: &Fetcher, resolution: &Resolution, ui: &Ui) -> anyhow::Result<Vec<PathBuf>> {
    let bar = ui.bytes(resolution.download_size());
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
    let downloads: Vec<Download> = resolution
        .packages
        .iter()
        .map(|package| Download {
            url: package.url.clone(),
            expected: package.expected.clone(),
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
