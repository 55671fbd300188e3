//! The reads: `strata get` (one environment, or every one) and `strata history`.

use std::time::Duration;

use hyper::Method;
use strata_api_types::{EnvironmentList, EnvironmentView, HistoryPage};

use super::poll::poll;
use super::report;
use crate::client::{ApiClient, ClientError};
use crate::{Output, exit, show};

/// How long a single read waits between its attempts.
const ONCE: Duration = Duration::from_secs(1);

pub async fn get(client: &ApiClient, name: Option<&str>, output: Output) -> u8 {
    let shown = match name {
        Some(name) => poll::<EnvironmentView>(client, &format!("/environments/{name}"), ONCE)
            .await
            .map(|view| print(output, &view, show::environment)),
        None => list_all(client)
            .await
            .map(|list| print(output, &list, show::list)),
    };
    match shown {
        Ok(()) => exit::OK,
        Err(e) => report(&e),
    }
}

/// A typed body as the output format asks: the API's own JSON (or YAML), or a table.
fn print<T: serde::Serialize>(output: Output, body: &T, table: fn(&T)) {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(body).expect("API bodies serialise")
        ),
        Output::Yaml => print!(
            "{}",
            serde_yaml_ng::to_string(body).expect("API bodies serialise as YAML")
        ),
        Output::Table => table(body),
    }
}

/// Every page of the listing, as one list.
async fn list_all(client: &ApiClient) -> Result<EnvironmentList, ClientError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/environments?limit=100&cursor={c}"),
            None => "/environments?limit=100".to_owned(),
        };
        let page: EnvironmentList = poll(client, &path, ONCE).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(EnvironmentList { items, next: None }),
        }
    }
}

pub async fn history(client: &ApiClient, name: &str, limit: u32) -> u8 {
    match client
        .send(
            Method::GET,
            &format!("/environments/{name}/history?limit={}", limit.clamp(1, 100)),
            None,
        )
        .await
    {
        Ok(answer) => match answer.parse::<HistoryPage>() {
            Ok(page) => {
                show::history(&page.items);
                exit::OK
            }
            Err(e) => report(&e),
        },
        Err(e) => report(&e),
    }
}
