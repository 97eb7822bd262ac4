#!/usr/bin/env python3
"""A Server-Sent Events server that follows only the spec, written with nothing but Python's
standard library: the kind of server livesource must work against without knowing it.

It resumes from the standard `Last-Event-ID` request header and from nothing else: query
parameters only choose the scenario (`every`, `total`, ...) and the stream (`s`); a
`lastEventId` query parameter is ignored like any unknown one. Every stream is keyed by its
path and `s`, so the raw EventSource and LiveSource of one test each get their own.

Scenarios (GET, `?s=KEY` plus the parameters shown with their defaults):

  /drops?every=5&total=60&interval_ms=100&retry=500
      A live feed: event k (ids 1..total, data {"n": k, "gen": 1}) is published at
      t0 + k * interval, t0 being the stream's first connection. A connection with a
      Last-Event-ID this server issued resumes right after it; any other connection gets the
      events published from now on (a new subscriber of a live feed). Each connection is dropped
      after `every` events (0: never). A client that has everything gets 204 (the spec's "stop
      reconnecting"). `retry: R` opens every response (omitted when retry is negative).
      Options of /drops, for what a new EventSource cannot do and the fetch transport must:
        auth=bearer&rotate=N  every connection needs `Authorization: Bearer <token>` (no query
                              token, no cookie: silo's `/api/events` shape); each token value is
                              accepted for N connections, then 401 (a token that expired).
        fail502=N             after each drop, the next N connections get 502 (a deploy).
        hello=1               every stream opens with an event that has no `id:` line
                              (data {"hello": N}, N the connection's number in the log).
        opaque=1              ids are opaque JSON resume tokens like RESTHeart's
                              {"_data":"8263..."}; resume needs the header byte for byte.
  /backlog?every=5&total=60&interval_ms=0&retry=200&recent=0
      The same, but a connection without a known Last-Event-ID gets the whole backlog from id 1,
      or with recent=N the last N events published (a chat's history for a newcomer).
  /restart?first=10&then=20&interval_ms=20&retry=200
      Generation 1 publishes ids 1..first, then the server "restarts": the connection closes and
      generation 2 numbers again from 1 (ids 1..then, data {"n": k, "gen": 2}); its clock starts
      at its first connection, and it knows none of generation 1's ids.
  /repeat?interval_ms=10
      One connection: ids 1..11, then 7 again (a repeated, non-adjacent id), then 12..15; data
      {"n": position}. Never drops.
  /emptyid?interval_ms=10
      id 1, id 2, then an event with an empty `id:` field (which resets the last event id to ''),
      then id 4. Never drops.

Other routes:
  GET /log?s=KEY   JSON {"connections": [...]}: one record per request of that stream (open and
                   end time in ms since the server started, the Last-Event-ID header, the query
                   string, a few request headers and every X-* one, the ids sent, how it ended).
  GET /health      "ok"
  GET /fragment?s=KEY&html=HTML&hang=0&fail=0&status=503&retry_after=
                   HTML as text/html (an htmx fragment endpoint); the first `hang` requests of
                   KEY get no answer at all (until the client leaves), the `fail` after them
                   answer `status` instead (with `Retry-After: retry_after` when given).
  GET /redirect?to=URL
                   307 to URL (a stream URL that moved to another origin).
  GET /pkg/FILE    with --pkg DIR: a .js or .wasm file of the built package, so a test page on
                   this origin loads the library from here (the same-origin cases).
  OPTIONS *        a CORS preflight: allows GET and whatever headers were asked for; with
                   nopreflight=1 in the query, 405 and no CORS headers, as servers built
                   only for EventSource answer.

CORS: every answer carries `Access-Control-Allow-Origin: *`, as a public feed built for
EventSource would (a credentialed request, `withCredentials: true`, is then refused by the
browser, which is correct). Pass `--cors echo` to echo the Origin and allow credentials instead.

Usage: stdlib_server.py [--port 0] [--cors star|echo] [--pkg DIR]; prints
"listening on http://127.0.0.1:PORT" on its first stdout line.
"""

import argparse
import json
import os
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

START = time.monotonic()
# A connection never lives longer than this, whatever the client does (bounded test servers).
MAX_CONNECTION_S = 120.0
KEEPALIVE_S = 1.0
DECIMAL = re.compile(r"(0|[1-9][0-9]{0,14})\Z")

LOCK = threading.Lock()
STREAMS = {}
CONNECTIONS = []
CORS = "star"
# --pkg: the npm package served under /pkg/ (None: no such route).
PKG = None
STATIC_TYPES = {".js": "text/javascript", ".wasm": "application/wasm"}


