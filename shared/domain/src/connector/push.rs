//! A connector's push settings (IDaaS: "数据同步到钉钉"): whether directory changes go out to
//! DingTalk, the directory subtree that is pushed (IDPRootID) and the DingTalk department it maps
//! to, how an account meets an existing DingTalk user, and what a disabled account becomes.

use serde::{Deserialize, Serialize};

use super::{EmailField, MAX_IDENTIFIER};
use crate::dingtalk::DeptId;
use crate::ids::OrgUnitId;
use crate::values::{InvalidField, identifier};

/// At most this many `extension` keys are pushed (DingTalk's own console allows a few dozen).
pub const MAX_EXTENSION_KEYS: usize = 20;

/// What happens when a pushed account's mobile is already a DingTalk user of the corp
/// (60104 / 60107).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkMode {
    /// Link the account to that user at once, and update it (IDaaS: 映射).
    #[default]
    Mapping,
    /// File a link request an admin approves or refuses (IDaaS: 关联).
    Association,
}

/// What a pushed account becomes in DingTalk once it is disabled or deleted in the directory:
/// ordinary DingTalk accounts have no disabled state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushDeletePolicy {
    /// Delete the DingTalk user.
    #[default]
    Delete,
    /// Move the user into `push_move_dept_id` (a holding department).
    Move,
    /// Leave the DingTalk user as it is.
    Keep,
}

/// An account field the push may write; unlisted fields are left as DingTalk has them. A create
/// always sends the name, mobile and departments, which DingTalk requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushField {
    Name,
    Email,
    JobNumber,
    Title,
    Departments,
    Order,
}

impl PushField {
    pub const ALL: [Self; 6] = [
        Self::Name,
        Self::Email,
        Self::JobNumber,
        Self::Title,
        Self::Departments,
        Self::Order,
    ];
}

/// The push settings as stored and shown (flattened into the connector, hence the prefixes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PushSettings {
    pub push_enabled: bool,
    /// The directory unit whose subtree is pushed; itself stands for `push_dingtalk_parent` and is
    /// not created in DingTalk. Required once the push is enabled.
    pub push_root_org_unit_id: Option<OrgUnitId>,
    /// The DingTalk department the root maps to (1 = the corp's root).
    pub push_dingtalk_parent: DeptId,
    pub push_link_mode: LinkMode,
    pub push_delete_policy: PushDeletePolicy,
    /// The holding department of the `move` policy.
    pub push_move_dept_id: Option<DeptId>,
    /// Which DingTalk field the account's email goes to (`org_email` needs corporate mail).
    pub push_email_field: EmailField,
    pub push_fields: Vec<PushField>,
    /// Account attributes sent as DingTalk `extension` keys (in append mode, so that keys not
    /// listed here are never cleared); each must already exist in DingTalk's admin console.
    pub push_extension_keys: Vec<String>,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            push_enabled: false,
            push_root_org_unit_id: None,
            push_dingtalk_parent: DeptId::ROOT,
            push_link_mode: LinkMode::default(),
            push_delete_policy: PushDeletePolicy::default(),
            push_move_dept_id: None,
            push_email_field: EmailField::default(),
            push_fields: PushField::ALL.to_vec(),
            push_extension_keys: Vec::new(),
        }
    }
}

impl PushSettings {
    /// True when the push writes `field`.
    pub fn pushes(&self, field: PushField) -> bool {
        self.push_fields.contains(&field)
    }
}

/// The push fields of a connector input; each absent one keeps the current (or default) value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PushInput {
    pub push_enabled: Option<bool>,
    pub push_root_org_unit_id: Option<String>,
    pub push_dingtalk_parent: Option<u64>,
    pub push_link_mode: Option<LinkMode>,
    pub push_delete_policy: Option<PushDeletePolicy>,
    pub push_move_dept_id: Option<u64>,
    pub push_email_field: Option<EmailField>,
    pub push_fields: Option<Vec<PushField>>,
    pub push_extension_keys: Option<Vec<String>>,
}

fn dept(field: &'static str, raw: u64) -> Result<DeptId, InvalidField> {
    DeptId::new(raw).map_err(|_| InvalidField::new(field, "must be a DingTalk department id (≥ 1)"))
}

