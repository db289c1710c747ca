//! The mass-delete guard: an auto pull that would disable or delete too many accounts or units
//! waits for review instead (a narrowed contact scope must not empty the directory).

use super::PlanTotals;
use crate::connector::Connector;

/// The reason the run must wait for review, or `None` when the plan is within the connector's
/// limits. It trips when the accounts to disable/delete, or the units to remove, are more than
/// `mass_delete_max_share` of the connector's mapped accounts (resp. units), or more than
/// `mass_delete_max_count`. A plan that removes nothing never trips it.
pub fn guard(totals: &PlanTotals, connector: &Connector) -> Option<String> {
    let share = connector.mass_delete_max_share;
    let count = connector.mass_delete_max_count;
    let checks = [
        (
            "accounts",
            "disable or delete",
            totals.disables,
            totals.existing_accounts,
        ),
        (
            "org units",
            "remove",
            totals.unit_removals,
            totals.existing_units,
        ),
    ];
    let tripped: Vec<String> = checks
        .iter()
        .filter(|(_, _, gone, of)| {
            *gone > 0 && (*gone > count || (*of > 0 && (*gone as f64) > share * (*of as f64)))
        })
        .map(|(what, verb, gone, of)| {
            let pct = if *of > 0 {
                format!(" ({:.1}%)", (*gone as f64) * 100.0 / (*of as f64))
            } else {
                String::new()
            };
            format!("it would {verb} {gone} of the connector's {of} {what}{pct}")
        })
        .collect();
    if tripped.is_empty() {
        return None;
    }
    Some(format!(
        "mass-delete guard: {}, more than the limit ({:.0}% or {count}); review the run and \
         confirm it if this is intended",
        tripped.join(", and "),
        share * 100.0
    ))
}
