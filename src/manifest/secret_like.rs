//! Spots values in `[env]` that are almost certainly credentials, so they are moved to
//! `[secrets]` before they land in a function configuration in plain text.

/// What kind of secret the value looks like, if any.
pub fn detect(key: &str, value: &str) -> Option<&'static str> {
    let v = value.trim();
    let prefixed: &[(&str, usize, &str)] = &[
        ("sk-ant-", 20, "an Anthropic API key"),
        ("sk-", 20, "an OpenAI-style API key"),
        ("hf_", 30, "a Hugging Face token"),
        ("ghp_", 30, "a GitHub token"),
        ("github_pat_", 30, "a GitHub token"),
        ("glpat-", 20, "a GitLab token"),
        ("xoxb-", 20, "a Slack token"),
        ("xoxp-", 20, "a Slack token"),
        ("AIza", 35, "a Google API key"),
        ("rnd_", 20, "a Render API key"),
        ("pcsk_", 20, "a Pinecone API key"),
    ];
    for (prefix, min_rest, what) in prefixed {
        if let Some(rest) = v.strip_prefix(prefix) {
            if rest.len() >= *min_rest && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Some(what);
            }
        }
    }
    if (v.starts_with("AKIA") || v.starts_with("ASIA")) && v.len() == 20 && v.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Some("an AWS access key id");
    }
    if v.contains("-----BEGIN") && v.contains("PRIVATE KEY") {
        return Some("a private key");
    }
    if let Some((scheme, rest)) = v.split_once("://") {
        if let Some((userinfo, _)) = rest.split_once('@') {
            if userinfo.contains(':') && !scheme.is_empty() {
                return Some("a URL with a password");
            }
        }
    }
    let upper = key.to_ascii_uppercase();
    let secret_name = ["_API_KEY", "_SECRET", "_SECRET_KEY", "_PASSWORD", "_TOKEN", "_ACCESS_KEY"].iter().any(|s| upper.ends_with(s))
        || ["API_KEY", "SECRET", "PASSWORD", "TOKEN", "SECRET_KEY"].contains(&upper.as_str());
    if secret_name && !v.is_empty() {
        return Some("its name says it is a credential");
    }
    None
}

/// The manifest's text with every secret-looking `KEY = "value"` masked (all but the
/// first four characters), same length, so diagnostics can quote the file around an
/// error without printing a credential again.
pub fn mask_in_source(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&mask_line(line));
    }
    out
}

fn mask_line(line: &str) -> String {
    let Some((key, rest)) = line.split_once('=') else { return line.to_string() };
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return line.to_string();
    }
    let Some(open) = rest.find(['"', '\'']) else { return line.to_string() };
    let quote = rest.as_bytes()[open] as char;
    let Some(len) = rest[open + 1..].find(quote) else { return line.to_string() };
    let value = &rest[open + 1..open + 1 + len];
    if detect(key, value).is_none() {
        return line.to_string();
    }
    let start = line.len() - rest.len() + open + 1;
    let masked: String = value.chars().enumerate().map(|(i, c)| if i < 4 || !c.is_ascii() { c } else { '*' }).collect();
    format!("{}{}{}", &line[..start], masked, &line[start + value.len()..])
}

#[cfg(test)]
mod tests {
    use super::detect;

    #[test]
    fn finds_credentials() {
        assert!(detect("X", "sk-proj-abcdefghijklmnopqrstuvwxyz0123").is_some());
        assert!(detect("X", "AKIAABCDEFGHIJKLMNOP").is_some());
        assert!(detect("DATABASE_URL", "postgres://user:pw@db/x").is_some());
        assert!(detect("OPENAI_API_KEY", "whatever").is_some());
        assert!(detect("GITHUB_TOKEN", "x").is_some());
    }

    #[test]
    fn masks_secrets_in_source_keeping_length() {
        let text = "[env]\nLOG = \"info\"\nKEY = \"sk-proj-abcdefghijklmnopqrstuvwxyz\"\n";
        let masked = super::mask_in_source(text);
        assert_eq!(masked.len(), text.len());
        assert!(masked.contains("LOG = \"info\""));
        assert!(masked.contains("\"sk-p****"));
        assert!(!masked.contains("abcdefgh"));
    }

    #[test]
    fn leaves_ordinary_settings_alone() {
        assert!(detect("LOG_LEVEL", "info").is_none());
        assert!(detect("TOKENIZERS_PARALLELISM", "false").is_none());
        assert!(detect("MAX_TOKENS", "512").is_none());
        assert!(detect("MODEL", "sk-small").is_none());
        assert!(detect("URL", "https://example.org/a@b").is_none());
        assert!(detect("OPENAI_API_KEY", "").is_none());
    }
}
