//! Client location from a MaxMind database (GeoIP2 / GeoLite2 Country or City).
//!
//! [`GeoDb`] holds the current [`Database`] behind an atomic pointer swap: lookups never
//! wait, and [`GeoDb::reload`] replaces the database only after the new file has been read
//! and checked, so a broken or half-written file is refused and the old one keeps serving.
//! [`watch`](fn@watch) (or [`spawn_watcher`]) calls it when the file changes.
//!
//! # Why the file is read into memory, not memory-mapped
//!
//! `maxminddb` 0.32 has an `mmap` feature, but `Reader::open_mmap` is `unsafe`: if the file
//! is modified or truncated in place while mapped, reads become undefined behaviour (in
//! practice SIGBUS kills the process). Operators do copy databases over the old file, and
//! the workspace denies `unsafe` code, so each database is read into memory instead: a
//! Country database is about 10 MB and a City one about 60 MB, held once (twice for the
//! moment of a reload). Lookups are equally fast either way.

mod database;
mod watch;

pub use database::{
    ClientLocation, Database, DatabaseInfo, FileStamp, GeoDb, LookupError, OpenError,
    MAX_PREDECODED_RECORDS, TEST_DATABASE_TYPE,
};
pub use watch::{spawn_watcher, watch};
