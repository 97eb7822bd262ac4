// Conformance (issue 13, item 3): web-platform-tests' `eventsource/` cases, ported, each run
// with both transports of LiveSource: the native `EventSource` one (`new LiveSource(url)`) and
// the fetch one (`{ transport: 'fetch' }`). The reference is the browser's own `EventSource` on
// the same page, opened on the same URL: for each case LiveSource must deliver what it delivers
// (event names, data, lastEventId, in order), and where the stream must fail, report a typed
// error instead of events.
//
// The server side is livesource-dev's test-only ports of the wptserve handlers
// (www/src/routes/test_routes/wpt.rs, under /_test/wpt/): message.py, message2.py,
// last-event-id.py, last-event-id2.py, status-error.py, status-reconnect.py, and
// /common/redirect.py. The messages are WPT's own, byte for byte.
//
// How a WPT assertion becomes a comparison. Each case first checks the raw EventSource against
// what the WPT file asserts (so the server and the harness are right), then LiveSource against
// the raw one:
//   - 'connection': everything delivered on the first connection (message.py answers and ends
//     the response, so each stream drops after its body): the raw source's events up to its first
//     `error`, LiveSource's up to its first state after `open`.
//   - 'events': the first n events, across the reconnects the case needs (the WPT file closes
//     the source after the n-th).
//   - 'retry': the time from one `open` to the next (WPT: within 25% of the `retry:` asked).
//   - 'failure': the raw source fails the connection (`error`, readyState CLOSED, no `open`, no
//     message); LiveSource must deliver nothing and report a typed error as its README says.
//   - 'recovers' (beyond WPT): the raw source gives up on a first answer that LiveSource
//     deliberately retries; LiveSource must then deliver the stream.
// Where an engine's own EventSource departs from WPT (`native` below), that engine's raw source
// is checked to fail as it does there, and LiveSource as described at CHROMIUM_CHARSET.
//
// LiveSource's `on(name, cb)` hands listeners parsed JSON, and its JS API has no listener for raw
// data: an event whose data is not JSON reaches `onError` as `{ kind: 'decode', event, id }`,
// which names the event and its id but not its data. So each raw event is compared as
// [name, lastEventId, 'json', JSON.parse(data)] when its data is JSON, else as
// [name, lastEventId, 'decode']. Most WPT payloads are not JSON ("hello", "\0", "ok…"), so for
// them the data itself is not compared; the "(JSON twin)" cases below send the same framing
// with a JSON payload, so that the data is compared too. A raw-data listener in the JS API would
// let every case compare data.
//
// Waits are on states and events (polled in the page), bounded per case; nothing sleeps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { server, engine, launch } from './support.mjs';

const TRANSPORTS = ['eventsource', 'fetch'];

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// ---- the cases -----------------------------------------------------------------------------

const msg = (query) => `/_test/wpt/message?${query}`;
const ev = (data, id = '', name = 'message') => [name, id, data];
const LONG = 'x'.repeat(2 * 1024);

// Where an engine's own EventSource does not do what the WPT file asserts (a native finding),
// `native[engine]` says why; the case then checks that the raw source fails as that engine makes
// it fail, that the native transport reports a typed error instead of staying silent, and that
// the fetch transport, which parses the stream itself, does what WPT asserts.
const CHROMIUM_CHARSET = 'Chromium fails the connection when the Content-Type has a charset other than UTF-8 '
  + '("EventSource\'s response has a charset (\"windows-1252\") that is not UTF-8. Aborting the connection."), '
  + 'where the spec ignores the parameter and decodes UTF-8';

