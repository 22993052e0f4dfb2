"""`aas annotate`: the web app (FastAPI on uvicorn) of the human check of the judge; what it
stores and how sides are chosen is `analysis/answers.py`. Its docstring says how it behaves."""

import hmac
import html
from pathlib import Path

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aas_dataset.analysis.answers import (
    ANSWERS,
    CHOICES,
    LOOPBACK,
    Answers,
    Pair,
    label_of,
    order_for,
    read_pairs,
    shown_first,
)

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body{{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa}} .imgs{{display:flex;gap:1em}}
.imgs figure{{margin:0;text-align:center}} img{{max-width:45vw;max-height:70vh;border:1px solid #999}}
button{{font-size:1.1em;margin:.4em;padding:.4em 1.2em}} .p{{max-width:90ch;font-size:1.1em}}
.meta{{color:#666}}</style></head><body>{body}</body></html>"""

_KEYS = """<script>
document.addEventListener('keydown', function (e) {
  var m = {a: 'left', ArrowLeft: 'left', l: 'right', ArrowRight: 'right', t: 'tie', ArrowDown: 'tie'};
  var c = m[e.key]; if (!c) return;
  e.preventDefault(); document.querySelector('button[value="' + c + '"]').click();
});
</script>"""


def create_app(folder: Path, *, blind: bool = True, token: str | None = None, seed: int = 0):
    folder = Path(folder)
    pairs = read_pairs(folder)
    # pages name a pair by its position in the release, never by its model (blind mode)
    by_pid = {str(k): p for k, p in enumerate(pairs)}
    key_of = {p.pid: str(k) for k, p in enumerate(pairs)}
    answers = Answers(folder / ANSWERS)
    app = FastAPI(title="aas annotate", docs_url=None, redoc_url=None, openapi_url=None)
    cache: dict = {}  # one row group of one image column at a time

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if token is None:
            return await call_next(request)
        given = request.query_params.get("token") or request.cookies.get("aas_token") or ""
        if not hmac.compare_digest(given, token):
            return Response("a token is needed (?token=...)", status_code=403)
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie("aas_token", token, httponly=True, samesite="strict")
        return response

    def page(title: str, body: str) -> HTMLResponse:
        return HTMLResponse(_PAGE.format(title=html.escape(title), body=body))

    def rater_of(request: Request) -> str | None:
        r = (request.cookies.get("aas_rater") or "").strip()
        return r or None

    @app.get("/")
    def start(request: Request):
        if rater_of(request):
            return RedirectResponse("/pair", status_code=303)
        return page(
            "aas annotate",
            "<h1>Which image follows the prompt?</h1><form method=post action=/start>"
            "<label>Your name <input name=rater id=rater required maxlength=64 autofocus></label> "
            "<button id=go>Start</button></form>",
        )

    @app.post("/start")
    def set_rater(rater: str = Form(...)):
        response = RedirectResponse("/pair", status_code=303)
        response.set_cookie("aas_rater", rater.strip()[:64], samesite="strict")
        return response

    @app.get("/pair")
    def next_pair(request: Request):
        rater = rater_of(request)
        if not rater:
            return RedirectResponse("/", status_code=303)
        done = answers.done(rater)
        todo = [p for p in order_for(rater, pairs, seed) if p.pid not in done]
        progress = f"<p class=meta id=progress>{len(done)} / {len(pairs)} answered · rater {html.escape(rater)}</p>"
        if not todo:
            return page("done", f"<h1>All pairs answered. Thank you.</h1>{progress}")
        p = todo[0]
        meta = ""
        if not blind:
            labels = ", ".join(f"{html.escape(k)}: {v}" for k, v in p.labels.items())
            meta = f"<p class=meta>{html.escape(p.model)} #{p.index} · judges {labels}</p>"
        pid = key_of[p.pid]
        body = (
            f"{progress}{meta}<p class=p id=prompt>{html.escape(p.prompt_distorted)}</p>"
            f'<div class=imgs><figure><img id=left src="/img/{pid}/left"><figcaption>A (key A or ←)</figcaption>'
            f'</figure><figure><img id=right src="/img/{pid}/right"><figcaption>B (key L or →)</figcaption>'
            f'</figure></div><form id=f method=post action=/answer><input type=hidden name=pid value="{pid}">'
            "<button name=choice value=left>A follows the prompt better</button>"
            "<button name=choice value=tie>Tie (T or ↓)</button>"
            "<button name=choice value=right>B follows the prompt better</button></form>" + _KEYS
        )
        return page(f"pair {len(done) + 1} of {len(pairs)}", body)

    @app.post("/answer")
    def answer(request: Request, pid: str = Form(...), choice: str = Form(...)):
        rater = rater_of(request)
        if not rater:
            return RedirectResponse("/", status_code=303)
        if pid not in by_pid or choice not in CHOICES:
            return Response("unknown pair or choice", status_code=400)
        p = by_pid[pid]
        first = shown_first(rater, p, seed)
        answers.put(rater, p, label_of(choice, first), first)  # committed before the next page
        return RedirectResponse("/pair", status_code=303)

    @app.get("/img/{pid}/{side}")
    def image(request: Request, pid: str, side: str):
        rater = rater_of(request)
        if pid not in by_pid or side not in ("left", "right") or not rater:
            return Response(status_code=404)
        p = by_pid[pid]
        first = shown_first(rater, p, seed)
        variant = first if side == "left" else ("distorted" if first == "original" else "original")
        return Response(_image_bytes(folder, p, variant, cache), media_type="image/png")

    return app


def _image_bytes(folder: Path, p: Pair, variant: str, cache: dict) -> bytes:
    import pyarrow.parquet as pq

    rel, rg, i = p.where
    key = (rel, rg, variant)
    if cache.get("key") != key:
        col = f"image_{variant}"
        cache.clear()
        cache.update(key=key, table=pq.ParquetFile(folder / rel).read_row_group(rg, columns=[col]).column(col))
    return cache["table"][i].as_py()["bytes"]


def serve(folder: Path, host: str = "127.0.0.1", port: int = 8765, *, blind: bool = True, token: str | None = None,
          seed: int = 0) -> None:  # fmt: skip
    import uvicorn

    if host not in LOOPBACK and not token:
        raise ValueError(f"listening on {host} (not loopback) needs a token: set AAS_ANNOTATE_TOKEN")
    uvicorn.run(create_app(folder, blind=blind, token=token, seed=seed), host=host, port=port, log_level="warning")
