//! The post-deploy step (`spec.postDeploy`): a function the team owns, run once after every
//! component of an `up` converged, given the environment's outputs. Its JSON answer is kept
//! in the status (`postDeployOutput`, shown by `strata get`): bounded, and refused when it
//! holds any of the environment's secret values. A failure leaves the environment Ready with
//! a warning, or Failed when `required`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::custom::LambdaSpec;
use crate::graph::Component;
use crate::spec::{Environment, FieldError};
use crate::status::ComponentStatus;

/// The largest answer kept: the status is one DynamoDB item, with room for the rest.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024;

pub use crate::leak::MIN_SECRET_CHARS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PostDeploySpec {
    /// The team's function (its name must start with the control plane's
    /// CustomComponentFunctionPrefix, as for custom components).
    pub lambda: LambdaSpec,
    /// Whether a failure fails the `up` (otherwise: Ready, with a warning).
    #[serde(default)]
    pub required: bool,
}

/// What the function is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PostDeployRequest {
    pub environment: String,
    pub region: String,
    /// The `up`'s execution: the same for a retry of this step.
    pub execution: String,
    /// Every component's outputs, by component name (never a secret value).
    pub outputs: BTreeMap<String, BTreeMap<String, String>>,
}

/// How the step went, as the state machine hands it to `finish`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PostDeployOutcome {
    pub function_arn: String,
    pub succeeded: bool,
    /// The function's answer, when it succeeded and the answer passed the checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why it did not, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PostDeployOutcome {
    pub fn failed(function_arn: &str, error: String) -> Self {
        Self {
            function_arn: function_arn.to_owned(),
            succeeded: false,
            output: None,
            error: Some(error),
        }
    }
}

impl PostDeployRequest {
    pub fn new(
        environment: &Environment,
        execution: &str,
        statuses: &BTreeMap<Component, ComponentStatus>,
    ) -> Self {
        Self {
            environment: environment.name().to_owned(),
            region: environment.spec.region.clone(),
            execution: execution.to_owned(),
            outputs: statuses
                .iter()
                .filter(|(_, s)| !s.outputs.is_empty())
                .map(|(c, s)| (c.name().to_owned(), s.outputs.clone()))
                .collect(),
        }
    }
}

/// The answer as kept, or why it is refused: JSON, at most [`MAX_OUTPUT_BYTES`], and holding
/// none of `secrets` (each the value and where it comes from) in any encoding
/// [`crate::leak`] knows. The refusal names where the
/// secret comes from, never the value.
pub fn check_output(answer: &[u8], secrets: &[(String, String)]) -> Result<Value, String> {
    if answer.len() > MAX_OUTPUT_BYTES {
        return Err(format!(
            "its answer is {} bytes, more than the {MAX_OUTPUT_BYTES} kept",
            answer.len()
        ));
    }
    let value: Value =
        serde_json::from_slice(answer).map_err(|e| format!("its answer is not JSON: {e}"))?;
    let text = String::from_utf8_lossy(answer);
    if let Some(source) = crate::leak::leaked(&text, secrets) {
        return Err(format!(
            "its answer holds a secret value of the environment ({source}): nothing of it is kept"
        ));
    }
    Ok(value)
}

pub(crate) fn validate(env: &Environment, errors: &mut Vec<FieldError>) {
    if let Some(post) = &env.spec.post_deploy {
        if !crate::custom::is_function_arn(&post.lambda.function_arn) {
            errors.push(FieldError::new(
                "spec.postDeploy.lambda.functionArn",
                "must be arn:aws:lambda:<region>:<account>:function:<name>",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_kept_only_when_bounded_json_and_free_of_secrets() {
        let secrets = vec![(
            "s3cr3t-password\"x".to_owned(),
            "the database master secret".to_owned(),
        )];
        assert_eq!(
            check_output(br#"{"smoke": "ok", "version": 3}"#, &secrets).unwrap(),
            serde_json::json!({"smoke": "ok", "version": 3})
        );
        let leak = br#"{"dsn": "postgres://app:s3cr3t-password\"x@db"}"#;
        let why = check_output(leak, &secrets).unwrap_err();
        assert_eq!(
            why,
            "its answer holds a secret value of the environment (the database master secret): nothing of it is kept"
        );
        assert!(!why.contains("s3cr3t"));
        assert!(
            check_output(b"not json", &secrets)
                .unwrap_err()
                .starts_with("its answer is not JSON")
        );
        let big = format!("\"{}\"", "x".repeat(MAX_OUTPUT_BYTES));
        assert!(
            check_output(big.as_bytes(), &secrets)
                .unwrap_err()
                .contains("more than")
        );
        // Too short to look for: it would match anywhere.
        let short = vec![("abc".to_owned(), "x".to_owned())];
        assert!(check_output(br#"{"a": "abc"}"#, &short).is_ok());
    }
}
