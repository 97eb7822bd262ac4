//! Change-stream definitions in RESTHeart's dialect: a pipeline of `$match` stages over the
//! change event, with `_$` escaping `$` and `{"$var": name}` placeholders filled from `avars`.

use serde_json::{Map, Value};

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
    key.strip_prefix('_').filter(|k| k.starts_with('$')).unwrap_or(key)
}

/// `fullDocument::name.first` → `["fullDocument", "name", "first"]`.
fn split_path(path: &str) -> Result<Vec<String>, String> {
    let parts: Vec<String> = path.split("::").flat_map(|p| p.split('.')).map(str::to_owned).collect();
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
                "$match" => filters.push(parse_filter(body, 0).map_err(|e| format!("stage {i}: {e}"))?),
                other => return Err(format!("stage {i}: unsupported stage {other:?} (only $match is supported)")),
            }
        }
        Ok(Self(Filter::And(filters)))
    }

    /// Fills every `$var` from `avars`; a missing variable is an error naming it.
    pub fn bind(&self, avars: &Map<String, Value>) -> Result<Self, String> {
        Ok(Self(bind_filter(&self.0, avars)?))
    }

    /// Whether a change event passes. Unbound variables never match (call `bind` first).
    pub fn matches(&self, event: &Value) -> bool {
        eval(&self.0, event)
    }
}

/// Parses `?avars=`: a JSON object of variable values.
pub fn parse_avars(raw: Option<&str>) -> Result<Map<String, Value>, String> {
    let Some(raw) = raw else { return Ok(Map::new()) };
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
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
                let items = items.iter().map(|i| parse_filter(i, depth + 1)).collect::<Result<_, _>>()?;
                all.push(if op == "$or" { Filter::Or(items) } else { Filter::And(items) });
            }
            op if op.starts_with('$') => return Err(format!("unsupported operator {op:?}")),
            path => all.push(Filter::Field { path: split_path(path)?, cond: parse_cond(value, depth + 1)? }),
        }
    }
    Ok(if all.len() == 1 { all.pop().expect("one") } else { Filter::And(all) })
}

