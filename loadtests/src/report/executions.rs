//! The POSTs: what the clients were answered, and how many times the origins executed each,
//! summed over every origin (an id executed by two origins is a POST the gateway sent twice).

use std::collections::HashSet;

use crate::load::{order_id, Kind, Method, Rec};

use super::context::Ctx;
use super::types::Posts;

/// How many ids executed twice or more the report names.
const REPEATED_SHOWN: usize = 10;

/// The run's POSTs and their executions; `None` when no stream sent POSTs.
pub(super) fn posts(ctx: &Ctx<'_>, records: &[Rec]) -> Option<Posts> {
    let streams: Vec<String> = ctx
        .data
        .streams
        .iter()
        .filter(|s| s.method == Method::Post)
        .map(|s| s.name.clone())
        .collect();
    if streams.is_empty() {
        return None;
    }
    let executions = ctx.data.executions.as_ref();
    let mut p = Posts {
        streams,
        executions_counted: executions.is_some(),
        ..Posts::default()
    };
    let mut sent_ids = HashSet::new();
    let mut repeated = Vec::new();
    let is_post = |r: &&Rec| ctx.stream(r).is_some_and(|s| s.method == Method::Post);
    for r in records.iter().filter(is_post) {
        p.sent += 1;
        match r.kind {
            Kind::Ok => p.ok += 1,
            Kind::BadGateway => p.bad_gateway += 1,
            kind => *p.other.entry(kind.name().to_owned()).or_default() += 1,
        }
        // Only POSTs that went out carry an id; without counts there is nothing to match.
        let (Some(n), Some(ex)) = (r.order, executions) else {
            continue;
        };
        let id = order_id(n);
        let count = ex.count(&id);
        match count {
            0 => p.executed_never += 1,
            1 => p.executed_once += 1,
            _ => {
                p.executed_twice_or_more += 1;
                repeated.push((id.clone(), count));
            }
        }
        p.max_executions = p.max_executions.max(count);
        match (r.kind, count) {
            (Kind::Ok, 0) => p.ok_not_executed += 1,
            (Kind::BadGateway, 0) => p.bad_gateway_not_executed += 1,
            (Kind::BadGateway, _) => p.bad_gateway_executed += 1,
            _ => {}
        }
        sent_ids.insert(id);
    }
    if let Some(ex) = executions {
        p.unknown_executions = ex
            .by_id
            .iter()
            .filter(|(id, _)| !sent_ids.contains(id.as_str()))
            .map(|(_, n)| n)
            .sum();
        p.executions_without_id = ex.without_id;
        p.executions_untracked = ex.untracked;
    }
    repeated.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    repeated.truncate(REPEATED_SHOWN);
    p.repeated = repeated;
    Some(p)
}
