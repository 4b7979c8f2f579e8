"""The in-browser explorer on GET /graphql: GraphiQL when its CDN is reachable, a built-in one otherwise."""

from __future__ import annotations

import html
import json

from starlette.responses import HTMLResponse

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gqlsync · __TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{margin:0;font:14px system-ui,sans-serif;height:100vh;display:flex;flex-direction:column}
 header{padding:6px 12px;background:#232f3e;color:#fff;display:flex;gap:12px;align-items:center}
 header input{flex:1;max-width:380px;font:inherit;padding:3px}
 #graphiql{flex:1;min-height:0}
 #basic{display:none;flex:1;min-height:0;gap:8px;padding:8px}
 #basic textarea,#basic pre{flex:1;font:13px ui-monospace,monospace;margin:0;border:1px solid #ccc;padding:6px;
   overflow:auto;white-space:pre-wrap}
 #basic .col{display:flex;flex-direction:column;flex:1;gap:6px}
</style>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css" crossorigin>
</head><body>
<header><b>gqlsync</b><span>__TITLE__</span><label>x-api-key <input id="apikey" value="__KEY__"></label></header>
<div id="graphiql"></div>
<div id="basic"><div class="col">
<textarea id="q">query {\n  __typename\n}</textarea>
<textarea id="v" placeholder="variables (JSON)">{}</textarea><button id="run">Run ▶</button></div>
<pre id="out"></pre></div>
<script>
const endpoint = __ENDPOINT__;
async function fetcher(params) {
  const r = await fetch(endpoint, {method: "POST", headers: {"content-type": "application/json",
    "x-api-key": document.getElementById("apikey").value}, body: JSON.stringify(params)});
  return r.json();
}
function basic() {
  document.getElementById("graphiql").style.display = "none";
  document.getElementById("basic").style.display = "flex";
  document.getElementById("run").onclick = async () => {
    let variables = {};
    try { variables = JSON.parse(document.getElementById("v").value || "{}"); }
    catch (e) { document.getElementById("out").textContent = "variables: " + e; return; }
    const res = await fetcher({query: document.getElementById("q").value, variables});
    document.getElementById("out").textContent = JSON.stringify(res, null, 2);
  };
}
function load(src) { return new Promise((ok, fail) => { const s = document.createElement("script");
  s.src = src; s.crossOrigin = "anonymous"; s.onload = ok; s.onerror = fail; document.head.appendChild(s); }); }
(async () => {
  try {
    await load("https://unpkg.com/react@18/umd/react.production.min.js");
    await load("https://unpkg.com/react-dom@18/umd/react-dom.production.min.js");
    await load("https://unpkg.com/graphiql@3/graphiql.min.js");
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {fetcher}));
  } catch (e) { basic(); }
})();
</script></body></html>"""


def explorer_page(title: str, endpoint: str, api_key: str) -> HTMLResponse:
    page = (_PAGE.replace("__TITLE__", html.escape(title))
            .replace("__KEY__", html.escape(api_key, quote=True))
            .replace("__ENDPOINT__", json.dumps(endpoint).replace("<", "\\u003c")))
    return HTMLResponse(page)
