//! `[tenancy]`, `[[tenants]]` and the tenant file: `unknown = "nearest"` and what it
//! needs, `allowed_countries`, and errors located in the tenant file.

use edge_config::{ContinentCode, GeographyName, Location, TenantId, UnknownTenant};

use crate::{codes, error_at, errors, examples_dir, line_of, nearest_base, ok, BASE, GEO};

#[test]
fn nearest_routing_and_country_rules_build_the_model() {
    let text = nearest_base().replace(
        "name = \"eu\"\n",
        "name = \"eu\"\ncountries = [\"GB\", \"ch\"]\ncontinents = [\"eu\", \"AF\"]\n",
    ) + r#"
[[geographies]]
name = "na"
continents = ["NA"]

[[regions]]
name = "eastus"
geography = "na"
location = { lat = 37, lon = -79.82 }
origins = [{ address = "127.0.0.1:9103" }]

[[tenants]]
id = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b"
geography = "eu"
allowed_countries = ["de", "AT"]

[[tenants]]
id = "fbaf7fa7-3354-4078-ae7d-61299da1536f"
geography = "na"
"#;
    let config = ok(&text);
    assert_eq!(config.tenancy.unknown, UnknownTenant::Nearest);
    assert_eq!(
        config.tenancy.default_geography,
        Some(GeographyName::new("eu"))
    );
    let eu = &config.geographies[0];
    assert_eq!(codes(&eu.countries), ["GB", "CH"]);
    assert_eq!(eu.continents, [ContinentCode::EU, ContinentCode::AF]);
    assert_eq!(config.geographies[1].continents, [ContinentCode::NA]);
    // An integer is as good as a float for degrees.
    assert_eq!(
        config.regions[1].location,
        Some(Location {
            lat: 37.0,
            lon: -79.82
        })
    );
    let tenant = |id: &str| &config.tenants.by_id[&TenantId::parse(id).unwrap()];
    assert_eq!(
        tenant("3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b")
            .allowed_countries
            .as_deref()
            .map(codes),
        Some(vec!["DE", "AT"])
    );
    assert_eq!(
        tenant("fbaf7fa7-3354-4078-ae7d-61299da1536f").allowed_countries,
        None
    );
}

#[test]
fn nearest_needs_a_database_and_a_default_geography() {
    let with_tenancy = |tenancy: &str, geo: bool| {
        let text = BASE.replace("[tenancy]\n", &format!("[tenancy]\n{tenancy}\n"));
        if geo {
            text + GEO
        } else {
            text
        }
    };
    let one = |text: &str, key: &str| {
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        let e = error_at(&errs, key);
        (e.message.clone(), e.line)
    };

    let text = with_tenancy("unknown = \"nearest\"", true);
    let (m, line) = one(&text, "tenancy.unknown");
    assert!(
        m.starts_with("\"nearest\" routes clients without a tenant by location and needs default_geography, the geography for clients"),
        "{m}"
    );
    assert_eq!(line, Some(line_of(&text, "unknown = ")));

    let (m, _) = one(
        &with_tenancy("unknown = \"nearest\"\ndefault_geography = \"eu\"", false),
        "tenancy.unknown",
    );
    assert!(
        m.ends_with("needs a MaxMind database ([geo] with database = \"GeoLite2-Country.mmdb\")"),
        "{m}"
    );

    let (m, _) = one(
        &with_tenancy("unknown = \"nearest\"\ndefault_geography = \"ap\"", true),
        "tenancy.default_geography",
    );
    assert_eq!(m, "default_geography \"ap\" is not defined (defined: eu)");
    let (m, _) = one(
        &with_tenancy("unknown = \"nearest\"\ndefault_geography = \"EU\"", true),
        "tenancy.default_geography",
    );
    assert!(m.contains("not a valid geography name"), "{m}");

    let (m, _) = one(
        &with_tenancy("default_geography = \"eu\"", true),
        "tenancy.default_geography",
    );
    assert!(
        m.starts_with("default_geography only applies with unknown = \"nearest\""),
        "{m}"
    );
    // A misspelt `unknown` is the one problem reported.
    let (m, _) = one(
        &with_tenancy("unknown = \"closest\"\ndefault_geography = \"eu\"", true),
        "tenancy.unknown",
    );
    assert_eq!(
        m,
        "unknown value \"closest\"; expected \"reject\" or \"nearest\""
    );

    // A broken [geo] is reported there, not again as missing for "nearest".
    let text = BASE.replace(
        "[tenancy]\n",
        "[tenancy]\nunknown = \"nearest\"\ndefault_geography = \"eu\"\n",
    ) + "\n[geo]\ndatabase = \"missing.mmdb\"\n";
    let (m, _) = one(&text, "geo.database");
    assert!(m.contains("cannot be read"), "{m}");
}

