// outbox.js: the field portal's offline outbox — status changes made while the network is down,
// kept in IndexedDB (so they survive closing the app) and replayed in the order they were made.
//
// This module knows nothing about the API: replay(send) hands each queued operation to send()
// and decides from the error what to do. The full sync protocol (ULIDs, push/pull, merge) will
// replace send() later; the queue contract stays.

const DB = 'aiff-field', STORE = 'outbox', VERSION = 1;
const listeners = new Set();
let dbp = null;
let replaying = null;

function db() {
  if (!dbp) {
    dbp = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, VERSION);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'seq', autoIncrement: true });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  return dbp;
}

async function tx(mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction(STORE, mode);
    const out = fn(t.objectStore(STORE));
    t.oncomplete = () => resolve(out && 'result' in out ? out.result : undefined);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

function changed() { count().then(n => listeners.forEach(fn => fn(n))).catch(() => {}); }

/** onChange calls fn(count) whenever the queue grows or shrinks. */
export function onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); }

/**
 * enqueue stores op ({ticket_id, ticket_number, patch}) durably, stamped with the time it was
 * made and a client id so a later sync protocol can make re-sending idempotent.
 */
export async function enqueue(op) {
  const rec = { ...op, queued_at: new Date().toISOString(), client_id: crypto.randomUUID?.() || String(Math.random()).slice(2) };
  rec.seq = await tx('readwrite', s => s.add(rec));
  changed();
  return rec;
}

/** list returns every queued operation, oldest first. */
export function list() { return tx('readonly', s => s.getAll()); }

/** count returns how many operations wait. */
export function count() { return tx('readonly', s => s.count()); }

async function remove(seq) { await tx('readwrite', s => s.delete(seq)); changed(); }

/**
 * replay sends queued operations one by one, oldest first, with send(op). It stops at the first
 * operation that fails with err.offline (the network is still down; order is kept). An operation
 * the server rejects (any other error) is dropped and reported in failed[], so one bad change
 * cannot block the queue forever. Concurrent calls share one run.
 * Resolves {sent, failed: [{op, error}], remaining}.
 */
export function replay(send) {
  if (!replaying) {
    replaying = (async () => {
      let sent = 0;
      const failed = [];
      for (const op of await list()) {
        try {
          await send(op);
          sent++;
          await remove(op.seq);
        } catch (e) {
          if (e.offline || e.status === 401 || e.status === 429 || e.status >= 500) break;
          failed.push({ op, error: e });
          await remove(op.seq);
        }
      }
      return { sent, failed, remaining: await count() };
    })().finally(() => { replaying = null; });
  }
  return replaying;
}
