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
    (
        "imports.confirm_push",
        "确定推送到钉钉",
        "Confirm the push to DingTalk",
    ),
    ("imports.remove_row", "移除", "Remove"),
    ("imports.no_rows", "没有符合条件的行。", "No rows match."),
    ("imports.filter", "筛选", "Show"),
    ("imports.units", "组织机构临时数据", "Staged org units"),
    ("imports.accounts", "账户临时数据", "Staged accounts"),
    ("imports.action", "操作", "Action"),
    (
        "imports.tree_help",
        "按组织树排列：下级部门缩进显示在上级之下（筛选时按列表显示）。",
        "In tree order: a sub-department is indented under its parent (a plain list while filtered).",
    ),
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
        "还没有连接器。点击“新建连接器”添加一个钉钉企业内部应用。",
        "No connector yet. Add a DingTalk internal app with “New connector”.",
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
        "还没有认证源。点击“新建认证源”添加钉钉扫码登录或微应用免登。",
        "No auth source yet. Add DingTalk QR or micro-app login with “New auth source”.",
    ),
    ("kind", "类型", "Kind"),
    ("kind.qr", "钉钉扫码登录", "DingTalk QR login"),
    ("kind.micro", "钉钉微应用免登", "DingTalk micro-app login"),
    ("register", "在钉钉中登记的地址", "To register in DingTalk"),
    ("apps", "应用", "Apps"),
    ("apps.none", "还没有应用。", "No app yet."),
    (
        "apps.help",
        "门户中单点登录的业务应用：OIDC 应用（客户端密钥只在创建或轮换时显示一次）或 JWT 应用，以及可使用它们的人。",
        "The business apps of the portal's single sign-on: OIDC apps (the client secret is shown once, at creation or rotation) or JWT apps, and who may use them.",
    ),
    ("apps.assigned", "授权范围", "Assigned to"),
    ("apps.new", "新建应用", "New app"),
    ("apps.edit", "编辑应用", "Edit app"),
    (
        "apps.post_logout",
        "登出后回调地址（逗号分隔）",
        "Post-logout redirect URIs (comma-separated)",
    ),
    ("apps.jwt_param", "JWT 参数名", "JWT parameter name"),
    (
        "apps.jwt_redirect_url",
        "JWT 的 redirect_url 参数",
        "JWT redirect_url parameter",
    ),
    (
        "apps.jwt_lifetime",
        "JWT 有效期（秒，至多 300）",
        "JWT lifetime (seconds, at most 300)",
    ),
    ("apps.icon_url", "图标地址", "Icon URL"),
    ("subject", "sub 取自", "sub from"),
    (
        "preferred_username",
        "preferred_username 取自",
        "preferred_username from",
    ),
    (
        "apps.kind_help",
        "OIDC：应用走标准授权码流程；JWT：门户把签名的 JWT（参数 id_token）带到目标地址。",
        "OIDC: the app runs the standard code flow; JWT: the portal takes a signed JWT (parameter id_token) to the target URL.",
    ),
    (
        "apps.public",
        "公开客户端（PKCE，无密钥）",
        "Public client (PKCE, no secret)",
    ),
    (
        "apps.redirect_uris",
        "回调地址（redirect_uri，逗号分隔）",
        "Redirect URIs (comma-separated)",
    ),
    ("apps.scopes", "允许的 scope", "Allowed scopes"),
    ("apps.home_url", "应用首页", "Home URL"),
    ("apps.target_url", "JWT 目标地址", "JWT target URL"),
    ("apps.everyone", "所有人可用", "Everyone may use it"),
    (
        "apps.units",
        "授权机构（机构 ID，含下级）",
        "Org units (ids, sub-units included)",
    ),
    ("apps.accounts", "授权账户（账户 ID）", "Accounts (ids)"),
    (
        "apps.delete_confirm",
        "删除此应用？用户将无法再从门户进入它。",
        "Delete this app? People can no longer open it from the portal.",
    ),
    ("sources.new", "新建认证源", "New auth source"),
    ("sources.edit", "编辑认证源", "Edit auth source"),
    (
        "sources.match_by",
        "首次登录按此匹配账户",
        "First sign-in matches accounts by",
    ),
    (
        "sources.match_by_help",
        "mobile、email 或留空：钉钉用户的手机号或邮箱恰好对应一个账户时直接绑定。连接器同步来的用户总是自动绑定。",
        "mobile, email or empty: bind at once when exactly one account has the DingTalk user's mobile or email. Users a connector synced always bind by themselves.",
    ),
    ("sources.unbound", "仍未绑定时", "When still unbound"),
    (
        "sources.bind_page",
        "显示绑定页（用账户密码绑定一次）",
        "Show the bind page (bind once with the account's password)",
    ),
    ("sources.refuse", "拒绝登录", "Refuse the sign-in"),
    (
        "sources.delete_confirm",
        "删除此认证源？它的按钮和登录地址随即失效。",
        "Delete this auth source? Its button and addresses stop working.",
    ),
    (
        "sources.connector",
        "使用连接器的应用",
        "Use a connector's app",
    ),
    (
        "sources.connector_help",
        "选择后用该连接器的 AppKey/AppSecret 把 unionid 换成 userid（须是同一企业）；否则填写下面的 AppKey/AppSecret。",
        "With one, its AppKey/AppSecret turn unionids into userids (same company); otherwise enter the AppKey/AppSecret below.",
    ),
    ("sources.flow", "扫码流程", "QR flow"),
    (
        "sources.flow_help",
        "oauth2：新版登录（内部应用的 AppKey 即扫码 AppId）；sns：旧版扫码登录应用（填写下面的扫码 AppId/AppSecret）。",
        "oauth2: the new login (the internal app's AppKey is the login AppId); sns: a legacy QR login app (enter its AppId/AppSecret below).",
    ),
    (
        "sources.sns_app_id",
        "扫码 AppId（sns）",
        "Login AppId (sns)",
    ),
    (
        "sources.sns_app_secret",
        "扫码 AppSecret（sns）",
        "Login AppSecret (sns)",
    ),
    (
        "sources.agent_help",
        "微应用免登需要：应用的 AgentId。",
        "Micro-app login needs it: the app's AgentId.",
    ),
    (
        "sources.front_end",
        "前端回调地址",
        "Front-end callback URL",
    ),
    (
        "sources.front_end_help",
        "没有应用发起时，登录后跳转到的地址；默认门户。",
        "Where a sign-in lands when no app asked; the portal by default.",
    ),
    (
        "sources.visible",
        "在登录页显示按钮（是否显示）",
        "Show a button on the sign-in page",
    ),
    (
        "roles.help",
        "管理员可以执行所有操作；只读管理员只能查看，页面和 API 都不接受他们的修改。",
        "Administrators may do everything; viewers only read: neither the pages nor the API take a change from them.",
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
    ("nav.sync", "同步记录", "Sync history"),
    ("nav.directory", "机构及组", "Directory"),
    ("nav.security", "安全设置", "Security"),
    ("nav.audit", "审计日志", "Audit log"),
    (
        "readonly",
        "你是只读管理员：可以查看，不能修改。",
        "You are a viewer: you can look, not change.",
    ),
    ("js.saved", "已保存", "Saved"),
    ("js.done", "完成", "Done"),
    (
        "js.secret_once",
        "密钥只显示这一次，请立即复制保存：",
        "The secret is shown this once; copy it now:",
    ),
    (
        "js.secret_set",
        "已设置（留空则不变）",
        "set (leave empty to keep)",
    ),
    ("js.callback", "回调注册", "Callback registration"),
    ("js.none", "没有数据。", "Nothing here."),
    ("js.push.pending", "推送中", "pushing"),
    ("js.push.parked", "推送受阻", "parked"),
    ("js.push.pushed", "已推送", "pushed"),
    ("js.elapsed", "已用时", "elapsed"),
    ("js.left", "预计剩余", "about"),
    (
        "js.review_reason",
        "等待审核的原因",
        "Waiting for review because",
    ),
    ("connector.title", "连接器", "Connector"),
    ("connector.edit", "编辑连接器", "Edit connector"),
    ("connector.new", "新建连接器", "New connector"),
    (
        "connector.callback_url",
        "回调地址（不自动注册时，填到开发者后台“事件订阅”）",
        "Callback URL (enter it in the developer console's event subscription unless registered automatically)",
    ),
    (
        "connector.new_help",
        "一个连接器对应钉钉开发者后台的一个企业内部应用。带 * 的为必填项；粘贴的值前后若有空格会被去除并提示。密钥只写不读。",
        "A connector is one internal app of DingTalk's developer console. Fields with * are required; spaces pasted around a value are removed and reported. Secrets can be written, never read back.",
    ),
    (
        "connector.delete_confirm",
        "删除此连接器？已同步的账户保留，回调将被注销。",
        "Delete this connector? Synced accounts stay; its callback is unregistered.",
    ),
    ("delete", "删除", "Delete"),
    ("save", "保存", "Save"),
    ("create", "创建", "Create"),
    ("default_choice", "默认", "default"),
    (
        "trim_hint",
        "前后有空格或换行，保存时会去除。",
        "Spaces or line breaks around the value: they are removed on save.",
    ),
    ("section.app", "应用凭证", "App credentials"),
    ("section.callback", "事件回调", "Event callback"),
    ("section.pull", "从钉钉同步", "Sync from DingTalk"),
    ("section.push", "推送到钉钉", "Push to DingTalk"),
    ("section.advanced", "高级", "Advanced"),
    ("f.name", "名称", "Name"),
    (
        "f.name.help",
        "仅用于在控制台中区分多个钉钉应用。",
        "Only tells your DingTalk apps apart in the console.",
    ),
    ("f.corp_id", "CorpId", "CorpId"),
    (
        "f.corp_id.help",
        "登录钉钉开放平台（open-dev.dingtalk.com），首页“基础信息”中的 CorpId，以 ding 开头。",
        "Sign in to DingTalk's open platform (open-dev.dingtalk.com): the CorpId on the home page's basic information, starting with ding.",
    ),
    ("f.app_key", "AppKey", "AppKey"),
    (
        "f.app_key.help",
        "应用开发 → 企业内部应用 → 你的应用 → 凭证与基础信息。",
        "App development → internal apps → your app → credentials and basic information.",
    ),
    ("f.app_secret", "AppSecret", "AppSecret"),
    (
        "f.app_secret.help",
        "与 AppKey 同一页面。只写不读：保存后不再显示，编辑时留空则保留原值。",
        "On the same page as the AppKey. Write-only: never shown again; leave empty when editing to keep it.",
    ),
    ("f.agent_id", "AgentId", "AgentId"),
    (
        "f.agent_id.help",
        "同一页面（可选）：微应用免登和工作通知需要。",
        "Same page (optional): micro-app login and work notices need it.",
    ),
    ("f.enabled", "启用", "Enabled"),
    (
        "f.enabled.help",
        "停用后不处理此应用的回调和定时拉取。",
        "A disabled connector handles no callback and no scheduled pull.",
    ),
    (
        "f.register_callback",
        "自动注册回调",
        "Register the callback",
    ),
    (
        "f.register_callback.help",
        "通过 API 向钉钉注册通讯录事件回调（需要下面的 Token 和 AESKey）；不勾选则在开发者后台“事件订阅”中手动填写回调地址。",
        "Register the contact-event callback with DingTalk through its API (needs the token and AES key below); otherwise enter the callback address in the developer console's event subscription.",
    ),
    ("f.callback_token", "回调 Token", "Callback token"),
    (
        "f.callback_token.help",
        "签名 Token：6–63 位字母或数字（开发者后台配置时 3–32 位），与钉钉“事件订阅”页一致。只写。",
        "The signing token: 6–63 letters or digits (3–32 when set in the developer console), the same as on DingTalk's event subscription page. Write-only.",
    ),
    ("f.callback_aes_key", "回调 AESKey", "Callback AES key"),
    (
        "f.callback_aes_key.help",
        "加密 aes_key：43 位字母或数字。只写。",
        "The encryption aes_key: exactly 43 letters or digits. Write-only.",
    ),
    (
        "f.receive_id_mode",
        "回调加密 receive-id",
        "Callback receive-id",
    ),
    (
        "f.receive_id_mode.help",
        "API 注册的回调用 CorpId 加密，开发者后台配置的用 AppKey。默认按是否自动注册选择。",
        "Callbacks registered through the API are sealed with the CorpId, console ones with the AppKey. By default chosen from the setting above.",
    ),
    (
        "f.root_org_unit_id",
        "根节点（机构 ID）",
        "Root node (org unit id)",
    ),
    (
        "f.root_org_unit_id.help",
        "钉钉的组织导入到本目录的哪个机构下；默认目录的根。机构 ID 见“机构及组”。",
        "The org unit DingTalk's org is imported under; by default the directory's root. Org unit ids are on the Directory page.",
    ),
    ("f.email_field", "邮箱字段", "Email field"),
    (
        "f.email_field.help",
        "用钉钉的个人邮箱（email）还是企业邮箱（org_email）作为账户邮箱。",
        "Whether DingTalk's personal email or the enterprise mailbox (org_email) becomes the account's email.",
    ),
    ("f.default_password", "默认密码", "Default password"),
    (
        "f.default_password.help",
        "导入账户的初始密码，须符合密码策略（安全设置 → 密码策略）；首次登录是否强制修改由密码策略决定。只写。",
        "The first password of imported accounts; it must meet the password policy (Security → password policy), which also says whether it must be changed at first sign-in. Write-only.",
    ),
    ("f.leaver_policy", "离职处理", "Leavers"),
    (
        "f.leaver_policy.help",
        "钉钉删除用户后，本目录中的账户停用还是删除。",
        "When DingTalk deletes a user: disable or delete the account here.",
    ),
    ("f.pull_mode", "全量拉取方式", "Full pull mode"),
    (
        "f.pull_mode.help",
        "审核：先进入临时数据，确认后导入；自动：通过大批量删除保护时直接导入。",
        "Review: staged first, applied once confirmed. Auto: applied at once when the mass-delete guard passes it.",
    ),
    ("f.pull_schedule", "定时拉取", "Pull schedule"),
    (
        "f.pull_schedule.help",
        "cron 表达式，按北京时间（UTC+8）执行；例如 0 2 * * * 为每天凌晨 2 点。",
        "A cron expression evaluated at China time (UTC+8); 0 2 * * * is daily at 02:00.",
    ),
    (
        "f.mass_delete_max_share",
        "大批量删除保护（比例）",
        "Mass-delete guard (share)",
    ),
    (
        "f.mass_delete_max_share.help",
        "一次自动拉取要停用的账户或机构超过此比例（0–1）时，转为人工审核。",
        "An auto pull that would disable more than this share (0–1) of accounts or units waits for review instead.",
    ),
    (
        "f.mass_delete_max_count",
        "大批量删除保护（数量）",
        "Mass-delete guard (count)",
    ),
    (
        "f.mass_delete_max_count.help",
        "要停用的数量超过此值时，转为人工审核。",
        "More than this many to disable, and the run waits for review.",
    ),
    ("f.push_enabled", "推送到钉钉", "Push to DingTalk"),
    (
        "f.push_enabled.help",
        "把本目录推送子树中的变更写回钉钉（需要通讯录写权限）。",
        "Write the pushed subtree's changes back to DingTalk (needs the contact write permission).",
    ),
    (
        "f.push_root_org_unit_id",
        "推送子树根机构（机构 ID）",
        "Pushed subtree's root (org unit id)",
    ),
    (
        "f.push_root_org_unit_id.help",
        "此机构及其所有下级的机构和账户会推送到钉钉。",
        "This org unit and everything below it is pushed to DingTalk.",
    ),
    (
        "f.push_dingtalk_parent",
        "钉钉上级部门 ID",
        "DingTalk parent department id",
    ),
    (
        "f.push_dingtalk_parent.help",
        "推送子树根在钉钉中对应的部门（1 为钉钉根部门）。",
        "The DingTalk department the pushed subtree's root corresponds to (1 is DingTalk's root).",
    ),
    ("f.push_link_mode", "关联方式", "Linking"),
    (
        "f.push_link_mode.help",
        "mapping：只推送本目录建立的对象；association：手机号已在钉钉存在时，先请管理员确认关联。",
        "mapping: push only what this directory made; association: when the mobile is already a DingTalk user, ask an admin to confirm the link.",
    ),
    ("f.push_delete_policy", "删除策略", "Delete policy"),
    (
        "f.push_delete_policy.help",
        "钉钉没有“停用”状态：停用或删除的账户在钉钉中删除、移到指定部门，或保留。",
        "DingTalk has no disabled state: a disabled or deleted account is deleted in DingTalk, moved to a department, or kept.",
    ),
    (
        "f.push_move_dept_id",
        "移入部门 ID",
        "Move to department id",
    ),
    (
        "f.push_move_dept_id.help",
        "删除策略为“移动”时，账户移入的钉钉部门。",
        "With the move policy, the DingTalk department accounts are moved to.",
    ),
    ("f.push_email_field", "推送的邮箱字段", "Pushed email field"),
    (
        "f.push_email_field.help",
        "账户邮箱写入钉钉的个人邮箱还是企业邮箱。",
        "Whether the account's email is written to DingTalk's personal email or the enterprise mailbox.",
    ),
    ("f.oapi_base", "oapi 地址", "oapi base URL"),
    (
        "f.oapi_base.help",
        "默认 https://oapi.dingtalk.com；只有测试或经代理访问时才修改。",
        "https://oapi.dingtalk.com by default; change it only for tests or a proxy.",
    ),
    ("f.api_base", "api 地址", "api base URL"),
    (
        "f.api_base.help",
        "默认 https://api.dingtalk.com。",
        "https://api.dingtalk.com by default.",
    ),
    ("f.login_base", "登录地址", "Login base URL"),
    (
        "f.login_base.help",
        "默认 https://login.dingtalk.com。",
        "https://login.dingtalk.com by default.",
    ),
    ("f.username", "用户名", "Username"),
    ("f.display_name", "姓名", "Display name"),
    ("f.mobile", "手机号", "Mobile"),
    ("f.email", "邮箱", "Email"),
    ("f.job_number", "工号", "Job number"),
    ("f.title", "职位", "Title"),
    ("f.password", "初始密码", "First password"),
    ("f.order", "排序", "Order"),
    ("f.parent_id", "上级机构", "Parent org unit"),
    ("f.org_unit_ids", "所属机构（机构 ID）", "Org units (ids)"),
    (
        "f.org_unit_ids.help",
        "用逗号分隔；改动即为调动，推送子树中的账户会同步到钉钉。",
        "Comma-separated; changing them moves the account, and DingTalk follows for pushed accounts.",
    ),
    ("f.min_length", "最短长度", "Minimum length"),
    (
        "f.require_lower",
        "需要小写字母",
        "Needs a lower-case letter",
    ),
    (
        "f.require_upper",
        "需要大写字母",
        "Needs an upper-case letter",
    ),
    ("f.require_digit", "需要数字", "Needs a digit"),
    ("f.require_symbol", "需要符号", "Needs a symbol"),
    (
        "f.change_default_at_first_login",
        "使用默认密码的账户首次登录时必须修改",
        "Accounts with the default password change it at first sign-in",
    ),
    (
        "f.max_age_days",
        "密码有效期（天）",
        "Password lifetime (days)",
    ),
    (
        "f.max_age_days.help",
        "超过此天数的密码须在下次登录时修改；0 或留空表示永不过期。",
        "A password older than this must be changed at the next sign-in; 0 or empty: never.",
    ),
    (
        "o.corp_id",
        "CorpId（API 注册）",
        "CorpId (registered by API)",
    ),
    (
        "o.app_key",
        "AppKey（开发者后台）",
        "AppKey (developer console)",
    ),
    ("o.email", "个人邮箱 email", "personal email"),
    (
        "o.org_email",
        "企业邮箱 org_email",
        "enterprise mailbox org_email",
    ),
    ("o.disable", "停用", "disable"),
    ("o.delete", "删除", "delete"),
    ("o.review", "审核", "review"),
    ("o.auto", "自动", "auto"),
    ("o.mapping", "mapping", "mapping"),
    ("o.association", "association", "association"),
    ("o.move", "移动", "move"),
    ("o.keep", "保留", "keep"),
    ("sync.callbacks", "回调状态", "Callbacks"),
    ("sync.registered", "注册方式", "Registered"),
    (
        "sync.callback_status",
        "最近一次注册结果",
        "Last registration",
    ),
    ("sync.by_api", "API 自动注册", "by the API"),
    (
        "sync.by_console",
        "开发者后台配置",
        "in the developer console",
    ),
    ("sync.counters", "计数", "Counters"),
    ("sync.duration", "耗时", "Duration"),
    ("sync.errors", "错误", "Errors"),
    ("sync.parked", "搁置的事件", "Parked events"),
    (
        "sync.parked_help",
        "多次处理仍失败的回调事件，附原因。修正原因后重新投递，事件会再次处理。",
        "Callback events that kept failing, with the reason. Fix the cause, then re-drive: the event is handled again.",
    ),
    ("sync.redrive_all", "全部重新投递", "Re-drive all"),
    ("sync.redrive", "重新投递", "Re-drive"),
    ("sync.none_parked", "没有搁置的事件。", "No parked event."),
    ("sync.since", "时间", "Since"),
    ("sync.attempts", "尝试次数", "Attempts"),
    ("sync.pushes", "推送失败", "Failed pushes"),
    (
        "sync.pushes_help",
        "钉钉拒绝、等待管理员处理的推送，附钉钉的错误码和原因。",
        "Pushes DingTalk refused, waiting for an admin, with DingTalk's code and reason.",
    ),
    (
        "sync.no_push",
        "没有启用推送的连接器。",
        "No connector pushes.",
    ),
    ("sync.none_pushes", "没有失败的推送。", "No failed push."),
    ("sync.code", "错误码", "Code"),
    (
        "sync.initial_push",
        "核对并初始推送",
        "Plan an initial push",
    ),
    (
        "sync.initial_push_help",
        "把推送子树与钉钉逐项核对，列出要新建、更新、关联、删除的对象，审核后确定推送（与全量拉取同样的审核页和大批量删除保护）。",
        "Compares the pushed subtree with DingTalk and lists what to create, update, link and delete; review it, then confirm (the same review page and mass-delete guard as a full pull).",
    ),
    ("sync.links", "关联请求", "Link requests"),
    (
        "sync.links_help",
        "关联方式为 association 时：账户的手机号已是某个钉钉用户，确认是同一人则关联，否则拒绝（推送保持搁置，直到手机号更正）。",
        "With association linking: the account's mobile is already a DingTalk user. Approve when it is the same person; refuse otherwise (the push stays parked until the mobile is corrected).",
    ),
    (
        "sync.none_links",
        "没有待处理的关联请求。",
        "No link request waiting.",
    ),
    ("sync.dingtalk_user", "钉钉用户", "DingTalk user"),
    ("sync.approve", "关联", "Link"),
    ("sync.refuse", "拒绝", "Refuse"),
    (
        "directory.help",
        "本目录的组织机构和账户。在推送子树中新建、修改、调动、停用或删除，钉钉会随之更新；每个对象都显示其钉钉 ID 和推送状态。",
        "The directory's org units and accounts. Create, edit, move, disable or delete them; inside a pushed subtree DingTalk follows, and each shows its DingTalk id and push state.",
    ),
    ("directory.search", "搜索账户", "Search accounts"),
    (
        "directory.search_hint",
        "姓名、用户名、手机号、邮箱、工号或钉钉 userid",
        "Name, username, mobile, email, job number or DingTalk userid",
    ),
    ("directory.found", "搜索结果", "Found"),
    ("directory.no_accounts", "没有账户。", "No account."),
    (
        "directory.dingtalk_dept",
        "钉钉部门 ID",
        "DingTalk department id",
    ),
    ("directory.dingtalk_user", "钉钉 userid", "DingTalk userid"),
    ("directory.push", "推送状态", "Push"),
    (
        "directory.accounts",
        "本机构的账户",
        "Accounts of this unit",
    ),
    ("directory.new_account", "新建账户", "New account"),
    (
        "directory.new_account_help",
        "推送子树中的账户需要手机号：钉钉用手机号识别成员，创建后不能再改。",
        "Accounts in a pushed subtree need a mobile: DingTalk knows members by it, and it cannot change afterwards.",
    ),
    ("directory.new_unit", "新建下级机构", "New sub-unit"),
    (
        "directory.edit_unit",
        "编辑、移动或删除本机构",
        "Edit, move or delete this unit",
    ),
    (
        "directory.delete_unit_confirm",
        "删除此机构？只有没有账户和下级机构的机构可以删除。",
        "Delete this org unit? Only an empty unit can be deleted.",
    ),
    ("account.disable", "停用", "Disable"),
    ("account.enable", "启用", "Enable"),
    (
        "account.delete_confirm",
        "删除此账户？推送子树中的账户会按删除策略从钉钉中删除。",
        "Delete this account? In a pushed subtree DingTalk applies the delete policy.",
    ),
    ("account.profile", "基本信息", "Profile"),
    (
        "account.no_mapping",
        "尚未关联钉钉用户。",
        "Not linked to a DingTalk user yet.",
    ),
    (
        "account.no_push",
        "不在推送子树中。",
        "Not in a pushed subtree.",
    ),
    (
        "account.bindings",
        "钉钉登录绑定",
        "DingTalk sign-in bindings",
    ),
    (
        "account.bindings_help",
        "哪个钉钉用户扫码或免登时以此账户登录。解除后，该用户下次登录时会重新绑定。",
        "Which DingTalk user signs in as this account. Once removed, that user binds again at the next sign-in.",
    ),
    ("account.no_bindings", "没有绑定。", "No binding."),
    ("account.unbind", "解除绑定", "Remove"),
    ("account.password", "设置密码", "Set the password"),
    ("account.new_password", "新密码", "New password"),
    (
        "account.must_change",
        "下次登录时必须修改",
        "Must be changed at the next sign-in",
    ),
    ("account.set_password", "设置", "Set"),
    ("account.admin_role", "控制台角色", "Console role"),
    ("account.no_role", "无", "none"),
    ("policy", "密码策略", "Password policy"),
    (
        "policy.help",
        "门户密码、账户密码和连接器默认密码都须符合此策略。",
        "Portal passwords, account passwords and connectors' default passwords must meet it.",
    ),
    ("scim", "SCIM 配置", "SCIM clients"),
    (
        "scim.help",
        "其他身份系统（Entra ID、Okta、IDaaS）以 OAuth2 客户端凭证调用 SCIM 接口。密钥只在创建或轮换时显示一次。",
        "Other identity systems (Entra ID, Okta, IDaaS) call the SCIM endpoint with OAuth 2.0 client credentials. A secret is shown once, at creation or rotation.",
    ),
    ("scim.none", "还没有 SCIM 客户端。", "No SCIM client yet."),
    ("scim.base", "SCIM 地址", "SCIM base URL"),
    ("scim.token_url", "oauth url", "Token URL"),
    ("scim.revoked", "已吊销", "Revoked"),
    ("scim.rotate", "轮换密钥", "Rotate secret"),
    (
        "scim.rotate_confirm",
        "生成新密钥？旧密钥在一天内仍可使用。",
        "Make a new secret? The old one keeps working for a day.",
    ),
    ("scim.revoke", "吊销", "Revoke"),
    (
        "scim.revoke_confirm",
        "吊销此客户端？它的令牌立即失效。",
        "Revoke this client? Its tokens stop working at once.",
    ),
    ("scim.new", "新建 SCIM 客户端", "New SCIM client"),
    ("scim.connector", "推送到的连接器", "Connector it feeds"),
    (
        "scim.connector_help",
        "选择后，客户端只能写此连接器的推送子树，变更随即推送到钉钉。",
        "With one, the client writes only that connector's pushed subtree, and its changes reach DingTalk.",
    ),
    (
        "scim.lifetime",
        "令牌有效期（秒）",
        "Token lifetime (seconds)",
    ),
    (
        "scim.basic",
        "也接受 Basic 认证",
        "Accept Basic authentication too",
    ),
    ("keys", "签名密钥", "Signing keys"),
    (
        "keys.help",
        "签发 id_token、JWT 和 SCIM 令牌的密钥。轮换时新密钥先发布，10 分钟后开始签名。",
        "The keys that sign id_tokens, JWTs and SCIM tokens. A rotation publishes the new key first; it signs 10 minutes later.",
    ),
    ("keys.rotate", "轮换签名密钥", "Rotate the signing key"),
    (
        "keys.rotate_confirm",
        "开始轮换签名密钥？",
        "Start a signing-key rotation?",
    ),
    ("keys.created", "创建时间", "Created"),
    ("keys.signs_from", "开始签名", "Signs from"),
    ("keys.until", "保留到", "Kept until"),
    (
        "audit.help",
        "每一次修改：谁（管理员、钉钉拉取、钉钉事件、SCIM 客户端）、何时、改了什么。密钥不会出现在日志中。",
        "Every change: who (an admin, a DingTalk pull, a DingTalk event, a SCIM client), when, and what. No secret is ever in it.",
    ),
    ("audit.origin", "来源", "Origin"),
    ("audit.entity_kind", "对象类型", "Entity kind"),
    ("audit.entity_id", "对象 ID", "Entity id"),
    ("audit.since", "起始时间", "Since"),
    ("audit.show", "查询", "Show"),
    ("audit.none", "没有记录。", "No entry."),
    ("audit.at", "时间", "At"),
    ("audit.actor", "操作者", "Actor"),
    ("audit.change", "新值", "New value"),
    ("roles.revoke", "收回", "Take back"),
    (
        "roles.revoke_confirm",
        "收回此账户的控制台角色？",
        "Take this account's console role back?",
    ),
    ("roles.grant", "授予角色", "Grant a role"),
    (
        "roles.grant_help",
        "在“机构及组”中打开账户，选择“控制台角色”。",
        "Open the account on the Directory page and choose its console role.",
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

    /// A form field's label (`f.{name}`).
    pub fn label(&self, name: &str) -> &'static str {
        self.s(&format!("f.{name}"))
    }

    /// A form field's explanation (`f.{name}.help`).
    pub fn help(&self, name: &str) -> &'static str {
        self.s(&format!("f.{name}.help"))
    }

    /// A select's option (`o.{value}`).
    pub fn option(&self, value: &str) -> &'static str {
        self.s(&format!("o.{value}"))
    }

    /// The console's sections: (path, page, title).
    pub fn nav(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        [
            ("/admin", "overview", "nav.overview"),
            ("/admin/imports", "imports", "nav.imports"),
            ("/admin/sync", "sync", "nav.sync"),
            ("/admin/directory", "directory", "nav.directory"),
            ("/admin/sign-in", "sign_in", "nav.sign_in"),
            ("/admin/security", "security", "nav.security"),
            ("/admin/roles", "roles", "nav.roles"),
            ("/admin/audit", "audit", "nav.audit"),
        ]
        .into_iter()
        .map(|(path, page, key)| (path, page, self.s(key)))
        .collect()
    }

    /// The account fields of the directory's forms: (name, required when creating).
    pub fn account_fields(&self) -> [(&'static str, bool); 7] {
        [
            ("username", true),
            ("display_name", true),
            ("mobile", false),
            ("email", false),
            ("job_number", false),
            ("title", false),
            ("password", false),
        ]
    }

    /// The words the page's script shows (`js.*`), as a JSON object for `data-words`.
    pub fn script_words(&self) -> String {
        let words: serde_json::Map<String, serde_json::Value> = WORDS
            .iter()
            .filter(|(k, _, _)| k.starts_with("js."))
            .map(|(k, _, _)| ((*k).to_owned(), self.s(k).into()))
            .collect();
        serde_json::Value::Object(words).to_string()
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

    /// Every word a template or the connector form names exists (a missing one would show "?").
    #[test]
    fn every_word_the_pages_use_exists() {
        let templates = [
            include_str!("../../templates/console/base.html"),
            include_str!("../../templates/console/overview.html"),
            include_str!("../../templates/console/imports.html"),
            include_str!("../../templates/console/run.html"),
            include_str!("../../templates/console/sign_in.html"),
            include_str!("../../templates/console/roles.html"),
            include_str!("../../templates/console/gate.html"),
            include_str!("../../templates/console/connector.html"),
            include_str!("../../templates/console/sync.html"),
            include_str!("../../templates/console/directory.html"),
            include_str!("../../templates/console/accounts_table.html"),
            include_str!("../../templates/console/account.html"),
            include_str!("../../templates/console/security.html"),
            include_str!("../../templates/console/audit.html"),
            include_str!("../../templates/console/source_fields.html"),
            include_str!("../../templates/console/app_fields.html"),
            include_str!("../../templates/console/source.html"),
            include_str!("../../templates/console/app.html"),
        ];
        let t = Text(Lang::En);
        let mut used = Vec::new();
        for page in templates {
            for (open, wrap) in [("t.s(\"", ""), ("t.label(\"", "f."), ("t.help(\"", "f.")] {
                for piece in page.split(open).skip(1) {
                    let key = piece.split('"').next().unwrap_or_default();
                    let full = if wrap.is_empty() {
                        key.to_owned()
                    } else if open.starts_with("t.help") {
                        format!("f.{key}.help")
                    } else {
                        format!("f.{key}")
                    };
                    used.push(full);
                }
            }
        }
        for (_, fields) in super::super::pages::CONNECTOR_FORM {
            for f in *fields {
                used.push(format!("f.{}", f.name));
                used.push(format!("f.{}.help", f.name));
                for o in f.options {
                    used.push(format!("o.{o}"));
                }
            }
        }
        used.extend(["subject".to_owned(), "preferred_username".to_owned()]);
        for (name, _) in t.account_fields() {
            used.push(format!("f.{name}"));
        }
        for (_, _, title) in t.nav() {
            assert_ne!(title, "?");
        }
        assert!(used.len() > 100, "{}", used.len());
        let missing: Vec<&String> = used.iter().filter(|k| t.s(k) == "?").collect();
        assert!(missing.is_empty(), "no word for {missing:?}");
        // The script's words reach it.
        let words: serde_json::Value = serde_json::from_str(&t.script_words()).unwrap_or_default();
        assert_eq!(words["js.saved"], "Saved");
    }
}
