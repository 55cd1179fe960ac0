//! Client location: tenant-less requests go to the nearest geography, known tenants never move,
//! geo-fences hold, forged headers change nothing, and the database reloads without restart.
//! Loopback clients bind distinct source addresses (127.0.1.x is "Germany", 127.0.3.x the
//! "United States" in the generated test database).

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use edge_config::Cidr;
use edge_geo::testdata::{demo_db, location_record, TEST_DATABASE_TYPE};
use edge_geo::writer::Writer;
use edge_tests::{https_client, ClientOptions, GatewayProcess, Topology, EU_TENANT_2, NA_TENANT};

const GERMANY: &str = "127.0.1.5";
const USA: &str = "127.0.3.5";
const NOWHERE: &str = "127.0.9.5";

fn config(topo: &Topology) -> std::path::PathBuf {
    std::fs::write(topo.dir.path().join("geo.mmdb"), demo_db().unwrap()).unwrap();
    let text = topo
        .config_toml()
        .replace(
            "[[geographies]]\nname = \"eu\"\n",
            "[[geographies]]\nname = \"eu\"\ncountries = [\"DE\", \"FR\"]\ncontinents = [\"EU\"]\n",
        )
        .replace(
            "[[geographies]]\nname = \"na\"\n",
            "[[geographies]]\nname = \"na\"\ncountries = [\"US\", \"CA\"]\ncontinents = [\"NA\"]\n",
        )
        .replace(
            "unknown = \"reject\"",
            "unknown = \"nearest\"\ndefault_geography = \"na\"",
        )
        .replace(
            &format!("id = \"{EU_TENANT_2}\"\ngeography = \"eu\"\n"),
            &format!("id = \"{EU_TENANT_2}\"\ngeography = \"eu\"\nallowed_countries = [\"DE\"]\n"),
        );
    let text = format!("{text}\n[geo]\ndatabase = \"geo.mmdb\"\nreload_interval = \"100ms\"\n");
    let path = topo.dir.path().join("edge.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn client_from(topo: &Topology, local: &str) -> reqwest::Client {
    https_client(
        topo,
        &ClientOptions {
            local_address: Some(local.parse::<IpAddr>().unwrap()),
            ..Default::default()
        },
    )
}

/// (status, serving region, the x-client-country the origin saw).
async fn get(
    topo: &Topology,
    from: &str,
    tenant: Option<&str>,
    xff: Option<&str>,
) -> (u16, String, String) {
    let c = client_from(topo, from);
    let mut req = c.get(format!("{}/x", topo.base_url()));
    if let Some(t) = tenant {
        req = req.header("x-tenant-id", t);
    }
    if let Some(x) = xff {
        req = req
            .header("x-forwarded-for", x)
            .header("x-client-country", "ZZ");
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    (
        status,
        body["region"].as_str().unwrap_or_default().to_string(),
        body["headers"]["x-client-country"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenantless_requests_go_to_the_clients_geography_and_tenants_never_move() {
    let topo = Topology::standard().await;
    let _gw = GatewayProcess::start(&config(&topo), topo.https);
    assert_eq!(
        get(&topo, GERMANY, None, None).await,
        (200, "northeurope".into(), "DE".into())
    );
    assert_eq!(
        get(&topo, USA, None, None).await,
        (200, "eastus".into(), "US".into())
    );
    // Unknown address: the default geography, and no country header.
    assert_eq!(
        get(&topo, NOWHERE, None, None).await,
        (200, "eastus".into(), String::new())
    );
    // A known NA tenant from Germany stays in NA.
    assert_eq!(
        get(&topo, GERMANY, Some(NA_TENANT), None).await,
        (200, "eastus".into(), "DE".into())
    );
    // A forged X-Forwarded-For (and x-client-country) from an untrusted peer changes nothing.
    assert_eq!(
        get(&topo, GERMANY, None, Some(USA)).await,
        (200, "northeurope".into(), "DE".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_geo_fenced_tenant_is_refused_outside_its_countries() {
    let topo = Topology::standard().await;
    let _gw = GatewayProcess::start(&config(&topo), topo.https);
    assert_eq!(get(&topo, GERMANY, Some(EU_TENANT_2), None).await.0, 200);
    let c = client_from(&topo, USA);
    let resp = c
        .get(format!("{}/x", topo.base_url()))
        .header("x-tenant-id", EU_TENANT_2)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("location-forbidden"),
        "{body}"
    );
    // Unknown location: a fence that lets unknown clients through is no fence.
    assert_eq!(get(&topo, NOWHERE, Some(EU_TENANT_2), None).await.0, 403);
    assert_eq!(
        topo.region("northeurope").requests(),
        1,
        "refused requests reached no origin"
    );
}

fn write_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_database_is_used_without_restart_and_a_corrupt_one_is_refused() {
    let topo = Topology::standard().await;
    let gw = GatewayProcess::start(&config(&topo), topo.https);
    assert_eq!(get(&topo, GERMANY, None, None).await.1, "northeurope");
    // The new database moves 127.0.1.0/24 to the United States.
    let mut w = Writer::new(TEST_DATABASE_TYPE);
    let us = location_record("US", "NA", 38.0, -97.0);
    w.insert(Cidr::parse("127.0.1.0/24").unwrap(), &us).unwrap();
    w.insert(Cidr::parse("127.0.3.0/24").unwrap(), &us).unwrap();
    let db_path = topo.dir.path().join("geo.mmdb");
    write_atomically(&db_path, &w.to_bytes().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&topo, GERMANY, None, None).await.1 != "eastus" {
        assert!(
            Instant::now() < deadline,
            "the new database was never used:\n{}",
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A corrupt file is refused; lookups keep using the last good database.
    write_atomically(
        &db_path,
        b"this is not a MaxMind database at all, not even close",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw.log_text().contains("new location database refused") {
        assert!(
            Instant::now() < deadline,
            "the corrupt file was not refused:\n{}",
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        get(&topo, GERMANY, None, None).await,
        (200, "eastus".into(), "US".into())
    );
}

/// A database without the optional `description` (what PyPI's `mmdb-writer` writes) is
/// accepted, and `check` opens databases exactly as `run` does: they agree on a good file and
/// on a damaged one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_run_agree_on_location_databases_and_accept_optional_metadata() {
    let topo = Topology::standard().await;
    let path = config(&topo);
    let mut plain = Writer::new(TEST_DATABASE_TYPE).no_description();
    plain
        .insert(
            Cidr::parse("127.0.1.0/24").unwrap(),
            &location_record("DE", "EU", 51.0, 9.0),
        )
        .unwrap();
    let db = topo.dir.path().join("geo.mmdb");
    std::fs::write(&db, plain.to_bytes().unwrap()).unwrap();
    let out = edge_tests::gateway::run_cli(&["check", "--config", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    {
        let _gw = GatewayProcess::start(&path, topo.https);
        let (status, region, country) = get(&topo, GERMANY, None, None).await;
        assert_eq!(
            (status, region.as_str(), country.as_str()),
            (200, "northeurope", "DE")
        );
    }
    // A damaged file: check refuses it, as run does.
    let mut bytes = demo_db().unwrap();
    bytes[100..106].copy_from_slice(&[0xff; 6]);
    std::fs::write(&db, bytes).unwrap();
    let out = edge_tests::gateway::run_cli(&["check", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let check_err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(check_err.contains("geo.database"), "{check_err}");
    let out = edge_tests::gateway::run_cli(&["run", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let run_err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(run_err.contains("location database"), "{run_err}");
}
