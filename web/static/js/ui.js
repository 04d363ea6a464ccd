// ui.js: small DOM helpers shared by the dashboard and the field portal.
import { STATUS_LABEL, PRIORITY_LABEL, isOverdue } from './status.js';

/**
 * h creates an element. attrs: class, text, html-free children, on<Event> handlers, dataset via
 * data-*, boolean attributes by true/false. Children may be nodes, strings, arrays, null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag.includes(':') || ['svg', 'g', 'path', 'circle', 'rect', 'polygon', 'text', 'line', 'polyline', 'title'].includes(tag)
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.replace(/^svg:/, ''))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'selected') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** clear empties el and appends children. */
export function mount(el, ...children) { el.replaceChildren(); append(el, children); return el; }

export function loading(text = 'Loading…') {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

export function errorBox(err, retry) {
  return h('div', { class: 'form-error', role: 'alert' }, err?.message || String(err),
    retry ? [' ', h('button', { type: 'button', class: 'link', onclick: retry }, 'Try again')] : null);
}

export function statusBadge(s) { return h('span', { class: `badge s-${s}`, 'data-status': s }, STATUS_LABEL[s] || s); }
export function priorityBadge(p) { return h('span', { class: `badge p-${p}` }, PRIORITY_LABEL[p] || p); }
export function overdueBadge(t) { return isOverdue(t) ? h('span', { class: 'badge overdue', 'data-overdue': '' }, 'Overdue') : null; }

const nf = new Intl.NumberFormat();
export const fmt = {
  num: n => (n === undefined || n === null ? '—' : nf.format(n)),
  pct01: r => (r === undefined || r === null ? '—' : `${Math.round(r * 100)}%`),
  pct100: r => (r === undefined || r === null ? '—' : `${Math.round(r)}%`),
  hours: x => (x ? `${x.toFixed(1)} h` : '—'),
  rating: x => (x ? x.toFixed(1) : '—'),
  date: s => (s ? new Date(s).toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) : '—'),
  datetime: s => (s ? new Date(s).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }) : '—'),
  time: d => d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' }),
  /** due describes a due date relative to now: "in 3 h", "2 d ago". */
  due(s, now = Date.now()) {
    if (!s) return '—';
    const d = Date.parse(s) - now, a = Math.abs(d);
    const u = a < 3600e3 ? `${Math.max(1, Math.round(a / 60e3))} min` : a < 86400e3 ? `${Math.round(a / 3600e3)} h` : `${Math.round(a / 86400e3)} d`;
    return d >= 0 ? `in ${u}` : `${u} ago`;
  },
};

/** toast shows a short message at the bottom of the screen, announced to screen readers. */
export function toast(msg, kind = 'info') {
  let box = document.querySelector('.toasts');
  if (!box) { box = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' }); document.body.append(box); }
  const t = h('div', { class: `toast ${kind}` }, msg);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 7000 : 3500);
}

/** clearErrors removes the messages showErrors added to form. */
export function clearErrors(form) {
  form.querySelectorAll('.field-error, .form-error').forEach(e => e.remove());
  form.querySelectorAll('.invalid').forEach(e => { e.classList.remove('invalid'); e.removeAttribute('aria-invalid'); e.removeAttribute('aria-describedby'); });
}

/**
 * showErrors puts err's detail next to the input named err.field in form, or at the top of the
 * form when there is no such input, and focuses the offending input.
 */
export function showErrors(form, err) {
  clearErrors(form);
  const input = err.field ? form.querySelector(`[name="${CSS.escape(err.field)}"]`) : null;
  if (input) {
    const id = `err-${err.field}-${Math.random().toString(36).slice(2, 7)}`;
    input.classList.add('invalid');
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', id);
    (input.closest('.field') || input.parentElement).append(h('div', { class: 'field-error', id, role: 'alert' }, err.message));
    input.focus();
  } else {
    form.prepend(h('div', { class: 'form-error', role: 'alert' }, err.message));
  }
}

/** confirmDialog asks a yes/no question in a modal; resolves true when confirmed. */
export function confirmDialog(message, confirmLabel = 'Confirm', danger = true, cancelLabel = 'Keep it') {
  return new Promise(resolve => {
    const dlg = h('dialog', { 'aria-label': 'Confirm' },
      h('div', { class: 'dlg' },
        h('p', {}, message),
        h('div', { class: 'dlg-actions' },
          h('button', { type: 'button', onclick: () => close(false) }, cancelLabel),
          h('button', { type: 'button', class: danger ? 'danger' : 'primary', onclick: () => close(true) }, confirmLabel))));
    function close(v) { dlg.close(); dlg.remove(); resolve(v); }
    dlg.addEventListener('cancel', e => { e.preventDefault(); close(false); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** field builds a labelled form control wrapper. */
export function field(label, control, hint) {
  const id = control.id || `f-${control.name || Math.random().toString(36).slice(2, 8)}-${Math.random().toString(36).slice(2, 6)}`;
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('div', { class: 'small muted' }, hint) : null);
}

/** select builds a <select> from [value, label] pairs. */
export function select(name, options, value, attrs = {}) {
  return h('select', { name, ...attrs }, options.map(([v, l]) => h('option', { value: v, selected: String(v) === String(value ?? '') }, l)));
}

/** debounce delays fn until calls stop for ms. */
export function debounce(fn, ms = 300) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}
