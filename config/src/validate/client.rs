//! `[client_ip]` and `[geo]`: the client's address behind trusted proxies, then its location
//! from a MaxMind database.
//!
//! Apart from `tenancy` because both are about the client, not the tenant; tenancy only
//! reads the outcome of `[geo]` (whether it is set, and its deny list). The database file is
//! only probed here (`check_mmdb`); the gateway parses it.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::spans::KeyPath;
use super::validator::Validator;
use super::values::MinDuration;
use crate::defaults::{DEFAULT_GEO_RELOAD_INTERVAL, MIN_GEO_RELOAD_INTERVAL};
use crate::file::{ClientIpFile, GeoFile};
use crate::model::{Cidr, ClientIp, CountryCode, GeoSettings};

/// The bytes that start a MaxMind DB file's metadata section.
pub const MMDB_METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

/// The metadata section is at most this long (MaxMind DB format), so the marker lies in the
/// file's last this-many bytes.
const MMDB_METADATA_MAX_LEN: u64 = 128 * 1024;

impl<'a> Validator<'a> {
    pub(super) fn client_ip(&mut self, file: Option<&ClientIpFile>) -> ClientIp {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("client_ip").key("trusted_proxies");
        let mut trusted_proxies = Vec::with_capacity(file.trusted_proxies.len());
        for (i, text) in file.trusted_proxies.iter().enumerate() {
            match Cidr::parse(text) {
                Ok(cidr) => trusted_proxies.push(cidr),
                Err(e) => self.error(&path.index(i), e.0),
            }
        }
        ClientIp { trusted_proxies }
    }

    /// `[geo]`; `None` when absent or when its database is missing or unusable (reported).
    pub(super) fn geo(&mut self, file: Option<&GeoFile>) -> Option<GeoSettings> {
        let file = file?;
        let path = KeyPath::default().key("geo");
        let reload_interval = self.duration(
            &path.key("reload_interval"),
            file.reload_interval,
            DEFAULT_GEO_RELOAD_INTERVAL,
            MinDuration::AtLeast(MIN_GEO_RELOAD_INTERVAL),
        );
        let deny_countries = self
            .codes(
                &path.key("deny_countries"),
                &file.deny_countries,
                CountryCode::parse,
            )
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        let Some(written) = &file.database else {
            self.error(
                &path,
                "database is required in [geo], e.g. database = \"GeoLite2-Country.mmdb\" (a \
                 GeoIP2 or GeoLite2 Country or City file); remove [geo] to run without client \
                 location",
            );
            return None;
        };
        let resolved = self.base_dir.join(written);
        let shown = if Path::new(written) == resolved {
            format!("{written:?}")
        } else {
            format!("{written:?} ({})", resolved.display())
        };
        if let Err(problem) = check_mmdb(&resolved) {
            self.error(&path.key("database"), format!("{shown} {problem}"));
            return None;
        }
        Some(GeoSettings {
            database: resolved,
            reload_interval,
            deny_countries,
        })
    }
}

/// Checks that `path` looks like a MaxMind DB file: readable, and with the metadata marker
/// near its end. The config crate does not parse the database (the gateway does, with
/// `maxminddb`); this catches the usual mistakes early: a wrong path, a directory, or the
/// `.tar.gz` archive MaxMind's downloads come in. The error completes `"<file> ..."`.
fn check_mmdb(path: &Path) -> Result<(), String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot be read: {e}"))?
        .len();
    if path.is_dir() {
        return Err(
            "is a directory; expected a .mmdb file such as GeoLite2-Country.mmdb".to_owned(),
        );
    }
    let mut head = [0u8; 2];
    let head_len = file
        .read(&mut head)
        .map_err(|e| format!("cannot be read: {e}"))?;
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(len.saturating_sub(MMDB_METADATA_MAX_LEN)))
        .and_then(|_| file.read_to_end(&mut tail))
        .map_err(|e| format!("cannot be read: {e}"))?;
    if tail
        .windows(MMDB_METADATA_MARKER.len())
        .any(|w| w == MMDB_METADATA_MARKER)
    {
        return Ok(());
    }
    let archive = match head.get(..head_len) {
        Some([0x1f, 0x8b]) => Some("a gzip archive"),
        Some(b"PK") => Some("a zip archive"),
        _ => None,
    };
    Err(match archive {
        Some(kind) => format!(
            "is {kind}, not a MaxMind DB file: MaxMind downloads are archives; extract the \
             .mmdb file inside (e.g. tar xzf GeoLite2-Country_*.tar.gz) and name that"
        ),
        None => "is not a MaxMind DB file (no metadata marker near its end); expected a \
                 GeoIP2 or GeoLite2 Country or City .mmdb file"
            .to_owned(),
    })
}
