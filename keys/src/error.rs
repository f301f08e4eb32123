use std::time::Duration;

/// Errors name keys by pseudo-name only: a secret value never reaches a message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no secret for key `{name}`: set {env} or add `{name} = \"...\"` to the secrets file \
         (--secrets-file, mode 0600)"
    )]
    MissingSecret { name: String, env: String },

    #[error("secrets file {path}: {reason}")]
    SecretsFile { path: String, reason: String },

    #[error("provider URL template `{template}` has no `{{key}}` placeholder for the API key")]
    BadTemplate { template: String },

    #[error("{0}")]
    Config(String),

    #[error(
        "every key is over its daily budget or cooling down; the next budget frees in {wait:?} \
         (key `{key}`); add keys or raise --key-daily"
    )]
    Exhausted { key: String, wait: Duration },

    #[error("every key was refused by its provider (401/403): {keys}; check the secret values")]
    AllKeysBad { keys: String },

    #[error("key coordinator {url}: {reason}; check that Redis is running there (--coordinator)")]
    Coordinator { url: String, reason: String },

    #[error("a request of {calls} calls exceeds key `{key}`'s {rps} calls per second; use smaller batches")]
    BatchTooLarge { calls: u32, key: String, rps: u32 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A Redis URL with its password hidden.
pub(crate) fn redact_redis(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}***{}", &url[..scheme + 3], &url[at..]),
        _ => url.to_string(),
    }
}