// Each case: `wpt` the file it ports (under eventsource/ in web-platform-tests); `url(role, key)`
// its stream URL for the raw source (role 'raw') and for LiveSource ('ls'), `key` unique per run;
// `names` the event names both listen to; `mode` and `expect` as described at the top.
const CASES = [
  {
    name: 'format-bom',
    wpt: 'format-bom.any.js',
    about: 'the BOM at the start of the stream is skipped; a BOM later is part of the field name, so that field is unknown',
    url: () => msg('message=%EF%BB%BFdata%3A1%0A%0A%EF%BB%BFdata%3A2%0A%0Adata%3A3'),
    mode: 'connection',
    expect: [ev('1'), ev('3')],
  },
  {
    name: 'format-bom-2',
    wpt: 'format-bom-2.any.js',
    about: 'only one leading BOM is skipped: after two, the first field name is unknown',
    url: () => msg('message=%EF%BB%BF%EF%BB%BFdata%3A1%0A%0Adata%3A2%0A%0Adata%3A3'),
    mode: 'connection',
    expect: [ev('2'), ev('3')],
  },
  {
    name: 'format-comments',
    wpt: 'format-comments.any.js',
    about: 'comment lines (with NUL, after CR, CRLF, 2 KiB long, looking like a data field) are ignored',
    url: () => msg(`message=${encodeURI(`data:1\r:\0\n:\r\ndata:2\n:${LONG}\rdata:3\n:data:fail\r:${LONG}\ndata:4\n`)}&newline=none`),
    mode: 'connection',
    expect: [ev('1\n2\n3\n4')],
  },
  {
    name: 'format-comments (JSON twin)',
    wpt: 'format-comments.any.js',
    about: 'the same comments and line endings around a JSON payload, so the data is compared',
    url: () => msg(`message=${encodeURI(`data:[1,\r:\0\n:\r\ndata:2,\n:${LONG}\rdata:3,\n:data:fail\r:${LONG}\ndata:4]\n`)}&newline=none`),
    mode: 'connection',
    expect: [ev('[1,\n2,\n3,\n4]')],
  },
  {
    name: 'format-field-data',
    wpt: 'format-field-data.any.js',
    about: '`data:` and `data` give empty lines: an event with data "", then one with "\\n"',
    url: () => msg('message=data%3A%0A%0Adata%0Adata%0A%0Adata%3Atest'),
    mode: 'connection',
    expect: [ev(''), ev('\n'), ev('test')],
  },
  {
    name: 'format-field-event',
    wpt: 'format-field-event.any.js',
    about: '`event:test` dispatches a `test` event, and the next event is a `message` again',
    url: () => msg('message=event%3Atest%0Adata%3Ax%0A%0Adata%3Ax'),
    names: ['message', 'test'],
    mode: 'connection',
    expect: [ev('x', '', 'test'), ev('x')],
  },
  {
    name: 'format-field-event-empty',
    wpt: 'format-field-event-empty.any.js',
    about: 'an empty event name (`event: `) dispatches `message`',
    url: () => msg('message=event%3A%20%0Adata%3Adata'),
    mode: 'connection',
    expect: [ev('data')],
  },
  {
    name: 'format-field-id',
    wpt: 'format-field-id.any.js',
    about: 'a non-ASCII id (…) is the lastEventId, and is sent back as Last-Event-ID on the reconnect',
    url: () => '/_test/wpt/last-event-id',
    mode: 'events',
    expect: [ev('hello', '…'), ev('…', '…')],
  },
  {
    name: 'format-field-id-2',
    wpt: 'format-field-id-2.any.js',
    about: 'the id persists over reconnects whose events set none',
    url: () => '/_test/wpt/last-event-id',
    mode: 'events',
    expect: [ev('hello', '…'), ev('…', '…'), ev('…', '…')],
  },
  {
    name: 'format-field-id-3: lastEventId persists',
    wpt: 'format-field-id-3.window.js',
    about: 'an event without an id field keeps the previous id; a new id replaces it',
    url: () => '/_test/wpt/last-event-id2?type=1',
    mode: 'connection',
    expect: [ev('1', '1'), ev('2', '1'), ev('3', '2'), ev('4', '2')],
  },
  {
    name: 'format-field-id-3: lastEventId resets',
    wpt: 'format-field-id-3.window.js',
    about: '`id:` resets the id to ""',
    url: () => '/_test/wpt/last-event-id2?type=2',
    mode: 'connection',
    expect: [ev('1', '1'), ev('2', ''), ev('3', '')],
  },
  {
    name: 'format-field-id-3: lastEventId resets (id without colon)',
    wpt: 'format-field-id-3.window.js',
    about: '`id` without a colon resets the id to ""',
    url: () => '/_test/wpt/last-event-id2?type=3',
    mode: 'connection',
    expect: [ev('1', '1'), ev('2', ''), ev('3', '')],
  },
  ...['\u0000\u0000', 'x\u0000', '\u0000x', 'x\u0000x', ' \u0000'].map((id) => ({
    name: `format-field-id-null: id field set to ${encodeURIComponent(id)}`,
    wpt: 'format-field-id-null.window.js',
    about: 'an id containing NUL is ignored: lastEventId stays "", and no Last-Event-ID is sent on the reconnect',
    url: () => `/_test/wpt/last-event-id?idvalue=${encodeURIComponent(id)}`,
    mode: 'events',
    expect: [ev('hello', ''), ev('hello', '')],
  })),
  {
    name: 'format-field-parsing',
    wpt: 'format-field-parsing.any.js',
    about: 'field names are exact (`Data`, `data\\0`, `\\0data`, `da-ta`, `data_5`, ` data` are unknown); one leading space is stripped from values; NUL in a value is kept',
    url: () => msg(`message=${encodeURI('data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n')}&newline=none`),
    mode: 'connection',
    expect: [ev('\0\n 2\n1\n3\n\n4')],
  },
  {
    name: 'format-field-parsing (JSON twin)',
    wpt: 'format-field-parsing.any.js',
    about: 'the same unknown fields around a JSON payload: any of them taken as data would change it',
    url: () => msg(`message=${encodeURI('data:[0,\ndata:  2,\rData:1\ndata\0:2\ndata:1,\r\0data:4\nda-ta:3\rdata_5\ndata:3,\rdata:\r\n data:32\ndata:4]\n')}&newline=none`),
    mode: 'connection',
    expect: [ev('[0,\n 2,\n1,\n3,\n\n4]')],
  },
  {
    name: 'format-field-unknown',
    wpt: 'format-field-unknown.any.js',
    about: 'unknown fields, a line without a colon and a comment are ignored; ` data` is not `data`',
    url: () => msg('message=data%3Atest%0A%20data%0Adata%0Afoobar%3Axxx%0Ajustsometext%0A%3Athisisacommentyay%0Adata%3Atest'),
    mode: 'connection',
    expect: [ev('test\n\ntest')],
  },
  {
    name: 'format-field-unknown (JSON twin)',
    wpt: 'format-field-unknown.any.js',
    about: 'the same unknown fields around a JSON payload',
    url: () => msg('message=data%3A%5B1%2C%0A%20data%0Adata%0Afoobar%3Axxx%0Ajustsometext%0A%3Athisisacommentyay%0Adata%3A2%5D'),
    mode: 'connection',
    expect: [ev('[1,\n\n2]')],
  },
  {
    name: 'format-field-retry',
    wpt: 'format-field-retry.any.js',
    about: '`retry:03000` is decimal (3000 ms, not octal): the reconnect comes 3 s after the drop',
    url: () => msg('message=retry%3A03000%0Adata%3Ax'),
    mode: 'retry',
    retryMs: 3000,
  },
  {
    name: 'format-field-retry-bogus',
    wpt: 'format-field-retry-bogus.any.js',
    about: '`retry:1000x` is ignored; the `retry:3000` before it stands',
    url: () => msg('message=retry%3A3000%0Aretry%3A1000x%0Adata%3Ax'),
    mode: 'retry',
    retryMs: 3000,
  },
  {
    name: 'format-field-retry-empty',
    wpt: 'format-field-retry-empty.any.js',
    about: 'an empty `retry` field is ignored and the event is dispatched',
    url: () => msg('message=retry%0Adata%3Atest'),
    mode: 'connection',
    expect: [ev('test')],
  },
  {
    name: 'format-leading-space',
    wpt: 'format-leading-space.any.js',
    about: 'only a space after the colon is stripped (a tab stays); CR ends a line',
    url: () => msg('message=data%3A%09test%0Ddata%3A%20%0Adata%3Atest'),
    mode: 'connection',
    expect: [ev('\ttest\n\ntest')],
  },
  {
    name: 'format-newlines',
    wpt: 'format-newlines.any.js',
    about: 'CRLF, LF and CR all end a line, CRLF once',
    url: () => msg('message=data%3Atest%0D%0Adata%0Adata%3Atest%0D%0A%0D&newline=none'),
    mode: 'connection',
    expect: [ev('test\n\ntest')],
  },
  {
    name: 'format-newlines (JSON twin)',
    wpt: 'format-newlines.any.js',
    about: 'the same line endings around a JSON payload: a CRLF taken as two line ends would split the event',
    url: () => msg('message=data%3A%5B1%2C%0D%0Adata%0Adata%3A2%5D%0D%0A%0D&newline=none'),
    mode: 'connection',
    expect: [ev('[1,\n\n2]')],
  },
  {
    name: 'block ends with CR CR (newline=cr, beyond WPT)',
    wpt: 'message.py newline (port extension)',
    about: 'an event ended by CR CR is dispatched',
    url: () => msg('message=data%3A%5B1%5D&newline=cr'),
    mode: 'connection',
    expect: [ev('[1]')],
  },
  {
    name: 'block ends with CRLF CRLF (newline=crlf, beyond WPT)',
    wpt: 'message.py newline (port extension)',
    about: 'an event ended by CRLF CRLF is dispatched once',
    url: () => msg('message=data%3A%5B1%5D&newline=crlf'),
    mode: 'connection',
    expect: [ev('[1]')],
  },
  {
    name: 'format-null-character',
    wpt: 'format-null-character.any.js',
    about: 'NUL in data is delivered, and no error comes before the event',
    url: () => msg('message=data%3A%00%0A%0A'),
    mode: 'connection',
    expect: [ev('\0')],
  },
  {
    name: 'format-data-before-final-empty-line',
    wpt: 'format-data-before-final-empty-line.any.js',
    about: 'an event cut off by the end of the stream is not dispatched, and its id is not kept: the reconnect sends none',
    url: () => msg(`newline=none&message=${encodeURIComponent('retry:1000\ndata:test1\n\nid:test\ndata:test2')}`),
    mode: 'events',
    expect: [ev('test1'), ev('test1')],
  },
  {
    name: 'format-mime-bogus',
    wpt: 'format-mime-bogus.any.js',
    about: 'Content-Type `x bogus` fails the connection: a plain `error` event, readyState CLOSED, no message',
    url: () => msg('mime=x%20bogus'),
    mode: 'failure',
    // LiveSource stops too, and says why: an `http` error with the status (200) and the type
    // (README, Transports: "a wrong content type → stop"; the native transport learns the type
    // from its failure probe).
    live: { kind: 'http', status: 200, message: /not text\/event-stream/, closes: true },
  },
  {
    name: 'format-mime-valid-bogus',
    wpt: 'format-mime-valid-bogus.any.js',
    about: 'a valid but wrong type (`text/x-bogus`) fails the connection likewise',
    url: () => msg('mime=text/x-bogus'),
    mode: 'failure',
    // As format-mime-bogus: reported, then stopped.
    live: { kind: 'http', status: 200, message: /not text\/event-stream/, closes: true },
  },
  {
    name: 'format-mime-trailing-semicolon',
    wpt: 'format-mime-trailing-semicolon.any.js',
    about: '`text/event-stream;` is an event stream: the source opens (readyState OPEN), no error before',
    url: () => msg('mime=text/event-stream%3B'),
    mode: 'connection',
    opens: true,
    expect: [ev('data')],
  },
  {
    name: 'format-utf-8',
    wpt: 'format-utf-8.any.js',
    about: 'the stream is UTF-8 whatever the charset parameter says (windows-1252 here)',
    url: () => msg('mime=text/event-stream%3bcharset=windows-1252&message=data%3Aok%E2%80%A6'),
    mode: 'connection',
    expect: [ev('ok…')],
    native: { chromium: CHROMIUM_CHARSET },
  },
  {
    name: 'format-utf-8 (JSON twin)',
    wpt: 'format-utf-8.any.js',
    about: 'the same, with the text in a JSON string',
    url: () => msg('mime=text/event-stream%3bcharset=windows-1252&message=data%3A%22ok%E2%80%A6%22'),
    mode: 'connection',
    expect: [ev('"ok…"')],
    native: { chromium: CHROMIUM_CHARSET },
  },
  {
    name: 'invalid UTF-8 becomes U+FFFD (beyond WPT)',
    wpt: 'message.py with a byte that is not UTF-8',
    about: 'a byte that cannot start a UTF-8 sequence (0xFF) and a truncated sequence (0xE2 0x80) each decode to U+FFFD',
    url: () => msg('message=data%3A%22a%FFb%E2%80c%22'),
    mode: 'connection',
    expect: [ev('"a\uFFFDb\uFFFDc"')],
  },
  {
    name: 'event-data',
    wpt: 'event-data.any.js',
    about: 'a stream written in pieces: two data lines join with LF, a comment and unknown fields dispatch nothing, `data` alone is an empty event',
    url: () => '/_test/wpt/message2',
    mode: 'events',
    expect: [ev('msg\nmsg'), ev(''), ev('end')],
  },
  ...[
    // 204: the native object gives up; LiveSource closes quietly (README: "A 204 No Content
    // answer closes the source quietly").
    ['204', { kind: null, closes: true }],
    // 205, 210, 299, 503: the native object gives up for good; LiveSource reports the status and
    // retries with backoff, as for any status but 204, 403, 404 and 410 (deliberate: a server
    // mid-deploy answers oddly for a moment).
    ['205', { kind: 'http', status: 205, retries: true }],
    ['210', { kind: 'http', status: 210, retries: true }],
    ['299', { kind: 'http', status: 299, retries: true }],
    // 404 and 410: both stop; LiveSource also says why.
    ['404', { kind: 'http', status: 404, closes: true }],
    ['410', { kind: 'http', status: 410, closes: true }],
    ['503', { kind: 'http', status: 503, retries: true }],
  ].map(([status, live]) => ({
    name: `request-status-error (${status})`,
    wpt: 'request-status-error.window.js',
    about: `a ${status} answer fails the connection: \`error\`, readyState CLOSED, no message`,
    url: () => `/_test/wpt/status-error?status=${status}`,
    mode: 'failure',
    live,
  })),
  ...['301', '302', '303', '307'].map((status) => ({
    name: `request-redirect (${status})`,
    wpt: 'request-redirect.any.window.js',
    about: `a ${status} redirect to an event stream is followed: the source opens, no error before`,
    url: () => `/_test/wpt/redirect?location=${encodeURIComponent('/_test/wpt/message')}&status=${status}`,
    mode: 'connection',
    opens: true,
    expect: [ev('data')],
  })),
  {
    name: 'eventsource-reconnect: 200',
    wpt: 'eventsource-reconnect.window.js',
    about: 'a stream that ends after `retry: 2` is reconnected; the next one delivers `data`',
    url: (role, key) => `/_test/wpt/status-reconnect?status=200&id=${key}-${role}`,
    mode: 'events',
    expect: [ev('data')],
  },
  {
    name: 'eventsource-reconnect: test reconnection events',
    wpt: 'eventsource-reconnect.window.js',
    about: 'after `ok`, the drop fires `error` with readyState CONNECTING, then the reconnect delivers `data`',
    url: (role, key) => `/_test/wpt/status-reconnect?status=200&ok_first&id=${key}-${role}`,
    mode: 'events',
    reconnects: true,
    expect: [ev('ok'), ev('data')],
  },
  {
    name: 'eventsource-reconnect: 503 first (beyond WPT)',
    wpt: 'status-reconnect.py with status=503',
    about: 'a 503 before the stream works: the native object gives up; LiveSource retries and delivers `data`',
    url: (role, key) => `/_test/wpt/status-reconnect?status=503&id=${key}-${role}`,
    mode: 'recovers',
    // Deliberate: LiveSource takes over where the browser gives up (README, "Takeover").
    expect: [ev('data')],
  },
];

