#!/usr/bin/env python3
"""A third-party client against livesource-dev: httpx + httpx-sse, as their documentation shows
them (`connect_sse`, `iter_sse`), with `Last-Event-ID` and `Authorization` set as plain request
headers. Each scenario prints one JSON object; tests/e2e/interop.test.mjs asserts on it.

  httpx_sse_client.py resume SERVER EDITOR_TOKEN BATCH
      Opens the change stream, inserts BATCH-0..2, reads their three changes, disconnects,
      inserts BATCH-3..5, reconnects with `Last-Event-ID` set to the last id read, inserts
      BATCH-6 (a sentinel), and reads until the sentinel's change arrives.
  httpx_sse_client.py reset SERVER LAST_EVENT_ID
      Connects with that Last-Event-ID and reads up to the first event that is not a heartbeat.
  httpx_sse_client.py auth SERVER VIEWER_TOKEN
      GET /api/events with `Authorization: Bearer <token>`, without it, and with a bad token.
  httpx_sse_client.py extjson SERVER EDITOR_TOKEN NAME
      Opens the change stream, inserts NAME without an `_id`, then PATCHes it with `$inc`, and
      reads both changes with MongoDB's own Extended JSON reader (pymongo's `bson.json_util`):
      which BSON types the ids are, when the ObjectId says it was made, and what GET by its
      hex digits answers. Then RESTHeart's optimistic locking, as a client does it: PATCH with
      a stale `If-Match`, PUT `?checkEtag` without one, PATCH with the current one, and GET
      with `If-None-Match`; and a PATCH with `$currentDate` and `$push`.

Every read is bounded: a 10 s read timeout and at most MAX_EVENTS events per connection.
"""

import json
import sys
import time

import httpx
from bson import json_util
from httpx_sse import connect_sse

STREAM = "/shop/products/_streams/changes"
TIMEOUT = httpx.Timeout(10.0)
MAX_EVENTS = 2000


