//! The local admin token: `DINGBRIDGE_ADMIN_TOKEN` when set, else the token kept in the data
//! directory's `admin.token` (owner-only), made at the first start and read at every later one.
//! The store keeps only its digest, as for any admin token.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use dingbridge::adapters::embedded::DirSecrets;
use dingbridge::ports::{Clock, DeploymentSecret, Table};
use dingbridge::secrets::generate_token;
use dingbridge::store::admin_tokens::AdminTokens;

/// Where this start's admin token came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `DINGBRIDGE_ADMIN_TOKEN`: nothing is written to the data directory.
    Environment,
    /// The token file; `created` when this start made it.
    File { created: bool },
}

/// The admin token a local run uses, and where a person finds it.
#[derive(Clone)]
pub struct LocalToken {
    pub value: String,
    pub source: TokenSource,
    /// `<data dir>/admin.token` (where the token is, or would be without the environment's).
    pub file: PathBuf,
}

impl std::fmt::Debug for LocalToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalToken")
            .field("source", &self.source)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl LocalToken {
    /// The token as a shell expression for printed commands: never the token itself, which
    /// would end up in terminal scroll-back and shell history.
    pub fn shell(&self) -> String {
        match self.source {
            TokenSource::Environment => "$DINGBRIDGE_ADMIN_TOKEN".to_owned(),
            TokenSource::File { .. } => format!("$(cat {})", shell_word(&self.file)),
        }
    }

    /// `-H "Authorization: Bearer …"` for a curl line.
    pub fn curl_header(&self) -> String {
        format!("-H \"Authorization: Bearer {}\"", self.shell())
    }
}

/// `path` as one shell word: as is when it is plain, single-quoted otherwise.
pub(crate) fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@".contains(c));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The token of this start, its digest stored (again, after the store was reset).
pub async fn local_token(
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
    data_dir: &Path,
    given: Option<String>,
) -> anyhow::Result<LocalToken> {
    let file = DirSecrets::new(data_dir).path(DeploymentSecret::AdminToken);
    let given = given.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if let Some(value) = given {
        admin::bootstrap_admin_token(table, clock, Some(value.clone()))
            .await
            .context("cannot store the admin token")?;
        return Ok(LocalToken {
            value,
            source: TokenSource::Environment,
            file,
        });
    }
    let (value, created) = DirSecrets::new(data_dir)
        .get_or_create(DeploymentSecret::AdminToken, || {
            generate_token(admin::TOKEN_PREFIX)
        })?;
    let value = value.expose().to_owned();
    AdminTokens::new(table, clock)
        .add(&value, "local")
        .await
        .context("cannot store the admin token")?;
    Ok(LocalToken {
        value,
        source: TokenSource::File { created },
        file,
    })
}
