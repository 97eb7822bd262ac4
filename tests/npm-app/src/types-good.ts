// Must type-check: how the package is meant to be used from TypeScript.
import init, { LiveSource, type LiveError, type LiveState, type PatchStore } from 'livesource';

type Item = { name: string; price: number };

export async function good(): Promise<void> {
  await init();
  const src = new LiveSource<{ 'item.created': Item; heartbeat: Record<string, never> }>('/api/events', {
    token: async () => 'jwt',
    backoff: { initialMs: 100, maxAttempts: null },
    heartbeatTimeoutMs: 0,
  });
  const off: () => void = src.on('item.created', (item, meta) => {
    const name: string = item.name;
    const price: number = item.price;
    const id: string | undefined = meta.id;
    console.log(name, price, id, meta.event);
  });
  off();
  src.onState((state: LiveState) => console.log(state));
  src.onError((e: LiveError) => console.log(e.kind, e.status));
  src.refresh('item.created', { url: '/items', target: '#items', swap: 'innerHTML' });
  const store: PatchStore<{ counter: number }> = src.patches('heartbeat', { initial: { counter: 0 } });
  store.subscribe((s) => console.log(s.counter + 1));
  const state: LiveState = src.state;
  console.log(state, src.lastEventId);
  src.close();
}
