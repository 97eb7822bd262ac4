//! PATCH bodies applied as MongoDB applies updates, and what it refuses.
use super::*;
use serde_json::json;

fn patched(doc: Value, body: Value) -> Result<Value, String> {
    let Value::Object(body) = body else {
        panic!("a body is an object")
    };
    apply(&doc, &parse(&body)?, false)
}

#[test]
fn plain_fields_are_set_whole_and_null_is_a_value() {
    let doc = json!({"_id": "1", "name": "a", "dims": {"w": 1, "h": 2}});
    assert_eq!(
        patched(doc, json!({"dims": {"w": 5}, "name": null, "new": [1]})),
        Ok(json!({"_id": "1", "name": null, "dims": {"w": 5}, "new": [1]}))
    );
}

#[test]
fn dotted_paths_reach_into_objects_and_arrays_and_make_what_is_missing() {
    let doc = json!({"dims": {"w": 1, "h": 2}, "tags": ["a", "b"]});
    assert_eq!(
        patched(
            doc,
            json!({"dims.w": 5, "tags.1": "z", "tags.3": "d", "x.y.z": 1})
        ),
        Ok(json!({"dims": {"w": 5, "h": 2}, "tags": ["a", "z", null, "d"], "x": {"y": {"z": 1}}}))
    );
    // Past the end of an array, an object on the way.
    assert_eq!(
        patched(json!({"l": []}), json!({"l.1.k": true})),
        Ok(json!({"l": [null, {"k": true}]}))
    );
}

#[test]
fn operators_and_plain_fields_together() {
    let doc = json!({"n": 1, "f": 0.5, "gone": true, "keep": 1, "l": [1, 2, 3]});
    let body = json!({
        "$set": {"s": "x"},
        "$unset": {"gone": "", "missing.deep": "", "l.1": ""},
        "$inc": {"n": 2, "f": 1, "fresh": -3},
        // RESTHeart moves a plain field into `$set`.
        "plain": true,
    });
    assert_eq!(
        patched(doc, body),
        Ok(json!({
            "n": 3, "f": 1.5, "keep": 1, "l": [1, null, 3], "s": "x", "fresh": -3,
            "plain": true,
        }))
    );
}

#[test]
fn names_with_pointer_characters_are_names() {
    let doc = json!({"a/b": {"~c": 1}, "l": [0, 1], "x~1": 1});
    let body = json!({"$unset": {"a/b.~c": "", "l.1": ""}, "$inc": {"x~1": 1}});
    assert_eq!(
        patched(doc, body),
        Ok(json!({"a/b": {}, "l": [0, null], "x~1": 2}))
    );
}

#[test]
fn what_mongodb_refuses_is_refused_with_a_reason() {
    let doc = json!({
        "_id": "1", "name": "a", "nil": null, "l": [1], "m": [], "dims": {"w": 1},
        "big": i64::MAX, "f": 1.7e308, "ref": {"$oid": "62166d53ebdcd56455a1a7ab"},
    });
    let deep: String = (0..101).map(|_| "a").collect::<Vec<_>>().join(".");
    for (body, why) in [
        (json!({"$set": {"a": 1}, "a": 2}), "conflict"),
        (json!({"$bit": {"l": 2}}), "\"$bit\" is not supported"),
        (json!({"$set": 1}), "takes an object"),
        (json!({"$inc": {"name": "x"}}), "takes a number"),
        (json!({"$inc": {"name": 1}}), "not a number"),
        (json!({"$inc": {"big": 1}}), "overflows"),
        (json!({"$inc": {"f": 1.7e308}}), "overflows"),
        (
            json!({"name.first": "x"}),
            "cannot create field \"first\" in \"name\"",
        ),
        (json!({"nil.x": 1}), "cannot create field \"x\" in \"nil\""),
        (json!({"ref.x": 1}), "in \"ref\": it holds {\"$oid\""),
        (json!({"l.x": 1}), "not an index"),
        (json!({"l.01": 1}), "not an index"),
        (json!({"l.+1": 1}), "not an index"),
        (json!({"l.10001": 1}), "more than 10000 nulls"),
        (json!({"l.6000": 1, "m.6000": 1}), "more than 10000 nulls"),
        (json!({ deep: 1 }), "deeper than"),
        (json!({"a..b": 1}), "non-empty"),
        (json!({"l.$": 1}), "positional"),
        (json!({"dims": 1, "dims.w": 2}), "conflict"),
        (json!({"$set": {"a": 1}, "$unset": {"a": ""}}), "conflict"),
        (json!({"$unset": {"_id": ""}}), "_id cannot be changed"),
        (json!({"_id.x": 1}), "_id cannot be changed"),
    ] {
        let e = patched(doc.clone(), body.clone()).unwrap_err();
        assert!(e.contains(why), "{body}: {e}");
    }
}

