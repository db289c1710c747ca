//! The directory as the plan sees it, compact enough for a 100,000-account directory to sit in a
//! 128 MB Lambda next to the pull: unique values and field sets are held as 128-bit keys, account
//! and unit ids once each. What a key cannot show — the old value of a changed field, a leaver's
//! name — the caller loads for the few rows that need it (`fields_wanted`, `remember_fields`).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};

use crate::dingtalk::{DeptId, DingUserId};
use crate::directory::{Account, AccountStatus, OrgUnit};
use crate::ids::{AccountId, OrgUnitId};

/// What a unique value is: keys of different kinds never meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueKind {
    Username,
    Email,
    Mobile,
    UserId,
}

/// A 128-bit key of a text value (two 64-bit halves: 8-byte aligned, so an entry of an index
/// is 24 bytes, not 32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(u64, u64);

/// Keys of text values: two independently keyed SipHash runs. The keys are random per process
/// (no one can aim a collision at them from outside), and a chance collision among a million
/// values has a probability near 10⁻²⁶.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    a: RandomState,
    b: RandomState,
}

impl Keys {
    pub fn of(&self, kind: ValueKind, value: &str) -> Key {
        self.hash(&(kind, value))
    }

    fn hash<T: Hash>(&self, value: &T) -> Key {
        Key(self.a.hash_one(value), self.b.hash_one(value))
    }

    /// One key for the fields a pull compares (display name, email, mobile, job number, title).
    pub fn fields(&self, f: FieldsRef<'_>) -> Key {
        self.hash(&f)
    }
}

/// The compared fields as borrowed text, in a fixed order.
pub type FieldsRef<'a> = (
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

/// A multimap from [`Key`]s to ordinals, 24 bytes an entry: filled with `push`, sorted once by
/// `seal`, then searched. A third the size of a hash map of the same entries and no rehash peak;
/// as fast, because keys are uniform: a small directory (one `u32` per four entries) of where each
/// range of leading key bits starts leaves a search of a handful of entries. An unsealed index
/// still answers right, by a scan: sealing is what makes it fast.
#[derive(Clone, Debug, Default)]
pub struct KeyIndex {
    entries: Vec<(Key, u32)>,
    sorted: bool,
    /// Leading key bits the directory resolves (0 = no directory).
    bits: u32,
    /// `starts[b]`: the first entry whose key's leading `bits` are `b` (one more at the end).
    starts: Vec<u32>,
}

impl KeyIndex {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            entries: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    pub fn push(&mut self, key: Key, value: u32) {
        self.sorted = false;
        self.entries.push((key, value));
    }

    /// Sorts the entries (values of one key ascending), builds the directory, and gives back
    /// spare capacity.
    pub fn seal(&mut self) {
        self.entries.sort_unstable();
        self.entries.shrink_to_fit();
        let n = self.entries.len();
        // About four entries per directory slot, at most 2^20 slots.
        self.bits = (usize::BITS - (n / 4).leading_zeros()).min(20);
        let slots = 1usize << self.bits;
        let mut starts = Vec::with_capacity(slots + 1);
        let mut at = 0usize;
        for slot in 0..slots {
            while self
                .entries
                .get(at)
                .is_some_and(|(k, _)| self.slot(*k) < slot)
            {
                at += 1;
            }
            starts.push(at as u32);
        }
        starts.push(n as u32);
        self.starts = starts;
        self.sorted = true;
    }

    fn slot(&self, key: Key) -> usize {
        if self.bits == 0 {
            0
        } else {
            (key.0 >> (64 - self.bits)) as usize
        }
    }

