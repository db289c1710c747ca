//! The active-runs index: one marker item per run in `pulling` or `applying`, written in the same
//! transaction as the state change that makes the run active or ends it, so the schedule's sweep
//! finds runs that stopped moving by reading one small partition, never by scanning every run.

use serde::{Deserialize, Serialize};

use super::{RunError, RunId, RunState, Runs, SyncRun};
use crate::domain::ids::ConnectorId;
use crate::ports::{Cond, Index, Item, Key, Query, TxOp};
use crate::store::{DirectoryError, PageOf, encode};

const ACTIVE_RUNS: &str = "ACTIVERUNS";

#[derive(Serialize, Deserialize)]
struct Marker {
    run_id: RunId,
    connector_id: ConnectorId,
}

fn marker_key(run: &RunId) -> Key {
    Key::new(ACTIVE_RUNS, format!("RUN#{run}"))
}

/// Whether a run in `state` has a marker: its steps are queued or running.
pub(super) fn is_active(state: RunState) -> bool {
    matches!(state, RunState::Pulling | RunState::Applying)
}

/// The marker write that goes with a run write moving from `old` to `new` (`None` before a
/// create), or `None` when the run stays active or stays inactive.
pub(super) fn marker_op(old: Option<RunState>, new: &SyncRun) -> Result<Option<TxOp>, RunError> {
    let was = old.is_some_and(is_active);
    Ok(match (was, is_active(new.state)) {
        (false, true) => {
            let marker = Marker {
                run_id: new.id.clone(),
                connector_id: new.connector_id.clone(),
            };
            Some(TxOp::Put {
                item: Item::new(marker_key(&new.id), 1, encode(&marker)?),
                cond: Cond::None,
            })
        }
        (true, false) => Some(TxOp::Delete {
            key: marker_key(&new.id),
            cond: Cond::None,
        }),
        _ => None,
    })
}

impl Runs {
    /// Runs in `pulling` or `applying`, a page at a time (in run id order, i.e. oldest first).
    /// One read of the markers' partition plus one read per active run: a handful per connector.
    pub async fn active(
        &self,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<SyncRun>, RunError> {
        let q = Query::partition(Index::Primary, ACTIVE_RUNS)
            .limit(limit.clamp(1, 1000))
            .after(cursor);
        let page = self.table.query(&q).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for item in &page.items {
            let marker: Marker = serde_json::from_value(item.data.clone()).map_err(|e| {
                DirectoryError::Corrupt(format!("{ACTIVE_RUNS} {}: {e}", item.key.sk))
            })?;
            // The marker moves with the state in one transaction; a run read after a concurrent
            // change may already be inactive, and is left out.
            if let Some(run) = self.get(&marker.run_id).await?
                && is_active(run.state)
            {
                items.push(run);
            }
        }
        Ok(PageOf {
            items,
            next: page.next,
        })
    }
}
