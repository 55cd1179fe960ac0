//! `[[geographies]]` and `[[regions]]` with their origins: the residency boundaries, and
//! where each one's traffic goes.
//!
//! Origin addresses are resolved here, once per load, so a name that does not resolve fails
//! validation instead of every request.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::net::ToSocketAddrs;

use super::schema::{Elements, ORIGIN_EXAMPLE};
use super::spans::KeyPath;
use super::syntax::split_host_port;
use super::validator::Validator;
use crate::defaults::{DEFAULT_WEIGHT, MAX_WEIGHT};
use crate::file::{Degrees, GeographyFile, LocationFile, OriginFile, RegionFile};
use crate::model::{
    ContinentCode, CountryCode, Geography, GeographyName, Health, Location, Origin, Region,
    RegionName,
};
use crate::names::is_valid_name;

impl<'a> Validator<'a> {
    pub(super) fn geographies(&mut self, elements: &Elements<GeographyFile>) -> Vec<Geography> {
        let path = KeyPath::default().key("geographies");
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut claimed_countries: HashMap<CountryCode, (String, KeyPath)> = HashMap::new();
        let mut claimed_continents: HashMap<ContinentCode, (String, KeyPath)> = HashMap::new();
        let mut out = Vec::new();
        for (i, g) in elements.parsed() {
            // Codes first: they are checked even when the name is wrong.
            let countries = self.claimed_codes(
                &path.index(i).key("countries"),
                &g.countries,
                CountryCode::parse,
                "country",
                &g.name,
                &mut claimed_countries,
            );
            let continents = self.claimed_codes(
                &path.index(i).key("continents"),
                &g.continents,
                ContinentCode::parse,
                "continent",
                &g.name,
                &mut claimed_continents,
            );
            let p = path.index(i).key("name");
            if !self.name(&p, &g.name, "geography") {
                continue;
            }
            if let Some(first) = seen.get(g.name.as_str()) {
                self.error(
                    &p,
                    format!(
                        "geography {:?} is defined twice (first at geographies[{first}]); names \
                         must be unique",
                        g.name
                    ),
                );
                continue;
            }
            seen.insert(&g.name, i);
            out.push(Geography {
                name: GeographyName::new(&g.name),
                fail_open: g.fail_open.unwrap_or(false),
                countries,
                continents,
            });
        }
        out
    }

    /// A geography's `countries` or `continents`: codes as [`Validator::codes`], each claimed
    /// for geography `owner`; a code another geography claimed first is reported.
    fn claimed_codes<T, E>(
        &mut self,
        path: &KeyPath,
        list: &[String],
        parse: impl Fn(&str) -> Result<T, E>,
        what: &str,
        owner: &str,
        claimed: &mut HashMap<T, (String, KeyPath)>,
    ) -> Vec<T>
    where
        T: Copy + Eq + Hash + fmt::Display,
        E: fmt::Display,
    {
        let mut out = Vec::new();
        for (i, code) in self.codes(path, list, parse) {
            let p = path.index(i);
            if let Some((first_owner, first_path)) = claimed.get(&code) {
                let message = format!(
                    "{what} {code} is already in geography {first_owner:?} ({first_path}); a \
                     {what} can belong to one geography only, so that its clients route to \
                     exactly one"
                );
                self.error(&p, message);
                continue;
            }
            claimed.insert(code, (owner.to_owned(), p));
            out.push(code);
        }
        out
    }

    /// Uses the regions as written, not the validated ones: a region rejected for another
    /// reason (say, its name) still shows the geography is meant to have one.
    pub(super) fn geographies_have_regions(
        &mut self,
        elements: &Elements<GeographyFile>,
        regions: &Elements<(RegionFile, Elements<OriginFile>)>,
    ) {
        let path = KeyPath::default().key("geographies");
        let mut reported: HashSet<&str> = HashSet::new();
        for (i, g) in elements.parsed() {
            if !is_valid_name(&g.name) || !reported.insert(&g.name) {
                continue;
            }
            if !regions.parsed().any(|(_, (r, _))| r.geography == g.name) {
                self.error(
                    &path.index(i).key("name"),
                    format!(
                        "geography {:?} has no regions; add a [[regions]] with geography = {:?}, \
                         or remove the geography",
                        g.name, g.name
                    ),
                );
            }
        }
    }

