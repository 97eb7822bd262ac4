// livesource for templates: one tag, no JavaScript to write.
//   <script type="module" src="/pkg/livesource-auto.js"></script>
// Wires every element with data-live-src (and every one added later) to a shared live
// connection; see the README. It defines no globals.
import init, { autoWire } from './livesource.js';

await init();
const wiring = autoWire();
// Kept for the page's lifetime; exported for pages and tests that want to inspect it.
export default wiring;
