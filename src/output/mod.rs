//! The output stage: what a build writes from its configured root, one
//! module per format behind one exhaustive `match` on the plan's
//! [`OutputSpec`]. Each writer takes the configured root (and the boot
//! assets it asked for) and returns what it wrote.

mod dir;
mod disk;
mod live;
mod live_files;
mod live_iso;
mod pxe;

pub use pxe::check_url as check_pxe_url;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

use crate::chroot::Chroot;
use crate::distro::{BootAsset, Distro, Resolution, UnpackedAssets};
use crate::plan::{BuildPlan, OutputSpec};
use crate::progress::Ui;
use crate::sbom::Bom;
use crate::sign::{SigningKey, signature_path};
use crate::source_date::SourceDate;

/// One file an output wrote, as the closing message and `SHA256SUMS` give it.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

/// What an output stage left: its path (a file or a directory) and the
/// files it wrote there (none for a root directory, whose size depends on
/// the filesystem it sits on).
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub files: Vec<WrittenFile>,
}

impl Written {
    /// Bytes written in all.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|file| file.size).sum()
    }
}

/// What every output reads.
pub struct OutputInputs<'a> {
    pub plan: &'a BuildPlan,
    /// The configured root filesystem.
    pub root: &'a Path,
    /// The build's work directory, removed when the build ends.
    pub work: &'a Path,
    /// The boot assets [`boot_assets`] asked for, unpacked.
    pub assets: &'a UnpackedAssets,
    pub resolution: &'a Resolution,
    /// The build's time: every date the output writes.
    pub source_date: SourceDate,
    pub distro: &'a dyn Distro,
    /// Runs the image's own programs (GRUB's `grub-mkimage`).
    pub chroot: &'a Chroot,
    pub ui: &'a Ui,
    /// Where the cache keeps the installed root this build started from,
    /// when it does: the live formats' squashfs memo goes beside it, so the
    /// next build from that root compresses only what changed.
    pub kept_root: Option<&'a Path>,
}

/// The boot assets an output needs from the distribution's packages.
pub fn boot_assets(
    output: &OutputSpec,
    resolution: &Resolution,
    distro: &dyn Distro,
) -> &'static [BootAsset] {
    match output {
        OutputSpec::Dir => &[],
        OutputSpec::LiveIso(_) => &[
            BootAsset::Busybox,
            BootAsset::Isolinux,
            BootAsset::SystemdBootEfi,
        ],
        OutputSpec::LiveFiles(_) => &[BootAsset::Busybox],
        OutputSpec::Pxe(_) => &[BootAsset::Busybox, BootAsset::Pxelinux, BootAsset::IpxeEfi],
        // A disk boots through the image's own initramfs when the image
        // makes one; otherwise through livecompose's initrd in its
        // disk-root mode, which needs the busybox.
        OutputSpec::Disk(_) if has_initramfs_generator(resolution, distro) => &[],
        OutputSpec::Disk(_) => &[BootAsset::Busybox],
    }
}

/// Whether the image gets a package that makes its initramfs.
fn has_initramfs_generator(resolution: &Resolution, distro: &dyn Distro) -> bool {
    let generators = distro.initramfs_generators();
    resolution
        .packages
        .iter()
        .any(|package| generators.contains(&package.name.as_str()))
}

/// Checks what an output needs from the build host, before any download.
pub fn check_host(output: &OutputSpec) -> anyhow::Result<()> {
    match output {
        OutputSpec::Dir
        | OutputSpec::LiveIso(_)
        | OutputSpec::LiveFiles(_)
        | OutputSpec::Pxe(_) => Ok(()),
        OutputSpec::Disk(_) => Ok(crate::disk::ext4::check_host()?),
    }
}

/// The packages an output needs installed in the image itself.
pub fn image_packages(output: &OutputSpec, distro: &dyn Distro) -> &'static [&'static str] {
    match output {
        OutputSpec::Dir
        | OutputSpec::LiveIso(_)
        | OutputSpec::LiveFiles(_)
        | OutputSpec::Pxe(_) => &[],
        // The image's own GRUB boots it, and stays there for updates.
        OutputSpec::Disk(_) => distro.grub().packages,
    }
}