    pub(super) fn regions(
        &mut self,
        elements: &Elements<(RegionFile, Elements<OriginFile>)>,
        geographies: &[Geography],
        geographies_complete: bool,
        global_health: &Health,
    ) -> Vec<Region> {
        let path = KeyPath::default().key("regions");
        let defined = defined_names(geographies);
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, (r, origins)) in elements.parsed() {
            let p = path.index(i);
            let mut ok = self.name(&p.key("name"), &r.name, "region");
            if ok {
                if let Some(first) = seen.get(r.name.as_str()) {
                    self.error(
                        &p.key("name"),
                        format!(
                            "region {:?} is defined twice (first at regions[{first}]); names must \
                             be unique",
                            r.name
                        ),
                    );
                    ok = false;
                } else {
                    seen.insert(&r.name, i);
                }
            }
            let geography = geographies.iter().find(|g| g.name.as_str() == r.geography);
            if geography.is_none() && geographies_complete {
                self.error(
                    &p.key("geography"),
                    format!(
                        "region {:?} names geography {:?}, which is not defined (defined: {defined})",
                        r.name, r.geography
                    ),
                );
            }
            let priority = self.non_zero(&p.key("priority"), r.priority, 1, u32::MAX);
            let weight = self.int(&p.key("weight"), r.weight, DEFAULT_WEIGHT, 0, MAX_WEIGHT);
            if origins.is_empty() {
                self.error(
                    &p.key("origins"),
                    format!(
                        "region {:?} has no origins; add at least one, e.g. origins = \
                         [{ORIGIN_EXAMPLE}]",
                        r.name
                    ),
                );
            }
            let origins_path = p.key("origins");
            let parsed: Vec<Origin> = origins
                .parsed()
                .filter_map(|(j, o)| self.origin(&origins_path.index(j), o))
                .collect();
            let health = self.health(&p.key("health"), r.health.as_ref(), global_health);
            let location = r
                .location
                .and_then(|l| self.location(&p.key("location"), l));
            if let (true, Some(g)) = (ok, geography) {
                out.push(Region {
                    name: RegionName::new(&r.name),
                    geography: g.name.clone(),
                    priority,
                    weight,
                    origins: parsed,
                    health,
                    location,
                });
            }
        }
        out
    }

    fn origin(&mut self, path: &KeyPath, o: &OriginFile) -> Option<Origin> {
        let weight = self.int(&path.key("weight"), o.weight, DEFAULT_WEIGHT, 0, MAX_WEIGHT);
        let mut ok = true;
        if let Some(sni) = &o.sni {
            if sni.is_empty() || !sni.bytes().all(|c| c.is_ascii_graphic()) {
                self.error(
                    &path.key("sni"),
                    format!("{sni:?} is not a valid server name, e.g. \"origin.example.com\""),
                );
                ok = false;
            }
        }
        if let Some(host) = &o.host {
            if host.is_empty() || !host.bytes().all(|c| c.is_ascii_graphic()) {
                self.error(
                    &path.key("host"),
                    format!("{host:?} is not a valid Host header, e.g. \"app.example.com\""),
                );
                ok = false;
            }
        }
        let address_path = path.key("address");
        let (host, port) = match split_host_port(&o.address) {
            Ok(hp) => hp,
            Err(message) => {
                self.error(&address_path, message);
                return None;
            }
        };
        let resolved = match (host, port).to_socket_addrs() {
            Ok(mut addrs) => addrs.next(),
            Err(e) => {
                self.error(
                    &address_path,
                    format!("cannot resolve {:?}: {e}; check the host name", o.address),
                );
                return None;
            }
        };
        let Some(socket_addr) = resolved else {
            self.error(
                &address_path,
                format!(
                    "{:?} resolves to no address; check the host name",
                    o.address
                ),
            );
            return None;
        };
        ok.then(|| Origin {
            address: o.address.clone(),
            socket_addr,
            weight,
            tls: o.tls.unwrap_or(false),
            sni: o.sni.clone().unwrap_or_else(|| host.to_owned()),
            host: o.host.clone(),
        })
    }

    /// A region's `location`; `None` after reporting a missing or out-of-range coordinate.
    fn location(&mut self, path: &KeyPath, l: LocationFile) -> Option<Location> {
        let (Some(Degrees(lat)), Some(Degrees(lon))) = (l.lat, l.lon) else {
            self.error(
                path,
                "location needs both lat and lon in degrees, e.g. location = { lat = 53.35, lon \
                 = -6.26 }",
            );
            return None;
        };
        // `contains` is false for NaN too, which TOML can spell `nan`.
        let lat_ok = (-90.0..=90.0).contains(&lat);
        if !lat_ok {
            self.error(
                &path.key("lat"),
                format!("{lat} is out of range: latitude is -90 to 90 degrees (negative: south)"),
            );
        }
        let lon_ok = (-180.0..=180.0).contains(&lon);
        if !lon_ok {
            self.error(
                &path.key("lon"),
                format!("{lon} is out of range: longitude is -180 to 180 degrees (negative: west)"),
            );
        }
        (lat_ok && lon_ok).then_some(Location { lat, lon })
    }
}

pub(super) fn defined_names(geographies: &[Geography]) -> String {
    if geographies.is_empty() {
        return "none".to_owned();
    }
    let mut names: Vec<&str> = geographies.iter().map(|g| g.name.as_str()).collect();
    names.sort_unstable();
    names.join(", ")
}
