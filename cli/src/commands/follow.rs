//! `strata watch` and `--wait`: an operation followed to its end, each component's phase
//! printed as it changes, and the exit code for how it ended.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use strata_api_types::EnvironmentView;

use super::poll::poll;
use super::report;
use crate::client::{ApiClient, ClientError};
use crate::{exit, show};

/// How a followed operation ended.
pub struct Followed {
    pub state: Option<String>,
    pub timed_out: bool,
}

/// An execution not begun after this long was most likely rejected by Begin (a lock taken
/// meanwhile); following it further would wait for nothing.
const NOT_BEGUN: Duration = Duration::from_secs(180);

/// Polls the environment and prints each component's phase as it changes, until
/// `execution` (or the operation running now) has ended.
pub async fn follow(
    client: &ApiClient,
    name: &str,
    execution: Option<String>,
    timeout: Duration,
    every: Duration,
) -> Result<Followed, ClientError> {
    let clock = Instant::now();
    let spinner = std::io::stderr().is_terminal();
    let mut target = execution;
    // Phases as first seen: only changes are printed (a delete starts from all Ready).
    let mut phases: Option<std::collections::BTreeMap<String, String>> = None;
    let mut tick = 0usize;
    loop {
        let view: EnvironmentView = poll(client, &format!("/environments/{name}"), every).await?;
        let status = view.status.as_ref();
        let running = view.running_execution.as_deref();
        let recorded = status
            .and_then(|s| s.operation.as_ref())
            .map(|o| o.execution.as_str());
        let state = status.map(|s| show::name(&s.state));
        if target.is_none() {
            match running {
                Some(running) => target = Some(running.to_owned()),
                None => {
                    println!(
                        "{name}: no operation running; {}",
                        state.as_deref().unwrap_or("never run")
                    );
                    return Ok(Followed {
                        state,
                        timed_out: false,
                    });
                }
            }
        }
        let target_name = target.as_deref().unwrap_or_default();
        let elapsed = clock.elapsed();
        let now: std::collections::BTreeMap<String, String> = status
            .into_iter()
            .flat_map(|s| &s.components)
            .map(|(c, v)| (c.name().to_owned(), show::name(&v.phase)))
            .collect();
        let seen = phases.get_or_insert_with(|| now.clone());
        // In the status's order: Strata's own components, then the spec's.
        let order: Vec<String> = status
            .into_iter()
            .flat_map(|s| s.components.keys())
            .map(|c| c.name().to_owned())
            .collect();
        for component in order.iter().map(String::as_str) {
            match now.get(component) {
                Some(phase) if seen.get(component) != Some(phase) => {
                    if spinner {
                        eprint!("\r\x1b[2K");
                    }
                    println!("  {:>6.1}s  {component:<9} {phase}", elapsed.as_secs_f64());
                    seen.insert(component.to_owned(), phase.clone());
                }
                _ => {}
            }
        }
        let ended = running != Some(target_name)
            && recorded == Some(target_name)
            && !matches!(state.as_deref(), Some("Progressing" | "Deleting"));
        if ended {
            if spinner {
                eprint!("\r\x1b[2K");
            }
            println!(
                "{name}: {} after {:.1} s ({})",
                state.as_deref().unwrap_or("?"),
                elapsed.as_secs_f64(),
                status.map_or("", |s| s.message.as_str())
            );
            return Ok(Followed {
                state,
                timed_out: false,
            });
        }
        let not_begun = running.is_none() && recorded != Some(target_name) && elapsed > NOT_BEGUN;
        if elapsed > timeout || not_begun {
            if spinner {
                eprint!("\r\x1b[2K");
            }
            eprintln!(
                "{name}: {target_name} {} after {:.0} s; it goes on without this command",
                if not_begun {
                    "has not begun"
                } else {
                    "still runs"
                },
                elapsed.as_secs_f64()
            );
            return Ok(Followed {
                state,
                timed_out: true,
            });
        }
        if spinner {
            const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
            tick += 1;
            eprint!(
                "\r{} {name} {} {:.0}s",
                FRAMES[tick % FRAMES.len()],
                state.as_deref().unwrap_or("starting"),
                elapsed.as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        }
        tokio::time::sleep(every).await;
    }
}

/// The exit code for how an operation ended.
pub fn ended_code(followed: &Followed) -> u8 {
    match (followed.timed_out, followed.state.as_deref()) {
        (true, _) => exit::TIMEOUT,
        (false, Some("Ready" | "Deleted")) => exit::OK,
        (false, None) => exit::OK,
        _ => exit::FAILED,
    }
}

pub async fn watch(
    client: &ApiClient,
    name: &str,
    execution: Option<String>,
    timeout: Duration,
) -> u8 {
    match follow(client, name, execution, timeout, Duration::from_secs(2)).await {
        Ok(followed) => ended_code(&followed),
        Err(e) => report(&e),
    }
}
