//! `--format squashfs`: the live files apart, in one directory: the
//! squashfs root, the kernel, the live initrd, the command line they boot
//! with (the initrd finds the squashfs on a medium labelled with the
//! label), the package list, the SBOMs and `SHA256SUMS` (signed with
//! `--sign-key`).

use std::path::Path;

use anyhow::Context as _;

use super::{
    MANIFEST_SUFFIX, OutputInputs, SHA256SUMS, Written, WrittenFile, live, manifest,
    update_sha256sums, write_file,
};
use crate::image;
use crate::initrd::InitrdMode;
use crate::plan::LiveSettings;

/// The root file system's name in the directory.
pub(super) const SQUASHFS: &str = "filesystem.squashfs";

pub(super) fn write(
    inputs: &OutputInputs<'_>,
    settings: &LiveSettings,
    output: &Path,
) -> anyhow::Result<Written> {
    let plan = inputs.plan;
    let parts = live::compose(inputs, settings, InitrdMode::Live)?;
    let staging = &parts.staging;
    let kernel = staging.join("vmlinuz");
    std::fs::copy(&parts.kernel, &kernel)
        .with_context(|| format!("cannot copy {}", parts.kernel.display()))?;
    let cmdline = image::kernel_cmdline(&plan.label, &settings.boot.kernel_args)?;
    write_file(
        &staging.join("cmdline"),
        (cmdline.join(" ") + "\n").as_bytes(),
    )?;
    write_file(
        &staging.join(MANIFEST_SUFFIX),
        manifest(inputs.resolution).as_bytes(),
    )?;
    let bom = super::bill_of_materials(inputs)?;
    let mut files = Vec::new();
    for name in [
        "vmlinuz",
        "initrd.img",
        SQUASHFS,
        "cmdline",
        MANIFEST_SUFFIX,
    ] {
        files.push(WrittenFile::read(&staging.join(name))?);
    }
    // Inside the directory, as everything of this output.
    files.extend(super::write_sboms(&bom, staging, &plan.label)?);
    update_sha256sums(&files, &staging.join(SHA256SUMS), plan.sign_key.as_ref())?;
    std::fs::rename(staging, output)
        .with_context(|| format!("cannot move the live files to {}", output.display()))?;
    // The files now live under `output`.
    for file in &mut files {
        if let Some(name) = file.path.file_name() {
            file.path = output.join(name);
        }
    }
    Ok(Written {
        path: output.to_owned(),
        files,
    })
}
