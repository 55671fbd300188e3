//! `strata version`: this CLI's release and API contract, and the control plane's as its
//! answers name them.

use hyper::Method;
use strata_api_types::contract::{CONTRACT, warn_server};

use super::report;
use crate::client::ApiClient;
use crate::exit;

/// This CLI's line: its release and contract (no endpoint needed).
pub fn cli_version() {
    println!(
        "strata {} (API contract {CONTRACT})",
        env!("CARGO_PKG_VERSION")
    );
}

/// The control plane's line, from one cheap read.
pub async fn version(client: &ApiClient) -> u8 {
    match client
        .send(Method::GET, "/environments?limit=1", None)
        .await
    {
        Ok(answer) => {
            let contract = answer.contract.as_deref().unwrap_or("unknown");
            println!(
                "control plane {} (API contract {contract}) at {}",
                answer.release.as_deref().unwrap_or("of unknown release"),
                client.endpoint()
            );
            // The request already warned on stderr; say it here too, where it was asked.
            if let Some(warning) = warn_server(contract) {
                println!("{warning}");
            }
            exit::OK
        }
        Err(e) => report(&e),
    }
}
