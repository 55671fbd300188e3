//! Every name a component handler can report is one the state machines know
//! (strata-runtime's list, which the generated ASL's Retry and Catch match).

use strata_component::ComponentError;
use strata_core::Component;
use strata_store::StoreError;

fn store_errors() -> Vec<StoreError> {
    vec![
        StoreError::StaleVersion {
            item: "i".into(),
            expected: None,
        },
        StoreError::LockHeld {
            environment: "e".into(),
            holder: "h".into(),
            expires_at: 0,
        },
        StoreError::NotLockHolder {
            environment: "e".into(),
            caller: "c".into(),
            holder: None,
        },
        StoreError::Corrupt {
            item: "i".into(),
            reason: "r".into(),
        },
        StoreError::Aws("down".into()),
    ]
}

#[test]
fn every_variant_reports_a_listed_name() {
    let mut errors = vec![
        ComponentError::InvalidInput("x".into()),
        ComponentError::EnvironmentNotFound("e".into()),
        ComponentError::DependencyNotReady {
            component: Component::App,
            dependency: Component::Config,
        },
        ComponentError::DependentsRemain {
            component: Component::Network,
            dependent: Component::Cluster,
        },
        ComponentError::ResourceNotOwned("x".into()),
        ComponentError::DeadlineExceeded(1),
        ComponentError::AwsTransient("x".into()),
        ComponentError::AwsRejected("x".into()),
        ComponentError::KubernetesTransient("x".into()),
        ComponentError::KubernetesRejected("x".into()),
        ComponentError::ImageNotFound("x".into()),
        ComponentError::MigrationFailed("x".into()),
        ComponentError::FunctionFailed("x".into()),
    ];
    errors.extend(store_errors().into_iter().map(ComponentError::Store));
    let reported: Vec<&str> = errors.iter().map(ComponentError::name).collect();
    for name in &reported {
        assert!(
            strata_runtime::errors::component::NAMES.contains(name),
            "{name} is not listed"
        );
    }
    // And nothing listed that no variant reports: a stale name would be matched in vain.
    for name in strata_runtime::errors::component::NAMES {
        assert!(
            reported.contains(name),
            "{name} is listed but never reported"
        );
    }
    for name in strata_runtime::errors::component::RETRYABLE {
        assert!(
            reported.contains(name),
            "{name} is retried but never reported"
        );
    }
}
