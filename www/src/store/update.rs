//! A PATCH body, applied as RESTHeart applies it: MongoDB update semantics. Plain fields are
//! `$set` (a value replaces the field whole; `null` stores null), a key may be a dotted path
//! (`dims.w`, `tags.0`), and MongoDB's field and array update operators may be used instead:
//! `$set`, `$unset`, `$inc`, `$mul`, `$min`, `$max`, `$rename`, `$currentDate`,
//! `$setOnInsert` (applied when an upsert creates the document), `$push`, `$addToSet`, `$pop`,
//! `$pull` and `$pullAll` (see `arrays`).

use serde_json::{Map, Number, Value};

use super::ejson::{self, compare};
use super::validate::MAX_DOC_DEPTH;

mod arrays;
mod paths;
mod pull;
pub use arrays::Push;
use paths::{exists, pointer, slot, through_array, unset};
use pull::Condition;

/// Most `null`s one PATCH may add to arrays to reach an index past their end: MongoDB pads
/// too, but a request must not grow a document without bound.
const MAX_PADDING: usize = 10_000;

/// What `$currentDate` writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stamp {
    Date,
    Timestamp,
}

/// One change to one path (its segments).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Set(Vec<String>, Value),
    Unset(Vec<String>),
    Inc(Vec<String>, Number),
    Mul(Vec<String>, Number),
    Min(Vec<String>, Value),
    Max(Vec<String>, Value),
    /// From the first path to the second.
    Rename(Vec<String>, Vec<String>),
    CurrentDate(Vec<String>, Stamp),
    Push(Vec<String>, Push),
    AddToSet(Vec<String>, Vec<Value>),
    /// `true`: the first element; `false`: the last.
    Pop(Vec<String>, bool),
    /// Elements matching the condition (see `pull::Condition`) go.
    Pull(Vec<String>, Value),
    PullAll(Vec<String>, Vec<Value>),
    /// A `$set` applied only when the update inserts the document (`?wm=upsert`).
    SetOnInsert(Vec<String>, Value),
}

impl Op {
    /// The paths the op writes: one, or a `$rename`'s two.
    fn paths(&self) -> impl Iterator<Item = &[String]> {
        let (first, second) = match self {
            Op::Rename(from, to) => (from, Some(to)),
            Op::Set(p, _)
            | Op::Unset(p)
            | Op::Inc(p, _)
            | Op::Mul(p, _)
            | Op::Min(p, _)
            | Op::Max(p, _)
            | Op::CurrentDate(p, _)
            | Op::Push(p, _)
            | Op::AddToSet(p, _)
            | Op::Pop(p, _)
            | Op::Pull(p, _)
            | Op::PullAll(p, _)
            | Op::SetOnInsert(p, _) => (p, None),
        };
        std::iter::once(first.as_slice()).chain(second.map(Vec::as_slice))
    }

    /// The values the op may store: what the caller checks as data and whose ObjectIds it
    /// lower-cases, as it does a document's.
    pub fn values_mut(&mut self) -> Vec<&mut Value> {
        match self {
            Op::Set(_, v) | Op::Min(_, v) | Op::Max(_, v) | Op::SetOnInsert(_, v) => vec![v],
            Op::Push(_, push) => push.each.iter_mut().collect(),
            Op::AddToSet(_, vs) => vs.iter_mut().collect(),
            _ => Vec::new(),
        }
    }

    /// The values the op compares elements with (`$pull`, `$pullAll`): not stored, so not
    /// checked as data, but their ObjectIds are lower-cased as the stored ones are.
    pub fn operands_mut(&mut self) -> Vec<&mut Value> {
        match self {
            Op::Pull(_, v) => vec![v],
            Op::PullAll(_, vs) => vs.iter_mut().collect(),
            _ => Vec::new(),
        }
    }
}