// ---- the page ------------------------------------------------------------------------------

// Opens the raw EventSource and the LiveSource, and records what each delivers in
// `window.rec`: `raw` and `ls`, lists of entries tagged with the connection they arrived on
// (`conn`: how many times the source had dropped before).
async function start(page, { rawUrl, lsUrl, names, transport }) {
  await page.goto(`${server}/health`);
  return page.evaluate(async ({ rawUrl, lsUrl, names, transport }) => {
    const m = await import('/pkg/livesource.js');
    await m.default();
    const t0 = performance.now();
    const at = () => Math.round(performance.now() - t0);
    const rec = { raw: [], ls: [], rawConn: 0, lsConn: 0, lsState: null, lsThrown: null };
    window.rec = rec;

    const es = new EventSource(rawUrl);
    window.rawEs = es;
    es.addEventListener('open', () => rec.raw.push({ kind: 'open', conn: rec.rawConn, readyState: es.readyState, at: at() }));
    es.addEventListener('error', (e) => {
      rec.raw.push({
        kind: 'error', conn: rec.rawConn, readyState: es.readyState, at: at(),
        // WPT's format-mime-*: a simple event, not a MessageEvent; neither bubbles nor cancelable.
        simple: !(e instanceof MessageEvent) && !Object.prototype.hasOwnProperty.call(e, 'data'),
        bubbles: e.bubbles, cancelable: e.cancelable,
      });
      rec.rawConn++;
    });
    for (const name of names) {
      es.addEventListener(name, (e) => rec.raw.push({ kind: 'event', conn: rec.rawConn, name: e.type, id: e.lastEventId, data: e.data, at: at() }));
    }

    const options = transport === 'eventsource' ? {} : { transport };
    let src;
    try {
      src = new m.LiveSource(lsUrl, options);
    } catch (e) {
      rec.lsThrown = String((e && e.message) || e);
      return;
    }
    window.src = src;
    for (const name of names) {
      src.on(name, (data, meta) => rec.ls.push({ kind: 'event', conn: rec.lsConn, name: meta.event, id: meta.id, data, at: at() }));
    }
    src.onError((e) => rec.ls.push(e.kind === 'decode'
      ? { kind: 'decode', conn: rec.lsConn, name: e.event, id: e.id ?? '', at: at() }
      : { kind: 'error', conn: rec.lsConn, error: e.kind, status: e.status ?? null, message: e.message, at: at() }));
    src.onState((s) => {
      if (rec.lsState === 'open' && s !== 'open') rec.lsConn++;
      rec.lsState = s;
      rec.ls.push({ kind: 'state', conn: rec.lsConn, state: s, at: at() });
    });
  }, { rawUrl, lsUrl, names, transport });
}

