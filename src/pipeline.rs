//! The build recipe: the stages in the order they run, each taking the
//! previous stage's typed output: plan → resolution → cached packages →
//! installed and configured root → (live formats) initrd and squashfs →
//! ISO or PXE files.
//!
//! Everything is built inside a hidden work directory next to the output
//! and moved into place only at the end, so an error or Ctrl-C leaves no
//! half-written output behind (the work directory is removed on the way
//! out; scripts never hold mounts beyond their own lifetime, see
//! [`crate::chroot`]).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::chroot::Chroot;
use crate::cli::OutputFormat;
use crate::configure;
use crate::distro::{self, Distro, LiveTools, Resolution, ResolvedPackage};
use crate::fetch::{Download, Fetcher, Progress};
use crate::image::{self, LiveIsoSpec};
use crate::initrd::{self, InitrdOptions};
use crate::install::RootFs;
use crate::interrupt;
use crate::plan::BuildPlan;
use crate::progress::{Ui, human_bytes};
use crate::squashfs::{self, Packing, SquashfsOptions};

/// What a finished build left, for the closing message.
#[derive(Debug)]
pub struct Built {
    pub output: PathBuf,
    pub log: PathBuf,
    pub packages: usize,
    /// Bytes written: the image file, or the files of a directory output
    /// (a root directory counts as 0: its size depends on the filesystem).
    pub size: u64,
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
    let live = plan.is_live();
    let tool_packages = if live {
        distro.live_tool_packages()?
    } else {
        Vec::new()
    };
    let to_fetch: Vec<&ResolvedPackage> =
        resolution.packages.iter().chain(&tool_packages).collect();
    ui.step(format!(
        "{} packages{}, {} to download or take from the cache",
        resolution.packages.len(),
        if live {
            format!(" and {} for the live boot", tool_packages.len())
        } else {
            String::new()
        },
        human_bytes(to_fetch.iter().map(|p| p.expected.size).sum())
    ));
    let mut files = fetch(&fetcher, &to_fetch, ui)?;
    let tool_files = files.split_off(resolution.packages.len());
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
    let warnings = installed.with_context(|| {
        format!(
            "installing packages failed; the full log is {}",
            log.display()
        )
    })?;
    for warning in warnings {
        ui.warn(warning);
    }

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
    if let Some(warning) = configure::label(&root, &chroot, &plan.kickstart).with_context(|| {
        format!(
            "labelling the image for SELinux failed; the full log is {}",
            log.display()
        )
    })? {
        ui.warn(warning);
    }
    ui.step("The image is configured");

    let size = if live {
        let tools_dir = work.path().join("tools");
        make_root_dir(&tools_dir)?;
        let tools = distro.unpack_live_tools(&tool_files, &tools_dir)?;
        let live = LiveInputs {
            plan,
            root: &root_path,
            work: work.path(),
            tools: &tools,
            resolution: &resolution,
        };
        write_live(&live, &output, ui)?
    } else {
        std::fs::rename(&root_path, &output)
            .with_context(|| format!("cannot move the finished root to {}", output.display()))?;
        0
    };
    Ok(Built {
        output,
        log,
        packages: resolution.packages.len(),
        size,
    })
}

/// What the live stages read.
struct LiveInputs<'a> {
    plan: &'a BuildPlan,
    /// The configured root filesystem.
    root: &'a Path,
    /// The build's work directory, removed when the build ends.
    work: &'a Path,
    tools: &'a LiveTools,
    resolution: &'a Resolution,
}

/// The name of the package list written beside a live output: one
/// `name version architecture` line per installed package.
const MANIFEST_SUFFIX: &str = "packages";

