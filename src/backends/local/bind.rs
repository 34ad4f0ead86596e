//! The local target serves on loopback only: its stable port is a proxy on 127.0.0.1,
//! and the app behind it must not listen on every interface either (a `command` written
//! for containers, `gunicorn --bind 0.0.0.0:$PORT`, would otherwise be reachable from
//! the network on its private port). A wildcard address in the command becomes
//! 127.0.0.1, and servers that take their address from the environment are told the
//! same; a value the manifest's `[env]` gives for those variables wins, and
//! `public = true` in `[targets.local]` turns all of this off.

/// Environment variables through which common servers take their listen address.
pub const HOST_VARS: &[(&str, &str)] =
    &[("HOST", "127.0.0.1"), ("STREAMLIT_SERVER_ADDRESS", "127.0.0.1"), ("GRADIO_SERVER_NAME", "127.0.0.1")];

/// `command` with every wildcard listen address (`0.0.0.0`, `::`, `[::]`, alone, before
/// `:PORT` or after `=`) replaced by 127.0.0.1, the address the proxy forwards to.
pub fn loopback_only(command: &str) -> String {
    command.split(' ').map(rewrite_word).collect::<Vec<_>>().join(" ")
}

fn rewrite_word(word: &str) -> String {
    // `--host=0.0.0.0`, `--server.address=0.0.0.0`: the value after `=`.
    // ... and `GRADIO_SERVER_NAME=0.0.0.0 python app.py`: an address variable set inline.
    if let Some((flag, value)) = word.split_once('=') {
        if flag.starts_with('-') || HOST_VARS.iter().any(|(var, _)| *var == flag) {
            return format!("{flag}={}", rewrite_word(value));
        }
    }
    let (open, inner, close) = unquote(word);
    for wildcard in ["0.0.0.0", "[::]", "::"] {
        if inner == wildcard {
            return format!("{open}127.0.0.1{close}");
        }
        if let Some(port) = inner.strip_prefix(wildcard).and_then(|rest| rest.strip_prefix(':')) {
            if wildcard != "::" {
                return format!("{open}127.0.0.1:{port}{close}");
            }
        }
    }
    word.to_string()
}

/// Splits one pair of matching quotes off a word.
fn unquote(word: &str) -> (&str, &str, &str) {
    for q in ["\"", "'"] {
        if word.len() >= 2 && word.starts_with(q) && word.ends_with(q) {
            return (q, &word[1..word.len() - 1], q);
        }
    }
    ("", word, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_addresses_become_loopback() {
        for (given, want) in [
            ("gunicorn --bind 0.0.0.0:$PORT main:app", "gunicorn --bind 127.0.0.1:$PORT main:app"),
            ("uvicorn app:app --host 0.0.0.0 --port $PORT", "uvicorn app:app --host 127.0.0.1 --port $PORT"),
            ("flask --app app:app run --host=0.0.0.0 --port $PORT", "flask --app app:app run --host=127.0.0.1 --port $PORT"),
            ("streamlit run app.py --server.address='0.0.0.0'", "streamlit run app.py --server.address='127.0.0.1'"),
            ("gunicorn -b [::]:$PORT main:app", "gunicorn -b 127.0.0.1:$PORT main:app"),
            ("hypercorn --bind \"0.0.0.0:8000\" x:y", "hypercorn --bind \"127.0.0.1:8000\" x:y"),
            ("python serve.py  --host ::", "python serve.py  --host 127.0.0.1"),
            (
                "GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=$PORT python app.py",
                "GRADIO_SERVER_NAME=127.0.0.1 GRADIO_SERVER_PORT=$PORT python app.py",
            ),
        ] {
            assert_eq!(loopback_only(given), want, "{given}");
        }
    }

    #[test]
    fn other_addresses_and_words_are_left_alone() {
        for same in [
            "python server.py",
            "gunicorn --bind 192.168.1.5:$PORT main:app",
            "echo 10.0.0.0/8",
            "python -c 'print(1)' key=0.0.0.0",
            "gunicorn -b 127.0.0.1:$PORT main:app",
        ] {
            assert_eq!(loopback_only(same), same);
        }
    }
}
