//! What a mutation started (or found running), and how its command ends: at once, or,
//! with `--wait`, when the operation it started has ended.

use std::time::Duration;

use strata_api_types::Applied;
use strata_core::Scope;

use super::follow::watch;
use super::report;
use crate::client::{Answer, ApiClient, ClientError};
use crate::exit;

/// What `apply` or `delete` started (or found running).
pub struct Started {
    pub name: String,
    pub execution: Option<String>,
}

pub(crate) fn started(name: &str, answer: &Answer, doing: &str) -> Result<Started, ClientError> {
    let execution = match answer.parse::<Applied>()? {
        Applied::Started(accepted) => {
            println!(
                "{name}: {doing} generation {} (execution {}{})",
                accepted.generation,
                accepted.execution,
                if accepted.scope == Some(Scope::Application) {
                    "; application layer only"
                } else {
                    ""
                }
            );
            Some(accepted.execution)
        }
        Applied::Unchanged(unchanged) => {
            println!("{name}: {}", unchanged.message);
            None
        }
    };
    Ok(Started {
        name: name.to_owned(),
        execution,
    })
}

/// What a mutation's command ends with: its error, or (with `--wait`) how the operation
/// it started ended.
pub(crate) async fn then_watch(
    client: &ApiClient,
    started: Result<Started, ClientError>,
    wait: Option<Duration>,
) -> u8 {
    match started {
        Ok(started) => match (wait, started.execution) {
            (Some(timeout), Some(execution)) => {
                watch(client, &started.name, Some(execution), timeout).await
            }
            _ => exit::OK,
        },
        Err(e) => report(&e),
    }
}