# Opaque ids (RESTHeart's MongoDB resume tokens look like this) and the event each names.
OPAQUE = {}


def opaque_id(k):
    token = json.dumps({"_data": f"8263{k:08X}2B022C0100296E5A1004"}, separators=(",", ":"))
    with LOCK:
        OPAQUE[token] = str(k)
    return token


def now_ms():
    return (time.monotonic() - START) * 1000.0


class ClientGone(Exception):
    pass


class Clock:
    """One stream of clock-published events (drops, backlog, restart)."""

    def __init__(self, totals, interval_ms, nohdr):
        self.totals = totals  # events per generation
        self.interval = interval_ms / 1000.0
        self.nohdr = nohdr  # 'live' or 'start'
        self.gen = 0  # index into totals
        self.t0 = None  # this generation's clock, set by its first connection
        self.pending_502 = 0  # connections still to refuse after the last drop (fail502)
        self.token_uses = {}  # bearer token -> connections it opened (auth=bearer)

    def published(self, t):
        total = self.totals[self.gen]
        if self.t0 is None:
            return 0
        if self.interval <= 0:
            return total
        return max(0, min(total, int((t - self.t0) / self.interval)))

    def due(self, k):
        return self.t0 + k * self.interval


def stream_for(key, make):
    with LOCK:
        stream = STREAMS.get(key)
        if stream is None:
            stream = STREAMS[key] = make()
        return stream


def param(query, name, default):
    values = query.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError:
        return default


