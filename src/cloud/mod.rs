//! Per-provider client setup: credentials, endpoints, and the registry logins each
//! cloud's image registry wants.

pub mod aws;
pub mod aws_bucket;
pub mod azure;
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
    use super::{fit_name, is_loopback_host};

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