#[test]
fn field_operators_as_mongodb_applies_them() {
    let doc = json!({"n": 3, "f": 1.5, "lo": 5, "hi": 5, "s": "m", "a": {"b": 1}, "x": 1});
    let body = json!({
        "$mul": {"n": 2, "f": 2, "zero": 4, "zerof": 1.5},
        "$min": {"lo": 2, "hi": 9, "new": 7, "s": "a"},
        "$max": {"x": "text"},
        "$rename": {"a.b": "moved.deep", "nothing": "other"},
        "$setOnInsert": {"only": "on insert"},
    });
    assert_eq!(
        patched(doc, body),
        Ok(json!({
            "n": 6, "f": 3.0, "zero": 0, "zerof": 0.0, "lo": 2, "hi": 5, "new": 7, "s": "a",
            // A string is greater than any number in MongoDB's order of types.
            "x": "text", "a": {}, "moved": {"deep": 1},
        }))
    );
    // Dates compare by time, in any of their forms.
    let doc = json!({"at": {"$date": "2019-09-12T13:42:49.26Z"}});
    let later = json!({"$date": 1568295769261i64});
    assert_eq!(
        patched(doc.clone(), json!({"$max": {"at": later.clone()}})),
        Ok(json!({"at": later}))
    );
    assert_eq!(
        patched(doc.clone(), json!({"$min": {"at": later}})),
        Ok(doc)
    );
}

#[test]
fn current_date_writes_a_date_as_restheart_does_or_a_timestamp() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let out = patched(
        json!({}),
        json!({"$currentDate": {"d": true, "e": {"$type": "date"}, "t": {"$type": "timestamp"}}}),
    )
    .unwrap();
    let d = out["d"]["$date"].as_i64().unwrap();
    assert!(d >= before && d < before + 60_000, "{out}");
    assert_eq!(out["e"]["$date"].as_i64().map(|e| e >= before), Some(true));
    assert!(out["t"]["$timestamp"]["t"].as_u64().unwrap() >= (before / 1000) as u64);
}

#[test]
fn array_operators_as_mongodb_applies_them() {
    let doc = json!({
        "tags": ["a", "b"], "q": [1, 2, 3, 4], "set": [1, {"k": 1}], "l": [5, 1, 9],
        "items": [{"qty": 0, "n": "x"}, {"qty": 6, "n": "y"}, {"qty": 2, "n": "z"}],
        "p": [1, 2, 3], "pa": [0, 5, 0, 7],
    });
    let body = json!({
        "$push": {
            "tags": "c",
            "fresh": {"$each": [1, 2]},
            "q": {"$each": [0], "$position": 1, "$slice": -3},
            "l": {"$each": [4], "$sort": -1},
            "when": {"$date": 5},
        },
        "$addToSet": {"set": {"$each": [1, {"k": 1}, {"k": 2}, 2, 2]}},
        "$pop": {"p": -1, "absent": 1},
        "$pull": {"items": {"qty": {"$lt": 3}}},
        "$pullAll": {"pa": [0, 9]},
    });
    assert_eq!(
        patched(doc, body),
        Ok(json!({
            "tags": ["a", "b", "c"], "fresh": [1, 2], "q": [2, 3, 4], "l": [9, 5, 4, 1],
            // A value that is one Extended JSON scalar is pushed as a value, in a new array.
            "when": [{"$date": 5}],
            "set": [1, {"k": 1}, {"k": 2}, 2],
            "items": [{"qty": 6, "n": "y"}], "p": [2, 3], "pa": [5, 7],
        }))
    );
    // `$position` from the end, `$slice` from the front, and a sort of documents by a field.
    let doc = json!({"l": [{"s": 3}, {"s": 1}], "v": [1, 2]});
    let body = json!({"$push": {
        "l": {"$each": [{"s": 2}], "$sort": {"s": 1}, "$slice": 2},
        "v": {"$each": [9], "$position": -1},
    }});
    assert_eq!(
        patched(doc, body),
        Ok(json!({"l": [{"s": 1}, {"s": 2}], "v": [1, 9, 2]}))
    );
    // `$pull` of a value, of operators on the element, and of several fields of documents.
    let doc =
        json!({"a": [1, 5, 6, 9, "6"], "b": ["x", "y", "x"], "c": [{"k": 1, "j": 2}, {"k": 1}]});
    let body = json!({"$pull": {"a": {"$gte": 6}, "b": "x", "c": {"k": 1, "j": 2}}});
    assert_eq!(
        patched(doc, body),
        // "6" is a string: `$gte` compares within a type, as MongoDB's does.
        Ok(json!({"a": [1, 5, "6"], "b": ["y"], "c": [{"k": 1}]}))
    );
    // `$pop` of an empty array, and `$pull` of a missing field, change nothing.
    assert_eq!(
        patched(
            json!({"e": []}),
            json!({"$pop": {"e": 1}, "$pull": {"m": 1}})
        ),
        Ok(json!({"e": []}))
    );
}

