//! Starting the state machines: the one capability the API needs from Step Functions.

use std::future::Future;
use std::sync::Mutex;

use aws_sdk_sfn::error::DisplayErrorContext;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use strata_core::OperationKind;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// Step Functions did not answer or refused for a reason a retry may fix.
    #[error("the state machine could not be started: {0}")]
    Unavailable(String),
}

/// Starts `environment-up` or `environment-down`. Starting an execution whose name already
/// exists starts nothing and answers that execution: a retried request is safe.
pub trait Flows: Send + Sync {
    fn start(
        &self,
        operation: OperationKind,
        execution: &str,
        input: &str,
    ) -> impl Future<Output = Result<String, FlowError>> + Send;
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
        let machine = match operation {
            OperationKind::Up => &self.up,
            OperationKind::Down => &self.down,
        };
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
                _ => Err(FlowError::Unavailable(
                    DisplayErrorContext(&e)
                        .to_string()
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                )),
            },
        }
    }
}

/// An in-memory [`Flows`] for handler tests: records what was started, by name once.
#[derive(Debug, Default)]
pub struct MemoryFlows {
    started: Mutex<Vec<(OperationKind, String, String)>>,
    unavailable: Mutex<bool>,
}

impl MemoryFlows {
    /// Every execution started so far: operation, name, input.
    pub fn started(&self) -> Vec<(OperationKind, String, String)> {
        self.started.lock().expect("not poisoned").clone()
    }

    /// Makes every later start fail as Step Functions throttling would.
    pub fn set_unavailable(&self, unavailable: bool) {
        *self.unavailable.lock().expect("not poisoned") = unavailable;
    }
}

impl Flows for MemoryFlows {
    async fn start(
        &self,
        operation: OperationKind,
        execution: &str,
        input: &str,
    ) -> Result<String, FlowError> {
        if *self.unavailable.lock().expect("not poisoned") {
            return Err(FlowError::Unavailable("ThrottlingException".into()));
        }
        let mut started = self.started.lock().expect("not poisoned");
        if !started.iter().any(|(_, name, _)| name == execution) {
            started.push((operation, execution.to_owned(), input.to_owned()));
        }
        Ok(execution_arn(
            &format!(
                "arn:aws:states:us-east-1:123456789012:stateMachine:environment-{}",
                operation.name()
            ),
            execution,
        ))
    }
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