def insert(client, server, token, name):
    r = client.post(f"{server}/shop/products", json={"name": name, "price": 1},
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, (r.status_code, r.text)


def dispatched(sse):
    """The event, or None for a block a browser would not dispatch: httpx-sse also yields the
    `retry:`-only block that opens a stream (empty data), which the SSE spec drops."""
    return None if sse.data == "" else sse


def changes_of(source, batch, want, seen):
    """Reads events until `want` changes of this batch have arrived; appends every event's
    (event, id, name-or-reason) to `seen`. Returns the batch's changes as (id, name)."""
    got = []
    for n, sse in enumerate(source.iter_sse()):
        if n >= MAX_EVENTS:
            break
        if dispatched(sse) is None:
            continue
        name = None
        if sse.event == "change":
            name = (json.loads(sse.data).get("fullDocument") or {}).get("name")
        elif sse.event == "reset":
            name = json.loads(sse.data).get("reason")
        if sse.event != "heartbeat":
            seen.append([sse.event, sse.id, name])
        if sse.event == "change" and isinstance(name, str) and name.startswith(batch + "-"):
            got.append([sse.id, name])
            if len(got) >= want:
                break
    return got


def resume(server, token, batch):
    out = {"first": [], "second": [], "events": []}
    with httpx.Client(timeout=TIMEOUT) as client, httpx.Client(timeout=TIMEOUT) as writer:
        with connect_sse(client, "GET", f"{server}{STREAM}") as source:
            source.response.raise_for_status()
            for i in range(3):
                insert(writer, server, token, f"{batch}-{i}")
            out["first"] = changes_of(source, batch, 3, out["events"])
        last_id = out["first"][-1][0]
        out["resumedFrom"] = last_id
        for i in range(3, 6):
            insert(writer, server, token, f"{batch}-{i}")
        with connect_sse(client, "GET", f"{server}{STREAM}", headers={"Last-Event-ID": last_id}) as source:
            source.response.raise_for_status()
            insert(writer, server, token, f"{batch}-6")
            out["second"] = changes_of(source, batch, 4, out["events"])
    return out


def reset(server, last_event_id):
    out = {"status": None, "event": None}
    with httpx.Client(timeout=TIMEOUT) as client:
        with connect_sse(client, "GET", f"{server}{STREAM}", headers={"Last-Event-ID": last_event_id}) as source:
            out["status"] = source.response.status_code
            for n, sse in enumerate(source.iter_sse()):
                if n >= MAX_EVENTS:
                    break
                if dispatched(sse) is not None and sse.event != "heartbeat":
                    out["event"] = {"event": sse.event, "id": sse.id, "data": json.loads(sse.data)}
                    break
    return out


def auth(server, token):
    out = {}
    with httpx.Client(timeout=TIMEOUT) as client:
        with connect_sse(client, "GET", f"{server}/api/events",
                         headers={"Authorization": f"Bearer {token}"}) as source:
            out["bearer"] = {"status": source.response.status_code, "first": None}
            for n, sse in enumerate(source.iter_sse()):
                if n >= MAX_EVENTS:
                    break
                if dispatched(sse) is not None and sse.event != "heartbeat":
                    out["bearer"]["first"] = {"event": sse.event, "data": json.loads(sse.data)}
                    break
        for name, headers in [("none", {}), ("bad", {"Authorization": "Bearer not-a-token"})]:
            with connect_sse(client, "GET", f"{server}/api/events", headers=headers) as source:
                r = source.response
                r.read()
                out[name] = {"status": r.status_code, "contentType": r.headers.get("content-type"),
                             "body": r.text[:200]}
    return out


def extjson(server, token, name):
    """What a MongoDB tool makes of the dev server's ids: RESTHeart writes Extended JSON."""
    auth = {"Authorization": f"Bearer {token}"}
    out = {"changes": []}
    with httpx.Client(timeout=TIMEOUT) as client, httpx.Client(timeout=TIMEOUT) as writer:
        with connect_sse(client, "GET", f"{server}{STREAM}") as source:
            source.response.raise_for_status()
            r = writer.post(f"{server}/shop/products", json={"name": name, "stock": 1}, headers=auth)
            assert r.status_code == 201, (r.status_code, r.text)
            oid = json_util.loads(r.text)["_id"]
            out["posted"] = type(oid).__name__
            out["age_s"] = abs(time.time() - oid.generation_time.timestamp())
            out["location"] = r.headers.get("location")
            tags = {"insert": r.headers.get("etag")}
            r = writer.patch(f"{server}/shop/products/{oid}", json={"$inc": {"stock": 2}}, headers=auth)
            out["patched"] = [r.status_code, json_util.loads(r.text).get("stock")]
            tags["update"] = r.headers.get("etag")
            for n, sse in enumerate(source.iter_sse()):
                if n >= MAX_EVENTS or len(out["changes"]) == 2:
                    break
                if dispatched(sse) is None or sse.event != "change":
                    continue
                change = json_util.loads(sse.data)
                if change["documentKey"]["_id"] != oid:
                    continue
                updated = (change.get("updateDescription") or {}).get("updatedFields")
                tag = change["fullDocument"].get("_etag")
                if updated is not None:
                    # Every write sets a new `_etag`, so an update reports it among its fields.
                    tag = tag if updated.pop("_etag", None) == tag else "not in updatedFields"
                out["changes"].append({
                    "op": change["operationType"],
                    "documentKey": type(change["documentKey"]["_id"]).__name__,
                    "fullDocument": type(change["fullDocument"]["_id"]).__name__,
                    "stock": change["fullDocument"].get("stock"),
                    "updated": updated,
                    "etag": type(tag).__name__,
                    "etagIsTheHeader": str(tag) == tags.get(change["operationType"]),
                })
        r = client.get(f"{server}/shop/products/{oid}", headers=auth)
        out["get"] = [r.status_code, json_util.loads(r.text).get("_id") == oid]
        out["oid"] = str(oid)
        url, current = f"{server}/shop/products/{oid}", tags["update"]
        r = client.patch(url, json={"stock": 9}, headers={**auth, "If-Match": tags["insert"]})
        cond = {"stale": [r.status_code, r.headers.get("etag") == current]}
        r = client.put(f"{url}?checkEtag", json={"stock": 9}, headers=auth)
        cond["missing"] = [r.status_code, r.headers.get("etag") == current]
        r = client.patch(url, json={"stock": 4}, headers={**auth, "If-Match": current})
        newer = r.headers.get("etag")
        cond["current"] = [r.status_code, json_util.loads(r.text).get("stock"), newer != current]
        r = client.get(url, headers={**auth, "If-None-Match": newer or ""})
        cond["unchanged"] = [r.status_code, r.text]
        out["conditional"] = cond
        # Update operators beyond $set/$unset/$inc, as RESTHeart's docs use them: the date
        # `$currentDate` writes is a datetime to MongoDB's own reader.
        body = {"$currentDate": {"seen": True}, "$push": {"log": {"$each": ["a", "b"], "$slice": -1}}}
        r = client.patch(url, json=body, headers=auth)
        doc = json_util.loads(r.text)
        out["operators"] = [r.status_code, type(doc.get("seen")).__name__, doc.get("log")]
    return out


def main(argv):
    started = time.monotonic()
    scenario = argv[1]
    if scenario == "resume":
        result = resume(argv[2], argv[3], argv[4])
    elif scenario == "reset":
        result = reset(argv[2], argv[3])
    elif scenario == "auth":
        result = auth(argv[2], argv[3])
    elif scenario == "extjson":
        result = extjson(argv[2], argv[3], argv[4])
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    result["ms"] = round((time.monotonic() - started) * 1000)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
