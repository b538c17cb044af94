//! `--format dir`: the configured root itself, moved into place.

use std::path::Path;

use anyhow::Context as _;

use super::Written;

pub(super) fn write(root: &Path, output: &Path) -> anyhow::Result<Written> {
    std::fs::rename(root, output)
        .with_context(|| format!("cannot move the finished root to {}", output.display()))?;
    Ok(Written {
        path: output.to_owned(),
        files: Vec::new(),
    })
}
