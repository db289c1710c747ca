//! The `DingTalk` port: every DingTalk call that jobs J1–J5 need, in domain terms. `HttpDingTalk` is
//! the real implementation; tests point it at the simulator. Listings are streams built over the
//! page calls, so every implementation pages the same way (and checkpointing callers use the pages).

use crate::domain::dingtalk::{
    AppToken, CallbackRegistration, CreatedUser, DepartmentPatch, DeptId, DingApp, DingDepartment,
    DingProfile, DingUser, DingUserId, DingUserRef, FailedEvent, MicroAppUser, NewDepartment,
    NewUser, Page, SecretString, SnsUser, TokenSource, UnionIdMatch, UserPatch, UserToken,
};
use crate::domain::dingtalk::{DingTalkError, ErrorCode, ErrorKind};
use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// DingTalk's maximum page size for user listings (§3.4, §6).
pub const MAX_PAGE_SIZE: u32 = 100;

#[async_trait]
pub trait DingTalk: Send + Sync {
    // --- tokens (§3.2) ---

    /// An uncached token straight from DingTalk: "test connection", and proof the credentials work.
    async fn fetch_app_token(
        &self,
        app: &DingApp,
        source: TokenSource,
    ) -> Result<AppToken, DingTalkError>;

    // --- departments (§3.3) ---

    /// Direct children of `parent` (`listsub`; limited to the app's contact scope).
    async fn list_sub_departments(
        &self,
        app: &DingApp,
        parent: DeptId,
    ) -> Result<Vec<DingDepartment>, DingTalkError>;
    /// Ids of the direct children of `parent` (`listsubid`).
    async fn list_sub_department_ids(
        &self,
        app: &DingApp,
        parent: DeptId,
    ) -> Result<Vec<DeptId>, DingTalkError>;
    async fn get_department(
        &self,
        app: &DingApp,
        id: DeptId,
    ) -> Result<DingDepartment, DingTalkError>;
    async fn create_department(
        &self,
        app: &DingApp,
        dept: &NewDepartment,
    ) -> Result<DeptId, DingTalkError>;
    async fn update_department(
        &self,
        app: &DingApp,
        patch: &DepartmentPatch,
    ) -> Result<(), DingTalkError>;
    async fn delete_department(&self, app: &DingApp, id: DeptId) -> Result<(), DingTalkError>;
    /// `[id, parent, …, 1]` (`listparentbydept`).
    async fn list_parent_departments(
        &self,
        app: &DingApp,
        id: DeptId,
    ) -> Result<Vec<DeptId>, DingTalkError>;

    // --- users (§3.4) ---

    /// One page of `user/list`: direct members of `dept` with full records.
    async fn list_users_page(
        &self,
        app: &DingApp,
        dept: DeptId,
        cursor: u64,
        size: u32,
    ) -> Result<Page<DingUser>, DingTalkError>;
    /// One page of `user/listsimple`.
    async fn list_simple_users_page(
        &self,
        app: &DingApp,
        dept: DeptId,
        cursor: u64,
        size: u32,
    ) -> Result<Page<DingUserRef>, DingTalkError>;
    /// All userids directly in `dept` (`user/listid`, unpaged).
    async fn list_user_ids(
        &self,
        app: &DingApp,
        dept: DeptId,
    ) -> Result<Vec<DingUserId>, DingTalkError>;
    async fn get_user(&self, app: &DingApp, id: &DingUserId) -> Result<DingUser, DingTalkError>;
    /// `get_user` with the user's `extension` attributes (custom fields), which the push compares.
    async fn get_user_with_extension(
        &self,
        app: &DingApp,
        id: &DingUserId,
    ) -> Result<(DingUser, BTreeMap<String, String>), DingTalkError>;
    async fn create_user(
        &self,
        app: &DingApp,
        user: &NewUser,
    ) -> Result<CreatedUser, DingTalkError>;
    async fn update_user(&self, app: &DingApp, patch: &UserPatch) -> Result<(), DingTalkError>;
    async fn delete_user(&self, app: &DingApp, id: &DingUserId) -> Result<(), DingTalkError>;
    async fn user_id_by_mobile(
        &self,
        app: &DingApp,
        mobile: &str,
    ) -> Result<DingUserId, DingTalkError>;
    /// `getbyunionid`: 60121 (`ErrorKind::NotFound`) means not a member of this org.
    async fn user_by_unionid(
        &self,
        app: &DingApp,
        unionid: &str,
    ) -> Result<UnionIdMatch, DingTalkError>;
    async fn count_users(&self, app: &DingApp, only_active: bool) -> Result<u64, DingTalkError>;

    // --- legacy callback registration (§2.3, §1.6) ---