#[test]
fn allowed_countries_are_checked() {
    let tenant = |id: &str, allowed: &str| {
        format!("\n[[tenants]]\nid = \"{id}\"\ngeography = \"eu\"\nallowed_countries = {allowed}\n")
    };
    let text = format!(
        "{BASE}{GEO}deny_countries = [\"KP\"]\n{}{}",
        tenant("3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b", "[]"),
        tenant(
            "fbaf7fa7-3354-4078-ae7d-61299da1536f",
            "[\"DE\", \"KP\", \"de\", \"UK\"]"
        ),
    );
    let errs = errors(&text);
    let msg = |key| error_at(&errs, key).message.clone();
    assert!(msg("tenants[0].allowed_countries").starts_with("allowed_countries must not be empty"));
    assert_eq!(
        msg("tenants[1].allowed_countries[1]"),
        "KP is in geo.deny_countries, so its clients are refused for every tenant; remove it here \
         or there"
    );
    assert!(msg("tenants[1].allowed_countries[2]").contains("listed twice"));
    assert!(msg("tenants[1].allowed_countries[3]").contains("\"GB\""));
    assert_eq!(
        error_at(&errs, "tenants[1].allowed_countries[1]").line,
        Some(line_of(&text, "[\"DE\", \"KP\""))
    );
    assert_eq!(errs.len(), 4, "{errs:#?}");

    let text = format!(
        "{BASE}{}",
        tenant("3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b", "[\"DE\"]")
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(error_at(&errs, "tenants[0].allowed_countries")
        .message
        .starts_with("allowed_countries needs client location: add [geo]"));
}

#[test]
fn tenant_file_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["edge.pem", "edge.key"] {
        std::fs::copy(examples_dir().join("certs").join(f), dir.path().join(f)).unwrap();
    }
    let csv = "id,geography\n3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b,eu\n\n# ok\nnope,eu\n3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b,eu\n";
    std::fs::write(dir.path().join("t.csv"), csv).unwrap();
    let config = BASE
        .replace("certs/", "")
        .replace("[tenancy]", "[tenancy]\nfile = \"t.csv\"");
    let path = dir.path().join("edge.toml");
    std::fs::write(&path, &config).unwrap();
    let errs = edge_config::load(&path).unwrap_err().0;
    assert_eq!(errs.len(), 2, "{errs:#?}");
    let file = dir.path().join("t.csv").display().to_string();
    assert!(errs.iter().all(|e| e.file == file && e.key.is_empty()));
    assert_eq!(errs[0].line, Some(5));
    assert!(errs[0].message.contains("not a valid tenant id"));
    assert_eq!(errs[1].line, Some(6));
    assert!(errs[1].message.contains("duplicate tenant id"));

    std::fs::remove_file(dir.path().join("t.csv")).unwrap();
    let errs = edge_config::load(&path).unwrap_err().0;
    let e = error_at(&errs, "tenancy.file");
    assert!(e.message.contains("cannot read tenant file"));
    assert_eq!(e.line, Some(line_of(&config, "file = ")));
}

#[test]
fn the_tenant_file_has_no_allowed_countries_column() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["edge.pem", "edge.key"] {
        std::fs::copy(examples_dir().join("certs").join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("t.csv"),
        "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b,eu,,DE\n",
    )
    .unwrap();
    let path = dir.path().join("edge.toml");
    std::fs::write(
        &path,
        BASE.replace("certs/", "")
            .replace("[tenancy]", "[tenancy]\nfile = \"t.csv\""),
    )
    .unwrap();
    let errs = edge_config::load(&path).unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0]
        .message
        .contains("expected `id,geography[,plan]`, found 4 fields"));
}
