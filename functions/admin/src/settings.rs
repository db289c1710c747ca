//! Deployment settings the admin edits: the password policy that connector default passwords
//! (checked at save) and portal passwords must meet.

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Router};
use dingbridge::domain::password::PasswordPolicy;
use dingbridge::store::Actor;
use dingbridge::web::{ApiError, FieldProblem, Json};
use serde::Deserialize;

use crate::Admin;

/// Longer minimums lock people out rather than protect them.
const MAX_MIN_LENGTH: usize = 128;
/// Ten years: a longer maximum age is no maximum.
const MAX_AGE_DAYS: u32 = 3650;

pub(crate) fn routes() -> Router<Admin> {
    Router::new().route(
        "/settings/password-policy",
        get(read).put(update).patch(update),
    )
}

/// A change to the policy: absent fields keep their value; unknown fields are refused, so a
/// misspelt rule is not silently ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyInput {
    min_length: Option<usize>,
    require_lower: Option<bool>,
    require_upper: Option<bool>,
    require_digit: Option<bool>,
    require_symbol: Option<bool>,
    change_default_at_first_login: Option<bool>,
    /// Days a password lives; 0 = no maximum age.
    max_age_days: Option<u32>,
}

async fn read(State(admin): State<Admin>) -> Result<Json<PasswordPolicy>, ApiError> {
    Ok(Json(admin.settings.password_policy().await?))
}

async fn update(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Json(input): Json<PolicyInput>,
) -> Result<Json<PasswordPolicy>, ApiError> {
    let current = admin.settings.password_policy().await?;
    let policy = PasswordPolicy {
        min_length: input.min_length.unwrap_or(current.min_length),
        require_lower: input.require_lower.unwrap_or(current.require_lower),
        require_upper: input.require_upper.unwrap_or(current.require_upper),
        require_digit: input.require_digit.unwrap_or(current.require_digit),
        require_symbol: input.require_symbol.unwrap_or(current.require_symbol),
        change_default_at_first_login: input
            .change_default_at_first_login
            .unwrap_or(current.change_default_at_first_login),
        max_age_days: match input.max_age_days {
            None => current.max_age_days,
            Some(0) => None,
            Some(days) => Some(days),
        },
    };
    let mut problems = Vec::new();
    if !(1..=MAX_MIN_LENGTH).contains(&policy.min_length) {
        problems.push(FieldProblem::new(
            "min_length",
            format!("must be from 1 to {MAX_MIN_LENGTH}"),
        ));
    }
    if policy.max_age_days.is_some_and(|d| d > MAX_AGE_DAYS) {
        problems.push(FieldProblem::new(
            "max_age_days",
            format!("must be from 0 (no maximum age) to {MAX_AGE_DAYS}"),
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::InvalidFields(problems));
    }
    admin.settings.set_password_policy(&policy, &actor).await?;
    Ok(Json(policy))
}
