//! `--format iso`: the hybrid BIOS/UEFI live ISO, with its package list and
//! `SHA256SUMS` beside it.

use std::path::Path;

use anyhow::Context as _;

use super::{OutputInputs, Written, live, single_file};
use crate::image::{self, BootloaderFiles, LiveIsoSpec};
use crate::initrd::InitrdMode;
use crate::plan::LiveSettings;

pub(super) fn write(
    inputs: &OutputInputs<'_>,
    settings: &LiveSettings,
    output: &Path,
) -> anyhow::Result<Written> {
    let plan = inputs.plan;
    let ui = inputs.ui;
    let parts = live::compose(inputs, settings, InitrdMode::Live)?;
    let bootloaders = BootloaderFiles::from_assets(inputs.assets)?;
    ui.step("Writing the hybrid BIOS/UEFI ISO");
    let spinner = ui.spinner(format!("writing {}", output.display()));
    let spec = LiveIsoSpec {
        label: plan.label.clone(),
        squashfs: parts.squashfs,
        kernel: parts.kernel,
        initrd: parts.initrd,
        kernel_args: settings.boot.kernel_args.clone(),
        timeout_secs: settings.boot.menu_timeout_secs,
        bootloaders,
        time: inputs.source_date.date_time(),
    };
    let report = image::write_live_iso(&spec, output);
    spinner.finish_and_clear();
    let report = report.with_context(|| format!("cannot write {}", output.display()))?;
    for warning in &report.warnings {
        ui.warn(warning);
    }
    single_file(inputs, output)
}
