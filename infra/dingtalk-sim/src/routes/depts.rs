//! Department APIs `topapi/v2/department/*` (protocol §3.3): root = 1, one level per listing,
//! `listsub`/`get` limited by the contact scope (50004), `listsubid` not.

use serde_json::{Value, json};

use crate::envelope::{DingError, Params};
use crate::gate::Caller;
use crate::org::{DeptInput, Org, ROOT};
use crate::state::{SimState, read, write};

fn not_found() -> DingError {
    DingError::new(60003, "部门不存在")
}

fn out_of_scope() -> DingError {
    DingError::new(50004, "请求的部门id不在授权范围内")
}

fn org_of<'a>(sim: &'a SimState, caller: &Caller) -> Result<&'a crate::state::Corp, DingError> {
    sim.corp(caller.app.corp)
        .ok_or_else(|| DingError::new(33001, "无效的企业ID"))
}

fn dept_id(p: &Params, default_root: bool) -> Result<i64, DingError> {
    match p.i64("dept_id")? {
        Some(id) => Ok(id),
        None if default_root => Ok(ROOT),
        None => Err(DingError::missing("dept_id")),
    }
}

pub fn dept_input(p: &Params) -> Result<DeptInput, DingError> {
    Ok(DeptInput {
        name: p.str("name"),
        parent_id: p.i64("parent_id")?,
        order: p.i64("order")?,
        source_identifier: p.str("source_identifier"),
        code: p.str("code"),
        create_dept_group: p.bool("create_dept_group"),
        auto_add_user: p.bool("auto_add_user"),
        hide_dept: p.bool("hide_dept"),
        manager_userids: p.str_list("dept_manager_userid_list"),
    })
}

pub fn listsub(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let id = dept_id(p, true)?;
    let corp = org_of(sim, caller)?;
    let org = read(&corp.org);
    org.dept(id).ok_or_else(not_found)?;
    if org.dept_in_scope(id, &caller.scope) {
        let list: Vec<Value> = org.children(id).into_iter().map(|d| d.brief()).collect();
        return Ok(json!({ "result": list }));
    }
    if id == ROOT {
        // A scoped app sees its authorised departments as the top level.
        let list: Vec<Value> = caller
            .scope
            .iter()
            .filter_map(|d| org.dept(*d))
            .map(|d| d.brief())
            .collect();
        return Ok(json!({ "result": list }));
    }
    Err(out_of_scope())
}

pub fn listsubid(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let id = dept_id(p, false)?;
    let corp = org_of(sim, caller)?;
    let org = read(&corp.org);
    org.dept(id).ok_or_else(not_found)?;
    let ids: Vec<i64> = org.children(id).into_iter().map(|d| d.dept_id).collect();
    Ok(json!({ "result": { "dept_id_list": ids } }))
}

pub fn get(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let id = dept_id(p, false)?;
    let corp = org_of(sim, caller)?;
    let org = read(&corp.org);
    let dept = org.dept(id).ok_or_else(not_found)?;
    if !org.dept_in_scope(id, &caller.scope) {
        return Err(out_of_scope());
    }
    Ok(json!({ "result": org.dept_detail(dept) }))
}

pub fn create(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let input = dept_input(p)?;
    let corp = org_of(sim, caller)?;
    let (id, events) = write(&corp.org).create_dept(input)?;
    sim.emit(caller.app.corp, events);
    Ok(json!({ "result": { "dept_id": id } }))
}

pub fn update(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let id = dept_id(p, false)?;
    let input = dept_input(p)?;
    let corp = org_of(sim, caller)?;
    let events = write(&corp.org).update_dept(id, input)?;
    sim.emit(caller.app.corp, events);
    Ok(Value::Null)
}

pub fn delete(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let id = dept_id(p, false)?;
    let corp = org_of(sim, caller)?;
    let events = write(&corp.org).delete_dept(id)?;
    sim.emit(caller.app.corp, events);
    Ok(Value::Null)
}

pub fn listparentbydept(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let id = dept_id(p, false)?;
    let corp = org_of(sim, caller)?;
    let org = read(&corp.org);
    org.dept(id).ok_or_else(not_found)?;
    Ok(json!({ "result": { "parent_id_list": org.ancestors(id) } }))
}

pub fn listparentbyuser(sim: &SimState, caller: &Caller, p: &Params) -> Result<Value, DingError> {
    let userid = p.require_str("userid")?;
    let corp = org_of(sim, caller)?;
    let org: std::sync::RwLockReadGuard<'_, Org> = read(&corp.org);
    let user = org
        .user(&userid)
        .ok_or_else(|| DingError::new(60121, "找不到该用户"))?;
    let list: Vec<Value> = user
        .dept_id_list
        .iter()
        .map(|d| json!({ "parent_dept_id_list": org.ancestors(*d) }))
        .collect();
    Ok(json!({ "result": { "parent_list": list } }))
}
