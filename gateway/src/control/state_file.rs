//! The state file: operators' overrides persisted atomically, so they survive restarts;
//! a missing file means no overrides.

use std::io::Write;
use std::path::Path;

use crate::topology::Overrides;

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
mod tests {
    use super::*;
    use crate::topology::{origin_key, Override};

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
