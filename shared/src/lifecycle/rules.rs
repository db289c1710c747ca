//! The run state machine's decisions, as pure functions of the stored run: whether a confirm is
//! allowed, and which step a queued message takes. [`super::PullRuns`] and `full-pull` act on
//! them; the unit tests below pin them without a table or a queue.

use crate::domain::sync::ApplyScope;
use crate::store::runs::{RunId, RunKind, RunState, SyncRun};

/// Why a run cannot be confirmed (each answers 409 in the admin API, with this text).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A run that failed while applying resumes its accounts; its org units are already done.
    #[error("run {run} failed while applying; resume it with scope=accounts or all")]
    ResumeNeedsAccounts { run: RunId },
    #[error(
        "run {run} was superseded by run {newer}, a newer pull of this connector; review and \
         confirm that one instead"
    )]
    Superseded { run: RunId, newer: RunId },
    #[error(
        "run {run} is {state}; only a run awaiting review, or one that failed while applying, \
         can be confirmed"
    )]
    NotConfirmable { run: RunId, state: RunState },
    /// Applying a snapshot older than the connector's latest pull would undo newer changes.
    #[error("run {newer} is a newer pull of this connector; review and confirm that one instead")]
    NewerRun { newer: RunId },
    /// Run-level problems (e.g. the default password breaks the policy) hold the accounts.
    #[error("run {run} cannot be confirmed: {}", problems.join("; "))]
    Blocking { run: RunId, problems: Vec<String> },
    /// An accounts confirm needs every org unit of its accounts in the directory.
    #[error(
        "{} org unit(s) of this run's accounts are not in the directory yet ({}); confirm the \
         org units first (scope=org_units), or confirm all",
        units.len(), shown(units)
    )]
    MissingUnits { units: Vec<String> },
    /// A push run is applied whole: its departments and users go to DingTalk together, parents
    /// first.
    #[error("run {run} is a push; confirm it with scope=all (the default)")]
    PushScope { run: RunId },
}

/// The first five names, then an ellipsis.
fn shown(units: &[String]) -> String {
    let mut text = units
        .iter()
        .take(5)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if units.len() > 5 {
        text.push_str(", …");
    }
    text
}

/// Whether `run` may be confirmed with `scope`, given the connector's `latest` run (newest
/// first; `None` when the list is empty). The org units a confirm of accounts needs are checked
/// apart ([`units_present`]): finding them reads every row.
pub fn confirmable(
    run: &SyncRun,
    scope: ApplyScope,
    latest: Option<&SyncRun>,
) -> Result<(), Refusal> {
    if run.kind == RunKind::Push && scope != ApplyScope::All {
        return Err(Refusal::PushScope {
            run: run.id.clone(),
        });
    }
    if run.resumable() {
        // The apply is idempotent and continues from its checkpoint.
        if scope == ApplyScope::OrgUnits {
            return Err(Refusal::ResumeNeedsAccounts {
                run: run.id.clone(),
            });
        }
    } else if run.state != RunState::AwaitingReview {
        return Err(match &run.superseded_by {
            Some(newer) => Refusal::Superseded {
                run: run.id.clone(),
                newer: newer.clone(),
            },
            None => Refusal::NotConfirmable {
                run: run.id.clone(),
                state: run.state,
            },
        });
    }
    if let Some(newer) = latest
        .filter(|l| l.id != run.id && !matches!(l.state, RunState::Discarded | RunState::Failed))
    {
        return Err(Refusal::NewerRun {
            newer: newer.id.clone(),
        });
    }
    // Blocking problems concern the accounts (the default password): org units may go first.
    if scope != ApplyScope::OrgUnits && !run.blocking.is_empty() {
        return Err(Refusal::Blocking {
            run: run.id.clone(),
            problems: run.blocking.clone(),
        });
    }
    Ok(())
}

/// The rest of an accounts confirm's check: `missing` names the org units of its accounts that
/// are not in the directory.
pub fn units_present(missing: Vec<String>) -> Result<(), Refusal> {
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Refusal::MissingUnits { units: missing })
    }
}

/// What a queued step of a run does, by the run's stored state and the message's scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Walk DingTalk (or resume the walk), then review, or apply at once in auto mode.
    Walk,
    /// Apply the staged org units of a run that stays awaiting review for its accounts.
    OrgUnitsOnly,
    /// Apply (or resume applying) a confirmed run.
    Apply,
    /// Nothing: the run is final, or in a state this message does not move.
    Idle,
}

