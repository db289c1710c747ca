//! The deterministic org generator: a department tree of realistic depth and fan-out, Chinese
//! names with pinyin userids, users in 1–3 departments, and an optional share of dirty rows.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::org::{Dept, Org, User, unionid_for};

/// What to generate for one corp.
#[derive(Debug, Clone)]
pub struct OrgSpec {
    pub seed: u64,
    pub corp_id: String,
    pub users: usize,
    pub depts: usize,
    /// Share of users given one dirty trait (missing/duplicate email, `·` names, over-long names).
    pub dirty_share: f64,
    /// Also allow missing and duplicate mobiles among dirty rows (DingTalk itself requires them).
    pub dirty_mobiles: bool,
    /// Departments given `120 + users / 20` direct members each (while users last), so that
    /// listing them pages; `None`: 3 when there are at least 400 users, else none.
    pub big_depts: Option<usize>,
}

const SURNAMES: &[(&str, &str)] = &[
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("林", "lin"),
    ("罗", "luo"),
    ("高", "gao"),
    ("郑", "zheng"),
    ("梁", "liang"),
    ("谢", "xie"),
    ("宋", "song"),
    ("唐", "tang"),
    ("韩", "han"),
    ("冯", "feng"),
    ("邓", "deng"),
    ("曹", "cao"),
    ("彭", "peng"),
    ("曾", "zeng"),
    ("肖", "xiao"),
    ("田", "tian"),
    ("董", "dong"),
    ("潘", "pan"),
    ("袁", "yuan"),
    ("蔡", "cai"),
    ("蒋", "jiang"),
    ("余", "yu"),
    ("杜", "du"),
    ("叶", "ye"),
    ("程", "cheng"),
    ("魏", "wei"),
    ("苏", "su"),
    ("吕", "lv"),
    ("丁", "ding"),
    ("任", "ren"),
    ("卢", "lu"),
    ("欧阳", "ouyang"),
    ("司马", "sima"),
    ("诸葛", "zhuge"),
    ("上官", "shangguan"),
];

const GIVEN: &[(&str, &str)] = &[
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀", "xiu"),
    ("霞", "xia"),
    ("平", "ping"),
    ("刚", "gang"),
    ("英", "ying"),
    ("华", "hua"),
    ("玉", "yu"),
    ("红", "hong"),
    ("建", "jian"),
    ("文", "wen"),
    ("辉", "hui"),
    ("鹏", "peng"),
    ("宇", "yu"),
    ("浩", "hao"),
    ("欣", "xin"),
    ("婷", "ting"),
    ("晨", "chen"),
    ("雪", "xue"),
    ("琳", "lin"),
    ("志", "zhi"),
    ("思", "si"),
    ("佳", "jia"),
    ("子", "zi"),
    ("轩", "xuan"),
    ("涵", "han"),
    ("博", "bo"),
    ("一", "yi"),
    ("诺", "nuo"),
    ("嘉", "jia"),
    ("然", "ran"),
    ("昊", "hao"),
    ("天", "tian"),
    ("睿", "rui"),
    ("泽", "ze"),
    ("凯", "kai"),
    ("悦", "yue"),
    ("馨", "xin"),
];

/// Names with the middle dot of minority and transliterated names.
const DOTTED: &[(&str, &str)] = &[
    ("迪丽热巴·迪力木拉提", "dilireba"),
    ("阿依古丽·买买提", "ayiguli"),
    ("扎西·多吉", "zhaxi"),
    ("古力娜扎·拜合提亚尔", "gulinazha"),
    ("努尔·艾力", "nuer"),
    ("约翰·史密斯", "yuehan"),
];

const TOP_DEPTS: &[&str] = &[
    "研发中心",
    "产品中心",
    "市场部",
    "销售中心",
    "财务部",
    "人力资源部",
    "行政部",
    "法务部",
    "客户成功部",
    "运营中心",
    "供应链中心",
    "质量管理部",
    "战略投资部",
    "信息技术部",
];

