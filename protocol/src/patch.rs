//! JSON-Patch operations in their normal form. A patch is a JSON array whose items are RFC 6902
//! operation objects (`{"op": "replace", "path": "/counter", "value": 7}`) or the compact
//! tuples (`["replace", "/counter", 7]`, `["remove", path]`, `["move", from, path]`), in any
//! mix; [`normalize`] checks every item's shape and pointers and returns one [`Op`] list.
//!
//! Used by the server, which validates what is published and broadcasts the compact form
//! ([`Op::into_compact`]), and by the library's Rust rules (`livesource::patch::ops`), which
//! apply the RFC 6902 form ([`Op::into_rfc6902`]) with the `json-patch` crate and are the tested
//! reference for the browser's engine (`src/patch/engine.js`, which checks the same shapes in
//! JavaScript; `src/patch/agree.rs` checks they agree).
//!
//! What depends on the document is left to applying: a missing path, a failed `test`. So are
//! the two ops that fail whatever the document ([`Op::check_applicable`]): the library applies
//! them and fails at that op, as `engine.js` does, while the server refuses them up front.

use std::fmt;

use serde_json::{json, Map, Value};

/// One operation, in the normal form of both spellings.
///
/// Produced by [`normalize`] for the server's publish validation and the library's Rust patch
/// rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `add` `value` at `path`.
    Add {
        /// Where to add (a JSON Pointer).
        path: String,
        /// What to add.
        value: Value,
    },
    /// `remove` the value at `path`.
    Remove {
        /// What to remove (a JSON Pointer).
        path: String,
    },
    /// `replace` the value at `path` with `value`.
    Replace {
        /// What to replace (a JSON Pointer).
        path: String,
        /// The new value.
        value: Value,
    },
    /// `move` the value at `from` to `path`.
    Move {
        /// What to move (a JSON Pointer).
        from: String,
        /// Where to (a JSON Pointer).
        path: String,
    },
    /// `copy` the value at `from` to `path`.
    Copy {
        /// What to copy (a JSON Pointer).
        from: String,
        /// Where to (a JSON Pointer).
        path: String,
    },
    /// `test` that the value at `path` equals `value`.
    Test {
        /// What to compare (a JSON Pointer).
        path: String,
        /// The value it must equal.
        value: Value,
    },
}

/// Why a patch was refused: the index of the op at fault, if one is, and what is wrong.
/// Displays as `op <index>: <message>`, or the message alone.
///
/// Returned by [`normalize`] and [`parse`] to the server (which answers 400 with its text) and
/// to the library (which turns it into `Error::Patch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError {
    /// The op at fault; `None` when the patch as a whole is wrong (not JSON, not an array).
    pub index: Option<usize>,
    /// What is wrong, without the index.
    pub message: String,
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "op {i}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PatchError {}

fn whole(message: impl Into<String>) -> PatchError {
    PatchError {
        index: None,
        message: message.into(),
    }
}

/// The shape of an op's tuple after its name.
fn shape(name: &str) -> Option<&'static str> {
    Some(match name {
        "add" | "replace" | "test" => "[op, path, value]",
        "remove" => "[op, path]",
        "move" | "copy" => "[op, from, path]",
        _ => return None,
    })
}

/// Parses a patch from JSON text, then [`normalize`]s it.
///
/// Used by the library's Rust patch rules (`livesource::patch::ops::parse`).
pub fn parse(text: &str) -> Result<Vec<Op>, PatchError> {
    let value: Value = serde_json::from_str(text).map_err(|e| whole(format!("not JSON: {e}")))?;
    normalize(&value)
}

