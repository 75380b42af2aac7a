"""The self-contained HTML document shell: inline CSS, inline script, no external reference.

The script makes every ``table.sortable`` sortable by clicking a header (first click puts the best
values first: ascending for ``data-better="lower"`` and for text, descending for ``"higher"``;
a second click reverses; empty cells always last) and wires the ``select.filter`` controls of the
cross-run leaderboard's tables (``table.combined``) (a row is shown when its ``data-<key>`` matches every selected value).
"""

from __future__ import annotations

import base64
from html import escape

__all__ = ["data_uri_img", "document"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1d1d1f; background: #ffffff; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: .2rem; }
h3 { margin-top: 1.6rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .85rem; }
th, td { border: 1px solid #ccc; padding: .25rem .45rem; text-align: right; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f0f2f5; }
td.text, th.text { text-align: left; }
th .sub { display: block; font-weight: normal; font-size: .75em; color: #555; }
table.headline { width: 100%; table-layout: fixed; }
table.headline th.method { width: 12rem; } table.headline th.rank { width: 4.5rem; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th.sorted-asc::after { content: " \\25B2"; font-size: .7em; }
table.sortable th.sorted-desc::after { content: " \\25BC"; font-size: .7em; }
td.best { background: #d8f3dc; font-weight: 600; }
.star { color: #1b7f3b; }
.unresolved, .nosep { color: #8a8a8a; background: #f3f3f3; }
th.unresolved, th.nosep { background: #e9e9e9; }
td.na { color: #999; text-align: center; }
tr.baseline td { background: #fafafa; }
.role { font-size: .7em; border: 1px solid #aaa; border-radius: 3px; padding: 0 .25em; color: #555; }
.ci { display: block; color: #666; font-size: .75em; font-weight: normal; }
.mean { color: #555; font-size: .8em; font-weight: normal; }
.flag { color: #c5221f; cursor: help; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .4rem .7rem; }
.warning { background: #fdecea; border-left: 4px solid #d93025; padding: .4rem .7rem; margin: .6rem 0; }
.warning ul { margin: .3rem 0 0; padding-left: 1.2rem; }
.muted, .rank-note { color: #555; font-size: .9rem; }
.scroll { overflow-x: auto; max-width: 100%; }
details > summary { cursor: pointer; font-weight: 600; margin: .5rem 0; }
figure { margin: .5rem 0 1.2rem; } figcaption { color: #444; font-size: .9rem; max-width: 60rem; }
img.figure { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
.v-ref { background: #b7e4c7; } .v-tie { background: #e3f4e8; } .v-worse { color: #555; }
.v-better { background: #fde2c4; }
#gallery td, #gallery th { text-align: center; vertical-align: middle; padding: 3px; }
#gallery tr.class-row th { text-align: left; background: #e8ecf2; font-size: .9rem; }
img.tile { width: 64px; height: 64px; image-rendering: pixelated; display: block; margin: 0 auto; }
.caption { display: block; font-size: 11px; color: #444; }
.cbar { height: 8px; width: 72px; margin: 3px auto 0; border: 1px solid #999; }
.cbar-ticks { display: flex; justify-content: space-between; width: 84px; margin: 0 auto;
              font-size: 10px; font-weight: normal; color: #333; white-space: nowrap; }
#gallery thead th { min-width: 84px; }
#gallery .label { display: block; font-size: 11px; margin: 0 auto; overflow-wrap: normal; }
#leaderboard th, #significance th, #controls th, #blur_pairs th { min-width: 6.5rem; }
#leaderboard td, #significance td, #controls td, #blur_pairs td { white-space: nowrap; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; font-size: .8rem; }
"""

_SCRIPT = """
(function () {
  function cellKey(cell) {
    var raw = cell.getAttribute('data-sort');
    if (raw === null) { raw = cell.textContent.trim(); }
    if (raw === '') { return {empty: true}; }
    var num = Number(raw);
    return isNaN(num) ? {empty: false, text: raw.toLowerCase()} : {empty: false, num: num};
  }
  function compare(a, b) {
    if (a.num !== undefined && b.num !== undefined) { return a.num - b.num; }
    var x = a.num !== undefined ? String(a.num) : a.text;
    var y = b.num !== undefined ? String(b.num) : b.text;
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  function sortBy(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var firstAscending = th.getAttribute('data-better') !== 'higher';
    var ascending = th.classList.contains('sorted-asc') ? false :
                    th.classList.contains('sorted-desc') ? true : firstAscending;
    var headers = table.querySelectorAll('thead th');
    for (var i = 0; i < headers.length; i++) {
      headers[i].classList.remove('sorted-asc', 'sorted-desc');
    }
    th.classList.add(ascending ? 'sorted-asc' : 'sorted-desc');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var a = cellKey(r1.cells[index]), b = cellKey(r2.cells[index]);
      if (a.empty || b.empty) { return (a.empty ? 1 : 0) - (b.empty ? 1 : 0); }
      var c = compare(a, b);
      return ascending ? c : -c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  var tables = document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.querySelectorAll('thead th'), function (th) {
      th.addEventListener('click', function () { sortBy(table, th); });
    });
  });
  var filters = document.querySelectorAll('select.filter');
  function applyFilters() {
    var rows = document.querySelectorAll('table.combined tbody tr');
    Array.prototype.forEach.call(rows, function (row) {
      var shown = true;
      Array.prototype.forEach.call(filters, function (select) {
        var key = select.getAttribute('data-key');
        if (select.value !== '' && row.getAttribute('data-' + key) !== select.value) {
          shown = false;
        }
      });
      row.style.display = shown ? '' : 'none';
    });
  }
  Array.prototype.forEach.call(filters, function (select) {
    select.addEventListener('change', applyFilters);
  });
})();
"""


def data_uri_img(png: bytes, alt: str) -> str:
    """An ``<img>`` embedding PNG bytes as a data URI (the page needs no other file)."""
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img class="figure" alt="{escape(alt)}" src="data:image/png;base64,{encoded}">'


def document(title: str, body: str) -> str:
    """A complete HTML5 page with the inline CSS and script around ``body`` (already HTML)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # An empty favicon stops browsers from requesting /favicon.ico next to the file.
        '<link rel="icon" href="data:,">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{body}\n<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )
