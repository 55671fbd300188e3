//! What the benches share: where they put their figures (`<target>/bench/<part>.json`, which
//! `scripts/bench-report` gathers into one table and `report.json`), how they read a
//! process's peak memory, and what an execution's history counts (which `strata local`
//! prints too).

use std::path::PathBuf;

use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType};

/// The states an execution entered and the Lambda invocations it scheduled (as a Task or a
/// LambdaFunction state), from its history's events.
pub fn states_and_invocations(events: &[HistoryEvent]) -> (usize, usize) {
    let states = events
        .iter()
        .filter(|e| e.state_entered_event_details().is_some())
        .count();
    let invocations = events
        .iter()
        .filter(|e| {
            matches!(
                e.r#type,
                HistoryEventType::LambdaFunctionScheduled | HistoryEventType::TaskScheduled
            )
        })
        .count();
    (states, invocations)
}

/// Writes `report` as `<target>/bench/<part>.json` (the workspace's `target` unless
/// `CARGO_TARGET_DIR` says otherwise) and says where.
pub fn write_report(part: &str, report: &serde_json::Value) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| crate::workspace_root().join("target"), PathBuf::from);
    let dir = target.join("bench");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let path = dir.join(format!("{part}.json"));
    std::fs::write(&path, format!("{report:#}\n"))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!("written to {}", path.display());
    path
}

/// The peak resident memory (VmHWM) of the process whose `/proc` directory is `proc_dir`
/// (`/proc/self`, `/proc/<pid>`), in KiB; None when it is gone (Linux only).
pub fn peak_rss_kib(proc_dir: &std::path::Path) -> Option<u64> {
    let status = std::fs::read_to_string(proc_dir.join("status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