/// Writes the plan's output to `output`.
pub fn write(inputs: &OutputInputs<'_>, output: &Path) -> anyhow::Result<Written> {
    match &inputs.plan.output {
        OutputSpec::Dir => {
            // Read from the root before it moves into place.
            let bom = bill_of_materials(inputs)?;
            let written = dir::write(inputs.root, output)?;
            let plan = inputs.plan;
            let sboms = write_sboms(&bom, &plan.output_dir, &plan.label)?;
            update_sha256sums(
                &sboms,
                &plan.output_dir.join(SHA256SUMS),
                plan.sign_key.as_ref(),
            )?;
            Ok(written)
        }
        OutputSpec::LiveIso(settings) => live_iso::write(inputs, settings, output),
        OutputSpec::LiveFiles(settings) => live_files::write(inputs, settings, output),
        OutputSpec::Pxe(settings) => pxe::write(inputs, settings, output),
        OutputSpec::Disk(settings) => disk::write(inputs, settings, output),
    }
}

/// The file (or directory) of a written output that holds the image's
/// root, as `livecompose audit` reads it.
pub fn audited_image(output: &OutputSpec, written: &Written) -> PathBuf {
    match output {
        OutputSpec::Dir | OutputSpec::LiveIso(_) | OutputSpec::Disk(_) => written.path.clone(),
        OutputSpec::LiveFiles(_) | OutputSpec::Pxe(_) => written.path.join(live_files::SQUASHFS),
    }
}

/// The name of the package list written beside an output: one
/// `name version architecture` line per installed package.
pub const MANIFEST_SUFFIX: &str = "packages";

/// Finishes an output that is one file in the output directory: its
/// package list `LABEL.packages` and its SBOMs beside it, and all in
/// `SHA256SUMS`.
fn single_file(inputs: &OutputInputs<'_>, output: &Path) -> anyhow::Result<Written> {
    let plan = inputs.plan;
    let manifest_path = manifest_path(plan);
    write_file_atomically(&manifest_path, manifest(inputs.resolution).as_bytes())?;
    let bom = bill_of_materials(inputs)?;
    let mut files = vec![
        WrittenFile::read(output)?,
        WrittenFile::read(&manifest_path)?,
    ];
    files.extend(write_sboms(&bom, &plan.output_dir, &plan.label)?);
    update_sha256sums(
        &files,
        &plan.output_dir.join(SHA256SUMS),
        plan.sign_key.as_ref(),
    )?;
    Ok(Written {
        path: output.to_owned(),
        files,
    })
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

/// Writes `bytes` to `path` through a temporary file beside it, renamed
/// into place: a reader never sees it half written.
fn write_file_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let write = || -> std::io::Result<()> {
        let mut temp = tempfile::NamedTempFile::new_in(parent_dir(path))?;
        temp.write_all(bytes)?;
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))?;
        temp.persist(path).map_err(|err| err.error)?;
        Ok(())
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

/// The directory `path` is in.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The files an output writes beside itself that are its alone (the
/// package list, the SBOMs), which must not exist before the build.
pub fn side_files(plan: &BuildPlan) -> Vec<PathBuf> {
    let sboms = || sbom_paths(&plan.output_dir, &plan.label);
    match plan.output {
        OutputSpec::Dir => sboms().to_vec(),
        // Their SBOMs are inside the output directory.
        OutputSpec::LiveFiles(_) | OutputSpec::Pxe(_) => vec![manifest_path(plan)],
        OutputSpec::LiveIso(_) | OutputSpec::Disk(_) => {
            let mut files = vec![manifest_path(plan)];
            files.extend(sboms());
            files
        }
    }
}

/// The suffixes of the SBOMs: `LABEL.spdx.json` and `LABEL.cdx.json`.
pub const SPDX_SUFFIX: &str = "spdx.json";
pub const CYCLONEDX_SUFFIX: &str = "cdx.json";

/// Where the SBOMs of `label` go in `dir`: SPDX, then CycloneDX.
fn sbom_paths(dir: &Path, label: &str) -> [PathBuf; 2] {
    [
        dir.join(format!("{label}.{SPDX_SUFFIX}")),
        dir.join(format!("{label}.{CYCLONEDX_SUFFIX}")),
    ]
}

/// The SBOM of the build, read from the repositories and the configured
/// root (where Debian keeps licenses).
fn bill_of_materials(inputs: &OutputInputs<'_>) -> anyhow::Result<Bom> {
    Bom::of_build(
        inputs.plan,
        inputs.distro,
        inputs.resolution,
        inputs.root,
        &inputs.source_date,
    )
}

/// Writes `bom` as `LABEL.spdx.json` and `LABEL.cdx.json` in `dir`.
fn write_sboms(bom: &Bom, dir: &Path, label: &str) -> anyhow::Result<Vec<WrittenFile>> {
    let [spdx, cyclonedx] = sbom_paths(dir, label);
    write_file_atomically(&spdx, &bom.spdx_json())?;
    write_file_atomically(&cyclonedx, &bom.cyclonedx_json())?;
    Ok(vec![
        WrittenFile::read(&spdx)?,
        WrittenFile::read(&cyclonedx)?,
    ])
}

