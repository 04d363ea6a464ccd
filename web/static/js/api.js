// api.js: the one way the UI talks to the hub (or an edge node) — same-origin JSON over /api.
//
// It keeps the session (access token, refresh token, user) in a Storage of the caller's choice,
// refreshes the access token shortly before it expires and once more on a 401, and turns every
// failure into an ApiError: status 0 for a network failure (offline), otherwise the fields of the
// server's application/problem+json answer (title, detail, field) so that forms can show the
// detail next to the offending input.

const KEY = 'aiff.session';

/** ApiError is a failed request. status 0 means the network was unreachable. */
export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || (status === 0 ? 'Cannot reach the server. Check your connection.' : `Request failed (${status})`));
    this.name = 'ApiError';
    this.status = status;
    this.type = problem.type || '';
    this.title = problem.title || '';
    this.detail = this.message;
    this.field = problem.field || '';
  }
  get offline() { return this.status === 0; }
}

/** Api is a session-aware JSON client. storage is sessionStorage (dashboard) or localStorage (field PWA). */
export class Api {
  constructor(storage = sessionStorage) {
    this.storage = storage;
    this.onLogout = () => {};
    this._refreshing = null;
  }

  get session() {
    try { return JSON.parse(this.storage.getItem(KEY)) || null; } catch { return null; }
  }
  set session(s) {
    if (s) this.storage.setItem(KEY, JSON.stringify(s)); else this.storage.removeItem(KEY);
  }
  get user() { return this.session?.user || null; }

  _store(tok, user) {
    this.session = {
      access_token: tok.access_token,
      refresh_token: tok.refresh_token || this.session?.refresh_token || '',
      expires_at: Date.now() + (Number(tok.expires_in) || 1800) * 1000,
      user: tok.user || user || this.session?.user || null,
    };
  }

  /** login trades a username and password for a session; throws ApiError (401 on bad credentials). */
  async login(username, password) {
    const tok = await this._fetch('POST', '/api/auth/login', { username, password }, null);
    this._store(tok);
    if (!this.user) this._store(tok, await this.request('GET', '/api/auth/me'));
    return this.user;
  }

  /** logout forgets the session locally and tells the server (best effort) to revoke the refresh token. */
  async logout() {
    const s = this.session;
    this.session = null;
    if (s?.refresh_token) {
      this._fetch('POST', '/api/auth/logout', { refresh_token: s.refresh_token }, s.access_token).catch(() => {});
    }
    this.onLogout();
  }

  /** refresh gets a new access token with the refresh token; concurrent callers share one request. */
  refresh() {
    const s = this.session;
    if (!s?.refresh_token) return Promise.reject(new ApiError(401, { detail: 'Your session has ended. Please sign in again.' }));
    if (!this._refreshing) {
      this._refreshing = this._fetch('POST', '/api/auth/refresh', { refresh_token: s.refresh_token }, null)
        .then(tok => { this._store(tok); return tok; })
        .finally(() => { this._refreshing = null; });
    }
    return this._refreshing;
  }

  /** request sends an authenticated request and returns the decoded JSON (null for 204). */
  async request(method, path, body) {
    let s = this.session;
    if (!s) throw new ApiError(401, { detail: 'Please sign in.' });
    if (s.expires_at - Date.now() < 60_000) {
      try { await this.refresh(); s = this.session; } catch (e) { if (!e.offline) return this._expired(e); }
    }
    try {
      return await this._fetch(method, path, body, s.access_token);
    } catch (e) {
      if (e.status !== 401) throw e;
      try { await this.refresh(); } catch (re) { return this._expired(re); }
      return this._fetch(method, path, body, this.session.access_token);
    }
  }

  _expired(e) {
    if (e.offline) throw e;
    this.session = null;
    this.onLogout();
    throw new ApiError(401, { detail: 'Your session has ended. Please sign in again.' });
  }

  get(path) { return this.request('GET', path); }
  post(path, body) { return this.request('POST', path, body); }
  put(path, body) { return this.request('PUT', path, body); }
  del(path) { return this.request('DELETE', path); }

  async _fetch(method, path, body, token) {
    const headers = { Accept: 'application/json, application/problem+json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    } catch {
      throw new ApiError(0);
    }
    if (res.status === 204) return null;
    const text = await res.text();
    let data = null;
    if (text) { try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 200) }; } }
    if (!res.ok) throw new ApiError(res.status, data || {});
    return data;
  }
}

/** qs builds a query string from an object, skipping empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

/** items accepts either a bare array or a {items:[…]} page. */
export function items(x) { return Array.isArray(x) ? x : (x?.items || []); }
