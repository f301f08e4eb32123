use std::time::Duration;

/// Everything that can go wrong talking to a node or reading its replies.
///
/// Every variant names the endpoint by its redacted form only: a URL that holds an API key
/// never reaches a message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("RPC URL `{url}` is not valid: {reason}")]
    BadUrl { url: String, reason: String },

    #[error(
        "{endpoint}: {what} failed after {attempts} attempts over {elapsed:?}: {reason}; \
         check that the node is reachable, or raise --max-retries"
    )]
    RetriesExhausted {
        endpoint: String,
        what: String,
        attempts: u32,
        elapsed: Duration,
        reason: String,
    },

    #[error("{endpoint}: {what}: HTTP {status}: {body}; check the URL and its credentials")]
    HttpStatus {
        endpoint: String,
        what: String,
        status: u16,
        body: String,
    },

    #[error("{endpoint}: {method}: the node answered error {code}: {message}")]
    Rpc {
        endpoint: String,
        method: String,
        code: i64,
        message: String,
    },

    #[error("{endpoint} serves chain {got}, not chain {want} (--chain): point --rpc-url at a node of chain {want}")]
    WrongChain { endpoint: String, got: u64, want: u64 },

    #[error(
        "{endpoint}: {what}: the reply passed {limit_mib} MiB (--max-reply-mb); raise it, or ask for \
         fewer blocks per request (the backfill's --batch-blocks)"
    )]
    ReplyTooLarge {
        endpoint: String,
        what: String,
        limit_mib: u64,
    },

    #[error("{endpoint}: {what}: malformed reply: {reason}")]
    MalformedReply {
        endpoint: String,
        what: String,
        reason: String,
    },

    #[error("block {block}: malformed {object}: field `{field}`: {reason}")]
    MalformedField {
        block: u64,
        object: &'static str,
        field: String,
        reason: String,
    },

    #[error("block {block} does not exist on the node (is --to past the chain head?)")]
    MissingBlock { block: u64 },

    #[error("block {block}: {reason}")]
    Inconsistent { block: u64, reason: String },

    #[error(transparent)]
    Keys(#[from] chainx_keys::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
