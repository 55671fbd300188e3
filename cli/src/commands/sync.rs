//! `strata sync`: a sync requested through the API, its result read from the history.

use std::time::{Duration, Instant};

use hyper::Method;
use strata_api_types::{EnvironmentView, HistoryPage, SyncRequested};
use strata_core::Event;

use super::poll::poll;
use super::started::{Started, then_watch};
use crate::client::{ApiClient, ClientError};
use crate::show;

/// How long `strata sync` waits for the sync function's result.
const SYNC_RESULT_WAIT: Duration = Duration::from_secs(300);

/// POSTs a sync (the API hands it to the sync function), waits for its `Synced` event and
/// prints what it found. Answers the execution it started (a repair or a rollout `up`, or
/// the TTL's `down`).
pub async fn request_sync(client: &ApiClient, name: &str) -> Result<Started, ClientError> {
    let answer = client
        .send(Method::POST, &format!("/environments/{name}/sync"), None)
        .await?;
    let requested: SyncRequested = answer.parse()?;
    let actor = requested.result_actor.as_str();
    let mut execution = None;
    match synced_event(client, name, actor).await? {
        Some(event) if event.kind == "SyncFailed" => {
            return Err(ClientError::SyncFailed(event.message));
        }
        Some(event) => {
            let view: EnvironmentView =
                poll(client, &format!("/environments/{name}"), SECOND).await?;
            show::sync(name, &event, view.status.as_ref());
            execution = event.execution;
        }
        None => println!(
            "{name}: the sync ({actor}) has not reported after {}s; `strata history {name}` will show it",
            SYNC_RESULT_WAIT.as_secs()
        ),
    }
    Ok(Started {
        name: name.to_owned(),
        execution,
    })
}

const SECOND: Duration = Duration::from_secs(1);

/// The history's `Synced` (or `SyncFailed`) event by `actor`, once it is there (`None` after
/// [`SYNC_RESULT_WAIT`]).
async fn synced_event(
    client: &ApiClient,
    name: &str,
    actor: &str,
) -> Result<Option<Event>, ClientError> {
    let clock = Instant::now();
    while clock.elapsed() < SYNC_RESULT_WAIT {
        let page: HistoryPage = poll(
            client,
            &format!("/environments/{name}/history?limit=20"),
            SECOND,
        )
        .await?;
        let found = page
            .items
            .into_iter()
            .find(|e| (e.kind == "Synced" || e.kind == "SyncFailed") && e.actor == actor);
        if found.is_some() {
            return Ok(found);
        }
        tokio::time::sleep(SECOND).await;
    }
    Ok(None)
}

pub async fn sync(client: &ApiClient, name: &str, wait: Option<Duration>) -> u8 {
    then_watch(client, request_sync(client, name).await, wait).await
}
