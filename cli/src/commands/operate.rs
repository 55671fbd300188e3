//! The operations on an existing environment: delete, rollback, a preview of it, sleep and
//! wake, cancel, and a longer TTL.

use std::time::Duration;

use hyper::Method;
use strata_api_types::{CancelView, TtlExtended};

use super::report;
use super::started::{Started, started, then_watch};
use crate::client::{ApiClient, ClientError};
use crate::{exit, show};

pub async fn request_delete(client: &ApiClient, name: &str) -> Result<Started, ClientError> {
    let answer = client
        .send(Method::DELETE, &format!("/environments/{name}"), None)
        .await?;
    started(name, &answer, "deleting")
}

pub async fn delete(client: &ApiClient, name: &str, wait: Option<Duration>) -> u8 {
    then_watch(client, request_delete(client, name).await, wait).await
}

pub async fn rollback(client: &ApiClient, name: &str, wait: Option<Duration>) -> u8 {
    let answer = client
        .send(
            Method::POST,
            &format!("/environments/{name}/rollback"),
            None,
        )
        .await;
    let started = answer.and_then(|a| started(name, &a, "rolling back"));
    then_watch(client, started, wait).await
}

/// `strata apply --from BASE`: what the preview is to be.
pub struct PreviewArgs {
    pub name: String,
    pub ttl: String,
    /// `PATH=VALUE` overrides.
    pub set: Vec<String>,
    pub share: strata_core::spec::Share,
    pub database: strata_core::spec::PreviewDatabase,
}

/// Makes a preview of `base` and brings it up.
pub async fn preview(
    client: &ApiClient,
    base: &str,
    args: PreviewArgs,
    wait: Option<Duration>,
) -> u8 {
    let mut set = std::collections::BTreeMap::new();
    for pair in &args.set {
        let Some((path, value)) = pair.split_once('=') else {
            eprintln!(
                "--set {pair}: must be PATH=VALUE, such as spec.app.services[api].version=2.4.0"
            );
            return exit::USAGE;
        };
        set.insert(path.to_owned(), value.to_owned());
    }
    let request = strata_api_types::PreviewRequest {
        name: args.name.clone(),
        ttl: args.ttl,
        share: args.share,
        database: args.database,
        set,
    };
    let body = serde_json::to_vec(&request).expect("a request always serialises");
    let answer = client
        .send(
            Method::POST,
            &format!("/environments/{base}/previews"),
            Some(("application/json", body)),
        )
        .await;
    let doing = format!("applying (a preview of {base})");
    let started = answer.and_then(|a| started(&args.name, &a, &doing));
    then_watch(client, started, wait).await
}

/// `strata sleep` (`asleep`) or `strata wake`.
pub async fn sleep(client: &ApiClient, name: &str, asleep: bool, wait: Option<Duration>) -> u8 {
    let (word, doing) = if asleep {
        ("sleep", "putting to sleep")
    } else {
        ("wake", "waking")
    };
    let answer = client
        .send(Method::POST, &format!("/environments/{name}/{word}"), None)
        .await;
    let started = answer.and_then(|a| started(name, &a, doing));
    then_watch(client, started, wait).await
}

pub async fn cancel(client: &ApiClient, name: &str) -> u8 {
    match client
        .send(Method::POST, &format!("/environments/{name}/cancel"), None)
        .await
    {
        Ok(answer) => match answer.parse::<CancelView>() {
            Ok(cancelled) => {
                show::cancelled(name, &cancelled);
                exit::OK
            }
            Err(e) => report(&e),
        },
        Err(e) => report(&e),
    }
}

pub async fn extend(client: &ApiClient, name: &str, by: &str) -> u8 {
    let body = serde_json::json!({ "extendBy": by })
        .to_string()
        .into_bytes();
    match client
        .send(
            Method::POST,
            &format!("/environments/{name}/ttl"),
            Some(("application/json", body)),
        )
        .await
    {
        Ok(answer) => match answer.parse::<TtlExtended>() {
            Ok(extended) => {
                println!(
                    "{name}: TTL extended by {by}; it now expires at {} ({})",
                    extended.expires_at,
                    show::utc(extended.expires_at)
                );
                exit::OK
            }
            Err(e) => report(&e),
        },
        Err(e) => report(&e),
    }
}
