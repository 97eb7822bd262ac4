//! Patch operations for topics: RFC 6902 objects or compact tuples, validated and normalised
//! to the compact form (`["replace", "/counter", 7]`, `["move", from, path]`) before broadcast.
//!
//! The shapes and pointers are checked by the workspace's one implementation, shared with the
//! library (`livesource_protocol::patch`); this adds what the server refuses beyond it: an
//! empty patch, more than `MAX_OPS` ops, and ops that fail on any document.

use livesource_protocol::patch::{self, Op};
use serde_json::Value;

/// Upper bound on ops in one publish; a patch is a UI update, not a bulk import.
pub const MAX_OPS: usize = 10_000;

/// Validates every op and returns the compact form. Errors name the op index.
pub fn normalize(ops: &Value) -> Result<Vec<Value>, String> {
    if let Value::Array(items) = ops {
        if items.is_empty() {
            return Err("a patch needs at least one op".into());
        }
        if items.len() > MAX_OPS {
            return Err(format!("a patch may have at most {MAX_OPS} ops"));
        }
    }
    let ops = patch::normalize(ops).map_err(|e| e.to_string())?;
    for (i, op) in ops.iter().enumerate() {
        op.check_applicable().map_err(|e| format!("op {i}: {e}"))?;
    }
    Ok(ops.into_iter().map(Op::into_compact).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // The normal form's own tests (both spellings, idempotence, pointers, every shape rule) are
    // in `livesource-protocol`; these check what the server adds.

    #[test]
    fn the_shared_normal_form_comes_out_compact() {
        // Both spellings are tested in `livesource-protocol`; here only that the server
        // broadcasts what it returns, in the compact form.
        let ops = json!([{"op": "add", "path": "/rows/-", "value": {"id": 1}}]);
        assert_eq!(
            normalize(&ops).unwrap(),
            vec![json!(["add", "/rows/-", {"id": 1}])]
        );
    }

    #[test]
    fn bad_ops_are_explained() {
        for (ops, needle) in [
            (json!({}), "array"),
            (json!([]), "at least one"),
            // One of the shared shape rules, to show they apply; the rest are protocol's.
            (json!([["frobnicate", "/a", 1]]), "unknown op"),
            // What the server refuses beyond the shapes: ops no document can take.
            (json!([["move", "/a", "/a/b"]]), "own child"),
            (json!([["remove", ""]]), "whole document"),
        ] {
            let err = normalize(&ops).unwrap_err();
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
        let err = normalize(&json!([["add", "/a", 1], ["move", "/a", "/a/b"]])).unwrap_err();
        assert!(err.starts_with("op 1: "), "{err}");
        let many = vec![json!(["remove", "/a"]); MAX_OPS + 1];
        assert!(normalize(&Value::Array(many))
            .unwrap_err()
            .contains("at most"));
    }
}
