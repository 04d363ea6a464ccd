// notes.js: a ticket's notes — the list, oldest first, and an "add note" box — shared by the
// dashboard's ticket drawer and the field portal's job page. Each note is its own record on
// the server, so two people adding notes at once both keep theirs.
import { items } from './api.js';
import { h, mount, errorBox, fmt, field, showErrors, clearErrors } from './ui.js';

const MAX = 4000;
// Unsent text and focus per ticket survive a redraw of the page around the box (the field
// portal redraws the job page on every background refresh).
const drafts = new Map();
let typingIn = null;

/**
 * notesSection returns an element listing ticket id's notes through api, with a form to add
 * one when canWrite. It loads on creation; onAdded runs after a note was stored.
 */
export function notesSection(api, id, { canWrite = false, onAdded = () => {} } = {}) {
  const path = `/api/tickets/${encodeURIComponent(id)}/notes`;
  const list = h('ol', { class: 'notes', 'data-testid': 'notes', 'aria-live': 'polite' }, h('li', { class: 'muted' }, 'Loading notes…'));
  const box = h('section', { class: 'section notes-section', 'aria-label': 'Notes' }, h('h3', {}, 'Notes'), list);

  async function load() {
    try {
      const notes = items(await api.get(path));
      mount(list, notes.length
        ? notes.map(n => h('li', { class: 'note', 'data-id': n.id },
          h('div', { class: 'small muted' }, h('strong', {}, n.author || 'unknown'), ' · ', h('time', { datetime: n.created_at }, fmt.datetime(n.created_at))),
          h('p', { class: 'note-body' }, n.body)))
        : h('li', { class: 'muted' }, 'No notes yet.'));
    } catch (e) {
      mount(list, e.offline ? h('li', { class: 'muted' }, 'Notes show when you are online.') : h('li', {}, errorBox(e, load)));
    }
  }

  if (canWrite) {
    const text = h('textarea', { name: 'body', rows: 3, maxlength: MAX, placeholder: 'e.g. replaced fuse, customer not home',
      oninput: () => drafts.set(id, text.value),
      onfocus: () => { typingIn = id; },
      onblur: () => { if (text.isConnected && typingIn === id) typingIn = null; } });
    text.value = drafts.get(id) || '';
    if (typingIn === id) requestAnimationFrame(() => { if (text.isConnected) { text.focus(); text.selectionStart = text.value.length; } });
    const btn = h('button', { type: 'submit', class: 'primary' }, 'Add note');
    const form = h('form', { novalidate: true, 'aria-label': 'New note', 'data-testid': 'note-form' },
      field('Add a note', text), h('div', { class: 'dlg-actions' }, btn));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      clearErrors(form);
      const body = text.value.trim();
      if (!body) return showErrors(form, { field: 'body', message: 'Write something first.' });
      if (body.length > MAX) return showErrors(form, { field: 'body', message: `A note holds at most ${MAX} characters.` });
      btn.disabled = true;
      try {
        await api.post(path, { body });
        text.value = '';
        drafts.delete(id);
        await load();
        onAdded();
      } catch (err) {
        showErrors(form, err.offline ? { message: 'You are offline: notes need a connection here. Your text is kept; try again when online.' } : err);
      } finally {
        btn.disabled = false;
      }
    });
    box.append(form);
  }
  load();
  return box;
}
