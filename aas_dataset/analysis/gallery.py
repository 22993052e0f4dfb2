"""The pairs gallery of `aas report`: self-contained HTML pages, one prompt at a time with every
model's pair side by side.

Pages hold `per_page` pairs in prompt order (all models of a prompt together), linked by
previous / next; nothing is sampled away. Each card shows I_o and I_a with what they were made
from, the judges' labels in words, and per scorer whether it prefers the image that follows p_a
(auxiliary outputs, BLIP's no-match logit or HPSv3's log σ, are shown as values, never as a
preference). In the page: filters by model, dimension and ground-truth label, a filter for pairs
where a scorer disagrees with the ground truth, sort by a scorer's preference margin, click an
image to zoom. Images are embedded as JPEG thumbnails; one that does not decode is named.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from aas_dataset.spec.images import ImageProblem, jpeg_thumbnail

AUX = ("_neg", "_log_sigma", "_sigma")
LABEL_WORDS = {1: "chose I_a", 0: "chose I_o", -1: "tie", None: "no label"}


def thumb_url(png: bytes, size: int = 320) -> str:
    """A JPEG data URL of the stored image; ImageProblem if it does not decode."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_thumbnail(png, size)).decode()


def _light_rows(folder: Path, manifest: dict) -> list[dict]:
    """Every pair without its images (the `scores` config), in prompt order."""
    import pyarrow.parquet as pq

    rows = []
    for rel in sorted(p for p, f in manifest["files"].items() if f.get("config") == "scores"):
        rows += pq.read_table(folder / rel).to_pylist()
    order = {m: i for i, m in enumerate(dict.fromkeys(r["model"] for r in rows))}
    return sorted(rows, key=lambda r: (r["index"], order[r["model"]]))


def _images(folder: Path, manifest: dict, wanted: set[tuple[str, int]]) -> dict:
    """(model, index) -> (I_o bytes, I_a bytes) of the wanted pairs, one row group at a time."""
    import pyarrow.parquet as pq

    out = {}
    for rel in sorted(p for p, f in manifest["files"].items() if f.get("config") == "pairs"):
        pf = pq.ParquetFile(folder / rel, pre_buffer=False)
        for rg in range(pf.num_row_groups):
            keys = pf.read_row_group(rg, columns=["model", "index"]).to_pylist()
            hit = [i for i, k in enumerate(keys) if (k["model"], k["index"]) in wanted]
            if not hit:
                continue
            t = pf.read_row_group(rg, columns=["image_original", "image_distorted"])
            for i in hit:
                k = keys[i]
                out[(k["model"], k["index"])] = (
                    t.column("image_original")[i].as_py()["bytes"],
                    t.column("image_distorted")[i].as_py()["bytes"],
                )
    return out


def page_name(k: int) -> str:
    return "gallery.html" if k == 0 else f"gallery-{k + 1}.html"


def gallery_pages(
    folder: Path, manifest: dict, per_page: int = 200, ground_truth: str | None = None, failures: list | None = None
) -> list[tuple[str, str]]:
    """(file name, HTML) of every gallery page."""
    folder = Path(folder)
    rows = _light_rows(folder, manifest)
    n = len(rows)
    per_page = max(1, per_page)
    chunks = [rows[i : i + per_page] for i in range(0, n, per_page)] or [[]]
    scorers = sorted(
        {c[len("score_") :] for r in rows[:1] for c in r if c.startswith("score_") and not c.endswith(AUX)}
    )
    models = list(dict.fromkeys(r["model"] for r in rows))
    dims = sorted({d for r in rows for d in (r.get("selected_dims") or [])})
    pages = []
    for k, chunk in enumerate(chunks):
        imgs = _images(folder, manifest, {(r["model"], r["index"]) for r in chunk})
        pages.append(
            (
                page_name(k),
                _page(
                    manifest, chunk, imgs, k, len(chunks), n, per_page, scorers, models, dims, ground_truth, failures
                ),
            )
        )
    return pages


def _opts(values) -> str:
    return "".join(f'<option value="{html.escape(str(v))}">{html.escape(str(v))}</option>' for v in values)