const SUB_DEPTS: &[&str] = &[
    "平台部",
    "基础架构部",
    "数据部",
    "前端组",
    "后端组",
    "测试组",
    "运维组",
    "安全组",
    "华东区",
    "华南区",
    "华北区",
    "西南区",
    "北京分部",
    "上海分部",
    "深圳分部",
    "杭州分部",
    "成都分部",
    "武汉分部",
    "招聘组",
    "薪酬组",
    "培训组",
    "渠道组",
    "大客户组",
    "品牌组",
    "内容组",
    "设计组",
    "算法组",
    "移动端组",
    "支付组",
    "风控组",
    "增长组",
    "项目一部",
    "项目二部",
    "综合组",
];

const TITLES: &[&str] = &[
    "工程师",
    "高级工程师",
    "产品经理",
    "设计师",
    "销售经理",
    "会计",
    "HRBP",
    "行政专员",
    "总监",
    "测试工程师",
    "运维工程师",
    "法务专员",
    "客户经理",
    "数据分析师",
];

const CITIES: &[&str] = &[
    "杭州", "北京", "上海", "深圳", "成都", "武汉", "南京", "西安",
];

const MOBILE_PREFIXES: &[&str] = &[
    "135", "136", "137", "138", "139", "150", "151", "158", "159", "186", "187", "188", "199",
];

/// The corp's display name and the email domain derived from it.
pub fn corp_name(seed: u64) -> (&'static str, &'static str) {
    const CORPS: &[(&str, &str)] = &[
        ("星河科技有限公司", "xinghe"),
        ("云帆网络科技有限公司", "yunfan"),
        ("青禾数据有限公司", "qinghe"),
        ("远山智能制造有限公司", "yuanshan"),
        ("晨曦医疗集团", "chenxi"),
        ("海纳零售有限公司", "haina"),
    ];
    CORPS[(seed % CORPS.len() as u64) as usize]
}

pub fn generate(spec: &OrgSpec) -> Org {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let (name, domain) = corp_name(spec.seed);
    let mut org = Org::new(
        &spec.corp_id,
        name,
        100_000_000 + rng.random_range(0..50_000_000),
    );
    let dept_ids = build_tree(&mut org, &mut rng, spec.depts);
    build_users(&mut org, &mut rng, spec, &dept_ids, domain);
    org
}

