//! URLs of node-as-a-service providers carry API keys in the path (`/v3/<key>`), the query
//! (`?apikey=`) or the user info. Only [`redact_url`]'s output may be printed.

use url::Url;

/// The URL with every part that may hold a secret replaced by `***`: user info, query values,
/// and any path segment longer than 8 characters or containing a digit other than a short
/// version tag (`v3`, `rpc`, `v2` stay readable).
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = Url::parse(raw) else {
        // Not a URL: we cannot tell which part is secret, so show none of it.
        return "<unparseable URL>".to_string();
    };
    if !url.username().is_empty() {
        let _ = url.set_username("***");
    }
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| s.map(redact_segment).collect())
        .unwrap_or_default();
    if !segments.is_empty() {
        url.set_path(&segments.join("/"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, _)| (k.into_owned(), "***".to_string()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.set_fragment(None);
    // `Url` percent-encodes the asterisks in user info; put them back for readability.
    url.to_string().replace("%2A%2A%2A", "***")
}

/// The parts of `raw` that [`redact_url`] hides, to scrub from text a server echoes back.
pub fn secret_parts(raw: &str) -> Vec<String> {
    let Ok(url) = Url::parse(raw) else {
        return vec![raw.to_string()];
    };
    let mut parts: Vec<String> = url
        .path_segments()
        .map(|s| {
            s.filter(|seg| redact_segment(seg) == "***")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    parts.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
    parts.extend(url.password().map(str::to_string));
    if !url.username().is_empty() {
        parts.push(url.username().to_string());
    }
    parts.retain(|p| p.len() >= 4);
    parts
}

/// `text` with every secret part replaced by `***`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
}

fn redact_segment(segment: &str) -> String {
    let version_tag =
        segment.len() <= 3 && segment.starts_with('v') && segment[1..].chars().all(|c| c.is_ascii_digit());
    let plain_word = segment.len() <= 8 && segment.chars().all(|c| c.is_ascii_alphabetic() || c == '-');
    if segment.is_empty() || version_tag || plain_word {
        segment.to_string()
    } else {
        "***".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::{redact_url, scrub, secret_parts};

    #[test]
    fn infura_key_in_path_is_hidden() {
        let shown = redact_url("https://mainnet.infura.io/v3/9aa3d95b3bc440fa88ea12eaa4456161");
        assert_eq!(shown, "https://mainnet.infura.io/v3/***");
    }

    #[test]
    fn alchemy_and_query_and_userinfo_keys_are_hidden() {
        assert_eq!(
            redact_url("https://eth-mainnet.g.alchemy.com/v2/abcDEF123ghi"),
            "https://eth-mainnet.g.alchemy.com/v2/***"
        );
        let q = redact_url("https://rpc.example.com/rpc?apikey=s3cr3t&x=1");
        assert!(!q.contains("s3cr3t"), "{q}");
        assert!(q.contains("apikey=***"), "{q}");
        let u = redact_url("https://user:hunter2@node.example.com:8545/");
        assert!(!u.contains("hunter2") && !u.contains("user:"), "{u}");
    }

    #[test]
    fn echoed_secrets_are_scrubbed() {
        let url = "https://mainnet.infura.io/v3/9aa3d95b3bc440fa88ea12eaa4456161";
        let body = "invalid project id 9aa3d95b3bc440fa88ea12eaa4456161";
        assert_eq!(scrub(body, &secret_parts(url)), "invalid project id ***");
    }

    #[test]
    fn plain_local_urls_stay_readable() {
        assert_eq!(redact_url("http://127.0.0.1:8545"), "http://127.0.0.1:8545/");
        assert_eq!(redact_url("not a url with key abc"), "<unparseable URL>");
    }
}
