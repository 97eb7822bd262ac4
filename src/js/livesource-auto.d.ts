import type { AutoWiring } from './livesource.js';

/** The wiring of this page's data-live-* elements (counts of wired elements and connections). */
declare const wiring: AutoWiring;
export default wiring;
