//! Unit and property tests for the `$match` subset.

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
    let p = pipeline(
        json!([{"_$match": {"_$or": [{"operationType": "insert"}, {"operationType": "update"}]}}]),
    );
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
fn an_object_id_is_a_value_to_match() {
    let event =
        |hex: &str| json!({"documentKey": {"_id": {"$oid": hex}}, "operationType": "delete"});
    let hex = "62166d53ebdcd56455a1a7ab";
    for stages in [
        json!([{"_$match": {"documentKey._id": {"$oid": hex}}}]),
        json!([{"$match": {"documentKey._id": {"$oid": hex.to_uppercase()}}}]),
        json!([{"$match": {"documentKey._id": {"$in": [{"$oid": hex}]}}}]),
        json!([{"$match": {"documentKey._id": {"$var": "id"}}}]),
    ] {
        let p = pipeline(stages.clone());
        // An avars ObjectId in upper case names the same document, as one in a stage does.
        let avars = json!({"id": {"$oid": hex.to_uppercase()}}).to_string();
        let avars = parse_avars(Some(&avars)).unwrap();
        let bound = p.bind(&avars).unwrap();
        assert!(bound.matches(&event(hex)), "{stages}");
        assert!(
            !bound.matches(&event("62166d53ebdcd56455a1a7ac")),
            "{stages}"
        );
    }
}

#[test]
fn an_extended_json_date_is_a_value_to_match() {
    let event = json!({"fullDocument": {"at": {"$date": 5}}});
    let p = pipeline(json!([{"_$match": {"fullDocument.at": {"$date": 5}}}]));
    assert!(p.matches(&event));
    assert!(!p.matches(&json!({"fullDocument": {"at": {"$date": 6}}})));
    // Equal as MongoDB's values are: a date's other form, a number's.
    assert!(p.matches(&json!({"fullDocument": {"at": {"$date": {"$numberLong": "5"}}}})));
    let price = pipeline(json!([{"$match": {"fullDocument.price": {"$in": [1]}}}]));
    assert!(price.matches(&json!({"fullDocument": {"price": 1.0}})));
    assert!(price.matches(&json!({"fullDocument": {"price": [3, 1.0]}})));
}

#[test]
fn escaped_or_malformed_extended_json_values_are_refused() {
    let hex = "62166d53ebdcd56455a1a7ab";
    for (stages, why) in [
        (
            json!([{"_$match": {"documentKey._id": {"_$oid": hex}}}]),
            "write {\"$oid\": …} unescaped",
        ),
        (
            json!([{"$match": {"documentKey._id": {"$in": [{"_$oid": hex}]}}}]),
            "unescaped",
        ),
        (
            json!([{"$match": {"fullDocument.at": {"_$date": 5}}}]),
            "write {\"$date\": …} unescaped",
        ),
        (
            json!([{"$match": {"fullDocument.at": {"$date": "yesterday"}}}]),
            "not a well-formed",
        ),
        (
            json!([{"$match": {"documentKey._id": {"$oid": "abc"}}}]),
            "not a well-formed",
        ),
    ] {
        let e = Pipeline::parse(&stages).unwrap_err();
        assert!(e.contains(why), "{stages}: {e}");
    }
}

#[test]
fn bad_definitions_are_explained() {
    for (stages, needle) in [
        (json!({}), "array"),
        (json!([{"$group": {}}]), "unsupported stage"),
        (
            json!([{"$match": {"a": {"$regex": "x"}}}]),
            "unsupported operator",
        ),
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
        prop::sample::select(vec![
            "$match",
            "_$match",
            "$or",
            "_$or",
            "$and",
            "$in",
            "$var",
            "_$var",
            "$ne",
            "$exists",
            "a",
            "fullDocument::name",
            "x.y",
            ""
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(6, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "$match",
                    "_$match",
                    "$or",
                    "_$or",
                    "$and",
                    "$in",
                    "$var",
                    "_$var",
                    "$ne",
                    "$exists",
                    "a",
                    "fullDocument::name",
                    "operationType",
                    "x.y"
                ])
                .prop_map(str::to_owned),
                inner,
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
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
        let same = insert(json!({"name": name.clone()}));
        prop_assert!(bound.matches(&same));
        prop_assert_eq!(bound.matches(&insert(json!({"name": other.clone()}))), name == other);
    }

    #[test]
    fn used_avars_never_changes_what_a_binding_matches(
        stages in arb_json(), event in arb_json(), avars in arb_json()
    ) {
        if let (Ok(p), Value::Object(avars)) = (Pipeline::parse(&stages), avars) {
            let used = p.used_avars(&avars);
            prop_assert!(used.keys().all(|k| p.vars().contains(k.as_str())));
            match (p.bind(&avars), p.bind(&used)) {
                (Ok(all), Ok(subset)) => prop_assert_eq!(all.matches(&event), subset.matches(&event)),
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "bind disagrees: {a:?} vs {b:?}"),
            }
        }
    }
}

