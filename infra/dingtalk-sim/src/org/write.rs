//! Writes to the org with DingTalk's rules and codes: department names (§6: 1–64 chars, no `-`,
//! `，` or `,`, unique per parent), mobile required, unique and not changeable through
//! `user/update` (41054), userid unique (§3.3, §3.4, §5.3).

use sha2::{Digest, Sha256};

use super::{Dept, Org, OrgEvent, ROOT, User};
use crate::envelope::DingError;

/// DingTalk enforces a depth limit (60002) without documenting it (§6, UNCONFIRMED); 15 here.
pub const MAX_DEPTH: usize = 15;
/// `dept_id_list` per user (§6).
const MAX_USER_DEPTS: usize = 100;

/// Fields of `topapi/v2/department/create|update`; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct DeptInput {
    pub name: Option<String>,
    pub parent_id: Option<i64>,
    pub order: Option<i64>,
    pub source_identifier: Option<String>,
    pub code: Option<String>,
    pub create_dept_group: Option<bool>,
    pub auto_add_user: Option<bool>,
    pub hide_dept: Option<bool>,
    pub manager_userids: Option<Vec<String>>,
}

/// Fields of `topapi/v2/user/create|update`; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct UserInput {
    pub userid: Option<String>,
    pub name: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub org_email: Option<String>,
    pub title: Option<String>,
    pub job_number: Option<String>,
    pub telephone: Option<String>,
    pub work_place: Option<String>,
    pub remark: Option<String>,
    pub hired_date: Option<i64>,
    pub dept_id_list: Option<Vec<i64>>,
    pub manager_userid: Option<String>,
    pub extension: Option<String>,
    pub senior: Option<bool>,
    pub hide_mobile: Option<bool>,
}

fn check_dept_name(name: &str) -> Result<(), DingError> {
    let chars = name.chars().count();
    if chars == 0 || chars > 64 {
        return Err(DingError::new(60001, "无效的部门名称"));
    }
    if name.contains(['-', '，', ',']) {
        return Err(DingError::new(60009, "部门名称含有非法字符"));
    }
    Ok(())
}

fn check_user_name(name: &str) -> Result<(), DingError> {
    let chars = name.trim().chars().count();
    if chars == 0 || chars > 80 {
        return Err(DingError::new(60112, "用户姓名非法"));
    }
    Ok(())
}

