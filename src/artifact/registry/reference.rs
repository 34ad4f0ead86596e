//! Image references: `registry/repository[:tag][@digest]`.

use super::*;

// ---------------------------------------------------------------------------------------
// References

/// `registry/repository[:tag][@sha256:...]`. Names without a registry are Docker Hub's
/// (`python:3.11-slim` is `docker.io/library/python:3.11-slim`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`, as written (`docker.io`, `127.0.0.1:5000`, `[::1]:5000`).
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference> {
        s.parse()
    }

    /// The same repository, pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference { digest: Some(digest.to_string()), ..self.clone() }
    }

    /// The same registry, another repository.
    pub fn in_repository(&self, repository: &str) -> Reference {
        Reference { repository: repository.to_string(), tag: None, digest: None, registry: self.registry.clone() }
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What goes after `/manifests/`: the digest when pinned, else the tag (`latest`).
    pub fn manifest_ref(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// A registry on this machine's loopback: spoken to over plain HTTP.
    pub fn is_loopback(&self) -> bool {
        crate::cloud::is_loopback_host(&self.registry)
    }

    /// `http(s)://host[:port]`, where the API lives.
    pub(super) fn base_url(&self) -> String {
        let scheme = if self.is_loopback() { "http" } else { "https" };
        let host = if self.registry == "docker.io" { "registry-1.docker.io" } else { &self.registry };
        format!("{scheme}://{host}")
    }
}

impl FromStr for Reference {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Reference> {
        let bad = |why: &str| {
            anyhow!(Hinted::new(
                format!("`{s}` is not an image reference: {why}"),
                "write it as registry/repository[:tag][@sha256:digest], e.g. ghcr.io/acme/app:1.0"
            ))
        };
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                sha256_hex(d).map_err(|_| bad("the digest is not sha256: + 64 hex digits"))?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, path)) if first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[') => {
                (first.to_string(), path.to_string())
            }
            _ => ("docker.io".to_string(), rest.to_string()),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), Some(tag.to_string())),
            _ => (path, None),
        };
        let repository = if registry == "docker.io" && !repository.contains('/') { format!("library/{repository}") } else { repository };
        if repository.is_empty()
            || repository.split('/').any(|c| c.is_empty())
            || !repository.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
        {
            return Err(bad("a repository is lowercase letters, digits and . _ - / separators"));
        }
        if let Some(tag) = &tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && !tag.starts_with(['.', '-'])
                && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                return Err(bad("a tag is up to 128 letters, digits, . _ -"));
            }
        }
        if registry.is_empty() || registry.contains(char::is_whitespace) {
            return Err(bad("empty registry"));
        }
        Ok(Reference { registry, repository, tag, digest })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}
