// live.js: the one place that decides when the dashboard refreshes its data.
//
// Today it polls every `interval` ms while the page is visible (and at once when it becomes
// visible again). A WebSocket delta stream will replace the timer here later; views only
// subscribe() and never know how the update arrived.

const listeners = new Set();
let timer = null;
let interval = 15000;
let lastRun = null;
let running = false;
const statusListeners = new Set();

/** subscribe calls fn on every refresh; returns an unsubscribe function. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** onStatus calls fn({at, ok}) after each refresh round, for the "updated at" indicator. */
export function onStatus(fn) { statusListeners.add(fn); }

/** refreshNow runs every subscriber once, now. Rounds never overlap. */
export async function refreshNow() {
  if (running) return;
  running = true;
  let ok = true;
  try {
    const results = await Promise.allSettled([...listeners].map(fn => fn()));
    ok = results.every(r => r.status === 'fulfilled');
  } finally {
    running = false;
    lastRun = new Date();
    statusListeners.forEach(fn => fn({ at: lastRun, ok }));
  }
}

/** start begins polling; calling it again only changes the interval. */
export function start(ms = interval) {
  interval = ms;
  stop();
  timer = setInterval(() => { if (document.visibilityState === 'visible') refreshNow(); }, interval);
  document.addEventListener('visibilitychange', onVisible);
}

/** stop ends polling (e.g. on logout). */
export function stop() {
  if (timer) clearInterval(timer);
  timer = null;
  document.removeEventListener('visibilitychange', onVisible);
}

function onVisible() {
  if (document.visibilityState === 'visible' && (!lastRun || Date.now() - lastRun > interval)) refreshNow();
}