fn parse_cond(v: &Value, depth: usize) -> Result<Cond, String> {
    let Value::Object(map) = v else {
        return Ok(Cond::Eq(Operand::Lit(v.clone())));
    };
    let Some((op, arg)) = map.iter().next().filter(|_| map.len() == 1) else {
        return Ok(Cond::Eq(parse_operand(v, depth)?));
    };
    match unescape(op) {
        "$var" => Ok(Cond::Eq(parse_operand(v, depth)?)),
        "$eq" => Ok(Cond::Eq(parse_operand(arg, depth)?)),
        "$ne" => Ok(Cond::Ne(parse_operand(arg, depth)?)),
        "$in" => match arg {
            Value::Array(items) => Ok(Cond::In(items.iter().map(|i| parse_operand(i, depth)).collect::<Result<_, _>>()?)),
            _ => Err("$in takes an array".into()),
        },
        "$exists" => arg.as_bool().map(Cond::Exists).ok_or_else(|| "$exists takes true or false".into()),
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
    Ok(Operand::Lit(unescape_value(v)))
}

fn unescape_value(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (unescape(k).to_owned(), unescape_value(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(unescape_value).collect()),
        other => other.clone(),
    }
}

fn bind_filter(f: &Filter, avars: &Map<String, Value>) -> Result<Filter, String> {
    let bind = |o: &Operand| -> Result<Operand, String> {
        match o {
            Operand::Lit(v) => Ok(Operand::Lit(v.clone())),
            Operand::Var(name) => avars
                .get(name)
                .map(|v| Operand::Lit(v.clone()))
                .ok_or_else(|| format!("missing variable {name:?}: pass it as ?avars={{\"{name}\":...}}")),
        }
    };
    Ok(match f {
        Filter::And(items) => Filter::And(items.iter().map(|i| bind_filter(i, avars)).collect::<Result<_, _>>()?),
        Filter::Or(items) => Filter::Or(items.iter().map(|i| bind_filter(i, avars)).collect::<Result<_, _>>()?),
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

fn lookup<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// MongoDB equality: a missing field equals `null`, and an array field matches if it equals
/// the value or contains it.
fn equals(field: Option<&Value>, value: &Value) -> bool {
    match field {
        None => value.is_null(),
        Some(f) if f == value => true,
        Some(Value::Array(items)) => items.contains(value),
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
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn insert(doc: Value) -> Value {
        json!({"operationType": "insert", "fullDocument": doc, "documentKey": {"_id": "1"}})
    }

    fn pipeline(stages: Value) -> Pipeline {
        Pipeline::parse(&stages).expect("valid stages")
    }

    #[test]
    fn empty_pipeline_matches_everything() {
        assert!(pipeline(json!([])).matches(&insert(json!({}))));
    }

    #[test]
    fn or_of_operation_types_as_in_the_tutorial() {
        let p = pipeline(json!([{"_$match": {"_$or": [{"operationType": "insert"}, {"operationType": "update"}]}}]));
        assert!(p.matches(&insert(json!({}))));
        assert!(!p.matches(&json!({"operationType": "delete"})));
    }

    #[test]
    fn var_from_avars_with_double_colon_path() {
        let p = pipeline(json!([{"_$match": {"fullDocument::name": {"_$var": "n"}}}]));
        let avars = parse_avars(Some(r#"{"n":"uji"}"#)).unwrap();
        let bound = p.bind(&avars).unwrap();
        assert!(bound.matches(&insert(json!({"name": "uji"}))));
        assert!(!bound.matches(&insert(json!({"name": "other"}))));
        let err = p.bind(&Map::new()).unwrap_err();
        assert!(err.contains("\"n\""), "{err}");
    }

    #[test]
    fn in_and_dotted_paths_and_and() {
        let p = pipeline(json!([{"$match": {"$and": [
            {"fullDocument.dims.w": {"$in": [1, 2]}},
            {"fullDocument::tags": "red"}
        ]}}]));
        assert!(p.matches(&insert(json!({"dims": {"w": 2}, "tags": ["red", "big"]}))));
        assert!(!p.matches(&insert(json!({"dims": {"w": 3}, "tags": ["red"]}))));
    }

    #[test]
    fn bad_definitions_are_explained() {
        for (stages, needle) in [
            (json!({}), "array"),
            (json!([{"$group": {}}]), "unsupported stage"),
            (json!([{"$match": {"a": {"$regex": "x"}}}]), "unsupported operator"),
            (json!([{"$match": {"$or": []}}]), "at least one"),
            (json!([{"$match": {"a..b": 1}}]), "invalid field path"),
            (json!([{"$match": {"a": {"$var": 3}}}]), "$var"),
        ] {
            let err = Pipeline::parse(&stages).unwrap_err();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }

    #[test]
    fn avars_must_be_an_object() {
        assert!(parse_avars(Some("[1]")).is_err());
        assert!(parse_avars(Some("{")).is_err());
        assert!(parse_avars(None).unwrap().is_empty());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            prop::sample::select(vec!["$match", "_$match", "$or", "_$or", "$and", "$in", "$var", "_$var", "$ne", "$exists", "a", "fullDocument::name", "x.y", ""]).prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(6, 64, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec!["$match", "_$match", "$or", "_$or", "$and", "$in", "$var", "_$var", "$ne", "$exists", "a", "fullDocument::name", "operationType", "x.y"]).prop_map(str::to_owned),
                    inner,
                    0..3
                ).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn untrusted_stages_never_panic(stages in arb_json(), event in arb_json(), avars in arb_json()) {
            if let Ok(p) = Pipeline::parse(&stages) {
                let _ = p.matches(&event);
                if let Value::Object(avars) = avars {
                    if let Ok(bound) = p.bind(&avars) {
                        let _ = bound.matches(&event);
                    }
                }
            }
        }

        #[test]
        fn avars_parser_never_panics(s in "\\PC{0,40}") {
            let _ = parse_avars(Some(&s));
        }

        #[test]
        fn equality_on_generated_names(name in "[a-z]{1,8}", other in "[a-z]{1,8}") {
            let p = pipeline(json!([{"_$match": {"fullDocument::name": {"_$var": "n"}}}]));
            let mut avars = Map::new();
            avars.insert("n".into(), json!(name.clone()));
            let bound = p.bind(&avars).unwrap();
            prop_assert!(bound.matches(&insert(json!({"name": name.clone()}))));
            prop_assert_eq!(bound.matches(&insert(json!({"name": other.clone()}))), name == other);
        }
    }
}
