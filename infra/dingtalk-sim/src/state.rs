//! The whole simulated platform in memory: corps with their org and apps, runtime settings, and
//! the stores each concern owns (tokens, limits, faults, login codes, callbacks).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::callbacks::{CallbackStore, Delivery};
use crate::faults::Faults;
use crate::limits::Limits;
use crate::login::Login;
use crate::org::{Org, OrgEvent};
use crate::persist::Saver;
use crate::tokens::Tokens;

/// Permission names an app may hold (protocol §3.1; the contact-info ones gate mobile and email).
pub mod perm {
    pub const MEMBER: &str = "qyapi_get_member";
    pub const DEPT_LIST: &str = "qyapi_get_department_list";
    pub const DEPT_MEMBER: &str = "qyapi_get_department_member";
    pub const MANAGE: &str = "qyapi_manage_addresslist";
    pub const BY_MOBILE: &str = "qyapi_get_member_by_mobile";
    /// "企业员工手机号信息"
    pub const MOBILE: &str = "Contact.User.mobile";
    /// "邮箱等个人信息"
    pub const EMAIL: &str = "Contact.User.email";
    /// The new-API user profile (`/v1.0/contact/users/me`).
    pub const USER_READ: &str = "Contact.User.Read";

    pub const ALL: &[&str] = &[
        MEMBER,
        DEPT_LIST,
        DEPT_MEMBER,
        MANAGE,
        BY_MOBILE,
        MOBILE,
        EMAIL,
        USER_READ,
    ];
}

/// Which payload key casing events use (protocol §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeyCasing {
    /// `UserId`/`DeptId`/`TimeStamp`, query `signature=` (legacy `register_call_back`).
    #[default]
    Legacy,
    /// `userId`/`deptId`/`timeStamp` + `EventTime`/`eventId`, query `msg_signature=`.
    Current,
}

/// Settings the control API may change while running.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Settings {
    pub latency_ms: u64,
    /// 0 = unlimited.
    pub qps_per_api: u32,
    /// 0 = unlimited (DingTalk: 10,000 calls per 20 s per IP).
    pub ip_calls_per_20s: u32,
    pub token_ttl_secs: u64,
    /// Share of auth and permission failures wrapped as errcode 88 with `sub_code`.
    pub auth_88_share: f64,
    pub key_casing: KeyCasing,
    pub callback_time_scale: f64,
    pub callback_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppPolicy {
    /// `None` = no whitelist configured (every IP allowed).
    pub ip_whitelist: Option<Vec<String>>,
    pub permissions: HashSet<String>,
    /// Department roots of the contact scope; `[1]` = the whole org.
    pub contact_scope_depts: Vec<i64>,
    /// Login redirect URIs accepted by prefix (the console's 回调域名).
    pub redirect_uris: Vec<String>,
}

impl AppPolicy {
    pub fn open(redirect_uris: Vec<String>) -> Self {
        Self {
            ip_whitelist: None,
            permissions: perm::ALL.iter().map(|p| p.to_string()).collect(),
            contact_scope_depts: vec![crate::org::ROOT],
            redirect_uris,
        }
    }

    pub fn has(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }
}

pub struct App {
    pub app_key: String,
    pub app_secret: String,
    pub agent_id: i64,
    pub policy: RwLock<AppPolicy>,
}

pub struct Corp {
    pub corp_id: String,
    pub org: RwLock<Org>,
    pub apps: Vec<App>,
    pub callbacks: CallbackStore,
}

/// Which app of which corp a call acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppRef {
    pub corp: usize,
    pub app: usize,
}

pub struct SimState {
    pub settings: RwLock<Settings>,
    pub corps: Vec<Corp>,
    pub app_index: HashMap<String, AppRef>,
    pub tokens: Tokens,
    pub limits: Limits,
    pub faults: Faults,
    pub login: Login,
    pub delivery: Delivery,
    pub events: UnboundedSender<(usize, OrgEvent)>,
    /// Where the orgs are saved after each change (`SimConfig::state_file`).
    pub saver: Option<Saver>,
}

/// Reads through a poisoned lock: the data is plain values, a panic elsewhere leaves it usable.
pub fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SimState {
    pub fn settings(&self) -> Settings {
        *read(&self.settings)
    }

    pub fn app(&self, r: AppRef) -> Option<&App> {
        self.corps.get(r.corp)?.apps.get(r.app)
    }

    pub fn corp(&self, index: usize) -> Option<&Corp> {
        self.corps.get(index)
    }

    pub fn find_app(&self, app_key: &str) -> Option<(AppRef, &App)> {
        let r = *self.app_index.get(app_key)?;
        Some((r, self.app(r)?))
    }

    pub fn corp_index(&self, corp_id: Option<&str>) -> Option<usize> {
        match corp_id {
            None => (!self.corps.is_empty()).then_some(0),
            Some(id) => self.corps.iter().position(|c| c.corp_id == id),
        }
    }

    pub fn policy(&self, r: AppRef) -> AppPolicy {
        self.app(r)
            .map(|a| read(&a.policy).clone())
            .unwrap_or_else(|| AppPolicy::open(Vec::new()))
    }

    /// How many departments and users the corp's org holds.
    pub fn org_size(&self, corp: usize) -> Option<(usize, usize)> {
        let org = read(&self.corp(corp)?.org);
        Some((org.depts.len(), org.users.len()))
    }

    /// Queues contact events for delivery to the corp's registered callback (and the org's save).
    pub fn emit(&self, corp: usize, events: Vec<OrgEvent>) {
        if let Some(saver) = &self.saver
            && !events.is_empty()
        {
            saver.changed.notify_one();
        }
        for event in events {
            // The receiver lives as long as the server; a closed channel means shutdown.
            let _ = self.events.send((corp, event));
        }
    }
}