class Handler(BaseHTTPRequestHandler):
    server_version = "stdlib-sse/1"
    # HTTP/1.0: a response ends when the connection closes, which is what a drop is.
    protocol_version = "HTTP/1.0"

    def setup(self):
        super().setup()
        # Each event leaves at once, not when Nagle's algorithm decides.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):  # quiet: the connection log is the record
        pass

    # ---- plumbing -----------------------------------------------------------------------------

    def cors_headers(self):
        origin = self.headers.get("Origin")
        if CORS == "echo" and origin:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Vary", "Origin")
        else:
            self.send_header("Access-Control-Allow-Origin", "*")

    def record(self, kind, **extra):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        rec = {
            "kind": kind,
            "s": (query.get("s") or [None])[0],
            "path": url.path,
            "query": url.query,
            "lastEventId": self.headers.get("Last-Event-ID"),
            "origin": self.headers.get("Origin"),
            "accept": self.headers.get("Accept"),
            "cacheControl": self.headers.get("Cache-Control"),
            "secFetchMode": self.headers.get("Sec-Fetch-Mode"),
            "secFetchDest": self.headers.get("Sec-Fetch-Dest"),
            "accessControlRequestHeaders": self.headers.get("Access-Control-Request-Headers"),
            "cookie": self.headers.get("Cookie"),
            # An app's own headers (the fetch transport's `headers` option), by lower-case name.
            "appHeaders": {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-")},
            "openMs": round(now_ms(), 1),
            "endMs": None,
            "status": None,
            "sent": [],
            "end": None,
        }
        rec.update(extra)
        with LOCK:
            rec["n"] = len(CONNECTIONS) + 1
            CONNECTIONS.append(rec)
        return rec

    def finish_record(self, rec, status, end):
        rec["status"] = status
        rec["end"] = end
        rec["endMs"] = round(now_ms(), 1)

    def write(self, text):
        try:
            self.wfile.write(text.encode("utf-8"))
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            raise ClientGone()

    def start_stream(self, retry):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.cors_headers()
        self.end_headers()
        if retry >= 0:
            self.write(f"retry: {retry}\n\n")

    def event(self, rec, event_id, data):
        # event_id: a string (an `id:` line, possibly empty) or None (no `id:` line).
        lines = ""
        if event_id is not None:
            lines += f"id: {event_id}\n" if event_id != "" else "id:\n"
        lines += f"data: {json.dumps(data, separators=(',', ':'))}\n\n"
        self.write(lines)
        rec["sent"].append(event_id)

    def idle(self, rec, deadline):
        """Holds the connection open with keep-alive comments until the client leaves."""
        while time.monotonic() < deadline:
            time.sleep(KEEPALIVE_S)
            self.write(": keep-alive\n\n")
        self.finish_record(rec, 200, "limit")

    def refuse(self, rec, status, kind):
        self.json_answer(status, {"error": kind})
        self.finish_record(rec, status, kind)

    def no_content(self, rec):
        self.send_response(204)
        self.cors_headers()
        self.end_headers()
        self.finish_record(rec, 204, "done")

    def static_file(self, rel):
        """A file of the built package (--pkg), so a test page can load the library from this
        server's own origin: what the same-origin behaviour of a page is tested with."""
        root = os.path.realpath(PKG)
        path = os.path.realpath(os.path.join(root, rel))
        kind = STATIC_TYPES.get(os.path.splitext(path)[1])
        if not path.startswith(root + os.sep) or kind is None or not os.path.isfile(path):
            return self.json_answer(404, {"error": "not_found"})
        with open(path, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        # Like every answer here: a sandboxed frame (an opaque origin) loads the package too.
        self.cors_headers()
        self.end_headers()
        self.wfile.write(data)

    def fragment(self, query):
        """An HTML fragment, as an htmx endpoint answers one; the first `fail` requests of the
        stream `s` get `status` (503 by default) instead, each logged as a `fragment` record."""
        rec = self.record("fragment")
        key = (query.get("s") or [""])[0]
        with LOCK:
            attempt = sum(1 for c in CONNECTIONS if c["kind"] == "fragment" and c["s"] == key)
        hang = param(query, "hang", 0)
        if attempt <= hang:
            # No answer at all, until the client gives up and closes the connection.
            return self.finish_record(rec, None, self.await_close())
        attempt -= hang
        if attempt <= param(query, "fail", 0):
            status = param(query, "status", 503)
            retry_after = (query.get("retry_after") or [None])[0]
            self.json_answer(status, {"error": "planned", "attempt": attempt},
                             {"Retry-After": retry_after} if retry_after else {})
            return self.finish_record(rec, status, "failed")
        html = (query.get("html") or [""])[0].encode("utf-8")
        self.answer(200, "text/html; charset=utf-8", html)
        self.finish_record(rec, 200, "done")

    def await_close(self):
        """Holds the request unanswered until the client closes the connection (or the bounded
        connection lifetime passes); returns how it ended."""
        self.connection.settimeout(1.0)
        deadline = time.monotonic() + MAX_CONNECTION_S
        while time.monotonic() < deadline:
            try:
                if self.connection.recv(1, socket.MSG_PEEK) == b"":
                    return "client"
            except socket.timeout:
                continue
            except OSError:
                return "client"
        return "server"

    def json_answer(self, status, body, headers=None):
        self.answer(status, "application/json", json.dumps(body).encode("utf-8"), headers)

    def answer(self, status, content_type, data, headers=None):
        """A whole, uncached answer with CORS headers."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.cors_headers()
        self.end_headers()
        self.wfile.write(data)

    # ---- routes -------------------------------------------------------------------------------

    def do_OPTIONS(self):
        rec = self.record("preflight")
        if param(parse_qs(urlsplit(self.path).query), "nopreflight", 0) == 1:
            # As most servers built for EventSource: no preflight answer, so a cross-origin
            # request with a header that is not CORS-safelisted fails in the browser.
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return self.finish_record(rec, 405, "preflight")
        self.send_response(204)
        self.cors_headers()
        self.send_header("Access-Control-Allow-Methods", "GET")
        asked = self.headers.get("Access-Control-Request-Headers")
        if asked:
            self.send_header("Access-Control-Allow-Headers", asked)
        self.send_header("Access-Control-Max-Age", "0")
        self.end_headers()
        self.finish_record(rec, 204, "preflight")

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/health":
            return self.json_answer(200, {"status": "ok"})
        if url.path.startswith("/pkg/") and PKG is not None:
            return self.static_file(url.path[len("/pkg/"):])
        if url.path == "/redirect":
            rec = self.record("redirect")
            self.send_response(307)
            self.send_header("Location", (query.get("to") or ["/"])[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return self.finish_record(rec, 307, "redirect")
        if url.path == "/fragment":
            return self.fragment(query)
        if url.path == "/log":
            key = (query.get("s") or [None])[0]
            with LOCK:
                conns = [dict(c, sent=list(c["sent"])) for c in CONNECTIONS
                         if key is None or c["s"] == key]
            return self.json_answer(200, {"nowMs": round(now_ms(), 1), "connections": conns})
        routes = {
            "/drops": self.clock_stream,
            "/backlog": self.clock_stream,
            "/restart": self.clock_stream,
            "/repeat": self.script_stream,
            "/emptyid": self.script_stream,
        }
        route = routes.get(url.path)
        if route is None:
            return self.json_answer(404, {"error": "not_found"})
        rec = self.record("stream")
        try:
            route(url.path, query, rec)
        except ClientGone:
            self.finish_record(rec, rec["status"] or 200, "client")

    def clock_stream(self, path, query, rec):
        key = (path, (query.get("s") or [""])[0])
        if path == "/restart":
            totals = [param(query, "first", 10), param(query, "then", 20)]
            every, interval, retry, nohdr = 0, param(query, "interval_ms", 20), param(query, "retry", 200), "live"
        elif path == "/backlog":
            totals = [param(query, "total", 60)]
            every, interval, retry, nohdr = (param(query, "every", 5), param(query, "interval_ms", 0),
                                             param(query, "retry", 200), "start")
        else:
            totals = [param(query, "total", 60)]
            every, interval, retry, nohdr = (param(query, "every", 5), param(query, "interval_ms", 100),
                                             param(query, "retry", 500), "live")
        clock = stream_for(key, lambda: Clock(totals, interval, nohdr))
        opaque = param(query, "opaque", 0) == 1
        header = self.headers.get("Last-Event-ID")
        rec["authorization"] = self.headers.get("Authorization")
        if param(query, "fail502", 0) > 0:
            with LOCK:
                failing = clock.pending_502 > 0
                clock.pending_502 = max(0, clock.pending_502 - 1)
            if failing:
                return self.refuse(rec, 502, "bad_gateway")
        if (query.get("auth") or [""])[0] == "bearer":
            auth = self.headers.get("Authorization") or ""
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
            with LOCK:
                uses = clock.token_uses.get(token, 0) if token else None
                if token:
                    clock.token_uses[token] = uses + 1
            if token is None or uses >= param(query, "rotate", 1_000_000):
                return self.refuse(rec, 401, "unauthorized")
        if opaque and header is not None:
            header = OPAQUE.get(header, "not-issued")
        with LOCK:
            t = time.monotonic()
            if clock.t0 is None:
                clock.t0 = t
            gen = clock.gen
            total = clock.totals[gen]
            published = clock.published(t)
            known = header is not None and DECIMAL.match(header) and 1 <= int(header) <= published
            if known:
                start = int(header) + 1
                rec["resume"] = f"header {header}"
            elif nohdr == "start":
                recent = param(query, "recent", 0)
                start = max(1, published - recent + 1) if recent > 0 else 1
                rec["resume"] = f"backlog from {start}"
            else:
                start = published + 1
                rec["resume"] = f"live from {start}"
        rec["gen"] = gen + 1
        last_gen = gen == len(clock.totals) - 1
        if known and int(header) == total and last_gen:
            return self.no_content(rec)
        self.start_stream(retry)
        if param(query, "hello", 0) == 1:
            # A greeting with no `id:` line, as many servers open a stream: it carries the
            # connection's last event id, whatever that is for the client.
            self.event(rec, None, {"hello": rec["n"]})
        deadline = time.monotonic() + MAX_CONNECTION_S
        sent = 0
        k = start
        while k <= total and (every == 0 or sent < every) and time.monotonic() < deadline:
            wait = clock.due(k) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.event(rec, opaque_id(k) if opaque else str(k), {"n": k, "gen": gen + 1})
            sent += 1
            k += 1
        if k > total and not last_gen:
            # The server restarts: this connection ends, and the next generation starts from 1
            # with a clock of its own, knowing none of the old ids.
            with LOCK:
                if clock.gen == gen:
                    clock.gen += 1
                    clock.t0 = None
            return self.finish_record(rec, 200, "restart")
        if every and sent >= every:
            with LOCK:
                clock.pending_502 = param(query, "fail502", 0)
            return self.finish_record(rec, 200, "drop")
        self.idle(rec, deadline)

    def script_stream(self, path, query, rec):
        interval = param(query, "interval_ms", 10) / 1000.0
        if path == "/repeat":
            ids = [str(i) for i in range(1, 12)] + ["7"] + [str(i) for i in range(12, 16)]
        else:
            ids = ["1", "2", "", "4"]
        script = [(event_id, {"n": i + 1}) for i, event_id in enumerate(ids)]
        header = self.headers.get("Last-Event-ID")
        start = 0
        if header:
            # A naive resume: after the last event that carried this id.
            found = [i for i, (event_id, _) in enumerate(script) if event_id == header]
            if found:
                start = found[-1] + 1
        rec["resume"] = f"from position {start + 1}"
        self.start_stream(param(query, "retry", 500))
        deadline = time.monotonic() + MAX_CONNECTION_S
        for event_id, data in script[start:]:
            time.sleep(interval)
            self.event(rec, event_id, data)
        self.idle(rec, deadline)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main():
    global CORS, PKG
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cors", choices=["star", "echo"], default="star")
    parser.add_argument("--pkg", help="serve this built npm package under /pkg/")
    args = parser.parse_args()
    CORS = args.cors
    PKG = args.pkg
    httpd = Server(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{httpd.server_address[1]}", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
