//! The floor of a function that talks to AWS: `hello` plus what every Strata function does
//! before its first invocation (the SDK's config from the environment, one client) and one
//! DynamoDB GetItem per invocation. Strata's figures are read against it to tell what the
//! SDK's TLS and config stack costs from what Strata adds.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_from_env().await;
    let dynamodb = &aws_sdk_dynamodb::Client::new(&config);
    let table = &std::env::var("TABLE_NAME").unwrap_or_else(|_| "hello".into());
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let key = aws_sdk_dynamodb::types::AttributeValue::S("hello".into());
        let item = dynamodb
            .get_item()
            .table_name(table)
            .key("pk", key.clone())
            .key("sk", key)
            .send()
            .await?;
        Ok::<Value, Error>(json!({ "found": item.item.is_some() }))
    }))
    .await
}
