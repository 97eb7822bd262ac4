//! Change streams. This file: their definitions in RESTHeart's dialect, a pipeline of `$match`
//! stages over the change event, with `_$` escaping `$` and `{"$var": name}` placeholders
//! filled from `avars`. `hub`: one shared upstream subscription per live stream.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::store::{equal, is_scalar, is_type_key, lower_object_ids};

mod hub;
pub use hub::{StreamHub, StreamKey, MAX_STREAMS};

/// Deepest nesting accepted in stages: definitions come from clients, are evaluated for every
/// change, and recursion must stay bounded.
const MAX_DEPTH: usize = 16;

/// A compiled `$match` condition tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Field { path: Vec<String>, cond: Cond },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Eq(Operand),
    Ne(Operand),
    In(Vec<Operand>),
    Exists(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Lit(Value),
    Var(String),
}

/// A stream's pipeline: the conjunction of its `$match` stages.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline(Filter);

/// `_$name` → `$name` (RESTHeart stores operators escaped). Plain `$name` is accepted too.
fn unescape(key: &str) -> &str {
    key.strip_prefix('_')
        .filter(|k| k.starts_with('$'))
        .unwrap_or(key)
}

/// `fullDocument::name.first` → `["fullDocument", "name", "first"]`.
fn split_path(path: &str) -> Result<Vec<String>, String> {
    let parts: Vec<String> = path
        .split("::")
        .flat_map(|p| p.split('.'))
        .map(str::to_owned)
        .collect();
    if parts.iter().any(String::is_empty) {
        return Err(format!("invalid field path {path:?}"));
    }
    Ok(parts)
}

impl Pipeline {
    /// Compiles a stream's `stages` array; every error names what is wrong.
    pub fn parse(stages: &Value) -> Result<Self, String> {
        let Value::Array(stages) = stages else {
            return Err("stages must be an array".into());
        };
        let mut filters = Vec::with_capacity(stages.len());
        for (i, stage) in stages.iter().enumerate() {
            let stage = stage
                .as_object()
                .filter(|o| o.len() == 1)
                .ok_or_else(|| format!("stage {i} must be an object with exactly one operator"))?;
            let (op, body) = stage.iter().next().expect("len checked");
            match unescape(op) {
                "$match" => {
                    filters.push(parse_filter(body, 0).map_err(|e| format!("stage {i}: {e}"))?)
                }
                other => {
                    return Err(format!(
                        "stage {i}: unsupported stage {other:?} (only $match is supported)"
                    ))
                }
            }
        }
        Ok(Self(Filter::And(filters)))
    }

    /// Fills every `$var` from `avars`; a missing variable is an error naming it.
    pub fn bind(&self, avars: &Map<String, Value>) -> Result<Self, String> {
        Ok(Self(bind_filter(&self.0, avars)?))
    }

    /// The names of the variables this pipeline reads (none once bound).
    pub fn vars(&self) -> BTreeSet<&str> {
        let mut names = BTreeSet::new();
        collect_vars(&self.0, &mut names);
        names
    }

    /// The part of `avars` that decides what this pipeline matches. Other variables are
    /// accepted and ignored, as RESTHeart does, so they must not tell two clients' streams
    /// apart: each distinct value of an unused variable would otherwise cost a stream.
    pub fn used_avars(&self, avars: &Map<String, Value>) -> Map<String, Value> {
        let names = self.vars();
        avars
            .iter()
            .filter(|(name, _)| names.contains(name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }

    /// Whether a change event passes. Unbound variables never match (call `bind` first).
    pub fn matches(&self, event: &Value) -> bool {
        eval(&self.0, event)
    }
}

/// Parses `?avars=`: a JSON object of variable values.
pub fn parse_avars(raw: Option<&str>) -> Result<Map<String, Value>, String> {
    let Some(raw) = raw else {
        return Ok(Map::new());
    };
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(mut map)) => {
            // As a stage's literals are: an ObjectId names one document in either case.
            map.values_mut().for_each(lower_object_ids);
            Ok(map)
        }
        Ok(_) => Err("avars must be a JSON object, e.g. avars={\"n\":\"uji\"}".into()),
        Err(e) => Err(format!("avars is not valid JSON: {e}")),
    }
}