    /// Every value of `key`, in ascending order (an unsealed index: in the order pushed).
    pub fn values(&self, key: Key) -> impl Iterator<Item = u32> + '_ {
        let within: &[(Key, u32)] = if self.sorted {
            let slot = self.slot(key);
            let from = self.starts.get(slot).copied().unwrap_or(0) as usize;
            let to = self.starts.get(slot + 1).copied().unwrap_or(0) as usize;
            let bucket = self.entries.get(from..to).unwrap_or_default();
            let first = bucket.partition_point(|(k, _)| *k < key);
            bucket.get(first..).unwrap_or_default()
        } else {
            &self.entries
        };
        let scan = !self.sorted;
        within
            .iter()
            .take_while(move |(k, _)| scan || *k == key)
            .filter(move |(k, _)| *k == key)
            .map(|&(_, v)| v)
    }

    /// The first value of `key`.
    pub fn first(&self, key: Key) -> Option<u32> {
        self.values(key).next()
    }
}

/// The fields of an account a pull shows when they change, and a leaver's names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountFields {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub job_number: Option<String>,
    pub title: Option<String>,
}

impl AccountFields {
    pub fn of(a: &Account) -> Self {
        Self {
            username: a.username.to_string(),
            display_name: a.display_name.to_string(),
            email: a.email.as_ref().map(ToString::to_string),
            mobile: a.mobile.as_ref().map(ToString::to_string),
            job_number: a.job_number.clone(),
            title: a.title.clone(),
        }
    }

    pub fn compared(&self) -> FieldsRef<'_> {
        (
            &self.display_name,
            self.email.as_deref(),
            self.mobile.as_deref(),
            self.job_number.as_deref(),
            self.title.as_deref(),
        )
    }
}

/// An account mapped to a DingTalk user of the connector, as keys and ordinals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedAccount {
    /// Ordinal in the view's account table.
    account: u32,
    pub userid: DingUserId,
    /// Key of its username ([`ValueKind::Username`]).
    pub username: Key,
    /// Key of its compared fields ([`Keys::fields`]).
    pub fields: Key,
    pub enabled: bool,
    /// Whether the account has an email: one made without (then pushed) takes a DingTalk user
    /// without one too (`rules::desired_linked_account`).
    pub has_email: bool,
    /// Its units, primary first, as ordinals in the view's unit table.
    units: Box<[u32]>,
}

impl MappedAccount {
    pub fn has_units(&self) -> bool {
        !self.units.is_empty()
    }
}

/// An org unit mapped to a DingTalk department of the connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedUnit {
    pub id: OrgUnitId,
    pub name: String,
    pub parent_id: Option<OrgUnitId>,
    pub order: i64,
}

impl MappedUnit {
    pub fn of(u: &OrgUnit) -> Self {
        Self {
            id: u.id.clone(),
            name: u.name.clone(),
            parent_id: u.parent_id.clone(),
            order: u.order,
        }
    }
}

/// No link: the account is not mapped to a DingTalk user of this connector.
const UNLINKED: u32 = u32::MAX;

/// What the plan needs to know of the directory. Build it with [`DirectoryView::new`] and the
/// `add_*` methods while paging through the connector's mappings, all accounts and all units.
#[derive(Clone, Debug)]
pub struct DirectoryView {
    /// Where DingTalk's root department (1) lands: the connector's root unit.
    pub root_unit: OrgUnitId,
    keys: Keys,
    /// Every account met, once: ordinal → id.
    account_ids: Vec<AccountId>,
    /// Account ordinal → index in `mapped` (or `UNLINKED`).
    links: Vec<u32>,
    /// The connector's user mappings whose account exists.
    mapped: Vec<MappedAccount>,
    /// Key of a userid → index in `mapped`.
    by_user: KeyIndex,
    /// Key of every account's unique values (normalised, as the markers hold them) → ordinal.
    owners: KeyIndex,
    /// Units memberships refer to: ordinal → id, and back.
    unit_ids: Vec<OrgUnitId>,
    unit_index: HashMap<OrgUnitId, u32>,
    /// The connector's department mappings whose unit exists.
    pub units: HashMap<DeptId, MappedUnit>,
    /// Every unit by `(parent, lower-cased name)`: the directory's unique name under a parent.
    pub unit_names: HashMap<(OrgUnitId, String), OrgUnitId>,
    /// Account fields at hand (ordinal → fields): all of them in a view built `keeping_fields`,
    /// otherwise those the caller loaded for the rows being planned.
    fields: HashMap<u32, AccountFields>,
    keep_fields: bool,
}

