//! The local target's front door: a TCP relay on the stable port that forwards each new
//! connection to the port named in the upstream file. Switching versions is rewriting
//! that file, so the URL never changes and the old version serves until the new one is
//! healthy. It exits by itself when the upstream file is removed (destroy).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

pub async fn serve(listen: &str, upstream_file: &Path) -> Result<()> {
    let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let watched: PathBuf = upstream_file.to_path_buf();
    let watch = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if !watched.exists() {
                return;
            }
        }
    });
    tokio::pin!(watch);
    loop {
        tokio::select! {
            _ = &mut watch => return Ok(()),
            accepted = listener.accept() => {
                let (inbound, _) = match accepted {
                    Ok(c) => c,
                    Err(_) => continue,
                };
                let file = upstream_file.to_path_buf();
                tokio::spawn(relay(inbound, file));
            }
        }
    }
}

async fn relay(mut inbound: TcpStream, upstream_file: PathBuf) {
    let port = tokio::fs::read_to_string(&upstream_file).await.ok().and_then(|s| s.trim().parse::<u16>().ok());
    let outbound = match port {
        Some(p) => TcpStream::connect(("127.0.0.1", p)).await.ok(),
        None => None,
    };
    match outbound {
        Some(mut out) => {
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
        }
        None => {
            let body = "aideploy: the app behind this port is not running\n";
            let resp = format!(
                "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = inbound.write_all(resp.as_bytes()).await;
        }
    }
}
