//! Loads the [`DirectoryView`] a pull plans against: the connector's mappings first, then one pass
//! over every unit and every account (pages of 1,000), keeping only what the plan compares.

use std::collections::HashMap;

use crate::dingtalk::{DeptId, DingUserId};
use crate::domain::connector::Connector;
use crate::domain::pull::DirectoryView;
use crate::store::DirectoryError;
use crate::store::directory::Directory;
use crate::store::mappings::{MappedKind, Mappings};

const PAGE: usize = 1000;

/// Every mapping of one kind of the connector, as our id → external id.
async fn mapped(
    mappings: &Mappings,
    connector: &Connector,
    kind: MappedKind,
) -> Result<HashMap<String, String>, DirectoryError> {
    let mut out = HashMap::new();
    let mut cursor = None;
    loop {
        let page = mappings
            .of_connector(&connector.id, kind, PAGE, cursor)
            .await?;
        out.extend(page.items.into_iter().map(|m| (m.our_id, m.external_id)));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// The directory as the connector's plan sees it. Mappings whose entity is gone are left out (the
/// reconciler drops them when it meets them).
pub async fn load_view(
    directory: &Directory,
    mappings: &Mappings,
    connector: &Connector,
) -> Result<DirectoryView, DirectoryError> {
    let mut view = DirectoryView::new(connector.root_org_unit_id.clone());
    let units = mapped(mappings, connector, MappedKind::Dept).await?;
    let mut cursor = None;
    loop {
        let page = directory.org_units(PAGE, cursor).await?;
        for u in &page.items {
            match units.get(u.id.as_str()).and_then(|d| DeptId::parse(d).ok()) {
                Some(dept) => view.add_mapped_unit(dept, u),
                None => view.add_unit_name(u),
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    drop(units);
    let users = mapped(mappings, connector, MappedKind::User).await?;
    let mut cursor = None;
    loop {
        let page = directory.accounts(PAGE, cursor).await?;
        for a in &page.items {
            match users
                .get(a.id.as_str())
                .and_then(|u| DingUserId::parse(u.as_str()).ok())
            {
                Some(userid) => view.add_mapped_account(userid, a),
                None => view.add_owner(a),
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    view.seal();
    Ok(view)
}
