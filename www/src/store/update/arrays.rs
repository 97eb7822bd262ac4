//! The array operators of a MongoDB update: `$push` (with `$each`, `$position`, `$slice` and
//! `$sort`), `$addToSet`, `$pop`, `$pull` (a value or a condition) and `$pullAll`.

use serde_json::{Map, Value};

use std::collections::HashSet;

use super::paths::lookup;
use crate::store::ejson::{compare, integer, is_scalar, key};

/// `$push`'s argument: the values, and where they go.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    pub each: Vec<Value>,
    position: Option<i64>,
    slice: Option<i64>,
    sort: Option<Sort>,
}

#[derive(Debug, Clone, PartialEq)]
enum Sort {
    /// The elements themselves, ascending or not.
    Values(bool),
    /// Elements that are documents, by these fields (dotted paths), each ascending or not.
    Fields(Vec<(Vec<String>, bool)>),
}

/// Whether `v` is an object of modifiers (`{"$each": …}`) rather than one value to add.
fn has_modifiers(v: &Value) -> bool {
    !is_scalar(v)
        && v.as_object()
            .is_some_and(|m| m.keys().any(|k| k.starts_with('$')))
}

fn each(field: &str, op: &str, m: &Map<String, Value>) -> Result<Vec<Value>, String> {
    match m.get("$each") {
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(other) => Err(format!(
            "{op} of {field:?}: $each takes an array, got {other}"
        )),
        None => Err(format!(
            "{op} of {field:?}: an object with '$' fields must be modifiers with $each"
        )),
    }
}

impl Push {
    pub fn parse(field: &str, arg: &Value) -> Result<Self, String> {
        let Some(m) = arg.as_object().filter(|_| has_modifiers(arg)) else {
            return Ok(Self {
                each: vec![arg.clone()],
                position: None,
                slice: None,
                sort: None,
            });
        };
        let int = |name: &str| -> Result<Option<i64>, String> {
            m.get(name)
                .map(|v| {
                    integer(v).ok_or_else(|| {
                        format!("$push of {field:?}: {name} takes an integer, got {v}")
                    })
                })
                .transpose()
        };
        let direction = |v: &Value| match integer(v) {
            Some(1) => Ok(true),
            Some(-1) => Ok(false),
            _ => Err(format!(
                "$push of {field:?}: $sort takes 1 or -1 (or fields with 1 or -1), got {v}"
            )),
        };
        let sort = match m.get("$sort") {
            None => None,
            Some(Value::Object(fields)) if !fields.is_empty() => Some(Sort::Fields(
                fields
                    .iter()
                    .map(|(k, v)| {
                        let path: Vec<String> = k.split('.').map(str::to_owned).collect();
                        if path.iter().any(|s| s.is_empty() || s.starts_with('$')) {
                            return Err(format!(
                                "$push of {field:?}: $sort by {k:?}: not a field path"
                            ));
                        }
                        Ok((path, direction(v)?))
                    })
                    .collect::<Result<_, String>>()?,
            )),
            Some(v) => Some(Sort::Values(direction(v)?)),
        };
        if let Some(other) = m
            .keys()
            .find(|k| !matches!(k.as_str(), "$each" | "$position" | "$slice" | "$sort"))
        {
            return Err(format!("$push of {field:?}: unknown modifier {other:?}"));
        }
        Ok(Self {
            each: each(field, "$push", m)?,
            position: int("$position")?,
            slice: int("$slice")?,
            sort,
        })
    }

    pub fn apply(&self, items: &mut Vec<Value>) {
        let len = items.len() as i64;
        let at = match self.position {
            None => len,
            Some(p) if p < 0 => (len + p).max(0),
            Some(p) => p.min(len),
        } as usize;
        items.splice(at..at, self.each.iter().cloned());
        match &self.sort {
            Some(Sort::Values(up)) => items.sort_by(|a, b| ordered(compare(a, b), *up)),
            Some(Sort::Fields(fields)) => items.sort_by(|a, b| {
                fields
                    .iter()
                    .map(|(path, up)| {
                        let (x, y) = (
                            lookup(a, path).unwrap_or(&Value::Null),
                            lookup(b, path).unwrap_or(&Value::Null),
                        );
                        ordered(compare(x, y), *up)
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            }),
            None => {}
        }
        match self.slice {
            Some(n) if n >= 0 => items.truncate(n as usize),
            Some(n) => {
                let keep = n.unsigned_abs() as usize;
                if items.len() > keep {
                    items.drain(..items.len() - keep);
                }
            }
            None => {}
        }
    }
}

fn ordered(o: std::cmp::Ordering, up: bool) -> std::cmp::Ordering {
    if up {
        o
    } else {
        o.reverse()
    }
}

/// `$addToSet`'s values: one, or `{"$each": [...]}`.
pub fn add_to_set_values(field: &str, arg: &Value) -> Result<Vec<Value>, String> {
    match arg.as_object().filter(|_| has_modifiers(arg)) {
        Some(m) if m.len() == 1 => each(field, "$addToSet", m),
        Some(_) => Err(format!(
            "$addToSet of {field:?}: the only modifier is $each"
        )),
        None => Ok(vec![arg.clone()]),
    }
}

/// Adds each value not equal to an element (or to a value before it), in linear time.
pub fn add_to_set(items: &mut Vec<Value>, values: &[Value]) {
    let mut seen: HashSet<String> = items.iter().map(key).collect();
    for v in values {
        if seen.insert(key(v)) {
            items.push(v.clone());
        }
    }
}

/// Removes every element equal to one of `values`, in linear time.
pub fn pull_all(items: &mut Vec<Value>, values: &[Value]) {
    let gone: HashSet<String> = values.iter().map(key).collect();
    items.retain(|e| !gone.contains(&key(e)));
}