/// The settings `input` asks for on top of `current`, or every problem with them.
pub fn check_push(
    input: &PushInput,
    current: Option<&PushSettings>,
    problems: &mut Vec<InvalidField>,
) -> PushSettings {
    let base = current.cloned().unwrap_or_default();
    let mut out = base.clone();
    if let Some(v) = input.push_enabled {
        out.push_enabled = v;
    }
    if let Some(raw) = &input.push_root_org_unit_id {
        match identifier("push_root_org_unit_id", raw) {
            Ok(None) => out.push_root_org_unit_id = None,
            Ok(Some(id)) => match OrgUnitId::parse(&id) {
                Ok(id) => out.push_root_org_unit_id = Some(id),
                Err(e) => problems.push(InvalidField::new("push_root_org_unit_id", e.reason)),
            },
            Err(e) => problems.push(e),
        }
    }
    if let Some(raw) = input.push_dingtalk_parent {
        match dept("push_dingtalk_parent", raw) {
            Ok(d) => out.push_dingtalk_parent = d,
            Err(e) => problems.push(e),
        }
    }
    if let Some(v) = input.push_link_mode {
        out.push_link_mode = v;
    }
    if let Some(v) = input.push_delete_policy {
        out.push_delete_policy = v;
    }
    if let Some(raw) = input.push_move_dept_id {
        match dept("push_move_dept_id", raw) {
            Ok(d) => out.push_move_dept_id = Some(d),
            Err(e) => problems.push(e),
        }
    }
    if let Some(v) = input.push_email_field {
        out.push_email_field = v;
    }
    if let Some(fields) = &input.push_fields {
        let mut fields = fields.clone();
        fields.sort();
        fields.dedup();
        out.push_fields = fields;
    }
    if let Some(keys) = &input.push_extension_keys {
        out.push_extension_keys = check_extension_keys(keys, problems);
    }
    if out.push_enabled && out.push_root_org_unit_id.is_none() {
        problems.push(InvalidField::new(
            "push_root_org_unit_id",
            "is required when push_enabled is true: name the directory org unit whose subtree is pushed",
        ));
    }
    if out.push_delete_policy == PushDeletePolicy::Move && out.push_move_dept_id.is_none() {
        problems.push(InvalidField::new(
            "push_move_dept_id",
            "is required when push_delete_policy is \"move\": name the DingTalk department that holds disabled users",
        ));
    }
    out
}

fn check_extension_keys(keys: &[String], problems: &mut Vec<InvalidField>) -> Vec<String> {
    if keys.len() > MAX_EXTENSION_KEYS {
        problems.push(InvalidField::new(
            "push_extension_keys",
            format!(
                "has {} keys; at most {MAX_EXTENSION_KEYS} are allowed",
                keys.len()
            ),
        ));
        return Vec::new();
    }
    let mut out = Vec::new();
    for key in keys {
        let len = key.trim().chars().count();
        if len > MAX_IDENTIFIER {
            problems.push(InvalidField::new(
                "push_extension_keys",
                format!("a key has {len} characters; at most {MAX_IDENTIFIER} are allowed"),
            ));
            continue;
        }
        match identifier("push_extension_keys", key) {
            Ok(Some(k)) if !out.contains(&k) => out.push(k),
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connector_without_push_settings_reads_back_with_the_push_off() {
        let s: PushSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, PushSettings::default());
        assert!(!s.push_enabled);
        assert_eq!(s.push_dingtalk_parent, DeptId::ROOT);
        assert!(PushField::ALL.iter().all(|f| s.pushes(*f)));
    }

    #[test]
    fn enabling_the_push_needs_a_root_and_the_move_policy_a_department() {
        let mut problems = Vec::new();
        let input = PushInput {
            push_enabled: Some(true),
            push_delete_policy: Some(PushDeletePolicy::Move),
            push_dingtalk_parent: Some(0),
            ..PushInput::default()
        };
        check_push(&input, None, &mut problems);
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "push_dingtalk_parent",
                "push_root_org_unit_id",
                "push_move_dept_id"
            ]
        );
    }

    #[test]
    fn absent_fields_keep_the_current_settings() {
        let root = OrgUnitId::generate();
        let current = PushSettings {
            push_enabled: true,
            push_root_org_unit_id: Some(root.clone()),
            push_link_mode: LinkMode::Association,
            ..PushSettings::default()
        };
        let mut problems = Vec::new();
        let out = check_push(
            &PushInput {
                push_extension_keys: Some(vec![" cost_center ".into(), "cost_center".into()]),
                ..PushInput::default()
            },
            Some(&current),
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(out.push_root_org_unit_id, Some(root));
        assert_eq!(out.push_link_mode, LinkMode::Association);
        assert_eq!(out.push_extension_keys, ["cost_center"]);
    }

    #[test]
    fn extension_keys_refuse_invisible_characters_and_too_many_keys() {
        let mut problems = Vec::new();
        check_extension_keys(&["a\u{200b}b".into()], &mut problems);
        assert_eq!(problems.len(), 1);
        let many: Vec<String> = (0..=MAX_EXTENSION_KEYS).map(|i| format!("k{i}")).collect();
        check_extension_keys(&many, &mut problems);
        assert_eq!(problems.len(), 2);
        assert!(problems[1].reason.contains("at most 20"));
    }
}