// The page's conditions to wait for, per mode (functions sent to the page as source text).
const DONE = {
  connection: () => {
    const r = window.rec;
    return !!r.lsThrown || (r.rawConn >= 1 && (r.lsConn >= 1 || r.ls.some((e) => e.kind === 'error')));
  },
  events: (n) => {
    const r = window.rec;
    const delivered = (list) => list.filter((e) => e.kind === 'event' || e.kind === 'decode').length;
    return !!r.lsThrown || (delivered(r.raw) >= n && (delivered(r.ls) >= n || r.ls.some((e) => e.kind === 'error')));
  },
  retry: () => {
    const r = window.rec;
    const opens = (list, test) => list.filter(test).length;
    return !!r.lsThrown || (opens(r.raw, (e) => e.kind === 'open') >= 2
      && (opens(r.ls, (e) => e.kind === 'state' && e.state === 'open') >= 2 || r.ls.some((e) => e.kind === 'error')));
  },
  // The raw source has failed for good, and LiveSource has closed or failed twice (a retry).
  failure: () => {
    const r = window.rec;
    return !!r.lsThrown || (r.raw.some((e) => e.kind === 'error' && e.readyState === 2)
      && (r.lsState === 'closed' || r.ls.filter((e) => e.kind === 'error').length >= 2));
  },
  // An engine whose native object fails where WPT expects events (`native`): the raw source has
  // failed for good, and LiveSource has reported an error, or its first connection has ended.
  deviates: () => {
    const r = window.rec;
    return !!r.lsThrown || (r.raw.some((e) => e.kind === 'error' && e.readyState === 2)
      && (r.lsConn >= 1 || r.lsState === 'closed' || r.ls.some((e) => e.kind === 'error')));
  },
  recovers: () => {
    const r = window.rec;
    const delivered = (list) => list.filter((e) => e.kind === 'event' || e.kind === 'decode').length;
    return !!r.lsThrown || (r.raw.some((e) => e.kind === 'error' && e.readyState === 2) && delivered(r.ls) >= 1);
  },
};

