//! Redaction: every form in which a secret value can show up in text we print (a
//! health check's answer, a log tail, an API error) is replaced with `***`. Besides the
//! value itself that is its base64 (standard and URL-safe, padded or not, and the part
//! that stays the same whatever bytes stand before it, as in `user:secret` of a Basic
//! header) and its URL-encoded forms (`%2B` and `%2b`, `+` or `%20` for a space).

use std::sync::RwLock;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;

/// Values shorter than this are redacted as they are (from 4 characters), but not in
/// encoded forms, and deploy warns about them (`Secrets::short`).
pub const MIN_SAFE_LEN: usize = 8;

/// Every needle to replace for `value`, longest first.
pub fn forms(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() < 4 {
        return out;
    }
    out.push(value.to_string());
    if value.len() >= MIN_SAFE_LEN {
        let bytes = value.as_bytes();
        let mut b64 = vec![STANDARD.encode(bytes), STANDARD_NO_PAD.encode(bytes)];
        // At offset k (0..3) after a 3-byte boundary, the characters that encode only
        // the value's bits: from ceil(8k/6) to floor(8(k+n)/6).
        for k in 0..3usize {
            let mut shifted = vec![0u8; k];
            shifted.extend_from_slice(bytes);
            let enc = STANDARD_NO_PAD.encode(&shifted);
            let (start, end) = ((8 * k).div_ceil(6), 8 * (k + bytes.len()) / 6);
            if end > start && end - start >= MIN_SAFE_LEN {
                b64.push(enc[start..end].to_string());
            }
        }
        for b in b64 {
            let url_safe = b.replace('+', "-").replace('/', "_");
            out.push(b);
            out.push(url_safe);
        }
        for form in [percent_encode(value, false, false), percent_encode(value, true, false), percent_encode(value, false, true)] {
            out.push(form);
        }
    }
    out.sort_by_key(|n| std::cmp::Reverse(n.len()));
    out.dedup();
    out
}

/// `value` URL-encoded: every byte but the unreserved ones as `%XX` (lowercase hex when
/// `lower`), a space as `+` when `form`.
fn percent_encode(value: &str, lower: bool, form: bool) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' if form => out.push('+'),
            _ if lower => out.push_str(&format!("%{b:02x}")),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Replaces every needle in `text` with `***`; `needles` longest first.
pub fn apply(needles: &[String], text: &str) -> String {
    let mut out = text.to_string();
    for n in needles {
        if out.contains(n.as_str()) {
            out = out.replace(n.as_str(), "***");
        }
    }
    out
}

static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers a value read in this process, so errors printed at the end
/// (`report::print`) are redacted even when no code on their way did it.
pub fn remember(value: &str) {
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    for f in forms(value) {
        if !known.contains(&f) {
            known.push(f);
        }
    }
    known.sort_by_key(|n| std::cmp::Reverse(n.len()));
}

/// `text` with every value remembered in this process redacted.
pub fn everywhere(text: &str) -> String {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    apply(&known, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(value: &str, text: &str) -> String {
        apply(&forms(value), text)
    }

    #[test]
    fn covers_base64_at_every_offset_and_url_encoding() {
        let v = "s3cr3t+/value with space&=?";
        for text in [
            format!("body: {}", STANDARD.encode(v)),
            format!("body: {}", STANDARD_NO_PAD.encode(v)),
            format!("body: {}", STANDARD.encode(v).replace('+', "-").replace('/', "_")),
            format!("Authorization: Basic {}", STANDARD.encode(format!("user:{v}"))),
            format!("Authorization: Basic {}", STANDARD.encode(format!("us:{v}:x"))),
            format!("Authorization: Basic {}", STANDARD.encode(format!("u:{v}"))),
            "GET /cb?token=s3cr3t%2B%2Fvalue%20with%20space%26%3D%3F".to_string(),
            "GET /cb?token=s3cr3t%2b%2fvalue%20with%20space%26%3d%3f".to_string(),
            "token=s3cr3t%2B%2Fvalue+with+space%26%3D%3F".to_string(),
            format!("raw {v} raw"),
        ] {
            let out = redact(v, &text);
            assert!(out.contains("***"), "not redacted: {text} -> {out}");
            // What is left around the redaction is at most the two characters that also
            // carry bits of the neighbouring bytes.
            for leak in ["s3cr3t", "czNjcjN0", "value", "dmFsdW"] {
                assert!(!out.contains(leak), "{leak} left in {out} (from {text})");
            }
        }
    }

    #[test]
    fn short_values_are_redacted_only_as_written() {
        assert_eq!(forms("abc"), Vec::<String>::new());
        assert_eq!(forms("abcd"), vec!["abcd".to_string()]);
        assert_eq!(redact("hunter2", "pw=hunter2"), "pw=***");
    }
}