/// Checks a patch (an array of RFC 6902 objects or compact tuples, in any mix) and returns its
/// ops in normal form. Every op's shape and pointers are checked, in order; the error names the
/// first op at fault. An empty array is a valid (empty) patch.
///
/// Used by the server to validate what is published (it adds its own bounds: at least one op,
/// at most `MAX_OPS`, and [`Op::check_applicable`]) and by the library's Rust patch rules.
pub fn normalize(patch: &Value) -> Result<Vec<Op>, PatchError> {
    let Value::Array(items) = patch else {
        return Err(whole("a patch must be an array of operations"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            op(item).map_err(|message| PatchError {
                index: Some(i),
                message,
            })
        })
        .collect()
}

fn op(item: &Value) -> Result<Op, String> {
    match item {
        Value::Array(tuple) => from_tuple(tuple),
        Value::Object(object) => from_object(object),
        other => Err(format!(
            "an op is an object or a tuple like [\"replace\", \"/x\", 1], got {other}"
        )),
    }
}

/// `[op, path, value]`, `[op, path]` for remove, `[op, from, path]` for move and copy.
fn from_tuple(tuple: &[Value]) -> Result<Op, String> {
    let Some(Value::String(name)) = tuple.first() else {
        return Err("a tuple starts with the op name".into());
    };
    let shape = shape(name).ok_or_else(|| format!("unknown op '{name}'"))?;
    let rest = &tuple[1..];
    let arity = if name == "remove" { 1 } else { 2 };
    if rest.len() != arity {
        return Err(format!("'{name}' takes {shape}, got {} values", rest.len()));
    }
    let pointer = |i: usize, field: &str| pointer(&rest[i], field);
    Ok(match name.as_str() {
        "move" | "copy" => {
            let from = pointer(0, "from")?;
            let path = pointer(1, "path")?;
            if name == "move" {
                Op::Move { from, path }
            } else {
                Op::Copy { from, path }
            }
        }
        "remove" => Op::Remove {
            path: pointer(0, "path")?,
        },
        _ => with_value(name, pointer(0, "path")?, rest[1].clone()),
    })
}

fn from_object(object: &Map<String, Value>) -> Result<Op, String> {
    let name = match object.get("op") {
        None => return Err("an op object needs \"op\"".into()),
        Some(Value::String(name)) if shape(name).is_some() => name.as_str(),
        Some(Value::String(name)) => return Err(format!("unknown op '{name}'")),
        Some(other) => return Err(format!("unknown op {other}")),
    };
    let field = |field: &str| {
        object
            .get(field)
            .ok_or_else(|| format!("'{name}' needs \"{field}\""))
    };
    let path = pointer(field("path")?, "path")?;
    Ok(match name {
        "move" | "copy" => {
            let from = pointer(field("from")?, "from")?;
            if name == "move" {
                Op::Move { from, path }
            } else {
                Op::Copy { from, path }
            }
        }
        "remove" => Op::Remove { path },
        _ => with_value(name, path, field("value")?.clone()),
    })
}

fn with_value(name: &str, path: String, value: Value) -> Op {
    match name {
        "add" => Op::Add { path, value },
        "replace" => Op::Replace { path, value },
        _ => Op::Test { path, value },
    }
}

/// A checked pointer from an op's `field`.
fn pointer(value: &Value, field: &str) -> Result<String, String> {
    let Value::String(p) = value else {
        return Err(format!(
            "\"{field}\" must be a JSON pointer string, got {value}"
        ));
    };
    check_pointer(p).map_err(|e| format!("\"{field}\": {e}"))?;
    Ok(p.clone())
}

/// Validates a JSON Pointer (RFC 6901): empty, or `/`-separated tokens where `~` is only ever
/// `~0` or `~1`. The same rule as the `json-patch` crate's and `engine.js`'s.
///
/// Used by [`normalize`], hence by the server and the library.
pub fn check_pointer(p: &str) -> Result<(), String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(format!(
            "JSON pointer {p:?} must be empty or start with '/'"
        ));
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!("JSON pointer {p:?} has '~' not followed by 0 or 1"));
        }
    }
    Ok(())
}

impl Op {
    /// The op's name: `add`, `remove`, `replace`, `move`, `copy` or `test`.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Add { .. } => "add",
            Op::Remove { .. } => "remove",
            Op::Replace { .. } => "replace",
            Op::Move { .. } => "move",
            Op::Copy { .. } => "copy",
            Op::Test { .. } => "test",
        }
    }

    /// The pointer the op writes or tests.
    pub fn path(&self) -> &str {
        match self {
            Op::Add { path, .. }
            | Op::Remove { path }
            | Op::Replace { path, .. }
            | Op::Move { path, .. }
            | Op::Copy { path, .. }
            | Op::Test { path, .. } => path,
        }
    }

    /// The errors an op has whatever the document: removing the whole document, and moving a
    /// value into one of its own children (RFC 6902 §4.4).
    ///
    /// Used by the server, which refuses such a patch at publish. The library does not check
    /// this before applying: applying fails at that op, and only then, as in `engine.js` (an
    /// earlier op that fails is the one reported).
    pub fn check_applicable(&self) -> Result<(), String> {
        match self {
            Op::Remove { path } if path.is_empty() => {
                Err("cannot remove the whole document".into())
            }
            Op::Move { from, path }
                if path.starts_with(from.as_str()) && path[from.len()..].starts_with('/') =>
            {
                Err(format!("cannot move {from:?} into its own child {path:?}"))
            }
            _ => Ok(()),
        }
    }

    /// The compact tuple: `[op, path, value]`, `[op, path]` or `[op, from, path]`. What the
    /// server broadcasts.
    pub fn into_compact(self) -> Value {
        let name = self.name();
        match self {
            Op::Add { path, value } | Op::Replace { path, value } | Op::Test { path, value } => {
                json!([name, path, value])
            }
            Op::Remove { path } => json!([name, path]),
            Op::Move { from, path } | Op::Copy { from, path } => json!([name, from, path]),
        }
    }

    /// The RFC 6902 object. What the library hands to the `json-patch` crate.
    pub fn into_rfc6902(self) -> Value {
        let name = self.name();
        match self {
            Op::Add { path, value } | Op::Replace { path, value } | Op::Test { path, value } => {
                json!({"op": name, "path": path, "value": value})
            }
            Op::Remove { path } => json!({"op": name, "path": path}),
            Op::Move { from, path } | Op::Copy { from, path } => {
                json!({"op": name, "from": from, "path": path})
            }
        }
    }
}

#[cfg(test)]
mod tests;
