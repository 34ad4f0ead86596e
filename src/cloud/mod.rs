//! Per-provider client setup: credentials, endpoints, and the registry logins each
//! cloud's image registry wants.

pub mod aws;
pub mod aws_bucket;
pub mod aws_budget;
pub mod aws_logs;
pub mod aws_metrics;
pub mod azure;
pub mod budget;
pub mod docker_config;
pub mod ecr;
pub mod gcp;
pub mod http;
pub mod login;
pub mod registry_logins;
pub mod s3_lease;

/// `127.0.0.0/8`, `localhost` and `::1`, with or without a port: hosts that are spoken
/// to over plain HTTP and never sent real credentials.
pub fn is_loopback_host(host_port: &str) -> bool {
    if let Ok(ip) = host_port.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host_port.rsplit_once(':').filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit())).map(|(h, _)| h).unwrap_or(host_port)
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The endpoint override in `var` (tests, emulators, sovereign clouds), when set, without
/// a trailing `/`. It must be HTTPS, or plain HTTP to this machine: aideploy sends tokens
/// and secret values there, which must never cross a network in the clear.
pub fn endpoint_override(var: &str) -> anyhow::Result<Option<String>> {
    let Some(v) = std::env::var(var).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    check_endpoint(var, &v)?;
    Ok(Some(v.trim_end_matches('/').to_string()))
}

/// [`endpoint_override`]'s rule for one value.
pub fn check_endpoint(var: &str, value: &str) -> anyhow::Result<()> {
    use crate::error::UsageError;
    let url = reqwest::Url::parse(value).map_err(|e| {
        UsageError::new(format!("{var}={value} is not a URL ({e})")).hint("give a full URL such as https://api.example.com")
    })?;
    let host = url.host_str().unwrap_or("");
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(host) => Ok(()),
        "http" => Err(UsageError::new(format!(
            "{var}={value} is plain HTTP to another machine: aideploy would send tokens and secret values there unencrypted"
        ))
        .hint("use an https:// URL; plain http:// is accepted only for this machine (127.0.0.1, localhost, [::1])")
        .into()),
        other => Err(UsageError::new(format!("{var}={value}: `{other}` is not an HTTP endpoint")).hint("use an https:// URL").into()),
    }
}

/// `name` when it fits in `max` characters; otherwise a prefix of it and a short hash of
/// the whole, so two long names that share a prefix never come out the same.
pub fn fit_name(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    use sha2::{Digest, Sha256};
    let hash = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
    let keep = max.saturating_sub(hash.len() + 1);
    let mut cut = keep.min(name.len());
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{hash}", name[..cut].trim_end_matches(['-', '_', '.']))
}

#[cfg(test)]
mod tests {
    use super::{check_endpoint, fit_name, is_loopback_host};

    #[test]
    fn endpoint_overrides_are_https_or_loopback() {
        for ok in
            ["https://api.example.com", "https://10.0.0.5:8443/x", "http://127.0.0.1:4566", "http://localhost:9000/", "http://[::1]:80"]
        {
            assert!(check_endpoint("X", ok).is_ok(), "{ok}");
        }
        for bad in ["http://api.example.com", "http://10.0.0.5:4566", "http://localhost.example.com", "ftp://127.0.0.1", "api.example.com"]
        {
            let e = check_endpoint("X", bad).unwrap_err();
            let f = crate::error::Failure::of(&e).and_then(crate::error::Failure::as_usage).expect("a usage error");
            assert!(f.message.contains("X="), "{}", f.message);
        }
    }

    #[test]
    fn long_names_keep_a_prefix_and_a_hash() {
        assert_eq!(fit_name("short", 10), "short");
        let (a, b) = (fit_name(&"x".repeat(70), 64), fit_name(&format!("{}y", "x".repeat(69)), 64));
        assert!(a.len() <= 64 && b.len() <= 64 && a != b, "{a} {b}");
        assert!(a.starts_with("xxxxxxxx"));
    }

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1:5000", "127.1.2.3", "localhost:80", "LOCALHOST", "[::1]:5000", "::1"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["ghcr.io", "10.0.0.1:5000", "localhost.example.com", "128.0.0.1", "[2001:db8::1]:443"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
