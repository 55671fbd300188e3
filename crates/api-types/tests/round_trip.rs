//! What the API writes, the CLI reads back: every body survives JSON unchanged.

use strata_api_types::{
    Accepted, Applied, EnvironmentView, ErrorBody, ErrorCode, ErrorDetail, NothingToDo, PlanCost,
    PlanView,
};
use strata_core::{EnvironmentState, EnvironmentStatus, Scope, plan};
use strata_testkit::staging;

fn round_trip<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(&back, value);
}

#[test]
fn every_body_reads_back_as_it_was_written() {
    let env = staging();
    let planned = plan(None, &env);
    let estimate = strata_core::cost::estimate(&env);
    round_trip(&PlanView {
        environment: "staging".into(),
        generation: 0,
        summary: "everything created".into(),
        noop: false,
        deploy_only: false,
        refused: Vec::new(),
        plan: planned.clone(),
        cost: PlanCost {
            before: None,
            change_usd: estimate.monthly_usd,
            after: estimate.clone(),
            over_budget: Some("above".into()),
        },
        dependents: vec!["pr-42".into()],
        change_sets: [(
            "queue".to_owned(),
            strata_core::custom::StackPreview {
                changes: vec![strata_core::custom::StackChange {
                    logical_id: "Queue".into(),
                    resource_type: "AWS::SQS::Queue".into(),
                    action: "Modify".into(),
                    replacement: Some("True".into()),
                }],
                unavailable: None,
            },
        )]
        .into(),
    });
    round_trip(&strata_api_types::PreviewRequest {
        name: "pr-42".into(),
        ttl: "4h".into(),
        share: strata_core::spec::Share::Cluster,
        database: strata_core::spec::PreviewDatabase::Empty,
        set: [(
            "spec.app.services[api].version".into(),
            "2.4.0-pr.42".into(),
        )]
        .into(),
    });
    round_trip(&EnvironmentView {
        name: "staging".into(),
        generation: 3,
        updated_at: 10,
        spec: env,
        status: Some(EnvironmentStatus::new(
            EnvironmentState::Ready,
            "up succeeded",
            11,
        )),
        running_execution: None,
        cost: Some(estimate),
        sleep: Some(strata_api_types::SleepView {
            asleep_since: Some(12),
            saves_per_month_asleep_usd: 119.16,
            scheduled_asleep_percent: Some(61.3),
            schedule_saves_monthly_usd: Some(73.05),
        }),
    });
    round_trip(&ErrorBody {
        error: ErrorDetail {
            code: ErrorCode::RecreateRefused,
            message: "no".into(),
            fields: Vec::new(),
            execution: None,
            plan: Some(planned),
        },
    });
}

#[test]
fn an_apply_answer_is_told_apart_by_its_shape() {
    let started = Accepted {
        environment: "staging".into(),
        operation: "up".into(),
        generation: 2,
        execution: "up-staging-2-5".into(),
        execution_arn: None,
        scope: Some(Scope::Application),
        status_url: "/environments/staging".into(),
    };
    let unchanged = NothingToDo {
        environment: "staging".into(),
        generation: 2,
        state: EnvironmentState::Ready,
        message: "nothing to do".into(),
    };
    let read = |json: String| serde_json::from_str::<Applied>(&json).unwrap();
    assert_eq!(
        read(serde_json::to_string(&started).unwrap()),
        Applied::Started(started)
    );
    assert_eq!(
        read(serde_json::to_string(&unchanged).unwrap()),
        Applied::Unchanged(unchanged)
    );
}