/// The operations a PATCH body asks for. Plain fields are each a `$set`, beside any operators,
/// as RESTHeart moves them into `$set` before it hands the update to MongoDB. Paths may not
/// overlap (MongoDB refuses the update).
pub fn parse(body: &Map<String, Value>) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    for (key, arg) in body {
        if !key.starts_with('$') {
            ops.push(Op::Set(path(key)?, arg.clone()));
            continue;
        }
        let Value::Object(fields) = arg else {
            return Err(format!("{key} takes an object of fields"));
        };
        for (field, value) in fields {
            let p = path(field)?;
            let number = || match value {
                Value::Number(n) => Ok(n.clone()),
                _ => Err(format!("{key} of {field:?} takes a number, got {value}")),
            };
            let array = || match value {
                Value::Array(items) => Ok(items.clone()),
                _ => Err(format!("{key} of {field:?} takes an array, got {value}")),
            };
            ops.push(match key.as_str() {
                "$set" => Op::Set(p, value.clone()),
                "$unset" => Op::Unset(p),
                "$inc" => Op::Inc(p, number()?),
                "$mul" => Op::Mul(p, number()?),
                "$min" => Op::Min(p, value.clone()),
                "$max" => Op::Max(p, value.clone()),
                "$rename" => match value {
                    Value::String(to) if to == field => {
                        return Err(format!("$rename of {field:?}: the new name must differ"))
                    }
                    Value::String(to) => Op::Rename(p, path(to)?),
                    _ => {
                        return Err(format!(
                            "$rename of {field:?} takes the new name, got {value}"
                        ))
                    }
                },
                "$currentDate" => match value {
                    // MongoDB reads either boolean as "a date".
                    Value::Bool(_) => Op::CurrentDate(p, Stamp::Date),
                    _ => match value.get("$type").and_then(Value::as_str) {
                        Some("date") if value.as_object().is_some_and(|m| m.len() == 1) => {
                            Op::CurrentDate(p, Stamp::Date)
                        }
                        Some("timestamp") if value.as_object().is_some_and(|m| m.len() == 1) => {
                            Op::CurrentDate(p, Stamp::Timestamp)
                        }
                        _ => {
                            return Err(format!(
                                "$currentDate of {field:?} takes true, {{\"$type\": \"date\"}} or \
                                 {{\"$type\": \"timestamp\"}}, got {value}"
                            ))
                        }
                    },
                },
                "$setOnInsert" => Op::SetOnInsert(p, value.clone()),
                "$push" => Op::Push(p, Push::parse(field, value)?),
                "$addToSet" => Op::AddToSet(p, arrays::add_to_set_values(field, value)?),
                "$pop" => match ejson::integer(value) {
                    Some(-1) => Op::Pop(p, true),
                    Some(1) => Op::Pop(p, false),
                    _ => {
                        return Err(format!(
                            "$pop of {field:?} takes 1 (the last) or -1 (the first), got {value}"
                        ))
                    }
                },
                "$pull" => {
                    Condition::compile(field, value)?;
                    Op::Pull(p, value.clone())
                }
                "$pullAll" => Op::PullAll(p, array()?),
                other => {
                    return Err(format!(
                        "update operator {other:?} is not supported by livesource-dev: use \
                         $set, $unset, $inc, $mul, $min, $max, $rename, $currentDate, \
                         $setOnInsert, $push, $addToSet, $pop, $pull or $pullAll"
                    ))
                }
            });
        }
    }
    // Sorted, a path's extensions come right after it: neighbours are enough to find overlaps.
    let mut paths: Vec<&[String]> = ops.iter().flat_map(Op::paths).collect();
    paths.sort_unstable();
    if let Some(w) = paths.windows(2).find(|w| w[1].starts_with(w[0])) {
        return Err(format!(
            "updating {:?} and {:?} at once would conflict",
            w[0].join("."),
            w[1].join(".")
        ));
    }
    Ok(ops)
}

fn path(key: &str) -> Result<Vec<String>, String> {
    let segments: Vec<String> = key.split('.').map(str::to_owned).collect();
    if segments.len() > MAX_DOC_DEPTH {
        return Err(format!(
            "field path {:?}…: deeper than the {MAX_DOC_DEPTH} levels a document may nest",
            key.chars().take(40).collect::<String>()
        ));
    }
    if segments.iter().any(|s| s.is_empty() || s.starts_with('$')) {
        return Err(format!(
            "field path {key:?}: each dot-separated part must be a non-empty name not starting \
             with '$' (positional operators are not supported by livesource-dev)"
        ));
    }
    Ok(segments)
}

