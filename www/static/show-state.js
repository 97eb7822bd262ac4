// Shared by the demo pages: show a source's connection state and its last error.
export function showState(src, stateEl = document.getElementById('state'), errorEl = document.getElementById('error')) {
  src.onState((state) => {
    stateEl.textContent = state;
    stateEl.dataset.state = state;
  });
  src.onError((err) => {
    errorEl.hidden = false;
    errorEl.textContent = `${err.kind}: ${err.message}${err.status ? ` (HTTP ${err.status})` : ''}`;
  });
}
