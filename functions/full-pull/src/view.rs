//! Loads the directory as the plan sees it (`DirectoryView`): the connector's mappings, every
//! unit's name and every account's unique values, paged, without holding whole accounts.

use std::collections::HashMap;

use dingbridge::dingtalk::{DeptId, DingUserId};
use dingbridge::domain::connector::Connector;
use dingbridge::domain::ids::{AccountId, OrgUnitId};
use dingbridge::domain::directory::OrgUnit;
use dingbridge::domain::pull::DirectoryView;
use dingbridge::store::DirectoryError;
use dingbridge::store::directory::Directory;
use dingbridge::store::mappings::{MappedKind, Mappings};

/// Items per store page while loading: large pages, few round trips.
const PAGE: usize = 1000;

/// Reads the view in three passes: units (all of them: names are unique under a parent for every
/// unit, mapped or not), the connector's mappings, then accounts (each seen once, only its plan
/// fields kept — 100,000 accounts stay within a 128 MB Lambda).
pub async fn load(
    directory: &Directory,
    mappings: &Mappings,
    connector: &Connector,
) -> Result<DirectoryView, DirectoryError> {
    let mut view = DirectoryView::new(connector.root_org_unit_id.clone());
    let mut units: HashMap<OrgUnitId, OrgUnit> = HashMap::new();
    let mut cursor = None;
    loop {
        let page = directory.org_units(PAGE, cursor).await?;
        for u in page.items {
            view.add_unit_name(&u);
            units.insert(u.id.clone(), u);
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    let mut cursor = None;
    loop {
        let page = mappings
            .of_connector(&connector.id, MappedKind::Dept, PAGE, cursor)
            .await?;
        for m in page.items {
            let (Ok(dept), Ok(unit)) = (DeptId::parse(&m.external_id), OrgUnitId::parse(&m.our_id))
            else {
                continue;
            };
            // A mapping whose unit is gone counts as none: the plan creates the unit again.
            if let Some(u) = units.get(&unit) {
                view.add_mapped_unit(dept, u);
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    drop(units);
    let mut users: HashMap<AccountId, DingUserId> = HashMap::new();
    let mut cursor = None;
    loop {
        let page = mappings
            .of_connector(&connector.id, MappedKind::User, PAGE, cursor)
            .await?;
        for m in page.items {
            if let (Ok(userid), Ok(account)) =
                (DingUserId::parse(m.external_id), AccountId::parse(&m.our_id))
            {
                users.insert(account, userid);
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    let mut cursor = None;
    loop {
        let page = directory.accounts(PAGE, cursor).await?;
        for a in page.items {
            match users.remove(&a.id) {
                Some(userid) => view.add_mapped_account(userid, &a),
                None => view.add_owner(&a),
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    Ok(view)
}
