//! Configuration of the edge gateway.
//!
//! Two layers: [`file`](mod@file) holds serde structs that mirror the TOML exactly (unknown keys are
//! errors), [`validate`] turns them into the typed [`model`], collecting *every* problem with
//! its key path and line instead of stopping at the first.
//!
//! A new key touches four places: its field in [`file`](mod@file) and in [`model`], its
//! default in `src/defaults.rs` (public as `validate::DEFAULT_*`), and its checks in the
//! `src/validate/` file named after its section; a fifth, [`summary`](mod@summary), if
//! `edge-gateway check` should print it.

mod defaults;
pub mod error;
pub mod file;
pub mod model;
mod names;
pub mod summary;
pub mod tenants_file;
pub mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use model::*;
pub use summary::summary;

use std::path::Path;

/// Reads, parses and validates the configuration file at `path`.
///
/// Relative paths inside it (certificates, tenant file) are resolved against the file's
/// directory.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    validate::load_file(path)
}

/// Parses and validates configuration text. `source` names it in error messages and
/// `base_dir` resolves relative paths inside it.
pub fn parse(text: &str, source: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
    validate::parse_str(text, source, base_dir)
}