/// Mainland numbers are plain digits; others `+xx-xxxxxx` (§6).
pub fn mobile_is_valid(mobile: &str) -> bool {
    let digits = mobile.strip_prefix('+').unwrap_or(mobile);
    (5..=20).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && digits.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

fn check_email(email: &str) -> Result<(), DingError> {
    let valid = email.chars().count() <= 50
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
    if valid {
        Ok(())
    } else {
        Err(DingError::new(60105, "邮箱不合法"))
    }
}

/// A stable unionid for a user of this corp (same developer org → same unionid, §3.4).
pub fn unionid_for(corp_id: &str, userid: &str) -> String {
    let digest = Sha256::digest(format!("{corp_id}/{userid}").as_bytes());
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out: String = digest
        .iter()
        .take(22)
        .map(|b| alphabet[(*b as usize) % alphabet.len()] as char)
        .collect();
    out.push_str("iEiE");
    out
}

impl Org {
    pub fn create_dept(&mut self, input: DeptInput) -> Result<(i64, Vec<OrgEvent>), DingError> {
        let name = input
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or(DingError::missing("name"))?;
        let parent = input.parent_id.ok_or(DingError::missing("parent_id"))?;
        check_dept_name(&name)?;
        if !self.depts.contains_key(&parent) {
            return Err(DingError::new(60004, "父部门不存在"));
        }
        if self.depth(parent) + 1 > MAX_DEPTH {
            return Err(DingError::new(60002, "部门层级超过限制"));
        }
        self.check_sibling_name(parent, &name, None)?;
        let id = self.next_dept_id;
        self.next_dept_id += 1;
        let dept = Dept {
            dept_id: id,
            name,
            parent_id: parent,
            order: input.order.unwrap_or(id),
            source_identifier: input.source_identifier,
            code: None,
            create_dept_group: input.create_dept_group.unwrap_or(false),
            auto_add_user: input.auto_add_user.unwrap_or(false),
            hide_dept: input.hide_dept.unwrap_or(false),
            manager_userids: Vec::new(),
            children: Vec::new(),
            members: Vec::new(),
        };
        self.insert_dept(dept);
        Ok((id, vec![OrgEvent::DeptCreate(id)]))
    }

    /// Adds a department as given, bypassing the rules (the generator's dirty data).
    pub fn insert_dept(&mut self, dept: Dept) {
        let (id, parent) = (dept.dept_id, dept.parent_id);
        self.next_dept_id = self.next_dept_id.max(id + 1);
        if let Some(p) = self.depts.get_mut(&parent) {
            p.children.push(id);
        }
        self.depts.insert(id, dept);
    }

    fn check_sibling_name(
        &self,
        parent: i64,
        name: &str,
        except: Option<i64>,
    ) -> Result<(), DingError> {
        let taken = self
            .depts
            .get(&parent)
            .map(|p| &p.children)
            .into_iter()
            .flatten()
            .filter(|c| Some(**c) != except)
            .filter_map(|c| self.depts.get(c))
            .any(|c| c.name == name);
        if taken {
            Err(DingError::new(60021, "同一父部门下部门名称重复"))
        } else {
            Ok(())
        }
    }

    pub fn update_dept(&mut self, id: i64, input: DeptInput) -> Result<Vec<OrgEvent>, DingError> {
        if id == ROOT {
            return Err(DingError::new(60018, "根部门不能被更新"));
        }
        let current = self
            .depts
            .get(&id)
            .ok_or(DingError::new(60003, "部门不存在"))?;
        let parent = input.parent_id.unwrap_or(current.parent_id);
        let name = input.name.clone().unwrap_or_else(|| current.name.clone());
        check_dept_name(&name)?;
        if !self.depts.contains_key(&parent) {
            return Err(DingError::new(60004, "父部门不存在"));
        }
        if self.subtree(id).contains(&parent) {
            return Err(DingError::new(60010, "部门之间存在循环"));
        }
        let subtree_height = self
            .subtree(id)
            .iter()
            .map(|d| self.depth(*d))
            .max()
            .unwrap_or(0)
            - self.depth(id)
            + 1;
        if self.depth(parent) + subtree_height > MAX_DEPTH {
            return Err(DingError::new(60002, "部门层级超过限制"));
        }
        self.check_sibling_name(parent, &name, Some(id))?;
        if input.code.as_ref().is_some_and(|c| c.chars().count() > 30) {
            return Err(DingError::invalid("code"));
        }
        if let Some(managers) = &input.manager_userids {
            if managers.iter().any(|m| !self.users.contains_key(m)) {
                return Err(DingError::new(60121, "找不到该用户"));
            }
        }
        let old_parent = current.parent_id;
        if old_parent != parent {
            if let Some(p) = self.depts.get_mut(&old_parent) {
                p.children.retain(|c| *c != id);
            }
            if let Some(p) = self.depts.get_mut(&parent) {
                p.children.push(id);
            }
        }
        if let Some(dept) = self.depts.get_mut(&id) {
            dept.name = name;
            dept.parent_id = parent;
            set(&mut dept.order, input.order);
            set_opt(&mut dept.source_identifier, input.source_identifier);
            set_opt(&mut dept.code, input.code);
            set(&mut dept.create_dept_group, input.create_dept_group);
            set(&mut dept.auto_add_user, input.auto_add_user);
            set(&mut dept.hide_dept, input.hide_dept);
            set(&mut dept.manager_userids, input.manager_userids);
        }
        Ok(vec![OrgEvent::DeptModify(id)])
    }

    pub fn delete_dept(&mut self, id: i64) -> Result<Vec<OrgEvent>, DingError> {
        if id == ROOT {
            return Err(DingError::new(60007, "根部门不能被删除"));
        }
        let dept = self
            .depts
            .get(&id)
            .ok_or(DingError::new(60003, "部门不存在"))?;
        if !dept.children.is_empty() {
            return Err(DingError::new(60006, "部门中存在子部门，不允许删除"));
        }
        if !dept.members.is_empty() {
            return Err(DingError::new(60005, "部门中存在员工，不允许删除"));
        }
        let parent = dept.parent_id;
        if let Some(p) = self.depts.get_mut(&parent) {
            p.children.retain(|c| *c != id);
        }
        self.depts.remove(&id);
        Ok(vec![OrgEvent::DeptRemove(id)])
    }

    pub fn create_user(&mut self, input: UserInput) -> Result<(String, Vec<OrgEvent>), DingError> {
        let name = input.name.clone().ok_or(DingError::missing("name"))?;
        check_user_name(&name)?;
        let mobile = input
            .mobile
            .clone()
            .filter(|m| !m.is_empty())
            .ok_or(DingError::missing("mobile"))?;
        let depts = input.dept_id_list.clone().filter(|d| !d.is_empty());
        let depts = depts.ok_or(DingError::missing("dept_id_list"))?;
        let userid = match input.userid.clone().filter(|u| !u.is_empty()) {
            Some(id) if id.chars().count() > 64 => return Err(DingError::invalid("userid")),
            Some(id) if self.users.contains_key(&id) => {
                return Err(DingError::new(60102, "UserID在公司中已存在"));
            }
            Some(id) => id,
            None => self.fresh_userid(),
        };
        self.check_contact_fields(None, Some(&mobile), input.email.as_deref())?;
        self.check_depts(&depts)?;
        let seq = self.next_seq();
        let user = User {
            unionid: unionid_for(&self.corp_id, &userid),
            userid: userid.clone(),
            name,
            mobile: Some(mobile),
            email: input.email,
            org_email: input.org_email,
            title: input.title,
            job_number: input.job_number,
            telephone: input.telephone,
            work_place: input.work_place,
            remark: input.remark,
            hired_date: input.hired_date,
            active: false,
            admin: false,
            boss: false,
            senior: input.senior.unwrap_or(false),
            hide_mobile: input.hide_mobile.unwrap_or(false),
            dept_id_list: depts,
            leader_in_dept: Vec::new(),
            manager_userid: input.manager_userid,
            extension: input.extension,
            avatar: None,
            state_code: "86".into(),
            entry_seq: seq,
            modified_seq: seq,
        };
        self.insert_user(user);
        Ok((userid.clone(), vec![OrgEvent::UserAdd(userid)]))
    }

    /// Adds a user as given, bypassing the rules (the generator's dirty data).
    pub fn insert_user(&mut self, user: User) {
        for dept in &user.dept_id_list {
            if let Some(d) = self.depts.get_mut(dept) {
                d.members.push(user.userid.clone());
            }
        }
        if let Some(mobile) = &user.mobile {
            self.by_mobile
                .entry(mobile.clone())
                .or_insert_with(|| user.userid.clone());
        }
        self.by_unionid
            .insert(user.unionid.clone(), user.userid.clone());
        self.seq = self.seq.max(user.modified_seq);
        self.users.insert(user.userid.clone(), user);
    }

    fn fresh_userid(&mut self) -> String {
        loop {
            let candidate = format!("{:016}", 1_000_000_000 + self.next_seq() * 7919);
            if !self.users.contains_key(&candidate) {
                return candidate;
            }
        }
    }

    fn check_depts(&self, depts: &[i64]) -> Result<(), DingError> {
        if depts.len() > MAX_USER_DEPTS {
            return Err(DingError::new(60110, "部门个数超过限制"));
        }
        if depts.iter().any(|d| !self.depts.contains_key(d)) {
            return Err(DingError::new(60003, "部门不存在"));
        }
        Ok(())
    }

    fn check_contact_fields(
        &self,
        me: Option<&str>,
        mobile: Option<&str>,
        email: Option<&str>,
    ) -> Result<(), DingError> {
        if let Some(mobile) = mobile {
            if !mobile_is_valid(mobile) {
                return Err(DingError::new(60103, "手机号码不合法"));
            }
            if self
                .by_mobile
                .get(mobile)
                .is_some_and(|owner| Some(owner.as_str()) != me)
            {
                return Err(DingError::new(60104, "手机号码在公司中已注册"));
            }
        }
        if let Some(email) = email.filter(|e| !e.is_empty()) {
            check_email(email)?;
            let taken = self
                .users
                .values()
                .any(|u| u.email.as_deref() == Some(email) && Some(u.userid.as_str()) != me);
            if taken {
                return Err(DingError::new(60106, "邮箱已存在"));
            }
        }
        Ok(())
    }

    /// `topapi/v2/user/update` cannot change a mobile: DingTalk answers 41054 unless the request
    /// names the stored one (an empty mobile is none at all, as `update_user` reads it). Checked
    /// before anything is written, so a refused update changes nothing and pushes no event.
    pub fn check_mobile_kept(&self, userid: &str, input: &UserInput) -> Result<(), DingError> {
        let Some(mobile) = input.mobile.as_deref().filter(|m| !m.is_empty()) else {
            return Ok(());
        };
        match self.users.get(userid) {
            Some(user) if user.mobile.as_deref() != Some(mobile) => Err(DingError::new(
                41054,
                "暂时无法更换手机号，如需修改请删除用户后重试",
            )),
            _ => Ok(()),
        }
    }

    pub fn update_user(
        &mut self,
        userid: &str,
        input: UserInput,
    ) -> Result<Vec<OrgEvent>, DingError> {
        if !self.users.contains_key(userid) {
            return Err(DingError::new(60121, "找不到该用户"));
        }
        if let Some(name) = &input.name {
            check_user_name(name)?;
        }
        let mobile = input.mobile.as_deref().filter(|m| !m.is_empty());
        self.check_contact_fields(Some(userid), mobile, input.email.as_deref())?;
        if let Some(depts) = &input.dept_id_list {
            if depts.is_empty() {
                return Err(DingError::invalid("dept_id_list"));
            }
            self.check_depts(depts)?;
        }
        let seq = self.next_seq();
        let Some(user) = self.users.get_mut(userid) else {
            return Err(DingError::new(60121, "找不到该用户"));
        };
        let old_mobile = user.mobile.clone();
        let old_depts = user.dept_id_list.clone();
        set(&mut user.name, input.name);
        if let Some(m) = mobile {
            user.mobile = Some(m.to_string());
        }
        set_opt(&mut user.email, input.email);
        set_opt(&mut user.org_email, input.org_email);
        set_opt(&mut user.title, input.title);
        set_opt(&mut user.job_number, input.job_number);
        set_opt(&mut user.telephone, input.telephone);
        set_opt(&mut user.work_place, input.work_place);
        set_opt(&mut user.remark, input.remark);
        set_opt(&mut user.manager_userid, input.manager_userid);
        set_opt(&mut user.extension, input.extension);
        if input.hired_date.is_some() {
            user.hired_date = input.hired_date;
        }
        set(&mut user.senior, input.senior);
        set(&mut user.hide_mobile, input.hide_mobile);
        set(&mut user.dept_id_list, input.dept_id_list);
        user.leader_in_dept.retain(|d| old_depts.contains(d));
        user.modified_seq = seq;
        let (new_mobile, new_depts) = (user.mobile.clone(), user.dept_id_list.clone());
        if old_mobile != new_mobile {
            if let Some(old) = old_mobile {
                if self.by_mobile.get(&old).map(String::as_str) == Some(userid) {
                    self.by_mobile.remove(&old);
                }
            }
            if let Some(new) = new_mobile {
                self.by_mobile.insert(new, userid.to_string());
            }
        }
        if old_depts != new_depts {
            for d in old_depts.iter().filter(|d| !new_depts.contains(d)) {
                if let Some(dept) = self.depts.get_mut(d) {
                    dept.members.retain(|m| m != userid);
                }
            }
            for d in new_depts.iter().filter(|d| !old_depts.contains(d)) {
                if let Some(dept) = self.depts.get_mut(d) {
                    dept.members.push(userid.to_string());
                }
            }
        }
        Ok(vec![OrgEvent::UserModify(userid.to_string())])
    }

    pub fn delete_user(&mut self, userid: &str) -> Result<Vec<OrgEvent>, DingError> {
        let user = self
            .users
            .remove(userid)
            .ok_or(DingError::new(60121, "找不到该用户"))?;
        for d in &user.dept_id_list {
            if let Some(dept) = self.depts.get_mut(d) {
                dept.members.retain(|m| m != userid);
                dept.manager_userids.retain(|m| m != userid);
            }
        }
        if let Some(mobile) = &user.mobile {
            if self.by_mobile.get(mobile).map(String::as_str) == Some(userid) {
                self.by_mobile.remove(mobile);
            }
        }
        self.by_unionid.remove(&user.unionid);
        Ok(vec![OrgEvent::UserLeave(userid.to_string())])
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// An empty string clears an optional field.
fn set_opt(slot: &mut Option<String>, value: Option<String>) {
    if let Some(v) = value {
        *slot = if v.is_empty() { None } else { Some(v) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Org {
        Org::new("dingcorp", "测试公司", 100)
    }

    fn dept(name: &str, parent: i64) -> DeptInput {
        DeptInput {
            name: Some(name.into()),
            parent_id: Some(parent),
            ..DeptInput::default()
        }
    }

    #[test]
    fn department_names_follow_the_protocol_rules() {
        let mut org = org();
        assert_eq!(
            org.create_dept(dept("研发-部", 1)).unwrap_err().errcode,
            60009
        );
        assert_eq!(
            org.create_dept(dept(&"长".repeat(65), 1))
                .unwrap_err()
                .errcode,
            60001
        );
        org.create_dept(dept("研发部", 1)).unwrap();
        assert_eq!(
            org.create_dept(dept("研发部", 1)).unwrap_err().errcode,
            60021
        );
        assert_eq!(org.create_dept(dept("x", 999)).unwrap_err().errcode, 60004);
    }

    #[test]
    fn a_department_cannot_move_below_itself() {
        let mut org = org();
        let (a, _) = org.create_dept(dept("a", 1)).unwrap();
        let (b, _) = org.create_dept(dept("b", a)).unwrap();
        let moved = org.update_dept(
            a,
            DeptInput {
                parent_id: Some(b),
                ..DeptInput::default()
            },
        );
        assert_eq!(moved.unwrap_err().errcode, 60010);
        assert_eq!(org.delete_dept(a).unwrap_err().errcode, 60006);
        assert_eq!(
            org.update_dept(1, DeptInput::default())
                .unwrap_err()
                .errcode,
            60018
        );
    }

    #[test]
    fn mobile_is_required_and_unique() {
        let mut org = org();
        let user = |id: &str, mobile: Option<&str>| UserInput {
            userid: Some(id.into()),
            name: Some("张三".into()),
            mobile: mobile.map(Into::into),
            dept_id_list: Some(vec![1]),
            ..UserInput::default()
        };
        assert_eq!(
            org.create_user(user("a", None)).unwrap_err().errcode,
            400002
        );
        org.create_user(user("a", Some("13800000000"))).unwrap();
        assert_eq!(
            org.create_user(user("b", Some("13800000000")))
                .unwrap_err()
                .errcode,
            60104
        );
        assert_eq!(
            org.create_user(user("a", Some("13800000001")))
                .unwrap_err()
                .errcode,
            60102
        );
        assert_eq!(org.delete_dept(1).unwrap_err().errcode, 60007);
        assert_eq!(org.user_by_mobile("13800000000").unwrap().userid, "a");
    }
}
