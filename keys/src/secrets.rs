//! Pseudo-names to secret values. Jobs and configs name keys (`api_key_1`); the values come from
//! the environment (`CHAINX_KEY_API_KEY_1`) or from a secrets file readable by its owner only.

use std::collections::HashMap;
use std::path::Path;

use std::sync::Arc;

use crate::costs::CallCosts;
use crate::error::{Error, Result};
use crate::pool::Key;

/// One provider's keys as configured: a URL template with `{key}`, pseudo-names and limits.
#[derive(Debug, Clone)]
pub struct ProviderKeys {
    pub provider: String,
    pub url_template: String,
    pub keys: Vec<String>,
    /// In the unit of `costs`: calls, or the provider's credits per second and per day.
    pub rps: u32,
    pub daily: u64,
    pub costs: Arc<CallCosts>,
}

/// `CHAINX_KEY_<NAME>`: the pseudo-name upper-cased, anything but letters and digits as `_`.
pub fn env_name(name: &str) -> String {
    let tail: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("CHAINX_KEY_{tail}")
}

/// Resolves every pseudo-name to a [`Key`], from the environment first, then the secrets file.
pub fn resolve_keys(providers: &[ProviderKeys], secrets_file: Option<&Path>) -> Result<Vec<Key>> {
    let file = match secrets_file {
        Some(p) => read_secrets_file(p)?,
        None => HashMap::new(),
    };
    let mut out = Vec::new();
    for p in providers {
        if p.keys.is_empty() {
            // A plain node (no API key): the provider itself is the one "key" the pool rotates.
            out.push(
                Key::new(&p.provider, &p.provider, p.url_template.clone(), p.rps, p.daily).with_costs(p.costs.clone()),
            );
            continue;
        }
        if !p.url_template.contains("{key}") {
            return Err(Error::BadTemplate {
                template: p.url_template.clone(),
            });
        }
        for name in &p.keys {
            let env = env_name(name);
            let secret = std::env::var(&env)
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| file.get(name).cloned())
                .ok_or_else(|| Error::MissingSecret {
                    name: name.clone(),
                    env: env.clone(),
                })?;
            out.push(
                Key::new(
                    &p.provider,
                    name,
                    p.url_template.replace("{key}", &secret),
                    p.rps,
                    p.daily,
                )
                .with_costs(p.costs.clone()),
            );
        }
    }
    Ok(out)
}

/// `name = "value"` (or `name=value`) lines; `#` starts a comment. The file must not be
/// readable by group or others.
fn read_secrets_file(path: &Path) -> Result<HashMap<String, String>> {
    let err = |reason: String| Error::SecretsFile {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(err(format!("mode {mode:o} lets others read it; run chmod 600 on it")));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The line number only: the line itself holds a secret.
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| err(format!("line {} is not `name = \"value\"`", i + 1)))?;
        out.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(keys: &[&str]) -> ProviderKeys {
        ProviderKeys {
            provider: "infura".into(),
            url_template: "https://mainnet.infura.io/v3/{key}".into(),
            keys: keys.iter().map(|s| s.to_string()).collect(),
            rps: 10,
            daily: 100_000,
            costs: Arc::default(),
        }
    }

    #[test]
    fn env_names_are_derived_from_pseudo_names() {
        assert_eq!(env_name("api_key_1"), "CHAINX_KEY_API_KEY_1");
        assert_eq!(env_name("alchemy-main"), "CHAINX_KEY_ALCHEMY_MAIN");
    }

    #[test]
    fn secrets_come_from_a_private_file_and_never_appear_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets");
        std::fs::write(&file, "# keys\nfile_key_1 = \"s3cr3t-value-1\"\nbroken line\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = resolve_keys(&[provider(&["file_key_1"])], Some(&file))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && !err.contains("broken"), "{err}");

        std::fs::write(&file, "file_key_1 = \"s3cr3t-value-1\"\n").unwrap();
        let keys = resolve_keys(&[provider(&["file_key_1"])], Some(&file)).unwrap();
        assert_eq!(keys[0].name, "file_key_1");
        assert!(!format!("{keys:?}").contains("s3cr3t"));

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = resolve_keys(&[provider(&["file_key_1"])], Some(&file))
            .unwrap_err()
            .to_string();
        assert!(err.contains("chmod 600") && !err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn a_missing_secret_names_the_variable_to_set() {
        let err = resolve_keys(&[provider(&["nowhere_key_9"])], None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("CHAINX_KEY_NOWHERE_KEY_9"), "{err}");
        let mut p = provider(&["x"]);
        p.url_template = "https://no-placeholder".into();
        assert!(resolve_keys(&[p.clone()], None)
            .unwrap_err()
            .to_string()
            .contains("{key}"));
        // Without keys, the URL is a plain node and stands for itself.
        p.keys.clear();
        let keys = resolve_keys(&[p], None).unwrap();
        assert_eq!((keys.len(), keys[0].name.as_str()), (1, "infura"));
    }
}
