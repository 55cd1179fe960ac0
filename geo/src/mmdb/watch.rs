//! Reloading the database when its file is replaced.
//!
//! # Why polling, not inotify
//!
//! Every `interval` the watcher compares the file's [`FileStamp`] (modification time,
//! length, inode) with the loaded one. File-system notifications look cheaper but are less
//! reliable for this file:
//! - databases are installed by rename (geoipupdate, deploy tools, Kubernetes' `..data`
//!   symlink swap for mounted ConfigMaps and Secrets). An inotify watch follows the old
//!   inode, which is never written again; watching the directory instead means filtering its
//!   events and re-arming around the rename, with races either way;
//! - bind mounts into containers and network file systems often deliver no events at all;
//! - a `stat` every few seconds costs microseconds, sees every kind of replacement, and the
//!   same comparison tells when a file being copied has stopped growing.
//!
//! A changed stamp is acted on once it has stayed the same for one more interval, so a file
//! that is still being written is not read half-way (and
//! [`Database::open`](super::Database::open) checks that the stamp did not change while
//! reading). A file that fails to load is not retried until it changes again, so a broken
//! file is logged once, not every interval.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::database::{FileStamp, GeoDb, OpenError};

/// Checks the database file every `interval` and reloads it when it has been replaced
/// (see the module documentation). Never returns; run it on a task of the runtime that
/// serves lookups, or use [`spawn_watcher`]. Reads and checks run on Tokio's blocking
/// pool, so the executor is never held up by a large database.
pub async fn watch(db: Arc<GeoDb>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first tick completes at once; the database was just loaded.
    ticker.tick().await;
    let mut poll = Poll::default();
    let path = db.path().display().to_string();
    loop {
        ticker.tick().await;
        let file = db.path().to_owned();
        let seen = match tokio::task::spawn_blocking(move || FileStamp::of(&file)).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::warn!(target: "geo", error = %e, "location database check did not run");
                continue;
            }
        };
        let loaded = db.current().info().stamp;
        match poll.observe(seen, loaded) {
            Step::Unchanged | Step::Settling | Step::KnownBad | Step::StillMissing => {}
            Step::Missing(e) => tracing::warn!(
                target: "geo",
                path = %path,
                error = %e,
                "location database file is gone; still using the one loaded"
            ),
            Step::Reload(stamp) => {
                let db = Arc::clone(&db);
                match tokio::task::spawn_blocking(move || db.reload()).await {
                    Ok(Ok(info)) => tracing::info!(
                        target: "geo",
                        path = %path,
                        database_type = %info.database_type,
                        build_epoch = info.build_epoch,
                        size = info.size,
                        "location database reloaded"
                    ),
                    Ok(Err(OpenError::Changing { .. })) => {
                        // Still being written: the next ticks see it change and settle.
                    }
                    Ok(Err(e)) => {
                        poll.failed(stamp);
                        tracing::warn!(
                            target: "geo",
                            path = %path,
                            error = %e,
                            "new location database refused; still using the one loaded"
                        );
                    }
                    Err(e) => {
                        tracing::warn!(target: "geo", error = %e, "location database reload did not run");
                    }
                }
            }
        }
    }
}

/// Spawns [`watch`] on the current Tokio runtime; abort the handle to stop it.
pub fn spawn_watcher(db: Arc<GeoDb>, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(watch(db, interval))
}

/// What to do after one look at the file.
#[derive(Debug)]
enum Step {
    /// The loaded file is still there.
    Unchanged,
    /// The file changed since the last look; wait for it to stay the same.
    Settling,
    /// The file has stayed the same for an interval since it changed: read it.
    Reload(FileStamp),
    /// The file is the one that failed to load last time.
    KnownBad,
    /// The file cannot be examined (first time since it could).
    Missing(io::Error),
    /// The file still cannot be examined.
    StillMissing,
}

/// The watcher's memory between looks.
#[derive(Debug, Default)]
struct Poll {
    /// A changed stamp seen at the last look, not yet acted on.
    pending: Option<FileStamp>,
    /// The stamp of a file that failed to load.
    failed: Option<FileStamp>,
    /// The file was missing at the last look (and that was logged).
    missing: bool,
}

impl Poll {
    fn observe(&mut self, seen: io::Result<FileStamp>, loaded: Option<FileStamp>) -> Step {
        let stamp = match seen {
            Ok(stamp) => stamp,
            Err(e) => {
                self.pending = None;
                if std::mem::replace(&mut self.missing, true) {
                    return Step::StillMissing;
                }
                return Step::Missing(e);
            }
        };
        self.missing = false;
        if Some(stamp) == loaded {
            self.pending = None;
            return Step::Unchanged;
        }
        if Some(stamp) == self.failed {
            return Step::KnownBad;
        }
        if self.pending.replace(stamp) == Some(stamp) {
            self.pending = None;
            return Step::Reload(stamp);
        }
        Step::Settling
    }