fn parse_filter(v: &Value, depth: usize) -> Result<Filter, String> {
    if depth > MAX_DEPTH {
        return Err(format!("filter nested deeper than {MAX_DEPTH} levels"));
    }
    let Value::Object(map) = v else {
        return Err("a $match filter must be an object".into());
    };
    let mut all = Vec::with_capacity(map.len());
    for (key, value) in map {
        match unescape(key) {
            op @ ("$or" | "$and") => {
                let Value::Array(items) = value else {
                    return Err(format!("{op} takes an array of filters"));
                };
                if items.is_empty() {
                    return Err(format!("{op} needs at least one filter"));
                }
                let items = items
                    .iter()
                    .map(|i| parse_filter(i, depth + 1))
                    .collect::<Result<_, _>>()?;
                all.push(if op == "$or" {
                    Filter::Or(items)
                } else {
                    Filter::And(items)
                });
            }
            op if op.starts_with('$') => return Err(format!("unsupported operator {op:?}")),
            path => {
                let path = split_path(path)?;
                for cond in parse_conds(value, depth + 1)? {
                    all.push(Filter::Field {
                        path: path.clone(),
                        cond,
                    });
                }
            }
        }
    }
    Ok(if all.len() == 1 {
        all.pop().expect("one")
    } else {
        Filter::And(all)
    })
}

/// The conditions on one field: one, or several operators that must all hold, as MongoDB reads
/// `{"$ne": 1, "$exists": true}`. Operators mixed with plain fields mean nothing: refused.
fn parse_conds(v: &Value, depth: usize) -> Result<Vec<Cond>, String> {
    if let Value::Object(map) = v {
        let operators = map.keys().filter(|k| unescape(k).starts_with('$')).count();
        if map.len() > 1 && operators > 0 {
            if operators < map.len() {
                return Err(format!(
                    "a condition mixes operators and fields: {v}; use either operators \
                     ({{\"_$ne\": 1}}) or a whole value"
                ));
            }
            return map
                .iter()
                .map(|(op, arg)| {
                    let one = Value::Object(Map::from_iter([(op.clone(), arg.clone())]));
                    parse_cond(&one, depth)
                })
                .collect();
        }
    }
    Ok(vec![parse_cond(v, depth)?])
}

fn parse_cond(v: &Value, depth: usize) -> Result<Cond, String> {
    let Value::Object(map) = v else {
        return Ok(Cond::Eq(Operand::Lit(v.clone())));
    };
    let Some((op, arg)) = map.iter().next().filter(|_| map.len() == 1) else {
        return Ok(Cond::Eq(parse_operand(v, depth)?));
    };
    match unescape(op) {
        // An ObjectId (`documentKey._id` is one), a date… is a value, not an operator.
        "$var" => Ok(Cond::Eq(parse_operand(v, depth)?)),
        t if is_type_key(t) => Ok(Cond::Eq(parse_operand(v, depth)?)),
        "$eq" => Ok(Cond::Eq(parse_operand(arg, depth)?)),
        "$ne" => Ok(Cond::Ne(parse_operand(arg, depth)?)),
        "$in" => match arg {
            Value::Array(items) => Ok(Cond::In(
                items
                    .iter()
                    .map(|i| parse_operand(i, depth))
                    .collect::<Result<_, _>>()?,
            )),
            _ => Err("$in takes an array".into()),
        },
        "$exists" => arg
            .as_bool()
            .map(Cond::Exists)
            .ok_or_else(|| "$exists takes true or false".into()),
        other if other.starts_with('$') => Err(format!("unsupported operator {other:?}")),
        _ => Ok(Cond::Eq(parse_operand(v, depth)?)),
    }
}

/// A literal, or `{"$var": "name"}`. Literal objects have their `_$` keys unescaped.
fn parse_operand(v: &Value, depth: usize) -> Result<Operand, String> {
    if depth > MAX_DEPTH {
        return Err(format!("value nested deeper than {MAX_DEPTH} levels"));
    }
    if let Value::Object(map) = v {
        if let Some((k, name)) = map.iter().next().filter(|_| map.len() == 1) {
            if unescape(k) == "$var" {
                return match name {
                    Value::String(name) if !name.is_empty() => Ok(Operand::Var(name.clone())),
                    _ => Err("$var takes a variable name (a non-empty string)".into()),
                };
            }
        }
    }
    check_literal(v)?;
    let mut lit = unescape_value(v);
    lower_object_ids(&mut lit);
    Ok(Operand::Lit(lit))
}

