"""``sctool serve``: one local page to paste generated code and see where it came from.

The page posts the text to ``/api/attribute``; the answer carries the membership result (covered
fraction, longest chain, the spans that hit, their source documents) and, when the index has a
full-text part, the search hits for the text's identifiers. The server binds to 127.0.0.1 only: it
reads the corpus's documents and is not meant to face a network.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sctool.attribution.membership import MembershipIndex
from sctool.errors import SctoolError

HOST = "127.0.0.1"
MAX_BODY = 1 << 20
SEARCH_TERMS = 48

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sctool attribution</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}
textarea{width:100%;height:14em;font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:13px;white-space:pre-wrap}
mark{background:#ffb3b3} .hl{background:#fff0a0} .muted{color:#777}
li{margin-bottom:.8em} button{font-size:1em;padding:.3em 1.2em}
</style></head><body>
<h1>Where did this code come from?</h1>
<p class="muted">Index: <span id="index-name"></span>. Paste generated code; windows of __WINDOW__ non-space
characters found in the training data are highlighted, with the documents they come from.</p>
<textarea id="code" placeholder="paste code here"></textarea>
<p><label><input type="checkbox" id="exact"> exact re-check against the dataset</label>
<button id="go">Check</button> <span id="status" class="muted"></span></p>
<div id="result" hidden>
<h2>Membership</h2><p id="summary"></p><pre id="highlighted"></pre>
<h3>Sources</h3><ol id="sources"></ol>
<div id="search-part"><h2>Full-text search</h2><ol id="search"></ol></div>
</div>
<script>
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
function marked(text, spans, cls) {
  const frag = document.createDocumentFragment(); let last = 0;
  const chars = Array.from(text);
  for (const [a, b] of spans) {
    frag.append(chars.slice(last, a).join(""));
    const m = el(cls === "hl" ? "span" : "mark", chars.slice(a, b).join(""), cls); frag.append(m); last = b;
  }
  frag.append(chars.slice(last).join("")); return frag;
}
function where(s) { return [s.repo, s.path].filter(Boolean).join("/") || s.id; }
$("index-name").textContent = __INDEX__;
$("go").addEventListener("click", async () => {
  const text = $("code").value; $("status").textContent = "checking…";
  const r = await fetch("/api/attribute", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({text, exact: $("exact").checked})});
  const d = await r.json();
  if (!r.ok) { $("status").textContent = "error: " + d.error; return; }
  $("status").textContent = "";
  const a = d.attribution;
  $("summary").textContent = `covered ${(100 * a.covered_fraction).toFixed(1)}% of ${a.chars} non-space characters; ` +
    `longest chain ${a.longest_chain} characters; ${a.spans.length} span(s)` + (a.exact ? " (exact)" : "");
  $("highlighted").replaceChildren(marked(text, a.spans));
  $("sources").replaceChildren(...a.sources.map((s) => {
    const li = el("li"); li.append(el("code", where(s)));
    li.append(el("span", ` — ${s.windows} window(s)` + (s.license ? `, licence ${s.license}` : "") + `, id ${s.id}`, "muted"));
    li.className = "source"; return li; }));
  if (d.search === null) { $("search-part").hidden = true; }
  else {
    $("search-part").hidden = false;
    $("search").replaceChildren(...d.search.map((h) => {
      const li = el("li"); li.className = "hit"; li.append(el("code", where(h)));
      li.append(el("span", ` — score ${h.score}` + (h.license ? `, licence ${h.license}` : "") + `, line ${h.excerpt_line}`, "muted"));
      const pre = el("pre"); pre.append(marked(h.excerpt, h.highlights, "hl")); li.append(pre); return li; }));
  }
  $("result").hidden = false;
});
</script></body></html>
"""


class AttributionApp:
    """What the handler calls: the opened indexes, shared by the server's threads."""

    def __init__(self, index_dir: str | Path, *, top: int = 10) -> None:
        self.index_dir = Path(index_dir)
        self.index = MembershipIndex(self.index_dir)
        self.top = top
        self.search = None
        if self.index.has_search:
            try:
                from sctool.attribution.search import SearchIndex

                self.search = SearchIndex(self.index_dir)
            except SctoolError:
                self.search = None
        self.lock = threading.Lock()

    def page(self) -> bytes:
        html = PAGE.replace("__WINDOW__", str(self.index.window)).replace("__INDEX__", json.dumps(self.index_dir.name))
        return html.encode("utf-8")

    def attribute(self, payload: dict[str, Any]) -> dict[str, Any]:
        text = payload.get("text")
        if not isinstance(text, str):
            raise ValueError("body must be a JSON object with a string 'text'")
        with self.lock:
            (a,) = self.index.attribute([text], exact=bool(payload.get("exact")), top=self.top, threads=1)
        hits = None
        if self.search is not None:
            from sctool.attribution.search import analyse

            terms = list(dict.fromkeys(analyse(text)))[:SEARCH_TERMS]
            hits = [h.to_dict() for h in self.search.search(" ".join(terms), k=5)] if terms else []
        return {"attribution": a.to_dict(), "search": hits}


def make_handler(app: AttributionApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "sctool-serve"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the CLI prints the URL once
            return

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj: Any) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json")

        def do_GET(self) -> None:
            if self.path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, app.page(), "text/html; charset=utf-8")
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page {self.path}"})

        def do_POST(self) -> None:
            if self.path != "/api/attribute":
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint {self.path}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"text over {MAX_BODY} bytes"})
                return
            try:
                payload = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("body must be a JSON object")
                self._json(HTTPStatus.OK, app.attribute(payload))
            except (ValueError, SctoolError) as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})

    return Handler


def make_server(index_dir: str | Path, port: int = 8000) -> ThreadingHTTPServer:
    """A server for ``index_dir`` on 127.0.0.1:``port`` (0 = any free port); call ``serve_forever``."""
    app = AttributionApp(index_dir)
    server = ThreadingHTTPServer((HOST, port), make_handler(app))
    server.daemon_threads = True
    return server
