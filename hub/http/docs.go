package http

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// docsScript renders /openapi.json in the browser. It is inline and allowed by its hash in the
// Content-Security-Policy, so the page needs no CDN and runs nothing else. All text from the
// document is inserted with textContent, never as markup.
const docsScript = `
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
fetch('/openapi.json').then(r => r.json()).then(doc => {
  const main = document.getElementById('main');
  main.textContent = '';
  main.append(el('p', '', doc.info.description));
  const byTag = {};
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) {
    (byTag[op.tags[0]] = byTag[op.tags[0]] || []).push({path, method, op});
  }
  for (const [tag, ops] of Object.entries(byTag)) {
    main.append(el('h2', '', tag));
    for (const {path, method, op} of ops) {
      const d = el('details', 'op');
      const s = el('summary');
      s.append(el('span', 'm ' + method, method.toUpperCase()), el('code', '', path), el('span', 'sum', op.summary));
      d.append(s);
      const roles = op['x-roles'];
      d.append(el('p', 'roles', 'Access: ' + (typeof roles === 'string' ? roles : Object.entries(roles).map(([r, a]) => r + ' ' + a).join(', '))));
      if (op.parameters) {
        const t = el('table'); t.append(el('tr', '', ''));
        t.firstChild.append(el('th', '', 'parameter'), el('th', '', 'in'), el('th', '', 'type'), el('th', '', 'description'));
        for (const p of op.parameters) { const tr = el('tr'); tr.append(el('td', '', p.name), el('td', '', p.in), el('td', '', p.schema.format || p.schema.type), el('td', '', p.description || '')); t.append(tr); }
        d.append(t);
      }
      const schemaOf = c => c && Object.values(c)[0] && Object.values(c)[0].schema;
      const show = (label, sch) => { if (!sch) return; d.append(el('h4', '', label)); d.append(el('pre', '', JSON.stringify(resolve(sch, doc, 0), null, 2))); };
      if (op.requestBody) show('Request body (' + Object.keys(op.requestBody.content).join(', ') + ')', schemaOf(op.requestBody.content));
      for (const [code, resp] of Object.entries(op.responses)) if (code !== 'default') show('Response ' + code, schemaOf(resp.content));
      main.append(d);
    }
  }
  main.append(el('h2', '', 'Problem types'));
  const ul = el('ul'); for (const t of doc['x-problem-types']) ul.append(el('li', '', t)); main.append(ul);
}).catch(e => { document.getElementById('main').textContent = 'could not load /openapi.json: ' + e; });
function resolve(s, doc, depth) {
  if (depth > 4 || s === null || typeof s !== 'object') return s;
  if (Array.isArray(s)) return s.map(x => resolve(x, doc, depth + 1));
  if (s.$ref) { const name = s.$ref.split('/').pop(); const o = resolve(doc.components.schemas[name], doc, depth + 1); return o && o.properties ? Object.assign({'(schema)': name}, o.properties) : o; }
  const out = {}; for (const [k, v] of Object.entries(s)) out[k] = resolve(v, doc, depth + 1); return out;
}
`

const docsPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>AIFF hub API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:1rem 1.5rem;color:#1b1f24}
h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;text-transform:capitalize}
.op{border:1px solid #e3e6ea;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer;display:flex;gap:.7rem;align-items:baseline}
.m{font:600 12px monospace;padding:2px 6px;border-radius:4px;color:#fff;min-width:3.5rem;text-align:center}
.get{background:#2f7d32}.post{background:#1565c0}.put{background:#b26a00}.delete{background:#c62828}
.sum{color:#555}.roles{color:#444;font-size:13px}pre{background:#f6f8fa;padding:.6rem;overflow:auto;font-size:12px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #e3e6ea;padding:2px 6px;text-align:left}
</style></head>
<body><h1>AIFF hub API</h1><p><a href="/openapi.json">openapi.json</a> · bearer tokens from <code>POST /api/auth/login</code></p>
<div id="main">Loading…</div>
<script>` + docsScript + `</script></body></html>`

var docsCSP = func() string {
	sum := sha256.Sum256([]byte(docsScript))
	return strings.Join([]string{
		"default-src 'none'",
		"connect-src 'self'",
		"style-src 'unsafe-inline'",
		"script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'",
	}, "; ")
}()

func (s *Server) handleDocs(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", docsCSP)
	w.Write([]byte(docsPage))
	return nil
}