pub fn step_for(state: RunState, scope: ApplyScope) -> Step {
    match (state, scope) {
        (RunState::Pulling, _) => Step::Walk,
        (RunState::AwaitingReview, ApplyScope::OrgUnits) => Step::OrgUnitsOnly,
        // An org-units message that arrives after a later confirm moved the run to applying is
        // stale: that confirm's own message applies the units, and must be the one that
        // finishes.
        (RunState::Applying, ApplyScope::OrgUnits) => Step::Idle,
        (RunState::Applying, _) => Step::Apply,
        _ => Step::Idle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::ConnectorId;

    fn run(state: RunState) -> SyncRun {
        SyncRun {
            state,
            ..SyncRun::new(&ConnectorId::generate(), RunKind::Pull, 0)
        }
    }

    const SCOPES: [ApplyScope; 3] = [ApplyScope::OrgUnits, ApplyScope::Accounts, ApplyScope::All];

    #[test]
    fn a_run_awaiting_review_is_confirmable_in_every_scope() {
        let r = run(RunState::AwaitingReview);
        for scope in SCOPES {
            assert_eq!(confirmable(&r, scope, Some(&r)), Ok(()), "{scope:?}");
            assert_eq!(confirmable(&r, scope, None), Ok(()), "{scope:?}");
        }
    }

    #[test]
    fn runs_pulling_applying_done_or_discarded_are_not_confirmable() {
        for state in [
            RunState::Pulling,
            RunState::Applying,
            RunState::Done,
            RunState::Discarded,
            RunState::Failed,
        ] {
            let r = run(state);
            let refused = confirmable(&r, ApplyScope::All, None).unwrap_err();
            assert_eq!(
                refused,
                Refusal::NotConfirmable {
                    run: r.id.clone(),
                    state
                }
            );
            assert!(refused.to_string().contains(state.as_str()), "{refused}");
        }
    }

    #[test]
    fn a_superseded_run_names_the_run_that_replaced_it() {
        let mut r = run(RunState::Discarded);
        let newer = RunId::generate();
        r.superseded_by = Some(newer.clone());
        let refused = confirmable(&r, ApplyScope::All, None).unwrap_err();
        assert_eq!(
            refused,
            Refusal::Superseded {
                run: r.id.clone(),
                newer: newer.clone()
            }
        );
        assert!(refused.to_string().contains(newer.as_str()));
    }

    #[test]
    fn a_run_failed_while_applying_resumes_its_accounts_not_its_org_units() {
        let mut r = run(RunState::Failed);
        r.failed_during = Some(RunState::Applying);
        assert_eq!(confirmable(&r, ApplyScope::Accounts, Some(&r)), Ok(()));
        assert_eq!(confirmable(&r, ApplyScope::All, None), Ok(()));
        assert_eq!(
            confirmable(&r, ApplyScope::OrgUnits, None),
            Err(Refusal::ResumeNeedsAccounts { run: r.id.clone() })
        );
        // Failed while pulling: nothing to resume.
        r.failed_during = Some(RunState::Pulling);
        assert!(matches!(
            confirmable(&r, ApplyScope::All, None),
            Err(Refusal::NotConfirmable { .. })
        ));
    }

    #[test]
    fn a_newer_live_pull_refuses_the_confirm_of_an_older_one() {
        let older = run(RunState::AwaitingReview);
        for state in [
            RunState::Pulling,
            RunState::AwaitingReview,
            RunState::Applying,
            RunState::Done,
        ] {
            let newer = run(state);
            assert_eq!(
                confirmable(&older, ApplyScope::All, Some(&newer)),
                Err(Refusal::NewerRun {
                    newer: newer.id.clone()
                }),
                "{state:?}"
            );
        }
        // A newer pull that failed or was discarded leaves the older snapshot the latest.
        for state in [RunState::Failed, RunState::Discarded] {
            let newer = run(state);
            assert_eq!(confirmable(&older, ApplyScope::All, Some(&newer)), Ok(()));
        }
    }

    #[test]
    fn blocking_problems_hold_the_accounts_but_not_the_org_units() {
        let mut r = run(RunState::AwaitingReview);
        r.blocking = vec!["the default password is too short".to_owned()];
        assert_eq!(confirmable(&r, ApplyScope::OrgUnits, None), Ok(()));
        for scope in [ApplyScope::Accounts, ApplyScope::All] {
            let refused = confirmable(&r, scope, None).unwrap_err();
            assert!(matches!(refused, Refusal::Blocking { .. }));
            assert!(
                refused
                    .to_string()
                    .ends_with("cannot be confirmed: the default password is too short")
            );
        }
    }

    #[test]
    fn missing_org_units_are_named_up_to_five() {
        assert_eq!(units_present(Vec::new()), Ok(()));
        let two = units_present(vec!["Sales (department 2)".into(), "department 3".into()]);
        assert_eq!(
            two.unwrap_err().to_string(),
            "2 org unit(s) of this run's accounts are not in the directory yet (Sales \
             (department 2), department 3); confirm the org units first (scope=org_units), or \
             confirm all"
        );
        let seven = units_present((1..=7).map(|d| format!("department {d}")).collect());
        let text = seven.unwrap_err().to_string();
        assert!(text.starts_with("7 org unit(s)"), "{text}");
        assert!(text.contains("department 5, …)"), "{text}");
        assert!(!text.contains("department 6"), "{text}");
    }

    #[test]
    fn each_state_and_scope_takes_its_step() {
        use ApplyScope::*;
        use RunState::*;
        let expected = [
            (Pulling, OrgUnits, Step::Walk),
            (Pulling, Accounts, Step::Walk),
            (Pulling, All, Step::Walk),
            (AwaitingReview, OrgUnits, Step::OrgUnitsOnly),
            (AwaitingReview, Accounts, Step::Idle),
            (AwaitingReview, All, Step::Idle),
            (Applying, OrgUnits, Step::Idle),
            (Applying, Accounts, Step::Apply),
            (Applying, All, Step::Apply),
        ];
        for (state, scope, step) in expected {
            assert_eq!(step_for(state, scope), step, "{state:?} {scope:?}");
        }
        for state in [Done, Failed, Discarded] {
            for scope in SCOPES {
                assert_eq!(step_for(state, scope), Step::Idle, "{state:?} {scope:?}");
            }
        }
    }
}
