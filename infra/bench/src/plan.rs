//! The full pull's pure core at scale: validation and plan of `rows` staged users (and rows/20
//! departments, six levels deep) against a directory holding as many mapped accounts, with a
//! realistic mix of changes. Reports the median of five rounds per phase.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context;
use dingbridge::dingtalk::{DeptId, DingUserId, SecretString};
use dingbridge::domain::connector::{EmailField, LeaverPolicy};
use dingbridge::domain::directory::{Account, AccountStatus, OrgUnit, normalise_memberships};
use dingbridge::domain::ids::{AccountId, OrgUnitId};
use dingbridge::domain::password::PasswordPolicy;
use dingbridge::domain::pull::{
    DirectoryView, PullRules, Snapshot, StagedDept, StagedUser, plan, validate,
};
use dingbridge::domain::values::{DisplayName, Email, Mobile, Username};

const ROUNDS: usize = 5;

/// Departments: a chain of six levels under the root, then the rest spread under those levels.
fn departments(count: usize) -> anyhow::Result<Vec<StagedDept>> {
    let mut out = vec![StagedDept {
        dept_id: DeptId::ROOT,
        name: "Corp".into(),
        parent_id: None,
        order: None,
        clipped: Vec::new(),
    }];
    for i in 2..=(count.max(8) as u64) {
        let parent = if i <= 7 { i - 1 } else { 1 + (i % 7) };
        out.push(StagedDept {
            dept_id: DeptId::new(i)?,
            name: format!("Dept {i}"),
            parent_id: Some(DeptId::new(parent)?),
            order: Some(i as i64),
            clipped: Vec::new(),
        });
    }
    Ok(out)
}

fn staged_user(i: usize, dept_count: usize) -> anyhow::Result<StagedUser> {
    let primary = 2 + (i % (dept_count.max(8) - 1)) as u64;
    let mut dept_ids = vec![DeptId::new(primary)?];
    // One user in ten sits in a second department.
    if i % 10 == 0 {
        dept_ids.push(DeptId::new(2 + ((i / 10) % 6) as u64)?);
    }
    Ok(StagedUser {
        userid: DingUserId::parse(format!("user{i:07}"))?,
        unionid: None,
        name: format!("User {i}"),
        mobile: Some(format!("139{i:08}")),
        email: Some(format!("user{i}@example.com")),
        org_email: None,
        job_number: Some(format!("E{i}")),
        title: None,
        dept_ids,
        clipped: Vec::new(),
    })
}

/// The directory after a previous pull of the same org: every department and user mapped.
fn directory(depts: &[StagedDept], users: &[StagedUser]) -> anyhow::Result<DirectoryView> {
    let mut view = DirectoryView::new(OrgUnitId::generate()).keeping_fields();
    let mut units: HashMap<DeptId, OrgUnitId> = HashMap::new();
    units.insert(DeptId::ROOT, view.root_unit.clone());
    for d in depts.iter().filter(|d| !d.dept_id.is_root()) {
        let parent = d.parent_id.unwrap_or(DeptId::ROOT);
        let unit = OrgUnit {
            scim: None,
            id: OrgUnitId::generate(),
            name: d.name.clone(),
            parent_id: units.get(&parent).cloned(),
            order: d.order.unwrap_or(0),
            version: 1,
            created_ms: 0,
            updated_ms: 0,
        };
        units.insert(d.dept_id, unit.id.clone());
        view.add_mapped_unit(d.dept_id, &unit);
    }
    for u in users {
        let ids: Vec<OrgUnitId> = u
            .dept_ids
            .iter()
            .filter_map(|d| units.get(d).cloned())
            .collect();
        let account = Account {
            scim: None,
            id: AccountId::generate(),
            username: Username::parse(u.userid.as_str())?,
            display_name: DisplayName::parse(&u.name)?,
            email: u.email.as_deref().map(Email::parse).transpose()?,
            mobile: u.mobile.as_deref().map(Mobile::parse).transpose()?,
            job_number: u.job_number.clone(),
            title: None,
            status: AccountStatus::Enabled,
            memberships: normalise_memberships(&ids, None),
            password_hash: None,
            must_change_password: false,
            password_changed_ms: None,
            attributes: BTreeMap::new(),
            version: 1,
            created_ms: 0,
            updated_ms: 0,
        };
        view.add_mapped_account(u.userid.clone(), &account);
    }
    view.seal();
    Ok(view)
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Validation and plan of `rows` users against a directory of `rows` accounts. The second pull
/// changes 1% of names, moves 1%, adds 1% new users (one in ten of them dirty) and drops 1%.
pub fn run(rows: usize) -> anyhow::Result<serde_json::Value> {
    let rows = rows.max(100);
    let dept_count = (rows / 20).max(8);
    let depts = departments(dept_count)?;
    let before: Vec<StagedUser> = (0..rows)
        .map(|i| staged_user(i, dept_count))
        .collect::<anyhow::Result<_>>()?;
    let view = directory(&depts, &before).context("building the directory")?;

    let mut users = before;
    let gone = rows / 100;
    users.truncate(rows - gone);
    for (i, u) in users.iter_mut().enumerate() {
        if i % 100 == 1 {
            u.name = format!("Renamed {i}");
        }
        if i % 100 == 2 {
            u.dept_ids = vec![DeptId::new(3)?];
        }
    }
    for i in rows..rows + rows / 100 {
        let mut u = staged_user(i, dept_count)?;
        if i % 10 == 0 {
            u.mobile = None;
        }
        users.push(u);
    }
    let snapshot = Snapshot {
        depts,
        users,
        complete: true,
    };
    let rules = PullRules {
        email_field: EmailField::Email,
        leaver_policy: LeaverPolicy::Disable,
        password_policy: PasswordPolicy::default(),
        default_password: Some(SecretString::new("Default-Passw0rd")),
    };

    let (mut validate_times, mut plan_times) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let v = validate(&snapshot, &view, &rules);
        validate_times.push(t.elapsed());
        let t = Instant::now();
        let p = plan(&snapshot, &v, &view, &rules);
        plan_times.push(t.elapsed());
        last = Some(p.totals);
    }
    let totals = last.context("no round ran")?;
    let (v_ms, p_ms) = (median(validate_times), median(plan_times));
    Ok(serde_json::json!({
        "rows": snapshot.users.len(),
        "departments": snapshot.depts.len(),
        "directory_accounts": view.mapped_count(),
        "rounds": ROUNDS,
        "validate_ms_median": v_ms,
        "plan_ms_median": p_ms,
        "validate_plus_plan_ms": v_ms + p_ms,
        "target_ms": 1000,
        "totals": totals,
    }))
}
