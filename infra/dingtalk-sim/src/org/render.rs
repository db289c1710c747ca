//! Wire renderings of departments and users in the `topapi` shapes of protocol §3.3–3.4
//! (empty fields omitted; mobile and email only with the contact-info permissions).

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::{Dept, Org, User};

/// Which contact-info fields the calling app may see (§3.1: silently omitted otherwise).
#[derive(Debug, Clone, Copy)]
pub struct Visible {
    pub mobile: bool,
    pub email: bool,
}

impl Dept {
    /// An item of `listsub`.
    pub fn brief(&self) -> Value {
        json!({
            "dept_id": self.dept_id,
            "name": self.name,
            "parent_id": self.parent_id,
            "create_dept_group": self.create_dept_group,
            "auto_add_user": self.auto_add_user,
        })
    }
}

impl Org {
    /// The `result` of `topapi/v2/department/get`.
    pub fn dept_detail(&self, dept: &Dept) -> Value {
        let mut members = HashSet::new();
        for id in self.subtree(dept.dept_id) {
            if let Some(d) = self.depts.get(&id) {
                members.extend(d.members.iter().map(String::as_str));
            }
        }
        let mut out = json!({
            "dept_id": dept.dept_id,
            "name": dept.name,
            "order": dept.order,
            "create_dept_group": dept.create_dept_group,
            "auto_add_user": dept.auto_add_user,
            "group_contain_sub_dept": false,
            "hide_dept": dept.hide_dept,
            "outer_dept": false,
            "dept_manager_userid_list": dept.manager_userids,
            "member_count": members.len(),
            "owning_member_count": dept.members.len(),
            "from_union_org": false,
        });
        if dept.parent_id != 0 {
            out["parent_id"] = json!(dept.parent_id);
        }
        if let Some(s) = &dept.source_identifier {
            out["source_identifier"] = json!(s);
        }
        if let Some(c) = &dept.code {
            out["code"] = json!(c);
        }
        out
    }

    /// The `result` of `topapi/v2/user/get`, or (with `in_dept`) an item of `topapi/v2/user/list`.
    pub fn user_detail(&self, user: &User, visible: Visible, in_dept: Option<i64>) -> Value {
        let mut out = Map::new();
        let mut put = |k: &str, v: Value| {
            out.insert(k.to_string(), v);
        };
        put("userid", json!(user.userid));
        put("unionid", json!(user.unionid));
        put("name", json!(user.name));
        put("state_code", json!(user.state_code));
        if visible.mobile {
            if let Some(m) = &user.mobile {
                put("mobile", json!(m));
            }
        }
        if visible.email {
            if let Some(e) = &user.email {
                put("email", json!(e));
            }
            if let Some(e) = &user.org_email {
                put("org_email", json!(e));
            }
        }
        let optional = [
            ("title", &user.title),
            ("job_number", &user.job_number),
            ("telephone", &user.telephone),
            ("work_place", &user.work_place),
            ("remark", &user.remark),
            ("avatar", &user.avatar),
            ("extension", &user.extension),
            ("manager_userid", &user.manager_userid),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                put(key, json!(v));
            }
        }
        if let Some(h) = user.hired_date {
            put("hired_date", json!(h));
        }
        put("hide_mobile", json!(user.hide_mobile));
        put("active", json!(user.active));
        put("admin", json!(user.admin));
        put("boss", json!(user.boss));
        put("senior", json!(user.senior));
        put("real_authed", json!(user.active));
        put("exclusive_account", json!(false));
        put("dept_id_list", json!(user.dept_id_list));
        let orders: Vec<Value> = user
            .dept_id_list
            .iter()
            .map(|d| json!({"dept_id": d, "order": self.member_order(*d, &user.userid)}))
            .collect();
        put("dept_order_list", json!(orders));
        let leaders: Vec<Value> = user
            .dept_id_list
            .iter()
            .map(|d| json!({"dept_id": d, "leader": user.leader_in_dept.contains(d)}))
            .collect();
        put("leader_in_dept", json!(leaders));
        match in_dept {
            Some(dept) => {
                put("leader", json!(user.leader_in_dept.contains(&dept)));
                put("dept_order", json!(self.member_order(dept, &user.userid)));
            }
            None => {
                let roles = if user.admin {
                    json!([{"id": 1, "name": "主管理员", "group_name": "默认"}])
                } else {
                    json!([])
                };
                put("role_list", roles);
            }
        }
        Value::Object(out)
    }

    fn member_order(&self, dept: i64, userid: &str) -> i64 {
        self.depts
            .get(&dept)
            .and_then(|d| d.members.iter().position(|m| m == userid))
            .map_or(0, |p| 176_000_000 + (p as i64) * 512)
    }
}
