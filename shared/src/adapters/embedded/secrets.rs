//! The `Secrets` port on a local data directory: each secret is a file of its own
//! (`DeploymentSecret::file_name`), owner-only like every file there, created at the first start.

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::files;
use crate::dingtalk::SecretString;
use crate::ports::{DeploymentSecret, Secrets, SecretsError};

/// The secrets of a data directory.
#[derive(Clone, Debug)]
pub struct DirSecrets {
    dir: PathBuf,
}

impl DirSecrets {
    /// The secrets kept in `dir` (which `EmbeddedStore::open` or `files::private_dir` created).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Where `which` is kept.
    pub fn path(&self, which: DeploymentSecret) -> PathBuf {
        self.dir.join(which.file_name())
    }

    /// The secret, or — when there is none yet — `make()`'s value, written owner-only first.
    /// `true` with the value when this call wrote it. Two processes racing on a first start agree:
    /// the file is created exclusively, and the loser reads the winner's value.
    pub fn get_or_create(
        &self,
        which: DeploymentSecret,
        make: impl FnOnce() -> String,
    ) -> Result<(SecretString, bool), SecretsError> {
        if let Some(value) = self.read(which)? {
            return Ok((value, false));
        }
        let path = self.path(which);
        let value = make();
        match create_exclusive(&path, &value) {
            Ok(()) => Ok((SecretString::new(value.trim()), true)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match self.read(which)? {
                Some(value) => Ok((value, false)),
                // Empty: a start that crashed before writing it. Replace it whole.
                None => {
                    files::write_private(&path, format!("{value}\n").as_bytes())
                        .map_err(|e| failure(which, &path, &e.to_string()))?;
                    Ok((SecretString::new(value.trim()), true))
                }
            },
            Err(e) => Err(failure(which, &path, &e.to_string())),
        }
    }

    fn read(&self, which: DeploymentSecret) -> Result<Option<SecretString>, SecretsError> {
        let path = self.path(which);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(failure(which, &path, &e.to_string())),
        };
        // A file made by an older version may be readable by others: tighten it on every read.
        files::private_file(&path).map_err(|e| failure(which, &path, &e.to_string()))?;
        let value = text.trim();
        // An empty file is what a crash between create and write leaves: no secret yet.
        Ok((!value.is_empty()).then(|| SecretString::new(value)))
    }
}

#[async_trait]
impl Secrets for DirSecrets {
    async fn get(&self, which: DeploymentSecret) -> Result<Option<SecretString>, SecretsError> {
        self.read(which)
    }
}

fn failure(which: DeploymentSecret, path: &Path, reason: &str) -> SecretsError {
    SecretsError {
        secret: which,
        location: path.display().to_string(),
        reason: reason.to_owned(),
    }
}

/// Writes a new owner-only file; `AlreadyExists` when there is one.
fn create_exclusive(path: &Path, value: &str) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(files::FILE_MODE);
    }
    let mut file = options.open(path)?;
    file.write_all(format!("{value}\n").as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_created_once_owner_only_and_read_back_at_later_starts() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = DirSecrets::new(dir.path());
        let (first, created) = secrets
            .get_or_create(DeploymentSecret::DataKey, || "made-at-first-start".into())
            .unwrap();
        assert!(created);
        assert_eq!(first.expose(), "made-at-first-start");
        let (again, created) = secrets
            .get_or_create(DeploymentSecret::DataKey, || "never used".into())
            .unwrap();
        assert!(!created);
        assert_eq!(again.expose(), "made-at-first-start");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(secrets.path(DeploymentSecret::DataKey))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, files::FILE_MODE);
        }
    }

    #[test]
    fn an_empty_file_left_by_a_crashed_start_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = DirSecrets::new(dir.path());
        std::fs::write(secrets.path(DeploymentSecret::AdminToken), "").unwrap();
        let (value, created) = secrets
            .get_or_create(DeploymentSecret::AdminToken, || "dbadm_new".into())
            .unwrap();
        assert!(created);
        assert_eq!(value.expose(), "dbadm_new");
        let text = std::fs::read_to_string(secrets.path(DeploymentSecret::AdminToken)).unwrap();
        assert_eq!(text.trim(), "dbadm_new");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_readable_by_others_is_tightened_when_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let secrets = DirSecrets::new(dir.path());
        let path = secrets.path(DeploymentSecret::DataKey);
        std::fs::write(&path, "an old key file").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (value, created) = secrets
            .get_or_create(DeploymentSecret::DataKey, || "unused".into())
            .unwrap();
        assert!(!created);
        assert_eq!(value.expose(), "an old key file");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, files::FILE_MODE);
    }
}
