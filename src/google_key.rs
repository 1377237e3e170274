//! A Google service-account key, as the Sheets source and the BigQuery sink use it: a token
//! provider that signs its JWT for the key's own `token_uri`, and the account's e-mail (which
//! an error about access must name).

use std::path::PathBuf;
use std::sync::Arc;

use gcp_auth::CustomServiceAccount;
use serde::Deserialize;
use tokio::sync::OnceCell;

pub struct ServiceAccount {
    pub provider: CustomServiceAccount,
    pub email: String,
}

impl ServiceAccount {
    /// Reads the key at `path`, else at `GOOGLE_APPLICATION_CREDENTIALS`; the error says what
    /// is wrong and, when there is no key, which `setting` to set.
    pub async fn load(path: Option<PathBuf>, setting: &str) -> Result<Self, String> {
        let path = path
            .or_else(|| std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from))
            .ok_or_else(|| format!("no Google service-account key: set {setting} or GOOGLE_APPLICATION_CREDENTIALS"))?;
        let text = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| format!("cannot read the service-account key {}: {e}", path.display()))?;
        #[derive(Deserialize)]
        struct KeyFile {
            client_email: String,
        }
        let key: KeyFile =
            serde_json::from_str(&text).map_err(|e| format!("{} is not a service-account key: {e}", path.display()))?;
        let provider = CustomServiceAccount::from_json(&text)
            .map_err(|e| format!("the service-account key {} is unusable: {e}", path.display()))?;
        Ok(Self {
            provider,
            email: key.client_email,
        })
    }
}

/// A key read the first time it is needed (a worker that never reads a sheet needs none), then
/// kept.
pub struct LazyAccount {
    path: Option<PathBuf>,
    setting: &'static str,
    account: OnceCell<Arc<ServiceAccount>>,
}

impl LazyAccount {
    /// `path` is the setting's value (`None` when empty); `setting` its name, for the error.
    pub fn new(path: Option<PathBuf>, setting: &'static str) -> Self {
        Self {
            path,
            setting,
            account: OnceCell::new(),
        }
    }

    pub async fn get(&self) -> Result<Arc<ServiceAccount>, String> {
        self.account
            .get_or_try_init(|| async {
                ServiceAccount::load(self.path.clone(), self.setting)
                    .await
                    .map(Arc::new)
            })
            .await
            .cloned()
    }
}