// ---- comparing ---------------------------------------------------------------------------

// What LiveSource can show of an event: its name, its id, and its data when the data is JSON.
function comparable([name, id, data]) {
  try {
    return [name, id, 'json', JSON.parse(data)];
  } catch {
    return [name, id, 'decode'];
  }
}
const rawEvents = (rec) => rec.raw.filter((e) => e.kind === 'event');
const liveEvents = (rec) => rec.ls.filter((e) => e.kind === 'event' || e.kind === 'decode');
const asLive = (e) => (e.kind === 'event' ? [e.name, e.id, 'json', e.data] : [e.name, e.id, 'decode']);
const triple = (e) => [e.name, e.id, e.data];

const show = (v) => JSON.stringify(v);
function timeline(list) {
  return list.map((e) => {
    if (e.kind === 'event') return `${e.at}ms #${e.conn} ${e.name}(${show(e.id)}) ${show(e.data)}`;
    if (e.kind === 'decode') return `${e.at}ms #${e.conn} ${e.name}(${show(e.id)}) <decode error>`;
    if (e.kind === 'state') return `${e.at}ms state ${e.state}`;
    if (e.kind === 'error' && 'error' in e) return `${e.at}ms onError ${e.error}${e.status === null ? '' : ` ${e.status}`}: ${e.message}`;
    return `${e.at}ms ${e.kind} readyState ${e.readyState}`;
  }).join('\n    ');
}