def _page(m, chunk, imgs, k, n_pages, n, per_page, scorers, models, dims, gt, failures) -> str:
    esc = html.escape
    first = k * per_page + 1
    nav = []
    if k > 0:
        nav.append(f'<a id="prev" href="{page_name(k - 1)}">← previous</a>')
    nav.append(f"page {k + 1} of {n_pages}")
    if k + 1 < n_pages:
        nav.append(f'<a id="next" href="{page_name(k + 1)}">next →</a>')
    head = (
        f"<h1>{esc(m['name'])} v{esc(str(m['version']))}: pairs {first}–{first + len(chunk) - 1} of {n}</h1>"
        f"<p class=nav>{' · '.join(nav)}</p>"
        '<div class=filters>model <select id=fm onchange="apply()"><option value="">all</option>'
        f"{_opts(models)}</select> dimension "
        f'<select id=fd onchange="apply()"><option value="">all</option>{_opts(dims)}</select>'
        + (
            f' judge <code>{esc(gt)}</code> <select id=fl onchange="apply()"><option value="">any</option>'
            '<option value="1">chose I_a</option><option value="0">chose I_o</option>'
            '<option value="-1">tie</option></select>'
            if gt
            else ""
        )
        + ' disagreeing scorer <select id=fx onchange="apply()"><option value="">—</option>'
        + _opts(scorers)
        + '</select> sort by <select id=fs onchange="apply()"><option value="">prompt</option>'
        + _opts(scorers)
        + "</select> <span id=count></span></div>"
        "<p class=p>Each card: I_o made from p_o, I_a made from p_a. A scorer badge is green when it scores the "
        "image that follows p_a higher under p_a (r(I_a,p_a) &gt; r(I_o,p_a)), red otherwise; grey values are "
        "auxiliary outputs, not preferences. Click an image to zoom.</p>"
    )
    body = []
    for index in dict.fromkeys(r["index"] for r in chunk):
        group = [r for r in chunk if r["index"] == index]
        r0 = group[0]
        cards = []
        for r in group:
            cards.append(_card(r, imgs.get((r["model"], r["index"])), gt, failures))
        dims_text = esc(", ".join(r0.get("selected_dims") or []))
        body.append(
            f'<section class=prompt data-index="{index}"><h2>#{index} · {dims_text}</h2>'
            f"<p class=p><b>p_o</b> {esc(r0['prompt_original'])}</p>"
            f"<p class=p><b>p_a</b> {esc(r0['prompt_distorted'])}</p>"
            f"<div class=grid>{''.join(cards)}</div></section>"
        )
    return _HEAD + head + "".join(body) + _ZOOM + _JS


def _card(r: dict, pair, gt: str | None, failures) -> str:
    esc = html.escape
    figs = ""
    for i, (variant, cap) in enumerate((("original", "I_o, from p_o"), ("distorted", "I_a, from p_a"))):
        try:
            src = thumb_url(pair[i]) if pair else None
            figs += f'<figure><img alt="{cap}" src="{src}" onclick="zoom(this)"><figcaption>{cap}</figcaption></figure>'
        except ImageProblem as e:
            figs += f'<figure><span class="b down">{cap}: {esc(str(e))}</span></figure>'
            if failures is not None:
                failures.append(f"{r['model']} #{r['index']}, image_{variant}: {e}")
    labels = "".join(
        f'<span class="b lab">{esc(k[len("label_") :])}: {LABEL_WORDS.get(v, str(v))}</span>'
        for k, v in r.items()
        if k.startswith("label_")
    )
    badges, margins = [], {}
    for k, v in r.items():
        if not k.startswith("score_") or not isinstance(v, dict) or v.get("didp") is None or v.get("oidp") is None:
            continue
        name = k[len("score_") :]
        if k.endswith(AUX):
            badges.append(f'<span class="b aux">{esc(name)} {v["didp"]:.3g}</span>')
            continue
        d = v["didp"] - v["oidp"]
        margins[name] = d
        word = "prefers I_a" if d > 0 else "prefers I_o"
        badges.append(f'<span class="b {"up" if d > 0 else "down"}" title="{word}">{esc(name)} {d:+.3g}</span>')
    gt_label = r.get(f"label_{gt}") if gt else None
    data = {
        "model": r["model"],
        "dims": "|".join(r.get("selected_dims") or []),
        "label": "" if gt_label is None else str(gt_label),
        "margins": json.dumps(margins),
    }
    attrs = " ".join(f'data-{k}="{esc(v, quote=True)}"' for k, v in data.items())
    title = f"<div class=m><b>{esc(r['model'])}</b></div>"
    return f"<div class=card {attrs}>{title}{figs}<div>{labels}</div><div>{''.join(badges)}</div></div>"


