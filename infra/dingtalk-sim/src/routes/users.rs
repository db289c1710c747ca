//! User APIs `topapi/v2/user/*` and `topapi/user/*` (protocol §3.4): cursor paging with size
//! 1–100 over direct members, lookups by mobile/unionid, writes, and micro-app `getuserinfo`.

use serde_json::{Value, json};

use crate::envelope::{DingError, Params};
use crate::gate::Caller;
use crate::login::CodeKind;
use crate::org::{Org, User, UserInput, mobile_is_valid};
use crate::state::{Corp, SimState, read, write};

fn corp_of<'a>(sim: &'a SimState, caller: &Caller) -> Result<&'a Corp, DingError> {
    sim.corp(caller.app.corp)
        .ok_or_else(|| DingError::new(33001, "无效的企业ID"))
}

fn no_user() -> DingError {
    DingError::new(60121, "找不到该用户")
}

fn check_user_scope(org: &Org, user: &User, caller: &Caller) -> Result<(), DingError> {
    if org.user_in_scope(user, &caller.scope) {
        Ok(())
    } else {
        Err(DingError::new(50002, "请求的员工userid不在授权范围内"))
    }
}

pub fn user_input(p: &Params) -> Result<UserInput, DingError> {
    let extension = match p.0.get("extension") {
        Some(Value::Object(map)) => Some(Value::Object(map.clone()).to_string()),
        _ => p.str("extension"),
    };
    Ok(UserInput {
        userid: p.str("userid"),
        name: p.str("name"),
        mobile: p.str("mobile"),
        email: p.str("email"),
        org_email: p.str("org_email"),
        title: p.str("title"),
        job_number: p.str("job_number"),
        telephone: p.str("telephone"),
        work_place: p.str("work_place"),
        remark: p.str("remark"),
        hired_date: p.i64("hired_date")?,
        dept_id_list: p.i64_list("dept_id_list")?,
        manager_userid: p.str("manager_userid"),
        extension,
        senior: p.bool("senior_mode"),
        hide_mobile: p.bool("hide_mobile"),
    })
}

/// One page of a department's direct members: `(page, has_more, next_cursor)`.
fn page<'a>(
    org: &'a Org,
    caller: &Caller,
    p: &Params,
) -> Result<(Vec<&'a User>, bool, usize, i64), DingError> {
    let dept_id = p
        .i64("dept_id")?
        .ok_or_else(|| DingError::missing("dept_id"))?;
    let cursor = p.i64("cursor")?.unwrap_or(0);
    let size = p.i64("size")?.ok_or_else(|| DingError::missing("size"))?;
    if !(1..=100).contains(&size) {
        return Err(DingError::new(40069, "无效的分页大小"));
    }
    if !(0..=100_000).contains(&cursor) {
        return Err(DingError::invalid("cursor"));
    }
    let dept = org
        .dept(dept_id)
        .ok_or_else(|| DingError::new(60003, "部门不存在"))?;
    if !org.dept_in_scope(dept_id, &caller.scope) {
        return Err(DingError::new(50004, "请求的部门id不在授权范围内"));
    }
    let mut members: Vec<&User> = dept.members.iter().filter_map(|m| org.user(m)).collect();
    match p.str("order_field").as_deref() {
        Some("entry_desc") => members.reverse(),
        Some("modify_asc") => members.sort_by_key(|u| u.modified_seq),
        Some("modify_desc") => members.sort_by_key(|u| std::cmp::Reverse(u.modified_seq)),
        _ => {}
    }
    let start = (cursor as usize).min(members.len());
    let end = (start + size as usize).min(members.len());
    let has_more = end < members.len();
    Ok((members[start..end].to_vec(), has_more, end, dept_id))
}

pub fn list(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let corp = corp_of(sim, caller)?;
    let org = read(&corp.org);
    let (users, has_more, next, dept) = page(&org, caller, p)?;
    let list: Vec<Value> = users
        .iter()
        .map(|u| org.user_detail(u, caller.visible, Some(dept)))
        .collect();
    let mut result = json!({ "has_more": has_more, "list": list });
    if has_more {
        result["next_cursor"] = json!(next);
    }
    Ok(json!({ "result": result }))
}

pub fn listsimple(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let corp = corp_of(sim, caller)?;
    let org = read(&corp.org);
    let (users, has_more, next, _) = page(&org, caller, p)?;
    let list: Vec<Value> = users
        .iter()
        .map(|u| json!({ "userid": u.userid, "name": u.name }))
        .collect();
    let mut result = json!({ "has_more": has_more, "list": list });
    if has_more {
        result["next_cursor"] = json!(next);
    }
    Ok(json!({ "result": result }))
}

