//! The simulated orgs kept in a file (`SimConfig::state_file`): read at start, written after every
//! change (coalesced) and at shutdown, so a restarted simulator serves the org it served before.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use dingbridge::adapters::embedded::files;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::org::SavedOrg;
use crate::state::{SimState, read};

/// Bumped when the file's shape changes incompatibly; another version is refused, not guessed at.
const VERSION: u32 = 1;

/// What the file holds: the seed the apps' credentials derive from, and every corp's org.
#[derive(Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub seed: u64,
    pub corps: Vec<SavedOrg>,
}

/// Where the state is saved, and the signal that it changed.
pub struct Saver {
    pub path: PathBuf,
    pub seed: u64,
    pub changed: Notify,
}

/// The snapshot in `path`; `None` when there is no file yet.
pub fn load(path: &Path) -> anyhow::Result<Option<Snapshot>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let snapshot: Snapshot = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a saved simulator state", path.display()))?;
    anyhow::ensure!(
        snapshot.version == VERSION,
        "{} has version {}, this simulator reads version {VERSION}",
        path.display(),
        snapshot.version
    );
    Ok(Some(snapshot))
}

/// Writes every corp's org to the saver's file (atomically, owner-only).
pub fn save(state: &SimState) -> anyhow::Result<()> {
    let Some(saver) = &state.saver else {
        return Ok(());
    };
    let snapshot = Snapshot {
        version: VERSION,
        seed: saver.seed,
        corps: state.corps.iter().map(|c| read(&c.org).saved()).collect(),
    };
    let bytes = serde_json::to_vec(&snapshot)?;
    files::write_private(&saver.path, &bytes)
        .with_context(|| format!("cannot write {}", saver.path.display()))
}

/// Saves after each change; changes made while a save runs are caught by the next one.
pub async fn run(state: Arc<SimState>) {
    let Some(saver) = &state.saver else {
        return;
    };
    loop {
        saver.changed.notified().await;
        let state = Arc::clone(&state);
        let saved = tokio::task::spawn_blocking(move || save(&state)).await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "saving the simulated org failed")
            }
            Err(e) => tracing::warn!(error = %e, "saving the simulated org failed"),
        }
    }
}