async function runCase(c, transport) {
  const key = `${c.name.replace(/[^a-z0-9]+/gi, '-')}-${transport}-${engine}-${Date.now()}`;
  const names = c.names || ['message'];
  const page = await browser.newPage();
  let rec;
  let timedOut = null;
  try {
    await start(page, { rawUrl: c.url('raw', key), lsUrl: c.url('ls', key), names, transport });
    const n = c.expect ? c.expect.length : 0;
    const mode = c.native?.[engine] ? 'deviates' : c.mode;
    const timeout = { retry: c.retryMs * 1.25 + 5000, deviates: 5000 }[mode] ?? 10_000;
    try {
      await page.waitForFunction(DONE[mode], n, { timeout, polling: 25, what: `${c.name} (${mode})` });
    } catch (e) {
      timedOut = e.message;
    }
    rec = await page.evaluate(() => {
      // What happened before this, not the 'closed' of the close below.
      const seen = JSON.parse(JSON.stringify(window.rec));
      window.src?.close();
      window.rawEs.close();
      return seen;
    });
    // Uncaught errors only. Firefox also reports each EventSource that fails to connect as a
    // page error ("Firefox can’t establish a connection to the server at …"): not one of ours.
    rec.allProblems = await page.problems();
    rec.problems = rec.allProblems
      .filter((p) => p.startsWith('pageerror') && !/can.t establish a connection to the server at/.test(p));
  } finally {
    await page.close();
  }
  const detail = () => `\n  raw EventSource:\n    ${timeline(rec.raw)}\n  LiveSource [${transport}]:\n    ${timeline(rec.ls)}` +
    `${timedOut ? `\n  ${timedOut}` : ''}${rec.allProblems.length ? `\n  page: ${rec.allProblems.slice(0, 6).join('\n        ')}` : ''}`;
  console.log(`conformance: ${engine} [${transport}] ${c.name}: raw ${show(rawEvents(rec).map(triple))}, livesource ${show(liveEvents(rec).map(asLive))}` +
    `${rec.lsThrown ? ` (threw: ${rec.lsThrown})` : ''}`);
  return { rec, detail, timedOut };
}

