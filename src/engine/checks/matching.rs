//! The pure parts of checks: globs (`*`, `?`), dotted JSON paths, and counting
//! server-sent events in a body that arrives in pieces.

use serde_json::Value;

/// Whether `text` matches `pattern` in full: `*` is any run of characters (none
/// too), `?` is one character, everything else stands for itself (case matters).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it is tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` take one more character, and go on from there.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The value at a dotted path (`answer`, `sources.0.id`): a part is an object's key,
/// or an array's index.
pub fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, part| match v {
        Value::Object(map) => map.get(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// The text a glob is matched against: a string's own text, any other value's JSON.
pub fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Counts the events of a `text/event-stream` body fed in any pieces: an event is
/// dispatched by a blank line and counts when it carried at least one `data` field
/// (as a browser's EventSource would fire it). Lines end in CRLF, LF or CR, which
/// may fall on either side of a piece's edge. An event the stream ends before its
/// blank line is not counted (EventSource drops it too).
#[derive(Debug, Default)]
pub struct SseCounter {
    /// The start of the current line: enough to know its field's name.
    head: Vec<u8>,
    /// The current line has any character.
    in_line: bool,
    /// The last byte was a CR: a LF right after it ends no second line.
    after_cr: bool,
    /// The event being read has a `data` field.
    has_data: bool,
    /// Whether the stream's first byte has been seen (a BOM there is skipped).
    started: bool,
    pub events: u64,
}

/// `data:` (or a bare `data` line), the field that makes an event.
const DATA: &[u8] = b"data";

impl SseCounter {
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if !self.started && !bytes.is_empty() {
            self.started = true;
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        for &b in bytes {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            match b {
                b'\n' => self.end_line(),
                b'\r' => {
                    self.end_line();
                    self.after_cr = true;
                }
                _ => {
                    self.in_line = true;
                    if self.head.len() <= DATA.len() {
                        self.head.push(b);
                    }
                }
            }
        }
    }

    fn end_line(&mut self) {
        if !self.in_line {
            if std::mem::take(&mut self.has_data) {
                self.events += 1;
            }
        } else if self.head.starts_with(DATA) && matches!(self.head.get(DATA.len()), None | Some(b':')) {
            self.has_data = true;
        }
        self.head.clear();
        self.in_line = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_match_in_full_with_star_and_question_mark() {
        for (p, t) in [
            ("*refund*", "Our refund policy: 30 days."),
            ("*", ""),
            ("*", "anything"),
            ("a?c", "abc"),
            ("a*c", "ac"),
            ("a*b*c", "axxbyyc"),
            ("*.pdf", "policy.pdf"),
            ("3", "3"),
            ("*ab", "aab"),
            ("ünï*", "ünïcode"),
        ] {
            assert!(glob(p, t), "`{p}` should match `{t}`");
        }
        for (p, t) in [
            ("*refund*", "Our return policy"),
            ("a?c", "ac"),
            ("abc", "abcd"),
            ("abc", "ab"),
            ("Refund", "refund"),
            ("a*b*c", "axxbyy"),
            ("", "x"),
        ] {
            assert!(!glob(p, t), "`{p}` should not match `{t}`");
        }
    }

    #[test]
    fn json_paths_go_through_objects_and_arrays() {
        let v = json!({"answer": "ok", "sources": [{"id": "a"}, {"id": 7, "score": 0.5}], "meta": {"0": "zero"}, "done": true});
        assert_eq!(lookup(&v, "answer"), Some(&json!("ok")));
        assert_eq!(lookup(&v, "sources.1.id"), Some(&json!(7)));
        assert_eq!(lookup(&v, "meta.0"), Some(&json!("zero")), "a digit is an object's key when the value is an object");
        assert_eq!(lookup(&v, "sources.2.id"), None);
        assert_eq!(lookup(&v, "sources.x"), None);
        assert_eq!(lookup(&v, "answer.more"), None);
        assert_eq!(text_of(lookup(&v, "sources.1.id").unwrap()), "7");
        assert_eq!(text_of(lookup(&v, "done").unwrap()), "true");
        assert_eq!(text_of(lookup(&v, "sources.1").unwrap()), r#"{"id":7,"score":0.5}"#);
        assert!(glob("*\"score\":0.5*", &text_of(lookup(&v, "sources.1").unwrap())));
    }

    fn count(pieces: &[&[u8]]) -> u64 {
        let mut c = SseCounter::default();
        for p in pieces {
            c.feed(p);
        }
        c.events
    }

    #[test]
    fn sse_events_count_once_however_the_body_is_cut() {
        let body: &[u8] = b"\xEF\xBB\xBF: a comment\n\ndata: one\n\nevent: x\ndata: two\ndata: more\n\nid: 3\n\ndata\n\nretry: 5\r\ndata: crlf\r\n\r\ndata: cr\r\rdata: cut off at the end\n";
        // one, two (two data lines, one event), `data` alone, crlf, cr; not the comment,
        // not the event with only an id, not the unfinished last one.
        assert_eq!(count(&[body]), 5);
        for cut in 0..body.len() {
            assert_eq!(count(&[&body[..cut], &body[cut..]]), 5, "cut at byte {cut}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(count(&bytes), 5, "one byte at a time");
    }

    #[test]
    fn fields_that_only_start_like_data_are_not_data() {
        assert_eq!(count(&[b"database: x\n\ndatum: y\n\ndata:z\n\n"]), 1);
        assert_eq!(count(&[b"data: a\n", b"\n", b"data: b\r", b"\n\r\n"]), 2);
    }
}
