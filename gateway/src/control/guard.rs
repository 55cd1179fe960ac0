//! The stranding guard: an override that would leave a geography without a usable origin
//! turns every request of that geography into a `503`, so the admin API refuses it (`409`)
//! unless forced, and the console blocks it.
//!
//! A geography is *stranded* by a change when, in the generation the change would build, none
//! of its origins is both in rotation (effective weight above 0: neither it nor its region
//! drained or at weight 0) and usable now (healthy and not ejected; any in-rotation origin
//! counts for a `fail_open` geography), while the change took at least one of its origins out
//! of rotation. Geographies the change did not touch are never blamed on it, so draining a
//! region of `eu` is not refused because `na` is down.

use crate::state::Live;

/// One geography the change would strand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stranded {
    /// The geography.
    pub geography: String,
    /// Its origins still in rotation after the change (all unusable now).
    pub in_rotation: usize,
}

/// Per geography (by index): origins in rotation, and of those usable now.
fn counts(live: &Live) -> Vec<(usize, usize)> {
    let s = &live.snapshot;
    let now = live.health.now_ms();
    s.geographies()
        .iter()
        .map(|g| {
            let mut in_rotation = 0;
            let mut usable = 0;
            for m in g.table.tiers.iter().flat_map(|t| &t.members) {
                if m.weight == 0 {
                    continue;
                }
                in_rotation += 1;
                if g.fail_open || live.origin_health(m.origin).is_usable(now) {
                    usable += 1;
                }
            }
            (in_rotation, usable)
        })
        .collect()
}

/// Whether `after` has fewer origins in rotation than `before` in any geography: a change the
/// stranding check has something to say about.
pub fn takes_out(before: &Live, after: &Live) -> bool {
    counts(after)
        .into_iter()
        .zip(counts(before))
        .any(|((in_rot, _), (old_in_rot, _))| in_rot < old_in_rot)
}

/// The geographies `after` strands that `before` did not have fewer origins in rotation for.
/// Both must be built from the same config (an override change), so geographies line up.
pub fn stranded(before: &Live, after: &Live) -> Vec<Stranded> {
    let old = counts(before);
    counts(after)
        .into_iter()
        .zip(old)
        .zip(after.snapshot.geographies())
        .filter(|(((in_rot, usable), (old_in_rot, _)), _)| *usable == 0 && in_rot < old_in_rot)
        .map(|(((in_rotation, _), _), g)| Stranded {
            geography: g.name.as_str().to_string(),
            in_rotation,
        })
        .collect()
}

/// The refusal's detail for `what` (e.g. `region northeurope drain`).
pub fn explain(what: &str, stranded: &[Stranded]) -> String {
    let each: Vec<String> = stranded
        .iter()
        .map(|s| {
            if s.in_rotation == 0 {
                format!(
                    "{}: no origin would be left in rotation, so every request of {} would be \
                     answered 503",
                    s.geography, s.geography
                )
            } else {
                format!(
                    "{}: the {} origin(s) left in rotation are not healthy now, so every request \
                     of {} would be answered 503",
                    s.geography, s.in_rotation, s.geography
                )
            }
        })
        .collect();
    format!(
        "refused: {what} would leave a geography without a usable origin ({}). Nothing changed; \
         repeat with force=true (ctl: --force) to do it anyway",
        each.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use crate::topology::{Overrides, Snapshot};

    fn live_with(state: &crate::state::GatewayState, o: &Overrides) -> Live {
        let old = state.live();
        state.bind(Snapshot::build_with_overrides(
            old.snapshot.config.clone(),
            old.snapshot.generation + 1,
            o,
        ))
    }

    #[test]
    fn draining_the_last_usable_region_strands_its_geography_only() {
        let state = testing::state(testing::config(""));
        let before = state.live();
        let geo = before.snapshot.geographies()[0].name.as_str().to_string();
        let regions: Vec<String> = before
            .snapshot
            .regions()
            .iter()
            .filter(|r| before.snapshot.geography(r.geography).name.as_str() == geo)
            .map(|r| r.name.as_str().to_string())
            .collect();
        assert!(regions.len() >= 2, "fixture has two regions in {geo}");
        let mut o = Overrides::default();
        o.regions.entry(regions[0].clone()).or_default().drained = true;
        let one_left = live_with(&state, &o);
        assert!(stranded(&before, &one_left).is_empty());
        for r in &regions {
            o.regions.entry(r.clone()).or_default().drained = true;
        }
        let none_left = live_with(&state, &o);
        let s = stranded(&one_left, &none_left);
        assert_eq!(
            s,
            vec![Stranded {
                geography: geo.clone(),
                in_rotation: 0
            }]
        );
        assert!(explain("region x drain", &s).contains("force=true"));
        // Undoing is never refused.
        assert!(stranded(&none_left, &one_left).is_empty());
    }
}
