//! An org as written to a file and read back: every department and user with the counters that
//! make the next ids, so a restarted simulator continues the same org with the same ids.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Dept, Org, User};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedOrg {
    pub corp_id: String,
    pub corp_name: String,
    pub depts: Vec<Dept>,
    pub users: Vec<User>,
    pub next_dept_id: i64,
    pub seq: u64,
}

impl Org {
    pub fn saved(&self) -> SavedOrg {
        let mut depts: Vec<Dept> = self.depts.values().cloned().collect();
        depts.sort_by_key(|d| d.dept_id);
        let mut users: Vec<User> = self.users.values().cloned().collect();
        users.sort_by_key(|u| u.entry_seq);
        SavedOrg {
            corp_id: self.corp_id.clone(),
            corp_name: self.corp_name.clone(),
            depts,
            users,
            next_dept_id: self.next_dept_id,
            seq: self.seq,
        }
    }

    /// The org `saved` describes, its lookup indexes rebuilt. Users are indexed in entry order,
    /// so a mobile shared by dirty rows resolves to the same (first) user as before.
    pub fn restore(saved: SavedOrg) -> Self {
        let mut users = saved.users;
        users.sort_by_key(|u| u.entry_seq);
        let mut org = Self {
            corp_id: saved.corp_id,
            corp_name: saved.corp_name,
            depts: saved.depts.into_iter().map(|d| (d.dept_id, d)).collect(),
            users: HashMap::new(),
            by_mobile: HashMap::new(),
            by_unionid: HashMap::new(),
            next_dept_id: saved.next_dept_id,
            seq: saved.seq,
        };
        for user in users {
            if let Some(mobile) = &user.mobile {
                org.by_mobile
                    .entry(mobile.clone())
                    .or_insert_with(|| user.userid.clone());
            }
            org.by_unionid
                .insert(user.unionid.clone(), user.userid.clone());
            org.users.insert(user.userid.clone(), user);
        }
        org
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{OrgSpec, generate};

    #[test]
    fn a_restored_org_has_the_same_ids_lookups_and_next_ids() {
        let spec = OrgSpec {
            seed: 3,
            corp_id: "dingcorp".into(),
            users: 30,
            depts: 6,
            dirty_share: 0.2,
            dirty_mobiles: true,
            big_depts: None,
        };
        let mut org = generate(&spec);
        let json = serde_json::to_string(&org.saved()).unwrap();
        let mut back = Org::restore(serde_json::from_str(&json).unwrap());
        assert_eq!(back.saved().depts.len(), org.depts.len());
        for user in org.users.values() {
            assert_eq!(back.user(&user.userid).unwrap().name, user.name);
            assert_eq!(
                back.user_by_unionid(&user.unionid).unwrap().userid,
                user.userid
            );
            if let Some(m) = &user.mobile {
                assert_eq!(
                    back.user_by_mobile(m).map(|u| &u.userid),
                    org.user_by_mobile(m).map(|u| &u.userid)
                );
            }
        }
        assert_eq!(back.children(1).len(), org.children(1).len());
        assert_eq!(back.next_seq(), org.next_seq());
        assert_eq!(back.next_dept_id, org.next_dept_id);
    }
}
