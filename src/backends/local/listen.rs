//! Which port a starting app says it listens on, from what servers print as they start:
//! uvicorn `Uvicorn running on http://127.0.0.1:9999`, gunicorn `Listening at:
//! http://0.0.0.0:9999`, Flask/Werkzeug `Running on http://127.0.0.1:5000`, Streamlit
//! `URL: http://localhost:8501`, Gradio `Running on local URL:  http://127.0.0.1:7860`,
//! and plain `listening on port 9999`.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The port the last such line of `log` names, reading at most its last 64 KiB.
pub fn port_in_log(log: &Path) -> Option<u16> {
    let mut f = std::fs::File::open(log).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024))).ok()?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    port_in_text(&String::from_utf8_lossy(&bytes))
}

fn port_in_text(text: &str) -> Option<u16> {
    text.lines().rev().find_map(port_in_line)
}

fn port_in_line(line: &str) -> Option<u16> {
    let lower = line.to_ascii_lowercase();
    let marker = ["running on", "listening at", "listening on", "url:", "serving on", "started server on"]
        .iter()
        .find_map(|m| lower.find(m).map(|i| i + m.len()))?;
    // `http://host:PORT`.
    if let Some(i) = lower.find("://") {
        let rest = &lower[i + 3..];
        let authority = rest.split(|c: char| c == '/' || c.is_whitespace() || c == ')').next().unwrap_or("");
        return authority.rsplit_once(':')?.1.parse().ok();
    }
    // `listening on 0.0.0.0:8000`, `listening on 8000`, `listening on port 8000`.
    let mut words = lower[marker..].split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')').filter(|w| !w.is_empty());
    let mut word = words.next()?;
    if word == "port" {
        word = words.next()?;
    }
    let port = word.rsplit(':').next().unwrap_or(word).trim_end_matches('.');
    port.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::port_in_text;

    #[test]
    fn reads_what_common_servers_print() {
        for (line, port) in [
            ("INFO:     Uvicorn running on http://127.0.0.1:9999 (Press CTRL+C to quit)", 9999),
            ("[2026-12-04 10:00:00 +0000] [7] [INFO] Listening at: http://0.0.0.0:5000 (7)", 5000),
            (" * Running on http://127.0.0.1:5000", 5000),
            ("  URL: http://localhost:8501", 8501),
            ("* Running on local URL:  http://127.0.0.1:7860", 7860),
            ("server listening on port 3000", 3000),
            ("listening on 0.0.0.0:8000", 8000),
            ("listening on 8123", 8123),
            ("Serving on http://[::1]:8080", 8080),
        ] {
            assert_eq!(port_in_text(line), Some(port), "{line}");
        }
        assert_eq!(port_in_text("Application startup complete.\nGET /health 200"), None);
        assert_eq!(
            port_in_text("Uvicorn running on http://127.0.0.1:1\nUvicorn running on http://127.0.0.1:2"),
            Some(2),
            "the last line wins"
        );
    }
}
