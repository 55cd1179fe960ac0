//! `[fleet]`: the Redis the replicas share, how often they reconcile, and what they do when it
//! cannot be reached.
//!
//! The URL is checked here with the rules the gateway relies on: one of three schemes, a
//! host (or an absolute socket path), and never a password; the password comes from an
//! environment variable or a file, read when the gateway starts.

use std::time::Duration;

use super::spans::KeyPath;
use super::validator::Validator;
use super::values::MinDuration;
use crate::defaults::{
    DEFAULT_FLEET_KEY_PREFIX, DEFAULT_FLEET_SYNC_INTERVAL, DEFAULT_FLEET_TIMEOUT,
    MAX_FLEET_SYNC_INTERVAL, MIN_FLEET_SYNC_INTERVAL, MIN_FLEET_TIMEOUT,
};
use crate::file::FleetFile;
use crate::model::{Fleet, SecretSource, WhenUnreachable};

/// Longest `node_id` and `key_prefix`.
const MAX_NAME_LEN: usize = 64;

const URL_EXAMPLE: &str =
    "e.g. \"redis://10.0.0.5:6379/0\", \"rediss://edge.redis.cache.windows.net:6380\" or \
     \"redis+unix:///run/redis/redis.sock\"";

impl<'a> Validator<'a> {
    /// `[fleet]`; `None` when absent, or when `redis_url` is missing or wrong (reported).
    pub(super) fn fleet(&mut self, file: Option<&FleetFile>) -> Option<Fleet> {
        let file = file?;
        let path = KeyPath::default().key("fleet");
        let redis_url = match file.redis_url.as_deref() {
            None => {
                self.error(
                    &path,
                    format!("redis_url is required in [fleet], {URL_EXAMPLE}; remove [fleet] to run each replica on its own"),
                );
                None
            }
            Some(url) => match check_redis_url(url) {
                Ok(()) => Some(url.to_owned()),
                Err(message) => {
                    self.error(&path.key("redis_url"), message);
                    None
                }
            },
        };
        let password = self.fleet_password(file, &path);
        let node_id = file.node_id.as_deref().and_then(|id| {
            let ok = !id.is_empty()
                && id.len() <= MAX_NAME_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
            if !ok {
                self.error(
                    &path.key("node_id"),
                    format!(
                        "{id:?} is not a valid node id: 1 to {MAX_NAME_LEN} letters, digits, \
                         '.', '_', ':' or '-'"
                    ),
                );
            }
            ok.then(|| id.to_owned())
        });
        let key_prefix = match file.key_prefix.as_deref() {
            None => DEFAULT_FLEET_KEY_PREFIX.to_owned(),
            Some(p)
                if !p.is_empty()
                    && p.len() <= MAX_NAME_LEN
                    && p.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                p.to_owned()
            }
            Some(p) => {
                self.error(
                    &path.key("key_prefix"),
                    format!(
                        "{p:?} is not a valid key prefix: 1 to {MAX_NAME_LEN} printable ASCII \
                         characters without spaces, e.g. \"edge:prod:\""
                    ),
                );
                DEFAULT_FLEET_KEY_PREFIX.to_owned()
            }
        };
        let sync_interval = self.bounded(
            &path.key("sync_interval"),
            file.sync_interval,
            DEFAULT_FLEET_SYNC_INTERVAL,
            MIN_FLEET_SYNC_INTERVAL,
            MAX_FLEET_SYNC_INTERVAL,
        );
        let timeout = self.bounded(
            &path.key("timeout"),
            file.timeout,
            DEFAULT_FLEET_TIMEOUT,
            MIN_FLEET_TIMEOUT,
            MAX_FLEET_SYNC_INTERVAL,
        );
        let timeout = if timeout > sync_interval {
            let written = if file.timeout.is_some() {
                ""
            } else {
                " (the default)"
            };
            self.error(
                &path.key(if file.timeout.is_some() {
                    "timeout"
                } else {
                    "sync_interval"
                }),
                format!(
                    "timeout {}{written} is longer than sync_interval {}: a Redis call must end \
                     before the next round starts; shorten timeout or lengthen sync_interval",
                    humantime::format_duration(timeout),
                    humantime::format_duration(sync_interval)
                ),
            );
            sync_interval
        } else {
            timeout
        };
        let when_unreachable = match file.when_unreachable.as_deref() {
            None | Some("full-quota") => WhenUnreachable::FullQuota,
            Some("divide-quota") => WhenUnreachable::DivideQuota,
            Some(other) => {
                self.error(
                    &path.key("when_unreachable"),
                    format!(
                        "unknown value {other:?}; expected \"full-quota\" (each replica keeps \
                         the whole quota) or \"divide-quota\" (the quota divided by the replicas \
                         last seen)"
                    ),
                );
                WhenUnreachable::FullQuota
            }
        };
        Some(Fleet {
            redis_url: redis_url?,
            password,
            node_id,
            key_prefix,
            sync_interval,
            timeout,
            when_unreachable,
        })
    }

    /// `password_env` or `password_file` (not both).
    fn fleet_password(&mut self, file: &FleetFile, path: &KeyPath) -> Option<SecretSource> {
        match (file.password_env.as_deref(), file.password_file.as_deref()) {
            (None, None) => None,
            (Some(_), Some(_)) => {
                self.error(
                    &path.key("password_file"),
                    "set password_env or password_file, not both",
                );
                None
            }
            (Some(name), None) => {
                let ok = name
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !ok {
                    self.error(
                        &path.key("password_env"),
                        format!(
                            "{name:?} is not an environment variable name: letters, digits and \
                             '_', not starting with a digit, e.g. \"EDGE_REDIS_PASSWORD\""
                        ),
                    );
                }
                ok.then(|| SecretSource::Env(name.to_owned()))
            }
            (None, Some(f)) => {
                let resolved = self.base_dir.join(f);
                match std::fs::metadata(&resolved) {
                    Ok(m) if m.is_file() => Some(SecretSource::File(resolved)),
                    Ok(_) => {
                        self.error(
                            &path.key("password_file"),
                            format!("{f:?} ({}) is not a file", resolved.display()),
                        );
                        None
                    }
                    Err(e) => {
                        self.error(
                            &path.key("password_file"),
                            format!("cannot read {f:?} ({}): {e}", resolved.display()),
                        );
                        None
                    }
                }
            }
        }
    }

    /// A duration in `min..=max` (`default` when absent or out of range).
    fn bounded(
        &mut self,
        path: &KeyPath,
        value: Option<crate::file::HumanDuration>,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> Duration {
        let d = self.duration(path, value, default, MinDuration::AtLeast(min));
        if d > max {
            self.error(
                path,
                format!(
                    "{} is too long: must be at most {}",
                    humantime::format_duration(d),
                    humantime::format_duration(max)
                ),
            );
            return default;
        }
        d
    }
}