fn manifest_path(plan: &BuildPlan) -> PathBuf {
    plan.output_dir
        .join(format!("{}.{MANIFEST_SUFFIX}", plan.label))
}

impl WrittenFile {
    /// `path`'s size and SHA-256, read back from the disk.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let mut file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut file, &mut hasher)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(WrittenFile {
            path: path.to_owned(),
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

/// The checksum list written beside outputs.
pub const SHA256SUMS: &str = "SHA256SUMS";

/// Records the SHA-256 of `files` in the list `out`, in the format
/// `sha256sum -c` reads, each file named by its path relative to the
/// list's directory (its file name when it is elsewhere) so the list is
/// checked from its own directory. Lines of other files already in `out`
/// are kept (several images share an output directory); the list is
/// replaced by rename, never left half written, and read and replaced under
/// a lock on its directory, so two builds finishing at once lose no line.
/// With `sign`, the new list is signed under the same lock
/// (`SHA256SUMS.sign`); without, a signature of an earlier list is removed,
/// as it no longer matches.
pub fn update_sha256sums(
    files: &[WrittenFile],
    out: &Path,
    sign: Option<&SigningKey>,
) -> anyhow::Result<()> {
    let dir = parent_dir(out);
    let locked =
        std::fs::File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    rustix::fs::flock(&locked, rustix::fs::FlockOperation::LockExclusive)
        .with_context(|| format!("cannot lock {}", dir.display()))?;
    let mut lines = std::collections::BTreeMap::new();
    match std::fs::read_to_string(out) {
        Ok(text) => {
            for line in text.lines() {
                if let Some((_, name)) = line.split_once("  ") {
                    lines.insert(name.to_owned(), line.to_owned());
                }
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", out.display())),
    }
    for file in files {
        let name = match file.path.strip_prefix(dir) {
            Ok(relative) => relative.as_os_str(),
            _ => file.path.file_name().unwrap_or(file.path.as_os_str()),
        }
        .to_string_lossy()
        .into_owned();
        lines.insert(name.clone(), format!("{}  {name}", file.sha256));
    }
    let text: String = lines.values().map(|line| format!("{line}\n")).collect();
    // The lock is released when `locked` closes, after the renames.
    write_file_atomically(out, text.as_bytes())?;
    let signature = signature_path(out);
    match sign {
        Some(key) => write_file_atomically(&signature, &key.sign_file(out)?),
        None => match std::fs::remove_file(&signature) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(err).with_context(|| format!("cannot remove {}", signature.display()))
            }
            _ => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256sums_names_files_by_their_name_and_keeps_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.iso");
        let b = dir.path().join("b.iso");
        std::fs::write(&a, b"abc").unwrap();
        std::fs::write(&b, b"").unwrap();
        let sums = dir.path().join(SHA256SUMS);
        update_sha256sums(&[WrittenFile::read(&b).unwrap()], &sums, None).unwrap();
        update_sha256sums(&[WrittenFile::read(&a).unwrap()], &sums, None).unwrap();
        let both = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a.iso\n\
                    e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  b.iso\n";
        assert_eq!(std::fs::read_to_string(&sums).unwrap(), both);
        // A rebuilt image replaces its own line only.
        std::fs::write(&b, b"abc").unwrap();
        update_sha256sums(&[WrittenFile::read(&b).unwrap()], &sums, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&sums).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a.iso\n\
             ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  b.iso\n"
        );
    }

    #[test]
    fn sha256sums_names_a_file_below_its_directory_by_its_relative_path() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("pxelinux.cfg");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("default"), b"abc").unwrap();
        let sums = dir.path().join(SHA256SUMS);
        update_sha256sums(
            &[WrittenFile::read(&sub.join("default")).unwrap()],
            &sums,
            None,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&sums).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  pxelinux.cfg/default\n"
        );
    }

    #[test]
    fn builds_finishing_at_once_lose_no_checksum_line() {
        let dir = tempfile::tempdir().unwrap();
        let sums = dir.path().join(SHA256SUMS);
        let writers: Vec<_> = (0..16)
            .map(|i| {
                let image = dir.path().join(format!("image-{i}.iso"));
                std::fs::write(&image, format!("image {i}")).unwrap();
                let sums = sums.clone();
                std::thread::spawn(move || {
                    let file = WrittenFile::read(&image).unwrap();
                    update_sha256sums(&[file], &sums, None).unwrap();
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let text = std::fs::read_to_string(&sums).unwrap();
        assert_eq!(text.lines().count(), 16, "{text}");
    }
}