    fn failed(&mut self, stamp: FileStamp) {
        self.failed = Some(stamp);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::fs;
    use std::net::IpAddr;
    use std::path::Path;
    use std::time::{Instant, SystemTime};

    use edge_config::Cidr;

    use super::*;
    use crate::testdata::{demo_db, location_record, TEST_DATABASE_TYPE};
    use crate::writer::Writer;

    fn stamp(len: u64) -> FileStamp {
        FileStamp {
            modified: Some(SystemTime::UNIX_EPOCH),
            len,
            inode: 1,
        }
    }

    #[test]
    fn a_change_is_acted_on_once_it_has_settled() {
        let mut p = Poll::default();
        let loaded = Some(stamp(1));
        assert!(matches!(p.observe(Ok(stamp(1)), loaded), Step::Unchanged));
        // Growing while being copied: each look sees a new stamp.
        assert!(matches!(p.observe(Ok(stamp(5)), loaded), Step::Settling));
        assert!(matches!(p.observe(Ok(stamp(9)), loaded), Step::Settling));
        // Stable for one interval: reload.
        assert!(matches!(p.observe(Ok(stamp(9)), loaded), Step::Reload(s) if s == stamp(9)));
        // Once loaded, nothing to do.
        assert!(matches!(
            p.observe(Ok(stamp(9)), Some(stamp(9))),
            Step::Unchanged
        ));
    }

    #[test]
    fn a_bad_file_is_tried_once_until_it_changes() {
        let mut p = Poll::default();
        let loaded = Some(stamp(1));
        assert!(matches!(p.observe(Ok(stamp(2)), loaded), Step::Settling));
        assert!(matches!(p.observe(Ok(stamp(2)), loaded), Step::Reload(_)));
        p.failed(stamp(2));
        for _ in 0..3 {
            assert!(matches!(p.observe(Ok(stamp(2)), loaded), Step::KnownBad));
        }
        assert!(matches!(p.observe(Ok(stamp(3)), loaded), Step::Settling));
        assert!(matches!(p.observe(Ok(stamp(3)), loaded), Step::Reload(_)));
    }

    #[test]
    fn a_missing_file_is_reported_once() {
        let mut p = Poll::default();
        let loaded = Some(stamp(1));
        let gone = || Err(io::Error::from(io::ErrorKind::NotFound));
        assert!(matches!(p.observe(gone(), loaded), Step::Missing(_)));
        assert!(matches!(p.observe(gone(), loaded), Step::StillMissing));
        assert!(matches!(p.observe(Ok(stamp(1)), loaded), Step::Unchanged));
        assert!(matches!(p.observe(gone(), loaded), Step::Missing(_)));
        // A change seen just before the file vanished does not count as settled after.
        assert!(matches!(p.observe(Ok(stamp(4)), loaded), Step::Settling));
        assert!(matches!(p.observe(gone(), loaded), Step::Missing(_)));
        assert!(matches!(p.observe(Ok(stamp(4)), loaded), Step::Settling));
    }

    fn country(geo: &GeoDb, addr: &str) -> Option<String> {
        geo.lookup(addr.parse::<IpAddr>().unwrap())
            .unwrap()
            .and_then(|l| l.country)
            .map(|c| c.to_string())
    }

    /// A database mapping 127.0.1.0/24 to `country`.
    fn db_with(country: &str) -> Vec<u8> {
        let mut w = Writer::new(TEST_DATABASE_TYPE);
        w.insert(
            Cidr::parse("127.0.1.0/24").unwrap(),
            &location_record(country, "EU", 50.0, 5.0),
        )
        .unwrap();
        w.to_bytes().unwrap()
    }

    /// Installs `bytes` at `path` the way updaters do: write a temporary file, rename it.
    fn install(path: &Path, bytes: &[u8]) {
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, bytes).unwrap();
        fs::rename(&tmp, path).unwrap();
    }

    async fn wait_for(geo: &GeoDb, addr: &str, want: Option<&str>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while country(geo, addr).as_deref() != want {
            assert!(
                Instant::now() < deadline,
                "{addr} never became {want:?} (is {:?})",
                country(geo, addr)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_watcher_reloads_replacements_and_survives_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("GeoLite2-Country.mmdb");
        fs::write(&path, demo_db().unwrap()).unwrap();
        let geo = Arc::new(GeoDb::open(&path).unwrap());
        let watcher = spawn_watcher(Arc::clone(&geo), Duration::from_millis(20));
        assert_eq!(country(&geo, "127.0.1.1").as_deref(), Some("DE"));

        install(&path, &db_with("IE"));
        wait_for(&geo, "127.0.1.1", Some("IE")).await;

        // Garbage, then a missing file: the last good database keeps answering.
        install(&path, b"not a database");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(country(&geo, "127.0.1.1").as_deref(), Some("IE"));
        fs::remove_file(&path).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(country(&geo, "127.0.1.1").as_deref(), Some("IE"));

        // A good file again, overwritten in place this time (no rename).
        fs::write(&path, db_with("NL")).unwrap();
        wait_for(&geo, "127.0.1.1", Some("NL")).await;
        assert!(!watcher.is_finished());
        watcher.abort();
    }
}
