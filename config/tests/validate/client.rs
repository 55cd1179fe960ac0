//! `[geo]`: defaults, upper-cased country codes, errors at their keys, and the database file
//! probe. `[client_ip]` shares its tests with `[routing]`, in `health`.

use std::time::Duration;

use edge_config::{validate, UnknownTenant};

use crate::{check, codes, error_at, errors, examples_dir, line_of, ok, BASE, GEO};

#[test]
fn geo_settings_take_defaults_and_upper_case_codes() {
    let config = ok(&format!("{BASE}{GEO}deny_countries = [\"kp\", \"Ir\"]\n"));
    let geo = config.geo.unwrap();
    assert_eq!(geo.database, examples_dir().join("geo-demo.mmdb"));
    assert_eq!(geo.reload_interval, validate::DEFAULT_GEO_RELOAD_INTERVAL);
    assert_eq!(geo.reload_interval, Duration::from_secs(5));
    assert_eq!(codes(&geo.deny_countries), ["KP", "IR"]);
    // Without "nearest", geographies may list countries already; nothing uses them yet.
    let config = ok(&format!(
        "{}{GEO}reload_interval = \"1m\"\n",
        BASE.replace("name = \"eu\"\n", "name = \"eu\"\ncountries = [\"de\"]\n")
    ));
    assert_eq!(config.geo.unwrap().reload_interval, Duration::from_secs(60));
    assert_eq!(codes(&config.geographies[0].countries), ["DE"]);
    assert_eq!(config.tenancy.unknown, UnknownTenant::Reject);
}

#[test]
fn bad_geo_settings_are_reported_at_their_keys() {
    let text = format!(
        "{BASE}\n[geo]\ndatabse = \"x.mmdb\"\nreload_interval = \"10ms\"\n\
         deny_countries = [\"UK\", \"KP\", \"kp\", \"K\"]\n"
    );
    let errs = errors(&text);
    let e = error_at(&errs, "geo");
    assert!(
        e.message.starts_with("database is required in [geo]"),
        "{e:?}"
    );
    assert_eq!(e.line, Some(line_of(&text, "[geo]")));
    assert!(error_at(&errs, "geo.databse")
        .message
        .contains("unknown key `databse`"));
    let e = error_at(&errs, "geo.reload_interval");
    assert!(
        e.message
            .contains("10ms is too short: must be at least 100ms"),
        "{e:?}"
    );
    assert!(error_at(&errs, "geo.deny_countries[0]")
        .message
        .contains("(the United Kingdom is \"GB\")"));
    assert_eq!(
        error_at(&errs, "geo.deny_countries[2]").message,
        "KP is listed twice (first at geo.deny_countries[1]); list it once"
    );
    assert!(error_at(&errs, "geo.deny_countries[3]")
        .message
        .contains("is not a country code"));
    assert_eq!(errs.len(), 6, "{errs:#?}");
}

#[test]
fn the_database_must_look_like_a_maxmind_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    let mut mmdb_like = vec![0u8; 300_000];
    mmdb_like.extend_from_slice(validate::MMDB_METADATA_MARKER);
    mmdb_like.extend_from_slice(&[0xe0; 10]);
    let cases = [
        (file("good.mmdb", &mmdb_like), None),
        (
            dir.path().join("missing.mmdb").display().to_string(),
            Some("cannot be read: No such file"),
        ),
        (dir.path().display().to_string(), Some("is a directory")),
        (
            file(
                "GeoLite2-Country_20250101.tar.gz",
                &[0x1f, 0x8b, 8, 0, 0, 0],
            ),
            Some("is a gzip archive, not a MaxMind DB file"),
        ),
        (file("db.zip", b"PK\x03\x04"), Some("is a zip archive")),
        (file("empty.mmdb", b""), Some("is not a MaxMind DB file")),
        (
            file("text.mmdb", b"hello"),
            Some("is not a MaxMind DB file (no metadata marker near its end)"),
        ),
        // The marker must be within the last 128 KiB, where the format keeps the metadata.
        (
            file("early.mmdb", &{
                let mut v = validate::MMDB_METADATA_MARKER.to_vec();
                v.resize(200_000, 0);
                v
            }),
            Some("is not a MaxMind DB file"),
        ),
    ];
    for (path, problem) in cases {
        let text = format!("{BASE}\n[geo]\ndatabase = {path:?}\n");
        match (check(&text), problem) {
            (Ok(config), None) => {
                assert_eq!(config.geo.unwrap().database.display().to_string(), path);
            }
            (Err(errs), Some(problem)) => {
                let e = error_at(&errs, "geo.database");
                assert!(
                    e.message.starts_with(&format!("{path:?} ")) && e.message.contains(problem),
                    "{path}: {e:?}"
                );
                assert_eq!(e.line, Some(line_of(&text, "database = ")));
                assert_eq!(errs.len(), 1, "{errs:#?}");
            }
            (result, _) => panic!("{path}: unexpected {result:#?}"),
        }
    }
    // A relative path shows where it was looked for.
    let errs = errors(&format!("{BASE}\n[geo]\ndatabase = \"nope.mmdb\"\n"));
    let shown = examples_dir().join("nope.mmdb").display().to_string();
    assert!(
        error_at(&errs, "geo.database")
            .message
            .starts_with(&format!("\"nope.mmdb\" ({shown}) cannot be read")),
        "{errs:#?}"
    );
}
