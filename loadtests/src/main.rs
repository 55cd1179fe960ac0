//! The load-test harness (issue 7). Not built yet: this binary only says so, so that nobody
//! mistakes an empty run for a passing one.

fn main() {
    eprintln!("edge-loadtest: no scenarios yet (see issue 7); nothing was run");
    std::process::exit(2);
}
