//! The console's words in Chinese (the default) and English. A missing key shows itself, so a
//! page never fails over a word.

/// A page's language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" => Some(Self::Zh),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }
}

/// The words of one language, for the templates.
#[derive(Clone, Copy, Debug)]
pub struct Text(pub Lang);

/// (key, Chinese, English).
const WORDS: &[(&str, &str, &str)] = &[
    ("console", "管理控制台", "admin console"),
    ("nav", "导航", "Navigation"),
    ("nav.overview", "概览与连接器", "Overview and connectors"),
    ("nav.sign_in", "认证源与应用", "Sign-in and apps"),
    ("nav.roles", "管理员", "Administrators"),
    ("nav.imports", "导入", "Imports"),
    (
        "imports.help",
        "全量拉取先把钉钉的组织和账户放入临时数据（组织机构临时数据、账户临时数据），审核后再确定导入：可按类型筛选，一键移除无效行，先确认组织机构，再确认账户。",
        "A full pull stages DingTalk's departments and users first (组织机构临时数据, 账户临时数据); review them, filter by kind, remove the invalid rows in one go, then confirm the org units and then the accounts.",
    ),
    ("imports.start", "开始全量拉取", "Start a full pull"),
    ("imports.runs", "同步记录", "Runs"),
    ("imports.none", "还没有同步记录。", "No run yet."),
    ("imports.started", "开始时间", "Started"),
    ("imports.state", "状态", "State"),
    (
        "imports.counts",
        "部门 / 用户 / 接口调用",
        "Departments / users / API calls",
    ),
    ("imports.confirmed_by", "确认人", "Confirmed by"),
    ("imports.run", "同步任务", "Run"),
    (
        "imports.remove_invalid",
        "一键移除无效行",
        "Remove invalid rows",
    ),
    (
        "imports.confirm_units",
        "确定导入组织机构",
        "Confirm org units",
    ),
    (
        "imports.confirm_accounts",
        "确定导入账户",
        "Confirm accounts",
    ),
    ("imports.discard", "放弃", "Discard"),
    ("imports.remove_row", "移除", "Remove"),
    ("imports.no_rows", "没有符合条件的行。", "No rows match."),
    ("imports.filter", "筛选", "Show"),
    ("imports.units", "组织机构临时数据", "Staged org units"),
    ("imports.accounts", "账户临时数据", "Staged accounts"),
    ("imports.action", "操作", "Action"),
    ("imports.reasons", "原因", "Reasons"),
    ("filter.all", "全部", "all"),
    ("filter.invalid", "无效", "invalid"),
    ("filter.create", "新增", "create"),
    ("filter.update", "更新", "update"),
    ("filter.disable", "停用", "disable"),
    ("switch_lang", "English", "中文"),
    ("portal", "返回门户", "Back to the portal"),
    ("connectors", "钉钉连接器", "DingTalk connectors"),
    (
        "connectors.help",
        "每个连接器对应一个钉钉企业内部应用。“测试连接”逐项检查凭证、出口 IP 白名单、接口权限、通讯录范围和回调，并给出修复方法。",
        "Each connector is one DingTalk internal app. Test connection checks the credentials, the egress IP whitelist, the API permissions, the contact scope and the callback, and says how to fix each failure.",
    ),
    (
        "connectors.none",
        "还没有连接器。请用管理 API（POST /admin/api/connectors）创建。",
        "No connector yet. Create one with the admin API (POST /admin/api/connectors).",
    ),
    ("name", "名称", "Name"),
    ("callback", "回调", "Callback"),
    ("push", "推送", "Push"),
    ("on", "开启", "on"),
    ("off", "关闭", "off"),
    ("test_connection", "测试连接", "Test connection"),
    ("test", "测试", "Test"),
    ("sources", "认证源", "Auth sources"),
    (
        "sources.help",
        "钉钉扫码登录和微应用免登。请把每个地址原样填到钉钉开发者后台：扫码登录的 RedirectUrl（回调域名），微应用的首页地址。",
        "DingTalk QR login and micro-app free login. Paste each address into DingTalk's developer console as it is: a QR source's RedirectUrl (回调域名), a micro-app's home page.",
    ),
    (
        "sources.none",
        "还没有认证源。请用管理 API（POST /admin/api/auth-sources）创建。",
        "No auth source yet. Create one with the admin API (POST /admin/api/auth-sources).",
    ),
    ("kind", "类型", "Kind"),
    ("kind.qr", "钉钉扫码登录", "DingTalk QR login"),
    ("kind.micro", "钉钉微应用免登", "DingTalk micro-app login"),
    ("register", "在钉钉中登记的地址", "To register in DingTalk"),
    ("apps", "应用", "Apps"),
    ("apps.none", "还没有应用。", "No app yet."),
    (
        "roles.help",
        "管理员可以执行所有操作；只读管理员只能查看。用 PUT /admin/api/accounts/{id}/roles 授予或收回。",
        "Administrators may do everything; viewers only read. Grant or take back with PUT /admin/api/accounts/{id}/roles.",
    ),
    ("account", "账号", "Account"),
    ("role", "角色", "Role"),
    ("role.admin", "管理员", "administrator"),
    ("role.viewer", "只读管理员", "viewer"),
    ("gate.title", "没有管理权限", "No admin role"),
    (
        "gate.detail",
        "你的账号还没有管理员角色。请让管理员为你授予角色。",
        "Your account has no admin role yet: ask an administrator to grant you one.",
    ),
    (
        "bootstrap.title",
        "设置第一个管理员",
        "Make the first administrator",
    ),
    (
        "bootstrap.help",
        "系统里还没有管理员。输入部署时的初始管理令牌（Secrets Manager 中的 AdminTokenSecret，本地运行时为 .dingbridge/admin.token），你的账号将成为管理员。此操作只能进行一次。",
        "No one is an administrator yet. Enter the deployment's bootstrap admin token (AdminTokenSecret in Secrets Manager; .dingbridge/admin.token when run locally) and your account becomes an administrator. This works once.",
    ),
    ("bootstrap.token", "初始管理令牌", "Bootstrap admin token"),
    ("bootstrap.submit", "成为管理员", "Become administrator"),
    (
        "bootstrap.wrong",
        "这不是有效的管理令牌。",
        "That is not an admin token.",
    ),
    (
        "bootstrap.done",
        "已经有管理员了：请让管理员为你授予角色。",
        "There is an administrator already: ask them to grant you a role.",
    ),
];

impl Text {
    /// The word for `key` in this language.
    pub fn s(&self, key: &str) -> &'static str {
        match WORDS.iter().find(|(k, _, _)| *k == key) {
            Some((_, zh, en)) => match self.0 {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => "?",
        }
    }

    pub fn html_lang(&self) -> &'static str {
        self.0.code()
    }

    /// The other language's code, for the switch.
    pub fn other_lang(&self) -> &'static str {
        match self.0 {
            Lang::Zh => "en",
            Lang::En => "zh",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_both_languages_and_keys_are_unique() {
        let mut keys: Vec<&str> = WORDS.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key is listed twice");
        for (k, zh, en) in WORDS {
            assert!(!zh.is_empty() && !en.is_empty(), "{k}");
        }
        assert_eq!(Text(Lang::En).s("nav.roles"), "Administrators");
        assert_eq!(Text(Lang::Zh).s("nav.roles"), "管理员");
        assert_eq!(Lang::parse("EN"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
    }
}
