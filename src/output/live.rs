//! What the live outputs make first: the live initrd and the squashfs
//! root, in a staging directory of the build.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::OutputInputs;
use crate::distro::AssetFile;
use crate::initrd::{self, InitrdMode, InitrdOptions};
use crate::interrupt;
use crate::plan::LiveSettings;
use crate::progress::{Ui, human_bytes};
use crate::squashfs::{self, Packing, SquashfsOptions};

/// The live system's parts, in the staging directory.
pub(super) struct LiveParts {
    pub staging: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub squashfs: PathBuf,
}

/// Composes the initrd (`mode`: [`InitrdMode::Live`], or
/// [`InitrdMode::Netboot`] with network drivers) and packs the root.
pub(super) fn compose(
    inputs: &OutputInputs<'_>,
    settings: &LiveSettings,
    mode: InitrdMode,
) -> anyhow::Result<LiveParts> {
    let ui = inputs.ui;
    let staging = inputs.work.join("live");
    std::fs::create_dir(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;

    ui.step("Composing the live initrd");
    let initrd = initrd::build(
        inputs.root,
        inputs.assets.path(AssetFile::Busybox)?,
        &InitrdOptions {
            output: staging.join("initrd.img"),
            mode,
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
    // The root's times are clamped already; this also makes the build's
    // time the squashfs's own creation time.
    let options = SquashfsOptions {
        clamp_mtime: Some(inputs.source_date.seconds_u32()),
        memo: inputs.kept_root.map(Path::to_owned),
        ..settings.squashfs.clone()
    };
    pack_root(inputs.root, &squashfs, &options, ui)?;
    Ok(LiveParts {
        staging,
        kernel: initrd.kernel,
        initrd: initrd.path,
        squashfs,
    })
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
    // The format itself has no place for them (the kernel's squashfs has
    // no ACLs), so this is what squashfs means, not a fault to fix: said,
    // not warned about.
    let left_out = if stats.skipped_xattrs > 0 {
        format!(
            "; {} POSIX ACLs or other xattrs outside the user, trusted and security namespaces, which squashfs cannot hold, were left out",
            stats.skipped_xattrs
        )
    } else {
        String::new()
    };
    let recalled = if stats.recalled_blocks > 0 {
        format!(
            "; {} of {} blocks as compressed by an earlier build",
            stats.recalled_blocks, stats.blocks_written
        )
    } else {
        String::new()
    };
    ui.step(format!(
        "Squashfs: {} inodes, {}{left_out}{recalled}",
        stats.inodes,
        human_bytes(stats.bytes_used)
    ));
    Ok(())
}
