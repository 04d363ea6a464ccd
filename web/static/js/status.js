// status.js mirrors domain/status.go: the ticket lifecycle, so the UI offers only legal moves.
// The server stays the authority; a move it rejects is shown as an error in place.

export const STATUSES = ['open', 'assigned', 'in_progress', 'on_hold', 'resolved', 'closed', 'cancelled'];
export const ACTIVE = ['open', 'assigned', 'in_progress', 'on_hold'];
export const PRIORITIES = ['low', 'medium', 'high', 'critical'];
export const CATEGORIES = ['installation', 'repair', 'maintenance', 'inspection', 'outage', 'other'];

const TRANSITIONS = {
  open: ['assigned', 'cancelled'],
  assigned: ['open', 'in_progress', 'cancelled'],
  in_progress: ['on_hold', 'resolved', 'cancelled'],
  on_hold: ['in_progress', 'cancelled'],
  resolved: ['closed', 'assigned', 'open'],
  closed: [],
  cancelled: [],
};

export const STATUS_LABEL = {
  open: 'Open', assigned: 'Assigned', in_progress: 'In progress', on_hold: 'On hold',
  resolved: 'Resolved', closed: 'Closed', cancelled: 'Cancelled',
};
export const PRIORITY_LABEL = { low: 'Low', medium: 'Medium', high: 'High', critical: 'Critical' };

/** nextStatuses lists the statuses reachable from s. */
export function nextStatuses(s) { return [...(TRANSITIONS[s] || [])]; }

/** isDone reports whether work on a ticket in status s has ended. */
export function isDone(s) { return s === 'resolved' || s === 'closed' || s === 'cancelled'; }

/** actionLabel names the button that moves a ticket from → to, in the words a dispatcher uses. */
export function actionLabel(from, to) {
  if (to === 'in_progress') return from === 'on_hold' ? 'Resume' : 'Start work';
  if (to === 'on_hold') return 'Put on hold';
  if (to === 'resolved') return 'Resolve';
  if (to === 'closed') return 'Close';
  if (to === 'cancelled') return 'Cancel ticket';
  if (to === 'open') return from === 'resolved' ? 'Reopen (unassigned)' : 'Unassign';
  if (to === 'assigned') return from === 'resolved' ? 'Reopen' : 'Mark assigned';
  return STATUS_LABEL[to] || to;
}

/** isOverdue reports whether a ticket is past due and not done. */
export function isOverdue(t, now = Date.now()) {
  return !isDone(t.status) && t.due_date && Date.parse(t.due_date) < now;
}
