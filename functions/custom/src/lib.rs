//! The environment's own components (`spec.components`, [`strata_core::custom`]). One
//! function runs every custom component: the request names which (`component`), and the
//! spec says how it is deployed. The steps go through [`strata_component::run`] like every
//! built-in component's, so the fence, the step claim, the deadline, the dependency checks
//! and the recorded status are the same.
//!
//! - Kind `lambda` ([`function`]): the team's function follows the component contract
//!   ([`strata_core::component_contract`]); each step invokes it once.
//! - Kind `cloudFormation` ([`stack`]): one stack per environment and component, deployed
//!   with the control plane's stack role.

pub mod function;
pub mod post_deploy;
pub mod stack;

use std::collections::BTreeMap;

use serde_json::Value;
use strata_component::clients::{FromConfig, Global, Regional};
use strata_component::{ComponentError, ComponentHandler, Progress, Step};
use strata_core::custom::{CustomComponentSpec, Kind, read_output};
use strata_core::drift::Observed;
use strata_core::{Component, ComponentStatus};
use strata_store::Store;

/// What makes the AWS clients custom components call: `lambda` the teams' functions' (in
/// the function's own region), `cloudformation` and `secrets` in the environment's region.
/// The deployed function's come from its SDK config ([`Clients::new`]), the tests' are
/// scripted.
pub struct Clients<L, F, S> {
    pub lambda: L,
    pub cloudformation: F,
    pub secrets: S,
}

impl
    Clients<
        FromConfig<aws_sdk_lambda::Client>,
        FromConfig<aws_sdk_cloudformation::Client>,
        FromConfig<aws_sdk_secretsmanager::Client>,
    >
{
    pub fn new(config: aws_config::SdkConfig) -> Self {
        Self {
            lambda: FromConfig::new(config.clone(), aws_sdk_lambda::Client::new),
            cloudformation: FromConfig::new(config.clone(), aws_sdk_cloudformation::Client::new),
            secrets: FromConfig::new(config, aws_sdk_secretsmanager::Client::new),
        }
    }
}

/// The clients as the handler asks for them, whatever makes each ([`Clients`]).
pub trait AwsClients: Send + Sync {
    fn lambda(&self) -> aws_sdk_lambda::Client;
    /// CloudFormation in `region` (the environment's).
    fn cloudformation(&self, region: &str) -> aws_sdk_cloudformation::Client;
    /// Secrets Manager in `region`: what the post-deploy answer is checked against.
    fn secrets(&self, region: &str) -> aws_sdk_secretsmanager::Client;
}

impl<L, F, S> AwsClients for Clients<L, F, S>
where
    L: Global<aws_sdk_lambda::Client>,
    F: Regional<aws_sdk_cloudformation::Client>,
    S: Regional<aws_sdk_secretsmanager::Client>,
{
    fn lambda(&self) -> aws_sdk_lambda::Client {
        self.lambda.client()
    }

    fn cloudformation(&self, region: &str) -> aws_sdk_cloudformation::Client {
        self.cloudformation.client(region)
    }

    fn secrets(&self, region: &str) -> aws_sdk_secretsmanager::Client {
        self.secrets.client(region)
    }
}

/// The control plane's settings for custom components (the function's environment).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The role CloudFormation deploys the custom stacks with (`STACK_ROLE_ARN`).
    pub stack_role_arn: Option<String>,
}

impl Settings {
    pub fn from_env() -> Self {
        Self {
            stack_role_arn: std::env::var("STACK_ROLE_ARN")
                .ok()
                .filter(|arn| !arn.is_empty()),
        }
    }
}

/// One custom component's steps.
pub struct Custom<'a, C> {
    pub component: Component,
    pub clients: &'a C,
    pub settings: &'a Settings,
}

/// The function's input: a step (`{action, component, context}`), sync's drift check
/// (`{action: observe, environment, component}`), where `component` names the custom
/// component; or the post-deploy step (`{action: postDeploy, context}`).
pub async fn handle<S: Store, C: AwsClients>(
    store: &S,
    clients: &C,
    settings: &Settings,
    mut request: Value,
    now: u64,
) -> Result<Value, ComponentError> {
    if request["action"] == "preview" {
        return preview(store, clients, request).await;
    }
    if request["action"] == "postDeploy" {
        let context: strata_core::OperationContext =
            serde_json::from_value(request["context"].take())
                .map_err(|e| ComponentError::InvalidInput(format!("request.context: {e}")))?;
        let outcome = post_deploy::run(store, clients, &context).await?;
        return Ok(serde_json::to_value(outcome).expect("an outcome serialises"));
    }
    let component = request
        .as_object_mut()
        .and_then(|o| o.remove("component"))
        .ok_or_else(|| ComponentError::InvalidInput("request.component: missing".into()))?;
    let component = component
        .as_str()
        .ok_or_else(|| ComponentError::InvalidInput("request.component: must be a string".into()))
        .and_then(|name| {
            Component::parse(name)
                .ok()
                .filter(|c| c.is_custom())
                .ok_or_else(|| {
                    ComponentError::InvalidInput(format!(
                        "request.component: {name:?} is not a custom component's name"
                    ))
                })
        })?;
    let handler = Custom {
        component,
        clients,
        settings,
    };
    strata_component::handle(store, &handler, request, now).await
}

