//! Instructions per request with callgrind: zero after the warm-up, dump after N1 and after
//! N2 requests of each protocol, and difference the dumps (total and per function).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{Bench, Entry, Instructions, Target};

/// Entries above this share of a request's instructions are the threads' and the event
/// loop's frames, which contain everything: left out of the lists.
const SCAFFOLDING: f64 = 0.95;

/// The crate name in the gateway's own functions (and in the filters Pingora calls).
const OURS: &str = "edge_gateway::";

/// Runs `target` under callgrind; one result per protocol it serves
/// ([`Bench::protocols`]), in order.
pub(super) fn measure(bench: &Bench<'_>, target: &Target) -> Result<Vec<Instructions>, String> {
    let opts = bench.opts;
    let base = opts.out.join(format!("callgrind.{}.out", target.name));
    remove_stale(&base);
    let args = vec![
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", base.display()),
    ];
    let running = bench.spawn(target, &args, &format!("callgrind-{}", target.name))?;
    let pid = running.proc.pid();
    bench.warm_up(&running)?;
    control(pid, "-z")?;
    let counts = [opts.short_requests(), opts.requests];
    let mut dumps = 0;
    let mut files = Vec::new();
    for proto in bench.protocols(target.kind) {
        let addr = running
            .addr(proto)
            .ok_or_else(|| format!("{} does not serve {}", target.name, proto.name()))?;
        let mut pair = Vec::new();
        for n in counts {
            bench.load(proto, addr, n, opts.connections)?;
            control(pid, "-d")?;
            dumps += 1;
            pair.push(dump_file(&base, dumps)?);
        }
        files.push(pair);
    }
    running.finish()?;

    let dn = (counts[1] - counts[0]) as f64;
    files
        .into_iter()
        .map(|pair| {
            let [short, long]: [PathBuf; 2] = pair
                .try_into()
                .map_err(|_| "two dumps per protocol expected".to_owned())?;
            let (t1, t2) = (totals(&short)?, totals(&long)?);
            let per_request = (t2 as f64 - t1 as f64) / dn;
            let per_connection = (t1 as f64 - per_request * counts[0] as f64)
                / opts.connections.clamp(1, counts[0] as usize) as f64;
            let all_inclusive: Vec<Entry> = per_function(&short, &long, true, dn)?
                .into_iter()
                .filter(|e| e.per_request < SCAFFOLDING * per_request)
                .collect();
            let ours = all_inclusive
                .iter()
                .filter(|e| e.name.contains(OURS))
                .take(opts.top)
                .cloned()
                .collect();
            let inclusive = all_inclusive.into_iter().take(opts.top).collect();
            // callgrind_annotate charges a dump's whole cost to the frames that were active
            // when the counters were zeroed (the threads' roots) as their own cost too.
            let exclusive = per_function(&short, &long, false, dn)?
                .into_iter()
                .filter(|e| e.per_request < SCAFFOLDING * per_request)
                .take(opts.top)
                .collect();
            Ok(Instructions {
                per_request,
                per_connection,
                inclusive,
                ours,
                exclusive,
                files: [short, long],
            })
        })
        .collect()
}

