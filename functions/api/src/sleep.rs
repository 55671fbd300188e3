//! `POST /environments/{name}/sleep` and `…/wake`: an `up` to the sleeping shape, or back
//! to the spec ([`strata_core::sleep`]), started like any operation; and the sleep part of
//! `GET /environments/{name}`.

use lambda_http::http::StatusCode;
use strata_api_types::{NothingToDo, SleepView};
use strata_core::{Environment, EnvironmentState, EnvironmentStatus, Scope};

use crate::handlers::{Decision, Found, not_ready};
use crate::{ApiError, respond};

/// Puts a Ready environment to sleep (`asleep`) or wakes it. One already so answers 200
/// with nothing started.
pub(crate) fn decide(name: &str, asleep: bool, found: &Found) -> Result<Decision, ApiError> {
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
        return Ok(Decision::Answer(respond(
            StatusCode::OK,
            &NothingToDo {
                environment: name.to_owned(),
                generation: found.stored.generation,
                state: EnvironmentState::Ready,
                message: format!("already {done}; nothing to do"),
            },
        )));
    }
    Ok(Decision::Start {
        scope: Scope::All,
        message: format!("{word} requested"),
    })
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
