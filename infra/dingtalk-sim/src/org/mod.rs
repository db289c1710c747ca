//! The simulated organisation of one corp: departments (root id 1, protocol §3.3) and users
//! (§3.4), with the indexes the read APIs need. Writes live in `write`, wire renderings in `render`.

mod render;
mod saved;
mod write;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use render::Visible;
pub use saved::SavedOrg;
pub use write::{DeptInput, MAX_DEPTH, UserInput, mobile_is_valid, unionid_for};

/// The root department id (protocol §6).
pub const ROOT: i64 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dept {
    pub dept_id: i64,
    pub name: String,
    /// 0 for the root.
    pub parent_id: i64,
    pub order: i64,
    pub source_identifier: Option<String>,
    pub code: Option<String>,
    pub create_dept_group: bool,
    pub auto_add_user: bool,
    pub hide_dept: bool,
    pub manager_userids: Vec<String>,
    /// Child department ids in creation order.
    pub children: Vec<i64>,
    /// Direct members in entry order.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub userid: String,
    pub unionid: String,
    pub name: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub org_email: Option<String>,
    pub title: Option<String>,
    pub job_number: Option<String>,
    pub telephone: Option<String>,
    pub work_place: Option<String>,
    pub remark: Option<String>,
    pub hired_date: Option<i64>,
    pub active: bool,
    pub admin: bool,
    pub boss: bool,
    pub senior: bool,
    pub hide_mobile: bool,
    pub dept_id_list: Vec<i64>,
    /// Departments this user leads.
    pub leader_in_dept: Vec<i64>,
    pub manager_userid: Option<String>,
    /// A JSON object rendered as a string, as `topapi/v2/user/get` does.
    pub extension: Option<String>,
    pub avatar: Option<String>,
    pub state_code: String,
    /// Orders `entry_*` listings.
    pub entry_seq: u64,
    /// Orders `modify_*` listings.
    pub modified_seq: u64,
}

/// What changed, as the contact events of protocol §2.1 name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgEvent {
    UserAdd(String),
    UserModify(String),
    UserLeave(String),
    DeptCreate(i64),
    DeptModify(i64),
    DeptRemove(i64),
}

impl OrgEvent {
    pub fn tag(&self) -> &'static str {
        match self {
            Self::UserAdd(_) => "user_add_org",
            Self::UserModify(_) => "user_modify_org",
            Self::UserLeave(_) => "user_leave_org",
            Self::DeptCreate(_) => "org_dept_create",
            Self::DeptModify(_) => "org_dept_modify",
            Self::DeptRemove(_) => "org_dept_remove",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Org {
    pub corp_id: String,
    pub corp_name: String,
    pub depts: HashMap<i64, Dept>,
    pub users: HashMap<String, User>,
    #[serde(skip)]
    by_mobile: HashMap<String, String>,
    #[serde(skip)]
    by_unionid: HashMap<String, String>,
    #[serde(skip)]
    next_dept_id: i64,
    #[serde(skip)]
    seq: u64,
}

impl Org {
    pub fn new(corp_id: &str, corp_name: &str, first_dept_id: i64) -> Self {
        let root = Dept {
            dept_id: ROOT,
            name: corp_name.into(),
            parent_id: 0,
            order: 0,
            source_identifier: None,
            code: None,
            create_dept_group: true,
            auto_add_user: true,
            hide_dept: false,
            manager_userids: Vec::new(),
            children: Vec::new(),
            members: Vec::new(),
        };
        Self {
            corp_id: corp_id.into(),
            corp_name: corp_name.into(),
            depts: HashMap::from([(ROOT, root)]),
            users: HashMap::new(),
            by_mobile: HashMap::new(),
            by_unionid: HashMap::new(),
            next_dept_id: first_dept_id,
            seq: 0,
        }
    }

    pub fn dept(&self, id: i64) -> Option<&Dept> {
        self.depts.get(&id)
    }

    pub fn user(&self, userid: &str) -> Option<&User> {
        self.users.get(userid)
    }

    pub fn user_by_mobile(&self, mobile: &str) -> Option<&User> {
        self.by_mobile.get(mobile).and_then(|id| self.users.get(id))
    }

    pub fn user_by_unionid(&self, unionid: &str) -> Option<&User> {
        self.by_unionid
            .get(unionid)
            .and_then(|id| self.users.get(id))
    }

    /// `[self, parent, …, 1]`, as `listparentbydept` returns it.
    pub fn ancestors(&self, id: i64) -> Vec<i64> {
        let mut chain = Vec::new();
        let mut cursor = Some(id);
        while let Some(current) = cursor {
            if chain.contains(&current) {
                break;
            }
            chain.push(current);
            cursor = self
                .depts
                .get(&current)
                .map(|d| d.parent_id)
                .filter(|p| *p != 0);
        }
        chain
    }

    pub fn depth(&self, id: i64) -> usize {
        self.ancestors(id).len()
    }

    /// Children sorted as DingTalk lists them: by `order`, then creation.
    pub fn children(&self, id: i64) -> Vec<&Dept> {
        let Some(dept) = self.depts.get(&id) else {
            return Vec::new();
        };
        let mut kids: Vec<&Dept> = dept
            .children
            .iter()
            .filter_map(|c| self.depts.get(c))
            .collect();
        kids.sort_by_key(|d| d.order);
        kids
    }

    /// Whether `id` lies inside a contact scope given as a list of department roots.
    pub fn dept_in_scope(&self, id: i64, scope: &[i64]) -> bool {
        scope.contains(&ROOT) || self.ancestors(id).iter().any(|a| scope.contains(a))
    }

    pub fn user_in_scope(&self, user: &User, scope: &[i64]) -> bool {
        scope.contains(&ROOT)
            || user
                .dept_id_list
                .iter()
                .any(|d| self.dept_in_scope(*d, scope))
    }

    /// All departments below `id`, itself included (for `member_count`).
    pub fn subtree(&self, id: i64) -> Vec<i64> {
        let mut out = vec![id];
        let mut i = 0;
        while let Some(current) = out.get(i).copied() {
            if let Some(dept) = self.depts.get(&current) {
                out.extend(dept.children.iter().copied());
            }
            i += 1;
        }
        out
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}
