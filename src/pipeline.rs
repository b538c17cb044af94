//! The build recipe: the stages in the order they run.
//!
//! Each stage takes the previous stage's typed output. Stages that are not
//! written yet say so instead of pretending.

use std::fmt;

use crate::plan::BuildPlan;

/// The stages of a build, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Repositories,
    Resolve,
    Fetch,
    Install,
    Configure,
    Initrd,
    Image,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Repositories => "repositories (read and verify the package indexes)",
            Self::Resolve => "resolve (choose the packages)",
            Self::Fetch => "fetch (download packages into the cache)",
            Self::Install => "install (unpack packages into the root)",
            Self::Configure => "configure (users, services, %post)",
            Self::Initrd => "initrd (the live boot initramfs)",
            Self::Image => "image (squashfs, ISO or disk)",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "the kickstart is valid and the plan is made, but the {0} stage is not built yet, so no image can be made; nothing was written (--dry-run shows the plan)"
    )]
    NotBuilt(Stage),
}

/// Runs every stage of `plan`.
pub fn build(_plan: &BuildPlan) -> Result<(), BuildError> {
    Err(BuildError::NotBuilt(Stage::Repositories))
}
