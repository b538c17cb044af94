//! The Debian repository stage: fetch a suite's indexes, verify them against
//! a keyring, and parse them into typed package lists.

pub mod date;
pub mod deb822;
pub mod relation;
pub mod signature;
