//! Every name the lifecycle function can report is one the state machines know
//! (strata-runtime's list, which the generated ASL's Retry and Catch match).

use strata_lifecycle::LifecycleError;
use strata_store::StoreError;

#[test]
fn every_variant_reports_a_listed_name() {
    let errors = [
        LifecycleError::InvalidInput("x".into()),
        LifecycleError::EnvironmentNotFound("e".into()),
        LifecycleError::EventsUnavailable("x".into()),
        LifecycleError::Store(StoreError::StaleVersion {
            item: "i".into(),
            expected: None,
        }),
        LifecycleError::Store(StoreError::LockHeld {
            environment: "e".into(),
            holder: "h".into(),
            expires_at: 0,
        }),
        LifecycleError::Store(StoreError::NotLockHolder {
            environment: "e".into(),
            caller: "c".into(),
            holder: None,
        }),
        LifecycleError::Store(StoreError::Corrupt {
            item: "i".into(),
            reason: "r".into(),
        }),
        LifecycleError::Store(StoreError::Aws("down".into())),
    ];
    let reported: Vec<&str> = errors.iter().map(LifecycleError::name).collect();
    let listed = strata_runtime::errors::lifecycle::NAMES;
    for name in &reported {
        assert!(listed.contains(name), "{name} is not listed");
    }
    for name in listed
        .iter()
        .chain(strata_runtime::errors::lifecycle::RETRYABLE)
        .chain(strata_runtime::errors::lifecycle::REJECTING)
    {
        assert!(
            reported.contains(name),
            "{name} is listed but never reported"
        );
    }
}