#[test]
fn what_mongodb_refuses_of_the_other_operators() {
    let doc = json!({"n": "s", "big": i64::MAX, "s": "x", "l": [{"a": 1}], "o": {"a": 1}});
    for (body, why) in [
        (
            json!({"$mul": {"n": 2}}),
            "$mul of \"n\": the field holds \"s\", not a number",
        ),
        (json!({"$mul": {"big": 2}}), "overflows"),
        (json!({"$mul": {"x": "2"}}), "takes a number"),
        (json!({"$rename": {"o.a": 5}}), "takes the new name"),
        (
            json!({"$rename": {"l.0.a": "z"}}),
            "source \"l.0.a\" is inside an array",
        ),
        (
            json!({"$rename": {"o.a": "l.0.b"}}),
            "destination \"l.0.b\" is inside an array",
        ),
        (json!({"$rename": {"o": "o.a"}}), "conflict"),
        (json!({"$rename": {"o.a": "_id"}}), "_id cannot be changed"),
        (
            json!({"$currentDate": {"d": {"$type": "month"}}}),
            "takes true",
        ),
        (
            json!({"$push": {"s": 1}}),
            "$push of \"s\": the field holds \"x\", not an array",
        ),
        (json!({"$addToSet": {"s": 1}}), "not an array"),
        (json!({"$pop": {"s": 1}}), "$pop of \"s\""),
        (json!({"$pull": {"s": 1}}), "$pull of \"s\""),
        (json!({"$pullAll": {"s": [1]}}), "$pullAll of \"s\""),
        (json!({"$pullAll": {"l": 1}}), "takes an array"),
        (json!({"$pop": {"l": 2}}), "takes 1 (the last) or -1"),
        (
            json!({"$push": {"l": {"$each": 1}}}),
            "$each takes an array",
        ),
        (
            json!({"$push": {"l": {"$slice": 1}}}),
            "modifiers with $each",
        ),
        (
            json!({"$push": {"l": {"$each": [], "$top": 1}}}),
            "unknown modifier \"$top\"",
        ),
        (
            json!({"$push": {"l": {"$each": [], "$sort": 2}}}),
            "$sort takes 1 or -1",
        ),
        (
            json!({"$push": {"l": {"$each": [], "$position": "0"}}}),
            "takes an integer",
        ),
        (
            json!({"$addToSet": {"l": {"$each": [], "$slice": 1}}}),
            "the only modifier is $each",
        ),
        (
            json!({"$pull": {"l": {"$regex": "a"}}}),
            "\"$regex\" is not supported",
        ),
        (json!({"$pull": {"l": {"$in": 1}}}), "$in takes an array"),
        (
            json!({"$push": {"_etag": 1}}),
            "_etag is written by the server",
        ),
    ] {
        let e = patched(doc.clone(), body.clone()).unwrap_err();
        assert!(e.contains(why), "{body}: {e}");
    }
}

