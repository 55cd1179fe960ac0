//! Small helpers: durations on the command line, free ports, the workspace's paths.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Parses `"500ms"`, `"30s"`, `"2m"` or a bare number of seconds (`"30"`, `"2.5"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let value: f64 = number.trim().parse().map_err(|_| {
        format!("{text:?} is not a duration: write e.g. \"500ms\", \"30s\" or \"2m\"")
    })?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{text:?}: a duration must be a positive number"));
    }
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" | "min" => value * 60.0,
        other => return Err(format!("{text:?}: unknown unit {other:?} (use ms, s or m)")),
    };
    // Bounded so that every scenario stays bounded in time.
    if seconds > 24.0 * 3600.0 {
        return Err(format!("{text:?}: at most 24 hours"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A free TCP port on 127.0.0.1 (bound, then released for the process about to use it).
pub fn free_port() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))?;
    listener.local_addr()
}

/// The workspace root (the directory holding the root `Cargo.toml`), as known at build time.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The workspace root found at run time, so that a binary copied or built elsewhere still
/// writes into the checkout it is run from: the nearest directory above
/// `$CARGO_MANIFEST_DIR` (which `cargo run` and `cargo test` set), else above the current
/// directory, that is a workspace with a `loadtests` directory.
pub fn find_workspace_root() -> Option<PathBuf> {
    let starts = [
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::current_dir().ok(),
    ];
    starts
        .into_iter()
        .flatten()
        .find_map(|d| workspace_above(&d))
}

/// The nearest of `dir` and its ancestors whose `Cargo.toml` has a `[workspace]` table and
/// that holds a `loadtests` directory.
pub fn workspace_above(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join("loadtests").is_dir() && declares_workspace(&d.join("Cargo.toml")))
        .map(Path::to_path_buf)
}

fn declares_workspace(manifest: &Path) -> bool {
    std::fs::read_to_string(manifest).is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
}

/// Where files go when `--out` is not given: `loadtests/out/` of the workspace (which git
/// ignores), else `./loadtests/out`.
pub fn default_out() -> PathBuf {
    find_workspace_root()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("loadtests")
        .join("out")
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Finds a binary: the explicit `path`, else the environment variable `env`, else the
/// candidates in order; the first that exists wins.
pub fn locate_binary(
    explicit: Option<&Path>,
    env: &str,
    candidates: &[PathBuf],
    build_hint: &str,
) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("{} does not exist", p.display()))
        };
    }
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("${env} = {} does not exist", p.display()))
        };
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            format!(
                "no binary found (tried ${env}, {}); build it with `{build_hint}`",
                tried.join(", ")
            )
        })
}

/// Whether `addr` is a loopback address: the harness never sends load anywhere else.
pub fn require_loopback(addr: SocketAddr, what: &str) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "{what} {addr} is not a loopback address: edge-loadtest only sends traffic to this machine"
        ))
    }
}

/// Milliseconds with one decimal, for reports.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Seconds since the Unix epoch and the same instant as an RFC 3339 UTC string.
pub fn now_utc() -> (u64, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs, rfc3339(secs))
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm), valid for every date after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("100000m").is_err());
    }

    #[test]
    fn dates_format() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_764_201_600), "2025-11-27T00:00:00Z");
    }

    #[test]
    fn loopback_only() {
        assert!(require_loopback("127.0.0.1:1".parse().unwrap(), "x").is_ok());
        assert!(require_loopback("[::1]:1".parse().unwrap(), "x").is_ok());
        assert!(require_loopback("10.0.0.1:1".parse().unwrap(), "x").is_err());
    }

    #[test]
    fn default_out_is_loadtests_out_of_this_workspace() {
        // `cargo test` sets CARGO_MANIFEST_DIR to loadtests/, one level below the root.
        assert_eq!(find_workspace_root(), Some(workspace_root()));
        assert_eq!(
            default_out(),
            workspace_root().join("loadtests").join("out")
        );
    }

    #[test]
    fn workspace_is_found_above_a_nested_directory() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("loadtests").join("src");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(
            root.path().join("Cargo.toml"),
            "[workspace]\nmembers = []\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("loadtests").join("Cargo.toml"),
            "[package]\n",
        )
        .unwrap();
        assert_eq!(workspace_above(&nested).as_deref(), Some(root.path()));
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(workspace_above(elsewhere.path()), None);
    }
}
