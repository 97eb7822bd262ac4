// The JSON-Patch demo: a counter and a table driven by POST /_publish/<topic>.
import init, { LiveSource } from '/pkg/livesource.js';
import { showState } from '/static/show-state.js';

const topic = new URLSearchParams(location.search).get('topic') ?? 'dashboard:demo';
for (const el of document.querySelectorAll('.host')) el.textContent = location.host;
for (const el of document.querySelectorAll('.topic, #topic')) el.textContent = topic;

await init();
const src = new LiveSource(`/dashboard/__events?topic=${encodeURIComponent(topic)}`);
showState(src);

const store = src.patches('patch', { initial: { counter: 0, rows: [] } });
let current = store.get();
store.subscribe((state) => {
  current = state;
  document.getElementById('counter').textContent = String(state.counter);
  const rows = document.getElementById('rows');
  rows.replaceChildren(...(state.rows ?? []).map((row) => {
    const tr = document.createElement('tr');
    for (const v of [row.id, row.name]) {
      const td = document.createElement('td');
      td.textContent = String(v ?? '');
      tr.append(td);
    }
    return tr;
  }));
});

const patches = {
  increment: () => [['replace', '/counter', (current.counter ?? 0) + 1]],
  add: () => [['add', '/rows/-', { id: Date.now() % 100000, name: `row ${(current.rows ?? []).length + 1}` }]],
  remove: () => [['remove', '/rows/0']],
  failing: () => [['replace', '/counter', 999], ['test', '/counter', -1]],
};

document.getElementById('publish').addEventListener('submit', async (event) => {
  event.preventDefault();
  const token = new FormData(event.target).get('token');
  const patch = patches[event.submitter.value]();
  const out = document.getElementById('publish-result');
  const res = await fetch(`/_publish/${encodeURIComponent(topic)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify(patch),
  });
  out.textContent = res.ok ? 'published' : `${res.status}: ${(await res.json()).message}`;
});