impl DirectoryView {
    pub fn new(root_unit: OrgUnitId) -> Self {
        Self {
            root_unit,
            keys: Keys::default(),
            account_ids: Vec::new(),
            links: Vec::new(),
            mapped: Vec::new(),
            by_user: KeyIndex::default(),
            owners: KeyIndex::default(),
            unit_ids: Vec::new(),
            unit_index: HashMap::new(),
            units: HashMap::new(),
            unit_names: HashMap::new(),
            fields: HashMap::new(),
            keep_fields: false,
        }
    }

    /// A view that keeps every mapped account's fields in memory (tests and benchmarks, where
    /// there is no store to load them from).
    pub fn keeping_fields(mut self) -> Self {
        self.keep_fields = true;
        self
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    fn intern_account(&mut self, id: &AccountId) -> u32 {
        let ordinal = self.account_ids.len() as u32;
        self.account_ids.push(id.clone());
        self.links.push(UNLINKED);
        ordinal
    }

    fn intern_unit(&mut self, id: &OrgUnitId) -> u32 {
        if let Some(&i) = self.unit_index.get(id) {
            return i;
        }
        let i = self.unit_ids.len() as u32;
        self.unit_ids.push(id.clone());
        self.unit_index.insert(id.clone(), i);
        i
    }

    fn add_values(&mut self, ordinal: u32, a: &Account) {
        let keys = &self.keys;
        self.owners
            .push(keys.of(ValueKind::Username, a.username.as_str()), ordinal);
        if let Some(e) = &a.email {
            self.owners
                .push(keys.of(ValueKind::Email, e.as_str()), ordinal);
        }
        if let Some(m) = &a.mobile {
            self.owners
                .push(keys.of(ValueKind::Mobile, m.as_str()), ordinal);
        }
    }

    /// Records an account's unique values (every account of the directory, mapped or not).
    /// Call it once per account.
    pub fn add_owner(&mut self, a: &Account) {
        let ordinal = self.intern_account(&a.id);
        self.add_values(ordinal, a);
    }

    /// Records an account mapped to a DingTalk user of this connector (also its unique values).
    pub fn add_mapped_account(&mut self, userid: DingUserId, a: &Account) {
        let ordinal = self.intern_account(&a.id);
        self.add_values(ordinal, a);
        let mut units: Vec<u32> = Vec::with_capacity(a.memberships.len());
        if let Some(p) = a.primary_unit() {
            units.push(self.intern_unit(p));
        }
        for m in &a.memberships {
            let u = self.intern_unit(&m.org_unit_id);
            if !units.contains(&u) {
                units.push(u);
            }
        }
        let fields = AccountFields::of(a);
        let index = self.mapped.len() as u32;
        self.mapped.push(MappedAccount {
            account: ordinal,
            userid: userid.clone(),
            username: self.keys.of(ValueKind::Username, a.username.as_str()),
            fields: self.keys.fields(fields.compared()),
            enabled: a.status == AccountStatus::Enabled,
            has_email: a.email.is_some(),
            units: units.into_boxed_slice(),
        });
        self.by_user
            .push(self.keys.of(ValueKind::UserId, userid.as_str()), index);
        if let Some(link) = self.links.get_mut(ordinal as usize) {
            *link = index;
        }
        if self.keep_fields {
            self.fields.insert(ordinal, fields);
        }
    }

    /// Records a unit's name under its parent (every unit of the directory).
    pub fn add_unit_name(&mut self, u: &OrgUnit) {
        if let Some(parent) = &u.parent_id {
            self.unit_names
                .insert((parent.clone(), u.name.to_lowercase()), u.id.clone());
        }
    }

    /// Records a unit mapped to a DingTalk department of this connector (also its name).
    pub fn add_mapped_unit(&mut self, dept: DeptId, u: &OrgUnit) {
        self.add_unit_name(u);
        self.units.insert(dept, MappedUnit::of(u));
    }

    /// The unit a department lands in, when it exists already.
    pub fn unit_of(&self, dept: DeptId) -> Option<&OrgUnitId> {
        if dept.is_root() {
            Some(&self.root_unit)
        } else {
            self.units.get(&dept).map(|u| &u.id)
        }
    }

    /// Sorts the view's indexes: call it once the view is loaded (lookups are scans before).
    pub fn seal(&mut self) {
        self.by_user.seal();
        self.owners.seal();
        self.account_ids.shrink_to_fit();
        self.links.shrink_to_fit();
        self.mapped.shrink_to_fit();
    }

    /// The account mapped to a DingTalk user of this connector.
    /// The account values a staged user asks for, or every reason it cannot be imported: as an
    /// event would, an empty email is no reason when the user's linked account has none either.
    pub fn desired(
        &self,
        u: &super::StagedUser,
        email_field: crate::connector::EmailField,
    ) -> Result<crate::rules::DesiredAccount, Vec<crate::values::InvalidField>> {
        let has_email = self.mapped(&u.userid).is_none_or(|m| m.has_email);
        crate::rules::desired_linked_account(&u.to_ding(), email_field, has_email)
    }

    pub fn mapped(&self, userid: &DingUserId) -> Option<&MappedAccount> {
        self.by_user
            .first(self.keys.of(ValueKind::UserId, userid.as_str()))
            .and_then(|i| self.mapped.get(i as usize))
    }

    /// Every mapped account (the leaver candidates).
    pub fn mapped_accounts(&self) -> impl Iterator<Item = &MappedAccount> {
        self.mapped.iter()
    }

    pub fn mapped_count(&self) -> usize {
        self.mapped.len()
    }

    /// The id of a mapped account (`None` only for a record from another view).
    pub fn account_id(&self, m: &MappedAccount) -> Option<&AccountId> {
        self.account_ids.get(m.account as usize)
    }

    /// The owner of a unique value (given as its key), and the DingTalk user of this connector
    /// its account is mapped to, if any.
    pub fn owner(&self, key: Key) -> Option<(&AccountId, Option<&DingUserId>)> {
        let ordinal = self.owners.first(key)?;
        let linked = self
            .links
            .get(ordinal as usize)
            .filter(|&&l| l != UNLINKED)
            .and_then(|&l| self.mapped.get(l as usize))
            .map(|m| &m.userid);
        Some((self.account_ids.get(ordinal as usize)?, linked))
    }

    /// The units of a mapped account, primary first.
    pub fn units_of<'a>(&'a self, m: &'a MappedAccount) -> impl Iterator<Item = &'a OrgUnitId> {
        m.units
            .iter()
            .filter_map(|&u| self.unit_ids.get(u as usize))
    }

    /// The account fields at hand for a mapped account.
    pub fn fields_of(&self, m: &MappedAccount) -> Option<&AccountFields> {
        self.fields.get(&m.account)
    }

    /// Remembers the fields of the account mapped to `userid`, loaded by the caller for the
    /// rows being planned.
    pub fn remember_fields(&mut self, userid: &DingUserId, fields: AccountFields) {
        if let Some(ordinal) = self.mapped(userid).map(|m| m.account) {
            self.fields.insert(ordinal, fields);
        }
    }

    /// Forgets the fields the caller loaded (a view `keeping_fields` keeps them).
    pub fn forget_fields(&mut self) {
        if !self.keep_fields {
            self.fields.clear();
        }
    }
}
