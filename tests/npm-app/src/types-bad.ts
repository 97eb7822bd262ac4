// Must NOT type-check: each line below is a mistake the typings have to catch.
import { LiveSource } from 'livesource';

type Item = { name: string };
const src = new LiveSource<{ 'item.created': Item }>('/api/events');

src.on('item.craeted', () => {});                         // misspelt event name
src.on('item.created', (item) => item.price);             // no such field
src.on('item.created', (item) => item.name.toFixed(2));   // wrong payload use
new LiveSource('/s', { heartbeatTimeout: 5 });            // unknown option
new LiveSource('/s', { token: 'eyJ...' });                // token must be a function
src.refresh('item.created', { url: '/x', swap: 'replace' }); // unknown swap mode
void (null as unknown as typeof import('livesource')).start; // not a public export (the wasm's start)
void (null as unknown as import('livesource').InitOutput);   // internal: the wasm's raw exports
