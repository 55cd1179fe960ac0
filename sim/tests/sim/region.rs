//! Region-wide controls.

use std::net::{IpAddr, Ipv4Addr};

use edge_sim::{SimRegion, HEADER_REGION};
use tokio::net::TcpStream;

use crate::support;

#[tokio::test]
async fn region_controls_apply_to_every_origin() {
    let region = SimRegion::start("eastus", 3, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .unwrap();
    assert_eq!(region.name, "eastus");
    let names: Vec<_> = region.origins.iter().map(|o| o.name().to_owned()).collect();
    assert_eq!(names, ["eastus-1", "eastus-2", "eastus-3"]);

    for addr in region.addrs() {
        let reply = support::get(addr, "/").await.unwrap();
        assert_eq!(reply.header(HEADER_REGION), "eastus");
        support::get(addr, "/healthz").await.unwrap();
    }
    assert_eq!(region.requests(), 3);
    assert_eq!(region.health_probes(), 3);

    region.kill();
    for addr in region.addrs() {
        assert!(TcpStream::connect(addr).await.is_err());
    }
    region.revive().await.unwrap();

    region.set_error_rate(1.0);
    region.set_health_status(500);
    for addr in region.addrs() {
        assert_eq!(support::get(addr, "/").await.unwrap().status, 503);
        assert_eq!(support::get(addr, "/healthz").await.unwrap().status, 500);
    }

    region.reset();
    region.reset_counters();
    for addr in region.addrs() {
        assert_eq!(support::get(addr, "/").await.unwrap().status, 200);
    }
    assert_eq!(region.requests(), 3);
}
