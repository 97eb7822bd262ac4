//! MongoDB Extended JSON scalars, as RESTHeart reads and writes them: `{"$oid": …}`,
//! `{"$date": …}`, `{"$numberLong": …}` and the like are one BSON value each, not objects of
//! fields. A document may hold them; they are stored, matched, diffed and updated whole.

use std::cmp::Ordering;

use serde_json::Value;

use super::doc_id::is_object_id;

/// The type keys that make a one-key object a scalar.
const TYPES: [&str; 7] = [
    "$oid",
    "$date",
    "$timestamp",
    "$numberLong",
    "$numberInt",
    "$numberDouble",
    "$numberDecimal",
];

/// Whether `key` names an Extended JSON scalar type (`$date`…), not an operator.
pub fn is_type_key(key: &str) -> bool {
    TYPES.contains(&key)
}

/// Whether `v` is a well-formed Extended JSON scalar: one value to store, compare and diff,
/// never an object to walk into.
pub fn is_scalar(v: &Value) -> bool {
    let Some((key, inner)) = v
        .as_object()
        .and_then(|m| m.iter().next().filter(|_| m.len() == 1))
    else {
        return false;
    };
    match key.as_str() {
        "$oid" => is_object_id(v),
        // RESTHeart writes milliseconds; relaxed Extended JSON an ISO-8601 UTC time; canonical
        // `{"$numberLong": "…"}`.
        "$date" => date_millis(v).is_some(),
        "$timestamp" => inner.as_object().is_some_and(|t| {
            t.len() == 2
                && [&t.get("t"), &t.get("i")].iter().all(|n| {
                    n.and_then(Value::as_u64)
                        .is_some_and(|n| n <= u32::MAX as u64)
                })
        }),
        "$numberLong" | "$numberInt" => inner.as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
        "$numberDouble" => inner.as_str().is_some_and(|s| {
            matches!(s, "Infinity" | "-Infinity" | "NaN") || s.parse::<f64>().is_ok()
        }),
        "$numberDecimal" => inner.as_str().is_some_and(|s| s.parse::<f64>().is_ok()),
        _ => false,
    }
}

/// A `{"$date": …}`'s milliseconds since the epoch.
pub fn date_millis(v: &Value) -> Option<i64> {
    match v.as_object()?.get("$date")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let t = humantime::parse_rfc3339_weak(s.strip_suffix('Z')?).ok()?;
            let ms = match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_millis()).ok()?,
                Err(e) => -i64::try_from(e.duration().as_millis()).ok()?,
            };
            Some(ms)
        }
        Value::Object(long) => long.get("$numberLong")?.as_str()?.parse().ok(),
        _ => None,
    }
}

/// `{"$date": <ms>}`, as RESTHeart's default representation writes a date.
pub fn date(millis: i64) -> Value {
    serde_json::json!({ "$date": millis })
}

/// A number's value, whether plain JSON or an Extended JSON number type.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Object(m) if m.len() == 1 => {
            let (k, s) = m.iter().next()?;
            match k.as_str() {
                "$numberLong" | "$numberInt" | "$numberDouble" | "$numberDecimal" => {
                    s.as_str()?.parse().ok()
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// MongoDB's order of BSON types: what `$min`, `$max` and `$sort` compare first.
fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 1,
        _ if number(v).is_some() => 2,
        Value::String(_) => 3,
        Value::Object(m) if m.contains_key("$oid") && is_object_id(v) => 7,
        Value::Bool(_) => 8,
        Value::Object(_) if date_millis(v).is_some() => 9,
        Value::Object(m) if m.contains_key("$timestamp") && is_scalar(v) => 10,
        Value::Object(_) => 4,
        Value::Array(_) => 5,
        Value::Number(_) => 2,
    }
}

/// Compares two values as MongoDB does: by type first (numbers, then strings, objects, arrays,
/// ObjectIds, booleans, dates, timestamps), then by value within a type.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    let by_type = rank(a).cmp(&rank(b));
    if by_type != Ordering::Equal {
        return by_type;
    }
    match (a, b) {
        _ if rank(a) == 2 => number(a).partial_cmp(&number(b)).unwrap_or(Ordering::Equal),
        _ if rank(a) == 9 => date_millis(a).cmp(&date_millis(b)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(x, y)| compare(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(x.len().cmp(&y.len())),
        (Value::Object(x), Value::Object(y)) => {
            let pairs = x.iter().zip(y.iter());
            pairs
                .map(|((kx, vx), (ky, vy))| compare(vx, vy).then_with(|| kx.cmp(ky)))
                .find(|o| o.is_ne())
                .unwrap_or(x.len().cmp(&y.len()))
        }
        _ => Ordering::Equal,
    }
}

/// Whether `a` and `b` are of one type bracket, which MongoDB's `$gt`, `$lt`… require before
/// they compare (`5 > "a"` is false, not an order of types).
pub fn comparable(a: &Value, b: &Value) -> bool {
    rank(a) == rank(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_are_well_formed_type_objects() {
        for v in [
            json!({"$oid": "62166d53ebdcd56455a1a7ab"}),
            json!({"$date": 1568295769260i64}),
            json!({"$date": "2019-09-12T13:42:49.26Z"}),
            json!({"$date": {"$numberLong": "-5"}}),
            json!({"$timestamp": {"t": 1, "i": 2}}),
            json!({"$numberLong": "-12"}),
            json!({"$numberDecimal": "1.50"}),
            json!({"$numberDouble": "NaN"}),
        ] {
            assert!(is_scalar(&v), "{v}");
        }
        for v in [
            json!({"$date": "yesterday"}),
            json!({"$date": "2019-09-12T13:42:49+01:00"}),
            json!({"$date": 1.5}),
            json!({"$numberLong": 5}),
            json!({"$timestamp": {"t": 1}}),
            json!({"$date": 1, "x": 2}),
            json!({"$where": "1"}),
            json!({"a": 1}),
        ] {
            assert!(!is_scalar(&v), "{v}");
        }
        assert_eq!(
            date_millis(&json!({"$date": "2019-09-12T13:42:49.26Z"})),
            Some(1568295769260)
        );
        // Relaxed Extended JSON writes an ISO time for 1970 to 9999 only; earlier is canonical.
        assert_eq!(date_millis(&json!({"$date": "1969-12-31T23:59:59Z"})), None);
        assert_eq!(
            date_millis(&json!({"$date": {"$numberLong": "-1000"}})),
            Some(-1000)
        );
    }

    #[test]
    fn values_compare_by_type_then_value() {
        let sorted = [
            json!(null),
            json!(-1),
            json!({"$numberLong": "2"}),
            json!(2.5),
            json!("a"),
            json!("b"),
            json!({"a": 1}),
            json!([1]),
            json!({"$oid": "62166d53ebdcd56455a1a7ab"}),
            json!(false),
            json!(true),
            json!({"$date": 5}),
            json!({"$date": "2019-09-12T13:42:49.26Z"}),
        ];
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(compare(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
        assert!(comparable(&json!(1), &json!({"$numberLong": "1"})));
        assert!(!comparable(&json!(1), &json!("1")));
    }
}
