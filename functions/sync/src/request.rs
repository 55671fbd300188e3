//! The function's input and answer: a scheduled run, an ECR push or a sync-now request,
//! read from what the Lambda was started with and handed to the syncer.

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde_json::Value;
use strata_core::check_environment_name;
use strata_store::Store;

use crate::{
    Flows, Inventory, Notifier, Observer, RUN_BUDGET, SyncError, SyncRequest, Syncer, TagSource,
};

/// What the function was started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The schedule fired: sync everything due at `now`.
    Scheduled { now: u64, run: String },
    /// An image was pushed to ECR: sync the environments that use `image` now.
    Pushed {
        image: String,
        now: u64,
        run: String,
    },
    /// Sync one environment now, due or not.
    One(SyncRequest),
}

/// The `detail` of EventBridge's `ECR Image Action` event.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct EcrImageAction {
    action_type: String,
    result: String,
    repository_name: String,
}

/// Reads the function's input: an EventBridge scheduled event (its `time` is the clock of
/// the run), an ECR push (`ECR Image Action`), or `{"environment": "<name>"}`.
pub fn parse_request(input: Value) -> Result<Request, SyncError> {
    if let Some(detail_type) = input.get("detail-type").and_then(Value::as_str) {
        let detail_type = detail_type.to_owned();
        let event: CloudWatchEvent = serde_json::from_value(input)
            .map_err(|e| SyncError::InvalidInput(format!("event: {e}")))?;
        let time = event.time;
        let now = u64::try_from(time.timestamp())
            .map_err(|_| SyncError::InvalidInput(format!("time: {time} is before 1970")))?;
        let run = event.id.unwrap_or_else(|| format!("sync-{now}"));
        return match detail_type.as_str() {
            "Scheduled Event" => Ok(Request::Scheduled { now, run }),
            "ECR Image Action" => {
                let action: EcrImageAction =
                    serde_json::from_value(event.detail.unwrap_or_default())
                        .map_err(|e| SyncError::InvalidInput(format!("detail: {e}")))?;
                if action.action_type != "PUSH" || action.result != "SUCCESS" {
                    return Err(SyncError::InvalidInput(format!(
                        "detail: expected a successful PUSH, got {} {}",
                        action.result, action.action_type
                    )));
                }
                let field = |value: Option<String>, name: &str| {
                    value.ok_or_else(|| SyncError::InvalidInput(format!("{name}: missing")))
                };
                let account = field(event.account_id, "account")?;
                let region = field(event.region, "region")?;
                Ok(Request::Pushed {
                    image: format!(
                        "{account}.dkr.ecr.{region}.amazonaws.com/{}",
                        action.repository_name
                    ),
                    now,
                    run,
                })
            }
            other => Err(SyncError::InvalidInput(format!(
                "detail-type: expected \"Scheduled Event\" or \"ECR Image Action\", got {other:?}"
            ))),
        };
    }
    let request: SyncRequest = serde_json::from_value(input).map_err(|e| {
        SyncError::InvalidInput(format!(
            "input: expected a scheduled event, an ECR push or {{\"environment\": …}}: {e}"
        ))
    })?;
    check_environment_name(&request.environment)
        .map_err(|e| SyncError::InvalidInput(format!("environment: {e}")))?;
    Ok(Request::One(request))
}

/// The function: a scheduled run or a push answers its [`RunReport`](crate::RunReport), a
/// one-environment sync its [`Outcome`](crate::Outcome). `now` is the clock for a
/// one-environment sync (a schedule brings its own).
pub async fn handle<S: Store, F: Flows, N: Notifier, R: TagSource, O: Observer, I: Inventory>(
    syncer: &Syncer<S, F, N, R, O, I>,
    input: Value,
    now: u64,
) -> Result<Value, SyncError> {
    let answer = match parse_request(input)? {
        Request::Scheduled { now, run } => {
            serde_json::to_value(syncer.run(now, &run, RUN_BUDGET).await?)
        }
        Request::Pushed { image, now, run } => {
            serde_json::to_value(syncer.pushed(&image, now, &run).await?)
        }
        Request::One(request) => {
            let run = request.run.unwrap_or_else(|| format!("now-{now}"));
            if let Some(by) = &request.requested_by {
                tracing::info!(environment = %request.environment, run, "sync requested by {by}");
            }
            serde_json::to_value(syncer.sync_now(&request.environment, now, &run).await?)
        }
    };
    Ok(answer.expect("reports serialise"))
}