/// A plan's look at an in-place change of a cloudFormation component
/// (`{action: preview, environment, component: <its spec element>}`): the change set's
/// changes, or why there are none to show ([`strata_core::custom::StackPreview`]).
async fn preview<S: Store, C: AwsClients>(
    store: &S,
    clients: &C,
    mut request: Value,
) -> Result<Value, ComponentError> {
    let environment = request["environment"]
        .as_str()
        .ok_or_else(|| ComponentError::InvalidInput("request.environment: missing".into()))?
        .to_owned();
    let spec: CustomComponentSpec = serde_json::from_value(request["component"].take())
        .map_err(|e| ComponentError::InvalidInput(format!("request.component: {e}")))?;
    let Some(Kind::CloudFormation(template)) = spec.kind() else {
        return Err(ComponentError::InvalidInput(format!(
            "request.component: {} is not of kind cloudFormation",
            spec.name
        )));
    };
    let component = Component::parse(&spec.name)
        .map_err(|e| ComponentError::InvalidInput(format!("request.component.name: {e}")))?;
    let stored = store.get_status(&environment).await?;
    let statuses = stored.map(|s| s.value.components).unwrap_or_default();
    let region = store
        .get_spec(&environment)
        .await?
        .map(|s| s.environment.spec.region)
        .ok_or_else(|| ComponentError::EnvironmentNotFound(environment.clone()))?;
    let mut parameters = BTreeMap::new();
    for (key, input) in &spec.inputs {
        let value = match (&input.value, &input.from_output) {
            (Some(value), _) => value.clone(),
            (None, Some(reference)) => match read_output(reference, &statuses) {
                Ok(value) => value,
                Err(why) => {
                    let why = format!("inputs.{key}: {why} yet");
                    let preview = strata_core::custom::StackPreview::unavailable(why);
                    return Ok(serde_json::to_value(preview).expect("a preview serialises"));
                }
            },
            (None, None) => continue,
        };
        parameters.insert(key.clone(), value);
    }
    let name = stack::stack_name(&environment, component);
    // Each plan its own change set: two plans may run at once.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let set = stack::operation_token("strata-plan", &nanos.to_string());
    let client = clients.cloudformation(&region);
    let preview = match stack::preview(&client, &name, template, &parameters, &set).await? {
        Some(changes) => strata_core::custom::StackPreview {
            changes,
            unavailable: None,
        },
        None => strata_core::custom::StackPreview::unavailable(format!(
            "there is no stack {name} yet: it is created"
        )),
    };
    Ok(serde_json::to_value(preview).expect("a preview serialises"))
}

/// How the step deploys this component.
enum Deployed<'a> {
    Function(function::Function<'a>),
    Stack(stack::Stack<'a>),
}

impl<C: AwsClients> Custom<'_, C> {
    fn spec<'s>(&self, step: &'s Step<'_>) -> Result<&'s CustomComponentSpec, ComponentError> {
        let name = self.component.name();
        step.environment
            .custom_component(self.component)
            .ok_or_else(|| {
                ComponentError::InvalidInput(format!("spec.components: no component named {name}"))
            })
    }

    fn deployed<'s>(&'s self, step: &'s Step<'s>) -> Result<Deployed<'s>, ComponentError> {
        let name = self.component.name();
        let spec = self.spec(step)?;
        let inputs = inputs(step, spec)?;
        match spec.kind() {
            Some(Kind::Lambda(lambda)) => Ok(Deployed::Function(function::Function {
                client: self.clients.lambda(),
                function_arn: &lambda.function_arn,
                step,
                component: self.component,
                inputs,
            })),
            Some(Kind::CloudFormation(cloud_formation)) => {
                let role_arn = self.settings.stack_role_arn.as_deref().ok_or_else(|| {
                    ComponentError::InvalidInput(format!(
                        "spec.components[{name}].cloudFormation: this control plane has no stack role to deploy with (its template's CustomComponentStackRoleArn)"
                    ))
                })?;
                Ok(Deployed::Stack(stack::Stack {
                    client: self.clients.cloudformation(&step.environment.spec.region),
                    step,
                    component: self.component,
                    spec: cloud_formation,
                    parameters: inputs,
                    role_arn,
                }))
            }
            None => Err(ComponentError::InvalidInput(format!(
                "spec.components[{name}]: must have exactly one of cloudFormation and lambda"
            ))),
        }
    }
}

