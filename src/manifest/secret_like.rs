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

/// The manifest's text with every secret-looking `KEY = "value"` masked (`mask`), same
/// length, so diagnostics can quote the file around an error without printing a
/// credential again. Every string written directly in `[secrets]` counts as one: values
/// never belong there, and the one written there is a secret by its place.
pub fn mask_in_source(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_secrets = false;
    for line in text.split_inclusive('\n') {
        in_secrets = section(line).map_or(in_secrets, |name| name == "secrets");
        match secret_in_line(line, in_secrets) {
            Some((start, value)) => {
                out.push_str(&line[..start]);
                out.push_str(&mask(value));
                out.push_str(&line[start + value.len()..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

/// Every value `mask_in_source` masks, longest first, so messages quoting one of them
/// can be masked the same way.
pub fn secrets_in_source(text: &str) -> Vec<String> {
    let mut in_secrets = false;
    let mut found = Vec::new();
    for line in text.split_inclusive('\n') {
        in_secrets = section(line).map_or(in_secrets, |name| name == "secrets");
        if let Some((_, value)) = secret_in_line(line, in_secrets) {
            if !value.is_empty() {
                found.push(value.to_string());
            }
        }
    }
    found.sort_by_key(|v| std::cmp::Reverse(v.len()));
    found.dedup();
    found
}

/// A message about the manifest with every credential in it masked: the values masked
/// in the source (`known`), and any quoted or back-ticked word that looks like a
/// credential on its own (a value given with `--set`, say).
pub fn mask_message(message: &str, known: &[String]) -> String {
    let mut out = message.to_string();
    // Shorter values would match ordinary words; `mask_in_source` still masks them.
    for v in known.iter().filter(|v| v.len() >= 6) {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), &mask(v));
        }
    }
    let words: Vec<String> =
        out.split(['`', '"', '\'', ' ', '\n']).filter(|w| w.len() >= 8 && detect("", w).is_some()).map(str::to_string).collect();
    for w in words {
        out = out.replace(&w, &mask(&w));
    }
    out
}

/// `sk-p*************`: all but the first four characters hidden, and all of a short
/// value (four characters of eight would give away half of it). Same length.
pub fn mask(value: &str) -> String {
    let keep = if value.chars().count() >= 12 { 4 } else { 0 };
    value.chars().enumerate().map(|(i, c)| if i < keep || !c.is_ascii() { c } else { '*' }).collect()
}

/// `Some(name)` when the line is a table header `[name]`.
fn section(line: &str) -> Option<&str> {
    let t = line.trim();
    let t = t.split_once('#').map_or(t, |(head, _)| head).trim();
    let inner = t.strip_prefix('[')?.strip_suffix(']')?;
    Some(inner.trim_matches(['[', ']']).trim())
}

/// Where a secret value starts in a `KEY = "value"` line, and the value.
fn secret_in_line(line: &str, in_secrets: bool) -> Option<(usize, &str)> {
    let (key, rest) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return None;
    }
    let open = rest.find(['"', '\''])?;
    // A string right after `=` is the entry's value; one inside `{ ... }` is a key's.
    let direct = rest[..open].trim().is_empty();
    let quote = rest.as_bytes()[open] as char;
    let len = rest[open + 1..].find(quote)?;
    let value = &rest[open + 1..open + 1 + len];
    if !(in_secrets && direct) && detect(key, value).is_none() {
        return None;
    }
    Some((line.len() - rest.len() + open + 1, value))
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
    fn masks_every_string_written_in_secrets_and_in_messages() {
        let text = "[secrets]\nK = \"hunter2\"\nL = { env = \"MY_VAR\" }\n[env]\nX = \"plain\"\n";
        let masked = super::mask_in_source(text);
        assert!(masked.contains("K = \"*******\""), "{masked}");
        assert!(masked.contains("L = { env = \"MY_VAR\" }") && masked.contains("X = \"plain\""), "{masked}");
        let known = super::secrets_in_source(text);
        assert_eq!(known, vec!["hunter2".to_string()]);
        assert_eq!(super::mask_message("invalid type: string \"hunter2\"", &known), "invalid type: string \"*******\"");
        let m = super::mask_message("`sk-proj-abcdefghijklmnopqrstuvwxyz` is not a valid app name", &[]);
        assert!(!m.contains("abcdefgh") && m.starts_with("`sk-p***"), "{m}");
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
