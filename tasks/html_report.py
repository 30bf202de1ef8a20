"""The run's HTML gallery: ``ROOT/reports/RUN_ID/index.html``, one card per clip.

A self-contained page (inline CSS and a small inline script for sorting, filtering, search and
paging; no CDN, no fonts, no request to anything but the output root) that a person opens to
review a run: each clip's animation playing, its poster, prompt, method, prior (the tiny test
prior clearly labelled untrained), status, metrics, failures with their error, and a run summary
(counts, metric means and spread, wall time).

It stays usable at 10,000 clips: the page shows `PAGE_SIZE` cards at a time. It is written with
the first page's cards as markup, a compact index of every row (what sorting, filtering and
search read) and every card's markup packed (gzip, base64); the script sorts and filters the
index and makes a card from its markup only when a page shows it. `_card` alone writes a card's
markup, for the first page and the packed ones alike: a new per-row block is one more entry in
its ``parts``.

Media are linked relatively (``../../media/<sha[:2]>/<sha><suffix>``) from their content
addresses, never by absolute path, so the report works from a copied folder, over any static
HTTP server or from an S3 bucket. On an ``s3://`` root the page is written there with fsspec
in the same layout.

Cards play the transparent VP9 WebM when the clip has one, else the MP4, in a ``<video autoplay
loop muted playsinline poster=…>`` (WebM first, MP4 as the second source); where a browser can
play neither the script swaps in the animated SVG (SMIL) as an ``<img>``, and the poster stays
as the last fallback. Every published file (MP4, WebM, WebP, APNG, Lottie JSON, GIF, SVG,
poster) has a download link. A clip with a Lottie gets a "play Lottie" button: lottie-web (MIT,
from ``FLEXICLIP_LOTTIE_WEB`` or the checkout's .cache, never a CDN) is copied to
``ROOT/reports/assets/`` and plays the fetched ``animation.json`` in place of the video. All catalog text (prompts, errors, warnings) is
untrusted and HTML-escaped; a Content-Security-Policy with the hashes of the inline script and
style keeps any markup that slipped through from running or loading anything.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import logging
import math
import os
import re
import statistics
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalogs.output import OutputCatalog
from catalogs.rows import OutputRow, Status
from catalogs.storage import s3_path
from flexiclip_core.file_mode import published_file_mode
from flexiclip_core.metrics import METRIC_COLUMNS
from flexiclip_core.output_kinds import OUTPUT_KINDS

__all__ = [
    "REPORTS_FOLDER",
    "METRIC_INFO",
    "MetricInfo",
    "report_folder_name",
    "latest_run_id",
    "media_href",
    "render_report_html",
    "write_report",
]

log = logging.getLogger(__name__)

PAGE_SIZE = 200
"""Cards per page: the page is written with the first page's cards; the others are made in the
browser from the packed markup of every card when a later page (or another order) shows them."""
REPORTS_FOLDER = "reports"
"""Folder under the output root that holds one ``<run>/index.html`` per run."""

_MEDIA_NAME = re.compile(r"^([0-9a-f]{64})((?:\.[A-Za-z0-9]{1,16}){1,3})$")
_SAFE_RUN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class MetricInfo:
    """How the report labels one metric column (docs/metrics.md §2–4)."""

    label: str
    """Short human name."""
    better: str
    """'higher' or 'lower'."""
    unit: str = ""
    """Unit shown after the value ('' when unitless)."""


METRIC_INFO: dict[str, MetricInfo] = {
    "motion_vitality": MetricInfo("motion vitality", "higher", "px"),
    "temporal_jerk": MetricInfo("temporal jerk", "lower", "px/frame²"),
    "rigidity_error": MetricInfo("rigidity error", "lower", "×100"),
    "deformation_roughness": MetricInfo("deformation roughness", "lower", "×100"),
    "animation_energy": MetricInfo("animation energy", "higher", "px²/frame²"),
    "bone_length_error": MetricInfo("bone length error", "lower", "%"),
    "temporal_consistency": MetricInfo("temporal consistency", "higher"),
    "identity_ssim": MetricInfo("identity SSIM", "higher"),
    "coverage_iou": MetricInfo("coverage IoU", "higher"),
    "identity_lpips": MetricInfo("identity LPIPS", "lower"),
    "clip_identity": MetricInfo("CLIP identity", "higher"),
    "text_alignment": MetricInfo("text alignment", "higher"),
}
"""Label, better direction and unit of every metric column (keys == METRIC_COLUMNS)."""

_UNTRAINED_TEXT = (
    "UNTRAINED test prior: random weights, the motion is not driven by the prompt and says "
    "nothing about the method's quality"
)


# ---------------------------------------------------------------------------------------------
# Where things go


def report_folder_name(run_id: str) -> str:
    """The folder name of ``run_id``'s report: the id itself when it is a safe path segment
    (letters, digits, ``_.-``), else a sanitised form plus 8 hex of its sha256 (never ``..``)."""
    if _SAFE_RUN.fullmatch(run_id) and run_id not in (".", ".."):
        return run_id
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("._")[:64] or "run"
    return f"{cleaned}-{hashlib.sha256(run_id.encode('utf-8')).hexdigest()[:8]}"


def media_href(uri: str | None, *, depth: int = 2) -> str | None:
    """Relative link from ``ROOT/reports/RUN/`` to a content-addressed media URI, or None.

    Only the content address (``<sha256><suffix>``, the last path segment) of ``uri`` is used,
    so links stay right when the root is copied or moved; a URI that is not content-addressed
    gives None (the report never links an absolute path).
    """
    if not uri or not isinstance(uri, str):
        return None
    name = uri.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    match = _MEDIA_NAME.fullmatch(name)
    if match is None:
        log.warning("media URI %r is not content-addressed; not linked from the report", uri)
        return None
    return "../" * depth + f"media/{match.group(1)[:2]}/{name}"


def latest_run_id(catalog: OutputCatalog) -> str | None:
    """The run of the newest commit that names one, or None when the table has no run yet."""
    for entry in reversed(catalog.history()):
        if entry.get("run_id"):
            return str(entry["run_id"])
    return None


# ---------------------------------------------------------------------------------------------
# Values


def _finite(value: float | None) -> float | None:
    """``value`` when it is a finite number, else None (shown as n/a, left out of the summary)."""
    return value if value is not None and math.isfinite(value) else None


def _metric(row: OutputRow, column: str) -> float | None:
    return _finite(row.metrics.get(column))


def _format_number(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}"


def _esc(value: Any) -> str:
    """HTML-escaped text (also safe inside double- or single-quoted attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


# ---------------------------------------------------------------------------------------------
# The page


_STYLE = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;background:#f3f4f7}
header{padding:16px 24px;background:#1d2330;color:#fff}
header h1{margin:0 0 4px;font-size:20px}
header .sub{color:#c5cad6;font-size:12px;word-break:break-all}
main{padding:16px 24px}
.banner{margin:0 0 16px;padding:10px 14px;border-radius:6px;background:#fff4d6;border:1px solid #e0b341;color:#5a4200}
.summary{display:flex;flex-wrap:wrap;gap:16px;margin-bottom:16px}
.panel{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.panel h2{margin:0 0 8px;font-size:15px}
.counts span{display:inline-block;margin-right:12px}
table{border-collapse:collapse}
th,td{padding:2px 8px;text-align:right;font-variant-numeric:tabular-nums}
th:first-child,td:first-child{text-align:left}
thead th{border-bottom:1px solid #ccd}
.controls{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin-bottom:16px}
.controls label{display:flex;gap:6px;align-items:center}
.controls input[type=number]{width:90px}
#cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:16px}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 2px rgba(0,0,0,.08);overflow:hidden;display:flex;flex-direction:column}
.pager{display:flex;gap:12px;align-items:center;justify-content:center;margin:16px 0}
.media{background:#fff;aspect-ratio:1/1;display:flex;align-items:center;justify-content:center;border-bottom:1px solid #eee}
.media video,.media img{width:100%;height:100%;object-fit:contain}
.media .none{color:#8a90a0;padding:16px;text-align:center}
.media .side-by-side{display:grid;grid-template-columns:1fr 1fr;gap:2px;width:100%;height:100%}
.media .side-by-side figure{margin:0;min-width:0;display:flex;align-items:center;justify-content:center}
.body{padding:10px 12px;display:flex;flex-direction:column;gap:6px}
.title{display:flex;justify-content:space-between;align-items:center;gap:8px}
.title b{word-break:break-all}
.status{border-radius:10px;padding:1px 8px;font-size:12px;color:#fff}
.status-succeeded{background:#2e7d32}.status-failed{background:#c62828}.status-skipped{background:#6d7587}
.prompt{font-style:italic;overflow-wrap:anywhere}
.meta{font-size:12px;color:#4b5263;overflow-wrap:anywhere}
.untrained{display:inline-block;font-size:11px;font-weight:600;color:#7a4d00;background:#ffe6a8;border-radius:4px;padding:0 5px}
.error{background:#fdecea;border-left:3px solid #c62828;padding:6px 8px;font:12px/1.35 ui-monospace,monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.warn{font-size:12px;color:#7a4d00;overflow-wrap:anywhere}
.warn summary{cursor:pointer}
.warn ul{margin:4px 0;padding-left:18px}
.metrics td,.metrics th{font-size:12px;padding:1px 6px}
.links{font-size:12px}
.links a{margin-right:8px}
.dir{color:#8a90a0;font-size:11px}
"""

_SCRIPT = """
(function () {
  "use strict";
  var grid = document.getElementById("cards");
  var store = document.getElementById("gallery-data");
  var pageSize = parseInt(grid.getAttribute("data-page-size"), 10) || 200;
  var sortKey = document.getElementById("sort-key");
  var sortDir = document.getElementById("sort-dir");
  var statusSel = document.getElementById("filter-status");
  var metricSel = document.getElementById("filter-metric");
  var minBox = document.getElementById("filter-min");
  var maxBox = document.getElementById("filter-max");
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var pageNumber = document.getElementById("page-number");
  var pageCount = document.getElementById("page-count");
  var first = document.getElementById("page-first");
  var prev = document.getElementById("page-prev");
  var next = document.getElementById("page-next");
  var last = document.getElementById("page-last");

  function bytes(base64) {
    var text = atob(base64), out = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i += 1) { out[i] = text.charCodeAt(i); }
    return out;
  }
  /* One compact entry per row, in clip-id order: [clip id, status, seconds, search text, [metrics]]. */
  var rows = JSON.parse(new TextDecoder().decode(bytes(store.getAttribute("data-index"))));
  var metricAt = {};
  JSON.parse(store.getAttribute("data-metrics")).forEach(function (name, i) { metricAt["m-" + name] = i; });
  var elements = new Array(rows.length);  /* a row's card, made from its markup when first shown */
  var markup = null;                      /* every card's markup, gzip-packed until first needed */
  var loading = null;

  function loadMarkup() {
    if (markup !== null) { return Promise.resolve(); }
    if (loading === null) {
      var stream = new Blob([bytes(store.getAttribute("data-cards"))]).stream()
        .pipeThrough(new DecompressionStream("gzip"));
      loading = new Response(stream).text().then(function (text) {
        markup = JSON.parse(text);
        grid.setAttribute("data-cards", "loaded");
      });
    }
    return loading;
  }

  function make(indices) {  /* cards for rows not yet shown, from their markup, in one parse */
    var missing = indices.filter(function (i) { return !elements[i]; });
    if (!missing.length) { return; }
    var holder = document.createElement("template");
    /* markup written by the report, every catalog text escaped */
    holder.innerHTML = missing.map(function (i) { return markup[i]; }).join("");
    Array.prototype.forEach.call(holder.content.children, function (element, k) {
      elements[missing[k]] = element;
      wire(element);
    });
  }

  function value(i, key) {
    var row = rows[i], raw;
    if (key === "clip_id") { raw = row[0]; } else if (key === "status") { raw = row[1]; }
    else if (key === "seconds") { raw = row[2]; } else { raw = row[4][metricAt[key]]; }
    return raw === undefined ? null : raw;
  }

  var order = [], page = 0;

  function select() {
    var status = statusSel.value, metric = metricSel.value, query = search.value.trim().toLowerCase();
    var low = minBox.value === "" ? null : parseFloat(minBox.value);
    var high = maxBox.value === "" ? null : parseFloat(maxBox.value);
    var ranged = metric !== "" && (low !== null || high !== null);
    var kept = [];
    for (var i = 0; i < rows.length; i += 1) {
      if (status !== "" && rows[i][1] !== status) { continue; }
      if (query !== "" && rows[i][3].indexOf(query) < 0) { continue; }
      if (ranged) {
        var v = value(i, "m-" + metric);
        if (v === null || (low !== null && v < low) || (high !== null && v > high)) { continue; }
      }
      kept.push(i);
    }
    var key = sortKey.value, sign = sortDir.value === "desc" ? -1 : 1;
    kept.sort(function (a, b) {
      var x = value(a, key), y = value(b, key);
      if (x === null && y === null) { return a - b; }
      if (x === null) { return 1; }   /* missing values last in either direction */
      if (y === null) { return -1; }
      var diff = (typeof x === "number") ? x - y : String(x).localeCompare(String(y));
      return diff !== 0 ? sign * diff : a - b;  /* ties keep clip-id order */
    });
    order = kept;
  }

  function render() {
    var pages = Math.max(1, Math.ceil(order.length / pageSize));
    page = Math.min(Math.max(page, 0), pages - 1);
    var slice = order.slice(page * pageSize, (page + 1) * pageSize);
    if (markup === null && slice.some(function (i) { return !elements[i]; })) {
      grid.setAttribute("data-state", "loading");
      loadMarkup().then(render);
      return;
    }
    make(slice);
    grid.replaceChildren.apply(grid, slice.map(function (i) { return elements[i]; }));
    shown.textContent = String(order.length);
    pageNumber.textContent = String(page + 1);
    pageCount.textContent = String(pages);
    first.disabled = prev.disabled = page === 0;
    last.disabled = next.disabled = page >= pages - 1;
    grid.setAttribute("data-state", "ready");
  }

  function apply() { select(); page = 0; render(); }

  /* A browser that can play neither source shows the SMIL animated SVG (then the poster) instead. */
  function wire(element) {
    Array.prototype.forEach.call(element.querySelectorAll("video[data-fallback]"), function (video) {
      function fallback() {
        var src = video.getAttribute("data-fallback");
        if (!src || video.getAttribute("data-failed")) { return; }
        video.setAttribute("data-failed", "1");
        var img = document.createElement("img");
        img.src = src;
        img.alt = video.getAttribute("aria-label") || "";
        video.replaceWith(img);
      }
      video.addEventListener("error", fallback);
      var sources = video.querySelectorAll("source");  /* only the last one failing means none plays */
      if (sources.length) { sources[sources.length - 1].addEventListener("error", fallback); }
      if (video.error) { fallback(); }
    });
  }
  Array.prototype.forEach.call(grid.querySelectorAll(".card"), function (element) {
    elements[parseInt(element.getAttribute("data-row"), 10)] = element;  /* the first page, as written */
    wire(element);
  });

  /* Lottie: lottie-web (shipped as ../assets/lottie.min.js) plays the clip's animation.json in
     place of the video. It is fetched, so it plays when the report is served over HTTP(S). */
  grid.addEventListener("click", function (event) {
    var button = event.target.closest("button.play-lottie");
    if (!button) { return; }
    var media = button.closest(".card").querySelector(".media");
    if (typeof lottie === "undefined") { button.textContent = "Lottie: lottie-web was not shipped"; return; }
    button.disabled = true;
    fetch(media.getAttribute("data-lottie")).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (data) {
      media.textContent = "";
      lottie.loadAnimation({container: media, renderer: "svg", loop: true, autoplay: true, animationData: data});
      button.textContent = "playing Lottie";
    }).catch(function () {
      button.textContent = "Lottie: serve the report over HTTP to play it";
    });
  });

  [sortKey, sortDir, statusSel, metricSel].forEach(function (el) { el.addEventListener("change", apply); });
  [minBox, maxBox, search].forEach(function (el) { el.addEventListener("input", apply); });
  prev.addEventListener("click", function () { page -= 1; render(); });
  next.addEventListener("click", function () { page += 1; render(); });
  first.addEventListener("click", function () { page = 0; render(); });
  last.addEventListener("click", function () { page = Infinity; render(); });
  apply();
  if (grid.querySelectorAll(".card").length < rows.length) { loadMarkup(); }  /* more than one page */
  else { markup = []; grid.setAttribute("data-cards", "loaded"); }
}());
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _media_href(row: OutputRow, kind: str) -> str | None:
    ref = row.media.get(kind)
    return None if ref is None else media_href(ref.uri)


def _download_links(row: OutputRow) -> list[tuple[str, str]]:
    """(link text, relative href) of every published file of ``row``, in `OUTPUT_KINDS` order
    (`OutputKind.label` is the text)."""
    published = [kind for kind in OUTPUT_KINDS.values() if kind.media_suffix is not None]
    found = [(kind.label, _media_href(row, kind.name)) for kind in published]
    return [(name, href) for name, href in found if href]


_REFERENCE_VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".m4v", ".mkv", ".ogv")


def _with_reference(row: OutputRow, media: str) -> str:
    """A video-fit card's media: the reference and the result side by side (reference | result),
    each labelled; ``media`` unchanged for rows without a published reference."""
    href = media_href(row.reference_video_uri)
    if href is None:
        return media
    label = f"reference of {row.clip_id}"
    if href.lower().endswith(_REFERENCE_VIDEO_SUFFIXES):
        reference = (
            f'<video class="reference" autoplay loop muted playsinline preload="auto" aria-label="{_esc(label)}"'
            f' src="{_esc(href)}"></video>'
        )
    else:  # GIF, animated WebP or PNG (a folder of frames is published as one animated PNG)
        reference = f'<img class="reference" src="{_esc(href)}" alt="{_esc(label)}">'
    source = _esc(row.reference_source or "reference")
    return (
        '<div class="side-by-side">'
        f'<figure title="reference ({source})">{reference}</figure>'
        f'<figure title="result">{media}</figure></div>' + _reference_candidates(row)
    )


def _reference_candidates(row: OutputRow) -> str:
    """A generated reference's K candidates (``reference_candidates``) as a strip of animated
    PNGs, each labelled with its seed (the input's ``reference_seed`` picks one for the next run),
    the fitted one marked; "" when the row has fewer than two."""
    import json

    try:
        candidates = json.loads(row.reference_candidates or "[]")
    except ValueError:
        return ""
    if not isinstance(candidates, list) or len(candidates) < 2:
        return ""
    figures = []
    for candidate in candidates:
        href = media_href(str(candidate.get("uri"))) if isinstance(candidate, dict) else None
        if href is None:
            continue
        seed = _esc(str(candidate.get("seed")))
        fitted = ' class="fitted"' if candidate.get("seed") == row.reference_seed else ""
        figures.append(
            f'<figure{fitted} title="candidate seed {seed}"><img class="candidate" src="{_esc(href)}"'
            f' alt="reference candidate seed {seed} of {_esc(row.clip_id)}"><figcaption>seed {seed}'
            f"{' (fitted)' if fitted else ''}</figcaption></figure>"
        )
    return f'<div class="reference-candidates">{"".join(figures)}</div>' if figures else ""


def _card(row: OutputRow, index: int) -> str:
    clip_id = row.clip_id or f"row-{index}"
    status = row.status
    video = _media_href(row, "video")
    webm = _media_href(row, "webm")
    svg = _media_href(row, "svg_animation")
    gif = _media_href(row, "gif")
    poster = _media_href(row, "poster")
    label = f"animation of {clip_id}"

    if video or webm:
        fallback = svg or poster or ""
        # The transparent WebM first; a browser without VP9 takes the MP4 source.
        sources = [(webm, 'video/webm; codecs="vp9"'), (video, "video/mp4")]
        media = (
            '<video autoplay loop muted playsinline preload="auto"'
            + (f' poster="{_esc(poster)}"' if poster else "")
            + (f' data-fallback="{_esc(fallback)}"' if fallback else "")
            + f' aria-label="{_esc(label)}">'
            + "".join(f'<source src="{_esc(href)}" type="{_esc(kind)}">' for href, kind in sources if href)
            + "</video>"
        )
    elif svg or gif or poster:
        media = f'<img src="{_esc(svg or gif or poster)}" alt="{_esc(label)}">'
    else:
        media = '<div class="none">no media' + (" (failed)" if status is Status.FAILED else "") + "</div>"
    media = _with_reference(row, media)

    seconds = _finite(row.seconds)
    attributes = {
        "data-row": str(index),
        "data-clip_id": clip_id,
        "data-status": status.value,
        "data-method": row.method or "",
        "data-seconds": "" if seconds is None else repr(seconds),
    }
    for column in METRIC_COLUMNS:
        value = _metric(row, column)
        attributes[f"data-m-{column}"] = "" if value is None else repr(value)
    attribute_text = " ".join(f'{name}="{_esc(value)}"' for name, value in attributes.items())

    prior_html = _esc(row.prior or "n/a")
    if row.prior_is_trained is False:
        prior_html += f' <span class="untrained" title="{_esc(_UNTRAINED_TEXT)}">UNTRAINED</span>'
    if row.prior_licence:
        prior_html += f' <span class="licence">(licence {_esc(row.prior_licence)})</span>'

    lottie = _media_href(row, "lottie")
    media_attribute = f' data-lottie="{_esc(lottie)}"' if lottie else ""
    parts = [
        f'<article class="card" {attribute_text}>',
        f'<div class="media"{media_attribute}>{media}</div>',
        '<div class="body">',
        f'<div class="title"><b>{_esc(clip_id)}</b><span class="status status-{_esc(status)}">{_esc(status)}</span></div>',
        f'<div class="prompt">{_esc(row.prompt or "")}</div>',
        f'<div class="meta">method: {_esc(row.method or "n/a")} · prior: {prior_html}</div>',
    ]
    details = []
    if row.seed is not None:
        details.append(f"seed {_esc(row.seed)}")
    if row.iterations is not None:
        details.append(f"{_esc(row.iterations)} iterations")
    if seconds is not None:
        details.append(f"{seconds:.1f} s")
    if row.device:
        details.append(_esc(row.device))
    if details:
        parts.append(f'<div class="meta">{" · ".join(details)}</div>')
    if status is Status.FAILED or row.error_type or row.error_message:
        error = ": ".join(x for x in (row.error_type, row.error_message) if x)
        parts.append(f'<div class="error">{_esc(error or "failed without a recorded error")}</div>')
    notes = row.warnings
    if notes:  # folded: the untrained-prior and missing-weights notes repeat on every card
        items = "".join(f"<li>{_esc(note)}</li>" for note in notes)
        parts.append(
            f'<details class="warn"><summary>⚠ {len(notes)} note{"s" if len(notes) > 1 else ""}</summary><ul>{items}</ul></details>'
        )
    if status is not Status.FAILED or any(_metric(row, c) is not None for c in METRIC_COLUMNS):
        metric_rows = "".join(
            f'<tr><td>{_esc(METRIC_INFO[c].label)} <span class="dir">{"↑" if METRIC_INFO[c].better == "higher" else "↓"}</span></td>'
            f"<td>{_esc(_format_number(_metric(row, c)))}</td></tr>"
            for c in METRIC_COLUMNS
        )
        parts.append(f'<table class="metrics"><tbody>{metric_rows}</tbody></table>')
    links = [f'<a href="{_esc(href)}" download>{name}</a>' for name, href in _download_links(row)]
    if lottie:
        links.append('<button type="button" class="play-lottie">play Lottie</button>')
    if links:
        parts.append(f'<div class="links">{"".join(links)}</div>')
    parts.append("</div></article>")
    return "".join(parts)


def _summary(rows: Sequence[OutputRow]) -> str:
    counts = {status.value: sum(1 for r in rows if r.status is status) for status in Status}
    started = [r.started_at for r in rows if r.started_at]
    finished = [r.finished_at for r in rows if r.finished_at]
    wall = (max(finished) - min(started)).total_seconds() if started and finished else None
    compute = sum(v for v in (_finite(r.seconds) for r in rows) if v is not None)

    counts_html = "".join(f"<span>{_esc(status)}: <b>{count}</b></span>" for status, count in counts.items())
    lines = [
        f'<div class="counts"><span>clips: <b>{len(rows)}</b></span>{counts_html}</div>',
        f"<div>wall time: <b>{'n/a' if wall is None else f'{wall:.1f} s'}</b> (first start to last finish)"
        f" · clip compute: <b>{compute:.1f} s</b></div>",
    ]
    for title, names in (
        ("methods", {r.method for r in rows}),
        ("priors", {r.prior for r in rows}),
        ("devices", {r.device for r in rows}),
        ("code", {r.code_version for r in rows}),
    ):
        shown = sorted(name for name in names if name)
        if shown:
            lines.append(f"<div>{title}: {_esc(', '.join(shown))}</div>")

    measured = [r for r in rows if r.status in (Status.SUCCEEDED, Status.SKIPPED)]
    table = [
        "<table><thead><tr><th>metric</th><th>better</th><th>mean</th><th>std</th><th>min</th><th>max</th><th>n</th></tr></thead><tbody>"
    ]
    for column in METRIC_COLUMNS:
        values = [v for v in (_metric(r, column) for r in measured) if v is not None]
        mean = statistics.fmean(values) if values else None
        spread = statistics.pstdev(values) if len(values) > 1 else (0.0 if values else None)
        table.append(
            f'<tr data-metric="{_esc(column)}"><td>{_esc(METRIC_INFO[column].label)}'
            f"{' (' + _esc(METRIC_INFO[column].unit) + ')' if METRIC_INFO[column].unit else ''}</td>"
            f"<td>{_esc(METRIC_INFO[column].better)}</td>"
            f"<td>{_format_number(mean)}</td><td>{_format_number(spread)}</td>"
            f"<td>{_format_number(min(values) if values else None)}</td>"
            f"<td>{_format_number(max(values) if values else None)}</td><td>{len(values)}</td></tr>"
        )
    table.append("</tbody></table>")
    return (
        f'<section class="panel" id="run-summary"><h2>Run summary</h2>{"".join(lines)}</section>'
        f'<section class="panel" id="metric-summary"><h2>Metrics (succeeded and skipped clips)</h2>{"".join(table)}</section>'
    )


def _controls(total: int) -> str:
    sort_options = [
        '<option value="clip_id">clip id</option>',
        '<option value="status">status</option>',
        '<option value="seconds">seconds</option>',
    ]
    sort_options += [f'<option value="m-{c}">{_esc(METRIC_INFO[c].label)}</option>' for c in METRIC_COLUMNS]
    metric_options = ['<option value="">(any metric)</option>'] + [
        f'<option value="{c}">{_esc(METRIC_INFO[c].label)}</option>' for c in METRIC_COLUMNS
    ]
    return (
        '<div class="controls panel">'
        f'<label>sort by <select id="sort-key">{"".join(sort_options)}</select></label>'
        '<label>order <select id="sort-dir"><option value="asc">ascending</option>'
        '<option value="desc">descending</option></select></label>'
        '<label>status <select id="filter-status"><option value="">all</option><option value="succeeded">succeeded</option>'
        '<option value="failed">failed</option><option value="skipped">skipped</option></select></label>'
        f'<label>metric <select id="filter-metric">{"".join(metric_options)}</select></label>'
        '<label>min <input id="filter-min" type="number" step="any"></label>'
        '<label>max <input id="filter-max" type="number" step="any"></label>'
        '<label>search <input id="search" type="search" placeholder="clip id, prompt or error"></label>'
        f'<span>showing <b id="shown">{total}</b> of {total}</span>'
        "</div>"
    )


def _pager(total: int) -> str:
    pages = max(1, math.ceil(total / PAGE_SIZE))
    more = " disabled" if pages == 1 else ""
    return (
        '<nav class="pager panel"><button type="button" id="page-first" disabled>« first</button>'
        '<button type="button" id="page-prev" disabled>‹ previous</button>'
        f'<span>page <b id="page-number">1</b> of <b id="page-count">{pages}</b></span>'
        f'<button type="button" id="page-next"{more}>next ›</button>'
        f'<button type="button" id="page-last"{more}>last »</button></nav>'
    )


def _gallery_data(rows: Sequence[OutputRow], cards: Sequence[str]) -> str:
    """The page's data for the script: a compact index of every row (what sorting, filtering and
    search read: clip id, status, seconds, lower-case search text, metrics; JSON, base64) and every
    card's markup (a JSON list, gzip, base64; unpacked in the browser only when a page beyond the
    first is shown). Base64 keeps both inert attribute text: no markup, nothing for the CSP to allow.
    """
    index = []
    for row in rows:
        seconds = _finite(row.seconds)
        text = " ".join(part for part in (row.clip_id, row.prompt, row.error_type, row.error_message) if part)
        index.append(
            [row.clip_id or "", row.status.value, seconds, text.lower(), [_metric(row, c) for c in METRIC_COLUMNS]]
        )
    index_bytes = json.dumps(index, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    packed = gzip.compress(
        json.dumps(list(cards), ensure_ascii=False, separators=(",", ":")).encode("utf-8"), compresslevel=6, mtime=0
    )
    return (
        '<div id="gallery-data" hidden'
        f' data-metrics="{_esc(json.dumps(list(METRIC_COLUMNS)))}"'
        f' data-index="{base64.b64encode(index_bytes).decode("ascii")}"'
        f' data-cards="{base64.b64encode(packed).decode("ascii")}"></div>'
    )


def render_report_html(
    rows: Iterable[OutputRow],
    *,
    run_id: str,
    commit: Mapping[str, Any] | None = None,
    lottie_player: str | None = None,
) -> str:
    """The report page of one run.

    Args:
        rows: the run's output-catalog rows.
        run_id: the run shown in the title.
        commit: its `OutputCatalog.history` entry (version and time shown), if known.
        lottie_player: relative href of lottie-web shipped beside the report (see
            `ship_lottie_web`), or None: then the Lottie buttons say it was not shipped.
    """
    rows = sorted(rows, key=lambda r: r.clip_id or "")
    subtitle = [f"run {run_id}"]
    if commit:
        if commit.get("version") is not None:
            subtitle.append(f"catalog version {commit['version']}")
        if commit.get("timestamp") is not None:
            subtitle.append(f"committed {commit['timestamp']}")
    untrained = any(r.prior_is_trained is False for r in rows)
    banner = (
        f'<div class="banner" id="untrained-banner"><b>Note:</b> {_esc(_UNTRAINED_TEXT)}. '
        "Clips marked UNTRAINED were made with it; configure the real prior's weights for real results.</div>"
        if untrained
        else ""
    )
    cards = [_card(row, index) for index, row in enumerate(rows)]
    # 'self' scripts and fetches only when lottie-web is shipped (its file and the clips' JSON).
    player_sources = " 'self'" if lottie_player else ""
    connect = "'self'" if lottie_player else "'none'"
    csp = (
        "default-src 'none'; img-src 'self' data:; media-src 'self'; "
        f"style-src {_csp_hash(_STYLE)}; script-src {_csp_hash(_SCRIPT)}{player_sources}; "
        f"connect-src {connect}; font-src 'none'; frame-src 'none'; object-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    player = f'<script src="{_esc(lottie_player)}"></script>' if lottie_player else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_esc(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        '<link rel="icon" href="data:,">'
        f"<title>flexiclip run {_esc(run_id)}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f'<header><h1>flexiclip run report</h1><div class="sub">{_esc(" · ".join(subtitle))}</div></header>'
        f'<main>{banner}<div class="summary">{_summary(rows)}</div>{_controls(len(rows))}'
        f'<div id="cards" data-page-size="{PAGE_SIZE}">{"".join(cards[:PAGE_SIZE])}</div>'
        f"{_pager(len(rows))}{_gallery_data(rows, cards)}</main>"
        f"{player}<script>{_SCRIPT}</script></body></html>\n"
    )


# ---------------------------------------------------------------------------------------------
# Writing it


def _with_earlier_metrics(rows: list[OutputRow], earlier: Mapping[str, OutputRow]) -> list[OutputRow]:
    """Skipped rows (already done, no metrics of their own) get the metrics of ``earlier``'s
    succeeded row of the same idempotency key (`OutputCatalog.latest_succeeded`), and a note
    naming the run that measured them."""
    out = []
    for row in rows:
        made = earlier.get(row.idempotency_key or "")
        if row.status is Status.SKIPPED and made is not None and all(_metric(row, c) is None for c in METRIC_COLUMNS):
            note = f"already done: media and metrics from run {made.run_id}"
            row = row.replace(metrics=made.metrics, warnings=(note, *row.warnings))
        out.append(row)
    return out


LOTTIE_WEB_ENV = "FLEXICLIP_LOTTIE_WEB"
"""Environment variable naming a local ``lottie.min.js`` (lottie-web, MIT) to ship with reports;
default: ``.cache/lottie-web/lottie.min.js`` of the checkout (scripts/install_lottie_web.sh)."""
ASSETS_FOLDER = "assets"
"""Folder under ``ROOT/reports/`` for files every report page shares (lottie-web)."""


def lottie_web_source() -> Path | None:
    """The lottie-web file to ship with reports, or None when there is none (no download, ever)."""
    configured = os.environ.get(LOTTIE_WEB_ENV)
    candidate = (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[1] / ".cache" / "lottie-web" / "lottie.min.js"
    )
    return candidate if candidate.is_file() else None


def ship_lottie_web(catalog: OutputCatalog) -> str | None:
    """Copy lottie-web to ``ROOT/reports/assets/lottie.min.js``; the href from a report page, or
    None when no lottie-web file is available (the page then plays the videos only)."""
    source = lottie_web_source()
    if source is None:
        log.info(
            "no lottie-web file (set %s or run scripts/install_lottie_web.sh): reports will not play Lottie",
            LOTTIE_WEB_ENV,
        )
        return None
    data = source.read_bytes()
    if catalog.is_s3:
        from catalogs.storage import s3_filesystem

        uri = f"{catalog.root}/{REPORTS_FOLDER}/{ASSETS_FOLDER}/lottie.min.js"
        s3_filesystem(catalog.storage_options).pipe_file(s3_path(uri), data, ContentType="text/javascript")
    else:
        from flexiclip_core.export.files import atomic_write

        atomic_write(
            Path(catalog.root, REPORTS_FOLDER, ASSETS_FOLDER, "lottie.min.js"), lambda path: path.write_bytes(data)
        )
    return f"../{ASSETS_FOLDER}/lottie.min.js"


def write_report(root: str | os.PathLike, run_id: str | None = None, *, storage_options: dict | None = None) -> str:
    """Write ``ROOT/reports/<run>/index.html`` for ``run_id`` (None: the latest run); return its URI.

    ``root`` is the output root (local folder, ``file://`` or ``s3://``); ``storage_options``
    (either spelling, see `catalogs.storage`) are used for s3 roots. The page links media
    relatively, so the whole root (or ``reports/`` + ``media/``) can be copied or served as is.
    Raises `catalogs.errors.CatalogError` when the catalog cannot be read, has no run, or has no
    row for ``run_id``.
    """
    from catalogs.errors import CatalogError

    catalog = OutputCatalog(os.fspath(root), storage_options=storage_options)
    if run_id is None:
        run_id = latest_run_id(catalog)
        if run_id is None:
            raise CatalogError(f"output catalog {catalog.table_uri!r} has no run to report")
    rows = catalog.read_rows(run_id=run_id)
    if not rows:
        raise CatalogError(f"output catalog {catalog.table_uri!r} has no row for run {run_id!r}")
    skipped_keys = {row.idempotency_key for row in rows if row.status is Status.SKIPPED and row.idempotency_key}
    rows = _with_earlier_metrics(rows, catalog.latest_succeeded(skipped_keys))
    commit = None
    for entry in catalog.history():
        if entry.get("run_id") == run_id:
            commit = entry  # the newest commit of that run
    player = ship_lottie_web(catalog) if any("lottie" in row.media for row in rows) else None
    page = render_report_html(rows, run_id=run_id, commit=commit, lottie_player=player).encode("utf-8")

    folder = report_folder_name(run_id)
    if catalog.is_s3:
        from catalogs.storage import s3_filesystem

        uri = f"{catalog.root}/{REPORTS_FOLDER}/{folder}/index.html"
        filesystem = s3_filesystem(catalog.storage_options)
        filesystem.pipe_file(s3_path(uri), page, ContentType="text/html; charset=utf-8")
        log.info("run %s: report written to %s", run_id, uri)
        return uri
    target = Path(catalog.root, REPORTS_FOLDER, folder, "index.html")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".html", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(page)
        os.chmod(temporary, published_file_mode())  # mkstemp makes it 0600; the gallery is served to others
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    log.info("run %s: report written to %s", run_id, target)
    return str(target)
