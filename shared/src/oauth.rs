//! PLACEHOLDER until the oauth branch merges (replaced by its BearerCheck): accepts nothing.

use std::sync::Arc;

use crate::domain::ids::{ConnectorId, OrgUnitId};
use crate::ports::{Clock, Table};

pub struct ScimCaller {
    pub client_id: String,
    pub name: String,
    pub connector_id: Option<ConnectorId>,
    pub root_org_unit_id: Option<OrgUnitId>,
}

pub enum BearerRefusal {
    Missing,
    Invalid(String),
    Unavailable(String),
}

#[derive(Clone)]
pub struct BearerCheck {
    _table: Arc<dyn Table>,
}

impl BearerCheck {
    pub fn new(table: Arc<dyn Table>, _clock: Arc<dyn Clock>, _public_url: &str) -> Self {
        Self { _table: table }
    }

    pub async fn caller(
        &self,
        authorization: Option<&str>,
        _source_ip: Option<&str>,
    ) -> Result<ScimCaller, BearerRefusal> {
        match authorization {
            None => Err(BearerRefusal::Missing),
            Some(_) => Err(BearerRefusal::Invalid("placeholder".to_owned())),
        }
    }
}
