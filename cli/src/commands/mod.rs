//! The commands: each reads its input, calls the API, prints the answer and returns the
//! exit code.
//!
//! One file per group: reading a spec, apply and plan, what a mutation started, the other
//! operations on an environment, sync, the reads, following an operation, the retried GET,
//! and kubectl's access (kubeconfig, token).

mod apply;
mod follow;
mod kubeconfig;
mod operate;
mod poll;
mod read;
mod spec;
mod started;
mod sync;
mod version;

pub use apply::{apply, plan};
pub use follow::watch;
pub use kubeconfig::{Exec, Grant, Target, kubeconfig, token};
pub use operate::{PreviewArgs, cancel, delete, extend, preview, rollback, sleep};
pub use read::{get, history};
pub use spec::validate;
pub use sync::sync;
pub use version::{cli_version, version};

use crate::client::ClientError;
use crate::exit;

fn report(error: &ClientError) -> u8 {
    eprintln!("error: {error}");
    match error {
        ClientError::NoEndpoint | ClientError::BadEndpoint(_) => exit::USAGE,
        _ => exit::ERROR,
    }
}
