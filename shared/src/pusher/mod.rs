//! The push of one directory entity to one connector's DingTalk, as a library: the push worker
//! calls it for each queued change, and `full-pull`'s push runs (initial push, re-sync) plan with
//! it as a dry run and apply with it. The directory and the connector are re-read (they are the
//! truth) and DingTalk is made to match: departments created with our id as `source_identifier`,
//! users under a userid derived from the account id, only the fields that differ written, DingTalk's
//! ids written back to the mappings.

mod accounts;
mod failure;
mod plan;
mod scope;
mod units;
mod writes;

use std::sync::Arc;

pub use accounts::userid_for;
pub use failure::{Blocked, store};
pub use plan::Context;
pub use writes::DryPlan;

use crate::dingtalk::DingTalk;
use crate::domain::connector::Connector;
use crate::domain::ids::ConnectorId;
use crate::ports::{Clock, Table};
use crate::secrets::SecretBox;
use crate::store::connectors::Connectors;
use crate::store::directory::Directory;
use crate::store::link_requests::LinkRequests;
use crate::store::mappings::Mappings;

/// What pushing one entity did; every variant settles its outbox item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    Created,
    /// Linked to what DingTalk already had: a department our earlier create left unmapped, or a
    /// user with the account's mobile (link mode `mapping`).
    Linked,
    Updated,
    /// DingTalk already matched; nothing was written.
    Unchanged,
    Deleted,
    /// Moved to the holding department (delete policy `move`).
    Moved,
    /// Left as it is (delete policy `keep`).
    Kept,
    /// Outside the pushed subtree (or disabled) and never pushed: nothing to do.
    Absent,
    /// The push root itself, which stands for an existing DingTalk department.
    Root,
    /// The connector is gone or does not push.
    Off,
    /// The outbox holds no pending item for this change: settled or replaced already.
    Stale,
}

impl Done {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Linked => "linked",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Deleted => "deleted",
            Self::Moved => "moved",
            Self::Kept => "kept",
            Self::Absent => "absent",
            Self::Root => "root",
            Self::Off => "off",
            Self::Stale => "stale",
        }
    }
}

/// What a push reads and writes: the directory, the connectors, the mappings, the link requests
/// and DingTalk.
#[derive(Clone)]
pub struct Pusher {
    pub connectors: Connectors,
    pub directory: Directory,
    pub mappings: Mappings,
    pub link_requests: LinkRequests,
    pub dingtalk: Arc<dyn DingTalk>,
}

impl Pusher {
    pub fn new(
        table: Arc<dyn Table>,
        dingtalk: Arc<dyn DingTalk>,
        clock: Arc<dyn Clock>,
        secrets: SecretBox,
    ) -> Self {
        Self {
            connectors: Connectors::new(table.clone(), clock.clone(), secrets),
            directory: Directory::new(table.clone(), clock.clone()),
            mappings: Mappings::new(table.clone()),
            link_requests: LinkRequests::new(table, clock),
            dingtalk,
        }
    }

    /// The connector, when it exists and pushes.
    async fn connector(&self, id: &ConnectorId) -> Result<Option<Connector>, Blocked> {
        match self.connectors.get(id).await {
            Ok(Some(c)) if c.push.push_enabled => Ok(Some(c)),
            Ok(Some(_)) => {
                tracing::info!(connector_id = %id, "the connector does not push; nothing to do");
                Ok(None)
            }
            Ok(None) => {
                tracing::info!(connector_id = %id, "the connector is gone; nothing to push");
                Ok(None)
            }
            Err(e) => Err(store(e, "reading the connector")),
        }
    }
}
