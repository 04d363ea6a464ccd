// sw.js: the field portal's service worker. It keeps the app shell (HTML, CSS, JS, icons) in a
// versioned cache so the portal opens with no network; API calls are never cached here (the
// portal keeps its own ticket copy and outbox). Shell requests go network-first so a deploy is
// picked up at once when online, and fall back to the cache when offline.
const VERSION = 'aiff-field-v1';
const SHELL = [
  '/field', '/field.html', '/manifest.webmanifest',
  '/css/app.css', '/css/field.css',
  '/js/field.js', '/js/api.js', '/js/ui.js', '/js/status.js', '/js/outbox.js', '/js/notes.js',
  '/icons/icon.svg', '/icons/maskable.svg',
];

self.addEventListener('install', event => {
  event.waitUntil((async () => {
    const cache = await caches.open(VERSION);
    // One by one, so a single missing file does not leave the whole shell uncached.
    await Promise.all(SHELL.map(async url => {
      try {
        const res = await fetch(url, { cache: 'reload' });
        if (res.ok) await cache.put(url, res.redirected ? new Response(await res.blob(), { headers: res.headers }) : res);
      } catch { /* offline during install: the next online load fills it */ }
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', event => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== VERSION) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', event => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return;
  const key = req.mode === 'navigate' && url.pathname.startsWith('/field') ? '/field' : url.pathname;
  if (req.mode !== 'navigate' && !SHELL.includes(key)) return;
  event.respondWith((async () => {
    const cache = await caches.open(VERSION);
    try {
      const res = await fetch(req);
      if (res.ok && !res.redirected) cache.put(key, res.clone());
      return res;
    } catch (err) {
      const hit = await cache.match(key);
      if (hit) return hit;
      throw err;
    }
  })());
});