#[test]
fn vars_lists_each_referenced_variable_once() {
    let p = pipeline(json!([
        {"_$match": {"fullDocument::name": {"_$var": "n"}}},
        {"$match": {"$or": [
            {"fullDocument.size": {"$in": [{"$var": "s"}, 3, {"$var": "n"}]}},
            {"fullDocument.colour": {"$ne": {"$var": "c"}}},
            {"fullDocument.gone": {"$exists": false}}
        ]}}
    ]));
    assert_eq!(p.vars().into_iter().collect::<Vec<_>>(), ["c", "n", "s"]);
    assert!(pipeline(json!([])).vars().is_empty());
    let all = parse_avars(Some(r#"{"n":"a","s":1,"c":"red"}"#)).unwrap();
    assert!(
        p.bind(&all).unwrap().vars().is_empty(),
        "bound: no variables left"
    );
}

#[test]
fn unused_avars_are_accepted_and_left_out_of_the_used_set() {
    let p = pipeline(json!([{"_$match": {"fullDocument::name": {"_$var": "n"}}}]));
    let avars = parse_avars(Some(r#"{"n":"uji","x":1,"page":{"deep":[1,2]}}"#)).unwrap();
    let used = p.used_avars(&avars);
    assert_eq!(Value::Object(used.clone()), json!({"n": "uji"}));
    // Binding with only the used subset filters exactly as binding with everything.
    let (all, subset) = (p.bind(&avars).unwrap(), p.bind(&used).unwrap());
    for doc in [json!({"name": "uji"}), json!({"name": "other"}), json!({})] {
        assert_eq!(
            all.matches(&insert(doc.clone())),
            subset.matches(&insert(doc))
        );
    }
    // A stream without variables uses none of them, whatever the client sends.
    assert!(pipeline(json!([])).used_avars(&avars).is_empty());
    // A missing used variable is still the same error as before.
    assert!(p.bind(&p.used_avars(&Map::new())).is_err());
}

#[test]
fn several_operators_on_one_field_must_all_hold() {
    // MongoDB's reading; before, the object was compared as a whole value and matched nothing.
    let p = pipeline(json!([{"_$match": {"fullDocument::price": {"_$ne": 1, "_$exists": true}}}]));
    assert!(p.matches(&insert(json!({"price": 5}))));
    assert!(!p.matches(&insert(json!({"price": 1}))));
    assert!(!p.matches(&insert(json!({"name": "no price"}))));
    let p = pipeline(json!([{"_$match": {"fullDocument::n": {"_$in": [1, 2, 3], "_$ne": 2}}}]));
    let matched: Vec<i64> = (0..5)
        .filter(|n| p.matches(&insert(json!({"n": n}))))
        .collect();
    assert_eq!(matched, [1, 3]);
    let err = Pipeline::parse(&json!([{"_$match": {"fullDocument::n": {"_$in": [1], "x": 1}}}]))
        .unwrap_err();
    assert!(err.contains("mixes operators and fields"), "{err}");
    // A plain object value is still an equality test.
    let p = pipeline(json!([{"_$match": {"fullDocument::dims": {"w": 1, "h": 2}}}]));
    assert!(p.matches(&insert(json!({"dims": {"w": 1, "h": 2}}))));
}
