// What a front-end developer writes after `npm install livesource`.
import init, { LiveSource } from 'livesource';

type Change = { operationType: string; fullDocument?: { name?: string } };

// Two modules initialising at once must share one load.
await Promise.all([init(), init()]);

const server = import.meta.env.VITE_LIVESOURCE_SERVER as string;
const src = new LiveSource<{ change: Change }>(`${server}/shop/products/_streams/changes`);
src.onState((state) => {
  document.getElementById('state')!.textContent = state;
});
src.on('change', (change, meta) => {
  const li = document.createElement('li');
  li.dataset.id = meta.id ?? '';
  li.textContent = change.fullDocument?.name ?? change.operationType;
  document.getElementById('items')!.append(li);
});
