// ctx.js: what every dashboard view shares — the API client and reference data (zones, teams)
// that tickets point at by name or id.
import { Api, items } from '../api.js';

export const api = new Api(sessionStorage);

export const refs = {
  zones: [],
  teams: [],
  teamById: new Map(),
  /** load fetches zones and teams; views call it on start and on every live refresh. */
  async load() {
    const [zones, teams] = await Promise.all([api.get('/api/zones'), api.get('/api/auth/teams')]);
    this.zones = items(zones).sort((a, b) => a.name.localeCompare(b.name));
    this.teams = items(teams).sort((a, b) => a.name.localeCompare(b.name));
    this.teamById = new Map(this.teams.map(t => [t.id, t]));
  },
};

/** teamName returns the team's name for an id, or a placeholder. */
export function teamName(id) {
  if (!id) return 'Unassigned';
  return refs.teamById.get(id)?.name || id;
}

/** canEdit reports whether the signed-in user may change tickets and teams. */
export function canEdit() {
  const r = api.user?.role;
  return r === 'admin' || r === 'dispatcher';
}