pub fn listid(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let dept_id = p
        .i64("dept_id")?
        .ok_or_else(|| DingError::missing("dept_id"))?;
    let corp = corp_of(sim, caller)?;
    let org = read(&corp.org);
    let dept = org
        .dept(dept_id)
        .ok_or_else(|| DingError::new(60003, "部门不存在"))?;
    Ok(json!({ "result": { "userid_list": dept.members } }))
}

pub fn get(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let userid = p.require_str("userid")?;
    let corp = corp_of(sim, caller)?;
    let org = read(&corp.org);
    let user = org.user(&userid).ok_or_else(no_user)?;
    check_user_scope(&org, user, caller)?;
    Ok(json!({ "result": org.user_detail(user, caller.visible, None) }))
}

pub fn create(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let input = user_input(p)?;
    let corp = corp_of(sim, caller)?;
    let mut org = write(&corp.org);
    let (userid, events) = org.create_user(input)?;
    let unionid = org
        .user(&userid)
        .map(|u| u.unionid.clone())
        .unwrap_or_default();
    drop(org);
    sim.emit(caller.app.corp, events);
    Ok(json!({ "result": { "userid": userid, "unionId": unionid } }))
}

pub fn update(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let userid = p.require_str("userid")?;
    let mut input = user_input(p)?;
    let corp = corp_of(sim, caller)?;
    let mut org = write(&corp.org);
    // Only the open API is bound by this: the control API stands for the admin console and the
    // user's own phone change, which can.
    org.check_mobile_kept(&userid, &input)?;
    if p.i64("ext_attrs_update_mode")? == Some(1) {
        let current = org.user(&userid).and_then(|u| u.extension.as_deref());
        input.extension = appended(current, input.extension.as_deref());
    }
    let events = org.update_user(&userid, input)?;
    drop(org);
    sim.emit(caller.app.corp, events);
    Ok(Value::Null)
}

/// `ext_attrs_update_mode=1`: the sent keys set over the stored ones, the others kept.
fn appended(current: Option<&str>, sent: Option<&str>) -> Option<String> {
    let sent = sent?;
    let object = |text: Option<&str>| -> serde_json::Map<String, Value> {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    };
    let mut merged = object(current);
    merged.extend(object(Some(sent)));
    Some(Value::Object(merged).to_string())
}

pub fn delete(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let userid = p.require_str("userid")?;
    let corp = corp_of(sim, caller)?;
    let events = write(&corp.org).delete_user(&userid)?;
    sim.emit(caller.app.corp, events);
    Ok(Value::Null)
}

pub fn getbymobile(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let mobile = p.require_str("mobile")?;
    if !mobile_is_valid(&mobile) {
        return Err(DingError::new(40104, "无效的手机号"));
    }
    let corp = corp_of(sim, caller)?;
    let org = read(&corp.org);
    let user = org.user_by_mobile(&mobile).ok_or_else(no_user)?;
    check_user_scope(&org, user, caller)?;
    Ok(json!({ "result": { "userid": user.userid } }))
}

pub fn getbyunionid(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let unionid = p.require_str("unionid")?;
    let corp = corp_of(sim, caller)?;
    let org = read(&corp.org);
    let user = org.user_by_unionid(&unionid).ok_or_else(no_user)?;
    Ok(json!({ "result": { "contact_type": 0, "userid": user.userid } }))
}

pub fn count(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let only_active = p.bool("only_active").unwrap_or(false);
    let corp = corp_of(sim, caller)?;
    let org = read(&corp.org);
    let count = org
        .users
        .values()
        .filter(|u| !only_active || u.active)
        .count();
    Ok(json!({ "result": { "count": count } }))
}

/// Micro-app free login (§4.3): a 5-minute, single-use code → the user.
pub fn getuserinfo(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let code = p.require_str("code")?;
    let (user_corp, userid) = sim.login.redeem(&code, CodeKind::MicroApp, caller.app)?;
    let corp = sim.corp(user_corp).ok_or_else(no_user)?;
    let org = read(&corp.org);
    let user = org.user(&userid).ok_or_else(no_user)?;
    let sys_level = if user.boss {
        100
    } else if user.admin {
        1
    } else {
        0
    };
    Ok(json!({ "result": {
        "userid": user.userid,
        "unionid": user.unionid,
        "associated_unionid": "",
        "name": user.name,
        "device_id": "sim-device",
        "sys": user.admin,
        "sys_level": sys_level,
    }}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_mode_sets_the_sent_keys_and_keeps_the_others() {
        let merged = appended(Some(r#"{"a":"1","b":"2"}"#), Some(r#"{"b":"3","c":"4"}"#));
        let merged: Value = serde_json::from_str(&merged.unwrap()).unwrap();
        assert_eq!(merged, json!({"a": "1", "b": "3", "c": "4"}));
        assert_eq!(appended(Some(r#"{"a":"1"}"#), None), None);
    }
}
