//! Runtime overrides set by operators (weights, drains): they win over the config file,
//! survive reloads and restarts (persisted to the state file), and can be cleared.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Highest weight an operator may set (the config's own limit).
pub const MAX_WEIGHT: u32 = 1000;

/// Override of one region or origin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Weight replacing the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Drained: weight 0 whatever the weight says, without forgetting it.
    #[serde(default)]
    pub drained: bool,
}

impl Override {
    /// The effective weight given the configured one.
    pub fn apply(&self, configured: u32) -> u32 {
        if self.drained {
            0
        } else {
            self.weight.unwrap_or(configured)
        }
    }

    fn is_empty(&self) -> bool {
        self.weight.is_none() && !self.drained
    }
}

/// Every override, by region name and by `region/address` for origins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// By region name.
    #[serde(default)]
    pub regions: BTreeMap<String, Override>,
    /// By `region/address`.
    #[serde(default)]
    pub origins: BTreeMap<String, Override>,
}

/// The key of an origin in [`Overrides::origins`].
pub fn origin_key(region: &str, address: &str) -> String {
    format!("{region}/{address}")
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// I/O failure.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid override JSON.
    #[error("state file {path} is not valid (fix or delete it): {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Overrides {
    /// The effective weight of `region`.
    pub fn region_weight(&self, region: &str, configured: u32) -> u32 {
        self.regions
            .get(region)
            .map_or(configured, |o| o.apply(configured))
    }

    /// Whether `region` is drained.
    pub fn region_drained(&self, region: &str) -> bool {
        self.regions.get(region).is_some_and(|o| o.drained)
    }

    /// The effective weight of an origin.
    pub fn origin_weight(&self, region: &str, address: &str, configured: u32) -> u32 {
        self.origins
            .get(&origin_key(region, address))
            .map_or(configured, |o| o.apply(configured))
    }

    /// Whether an origin is drained.
    pub fn origin_drained(&self, region: &str, address: &str) -> bool {
        self.origins
            .get(&origin_key(region, address))
            .is_some_and(|o| o.drained)
    }

    /// Drops entries that no longer override anything.
    pub fn compact(&mut self) {
        self.regions.retain(|_, o| !o.is_empty());
        self.origins.retain(|_, o| !o.is_empty());
    }

    /// Reads the state file; a missing file means no overrides.
    pub fn load(path: &Path) -> Result<Overrides, StateFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Overrides::default()),
            Err(source) => {
                return Err(StateFileError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        serde_json::from_str(&text).map_err(|e| StateFileError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Writes the state file atomically: a temporary file in the same directory, fsync,
    /// rename over the old one, fsync the directory — a crash leaves the old or the new file,
    /// never a torn one.
    pub fn save(&self, path: &Path) -> Result<(), StateFileError> {
        let io = |source| StateFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        tmp.write_all(&json).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn drain_wins_over_weight_and_keeps_it() {
        let o = Override {
            weight: Some(300),
            drained: true,
        };
        assert_eq!(o.apply(100), 0);
        let o = Override {
            drained: false,
            ..o
        };
        assert_eq!(o.apply(100), 300);
        assert_eq!(Override::default().apply(100), 100);
    }

    #[test]
    fn state_file_round_trips_and_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(Overrides::load(&path).unwrap(), Overrides::default());
        let mut o = Overrides::default();
        o.regions.insert(
            "northeurope".into(),
            Override {
                weight: Some(0),
                drained: false,
            },
        );
        o.origins.insert(
            origin_key("westeurope", "10.0.0.1:443"),
            Override {
                weight: None,
                drained: true,
            },
        );
        o.save(&path).unwrap();
        assert_eq!(Overrides::load(&path).unwrap(), o);
        std::fs::write(&path, "{not json").unwrap();
        assert!(Overrides::load(&path).is_err());
    }
}