/// An Extended JSON value in a stage must be written as RESTHeart reads one: unescaped
/// (`{"$oid": …}`), which its JSON reader turns into a value when the definition is stored.
/// Escaped (`{"_$oid": …}`), it is stored as a field and unescaped for MongoDB, which then
/// refuses `$oid` as an unknown operator: a stream that worked here would fail there.
fn check_literal(v: &Value) -> Result<(), String> {
    match v {
        Value::Object(map) => map.iter().try_for_each(|(k, item)| {
            if let Some(t) = k.strip_prefix('_').filter(|t| is_type_key(t)) {
                return Err(format!(
                    "write {{\"{t}\": …}} unescaped: RESTHeart reads it as a value when the \
                     definition is stored, while {k:?} would reach MongoDB as an unknown \
                     operator"
                ));
            }
            if is_type_key(k) && !is_scalar(v) {
                return Err(format!("{v} is not a well-formed Extended JSON value"));
            }
            check_literal(item)
        }),
        Value::Array(items) => items.iter().try_for_each(check_literal),
        _ => Ok(()),
    }
}

fn unescape_value(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (unescape(k).to_owned(), unescape_value(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(unescape_value).collect()),
        other => other.clone(),
    }
}

fn bind_filter(f: &Filter, avars: &Map<String, Value>) -> Result<Filter, String> {
    let bind = |o: &Operand| -> Result<Operand, String> {
        match o {
            Operand::Lit(v) => Ok(Operand::Lit(v.clone())),
            Operand::Var(name) => {
                avars
                    .get(name)
                    .map(|v| Operand::Lit(v.clone()))
                    .ok_or_else(|| match name.starts_with('@') {
                        true => format!(
                        "variable {name:?} comes from the request's token: this stream needs an \
                         authenticated request (only @user._id, the token's subject, is known)"
                    ),
                        false => format!(
                            "missing variable {name:?}: pass it as ?avars={{\"{name}\":...}}"
                        ),
                    })
            }
        }
    };
    Ok(match f {
        Filter::And(items) => Filter::And(
            items
                .iter()
                .map(|i| bind_filter(i, avars))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Or(items) => Filter::Or(
            items
                .iter()
                .map(|i| bind_filter(i, avars))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Field { path, cond } => Filter::Field {
            path: path.clone(),
            cond: match cond {
                Cond::Eq(o) => Cond::Eq(bind(o)?),
                Cond::Ne(o) => Cond::Ne(bind(o)?),
                Cond::In(os) => Cond::In(os.iter().map(bind).collect::<Result<_, _>>()?),
                Cond::Exists(b) => Cond::Exists(*b),
            },
        },
    })
}

fn collect_vars<'a>(f: &'a Filter, names: &mut BTreeSet<&'a str>) {
    let operands: &[Operand] = match f {
        Filter::And(items) | Filter::Or(items) => {
            for item in items {
                collect_vars(item, names);
            }
            return;
        }
        Filter::Field { cond, .. } => match cond {
            Cond::Eq(o) | Cond::Ne(o) => std::slice::from_ref(o),
            Cond::In(os) => os,
            Cond::Exists(_) => &[],
        },
    };
    for operand in operands {
        if let Operand::Var(name) = operand {
            names.insert(name);
        }
    }
}

fn lookup<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// MongoDB equality: a missing field equals `null`, an array field matches if it equals the
/// value or contains it, and values are equal as MongoDB's are (`1` and `1.0`, a date's forms).
fn equals(field: Option<&Value>, value: &Value) -> bool {
    match field {
        None => value.is_null(),
        Some(f) if equal(f, value) => true,
        Some(Value::Array(items)) => items.iter().any(|item| equal(item, value)),
        Some(_) => false,
    }
}

fn literal(o: &Operand) -> Option<&Value> {
    match o {
        Operand::Lit(v) => Some(v),
        Operand::Var(_) => None,
    }
}

fn eval(f: &Filter, event: &Value) -> bool {
    match f {
        Filter::And(items) => items.iter().all(|i| eval(i, event)),
        Filter::Or(items) => items.iter().any(|i| eval(i, event)),
        Filter::Field { path, cond } => {
            let field = lookup(event, path);
            match cond {
                Cond::Eq(o) => literal(o).is_some_and(|v| equals(field, v)),
                Cond::Ne(o) => literal(o).is_some_and(|v| !equals(field, v)),
                Cond::In(os) => os.iter().filter_map(literal).any(|v| equals(field, v)),
                Cond::Exists(want) => field.is_some() == *want,
            }
        }
    }
}

#[cfg(test)]
mod tests;