impl<C: AwsClients> Custom<'_, C> {
    /// What the team's function or stack answered, unless it carries one of the
    /// environment's secret values in any encoding [`strata_core::leak`] knows: its outputs
    /// and resource ids are recorded in the status and its error message in the history,
    /// so neither may hold one. The refusal names where the secret comes from, never it.
    async fn unless_secret(
        &self,
        step: &Step<'_>,
        answered: Result<Progress, ComponentError>,
    ) -> Result<Progress, ComponentError> {
        let (text, what) = match &answered {
            Ok(p) if p.outputs.is_empty() && p.resource_ids.is_empty() => return answered,
            Ok(p) => {
                let values = p.outputs.values().chain(p.resource_ids.values());
                (values.cloned().collect::<Vec<_>>().join("\n"), "answered")
            }
            Err(e @ ComponentError::FunctionFailed(_)) => (e.to_string(), "failed with a message"),
            Err(_) => return answered,
        };
        self.refuse_leak(step, &text, what).await?;
        answered
    }

    /// What a drift check found, unless it carries a secret value: the fields it names go to
    /// the status, the `Drifted` event and the console as the function wrote them.
    async fn observed_unless_secret(
        &self,
        step: &Step<'_>,
        observed: Result<Observed, ComponentError>,
    ) -> Result<Observed, ComponentError> {
        let (text, what) = match &observed {
            Ok(Observed::Drifted { fields }) => (
                fields
                    .iter()
                    .flat_map(|f| [f.path.as_str(), f.expected.as_str(), f.observed.as_str()])
                    .collect::<Vec<_>>()
                    .join("\n"),
                "observed drift",
            ),
            Err(e @ ComponentError::FunctionFailed(_)) => (e.to_string(), "failed with a message"),
            _ => return observed,
        };
        self.refuse_leak(step, &text, what).await?;
        observed
    }

    /// A refusal if `text` holds one of the environment's secret values in any encoding
    /// [`strata_core::leak`] knows. It names where the secret comes from, never the value.
    async fn refuse_leak(
        &self,
        step: &Step<'_>,
        text: &str,
        what: &str,
    ) -> Result<(), ComponentError> {
        let secrets = strata_secret_values::of_environment(
            |r| self.clients.secrets(r),
            step.environment,
            step.dependencies,
        )
        .await?;
        match strata_core::leak::leaked(text, &secrets) {
            None => Ok(()),
            Some(source) => Err(ComponentError::FunctionFailed(format!(
                "component {} {what} holding a secret value of the environment ({source}): \
                 nothing of it is kept",
                self.component.name()
            ))),
        }
    }
}

/// The component's inputs, each a literal or another component's output read from the
/// statuses of its dependencies.
fn inputs(
    step: &Step<'_>,
    spec: &CustomComponentSpec,
) -> Result<BTreeMap<String, String>, ComponentError> {
    let name = &spec.name;
    let mut inputs = BTreeMap::new();
    for (key, input) in &spec.inputs {
        let value = match (&input.value, &input.from_output) {
            (Some(value), _) => value.clone(),
            (None, Some(reference)) => {
                read_output(reference, step.dependencies).map_err(|why| {
                    ComponentError::InvalidInput(format!(
                        "spec.components[{name}].inputs.{key}.fromOutput: {why}"
                    ))
                })?
            }
            (None, None) => {
                return Err(ComponentError::InvalidInput(format!(
                    "spec.components[{name}].inputs.{key}: must have exactly one of value and fromOutput"
                )));
            }
        };
        inputs.insert(key.clone(), value);
    }
    Ok(inputs)
}

impl<C: AwsClients> ComponentHandler for Custom<'_, C> {
    fn component(&self) -> Component {
        self.component
    }

    async fn apply(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let answered = match self.deployed(step)? {
            Deployed::Function(f) => {
                f.step(strata_core::component_contract::StepAction::Apply)
                    .await
            }
            Deployed::Stack(s) => s.apply().await,
        };
        self.unless_secret(step, answered).await
    }

    async fn destroy(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let answered = match self.deployed(step)? {
            Deployed::Function(f) => {
                f.step(strata_core::component_contract::StepAction::Destroy)
                    .await
            }
            Deployed::Stack(s) => s.destroy().await,
        };
        self.unless_secret(step, answered).await
    }

    async fn observe(&self, step: &Step<'_>) -> Result<Observed, ComponentError> {
        let observed = match self.deployed(step)? {
            Deployed::Function(f) => f.observe().await,
            Deployed::Stack(s) => s.observe().await,
        };
        self.observed_unless_secret(step, observed).await
    }
}

/// What a status recorded, as the contract hands it back.
fn recorded(status: &ComponentStatus) -> strata_core::component_contract::Recorded {
    strata_core::component_contract::Recorded {
        resource_ids: status.resource_ids.clone(),
        outputs: status.outputs.clone(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
