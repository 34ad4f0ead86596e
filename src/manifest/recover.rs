//! Reading a manifest past its first problem. serde stops at the first error; to report
//! every one in a single run, the parsed TOML tree (which keeps every key's and value's
//! place in the file) is deserialized again with the offending entry left out, until
//! it deserializes. A required key that is missing gets a stand-in value (so the rest
//! of its table is still read); one that was left out for being wrong is not reported a
//! second time as missing. Syntax errors stop here: past one, the tree is a guess.

use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeArray, DeTable, DeValue, Deserializer};
use toml::Spanned;

use super::diag::ManifestError;

/// Enough rounds for a file of a few hundred lines with a problem on each.
const MAX_ROUNDS: usize = 500;

/// What reading gave: the value (when the entries left out let the rest deserialize),
/// every problem met on the way, and the tree as written, for checks that ask whether a
/// key was present at all (a wrong `kind` is reported once, not again as a missing one).
pub(super) struct Read<'i, T> {
    pub value: Option<T>,
    pub errors: Vec<ManifestError>,
    pub written: Option<DeTable<'i>>,
}

pub(super) fn read<'i, T: Deserialize<'i>>(text: &'i str, name: &str) -> Read<'i, T> {
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => return Read { value: None, errors: vec![ManifestError::from_toml(&e, name, text)], written: None },
    };
    let root_span = root.span();
    let mut doc = root.get_ref().clone();
    let mut errors = Vec::new();
    // Entries left out for being wrong, and the keys a misspelt one meant: (the span of
    // their table, the key), not to be reported missing as well.
    let mut left_out: Vec<(Range<usize>, String)> = Vec::new();
    let mut seen: Vec<(String, Option<Range<usize>>)> = Vec::new();
    let mut value = None;
    for _ in 0..MAX_ROUNDS {
        let de = Deserializer::from(Spanned::new(root_span.clone(), doc.clone()));
        let e = match T::deserialize(de) {
            Ok(v) => {
                value = Some(v);
                break;
            }
            Err(e) => e,
        };
        // The same error twice means leaving things out does not help: stop there.
        let id = (e.message().to_string(), e.span());
        if seen.contains(&id) {
            break;
        }
        seen.push(id);
        if let Some(field) = missing_field(e.message()) {
            let table = e.span().unwrap_or(root_span.clone());
            if !left_out.iter().any(|(t, k)| *t == table && k == field) {
                errors.push(ManifestError::from_toml(&e, name, text));
            }
            let Some(stand_in) = stand_in(field, &table) else { break };
            if !insert(&mut doc, &root_span, &table, field, stand_in) {
                break;
            }
        } else {
            let error = ManifestError::from_toml(&e, name, text);
            // `nme = "x"` answered with "did you mean `name`?" says all about `name`.
            let meant = error.help.as_deref().and_then(|h| h.strip_prefix("did you mean `")?.strip_suffix("`?")).map(str::to_string);
            errors.push(error);
            let Some(span) = e.span() else { break };
            match leave_out(&mut doc, &root_span, &span) {
                Some((table, key)) => {
                    if let Some(meant) = meant {
                        left_out.push((table.clone(), meant));
                    }
                    left_out.push((table, key));
                }
                None => break,
            }
        }
    }
    Read { value, errors, written: Some(root.into_inner()) }
}

/// Whether the file wrote the key at `path` (e.g. `["app", "asgi"]`), valid or not.
pub(super) fn written(root: Option<&DeTable<'_>>, path: &[&str]) -> bool {
    let Some(mut table) = root else { return false };
    for (i, key) in path.iter().enumerate() {
        let Some(v) = table.get(*key) else { return false };
        if i + 1 == path.len() {
            return true;
        }
        match v.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return false,
        }
    }
    false
}

fn missing_field(message: &str) -> Option<&str> {
    message.trim().strip_prefix("missing field `")?.strip_suffix('`')
}

/// A valid value for a required key, so that the rest of its table is still checked.
/// Every span in it is the span of the table it goes into.
fn stand_in(field: &str, table: &Range<usize>) -> Option<Spanned<DeValue<'static>>> {
    let literal = match field {
        "version" => "1",
        "app" => "{ name = \"placeholder\", asgi = \"placeholder:app\" }",
        "name" => "\"placeholder\"",
        "rps" | "burst" | "max_concurrency" => "1",
        "memory" => "1024",
        "allow_origins" => "[]",
        _ => return None,
    };
    let value = DeValue::parse(literal).ok()?;
    Some(respan(value, table))
}

