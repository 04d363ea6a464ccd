// sync.js: just enough of the sync protocol (sync/PROTOCOL.md) for a test to play an edge node:
// ULIDs, HLC readings and push frames. Tests use it to arrange merge conflicts on the real hub.
import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** ulid returns a canonical 26-character ULID for time ms (48-bit time, 80 random bits). */
export function ulid(ms = Date.now()) {
  let t = '';
  for (let i = 0, n = ms; i < 10; i++) { t = CROCKFORD[n % 32] + t; n = Math.floor(n / 32); }
  const rnd = randomBytes(10);
  let bits = 0n;
  for (const b of rnd) bits = (bits << 8n) | BigInt(b);
  let r = '';
  for (let i = 0; i < 16; i++) { r = CROCKFORD[Number(bits & 31n)] + r; bits >>= 5n; }
  return t + r;
}

/** hlc encodes a clock reading as WWWWWWWWWWWW-LLLLLLLL-node (§3). */
export function hlc(wallMs, logical, node) {
  return `${wallMs.toString(16).padStart(12, '0')}-${logical.toString(16).padStart(8, '0')}-${node}`;
}

/** fieldClock returns the clock of the change that last wrote field in a row history (§2 changes). */
export function fieldClock(changes, field) {
  let best = '';
  for (const c of changes) {
    if (!c.patch || !(field in c.patch)) continue;
    const v = c.hlc || hlc(Date.parse(c.at), 0, c.origin);
    if (v > best) best = v;
  }
  return best;
}

/** EdgeClient speaks to /api/sync with an edge token (aiffe_<name>_<secret>). */
export class EdgeClient {
  constructor(base, credential) {
    this.base = base;
    this.token = credential.token;
    this.node = credential.name;
  }

  async call(method, path, body) {
    const res = await fetch(this.base + path, {
      method, headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** history returns the logged changes of one row (POST /api/sync/rows, §10). */
  async history(entity, id) {
    const r = await this.call('POST', '/api/sync/rows', { zones: [], rows: [{ entity, id }] });
    const row = r.rows.find(x => x.entity === entity && x.id === id);
    if (!row) throw new Error(`${entity} ${id} is not in ${this.node}'s scope`);
    return row.changes;
  }

  /**
   * edit pushes one upsert of a ticket made "offline" at wall time wallMs by actor; base gives,
   * per field, the clock of the value the edge had seen. Returns the push result of the change.
   */
  async edit({ ticket, zone, actor, patch, base, wallMs }) {
    const change = {
      id: ulid(wallMs), origin: this.node, actor, entity: 'ticket', entity_id: ticket, op: 'upsert', zone,
      patch, hlc: hlc(wallMs, 0, this.node), at: new Date(wallMs).toISOString(), base,
    };
    const r = await this.call('POST', '/api/sync/push', { v: 1, type: 'push', data: { node: this.node, changes: [change] } });
    const res = r.data.results[0];
    if (res.status !== 'accepted') throw new Error(`push of ${JSON.stringify(patch)} by ${this.node}: ${JSON.stringify(res)}`);
    return { ...res, change };
  }
}
