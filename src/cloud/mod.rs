//! Per-provider client setup: credentials, endpoints, and the registry logins each
//! cloud's image registry wants.

pub mod aws;
pub mod azure;
pub mod docker_config;
pub mod ecr;
pub mod gcp;
pub mod http;
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

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

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
