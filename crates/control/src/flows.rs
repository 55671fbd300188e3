//! The state machines as the control plane drives them: start an execution, stop one, ask
//! whether one still runs.

use std::future::Future;

use aws_sdk_sfn::error::DisplayErrorContext;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::operation::stop_execution::StopExecutionError;
use aws_sdk_sfn::types::ExecutionStatus;
use strata_core::OperationKind;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// Step Functions did not answer or refused for a reason a retry may fix.
    #[error("the state machine could not be started: {0}")]
    Unavailable(String),
}

/// Where an execution is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    Running,
    /// Ended: `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    Ended(String),
    /// Never started under this name (a reservation whose start failed or is on its way).
    Missing,
}

/// `environment-up` and `environment-down`, by execution name.
pub trait Flows: Send + Sync {
    /// Starts one. Starting an execution whose name already exists starts nothing and
    /// answers that execution: a retried request is safe.
    fn start(
        &self,
        operation: OperationKind,
        execution: &str,
        input: &str,
    ) -> impl Future<Output = Result<String, FlowError>> + Send;

    /// Stops one (`cause` goes to its history). Stopping one that has ended or never
    /// started changes nothing: answers where it is.
    fn stop(
        &self,
        operation: OperationKind,
        execution: &str,
        cause: &str,
    ) -> impl Future<Output = Result<Run, FlowError>> + Send;

    /// Where one is.
    fn run(
        &self,
        operation: OperationKind,
        execution: &str,
    ) -> impl Future<Output = Result<Run, FlowError>> + Send;
}

/// [`Flows`] on Step Functions; the state machines' ARNs come from the template.
#[derive(Debug, Clone)]
pub struct SfnFlows {
    client: aws_sdk_sfn::Client,
    up: String,
    down: String,
}

impl SfnFlows {
    pub fn new(client: aws_sdk_sfn::Client, up: String, down: String) -> Self {
        Self { client, up, down }
    }

    fn machine(&self, operation: OperationKind) -> &str {
        match operation {
            OperationKind::Up => &self.up,
            OperationKind::Down => &self.down,
        }
    }

    /// The ARNs from `UP_STATE_MACHINE_ARN` and `DOWN_STATE_MACHINE_ARN`.
    pub fn from_env(client: aws_sdk_sfn::Client) -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        Ok(Self::new(
            client,
            var("UP_STATE_MACHINE_ARN")?,
            var("DOWN_STATE_MACHINE_ARN")?,
        ))
    }
}

/// `arn:…:stateMachine:<machine>` → `arn:…:execution:<machine>:<execution>`.
pub fn execution_arn(state_machine_arn: &str, execution: &str) -> String {
    format!(
        "{}:{execution}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

impl Flows for SfnFlows {
    async fn start(
        &self,
        operation: OperationKind,
        execution: &str,
        input: &str,
    ) -> Result<String, FlowError> {
        let machine = self.machine(operation);
        match self
            .client
            .start_execution()
            .state_machine_arn(machine)
            .name(execution)
            .input(input)
            .send()
            .await
        {
            Ok(started) => Ok(started.execution_arn),
            Err(e) => match e.as_service_error() {
                Some(StartExecutionError::ExecutionAlreadyExists(_)) => {
                    Ok(execution_arn(machine, execution))
                }
                _ => Err(unavailable(&e)),
            },
        }
    }

    async fn stop(
        &self,
        operation: OperationKind,
        execution: &str,
        cause: &str,
    ) -> Result<Run, FlowError> {
        // Only a running one is stopped; one that ended (or never began) is answered as it is.
        let before = self.run(operation, execution).await?;
        if before != Run::Running {
            return Ok(before);
        }
        let arn = execution_arn(self.machine(operation), execution);
        match self
            .client
            .stop_execution()
            .execution_arn(&arn)
            .cause(cause)
            .send()
            .await
        {
            Ok(_) => Ok(Run::Ended(ExecutionStatus::Aborted.as_str().to_owned())),
            // It ended between the two calls: say how.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(StopExecutionError::ExecutionDoesNotExist(_))
                ) =>
            {
                Ok(Run::Missing)
            }
            Err(_) => self.run(operation, execution).await,
        }
    }

    async fn run(&self, operation: OperationKind, execution: &str) -> Result<Run, FlowError> {
        let arn = execution_arn(self.machine(operation), execution);
        match self
            .client
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
        {
            Ok(described) => Ok(match described.status {
                ExecutionStatus::Running | ExecutionStatus::PendingRedrive => Run::Running,
                other => Run::Ended(other.as_str().to_owned()),
            }),
            Err(e) => match e.as_service_error() {
                Some(DescribeExecutionError::ExecutionDoesNotExist(_)) => Ok(Run::Missing),
                _ => Err(unavailable(&e)),
            },
        }
    }
}

/// The first line of an SDK error, as a retryable failure.
fn unavailable(e: &impl std::error::Error) -> FlowError {
    FlowError::Unavailable(
        DisplayErrorContext(e)
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn execution_arns_follow_the_state_machine_arn() {
        assert_eq!(
            super::execution_arn(
                "arn:aws:states:us-east-1:123456789012:stateMachine:strata-up",
                "up-staging-1-0"
            ),
            "arn:aws:states:us-east-1:123456789012:execution:strata-up:up-staging-1-0"
        );
    }
}
