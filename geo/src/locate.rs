//! Choosing by client location: the geography for a request without a tenant (Traffic
//! Manager's *geographic* method) and distances for the nearest region (its *performance*
//! method, with distance standing in for measured latency).
//!
//! Only requests that name no tenant are routed here. A known tenant always goes to its own
//! geography: location never overrides residency.

use edge_config::{ContinentCode, CountryCode, Geography, GeographyName, Location, Region};

/// Mean Earth radius in kilometres (IUGG), the usual choice for the haversine formula.
const EARTH_RADIUS_KM: f64 = 6_371.008_8;

/// The geography for a client in `country` on `continent`: the one that lists the country,
/// else the one that lists the continent, else `default` (also for a client that could not
/// be located at all).
///
/// A country decides over a continent, so a geography can take one country out of its
/// continent (`countries = ["GB"]` besides another's `continents = ["EU"]`). Validation
/// guarantees no country or continent is listed by two geographies, so the answer does not
/// depend on their order.
pub fn nearest_geography<'a>(
    country: Option<CountryCode>,
    continent: Option<ContinentCode>,
    geographies: &'a [Geography],
    default: &'a GeographyName,
) -> &'a GeographyName {
    let by_country = country.and_then(|c| geographies.iter().find(|g| g.countries.contains(&c)));
    let by_continent =
        || continent.and_then(|c| geographies.iter().find(|g| g.continents.contains(&c)));
    by_country
        .or_else(by_continent)
        .map_or(default, |g| &g.name)
}

/// The great-circle distance between two points in kilometres (haversine formula on a
/// sphere: within 0.5 % of the ellipsoidal distance, plenty to rank data centres).
pub fn great_circle_km(a: Location, b: Location) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let d_lat = lat2 - lat1;
    let d_lon = (b.lon - a.lon).to_radians();
    let h = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
    // Rounding can push `h` a hair above 1 for antipodal points; asin would return NaN.
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The region closest to `from` among `regions` that have a [`Region::location`]; the first
/// of equally close ones; `None` when none has a location.
///
/// Pass the regions of one geography only: this ranks by distance, it does not know about
/// residency.
pub fn nearest_region<'a>(
    from: Location,
    regions: impl IntoIterator<Item = &'a Region>,
) -> Option<&'a Region> {
    regions
        .into_iter()
        .filter_map(|r| r.location.map(|at| (great_circle_km(from, at), r)))
        .fold(None, |best: Option<(f64, &Region)>, (d, r)| match best {
            Some((best_d, _)) if best_d <= d => best,
            _ => Some((d, r)),
        })
        .map(|(_, r)| r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::num::NonZeroU32;

    use edge_config::{Health, RegionName};
    use proptest::prelude::*;

    use super::*;

    fn cc(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    fn geography(name: &str, countries: &[&str], continents: &[&str]) -> Geography {
        Geography {
            name: GeographyName::new(name),
            fail_open: false,
            countries: countries.iter().map(|c| cc(c)).collect(),
            continents: continents
                .iter()
                .map(|c| ContinentCode::parse(c).unwrap())
                .collect(),
        }
    }

    fn at(lat: f64, lon: f64) -> Location {
        Location { lat, lon }
    }

    #[test]
    fn country_then_continent_then_default() {
        let geographies = [
            geography("eu", &["CH", "NO"], &["EU", "AF"]),
            geography("uk", &["GB", "IE"], &[]),
            geography("na", &["MX"], &["NA", "SA"]),
        ];
        let default = GeographyName::new("eu");
        let pick = |country: Option<&str>, continent: Option<ContinentCode>| {
            nearest_geography(country.map(cc), continent, &geographies, &default).as_str()
        };
        // The country decides, even against its continent's geography.
        assert_eq!(pick(Some("GB"), Some(ContinentCode::EU)), "uk");
        assert_eq!(pick(Some("MX"), Some(ContinentCode::NA)), "na");
        assert_eq!(pick(Some("CH"), None), "eu");
        // Unlisted country: its continent.
        assert_eq!(pick(Some("DE"), Some(ContinentCode::EU)), "eu");
        assert_eq!(pick(Some("BR"), Some(ContinentCode::SA)), "na");
        assert_eq!(pick(None, Some(ContinentCode::NA)), "na");
        // Neither listed, or nothing known: the default.
        assert_eq!(pick(Some("JP"), Some(ContinentCode::AS)), "eu");
        assert_eq!(pick(None, None), "eu");
        assert_eq!(
            nearest_geography(None, None, &[], &GeographyName::new("x")).as_str(),
            "x"
        );
    }

    #[test]
    fn known_distances() {
        let london = at(51.5074, -0.1278);
        let paris = at(48.8566, 2.3522);
        let d = great_circle_km(london, paris);
        assert!((d - 343.5).abs() < 1.0, "{d}");
        let new_york = at(40.7128, -74.0060);
        let d = great_circle_km(london, new_york);
        assert!((d - 5_570.0).abs() < 10.0, "{d}");
        assert_eq!(great_circle_km(paris, paris), 0.0);
        // Half the circumference between antipodes, without NaN.
        let d = great_circle_km(at(0.0, 0.0), at(0.0, 180.0));
        assert!(
            (d - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6,
            "{d}"
        );
        let d = great_circle_km(at(90.0, 0.0), at(-90.0, 0.0));
        assert!(d.is_finite() && (d - 20_015.1).abs() < 1.0, "{d}");
        // Across the antimeridian is short.
        let d = great_circle_km(at(0.0, 179.5), at(0.0, -179.5));
        assert!((d - 111.2).abs() < 0.5, "{d}");
    }

    fn region(name: &str, location: Option<Location>) -> Region {
        Region {
            name: RegionName::new(name),
            geography: GeographyName::new("eu"),
            priority: NonZeroU32::MIN,
            weight: 100,
            origins: Vec::new(),
            health: Health::default(),
            location,
        }
    }

    #[test]
    fn nearest_region_by_distance() {
        let regions = [
            region("nowhere", None),
            region("northeurope", Some(at(53.35, -6.26))),
            region("westeurope", Some(at(52.37, 4.90))),
            region("westeurope-twin", Some(at(52.37, 4.90))),
        ];
        let near = |lat, lon| nearest_region(at(lat, lon), &regions).map(|r| r.name.as_str());
        assert_eq!(near(51.5, -0.13), Some("westeurope")); // London: Amsterdam is closer
        assert_eq!(near(54.6, -5.9), Some("northeurope")); // Belfast
        assert_eq!(near(52.37, 4.90), Some("westeurope"), "first of equals");
        assert_eq!(nearest_region(at(0.0, 0.0), &regions[..1]), None);
        assert_eq!(nearest_region(at(0.0, 0.0), []), None);
    }

    proptest! {
        #[test]
        fn distance_is_a_metric_on_the_sphere(
            a in (-90.0f64..=90.0, -180.0f64..=180.0),
            b in (-90.0f64..=90.0, -180.0f64..=180.0),
            c in (-90.0f64..=90.0, -180.0f64..=180.0),
        ) {
            let (a, b, c) = (at(a.0, a.1), at(b.0, b.1), at(c.0, c.1));
            let ab = great_circle_km(a, b);
            prop_assert!(ab.is_finite() && ab >= 0.0);
            prop_assert!(ab <= std::f64::consts::PI * EARTH_RADIUS_KM + 1e-6);
            prop_assert!((ab - great_circle_km(b, a)).abs() < 1e-6);
            prop_assert!(great_circle_km(a, c) <= ab + great_circle_km(b, c) + 1e-6);
        }
    }
}
