//! The AWS policy documents of docs/permissions.md, embedded: what the README shows is
//! what the CI's deploy role gets, from one source. The plan-only role gets the
//! statements whose `Sid` starts with `Read` (tests/permissions_doc.rs checks they only
//! read).

use serde_json::Value;

const PERMISSIONS_MD: &str = include_str!("../../docs/permissions.md");

/// The policy document under `## {section}`: the first ```json fence after that heading.
pub fn document(section: &str) -> Option<Value> {
    document_in(PERMISSIONS_MD, section)
}

pub fn document_in(md: &str, section: &str) -> Option<Value> {
    let mut lines = md.lines();
    let mut inside = false;
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix("## ") {
            inside = h.split_whitespace().next().unwrap_or("").trim_matches('`') == section;
        } else if inside && line.trim() == "```json" {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            return serde_json::from_str(&body.join("\n")).ok();
        }
    }
    None
}

/// The read statements of a document: what a plan needs.
pub fn read_only(doc: &Value) -> Value {
    let statements: Vec<Value> = doc["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Sid"].as_str().is_some_and(|sid| sid.starts_with("Read")))
        .cloned()
        .collect();
    serde_json::json!({ "Version": doc["Version"].clone(), "Statement": statements })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aws_target_and_ci_has_a_document() {
        for kind in ["lambda", "ec2", "sagemaker", "ci"] {
            let doc = document(kind).unwrap_or_else(|| panic!("no ```json policy under `## {kind}` in docs/permissions.md"));
            assert_eq!(doc["Version"], "2012-10-17");
            assert!(doc["Statement"].as_array().is_some_and(|s| !s.is_empty()), "{kind}");
            let reads = read_only(&doc);
            let n = reads["Statement"].as_array().unwrap().len();
            assert!(n > 0 && n < doc["Statement"].as_array().unwrap().len(), "{kind}: {n} read statements");
            // Each fits a customer managed policy: 6,144 characters without whitespace.
            assert!(serde_json::to_string(&doc).unwrap().len() <= 6144, "{kind} is too large for a managed policy");
        }
        assert!(document("cloudrun").is_none(), "cloudrun's section holds no AWS policy");
    }

    #[test]
    fn the_fence_after_the_heading_is_taken() {
        let md = "## lambda\n\ntext\n\n```json\n{\"Statement\": [{\"Sid\": \"ReadA\"}, {\"Sid\": \"WriteB\"}], \"Version\": \"v\"}\n```\n\
                  ## ec2\n\n```text\nno\n```\n";
        let doc = document_in(md, "lambda").unwrap();
        assert_eq!(read_only(&doc), serde_json::json!({"Version": "v", "Statement": [{"Sid": "ReadA"}]}));
        assert!(document_in(md, "ec2").is_none());
        assert!(document_in(md, "sagemaker").is_none());
    }
}
