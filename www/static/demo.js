// The demo page: lists every change of /shop/products as it arrives, with connection state.
import init, { LiveSource } from '/pkg/livesource.js';
import { showState } from '/static/show-state.js';

for (const el of document.querySelectorAll('.host')) el.textContent = location.host;

const errorEl = document.getElementById('error');
const list = document.getElementById('changes');

// An ObjectId is {"$oid": "…"} in JSON (as RESTHeart sends it); a chosen id is a string.
const idText = (id) => id?.$oid ?? id ?? '?';

function describe(data) {
  const id = idText(data.documentKey?._id);
  switch (data.operationType) {
    case 'insert': return `inserted ${id}: ${JSON.stringify(data.fullDocument)}`;
    case 'update': return `updated ${id}: ${JSON.stringify(data.updateDescription)}`;
    case 'replace': return `replaced ${id}: ${JSON.stringify(data.fullDocument)}`;
    case 'delete': return `deleted ${id}`;
    default: return JSON.stringify(data);
  }
}

await init();
const src = new LiveSource('/shop/products/_streams/changes', {});
showState(src);
src.on('change', (data, meta) => {
  document.getElementById('error').hidden = true;
  const item = document.createElement('li');
  item.dataset.id = meta.id;
  item.dataset.op = data.operationType;
  item.textContent = `#${meta.id} ${describe(data)}`;
  list.prepend(item);
});
src.on('reset', data => {
  const item = document.createElement('li');
  item.className = 'reset';
  item.textContent = `stream reset (${data.reason}); showing live changes from here`;
  list.prepend(item);
});

document.getElementById('insert').addEventListener('submit', async event => {
  event.preventDefault();
  const form = new FormData(event.target);
  const out = document.getElementById('insert-result');
  const res = await fetch('/shop/products', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${form.get('token')}` },
    body: JSON.stringify({ name: form.get('name'), price: Math.round(Math.random() * 100) }),
  });
  const body = await res.json();
  out.textContent = res.ok ? `created ${idText(body._id)}` : `${res.status}: ${body.message}`;
});