_HEAD = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>gallery</title><style>
body{font-family:system-ui,sans-serif;margin:12px;background:#f6f6f4;color:#222}
h1{font-size:18px} h2{font-size:14px;margin:6px 0} .nav a{margin:0 6px}
.filters{position:sticky;top:0;background:#f6f6f4;padding:6px 0;z-index:2;font-size:13px}
.filters select{margin:2px 8px 2px 2px}
section.prompt{background:#fff;border:1px solid #ddd;margin:10px 0;padding:8px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:8px}
.card{border:1px solid #e3e3e3;padding:6px;background:#fcfcfc}
.card figure{display:inline-block;width:48%;margin:0 1% 4px 0;vertical-align:top}
.card img{width:100%;height:auto;background:#ccc;cursor:zoom-in}
figcaption{font-size:11px;color:#555}
.p{font-size:13px;margin:3px 0;overflow-wrap:anywhere}
.b{display:inline-block;font-size:11px;padding:1px 5px;margin:1px;border-radius:3px;background:#eee}
.up{background:#d6ecd2}.down{background:#f3d6d2}.aux{background:#e8e8e8;color:#666}.lab{background:#dde6f3}
.hidden{display:none}
#zoom{position:fixed;inset:0;background:rgba(0,0,0,.85);display:none;align-items:center;justify-content:center;z-index:9}
#zoom img{max-width:95vw;max-height:95vh;image-rendering:pixelated}
</style></head><body>
"""

_ZOOM = '<div id=zoom onclick="this.style.display=\'none\'"><img id=zoomed alt="zoomed"></div>'

_JS = """<script>
function zoom(img){document.getElementById('zoomed').src=img.src;document.getElementById('zoom').style.display='flex';}
function val(id){const e=document.getElementById(id);return e?e.value:'';}
function apply(){
  const m=val('fm'), d=val('fd'), l=val('fl'), x=val('fx'), s=val('fs');
  let shown=0;
  for(const c of document.querySelectorAll('.card')){
    const mg=JSON.parse(c.dataset.margins||'{}');
    let ok=(!m||c.dataset.model===m)&&(!d||c.dataset.dims.split('|').includes(d))&&(!l||c.dataset.label===l);
    if(ok&&x){ok=(x in mg)&&(c.dataset.label==='0'||c.dataset.label==='1')&&((mg[x]>0)!==(c.dataset.label==='1'));}
    c.classList.toggle('hidden',!ok); if(ok) shown++;
  }
  for(const sec of document.querySelectorAll('section.prompt')){
    const grid=sec.querySelector('.grid');
    if(s){[...grid.children].sort((a,b)=>(JSON.parse(b.dataset.margins)[s]??-1e9)-(JSON.parse(a.dataset.margins)[s]??-1e9)).forEach(c=>grid.appendChild(c));}
    sec.classList.toggle('hidden',!sec.querySelector('.card:not(.hidden)'));
  }
  document.getElementById('count').textContent=shown+' pairs shown';
}
window.addEventListener('load',()=>{
  const imgs=[...document.querySelectorAll('.card img')], ok=imgs.filter(i=>i.complete&&i.naturalWidth>0).length;
  document.title='gallery: '+ok+'/'+imgs.length+' images loaded';
  document.body.dataset.loaded=ok; apply();
});
</script></body></html>"""