fn build_tree(org: &mut Org, rng: &mut StdRng, count: usize) -> Vec<i64> {
    let mut ids: Vec<i64> = Vec::with_capacity(count);
    let mut depth: HashMap<i64, usize> = HashMap::from([(1, 1)]);
    let mut next = 100_000_000 + rng.random_range(0..50_000_000);
    for i in 0..count {
        // A spine of 7 levels first, so even a small tree is deep enough to exercise recursion.
        let parent = if i < 7 {
            ids.last().copied().unwrap_or(1)
        } else if rng.random_bool(0.3) {
            let shallow: Vec<i64> = std::iter::once(1)
                .chain(
                    ids.iter()
                        .copied()
                        .filter(|d| depth.get(d).copied().unwrap_or(9) <= 2),
                )
                .collect();
            shallow.choose(rng).copied().unwrap_or(1)
        } else {
            let open: Vec<i64> = std::iter::once(1)
                .chain(
                    ids.iter()
                        .copied()
                        .filter(|d| depth.get(d).copied().unwrap_or(9) < 9),
                )
                .collect();
            open.choose(rng).copied().unwrap_or(1)
        };
        let parent_depth = depth.get(&parent).copied().unwrap_or(1);
        let pool = if parent == 1 { TOP_DEPTS } else { SUB_DEPTS };
        let base = pool.choose(rng).copied().unwrap_or("综合组");
        let taken: Vec<&str> = org
            .dept(parent)
            .map(|p| {
                p.children
                    .iter()
                    .filter_map(|c| org.dept(*c))
                    .map(|d| d.name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let mut name = base.to_string();
        let mut n = 2;
        while taken.contains(&name.as_str()) {
            name = format!("{base}{n}");
            n += 1;
        }
        next += rng.random_range(1..5_000);
        org.insert_dept(Dept {
            dept_id: next,
            name,
            parent_id: parent,
            order: i as i64,
            source_identifier: None,
            code: None,
            create_dept_group: rng.random_bool(0.5),
            auto_add_user: true,
            hide_dept: false,
            manager_userids: Vec::new(),
            children: Vec::new(),
            members: Vec::new(),
        });
        depth.insert(next, parent_depth + 1);
        ids.push(next);
    }
    ids
}

fn build_users(org: &mut Org, rng: &mut StdRng, spec: &OrgSpec, depts: &[i64], domain: &str) {
    let pool: Vec<i64> = if depts.is_empty() {
        vec![1]
    } else {
        depts.to_vec()
    };
    // A few departments with more than 100 direct members, to exercise paging. No draw when
    // there are none, so that existing seeds keep their orgs.
    let big_count = spec
        .big_depts
        .unwrap_or(if spec.users >= 400 { 3 } else { 0 });
    let big: Vec<i64> = if big_count > 0 {
        pool.choose_multiple(rng, big_count.min(pool.len()))
            .copied()
            .collect()
    } else {
        Vec::new()
    };
    let per_big = 120 + spec.users / 20;
    let mut taken_ids: HashMap<String, u32> = HashMap::new();
    let mut previous: Option<(Option<String>, Option<String>)> = None;
    let mut built: Vec<User> = Vec::with_capacity(spec.users);
    for i in 0..spec.users {
        let (mut name, pinyin) = person_name(rng);
        let dirt = rng.random_bool(spec.dirty_share.clamp(0.0, 1.0)).then(|| {
            let kinds = if spec.dirty_mobiles { 6 } else { 4 };
            rng.random_range(0..kinds)
        });
        let (name_pinyin, dotted) = if dirt == Some(2) {
            let (n, p) = DOTTED
                .choose(rng)
                .copied()
                .unwrap_or(("扎西·多吉", "zhaxi"));
            (p.to_string(), Some(n))
        } else {
            (pinyin, None)
        };
        if let Some(d) = dotted {
            name = d.to_string();
        }
        if dirt == Some(3) {
            name = format!("{name}（{}）", "外包驻场人员临时账号请勿删除".repeat(7));
        }
        let count = taken_ids.entry(name_pinyin.clone()).or_insert(0);
        *count += 1;
        let userid = if *count == 1 {
            name_pinyin
        } else {
            format!("{name_pinyin}{count}")
        };
        let prefix = MOBILE_PREFIXES.choose(rng).copied().unwrap_or("138");
        let suffix = ((i as u64)
            .wrapping_mul(2_654_435_761)
            .wrapping_add(spec.seed))
            % 100_000_000;
        let mut mobile = Some(format!("{prefix}{suffix:08}"));
        let mut email = Some(format!("{userid}@{domain}.com"));
        match dirt {
            Some(0) => email = None,
            Some(1) => email = previous.as_ref().and_then(|p| p.1.clone()).or(email),
            Some(4) => mobile = None,
            Some(5) => mobile = previous.as_ref().and_then(|p| p.0.clone()).or(mobile),
            _ => {}
        }
        previous = Some((mobile.clone(), email.clone()));
        let primary = if i < per_big * big.len() {
            big.get(i % big.len().max(1)).copied().unwrap_or(1)
        } else {
            pool.choose(rng).copied().unwrap_or(1)
        };
        let mut dept_id_list = vec![primary];
        for share in [0.2, 0.05] {
            if rng.random_bool(share) {
                if let Some(extra) = pool
                    .choose(rng)
                    .copied()
                    .filter(|d| !dept_id_list.contains(d))
                {
                    dept_id_list.push(extra);
                }
            }
        }
        let seq = i as u64 + 1;
        built.push(User {
            unionid: unionid_for(&spec.corp_id, &userid),
            userid,
            name,
            mobile,
            email,
            org_email: None,
            title: TITLES.choose(rng).map(|t| t.to_string()),
            job_number: Some(format!("{:06}", i + 1)),
            telephone: None,
            work_place: CITIES.choose(rng).map(|c| c.to_string()),
            remark: None,
            hired_date: Some(1_262_304_000_000 + rng.random_range(0..490_000_000_000_i64)),
            active: rng.random_bool(0.92),
            admin: i < 3,
            boss: i == 0,
            senior: false,
            hide_mobile: false,
            dept_id_list,
            leader_in_dept: Vec::new(),
            manager_userid: None,
            extension: None,
            avatar: None,
            state_code: "86".into(),
            entry_seq: seq,
            modified_seq: seq,
        });
    }
    for user in built {
        org.insert_user(user);
    }
    assign_leaders(org);
}

/// The first member of each department leads it and manages its other members.
fn assign_leaders(org: &mut Org) {
    let leaders: Vec<(i64, String)> = org
        .depts
        .values()
        .filter_map(|d| d.members.first().map(|m| (d.dept_id, m.clone())))
        .collect();
    for (dept, leader) in &leaders {
        if let Some(d) = org.depts.get_mut(dept) {
            d.manager_userids = vec![leader.clone()];
        }
        if let Some(u) = org.users.get_mut(leader) {
            u.leader_in_dept.push(*dept);
        }
    }
    let by_dept: HashMap<i64, String> = leaders.into_iter().collect();
    for user in org.users.values_mut() {
        let manager = user.dept_id_list.first().and_then(|d| by_dept.get(d));
        user.manager_userid = manager.filter(|m| **m != user.userid).cloned();
    }
}

fn person_name(rng: &mut StdRng) -> (String, String) {
    let (surname, s_py) = SURNAMES.choose(rng).copied().unwrap_or(("王", "wang"));
    let (g1, p1) = GIVEN.choose(rng).copied().unwrap_or(("伟", "wei"));
    if rng.random_bool(0.6) {
        let (g2, p2) = GIVEN.choose(rng).copied().unwrap_or(("明", "ming"));
        (format!("{surname}{g1}{g2}"), format!("{s_py}{p1}{p2}"))
    } else {
        (format!("{surname}{g1}"), format!("{s_py}{p1}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> OrgSpec {
        OrgSpec {
            seed,
            corp_id: "dingtest".into(),
            users: 2000,
            depts: 300,
            dirty_share: 0.05,
            dirty_mobiles: false,
            big_depts: None,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_org() {
        let (a, b) = (generate(&spec(7)), generate(&spec(7)));
        let mut ua: Vec<_> = a.users.keys().collect();
        let mut ub: Vec<_> = b.users.keys().collect();
        ua.sort();
        ub.sort();
        assert_eq!(ua, ub);
        assert_eq!(a.depts.len(), 301);
    }

    #[test]
    fn the_tree_is_deep_and_some_departments_need_paging() {
        let org = generate(&spec(3));
        let deepest = org.depts.keys().map(|d| org.depth(*d)).max().unwrap();
        assert!(deepest >= 7, "depth {deepest}");
        assert!(org.depts.values().any(|d| d.members.len() > 100));
        assert!(org.users.values().any(|u| u.dept_id_list.len() > 1));
        assert!(org.users.values().all(|u| u.mobile.is_some()));
    }

    #[test]
    fn a_small_org_can_still_have_a_department_that_needs_paging() {
        let org = generate(&OrgSpec {
            users: 150,
            depts: 12,
            big_depts: Some(1),
            ..spec(5)
        });
        let deepest = org.depts.keys().map(|d| org.depth(*d)).max().unwrap();
        assert!(deepest >= 7, "depth {deepest}");
        assert!(org.depts.values().any(|d| d.members.len() > 100));
        assert!(org.users.values().any(|u| u.dept_id_list.len() > 1));
        // Without the knob an org this small has none.
        let plain = generate(&OrgSpec {
            users: 150,
            depts: 12,
            ..spec(5)
        });
        assert!(plain.depts.values().all(|d| d.members.len() <= 100));
    }
}