/// Composes the initrd, packs the root and writes the live output to
/// `output`; returns its size.
fn write_live(live: &LiveInputs<'_>, output: &Path, ui: &Ui) -> anyhow::Result<u64> {
    let plan = live.plan;
    let staging = live.work.join("live");
    std::fs::create_dir(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;

    ui.step("Composing the live initrd");
    let initrd = initrd::build(
        live.root,
        &live.tools.busybox,
        &InitrdOptions {
            output: staging.join("initrd.img"),
        },
    )
    .context("cannot compose the live initrd")?;
    ui.step(format!(
        "Initrd for Linux {}: {} modules, {}",
        initrd.kernel_version,
        initrd.modules.len(),
        human_bytes(initrd.size)
    ));
    interrupt::check()?;

    let squashfs = staging.join("filesystem.squashfs");
    pack_root(live.root, &squashfs, &plan.live.squashfs, ui)?;
    let manifest = manifest(live.resolution);

    match plan.format {
        OutputFormat::Iso => {
            ui.step("Writing the hybrid BIOS/UEFI ISO");
            let spinner = ui.spinner(format!("writing {}", output.display()));
            let spec = LiveIsoSpec {
                label: plan.label.clone(),
                squashfs,
                kernel: initrd.kernel.clone(),
                initrd: initrd.path.clone(),
                kernel_args: plan.live.kernel_args.clone(),
                timeout_secs: plan.live.menu_timeout_secs,
                bootloaders: live.tools.bootloaders.clone(),
            };
            let report = image::write_live_iso(&spec, output);
            spinner.finish_and_clear();
            let report = report.with_context(|| format!("cannot write {}", output.display()))?;
            for warning in &report.warnings {
                ui.warn(warning);
            }
            let manifest_path = plan
                .output_dir
                .join(format!("{}.{MANIFEST_SUFFIX}", plan.label));
            write_file(&manifest_path, manifest.as_bytes())?;
            image::update_sha256sums(
                &[output.to_owned(), manifest_path],
                &plan.output_dir.join(image::SHA256SUMS),
            )?;
            Ok(report.size)
        }
        OutputFormat::Squashfs => {
            // The live files apart: what a boot loader of the user's loads,
            // and the command line it must pass.
            let kernel = staging.join("vmlinuz");
            std::fs::copy(&initrd.kernel, &kernel)
                .with_context(|| format!("cannot copy {}", initrd.kernel.display()))?;
            let cmdline = image::kernel_cmdline(&plan.label, &plan.live.kernel_args)?;
            let files = [
                (kernel, None),
                (initrd.path.clone(), None),
                (squashfs, None),
                (staging.join("cmdline"), Some(cmdline.join(" ") + "\n")),
                (staging.join(MANIFEST_SUFFIX), Some(manifest)),
            ];
            for (path, text) in &files {
                if let Some(text) = text {
                    write_file(path, text.as_bytes())?;
                }
            }
            let paths: Vec<PathBuf> = files.into_iter().map(|(path, _)| path).collect();
            image::update_sha256sums(&paths, &staging.join(image::SHA256SUMS))?;
            let size = paths
                .iter()
                .map(|path| path.metadata().map_or(0, |meta| meta.len()))
                .sum();
            std::fs::rename(&staging, output)
                .with_context(|| format!("cannot move the live files to {}", output.display()))?;
            Ok(size)
        }
        OutputFormat::Dir => unreachable!("a directory output is not live"),
    }
}

/// Packs the root into `squashfs` with a byte progress bar; Ctrl-C stops it.
fn pack_root(
    root: &Path,
    squashfs: &Path,
    options: &SquashfsOptions,
    ui: &Ui,
) -> anyhow::Result<()> {
    ui.step(format!(
        "Packing the root into squashfs ({})",
        options.compression
    ));
    let bar = ui.bytes(0);
    bar.set_message("compressing");
    let progress = |packing: Packing| {
        bar.set_length(packing.bytes_total);
        bar.set_position(packing.bytes_read);
        if interrupt::requested() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let stats = squashfs::write_image_with_progress(root, squashfs, options, &progress);
    bar.finish_and_clear();
    interrupt::check()?;
    let stats = stats.context("cannot pack the root into squashfs")?;
    if stats.skipped_xattrs > 0 {
        ui.warn(format!(
            "{} POSIX ACLs or other xattrs outside the user, trusted and security namespaces cannot be stored in squashfs and were left out",
            stats.skipped_xattrs
        ));
    }
    ui.step(format!(
        "Squashfs: {} inodes, {}",
        stats.inodes,
        human_bytes(stats.bytes_used)
    ));
    Ok(())
}

/// The installed packages, one `name version architecture` line each.
fn manifest(resolution: &Resolution) -> String {
    resolution
        .packages
        .iter()
        .map(|p| format!("{} {} {}\n", p.name, p.version, p.architecture))
        .collect()
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// How many downloads run at once: enough to hide a mirror's latency,
/// few enough to be polite to it.
const PARALLEL_DOWNLOADS: usize = 6;

/// Downloads every package into the cache (files already there and intact
/// cost nothing), returning their paths in the order given.
fn fetch(
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
