//! What every analysis step reads: the run, with each tenant and region mapped to its
//! geography, and conversions between seconds and the records' microseconds.

use std::collections::BTreeMap;

use crate::load::{Rec, StreamSpec};
use crate::run::RunData;

use super::hist::round3;

pub(super) fn us(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1_000_000.0) as u64
}

pub(super) fn secs(us: u64) -> f64 {
    us as f64 / 1_000_000.0
}

/// Context shared by the analysis functions.
pub(super) struct Ctx<'a> {
    pub(super) data: &'a RunData,
    /// Geography index of each tenant.
    pub(super) tenant_geo: Vec<usize>,
    /// Geography index of each region.
    pub(super) region_geo: Vec<usize>,
    pub(super) geos: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(data: &'a RunData) -> Ctx<'a> {
        let geos = data.topology.geographies();
        let gi = |g: &str| geos.iter().position(|x| x == g).unwrap_or(usize::MAX);
        Ctx {
            tenant_geo: data
                .topology
                .tenants
                .iter()
                .map(|t| gi(&t.geography))
                .collect(),
            region_geo: data
                .topology
                .regions
                .iter()
                .map(|r| gi(&r.geography))
                .collect(),
            geos: geos.clone(),
            data,
        }
    }

    /// The stream `r` was sent on.
    pub(super) fn stream(&self, r: &Rec) -> Option<&'a StreamSpec> {
        self.data.streams.get(usize::from(r.stream))
    }

    /// Whether `r` failed, given what its stream expects (429s, 502s).
    pub(super) fn failed(&self, r: &Rec) -> bool {
        r.failed(self.stream(r))
    }

    pub(super) fn tenant_geo(&self, r: &Rec) -> usize {
        self.tenant_geo
            .get(usize::from(r.tenant))
            .copied()
            .unwrap_or(usize::MAX)
    }

    pub(super) fn served_geo(&self, r: &Rec) -> Option<usize> {
        self.region_geo.get(usize::from(r.served)).copied()
    }

    pub(super) fn region_index(&self, name: &str) -> Option<u8> {
        self.data
            .topology
            .regions
            .iter()
            .position(|r| r.name == name)
            .and_then(|i| u8::try_from(i).ok())
    }

    /// Share of region `region` among the answers served in its geography, for requests
    /// started in `[from, to)` (µs) by tenants of that geography.
    pub(super) fn share(&self, records: &[Rec], region: u8, from: u64, to: u64) -> (f64, u64) {
        let geo = self.region_geo.get(usize::from(region)).copied();
        let (mut in_geo, mut mine) = (0u64, 0u64);
        for r in records {
            if r.start_us < from || r.start_us >= to || self.served_geo(r) != geo {
                continue;
            }
            in_geo += 1;
            if r.served == region {
                mine += 1;
            }
        }
        if in_geo == 0 {
            (0.0, 0)
        } else {
            (mine as f64 / in_geo as f64, in_geo)
        }
    }

    /// Every region's share of its geography for requests started in `[from, to)`.
    pub(super) fn shares(&self, records: &[Rec], from: u64, to: u64) -> BTreeMap<String, f64> {
        let mut per_region = vec![0u64; self.data.topology.regions.len()];
        let mut per_geo = vec![0u64; self.geos.len()];
        for r in records {
            if r.start_us < from || r.start_us >= to {
                continue;
            }
            if let (Some(c), Some(&g)) = (
                per_region.get_mut(usize::from(r.served)),
                self.region_geo.get(usize::from(r.served)),
            ) {
                *c += 1;
                if let Some(pg) = per_geo.get_mut(g) {
                    *pg += 1;
                }
            }
        }
        self.data
            .topology
            .regions
            .iter()
            .enumerate()
            .map(|(i, reg)| {
                let total = self
                    .region_geo
                    .get(i)
                    .and_then(|&g| per_geo.get(g))
                    .copied()
                    .unwrap_or(0);
                let mine = per_region.get(i).copied().unwrap_or(0);
                let share = if total == 0 {
                    0.0
                } else {
                    round3(mine as f64 / total as f64)
                };
                (reg.name.clone(), share)
            })
            .collect()
    }
}
