//! The apply decision (`PUT /environments/{name}`): plan against what stands, refuse what it
//! may not do, answer a twin or a no-op, else reserve the lease, store the spec, start `up`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use strata_api_types::NothingToDo;
use strata_control::{Flows, Launch, SyncRequests, Trigger};
use strata_core::{
    Component, Environment, EnvironmentState, EnvironmentStatus, FieldError, OperationKind, Plan,
    Scope, cost, plan,
};
use strata_store::{SpecWrites, Store, StoreError, StoredSpec, SyncRecord, Versioned};

use crate::request::Query;
use crate::response::{accepted, respond};
use crate::{Api, ApiError, ChangeSets};

/// How long an apply waits for a twin request that reserved the lease to store the spec:
/// between its two writes, a few milliseconds (3 s at most, well inside API Gateway's 30).
const TWIN_WAITS: u32 = 30;
const TWIN_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    pub(crate) async fn apply(
        &self,
        environment: Environment,
        query: &Query,
        caller: &str,
        now: u64,
    ) -> Result<Response<Body>, ApiError> {
        self.admit(&environment)?;
        let name = environment.name().to_owned();
        // One read of all an apply decides on: spec, status, lease, whether it is scheduled.
        let read = self.store().read(&name, now).await?;
        let (stored, status) = (read.spec, read.status);
        let standing = standing(stored.as_ref(), status.as_ref());
        let planned = plan(standing.as_ref(), &environment);
        self.check_dependents(&name, &planned).await?;
        if let Err(refused) = planned.check_allowed(&query.allow_recreate) {
            let allow = planned
                .data_losing()
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(",");
            return Err(ApiError::RecreateRefused {
                message: format!(
                    "{refused}: apply again with --allow-recreate {allow} (the API's ?allowRecreate={})",
                    planned
                        .data_losing()
                        .iter()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                plan: Box::new(planned),
            });
        }
        cost::check_budget(&environment, &cost::estimate(&environment))?;
        self.check_restore(&environment, &planned).await?;
        let unchanged = stored
            .as_ref()
            .is_some_and(|s| s.environment == environment);
        let generation =
            environment.next_generation(stored.as_ref().map(|s| (&s.environment, s.generation)));
        let trigger = Trigger::Apply {
            generation,
            status_version: status.as_ref().map_or(0, |s| s.version),
        };
        let running = match self.running_with(&name, read.lease, &trigger, unchanged) {
            // Read before another request with this very spec stored it and started: that
            // operation is this request's too.
            Err(held @ ApiError::OperationInProgress { .. }) if !unchanged => {
                self.twin(&name, &environment, &trigger, held, now).await?
            }
            other => other?,
        };
        if let Some(response) = running {
            return Ok(response);
        }
        if unchanged && converged(status.as_ref().map(|s| &s.value), generation) {
            return Ok(respond(
                StatusCode::OK,
                &NothingToDo {
                    environment: name,
                    generation,
                    state: EnvironmentState::Ready,
                    message: format!("already Ready at generation {generation}; nothing to do"),
                },
            ));
        }
        // The deploy fast path: only the application layer changes and the layers below
        // stand Ready, so only app and dns run.
        let scope = if !unchanged
            && planned.touches_only_app()
            && Scope::Application
                .not_ready_outside(&environment, status.as_ref().map(|s| &s.value))
                .is_empty()
        {
            Scope::Application
        } else {
            Scope::All
        };
        let recreate = if scope == Scope::All {
            planned.recreated()
        } else {
            Vec::new()
        };
        let launch = Launch {
            environment: &name,
            trigger,
            scope,
            recreate,
            message: format!(
                "apply of generation {generation} requested ({}{})",
                summary(&planned),
                if scope == Scope::Application {
                    "; application layer only"
                } else {
                    ""
                }
            ),
        };
        let execution = launch.execution();
        // Beside the spec, in its write: a new environment's schedule, and the image index
        // an ECR push reads, for the images this spec adds or drops.
        let images = environment.images();
        let before = stored
            .as_ref()
            .map(|s| s.environment.images())
            .unwrap_or_default();
        let with = SpecWrites {
            schedule: (!read.scheduled)
                .then(|| SyncRecord::new(now, now + environment.spec.sync.every_seconds())),
            index: images
                .iter()
                .filter(|image| !before.contains(image))
                .map(|image| (*image).to_owned())
                .collect(),
            unindex: before
                .iter()
                .filter(|image| !images.contains(image))
                .map(|image| (*image).to_owned())
                .collect(),
        };
        // The lease before the spec: a spec never lands under an operation that started
        // after this request read the lease (a scheduled TTL delete, another apply).
        self.operations.reserve(&name, &execution, now).await?;
        match self
            .store()
            .put_spec_with(&environment, stored.as_ref(), now, &with)
            .await
        {
            Ok(_) => {}
            // Another request wrote the spec since this one read it. Both computed this
            // generation, so both reserved under one execution name: the lease is the
            // other's as much as ours and stays. The same spec is the same operation;
            // another one is refused.
            Err(StoreError::StaleVersion { .. }) => {
                let now_stored = self.store().get_spec(&name).await?;
                match now_stored {
                    Some(s) if s.environment == environment => {}
                    Some(s) if s.generation == generation => return Err(ApiError::SpecChanged),
                    _ => {
                        self.operations.unreserve(&name, &execution).await;
                        return Err(ApiError::SpecChanged);
                    }
                }
            }
            Err(e) => {
                self.operations.unreserve(&name, &execution).await;
                return Err(e.into());
            }
        }
        let started = self.operations.launch(&launch, caller, now).await?;
        Ok(accepted(
            &name,
            OperationKind::Up,
            generation,
            &started,
            Some(scope),
        ))
    }

    /// `spec.database.restoreFrom` names a snapshot recorded for this environment (or
    /// `latest` with one recorded), when the plan makes the database; else 400 naming it.
    async fn check_restore(
        &self,
        environment: &Environment,
        planned: &Plan,
    ) -> Result<(), ApiError> {
        let Some(from) = environment
            .spec
            .database
            .as_ref()
            .and_then(|d| d.restore_from.as_deref())
        else {
            return Ok(());
        };
        match planned.action(Component::Database) {
            strata_core::Action::Create => {}
            // A recreate's teardown takes a final snapshot first: that is `latest` then.
            strata_core::Action::Recreate if from != strata_core::snapshots::LATEST => {}
            _ => return Ok(()),
        }
        let record = self
            .store()
            .get_component(environment.name(), Component::Database)
            .await?;
        strata_core::snapshots::chosen(from, record.as_ref().map(|r| &r.value))
            .map(|_| ())
            .map_err(|why| {
                ApiError::Invalid(vec![FieldError::new(strata_core::snapshots::FIELD, why)])
            })
    }

    /// The operation of another request with this very spec, which read what this one read
    /// and reserved the lease first: answered as this request's own. The holder may not have
    /// stored the spec yet (it reserves, then stores): while the lease is held under the
    /// execution this request would start and the stored spec is still the older one, wait
    /// a moment for it. Any other spec stored, or another holder: `held` (409).
    async fn twin(
        &self,
        name: &str,
        environment: &Environment,
        trigger: &Trigger<'_>,
        held: ApiError,
        now: u64,
    ) -> Result<Option<Response<Body>>, ApiError> {
        let ApiError::OperationInProgress { execution, .. } = &held else {
            return Err(held);
        };
        let pending = trigger.started(name, execution);
        let Trigger::Apply { generation, .. } = *trigger else {
            return Err(held);
        };
        for _ in 0..TWIN_WAITS {
            match self.store().get_spec(name).await? {
                Some(s) if s.environment == *environment => {
                    let same = Trigger::Apply {
                        generation: s.generation,
                        status_version: 0,
                    };
                    return self.running(name, &same, true, now).await;
                }
                Some(s) if pending && s.generation < generation => {}
                None if pending => {}
                _ => return Err(held),
            }
            tokio::time::sleep(TWIN_WAIT).await;
        }
        Err(held)
    }
}