/// `doc` with `ops` applied, or the first op's error. `inserting`: the update creates the
/// document (an upsert), so `$setOnInsert` applies.
pub fn apply(doc: &Value, ops: &[Op], inserting: bool) -> Result<Value, String> {
    let mut out = doc.clone();
    let mut padding = MAX_PADDING;
    for op in ops {
        if matches!(op, Op::SetOnInsert(..)) && !inserting {
            continue;
        }
        for p in op.paths() {
            guard_reserved(op, p)?;
        }
        if matches!(op, Op::Set(p, _) | Op::SetOnInsert(p, _) if p.len() == 1 && (p[0] == "_id" || p[0] == super::etag::FIELD))
        {
            continue;
        }
        let name = |p: &[String]| p.join(".");
        match op {
            Op::Set(p, v) | Op::SetOnInsert(p, v) => *slot(&mut out, p, &mut padding)? = v.clone(),
            Op::Unset(p) => unset(&mut out, p),
            Op::Inc(p, by) | Op::Mul(p, by) => {
                let inc = matches!(op, Op::Inc(..));
                let missing = !exists(&out, p);
                let at = slot(&mut out, p, &mut padding)?;
                *at = match &*at {
                    // `$mul` of a missing field stores a zero of the multiplier's type.
                    _ if missing && inc => Value::Number(by.clone()),
                    _ if missing => {
                        Value::Number(mul(&Number::from(0), by).unwrap_or(Number::from(0)))
                    }
                    Value::Number(n) => {
                        let (sum, sign) = if inc {
                            (add(n, by), '+')
                        } else {
                            (mul(n, by), '*')
                        };
                        Value::Number(sum.ok_or_else(|| {
                            format!(
                                "{} of {:?}: {n} {sign} {by} overflows",
                                if inc { "$inc" } else { "$mul" },
                                name(p)
                            )
                        })?)
                    }
                    other => {
                        return Err(format!(
                            "{} of {:?}: the field holds {other}, not a number",
                            if inc { "$inc" } else { "$mul" },
                            name(p)
                        ))
                    }
                };
            }
            Op::Min(p, v) | Op::Max(p, v) => {
                let want = if matches!(op, Op::Min(..)) {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                };
                let missing = !exists(&out, p);
                let at = slot(&mut out, p, &mut padding)?;
                if missing || compare(v, at) == want {
                    *at = v.clone();
                }
            }
            Op::Rename(from, to) => {
                for (p, which) in [(from, "source"), (to, "destination")] {
                    if through_array(&out, p) {
                        return Err(format!(
                            "$rename: the {which} {:?} is inside an array",
                            name(p)
                        ));
                    }
                }
                if let Some(v) = out.pointer(&pointer(from)).cloned() {
                    unset(&mut out, from);
                    *slot(&mut out, to, &mut padding)? = v;
                }
            }
            Op::CurrentDate(p, stamp) => *slot(&mut out, p, &mut padding)? = now(*stamp),
            Op::Push(p, _) | Op::AddToSet(p, _) => {
                let missing = !exists(&out, p);
                let at = slot(&mut out, p, &mut padding)?;
                if missing {
                    *at = Value::Array(Vec::new());
                }
                let Value::Array(items) = at else {
                    return Err(not_an_array(op, p, at));
                };
                match op {
                    Op::Push(_, push) => push.apply(items),
                    Op::AddToSet(_, values) => arrays::add_to_set(items, values),
                    _ => unreachable!("matched above"),
                }
            }
            Op::Pop(p, _) | Op::Pull(p, _) | Op::PullAll(p, _) => {
                // A missing field is left missing (MongoDB makes no array to take from).
                let Some(at) = out.pointer_mut(&pointer(p)) else {
                    continue;
                };
                let Value::Array(items) = at else {
                    return Err(not_an_array(op, p, at));
                };
                match op {
                    Op::Pop(_, true) if !items.is_empty() => {
                        items.remove(0);
                    }
                    Op::Pop(_, _) => {
                        items.pop();
                    }
                    Op::Pull(_, cond) => {
                        let cond = Condition::compile(&name(p), cond)?;
                        items.retain(|e| !cond.matches(e));
                    }
                    Op::PullAll(_, values) => arrays::pull_all(items, values),
                    _ => unreachable!("matched above"),
                }
            }
        }
    }
    Ok(out)
}

/// `_id` and `_etag` are the server's: a `$set` of either itself is allowed (the caller checks
/// that an `_id` names the document; a tag sent back is replaced by a new one, as RESTHeart
/// overwrites it), nothing else may touch them.
fn guard_reserved(op: &Op, p: &[String]) -> Result<(), String> {
    let whole_set = matches!(op, Op::Set(s, _) | Op::SetOnInsert(s, _) if s.len() == 1);
    match p[0].as_str() {
        "_id" if !whole_set => Err("_id cannot be changed".into()),
        super::etag::FIELD if !whole_set => {
            Err("_etag is written by the server on every update".into())
        }
        _ => Ok(()),
    }
}

fn not_an_array(op: &Op, p: &[String], v: &Value) -> String {
    let verb = match op {
        Op::Push(..) => "$push",
        Op::AddToSet(..) => "$addToSet",
        Op::Pop(..) => "$pop",
        Op::Pull(..) => "$pull",
        _ => "$pullAll",
    };
    format!(
        "{verb} of {:?}: the field holds {v}, not an array",
        p.join(".")
    )
}

/// What `$currentDate` stores: a date as RESTHeart writes one (milliseconds), or a timestamp.
fn now(stamp: Stamp) -> Value {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    match stamp {
        Stamp::Date => ejson::date(i64::try_from(since.as_millis()).unwrap_or(i64::MAX)),
        // The increment orders the stamps of one second, as MongoDB's does.
        Stamp::Timestamp => {
            static INCREMENT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let i = INCREMENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % u32::MAX + 1;
            serde_json::json!({ "$timestamp": { "t": since.as_secs(), "i": i } })
        }
    }
}

/// Integers add as integers (an i64 overflow is an error, as MongoDB's), anything else as
/// floating point (a sum past its range is an error too).
fn add(a: &Number, b: &Number) -> Option<Number> {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x.checked_add(y).map(Number::from),
        _ => Number::from_f64(a.as_f64()? + b.as_f64()?),
    }
}

/// `$mul`, as `add`: integers multiply as integers, checked; anything else as floating point.
fn mul(a: &Number, b: &Number) -> Option<Number> {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x.checked_mul(y).map(Number::from),
        _ => Number::from_f64(a.as_f64()? * b.as_f64()?),
    }
}

#[cfg(test)]
mod tests;
