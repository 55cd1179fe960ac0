//! Origins hosted on their own runtime, for callers without one.

use std::net::TcpStream;

use edge_sim::SimHost;

use crate::support;

const REGIONS: [&str; 4] = ["northeurope", "westeurope", "eastus", "westus"];

#[test]
fn host_serves_without_a_caller_runtime_and_stops_on_drop() {
    let host = SimHost::start_regions(&REGIONS, 2).unwrap();
    assert_eq!(host.origins().len(), 8);

    for (region, name, addr) in host.addrs() {
        let response = support::blocking_get(addr, "/").unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let lower = response.to_ascii_lowercase();
        assert!(
            lower.contains(&format!("x-sim-region: {region}")),
            "{response}"
        );
        assert!(
            lower.contains(&format!("x-sim-origin: {name}")),
            "{response}"
        );
    }
    assert_eq!(host.region("westus").requests(), 2);
    assert_eq!(host.region("westus").origins.len(), 2);

    let origin = host.origin("eastus-2").unwrap().clone();
    origin.kill();
    assert!(TcpStream::connect(origin.addr()).is_err());
    host.handle().block_on(origin.revive()).unwrap();
    assert!(support::blocking_get(origin.addr(), "/healthz")
        .unwrap()
        .ends_with("ok"));

    let addrs: Vec<_> = host.addrs().into_iter().map(|(_, _, a)| a).collect();
    drop(host);
    // Even a handle kept past the host is stopped with it.
    assert!(!origin.is_serving());
    for addr in addrs {
        assert!(TcpStream::connect(addr).is_err(), "{addr} still accepts");
    }
}

#[test]
fn host_starts_explicit_specs() {
    let host = SimHost::start(&[("westeurope", "we-a"), ("westeurope", "we-b")]).unwrap();
    let names: Vec<_> = host.origins().iter().map(|o| o.name()).collect();
    assert_eq!(names, ["we-a", "we-b"]);
    assert!(host.origin("nope").is_none());
}

#[tokio::test]
async fn host_can_be_created_and_dropped_inside_async_code() {
    let host = SimHost::start(&[("eastus", "eu-async")]).unwrap();
    let addr = host.origins()[0].addr();
    assert_eq!(support::get(addr, "/").await.unwrap().status, 200);
    drop(host);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