#[test]
fn pull_reads_its_condition_as_a_mongodb_query() {
    let doc = json!({
        "docs": [{"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}, {"tags": ["x", "y"]}, {"tags": ["z"]},
                 {"qty": [1, 5]}, {"qty": [1, 2]}],
    });
    // Below the top a plain object is a whole value; an array field matches by any element.
    let pulled = |cond: Value| {
        let out = patched(doc.clone(), json!({"$pull": {"docs": cond}})).unwrap();
        out["docs"].as_array().unwrap().len()
    };
    assert_eq!(pulled(json!({"a": {"b": 1}})), 5);
    assert_eq!(pulled(json!({"tags": "x"})), 5);
    assert_eq!(pulled(json!({"qty": {"$gt": 3}})), 5);
    // `$ne`/`$nin` on an array field: no element may be equal; a missing field is not equal.
    assert_eq!(pulled(json!({"qty": {"$ne": 1}})), 2);
    assert_eq!(pulled(json!({"tags": {"$nin": ["x"]}})), 1);
    // Equality is MongoDB's: 1, 1.0 and {"$numberLong": "1"} are one value.
    assert_eq!(
        patched(
            json!({"l": [1, 2.0, 3]}),
            json!({"$pull": {"l": {"$in": [{"$numberLong": "1"}, 2]}}})
        ),
        Ok(json!({"l": [3]}))
    );
    assert_eq!(
        patched(
            json!({"l": [1, 2]}),
            json!({"$addToSet": {"l": {"$each": [1.0, {"$numberLong": "2"}, 3]}}, "$pullAll": {"m": [1.0]}})
        ),
        Ok(json!({"l": [1, 2, 3]}))
    );
    assert_eq!(
        patched(json!({"m": [1, 2, 1]}), json!({"$pullAll": {"m": [1.0]}})),
        Ok(json!({"m": [2]}))
    );
}

#[test]
fn hostile_values_neither_panic_nor_take_long() {
    // NaN in a sort: a total order, NaN first among numbers.
    let nan = json!({"$numberDouble": "NaN"});
    let each: Vec<Value> = (0..40)
        .map(|i| if i % 3 == 0 { nan.clone() } else { json!(i) })
        .collect();
    let out = patched(
        json!({}),
        json!({"$push": {"l": {"$each": each, "$sort": 1}}}),
    )
    .unwrap();
    assert!(
        out["l"].as_array().unwrap()[..14].iter().all(|v| v == &nan),
        "{out}"
    );
    // Sets of many values are hashed, not compared pairwise.
    let many: Vec<Value> = (0..200_000).map(|i| json!(i)).collect();
    let out = patched(
        json!({"l": [0]}),
        json!({"$addToSet": {"l": {"$each": many.clone()}}}),
    )
    .unwrap();
    assert_eq!(out["l"].as_array().unwrap().len(), 200_000);
    let out = patched(out, json!({"$pullAll": {"l": many}})).unwrap();
    assert_eq!(out["l"], json!([]));
}

#[test]
fn more_of_what_mongodb_refuses_or_takes() {
    for (body, why) in [
        (
            json!({"$set": {"q": 1}, "$setOnInsert": {"q": 2}}),
            "conflict",
        ),
        (json!({"$rename": {"s": "s"}}), "the new name must differ"),
        (
            json!({"$push": {"l": {"$each": [], "$sort": {"": 1}}}}),
            "not a field path",
        ),
        (
            json!({"$push": {"l": {"$each": [], "$sort": {"a.$b": 1}}}}),
            "not a field path",
        ),
        (
            json!({"$pull": {"l": {"$gt": 1, "a": 2}}}),
            "mixes operators and fields",
        ),
    ] {
        let e = patched(json!({"s": 1, "l": []}), body.clone()).unwrap_err();
        assert!(e.contains(why), "{body}: {e}");
    }
    // Whole numbers written as floats, as a JSON encoder may send them.
    assert_eq!(
        patched(
            json!({"l": [1, 2, 3]}),
            json!({"$pop": {"l": 1.0}, "$currentDate": {"d": false}})
        )
        .map(|v| v["l"].clone()),
        Ok(json!([1, 2]))
    );
    assert_eq!(
        patched(
            json!({}),
            json!({"$push": {"l": {"$each": [3, 1, 2], "$sort": 1.0, "$slice": 2.0}}})
        ),
        Ok(json!({"l": [1, 2]}))
    );
}

#[test]
fn set_on_insert_applies_only_when_the_update_inserts() {
    let Value::Object(body) = json!({"$setOnInsert": {"created": 1}, "$inc": {"n": 1}}) else {
        unreachable!()
    };
    let ops = parse(&body).unwrap();
    assert_eq!(
        apply(&json!({"_id": "a"}), &ops, true),
        Ok(json!({"_id": "a", "created": 1, "n": 1}))
    );
    assert_eq!(
        apply(&json!({"_id": "a", "n": 1}), &ops, false),
        Ok(json!({"_id": "a", "n": 2}))
    );
    // `_id` itself, as a `$set` of it: the store checks that it names the document.
    let Value::Object(body) = json!({"$setOnInsert": {"_id": "a"}}) else {
        unreachable!()
    };
    assert_eq!(
        apply(&json!({"_id": "a"}), &parse(&body).unwrap(), true),
        Ok(json!({"_id": "a"}))
    );
    let Value::Object(body) = json!({"$setOnInsert": {"_id.x": 1}}) else {
        unreachable!()
    };
    assert_eq!(
        apply(&json!({}), &parse(&body).unwrap(), true),
        Err("_id cannot be changed".into())
    );
}
