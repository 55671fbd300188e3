//! The custom handler with a scripted Lambda: what the team's function is sent, and what
//! becomes of its answers, its failures and answers outside the contract.

use std::collections::BTreeMap;

use aws_sdk_lambda::operation::invoke::{InvokeInput, InvokeOutput};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use strata_component::testing::{Fixed, context};
use strata_core::custom::{CustomComponentSpec, Input, LambdaSpec};
use strata_core::{ComponentPhase, Environment, OperationKind};
use strata_testkit::staging;

use super::*;

const FUNCTION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:strata-component-topic";

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use strata_core::component_contract::{StepAction, StepRequest};
use strata_core::drift::FieldDrift;

/// Scripted clients.
pub(crate) type Mocked = Clients<
    Fixed<Client>,
    Fixed<aws_sdk_cloudformation::Client>,
    Fixed<aws_sdk_secretsmanager::Client>,
>;

/// Lambda answers `rules`; CloudFormation answers nothing; Secrets Manager has the staging
/// example's one secret.
pub(crate) fn mocked(rules: &[&Rule]) -> Mocked {
    Clients {
        lambda: Fixed(mock_client!(aws_sdk_lambda, RuleMode::MatchAny, rules)),
        cloudformation: Fixed(mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[]
        )),
        secrets: Fixed(mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            &[&payments()]
        )),
    }
}

/// The value of the staging example's one secret variable (PAYMENTS_API_KEY).
const PAYMENTS_KEY: &str = "pk_live_0123456789";

fn payments() -> Rule {
    mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_output(|| {
        aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput::builder()
            .secret_string(PAYMENTS_KEY)
            .build()
    })
}

fn topic() -> Component {
    Component::parse("topic").unwrap()
}

fn with_topic(spec: impl FnOnce(&mut CustomComponentSpec)) -> Environment {
    let mut env = staging();
    let mut topic = CustomComponentSpec {
        name: "topic".into(),
        depends_on: vec!["network".into()],
        inputs: BTreeMap::from([
            (
                "Retention".into(),
                Input {
                    value: Some("7".into()),
                    from_output: None,
                },
            ),
            (
                "Vpc".into(),
                Input {
                    value: None,
                    from_output: Some("components.network.outputs.vpcId".into()),
                },
            ),
        ]),
        cloud_formation: None,
        lambda: Some(LambdaSpec {
            function_arn: FUNCTION.into(),
        }),
    };
    spec(&mut topic);
    env.spec.components.push(topic);
    env
}

fn network() -> BTreeMap<Component, ComponentStatus> {
    let mut network = ComponentStatus::new(ComponentPhase::Ready, 1, 0);
    network.outputs.insert("vpcId".into(), "vpc-0abc".into());
    BTreeMap::from([(Component::Network, network)])
}

fn sent(input: &InvokeInput) -> StepRequest {
    serde_json::from_slice(input.payload().unwrap().as_ref()).unwrap()
}

fn answers(body: &'static str) -> Rule {
    mock!(Client::invoke)
        .match_requests(|r| r.function_name() == Some(FUNCTION))
        .then_output(move || {
            InvokeOutput::builder()
                .status_code(200)
                .payload(Blob::new(body))
                .build()
        })
}

async fn step_with(
    rules: &[&Rule],
    env: &Environment,
    previous: Option<&ComponentStatus>,
    destroy: bool,
) -> Result<Progress, ComponentError> {
    let clients = mocked(rules);
    let handler = Custom {
        component: topic(),
        clients: &clients,
        settings: &Settings::default(),
    };
    let context = context(OperationKind::Up, 3, 0);
    strata_component::testing::step(&handler, env, &context, previous, &network(), destroy).await
}

