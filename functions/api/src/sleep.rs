//! `POST /environments/{name}/sleep` and `…/wake`: an `up` to the sleeping shape, or back
//! to the spec ([`strata_core::sleep`]), started like any operation; and the sleep part of
//! `GET /environments/{name}`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use strata_api_types::{NothingToDo, SleepView};
use strata_control::{Flows, SyncRequests, Trigger};
use strata_core::{Environment, EnvironmentState, EnvironmentStatus, Scope};
use strata_store::Store;

use crate::handlers::not_ready;
use crate::{Api, ApiError, Existing, respond};

use crate::ChangeSets;

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    /// Puts a Ready environment to sleep (`asleep`) or wakes it. One already so answers 200
    /// with nothing started.
    pub(crate) async fn sleep_or_wake(
        &self,
        name: &str,
        asleep: bool,
        caller: &str,
        now: u64,
    ) -> Result<Response<Body>, ApiError> {
        let trigger: fn(u64, u64) -> Trigger<'static> = if asleep {
            |generation, status_version| Trigger::Sleep {
                generation,
                status_version,
            }
        } else {
            |generation, status_version| Trigger::Wake {
                generation,
                status_version,
            }
        };
        let found = match self.existing(name, trigger, now).await? {
            Existing::Idle(found) => *found,
            Existing::Running(response) => return Ok(response),
        };
        let (word, done) = if asleep {
            ("sleep", "asleep")
        } else {
            ("wake", "awake")
        };
        if let Some(state) = not_ready(found.status.as_ref()) {
            return Err(ApiError::SleepRefused(format!(
                "environment {name} is {state}; only a Ready environment can {word} (apply it first)"
            )));
        }
        if found
            .status
            .as_ref()
            .is_some_and(|s| s.value.sleeping.is_some() == asleep)
        {
            return Ok(respond(
                StatusCode::OK,
                &NothingToDo {
                    environment: name.to_owned(),
                    generation: found.stored.generation,
                    state: EnvironmentState::Ready,
                    message: format!("already {done}; nothing to do"),
                },
            ));
        }
        let message = format!("{word} requested");
        self.start(name, &found, Scope::All, message, caller, now)
            .await
    }
}

/// The sleeping condition and what sleep saves.
pub(crate) fn view(env: &Environment, status: &EnvironmentStatus, now: u64) -> SleepView {
    let outlook = strata_core::sleep::outlook(env, now);
    SleepView {
        asleep_since: status.sleeping.map(|s| s.since),
        saves_per_month_asleep_usd: outlook.saves_per_month_asleep,
        scheduled_asleep_percent: outlook.scheduled_percent,
        schedule_saves_monthly_usd: outlook.schedule_saves,
    }
}
