//! Heap allocations per request with DHAT: one process sent N1 requests, one sent N2, each
//! counted from start to exit; the difference, per allocation site.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Allocations, Bench, Entry, Proto, Target};

/// Frames of a DHAT stack that are the allocator, not the code that asked for memory.
const PLUMBING: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "posix_memalign",
    "memalign",
    "aligned_alloc",
    "__wrap_mi_",
    "__rust_",
    "__rdl_",
    "__rg_",
    "alloc::alloc::",
    "alloc::raw_vec",
    "<alloc::raw_vec",
    "finish_grow",
];

/// Frames kept per allocation site in the report.
const SITE_FRAMES: usize = 3;

/// One DHAT file, reduced: totals and per-site sums.
#[derive(Debug, Default)]
struct Heap {
    blocks: u64,
    bytes: u64,
    /// Site (its first frames outside the allocator) → (blocks, bytes).
    sites: HashMap<String, (u64, u64)>,
}

/// Runs `target`'s DHAT build twice for `proto` (N1, then N2 requests).
pub(super) fn measure(
    bench: &Bench<'_>,
    target: &Target,
    proto: Proto,
) -> Result<Allocations, String> {
    let opts = bench.opts;
    let bin = target
        .dhat_bin
        .clone()
        .ok_or("no DHAT build of this target")?;
    let t = Target {
        bin,
        ..target.clone()
    };
    let counts = [opts.short_requests(), opts.requests];
    let mut heaps = Vec::new();
    let mut files = Vec::new();
    for n in counts {
        let file = opts
            .out
            .join(format!("dhat.{}.{}.{n}.json", target.name, proto.name()));
        let _ = std::fs::remove_file(&file);
        let args = vec![
            "--tool=dhat".to_owned(),
            format!("--dhat-out-file={}", file.display()),
            "--num-callers=24".to_owned(),
        ];
        let tag = format!("dhat-{}-{}-{n}", target.name, proto.name());
        let running = bench.spawn(&t, &args, &tag)?;
        bench.load(proto, running.listen, opts.warmup, opts.connections)?;
        bench.load(proto, running.listen, n, opts.connections)?;
        running.finish()?;
        heaps.push(read(&file)?);
        files.push(file);
    }
    let dn = (counts[1] - counts[0]) as f64;
    let (a, b) = (&heaps[0], &heaps[1]);
    let mut sites: Vec<Entry> = b
        .sites
        .iter()
        .map(|(name, &(blocks, bytes))| {
            let (b0, y0) = a.sites.get(name).copied().unwrap_or((0, 0));
            Entry {
                name: name.clone(),
                per_request: (blocks as f64 - b0 as f64) / dn,
                bytes_per_request: Some((bytes as f64 - y0 as f64) / dn),
            }
        })
        .filter(|e| e.per_request > 0.0)
        .collect();
    sites.sort_by(|x, y| y.per_request.total_cmp(&x.per_request));
    sites.truncate(opts.top);
    let [short, long]: [PathBuf; 2] = files
        .try_into()
        .map_err(|_| "two DHAT files expected".to_owned())?;
    Ok(Allocations {
        blocks_per_request: (b.blocks as f64 - a.blocks as f64) / dn,
        bytes_per_request: (b.bytes as f64 - a.bytes as f64) / dn,
        sites,
        files: [short, long],
    })
}

fn read(path: &Path) -> Result<Heap, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("DHAT wrote no {}: {e}", path.display()))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    parse(&json).ok_or_else(|| format!("{}: not a DHAT heap profile", path.display()))
}

/// Totals and sites of a DHAT (`dhatFileVersion` 2) heap profile.
fn parse(json: &Value) -> Option<Heap> {
    let ftbl: Vec<&str> = json
        .get("ftbl")?
        .as_array()?
        .iter()
        .map(|f| f.as_str().unwrap_or(""))
        .collect();
    let mut heap = Heap::default();
    for pp in json.get("pps")?.as_array()? {
        let bytes = pp.get("tb")?.as_u64()?;
        let blocks = pp.get("tbk")?.as_u64()?;
        heap.blocks += blocks;
        heap.bytes += bytes;
        let frames: Vec<String> = pp
            .get("fs")?
            .as_array()?
            .iter()
            .filter_map(|i| ftbl.get(usize::try_from(i.as_u64()?).ok()?).copied())
            .map(frame)
            .filter(|f| !f.is_empty() && !PLUMBING.iter().any(|p| f.starts_with(p)))
            .take(SITE_FRAMES)
            .collect();
        let site = if frames.is_empty() {
            "(allocator only)".to_owned()
        } else {
            frames.join(" ← ")
        };
        let e = heap.sites.entry(site).or_insert((0, 0));
        e.0 += blocks;
        e.1 += bytes;
    }
    Some(heap)
}

/// `0x4A3B2C: bytes::BytesMut::reserve_inner (bytes_mut.rs:650)` →
/// `bytes::BytesMut::reserve_inner (bytes_mut.rs:650)`; `[root]` → empty. Directories are
/// dropped from the location.
fn frame(f: &str) -> String {
    if f == "[root]" {
        return String::new();
    }
    let f = match f.split_once(": ") {
        Some((addr, rest)) if addr.starts_with("0x") => rest,
        _ => f,
    };
    match f.rfind(" (") {
        Some(i) if f.ends_with(')') => {
            let loc = &f[i + 2..f.len() - 1];
            let loc = loc.strip_prefix("in ").unwrap_or(loc);
            let short = loc.rsplit('/').next().unwrap_or(loc);
            format!("{} ({short})", &f[..i])
        }
        _ => f.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_dhat_file_sums_per_site_outside_the_allocator() {
        let json: Value = serde_json::from_str(
            r#"{"dhatFileVersion":2,"mode":"heap","pps":[
                {"tb":100,"tbk":2,"fs":[1,2,3,4]},
                {"tb":50,"tbk":1,"fs":[1,2,3,5]},
                {"tb":7,"tbk":7,"fs":[1,6]}],
              "ftbl":["[root]",
                "0x48407B4: malloc (in /usr/libexec/valgrind/vgpreload_dhat-amd64-linux.so)",
                "0x10: alloc::raw_vec::finish_grow (/rustc/x/library/alloc/src/raw_vec.rs:1)",
                "0x20: bytes::bytes_mut::BytesMut::reserve_inner (/h/bytes-1/src/bytes_mut.rs:650:9)",
                "0x30: edge_gateway::request::admit::admit (gateway/src/request/admit.rs:87:5)",
                "0x40: pingora_proxy::proxy_h1 (proxy_h1.rs:3)",
                "0x50: edge_gateway::metrics::x (metrics.rs:9)"]}"#,
        )
        .unwrap();
        let h = parse(&json).unwrap();
        assert_eq!((h.blocks, h.bytes), (10, 157));
        assert_eq!(
            h.sites["bytes::bytes_mut::BytesMut::reserve_inner (bytes_mut.rs:650:9) ← edge_gateway::request::admit::admit (admit.rs:87:5)"],
            (2, 100)
        );
        assert_eq!(h.sites["edge_gateway::metrics::x (metrics.rs:9)"], (7, 7));
        assert_eq!(h.sites.len(), 3);
    }
}