#[tokio::test]
async fn the_function_gets_its_inputs_resolved_the_tags_and_what_was_recorded() {
    let rule = mock!(Client::invoke)
        .match_requests(|r| {
            let request = sent(r);
            request.action == StepAction::Apply
                && request.environment == "staging"
                && request.component == "topic"
                && request.region == "eu-west-1"
                && request.inputs
                    == BTreeMap::from([
                        ("Retention".to_owned(), "7".to_owned()),
                        ("Vpc".to_owned(), "vpc-0abc".to_owned()),
                    ])
                && request.tags["strata:environment"] == "staging"
                && request.tags["strata:component"] == "topic"
                && request.tags["strata:managed-by"] == "strata"
                && request.execution == "up-staging-3"
                && request.previous.resource_ids["topicArn"] == "arn:aws:sns:eu-west-1:1:t"
        })
        .then_output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .payload(Blob::new(
                    r#"{"done": true, "resourceIds": {"topicArn": "arn:aws:sns:eu-west-1:1:t"}, "outputs": {"topicArn": "arn:aws:sns:eu-west-1:1:t"}}"#,
                ))
                .build()
        });
    let mut previous = ComponentStatus::new(ComponentPhase::Creating, 0, 0);
    previous
        .resource_ids
        .insert("topicArn".into(), "arn:aws:sns:eu-west-1:1:t".into());
    let progress = step_with(&[&rule], &with_topic(|_| {}), Some(&previous), false)
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1, "the request was as expected");
    assert!(progress.done);
    assert_eq!(progress.phase, Some(ComponentPhase::Ready));
    assert_eq!(progress.outputs["topicArn"], "arn:aws:sns:eu-west-1:1:t");
}

#[tokio::test]
async fn not_done_is_asked_again_and_destroy_answers_deleting_then_deleted() {
    let env = with_topic(|_| {});
    let waiting = answers(r#"{"done": false}"#);
    let progress = step_with(&[&waiting], &env, None, false).await.unwrap();
    assert!(!progress.done);
    assert_eq!(progress.phase, Some(ComponentPhase::Creating));

    let deleting = mock!(Client::invoke)
        .match_requests(|r| sent(r).action == StepAction::Destroy)
        .then_output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .payload(Blob::new(r#"{"done": true}"#))
                .build()
        });
    let progress = step_with(&[&deleting], &env, None, true).await.unwrap();
    assert_eq!(deleting.num_calls(), 1);
    assert_eq!(progress.phase, Some(ComponentPhase::Deleted));
}

#[tokio::test]
async fn a_failing_function_or_one_outside_the_contract_fails_the_step_saying_which() {
    let env = with_topic(|_| {});
    let failing = mock!(Client::invoke).then_output(|| {
        InvokeOutput::builder()
            .status_code(200)
            .function_error("Unhandled")
            .payload(Blob::new(
                r#"{"errorType": "TopicLimit", "errorMessage": "too many topics"}"#,
            ))
            .build()
    });
    let error = step_with(&[&failing], &env, None, false).await.unwrap_err();
    assert_eq!(error.name(), "FunctionFailed");
    assert_eq!(
        error.to_string(),
        format!("{FUNCTION} failed (Unhandled): TopicLimit: too many topics")
    );

    // The function's own words never carry a secret of the environment, however encoded.
    let leaking = mock!(Client::invoke).then_output(|| {
        InvokeOutput::builder()
            .status_code(200)
            .function_error("Unhandled")
            .payload(Blob::new(
                r#"{"errorType": "Boom", "errorMessage": "bad key cGtfbGl2ZV8wMTIzNDU2Nzg5"}"#,
            ))
            .build()
    });
    let error = step_with(&[&leaking], &env, None, false).await.unwrap_err();
    assert_eq!(error.name(), "FunctionFailed");
    assert_eq!(
        error.to_string(),
        "component topic failed with a message holding a secret value of the environment \
         (PAYMENTS_API_KEY of service api): nothing of it is kept"
    );

    let odd = answers(r#"{"done": "yes"}"#);
    let error = step_with(&[&odd], &env, None, false).await.unwrap_err();
    assert_eq!(error.name(), "FunctionFailed");
    assert!(
        error.to_string().contains("broke the component contract"),
        "{error}"
    );
}

#[tokio::test]
async fn an_output_not_there_or_a_stack_without_a_role_is_refused_before_any_call() {
    let never = answers(r#"{"done": true}"#);
    let env = with_topic(|t| {
        t.inputs.get_mut("Vpc").unwrap().from_output =
            Some("components.network.outputs.subnetIds".into());
    });
    let error = step_with(&[&never], &env, None, false).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "spec.components[topic].inputs.Vpc.fromOutput: network has no output subnetIds"
    );
    let env = with_topic(|t| {
        t.lambda = None;
        t.cloud_formation = Some(strata_core::custom::CloudFormationSpec {
            template: Some("Resources: {}".into()),
            template_url: None,
        });
    });
    let error = step_with(&[&never], &env, None, false).await.unwrap_err();
    assert_eq!(error.name(), "InvalidInput");
    assert!(
        error
            .to_string()
            .starts_with("spec.components[topic].cloudFormation:")
    );
    assert_eq!(never.num_calls(), 0);
}

#[tokio::test]
async fn a_request_must_name_a_custom_component() {
    let clients = mocked(&[]);
    let store = strata_store::MemoryStore::default();
    for (request, why) in [
        (
            serde_json::json!({"action": "apply"}),
            "request.component: missing",
        ),
        (
            serde_json::json!({"action": "apply", "component": "network"}),
            "request.component: \"network\" is not a custom component's name",
        ),
        (
            serde_json::json!({"action": "apply", "component": 7}),
            "request.component: must be a string",
        ),
    ] {
        let error = handle(&store, &clients, &Settings::default(), request, 0)
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), why);
    }
}

