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
        "$numberLong" => inner.as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
        "$numberInt" => inner.as_str().is_some_and(|s| s.parse::<i32>().is_ok()),
        "$numberDouble" | "$numberDecimal" => inner.as_str().is_some_and(decimal_text),
        _ => false,
    }
}

/// A number as Extended JSON writes one in a string: decimal digits, or `Infinity`,
/// `-Infinity` and `NaN` by those names (Rust's parser would also take `inf` and `nan`).
fn decimal_text(s: &str) -> bool {
    matches!(s, "Infinity" | "-Infinity" | "NaN") || s.parse::<f64>().is_ok_and(f64::is_finite)
}

/// A `{"$date": …}`'s milliseconds since the epoch.
pub fn date_millis(v: &Value) -> Option<i64> {
    match v.as_object()?.get("$date")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            // RFC 3339 in UTC, as relaxed Extended JSON writes a date: `T` and `Z`.
            let t = humantime::parse_rfc3339(s).ok()?;
            let ms = match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_millis()).ok()?,
                Err(e) => -i64::try_from(e.duration().as_millis()).ok()?,
            };
            Some(ms)
        }
        Value::Object(long) if long.len() == 1 => long.get("$numberLong")?.as_str()?.parse().ok(),
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

/// A whole number, in any JSON or Extended JSON form (`1`, `1.0`, `{"$numberInt": "1"}`), as
/// MongoDB takes one for `$pop`, `$slice` and the like.
pub fn integer(v: &Value) -> Option<i64> {
    let n = number(v)?;
    (n.fract() == 0.0 && n.abs() < 9.0e15).then_some(n as i64)
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
/// ObjectIds, booleans, dates, timestamps), then by value within a type. A total order (NaN
/// sorts below every other number, as in MongoDB), so sorting by it cannot fail. An object's
/// fields are compared in the order of their names (MongoDB compares them in stored order,
/// which a JSON object does not keep in every build).
pub fn compare(a: &Value, b: &Value) -> Ordering {
    let by_type = rank(a).cmp(&rank(b));
    if by_type != Ordering::Equal {
        return by_type;
    }
    match (a, b) {
        _ if rank(a) == 2 => num_cmp(number(a), number(b)),
        _ if rank(a) == 9 => date_millis(a).cmp(&date_millis(b)),
        _ if rank(a) == 10 => timestamp(a).cmp(&timestamp(b)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(x, y)| compare(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(x.len().cmp(&y.len())),
        (Value::Object(x), Value::Object(y)) => sorted(x)
            .into_iter()
            .zip(sorted(y))
            .map(|((kx, vx), (ky, vy))| {
                rank(vx)
                    .cmp(&rank(vy))
                    .then_with(|| kx.cmp(ky))
                    .then_with(|| compare(vx, vy))
            })
            .find(|o| o.is_ne())
            .unwrap_or(x.len().cmp(&y.len())),
        _ => Ordering::Equal,
    }
}

/// MongoDB's equality of values: `1`, `1.0` and `{"$numberLong": "1"}` are equal, and so are
/// the forms of one date. Consistent with `compare` and with `key`.
pub fn equal(a: &Value, b: &Value) -> bool {
    compare(a, b) == Ordering::Equal
}

/// A text that two values share exactly when they are `equal`: for sets of values (what
/// `$addToSet` and `$pullAll` compare against), in linear time.
pub fn key(v: &Value) -> String {
    let mut out = String::new();
    write_key(v, &mut out);
    out
}

fn write_key(v: &Value, out: &mut String) {
    use std::fmt::Write;
    match rank(v) {
        2 => match number(v) {
            Some(n) if n.is_nan() => out.push_str("nNaN"),
            // `+ 0.0` makes -0 and 0 one key, as they are one value.
            Some(n) => drop(write!(out, "n{:?}", n + 0.0)),
            None => {}
        },
        9 => drop(write!(out, "d{}", date_millis(v).unwrap_or_default())),
        10 => drop(write!(out, "t{:?}", timestamp(v))),
        _ => match v {
            Value::Array(items) => {
                out.push('[');
                for item in items {
                    write_key(item, out);
                    out.push(',');
                }
                out.push(']');
            }
            Value::Object(map) if !is_scalar(v) => {
                out.push('{');
                for (k, item) in sorted(map) {
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write_key(item, out);
                    out.push(',');
                }
                out.push('}');
            }
            // Strings, booleans, null and ObjectIds (stored in lower case): their JSON.
            other => out.push_str(&other.to_string()),
        },
    }
}

fn num_cmp(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a.unwrap_or(f64::NAN), b.unwrap_or(f64::NAN)) {
        (x, y) if x.is_nan() || y.is_nan() => y.is_nan().cmp(&x.is_nan()),
        (x, y) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

fn timestamp(v: &Value) -> Option<(u64, u64)> {
    let t = v.get("$timestamp")?;
    Some((t.get("t")?.as_u64()?, t.get("i")?.as_u64()?))
}

fn sorted(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut fields: Vec<_> = map.iter().collect();
    fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
    fields
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
            json!({"$date": "2019-09-12 13:42:49Z"}),
            json!({"$numberInt": "2147483648"}),
            json!({"$numberDouble": "inf"}),
            json!({"$numberDecimal": "nan"}),
            json!({"$date": 1.5}),
            json!({"$numberLong": 5}),
            json!({"$timestamp": {"t": 1}}),
            json!({"$date": 1, "x": 2}),
            json!({"$date": {"$numberLong": "5", "$where": "sleep(1)"}}),
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
        // A total order: NaN first among numbers, and sorting with it cannot panic.
        let nan = json!({"$numberDouble": "NaN"});
        assert_eq!(compare(&nan, &json!(-1e300)), Ordering::Less);
        assert_eq!(
            compare(&nan, &json!({"$numberDecimal": "NaN"})),
            Ordering::Equal
        );
        let mut mixed: Vec<Value> = (0..40)
            .map(|i| {
                if i % 3 == 0 {
                    nan.clone()
                } else {
                    json!(40 - i)
                }
            })
            .collect();
        mixed.sort_by(compare);
        assert!(mixed[..14].iter().all(|v| v == &nan), "{mixed:?}");
        // Fields by name before value; timestamps by time, then increment.
        assert_eq!(compare(&json!({"a": 2}), &json!({"b": 1})), Ordering::Less);
        let ts = |t: u32, i: u32| json!({"$timestamp": {"t": t, "i": i}});
        assert_eq!(compare(&ts(2, 1), &ts(1, 9)), Ordering::Greater);
    }

    #[test]
    fn equal_values_share_a_key() {
        let groups = [
            vec![
                json!(1),
                json!(1.0),
                json!({"$numberLong": "1"}),
                json!({"$numberDecimal": "1.0"}),
            ],
            vec![json!(0), json!(-0.0)],
            vec![
                json!({"$date": 1568295769260i64}),
                json!({"$date": "2019-09-12T13:42:49.26Z"}),
                json!({"$date": {"$numberLong": "1568295769260"}}),
            ],
            vec![
                json!({"a": 1, "b": [1.0]}),
                json!({"b": [1], "a": {"$numberInt": "1"}}),
            ],
            vec![json!("1")],
            vec![json!([1, 2])],
            vec![json!([2, 1])],
            vec![json!({"$oid": "62166d53ebdcd56455a1a7ab"})],
            vec![json!(null)],
        ];
        for (i, group) in groups.iter().enumerate() {
            for a in group {
                for (j, other) in groups.iter().enumerate() {
                    for b in other {
                        assert_eq!(equal(a, b), i == j, "{a} vs {b}");
                        assert_eq!(
                            key(a) == key(b),
                            i == j,
                            "{a} vs {b}: {} {}",
                            key(a),
                            key(b)
                        );
                    }
                }
            }
        }
        assert!(!comparable(&json!(1), &json!("1")));
    }
}
