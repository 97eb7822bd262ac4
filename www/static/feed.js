// The typed feed demo: item.* and revision.created events from /api/events, with a token.
import init, { LiveSource } from '/pkg/livesource.js';
import { showState } from '/static/show-state.js';

const errorEl = document.getElementById('error');
const list = document.getElementById('events');
let src;
let heartbeats = 0;

// Loading starts now, but the form is handled from the first moment: a submit before the wasm
// is ready must not fall through to the browser's own form submission (a reload).
const ready = init();

document.getElementById('connect').addEventListener('submit', async (event) => {
  event.preventDefault();
  await ready;
  const input = event.target.elements.token;
  src?.close();
  heartbeats = 0;
  // A function, not a string: it runs before every connect, so a refreshed token is picked up.
  src = new LiveSource('/api/events', { token: () => input.value.trim(), heartbeatTimeoutMs: 75000 });
  showState(src);
  src.on('server.state', (data) => {
    document.getElementById('mode').textContent = data.mode;
  });
  src.on('heartbeat', () => {
    document.getElementById('heartbeats').textContent = String(++heartbeats);
  });
  for (const name of ['item.created', 'item.updated', 'item.deleted', 'revision.created']) {
    src.on(name, (data, meta) => {
      document.getElementById('error').hidden = true;
      const li = document.createElement('li');
      li.dataset.event = name;
      li.textContent = `#${meta.id || '-'} ${name} ${data.db}/${data.coll}/${data.id}` +
        (data.revision_number ? ` revision ${data.revision_number}` : '');
      list.prepend(li);
    });
  }
});