    async fn register_callback(
        &self,
        app: &DingApp,
        registration: &CallbackRegistration,
    ) -> Result<(), DingTalkError>;
    async fn update_callback(
        &self,
        app: &DingApp,
        registration: &CallbackRegistration,
    ) -> Result<(), DingTalkError>;
    async fn get_callback(&self, app: &DingApp) -> Result<CallbackRegistration, DingTalkError>;
    async fn delete_callback(&self, app: &DingApp) -> Result<(), DingTalkError>;
    /// One read of the failed-event list. Reading clears what it returned: persist before processing.
    async fn failed_events_page(
        &self,
        app: &DingApp,
    ) -> Result<crate::domain::dingtalk::FailedEventBatch, DingTalkError>;

    // --- login (§4) ---

    /// Exchanges an OAuth2 `authCode` (single use) for a user token.
    async fn user_access_token(
        &self,
        app: &DingApp,
        auth_code: &str,
    ) -> Result<UserToken, DingTalkError>;
    /// `GET /v1.0/contact/users/me` with a user token.
    async fn current_user(
        &self,
        app: &DingApp,
        user_token: &SecretString,
    ) -> Result<DingProfile, DingTalkError>;
    /// Legacy QR login: `sns/getuserinfo_bycode` signed with HMAC-SHA256 (§4.2).
    async fn sns_user_by_code(
        &self,
        app: &DingApp,
        tmp_auth_code: &str,
    ) -> Result<SnsUser, DingTalkError>;
    /// Micro-app free login: `topapi/v2/user/getuserinfo` (code: 5 minutes, single use; §4.3).
    async fn micro_app_user(
        &self,
        app: &DingApp,
        code: &str,
    ) -> Result<MicroAppUser, DingTalkError>;

    // --- streams over the pages ---

    /// Every direct member of `dept`, paging `user/list` 100 at a time until `has_more` is false.
    fn users<'a>(
        &'a self,
        app: &'a DingApp,
        dept: DeptId,
    ) -> BoxStream<'a, Result<DingUser, DingTalkError>> {
        paged(move |cursor| self.list_users_page(app, dept, cursor, MAX_PAGE_SIZE))
    }

    /// Every direct member of `dept` as `(userid, name)`, paging `user/listsimple`.
    fn simple_users<'a>(
        &'a self,
        app: &'a DingApp,
        dept: DeptId,
    ) -> BoxStream<'a, Result<DingUserRef, DingTalkError>> {
        paged(move |cursor| self.list_simple_users_page(app, dept, cursor, MAX_PAGE_SIZE))
    }

    /// Drains the failed-event list while `has_more`.
    fn failed_events<'a>(
        &'a self,
        app: &'a DingApp,
    ) -> BoxStream<'a, Result<FailedEvent, DingTalkError>> {
        stream::try_unfold(true, move |more| async move {
            if !more {
                return Ok(None);
            }
            let batch = self.failed_events_page(app).await?;
            let more = batch.has_more && !batch.events.is_empty();
            Ok(Some((stream::iter(batch.events.into_iter().map(Ok)), more)))
        })
        .try_flatten()
        .boxed()
    }

    /// Every department below `root` (not `root` itself), breadth-first, parents before children.
    fn departments_under<'a>(
        &'a self,
        app: &'a DingApp,
        root: DeptId,
    ) -> BoxStream<'a, Result<DingDepartment, DingTalkError>> {
        let state = (VecDeque::from([root]), HashSet::from([root]));
        stream::try_unfold(state, move |(mut queue, mut seen)| async move {
            let Some(parent) = queue.pop_front() else {
                return Ok(None);
            };
            let children = self.list_sub_departments(app, parent).await?;
            // A cycle in the answer would otherwise loop forever.
            let children: Vec<_> = children.into_iter().filter(|d| seen.insert(d.id)).collect();
            queue.extend(children.iter().map(|d| d.id));
            Ok(Some((
                stream::iter(children.into_iter().map(Ok)),
                (queue, seen),
            )))
        })
        .try_flatten()
        .boxed()
    }
}

/// Pages a cursor listing; a cursor that does not advance is a protocol error, not a loop.
fn paged<'a, T, F, Fut>(fetch: F) -> BoxStream<'a, Result<T, DingTalkError>>
where
    T: Send + 'a,
    F: Fn(u64) -> Fut + Send + 'a,
    Fut: std::future::Future<Output = Result<Page<T>, DingTalkError>> + Send + 'a,
{
    stream::try_unfold((Some(0u64), fetch), |(cursor, fetch)| async move {
        let Some(cursor) = cursor else {
            return Ok(None);
        };
        let page = fetch(cursor).await?;
        if page.next_cursor.is_some_and(|next| next <= cursor) {
            return Err(DingTalkError::new(
                "pagination",
                ErrorKind::Unavailable,
                ErrorCode::Malformed,
                format!("cursor did not advance past {cursor}"),
            ));
        }
        Ok(Some((
            stream::iter(page.items.into_iter().map(Ok)),
            (page.next_cursor, fetch),
        )))
    })
    .try_flatten()
    .boxed()
}