// The raw EventSource first: it must do what the WPT file asserts, or the comparison means
// nothing. Then LiveSource against it.
function assertRawAsWpt(c, got, detail) {
  assert.ok(isDeepStrictEqual(got, c.expect),
    `the raw EventSource (the reference) did not deliver what ${c.wpt} asserts: expected ${show(c.expect)}, got ${show(got)}${detail()}`);
}

function assertLiveAsRaw(rawList, liveList, detail) {
  const want = rawList.map(triple).map(comparable);
  const got = liveList.map(asLive);
  assert.ok(isDeepStrictEqual(got, want),
    `LiveSource did not deliver what the raw EventSource did: want ${show(want)}, got ${show(got)}${detail()}`);
}

function assertNoThrow(rec) {
  assert.equal(rec.lsThrown, null, `new LiveSource(url, options) threw: ${rec.lsThrown}`);
}

function check(c, transport, { rec, detail, timedOut }) {
  assertNoThrow(rec);
  const liveErrors = rec.ls.filter((e) => e.kind === 'error');
  const liveStates = rec.ls.filter((e) => e.kind === 'state').map((e) => e.state);
  const deviation = c.native?.[engine];
  if (deviation) {
    console.log(`conformance: finding: ${engine}: ${c.name}: ${deviation}`);
    assert.deepEqual(rec.raw.map((e) => [e.kind, e.readyState]), [['error', 2]],
      `the raw EventSource fails the connection in ${engine} (${deviation})${detail()}`);
    if (transport === 'eventsource') {
      // Nothing can come through the native object; the failure must still be visible.
      assert.deepEqual(liveEvents(rec), [], `LiveSource delivered no event, as the native object${detail()}`);
      assert.ok(liveErrors.length >= 1,
        `the native EventSource failed the connection and LiveSource reported no error within 5 s: it retries without a word${detail()}`);
    } else {
      // The fetch transport parses the stream itself: what WPT asserts.
      assert.ok(!timedOut, `the first connection did not end${detail()}`);
      assertLiveAsRaw(c.expect.map(([name, id, data]) => ({ name, id, data })), liveEvents(rec).filter((e) => e.conn === 0), detail);
      assert.deepEqual(liveErrors, [], `LiveSource reported no error${detail()}`);
    }
  } else if (c.mode === 'connection') {
    assert.ok(!timedOut, `the first connection did not end on both sources${detail()}`);
    const raw = rawEvents(rec).filter((e) => e.conn === 0);
    assertRawAsWpt(c, raw.map(triple), detail);
    assertLiveAsRaw(raw, liveEvents(rec).filter((e) => e.conn === 0), detail);
    assert.deepEqual(liveErrors, [], `LiveSource reported no error${detail()}`);
    if (c.opens) {
      const first = rec.raw[0];
      assert.ok(first?.kind === 'open' && first.readyState === 1, `the raw source opened first, readyState OPEN${detail()}`);
      assert.ok(liveStates.includes('open'), `LiveSource reached 'open'${detail()}`);
    }
  } else if (c.mode === 'events') {
    assert.ok(!timedOut, `not every expected event arrived${detail()}`);
    const n = c.expect.length;
    const raw = rawEvents(rec).slice(0, n);
    assertRawAsWpt(c, raw.map(triple), detail);
    assertLiveAsRaw(raw, liveEvents(rec).slice(0, n), detail);
    assert.deepEqual(liveErrors, [], `LiveSource reported no error${detail()}`);
    if (c.reconnects) {
      // WPT: the `error` of the drop comes after the first message, with readyState CONNECTING.
      const kinds = rec.raw.filter((e) => e.kind !== 'open').slice(0, 3).map((e) => (e.kind === 'error' ? `error:${e.readyState}` : e.kind));
      assert.deepEqual(kinds, ['event', 'error:0', 'event'], `raw: message, error (CONNECTING), message${detail()}`);
      const seq = rec.ls.filter((e) => e.kind !== 'state' || e.state !== 'connecting').slice(0, 5)
        .map((e) => (e.kind === 'state' ? e.state : 'event'));
      assert.deepEqual(seq, ['open', 'event', 'reconnecting', 'open', 'event'], `LiveSource: open, message, reconnecting, open, message${detail()}`);
    }
  } else if (c.mode === 'retry') {
    assert.ok(!timedOut, `no second open on both sources${detail()}`);
    const rawOpens = rec.raw.filter((e) => e.kind === 'open').map((e) => e.at);
    const liveOpens = rec.ls.filter((e) => e.kind === 'state' && e.state === 'open').map((e) => e.at);
    const rawDelay = rawOpens[1] - rawOpens[0];
    const liveDelay = liveOpens[1] - liveOpens[0];
    console.log(`conformance: ${engine} [${transport}] ${c.name}: open to open raw ${rawDelay} ms, livesource ${liveDelay} ms (retry ${c.retryMs} ms)`);
    const within = (ms) => Math.abs(1 - ms / c.retryMs) < 0.25; // WPT's tolerance
    assert.ok(within(rawDelay), `raw EventSource: ${rawDelay} ms between opens, not within 25% of ${c.retryMs}${detail()}`);
    assert.ok(within(liveDelay), `LiveSource: ${liveDelay} ms between opens, not within 25% of ${c.retryMs}${detail()}`);
    assert.deepEqual(liveErrors, [], `LiveSource reported no error${detail()}`);
  } else if (c.mode === 'failure') {
    assert.ok(!timedOut, `the failure did not play out on both sources${detail()}`);
    // The raw source: one `error` (a simple event, not bubbling, not cancelable), readyState
    // CLOSED, and neither `open` nor an event before it.
    assert.deepEqual(rec.raw.map((e) => [e.kind, e.readyState, e.simple, e.bubbles, e.cancelable]),
      [['error', 2, true, false, false]], `the raw EventSource fails the connection${detail()}`);
    assert.deepEqual(liveEvents(rec), [], `LiveSource delivered no event${detail()}`);
    assert.ok(!liveStates.includes('open'), `LiveSource never reported 'open'${detail()}`);
    const { live } = c;
    if (live.kind === null) {
      assert.deepEqual(liveErrors, [], `LiveSource reported no error${detail()}`);
    } else {
      assert.ok(liveErrors.length >= 1, `LiveSource reported an error${detail()}`);
      for (const e of liveErrors) {
        assert.equal(e.error, live.kind, `error kind${detail()}`);
        assert.equal(e.status, live.status, `error status${detail()}`);
        if (live.message) assert.match(e.message, live.message);
      }
    }
    if (live.closes) {
      assert.equal(liveStates.at(-1), 'closed', `LiveSource stopped (state 'closed')${detail()}`);
      assert.equal(liveErrors.length, live.kind === null ? 0 : 1, `one error, then closed${detail()}`);
    }
    if (live.retries) {
      assert.ok(liveErrors.length >= 2, `LiveSource tried again after the failure (the error came twice)${detail()}`);
      assert.ok(!liveStates.includes('closed'), `LiveSource did not give up${detail()}`);
    }
  } else if (c.mode === 'recovers') {
    assert.ok(!timedOut, `the raw source did not give up, or LiveSource did not recover${detail()}`);
    assert.deepEqual(rec.raw.map((e) => [e.kind, e.readyState]), [['error', 2]], `the raw EventSource gives up on the 503${detail()}`);
    assertLiveAsRaw(c.expect.map(([name, id, data]) => ({ name, id, data })), liveEvents(rec).slice(0, 1), detail);
  }
  assert.deepEqual(rec.problems, [], 'no uncaught error in the page');
}

for (const transport of TRANSPORTS) {
  for (const c of CASES) {
    test(`${c.name} [${transport}]: ${c.about}`, async () => {
      check(c, transport, await runCase(c, transport));
    });
  }
}
