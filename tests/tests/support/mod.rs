//! What every end-to-end test starts from: the local stack, the store over its table, and
//! the ARNs of its two state machines.

#![allow(dead_code)] // each test binary uses its own part

use strata_localstack::{LocalStack, Options};
use strata_store::DynamoStore;

pub struct Started {
    pub stack: LocalStack,
    pub store: DynamoStore,
    pub up: String,
    pub down: String,
}

pub async fn start() -> Started {
    let stack = LocalStack::start(Options::default())
        .await
        .expect("the local stack starts");
    let config = stack.sdk_config();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        stack.table_name("StateTable").unwrap(),
    );
    let machine = |id: &str| stack.state_machine_arn(id).unwrap().to_owned();
    let (up, down) = (
        machine("EnvironmentUpStateMachine"),
        machine("EnvironmentDownStateMachine"),
    );
    Started {
        stack,
        store,
        up,
        down,
    }
}