/// What the environment stands converged to, which a new spec is planned against: the
/// stored spec with each component's recorded section put back (a failed operation leaves
/// the components it never converged at what they were).
pub(crate) fn standing(
    stored: Option<&StoredSpec>,
    status: Option<&Versioned<EnvironmentStatus>>,
) -> Option<Environment> {
    let stored = stored?;
    let sections = status
        .map(|s| {
            s.value
                .components
                .iter()
                .filter_map(|(c, cs)| cs.applied.clone().map(|a| (*c, a)))
                .collect()
        })
        .unwrap_or_default();
    Some(stored.environment.with_applied(&sections))
}

/// Ready at this generation (the lease, checked before, says nothing runs).
fn converged(status: Option<&EnvironmentStatus>, generation: u64) -> bool {
    status
        .is_some_and(|s| s.state == EnvironmentState::Ready && s.observed_generation == generation)
}

/// One line: which components the plan changes, and how.
pub(crate) fn summary(plan: &Plan) -> String {
    let changes: Vec<String> = plan
        .components
        .iter()
        .filter(|p| p.action != strata_core::Action::NoOp)
        .map(|p| format!("{} {:?}", p.component.name(), p.action).to_lowercase())
        .collect();
    if changes.is_empty() {
        "no changes".to_owned()
    } else {
        changes.join(", ")
    }
}
