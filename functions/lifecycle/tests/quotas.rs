//! Step Functions' 256 KiB per state, with the largest spec the API accepts: the context
//! Begin really writes for it (an `up` recreating everything, every custom component in one
//! stage and in its teardown), the largest step answer, the post-deploy answer at its
//! limit, and every state's data the machines build from them — the main path's, a custom
//! component map's items and result, a stage's Parallel result. The local stack refuses a
//! state over the limit (`strata_localstack::quotas`); this proves no spec gets there.

use serde_json::{Value, json};
use strata_component::StepResult;
use strata_core::status::ComponentPhase;
use strata_core::{Component, Environment};
use strata_localstack::quotas::STATE_DATA_BYTES;
use strata_notify::MemoryNotifier;
use strata_store::{MemoryStore, prelude::*};

const CONTROL_PLANE: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/strata/test";

fn size(value: &Value) -> usize {
    value.to_string().len()
}

#[test]
fn the_largest_spec_is_at_every_limit_and_one_more_is_refused() {
    let largest = strata_testkit::examples::largest();
    let text = largest.to_json().to_string();
    println!("the largest spec: {} bytes as JSON", text.len());
    assert!(text.len() <= strata_core::spec::MAX_DOCUMENT_BYTES);
    Environment::parse(&text).expect("the largest spec is accepted");
    let refused = |change: &dyn Fn(&mut Environment), field: &str| {
        let mut more = largest.clone();
        change(&mut more);
        let errors = match Environment::from_value(more.to_json()) {
            Err(strata_core::SpecError::Invalid(errors)) => errors,
            other => panic!("{field}: {other:?}"),
        };
        assert!(
            errors.iter().any(|e| e.path == field),
            "{field}: {errors:?}"
        );
    };
    refused(
        &|e| {
            let mut s = e.spec.app.services[2].clone();
            s.name = "one-more".into();
            e.spec.app.services.push(s);
        },
        "spec.app.services",
    );
    refused(
        &|e| {
            let v = e.spec.app.services[0].env[0].clone();
            e.spec.app.services[0].env.push(strata_core::spec::EnvVar {
                name: "ONE_MORE".into(),
                ..v
            });
        },
        "spec.app.services[0].env",
    );
    refused(
        &|e| {
            let buckets = &mut e.spec.storage.as_mut().unwrap().buckets;
            let mut b = buckets[0].clone();
            b.name = "more".into();
            buckets.push(b);
        },
        "spec.storage.buckets",
    );
    refused(
        &|e| {
            let mut c = e.spec.components[0].clone();
            c.name = "one-more".into();
            e.spec.components.push(c);
        },
        "spec.components",
    );
}

#[tokio::test]
async fn every_state_s_data_stays_under_256_kib_with_the_largest_spec() {
    let env = strata_testkit::examples::largest();
    let store = MemoryStore::default();
    store.put_spec(&env, None, 1).await.unwrap();
    // An up that recreates every component: the teardown lists are full too.
    let every: Vec<String> = env
        .components()
        .into_iter()
        .map(|c| c.name().to_owned())
        .collect();
    let input = json!({"environment": env.name(), "recreate": every});
    // The longest execution name Step Functions allows (80 characters).
    let execution = format!(
        "up-{}-{}",
        env.name(),
        "9".repeat(80 - 4 - env.name().len())
    );
    let request =
        json!({"action": "begin", "operation": "up", "execution": execution, "input": input});
    let mut context = strata_lifecycle::handle(
        &store,
        &MemoryNotifier::default(),
        CONTROL_PLANE,
        request,
        10,
    )
    .await
    .expect("begin");
    let custom = env
        .components()
        .into_iter()
        .filter(|c| c.is_custom())
        .count();
    assert_eq!(custom, strata_core::MAX_CUSTOM_COMPONENTS);
    let stage = context["custom"]["stages"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| s.as_array().unwrap().len())
        .max()
        .unwrap();
    assert_eq!(
        stage, custom,
        "every custom component in one stage: {context}"
    );
    let begun = context.clone();
    // The post-deploy answer at its limit, kept in the context for finish (after every
    // stage: the maps and Parallels run before it is there).
    let answer = "x".repeat(strata_core::post_deploy::MAX_OUTPUT_BYTES);
    context["postDeployed"] = serde_json::to_value(strata_core::post_deploy::PostDeployOutcome {
        function_arn: format!(
            "arn:aws:lambda:eu-west-1:123456789012:function:{}",
            "f".repeat(64)
        ),
        succeeded: true,
        output: Some(Value::String(answer)),
        error: None,
    })
    .unwrap();
    // The largest step answer: every field at its longest.
    let step = serde_json::to_value(StepResult {
        done: false,
        phase: ComponentPhase::Deleting,
        wait_seconds: u64::MAX,
    })
    .unwrap();
    let steps: serde_json::Map<String, Value> = Component::BUILT_IN
        .into_iter()
        .map(|c| (c.name().to_owned(), step.clone()))
        .collect();
    let main = json!({
        "environment": env.name(), "recreate": every,
        "context": context, "steps": steps, "finished": step,
    });
    let mut staged = main.clone();
    staged["context"] = begun.clone();
    let item = json!({"component": "c00-xxxxxxxxxxxxxxxxxxxx", "context": begun, "step": step});
    let map_result = Value::Array(vec![item.clone(); custom]);
    // A stage's Parallel: a branch per component and the custom components' map.
    let parallel_result = Value::Array(vec![staged; 3]);
    let states = [
        ("execution input", size(&input)),
        ("the main path (every step recorded)", size(&main)),
        ("a custom component's item", size(&item)),
        ("a custom stage's map result", size(&map_result)),
        ("a stage's Parallel result", size(&parallel_result)),
    ];
    for (state, bytes) in states {
        println!(
            "{state}: {bytes} bytes ({:.1}% of {STATE_DATA_BYTES})",
            100.0 * bytes as f64 / STATE_DATA_BYTES as f64
        );
        assert!(bytes < STATE_DATA_BYTES, "{state}: {bytes} bytes");
    }
}