/// Dumps of an earlier run with the same name would be taken for this run's.
fn remove_stale(base: &Path) {
    let Some(dir) = base.parent() else { return };
    let Some(name) = base.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_str().is_some_and(|n| n.starts_with(name)) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// `callgrind_control <flag> <pid>`: `-z` zeroes the counters, `-d` dumps them (and starts
/// the next dump from zero). It returns once the process has done it.
fn control(pid: u32, flag: &str) -> Result<(), String> {
    let out = Command::new("callgrind_control")
        .arg(flag)
        .arg(pid.to_string())
        .output()
        .map_err(|e| format!("cannot run callgrind_control: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && text.contains("OK") {
        Ok(())
    } else {
        Err(format!(
            "callgrind_control {flag} {pid} failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The `n`th dump of `base` (`base.n`), once it is on disk.
fn dump_file(base: &Path, n: usize) -> Result<PathBuf, String> {
    let path = PathBuf::from(format!("{}.{n}", base.display()));
    for _ in 0..100 {
        if std::fs::read_to_string(&path).is_ok_and(|t| t.contains("\ntotals:")) {
            return Ok(path);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("callgrind did not write {}", path.display()))
}

/// The instructions of a dump (its `totals:` line).
fn totals(path: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no totals in {}", path.display()))
}

/// Per function, `(long - short) / dn`, largest first.
fn per_function(short: &Path, long: &Path, inclusive: bool, dn: f64) -> Result<Vec<Entry>, String> {
    let a = annotate(short, inclusive)?;
    let mut b = annotate(long, inclusive)?;
    for (name, v) in a {
        *b.entry(name).or_insert(0) -= v;
    }
    let mut entries: Vec<Entry> = b
        .into_iter()
        .map(|(name, v)| Entry {
            name,
            per_request: v as f64 / dn,
            bytes_per_request: None,
        })
        .filter(|e| e.per_request > 0.0)
        .collect();
    entries.sort_by(|x, y| y.per_request.total_cmp(&x.per_request));
    Ok(entries)
}

/// `callgrind_annotate` of a dump: instructions per function.
///
/// A function is listed once per source file its code comes from (inlined code included).
/// Its own (exclusive) cost is split between those lines, so they add up; its inclusive cost
/// is not: the line of the file that defines it includes every call, those of inlined files
/// only the calls made from their code. So exclusive costs are summed, inclusive ones take
/// the largest.
fn annotate(path: &Path, inclusive: bool) -> Result<HashMap<String, i64>, String> {
    let out = Command::new("callgrind_annotate")
        .arg(format!(
            "--inclusive={}",
            if inclusive { "yes" } else { "no" }
        ))
        .arg("--threshold=100")
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run callgrind_annotate: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "callgrind_annotate {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(parse_annotate(
        &String::from_utf8_lossy(&out.stdout),
        inclusive,
    ))
}

/// Parses the function table of `callgrind_annotate`: `1,234 (5.6%)  file:function [object]`;
/// a function's lines are summed (exclusive) or the largest kept (inclusive).
fn parse_annotate(text: &str, inclusive: bool) -> HashMap<String, i64> {
    let mut map = HashMap::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.trim_end().ends_with("file:function") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        let l = line.trim();
        if l.is_empty() || l.starts_with("---") {
            if !map.is_empty() {
                break;
            }
            continue;
        }
        let Some((count, rest)) = l.split_once(char::is_whitespace) else {
            continue;
        };
        let Ok(count) = count.replace(',', "").parse::<i64>() else {
            continue;
        };
        let mut rest = rest.trim_start();
        if rest.starts_with('(') {
            rest = rest.split_once(')').map_or(rest, |(_, r)| r.trim_start());
        }
        let e = map.entry(function_name(rest).to_owned()).or_insert(0);
        *e = if inclusive {
            (*e).max(count)
        } else {
            *e + count
        };
    }
    map
}

/// `file:function [object]` → `function`. The file is separated by the first single colon
/// (Rust paths in the function have double ones).
fn function_name(s: &str) -> &str {
    let s = match s.rfind(" [") {
        Some(i) if s.ends_with(']') => &s[..i],
        _ => s,
    };
    let bytes = s.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        if c == b':' && bytes.get(i + 1) != Some(&b':') && (i == 0 || bytes[i - 1] != b':') {
            return &s[i + 1..];
        }
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn annotate_output_parses_per_function() {
        let text = "\
--------------------------------------------------------------------------------
Ir                file:function
--------------------------------------------------------------------------------
2,000 (100.0%)  ???:start_thread [/usr/lib/x86_64-linux-gnu/libc.so.6]
1,200 (60.00%)  /rustc/abc/library/core/src/ptr/mod.rs:pingora_proxy::HttpProxy<SV>::process_request [/bin/edge]
  300 (15.00%)  src/request/admit.rs:pingora_proxy::HttpProxy<SV>::process_request [/bin/edge]
   10  ???:mi_free

--------------------------------------------------------------------------------
-- Auto-annotated source: whatever
";
        let m = parse_annotate(text, false);
        assert_eq!(m["start_thread"], 2000);
        assert_eq!(m["pingora_proxy::HttpProxy<SV>::process_request"], 1500);
        assert_eq!(m["mi_free"], 10);
        assert_eq!(m.len(), 3);
        let m = parse_annotate(text, true);
        assert_eq!(m["pingora_proxy::HttpProxy<SV>::process_request"], 1200);
    }

    #[test]
    fn function_names_keep_their_paths() {
        assert_eq!(function_name("a.rs:x::y<z::w> [/bin/b]"), "x::y<z::w>");
        assert_eq!(
            function_name("???:0x000000000001ab70 [/lib/ld.so]"),
            "0x000000000001ab70"
        );
        assert_eq!(function_name("no_file"), "no_file");
    }
}
