//! Location policy: the global deny list and per-tenant geo-fences. Pure functions; the
//! client's location comes from the location database (or is unknown).

use edge_config::Config;
use edge_geo::mmdb::ClientLocation;

use crate::request::problem::{EdgeError, ErrorKind};
use crate::request::routing::Route;

/// Refuses clients located in a country of `[geo] deny_countries`.
pub fn check_deny_list(
    config: &Config,
    location: Option<&ClientLocation>,
) -> Result<(), EdgeError> {
    let (Some(geo), Some(country)) = (config.geo.as_ref(), location.and_then(|l| l.country)) else {
        return Ok(());
    };
    if geo.deny_countries.contains(&country) {
        return Err(EdgeError::new(
            ErrorKind::LocationForbidden,
            format!("requests from {country} are not served"),
        ));
    }
    Ok(())
}

/// Refuses clients outside the tenant's `allowed_countries`. A client whose country is
/// unknown is refused too: a geo-fence that lets unknown locations through is no fence.
pub fn check_tenant(
    config: &Config,
    route: &Route,
    location: Option<&ClientLocation>,
) -> Result<(), EdgeError> {
    let Some(allowed) = route
        .tenant
        .and_then(|t| config.tenants.by_id.get(&t))
        .and_then(|t| t.allowed_countries.as_deref())
    else {
        return Ok(());
    };
    match location.and_then(|l| l.country) {
        Some(country) if allowed.contains(&country) => Ok(()),
        Some(country) => Err(EdgeError::new(
            ErrorKind::LocationForbidden,
            format!("this tenant is not available from {country}"),
        )),
        None => Err(EdgeError::new(
            ErrorKind::LocationForbidden,
            "this tenant is only available from certain countries, and the client's country \
             could not be determined",
        )),
    }
}