fn respan<'i>(v: Spanned<DeValue<'i>>, span: &Range<usize>) -> Spanned<DeValue<'i>> {
    let inner = match v.into_inner() {
        DeValue::Table(t) => {
            let mut out = DeTable::new();
            for (k, v) in t {
                out.insert(Spanned::new(span.clone(), k.into_inner()), respan(v, span));
            }
            DeValue::Table(out)
        }
        DeValue::Array(a) => {
            let mut out = DeArray::new();
            for v in a.iter().cloned() {
                out.push(respan(v, span));
            }
            DeValue::Array(out)
        }
        other => other,
    };
    Spanned::new(span.clone(), inner)
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// Puts `value` under `field` in the deepest table whose span is `table` (a table's
/// span is its `[header]`, which an implicit parent table may share).
fn insert<'i>(doc: &mut DeTable<'i>, doc_span: &Range<usize>, table: &Range<usize>, field: &str, value: Spanned<DeValue<'i>>) -> bool {
    fn path_to(t: &DeTable<'_>, span: &Range<usize>) -> Option<Vec<String>> {
        for (k, v) in t.iter() {
            if let DeValue::Table(inner) = v.get_ref() {
                if let Some(mut rest) = path_to(inner, span) {
                    rest.insert(0, k.get_ref().to_string());
                    return Some(rest);
                }
                if v.span() == *span {
                    return Some(vec![k.get_ref().to_string()]);
                }
            }
        }
        None
    }
    let path = match path_to(doc, table) {
        Some(path) => path,
        None if table == doc_span => Vec::new(),
        None => return false,
    };
    let mut target = doc;
    for key in &path {
        let Some(DeValue::Table(inner)) = target.get_mut(key.as_str()).map(Spanned::get_mut) else {
            return false;
        };
        target = inner;
    }
    if target.contains_key(field) {
        return false;
    }
    target.insert(Spanned::new(table.clone(), field.to_string().into()), value);
    true
}

/// Leaves out the innermost entry (key and value) or array element at `span`; returns
/// the span of its table and its key.
fn leave_out(doc: &mut DeTable<'_>, doc_span: &Range<usize>, span: &Range<usize>) -> Option<(Range<usize>, String)> {
    fn in_table(t: &mut DeTable<'_>, t_span: &Range<usize>, span: &Range<usize>) -> Option<(Range<usize>, String)> {
        for (_, v) in t.iter_mut() {
            let v_span = v.span();
            let deeper = match v.get_mut() {
                DeValue::Table(inner) => in_table(inner, &v_span, span),
                DeValue::Array(items) => in_array(items, &v_span, span),
                _ => None,
            };
            if deeper.is_some() {
                return deeper;
            }
        }
        let key = t.iter().find(|(k, v)| contains(&k.span(), span) || contains(&v.span(), span)).map(|(k, _)| k.get_ref().to_string())?;
        t.remove(key.as_str());
        Some((t_span.clone(), key))
    }
    fn in_array(items: &mut DeArray<'_>, a_span: &Range<usize>, span: &Range<usize>) -> Option<(Range<usize>, String)> {
        for item in items.iter_mut() {
            let i_span = item.span();
            let deeper = match item.get_mut() {
                DeValue::Table(inner) => in_table(inner, &i_span, span),
                DeValue::Array(inner) => in_array(inner, &i_span, span),
                _ => None,
            };
            if deeper.is_some() {
                return deeper;
            }
        }
        let index = items.iter().position(|v| contains(&v.span(), span))?;
        let mut kept = DeArray::new();
        for (i, v) in items.iter().enumerate() {
            if i != index {
                kept.push(v.clone());
            }
        }
        *items = kept;
        Some((a_span.clone(), index.to_string()))
    }
    in_table(doc, doc_span, span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        version: u32,
        app: App,
        #[serde(default)]
        list: Vec<u16>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct App {
        name: String,
        port: Option<u16>,
    }

    fn messages(text: &str) -> (bool, Vec<String>) {
        let r = read::<Doc>(text, "t.toml");
        (r.value.is_some(), r.errors.iter().map(|e| e.message.clone()).collect())
    }

    #[test]
    fn every_problem_of_a_table_is_found() {
        let (ok, errors) = messages("version = \"1\"\nextra = 1\nlist = [1, \"a\", 3]\n[app]\nzzz = \"x\"\nport = 70000\n");
        assert!(ok);
        // A wrong `version` is not reported again as missing; `name` is missing for real.
        assert_eq!(errors.len(), 6, "{errors:?}");
        assert!(errors.iter().any(|e| e == "invalid type: string \"1\", expected an integer"), "{errors:?}");
        assert!(errors.iter().any(|e| e == "unknown key `extra`"), "{errors:?}");
        assert!(errors.iter().any(|e| e == "unknown key `zzz`"), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("70000")), "{errors:?}");
        assert_eq!(errors.iter().filter(|e| *e == "missing key `name`").count(), 1, "{errors:?}");
        assert!(!errors.iter().any(|e| e == "missing key `version`"), "{errors:?}");
    }

    #[test]
    fn a_misspelt_key_is_not_reported_missing_too() {
        let (ok, errors) = messages("version = 1\n[app]\nnme = \"x\"\n");
        assert!(ok);
        assert_eq!(errors, ["unknown key `nme`"]);
    }

    #[test]
    fn arrays_lose_only_the_bad_element() {
        let (ok, errors) = messages("version = 1\nlist = [1, \"a\", -3]\n[app]\nname = \"x\"\n");
        assert!(ok);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn a_syntax_error_stops_reading() {
        let (ok, errors) = messages("version = 1\n[app\nname = 3\n");
        assert!(!ok);
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn written_keys_are_known_even_when_left_out() {
        let text = "version = 1\n[app]\nname = 3\n";
        let r = read::<Doc>(text, "t.toml");
        assert!(written(r.written.as_ref(), &["app", "name"]));
        assert!(!written(r.written.as_ref(), &["app", "port"]));
    }
}
