//! `$pull`'s condition, compiled once per update: a value (equal elements go), query operators
//! on the element (`{"$gte": 6}`), or conditions on fields of document elements
//! (`{"qty": {"$lt": 3}, "tags": "x"}`), read as MongoDB reads a query: a field that holds an
//! array matches when the array or any of its elements does, and a plain object below the top
//! is a whole value to equal.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::{Map, Value};

use super::paths::lookup;
use crate::store::ejson::{comparable, compare, equal, is_scalar, key};

pub struct Condition(Top);

enum Top {
    Equal(Value),
    Tests(Vec<Test>),
    Fields(Vec<(Vec<String>, Field)>),
}

enum Field {
    Equal(Value),
    Tests(Vec<Test>),
}

enum Test {
    Eq(Value),
    Ne(Value),
    Cmp(Value, fn(Ordering) -> bool),
    /// The `key`s of the values; `true` for `$in`, `false` for `$nin`.
    In(HashSet<String>, bool),
}

/// What an object is to a query: operators (`{"$gt": 1}`), fields, or one value (an
/// Extended JSON scalar, or no object at all).
enum Shape<'a> {
    Operators(&'a Map<String, Value>),
    Fields(&'a Map<String, Value>),
    Value,
}

fn shape(v: &Value) -> Result<Shape<'_>, String> {
    let Some(map) = v.as_object().filter(|m| !m.is_empty() && !is_scalar(v)) else {
        return Ok(Shape::Value);
    };
    match map.keys().filter(|k| k.starts_with('$')).count() {
        0 => Ok(Shape::Fields(map)),
        n if n == map.len() => Ok(Shape::Operators(map)),
        _ => Err(format!(
            "{v} mixes operators and fields: use either operators ({{\"$gt\": 1}}) or fields"
        )),
    }
}

impl Condition {
    pub fn compile(field: &str, cond: &Value) -> Result<Self, String> {
        let top = match shape(cond) {
            Ok(Shape::Value) => Ok(Top::Equal(cond.clone())),
            Ok(Shape::Operators(ops)) => tests(ops).map(Top::Tests),
            Ok(Shape::Fields(fields)) => fields
                .iter()
                .map(|(k, v)| {
                    let path: Vec<String> = k.split('.').map(str::to_owned).collect();
                    if path.iter().any(|s| s.is_empty() || s.starts_with('$')) {
                        return Err(format!("{k:?} is not a field path"));
                    }
                    let field = match shape(v)? {
                        Shape::Operators(ops) => Field::Tests(tests(ops)?),
                        Shape::Fields(_) | Shape::Value => Field::Equal(v.clone()),
                    };
                    Ok((path, field))
                })
                .collect::<Result<_, String>>()
                .map(Top::Fields),
            Err(e) => Err(e),
        };
        top.map(Self)
            .map_err(|e| format!("$pull of {field:?}: {e}"))
    }

    /// Whether an array element matches: then `$pull` removes it.
    pub fn matches(&self, element: &Value) -> bool {
        match &self.0 {
            Top::Equal(v) => equal(element, v),
            Top::Tests(tests) => tests.iter().all(|t| t.passes(element)),
            Top::Fields(fields) => {
                element.is_object()
                    && fields.iter().all(|(path, field)| {
                        let found = lookup(element, path).unwrap_or(&Value::Null);
                        match field {
                            Field::Equal(v) => any(found, |x| equal(x, v)),
                            Field::Tests(tests) => tests.iter().all(|t| t.holds_for_field(found)),
                        }
                    })
            }
        }
    }
}

impl Test {
    fn passes(&self, v: &Value) -> bool {
        match self {
            Test::Eq(x) => equal(v, x),
            Test::Ne(x) => !equal(v, x),
            Test::Cmp(x, pass) => comparable(v, x) && pass(compare(v, x)),
            Test::In(keys, is_in) => keys.contains(&key(v)) == *is_in,
        }
    }

    /// A field's test: an array field matches a positive test when it or any element passes,
    /// and a negative one (`$ne`, `$nin`) when neither it nor any element fails it.
    fn holds_for_field(&self, found: &Value) -> bool {
        match self {
            Test::Ne(_) | Test::In(_, false) => all(found, |x| self.passes(x)),
            _ => any(found, |x| self.passes(x)),
        }
    }
}

fn any(v: &Value, f: impl Fn(&Value) -> bool) -> bool {
    f(v) || v.as_array().is_some_and(|items| items.iter().any(&f))
}

fn all(v: &Value, f: impl Fn(&Value) -> bool) -> bool {
    f(v) && v.as_array().is_none_or(|items| items.iter().all(&f))
}

fn tests(ops: &Map<String, Value>) -> Result<Vec<Test>, String> {
    ops.iter()
        .map(|(op, arg)| {
            Ok(match op.as_str() {
                "$eq" => Test::Eq(arg.clone()),
                "$ne" => Test::Ne(arg.clone()),
                "$gt" => Test::Cmp(arg.clone(), Ordering::is_gt),
                "$gte" => Test::Cmp(arg.clone(), Ordering::is_ge),
                "$lt" => Test::Cmp(arg.clone(), Ordering::is_lt),
                "$lte" => Test::Cmp(arg.clone(), Ordering::is_le),
                "$in" | "$nin" => match arg {
                    Value::Array(list) => Test::In(list.iter().map(key).collect(), op == "$in"),
                    _ => return Err(format!("{op} takes an array")),
                },
                other => {
                    return Err(format!(
                        "query operator {other:?} is not supported by livesource-dev: use $eq, \
                         $ne, $gt, $gte, $lt, $lte, $in or $nin"
                    ))
                }
            })
        })
        .collect()
}
