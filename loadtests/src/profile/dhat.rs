//! Heap allocations per request with DHAT: one process sent N1 requests, one sent N2, each
//! counted from start to exit; the difference, per allocation site.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Allocations, Bench, Entry, Proto, Target};

/// Functions that are the allocator, not the code that asked for memory.
const ALLOCATOR: &[&str] = &[
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
];

/// Where the Rust standard library's code is (allocation, `Box`, `Vec`, `poll` glue): a
/// location, not a reason to allocate.
const STD: &str = "library/";

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
            "--num-callers=40".to_owned(),
        ];
        let tag = format!("dhat-{}-{}-{n}", target.name, proto.name());
        let running = bench.spawn(&t, &args, &tag)?;
        let addr = running
            .addr(proto)
            .ok_or_else(|| format!("{} does not serve {}", target.name, proto.name()))?;
        bench.load(proto, addr, opts.warmup, opts.connections)?;
        bench.load(proto, addr, n, opts.connections)?;
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
            .filter(|f| !f.is_empty())
            .collect();
        let frames = site_frames(&frames);
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

/// The frames that say why memory was asked for: past the allocator (the allocation
/// functions, then everything down to the last standard-library frame of the allocation
/// path: `alloc`, `RawVec`, `Box::new`, …), at most [`SITE_FRAMES`] of them, standard-library
/// glue left out.
fn site_frames(frames: &[String]) -> Vec<String> {
    let is_std = |f: &String| location(f).starts_with(STD);
    let is_allocator = |f: &String| ALLOCATOR.iter().any(|a| f.starts_with(a));
    // The allocation path: allocator frames and frames inlined into them, up to and through
    // the first run of standard-library frames.
    let start = match frames.iter().position(is_std) {
        Some(first_std) => first_std + frames[first_std..].iter().take_while(|f| is_std(f)).count(),
        None => frames.iter().take_while(|f| is_allocator(f)).count(),
    };
    frames[start..]
        .iter()
        .filter(|f| !is_std(f))
        .take(SITE_FRAMES)
        .cloned()
        .collect()
}

/// The `file:line` of a frame, `""` if it has none.
fn location(f: &str) -> &str {
    match f.rfind(" (") {
        Some(i) if f.ends_with(')') => &f[i + 2..f.len() - 1],
        _ => "",
    }
}

/// `0x4A3B2C: bytes::BytesMut::reserve_inner (src/bytes_mut.rs:650)` →
/// `bytes::BytesMut::reserve_inner (src/bytes_mut.rs:650)`; `[root]` → empty. Relative
/// source paths stay as they are; of an object file (`in /usr/lib/…`) only its name is kept.
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
            let loc = match loc.strip_prefix("in ") {
                Some(object) => object.rsplit('/').next().unwrap_or(object),
                None if loc.starts_with('/') => loc.rsplit('/').next().unwrap_or(loc),
                None => loc,
            };
            format!("{} ({loc})", &f[..i])
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
                {"tb":100,"tbk":2,"fs":[1,2,3,4,5,6,7]},
                {"tb":50,"tbk":1,"fs":[1,2,3,4,5,6,8]},
                {"tb":7,"tbk":7,"fs":[9,10]}],
              "ftbl":["[root]",
                "0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_dhat-amd64-linux.so)",
                "0x10: UnknownInlinedFun (src/lib.rs:51)",
                "0x10: alloc (library/alloc/src/alloc.rs:95)",
                "0x10: box_new_uninit (library/alloc/src/boxed.rs:248)",
                "0x10: timeout (fast_timeout.rs:93)",
                "0x10: poll<X> (library/core/src/future/future.rs:133)",
                "0x20: pingora_core::a::read (src/protocols/http/v1/client.rs:392)",
                "0x30: pingora_core::b::write (src/protocols/http/v1/server.rs:9)",
                "0x40: malloc (in /usr/libexec/valgrind/vgpreload_dhat-amd64-linux.so)",
                "0x50: ring_core_x (/home/ring/crypto/x.c:9)"]}"#,
        )
        .unwrap();
        let h = parse(&json).unwrap();
        assert_eq!((h.blocks, h.bytes), (10, 157));
        assert_eq!(
            h.sites["timeout (fast_timeout.rs:93) ← pingora_core::a::read (src/protocols/http/v1/client.rs:392)"],
            (2, 100)
        );
        assert_eq!(
            h.sites["timeout (fast_timeout.rs:93) ← pingora_core::b::write (src/protocols/http/v1/server.rs:9)"],
            (1, 50)
        );
        assert_eq!(h.sites["ring_core_x (x.c:9)"], (7, 7));
        assert_eq!(h.sites.len(), 3);
    }
}
