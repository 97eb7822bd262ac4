// A TCP proxy on loopback that sits between the browser and livesource-dev and breaks SSE
// streams on command: cut a connection at an arbitrary point, stall it (keep the socket open and
// send nothing), and add latency. Other requests (the page, fragments) pass through untouched.
import net from 'node:net';

export class FaultProxy {
  constructor(upstreamPort, { latencyMs = 0 } = {}) {
    this.upstreamPort = upstreamPort;
    this.latencyMs = latencyMs;
    this.streams = new Set();
    this.counts = { connections: 0, streams: 0, cuts: 0, stalls: 0 };
    this.server = net.createServer((client) => this.#relay(client));
  }

  listen() {
    return new Promise((ok) => this.server.listen(0, '127.0.0.1', () => ok(this.server.address().port)));
  }

  close() {
    for (const s of this.streams) s.destroy();
    return new Promise((ok) => this.server.close(ok));
  }

  #relay(client) {
    this.counts.connections++;
    const upstream = net.connect(this.upstreamPort, '127.0.0.1');
    // Server-to-client bytes of a stream go through one FIFO per connection, so latency and
    // stalls delay them but never reorder them.
    const conn = { client, upstream, isStream: false, queue: [], pumping: false, stalled: null };
    const destroy = () => { client.destroy(); upstream.destroy(); this.streams.delete(conn); };
    conn.destroy = destroy;
    client.on('error', destroy);
    upstream.on('error', destroy);
    client.on('close', destroy);
    upstream.on('close', destroy);
    // Keep-alive connections carry several requests: classify by the latest request line.
    client.on('data', (d) => {
      const head = d.toString('latin1', 0, 200);
      if (/^[A-Z]+ \S+ HTTP\/1/.test(head)) {
        const isStream = /^GET [^ ]*(\/_streams\/|__events|\/api\/events)/.test(head);
        if (isStream && !conn.isStream) this.counts.streams++;
        conn.isStream = isStream;
        if (isStream) this.streams.add(conn); else this.streams.delete(conn);
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!conn.isStream && !conn.queue.length) return client.write(d);
      conn.queue.push([d, performance.now() + Math.random() * this.latencyMs]);
      this.#pump(conn);
    });
  }

  async #pump(conn) {
    if (conn.pumping) return;
    conn.pumping = true;
    while (conn.queue.length) {
      if (conn.stalled) {
        await conn.stalled;
        continue;
      }
      const wait = conn.queue[0][1] - performance.now();
      if (wait > 0) {
        await new Promise((ok) => setTimeout(ok, Math.ceil(wait)));
        continue;
      }
      const [d] = conn.queue.shift();
      if (conn.client.writable) conn.client.write(d);
    }
    conn.pumping = false;
  }

  /** Cuts one open stream, if any, mid-flight. */
  cut() {
    const open = [...this.streams];
    if (!open.length) return false;
    open[Math.floor(Math.random() * open.length)].destroy();
    this.counts.cuts++;
    return true;
  }

  /** Sends nothing on every open stream for `ms` (the socket stays open), then resumes. */
  async stall(ms) {
    const open = [...this.streams];
    if (!open.length) return false;
    this.counts.stalls++;
    let release;
    const ended = new Promise((ok) => { release = ok; });
    for (const c of open) c.stalled = ended;
    await new Promise((ok) => setTimeout(ok, ms));
    for (const c of open) {
      c.stalled = null;
      this.#pump(c);
    }
    release();
    return true;
  }
}
