//! Reading the environment's secret values: what the config step copies into the cluster,
//! and what the post-deploy step's answer must not hold. Its own crate so that only the
//! functions that read secrets link it (and are granted GetSecretValue).

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::Client;
use serde_json::Value;
use strata_core::{Component, ComponentStatus, Environment};

use strata_component::ComponentError;
use strata_component::aws::classify;

/// A secret's value: the whole string, or one key of its JSON with `arn#key`. `client_for`
/// gives Secrets Manager in the secret's region (`default_region` when the ARN has none);
/// `field` names what refers to it in errors.
pub async fn value(
    client_for: impl Fn(&str) -> Client,
    reference: &str,
    default_region: &str,
    field: &str,
) -> Result<String, ComponentError> {
    let (arn, key) = match reference.split_once('#') {
        Some((arn, key)) => (arn, Some(key)),
        None => (reference, None),
    };
    let region = arn
        .split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .unwrap_or(default_region);
    let answer = client_for(region)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| classify(&format!("GetSecretValue for {field}"), e))?;
    let text = answer.secret_string().ok_or_else(|| {
        ComponentError::InvalidInput(format!("{field}: the secret {arn} holds no string"))
    })?;
    let Some(key) = key else {
        return Ok(text.to_owned());
    };
    let parsed: Value = serde_json::from_str(text).map_err(|_| {
        ComponentError::InvalidInput(format!("{field}: the secret {arn} is not JSON"))
    })?;
    parsed[key].as_str().map(str::to_owned).ok_or_else(|| {
        ComponentError::InvalidInput(format!("{field}: the secret {arn} has no key {key}"))
    })
}

/// Every secret value the environment holds, each with where it comes from: the database's
/// master password and each service variable read from Secrets Manager.
pub async fn of_environment(
    client_for: impl Fn(&str) -> Client,
    env: &Environment,
    statuses: &BTreeMap<Component, ComponentStatus>,
) -> Result<Vec<(String, String)>, ComponentError> {
    let region = &env.spec.region;
    let mut found = Vec::new();
    let master = statuses
        .get(&Component::Database)
        .and_then(|s| s.outputs.get("masterUserSecretArn"));
    if let Some(arn) = master {
        let source = "the database master secret";
        let text = value(&client_for, arn, region, source).await?;
        let password = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["password"].as_str().map(str::to_owned));
        found.push((password.unwrap_or(text), source.to_owned()));
    }
    for (i, service) in env.spec.app.services.iter().enumerate() {
        for (j, var) in service.env.iter().enumerate() {
            if let Some(reference) = &var.secret_arn {
                let field = format!("spec.app.services[{i}].env[{j}].secretArn");
                let secret = value(&client_for, reference, region, &field).await?;
                found.push((secret, format!("{} of service {}", var.name, service.name)));
            }
        }
    }
    Ok(found)
}
