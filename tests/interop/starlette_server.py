#!/usr/bin/env python3
"""An SSE server built the way sse-starlette's documentation shows: Starlette + uvicorn, an
`EventSourceResponse` over an async generator, resume from the `Last-Event-ID` request header
(`request.headers.get("last-event-id")`), and nothing read from the query string but the
scenario's own parameters. livesource's code had no part in it.

Scenarios (GET, `?s=KEY` plus parameters, defaults shown), the same as stdlib_server.py's:

  /drops?every=5&total=60&interval_ms=100&retry=500
      A live feed published by a background task (event k, ids 1..total, data
      {"n": k, "gen": 1}, every interval) into an in-memory backlog. A Last-Event-ID found in
      the backlog resumes right after it; otherwise the connection gets what is published from
      now on. Each connection ends after `every` events. A client that has everything: 204.
  /backlog?every=5&total=60&interval_ms=0&retry=200
      The same, but a connection without a known Last-Event-ID gets the whole backlog.
  /restart?first=10&then=20&interval_ms=20&retry=200
      ids 1..first, then the app "restarts": the backlog is emptied, the connection ends, and the
      next generation numbers again from 1 (ids 1..then, data gen 2), publishing from its first
      connection on.

  GET /log?s=KEY   the connection log, as stdlib_server.py's.
  GET /health

CORS as a FastAPI/Starlette tutorial sets it up: CORSMiddleware with credentials allowed, the
caller's origin echoed (any loopback origin), every method and header allowed.

Usage: starlette_server.py [--port 0]; prints "listening on http://127.0.0.1:PORT" first.
"""

import argparse
import asyncio
import json
import socket
import sys
import time

import uvicorn
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

START = time.monotonic()
MAX_CONNECTION_S = 120.0
CONNECTIONS = []
CHANNELS = {}


def now_ms():
    return round((time.monotonic() - START) * 1000.0, 1)


class Channel:
    """One stream: a backlog filled by a publisher task, and a condition to wait for more."""

    def __init__(self, totals, interval_ms, nohdr):
        self.totals = totals
        self.interval = interval_ms / 1000.0
        self.nohdr = nohdr
        self.gen = 0
        self.backlog = []  # (id, data) of the current generation
        self.finished = False  # the current generation published everything
        self.changed = asyncio.Condition()
        self.task = None

    def start(self):
        if self.task is None:
            self.task = asyncio.create_task(self.publish())

    async def publish(self):
        gen = self.gen
        t0 = time.monotonic()
        for k in range(1, self.totals[gen] + 1):
            if self.interval > 0:
                await asyncio.sleep(max(0.0, t0 + k * self.interval - time.monotonic()))
            async with self.changed:
                self.backlog.append((str(k), {"n": k, "gen": gen + 1}))
                self.changed.notify_all()
        async with self.changed:
            self.finished = True
            self.changed.notify_all()

    async def restart(self):
        async with self.changed:
            self.gen += 1
            self.backlog = []
            self.finished = False
            self.task = None
            self.changed.notify_all()


def int_param(request, name, default):
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        return default


def record(request, **extra):
    rec = {
        "kind": "stream",
        "s": request.query_params.get("s"),
        "path": request.url.path,
        "query": request.url.query,
        "lastEventId": request.headers.get("last-event-id"),
        "origin": request.headers.get("origin"),
        "accept": request.headers.get("accept"),
        "cacheControl": request.headers.get("cache-control"),
        "openMs": now_ms(),
        "endMs": None,
        "status": None,
        "sent": [],
        "end": None,
        "n": len(CONNECTIONS) + 1,
    }
    rec.update(extra)
    CONNECTIONS.append(rec)
    return rec


def finish(rec, status, end):
    rec["status"] = status
    rec["end"] = end
    rec["endMs"] = now_ms()


async def stream(request: Request):
    path = request.url.path
    key = (path, request.query_params.get("s", ""))
    if path == "/restart":
        totals = [int_param(request, "first", 10), int_param(request, "then", 20)]
        every, interval, retry, nohdr = 0, int_param(request, "interval_ms", 20), int_param(request, "retry", 200), "live"
    elif path == "/backlog":
        totals = [int_param(request, "total", 60)]
        every, interval, retry, nohdr = (int_param(request, "every", 5), int_param(request, "interval_ms", 0),
                                         int_param(request, "retry", 200), "start")
    else:
        totals = [int_param(request, "total", 60)]
        every, interval, retry, nohdr = (int_param(request, "every", 5), int_param(request, "interval_ms", 100),
                                         int_param(request, "retry", 500), "live")
    channel = CHANNELS.get(key)
    if channel is None:
        channel = CHANNELS[key] = Channel(totals, interval, nohdr)
    channel.start()

    rec = record(request)
    last_id = request.headers.get("last-event-id")
    ids = [event_id for event_id, _ in channel.backlog]
    gen = channel.gen
    last_gen = gen == len(channel.totals) - 1
    if last_id is not None and last_id in ids:
        position = ids.index(last_id) + 1
        rec["resume"] = f"header {last_id}"
        if position == channel.totals[gen] and last_gen:
            finish(rec, 204, "done")
            return Response(status_code=204)
    elif channel.nohdr == "start":
        position = 0
        rec["resume"] = "backlog from 1"
    else:
        position = len(ids)
        rec["resume"] = f"live from {position + 1}"
    rec["gen"] = gen + 1

    async def events():
        nonlocal position
        deadline = time.monotonic() + MAX_CONNECTION_S
        sent = 0
        end = "limit"
        try:
            if retry >= 0:
                yield ServerSentEvent(retry=retry)
            while time.monotonic() < deadline:
                if every and sent >= every:
                    end = "drop"
                    return
                async with channel.changed:
                    while position >= len(channel.backlog) and not channel.finished and channel.gen == gen:
                        await channel.changed.wait()
                    if channel.gen != gen:
                        end = "restart"
                        return
                    batch = channel.backlog[position:position + 1]
                    done = channel.finished and position >= len(channel.backlog)
                if batch:
                    event_id, data = batch[0]
                    yield ServerSentEvent(data=json.dumps(data, separators=(",", ":")), id=event_id)
                    rec["sent"].append(event_id)
                    position += 1
                    sent += 1
                elif done:
                    if not last_gen:
                        # The app restarts: this connection ends, and the next generation
                        # numbers from 1 again.
                        await channel.restart()
                        end = "restart"
                        return
                    # Everything published: hold the connection (sse-starlette pings keep it alive).
                    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        except asyncio.CancelledError:
            end = "client"
            raise
        finally:
            finish(rec, 200, end)

    return EventSourceResponse(events(), ping=1, headers={"Cache-Control": "no-cache"})


async def log(request: Request):
    key = request.query_params.get("s")
    conns = [dict(c, sent=list(c["sent"])) for c in CONNECTIONS if key is None or c["s"] == key]
    return JSONResponse({"nowMs": now_ms(), "connections": conns})


async def health(request: Request):
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/drops", stream),
        Route("/backlog", stream),
        Route("/restart", stream),
        Route("/log", log),
        Route("/health", health),
    ],
    middleware=[
        Middleware(
            CORSMiddleware,
            allow_origin_regex=r"https?://(127\.0\.0\.1|localhost)(:\d+)?",
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    ],
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=1)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