/// Checks a Redis URL: `redis://[user@]host[:port][/db]`, `rediss://…` (TLS) or
/// `redis+unix:///absolute/path`. No password (it belongs in `password_env` or
/// `password_file`), no query and no fragment (`#insecure` would turn certificate checks off).
pub fn check_redis_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not a URL; {URL_EXAMPLE}"))?;
    if rest.contains('?') || rest.contains('#') {
        return Err(format!(
            "{url:?} has a query or a fragment; write only the address (and database), {URL_EXAMPLE}"
        ));
    }
    match scheme {
        "redis" | "rediss" => check_tcp(url, rest),
        "redis+unix" => {
            if rest.starts_with('/') && rest.len() > 1 {
                Ok(())
            } else {
                Err(format!(
                    "{url:?}: a socket URL names an absolute path, e.g. \
                     \"redis+unix:///run/redis/redis.sock\""
                ))
            }
        }
        "unix" => Err(format!("{url:?}: write redis+unix:// for a socket")),
        other => Err(format!(
            "{url:?}: unsupported scheme {other:?}; use redis:// (plain), rediss:// (TLS) or \
             redis+unix:// (socket)"
        )),
    }
}

fn check_tcp(url: &str, rest: &str) -> Result<(), String> {
    let (authority, db) = match rest.split_once('/') {
        Some((a, db)) => (a, Some(db)),
        None => (rest, None),
    };
    let host_port = match authority.rsplit_once('@') {
        Some((user, host)) => {
            if user.contains(':') {
                return Err(format!(
                    "{url:?} holds a password; never write it in the configuration: put it in \
                     password_env or password_file (a Kubernetes Secret) and remove it from the URL"
                ));
            }
            host
        }
        None => authority,
    };
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: unclosed '[' in the host"))?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?} names no host; {URL_EXAMPLE}"));
    }
    if let Some(p) = port {
        if !p.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(format!(
                "{url:?}: port {p:?} is not a number from 1 to 65535"
            ));
        }
    }
    if let Some(db) = db.filter(|d| !d.is_empty()) {
        if db.parse::<u32>().is_err() {
            return Err(format!(
                "{url:?}: the path names the database, a number such as /0; got {db:?}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_redis_url;

    #[test]
    fn redis_urls() {
        for ok in [
            "redis://127.0.0.1:6379",
            "redis://localhost",
            "redis://edge@10.0.0.5:6379/2",
            "rediss://edge.redis.cache.windows.net:6380/0",
            "redis://[::1]:6379/",
            "redis+unix:///run/redis.sock",
        ] {
            assert_eq!(check_redis_url(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("redis://:secret@h:6379", "holds a password"),
            ("redis://u:secret@h", "holds a password"),
            ("http://h", "unsupported scheme"),
            ("unix:///x", "redis+unix://"),
            ("redis+unix://relative", "absolute path"),
            ("redis://h:0", "port"),
            ("redis://h:99999", "port"),
            ("redis://h/x", "database"),
            ("redis://:6379", "no host"),
            ("rediss://h#insecure", "fragment"),
            ("redis://h?db=1", "query"),
            ("h:6379", "not a URL"),
        ] {
            let e = check_redis_url(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