#[tokio::test]
async fn observe_reports_what_the_function_found() {
    let env = with_topic(|_| {});
    let drifted = answers(
        r#"{"drift": "drifted", "fields": [{"path": "topic/displayName", "expected": "shop", "observed": "x"}]}"#,
    );
    let clients = mocked(&[&drifted]);
    let handler = Custom {
        component: topic(),
        clients: &clients,
        settings: &Settings::default(),
    };
    let context = context(OperationKind::Up, 3, 0);
    let observed = strata_component::testing::observe(&handler, &env, &context, &network())
        .await
        .unwrap();
    assert_eq!(
        observed,
        Observed::Drifted {
            fields: vec![FieldDrift {
                path: "topic/displayName".into(),
                expected: "shop".into(),
                observed: "x".into(),
            }]
        }
    );
}

/// A drift check's fields reach the status, the `Drifted` event and the console: one holding
/// a secret value (here JSON-escaped inside the observed text) is refused, naming only its
/// source.
#[tokio::test]
async fn observed_drift_holding_a_secret_value_is_not_kept() {
    let env = with_topic(|_| {});
    let leaking = answers(
        r#"{"drift": "drifted", "fields": [{"path": "topic/policy", "expected": "{}", "observed": "{\"key\":\"pk_live_0123456789\"}"}]}"#,
    );
    let clients = mocked(&[&leaking]);
    let handler = Custom {
        component: topic(),
        clients: &clients,
        settings: &Settings::default(),
    };
    let context = context(OperationKind::Up, 3, 0);
    let error = strata_component::testing::observe(&handler, &env, &context, &network())
        .await
        .unwrap_err();
    assert_eq!(error.name(), "FunctionFailed");
    let said = error.to_string();
    assert!(
        said.contains("observed drift holding a secret value"),
        "{said}"
    );
    assert!(said.contains("(PAYMENTS_API_KEY of service api)"), "{said}");
    assert!(!said.contains(PAYMENTS_KEY), "{said}");
}

#[tokio::test]
async fn outputs_holding_a_secret_value_are_not_kept() {
    let env = with_topic(|_| {});
    for outputs in [
        format!(r#"{{"done": true, "outputs": {{"key": "{PAYMENTS_KEY}"}}}}"#),
        r#"{"done": true, "outputs": {"url": "https://x/?k=pk_live_0123456789"}}"#.to_owned(),
        r#"{"done": true, "resourceIds": {"id": "cGtfbGl2ZV8wMTIzNDU2Nzg5"}}"#.to_owned(),
    ] {
        let body: &'static str = Box::leak(outputs.into_boxed_str());
        let error = step_with(&[&answers(body)], &env, None, false)
            .await
            .unwrap_err();
        assert_eq!(error.name(), "FunctionFailed", "{body}");
        let said = error.to_string();
        assert!(said.contains("(PAYMENTS_API_KEY of service api)"), "{said}");
        assert!(!said.contains(PAYMENTS_KEY), "{said}");
    }
}
