"""The self-contained HTML document shell: inline CSS, inline script, no external reference.

The script makes every ``table.sortable`` sortable by clicking a header (first click puts the best
values first: ascending for ``data-better="lower"`` and for text, descending for ``"higher"``;
a second click reverses; empty cells always last) and wires the ``select.filter`` controls of the
cross-run leaderboard (a row is shown when its ``data-<key>`` matches every selected value).
"""

from __future__ import annotations

import base64
from html import escape

__all__ = ["data_uri_img", "document"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1d1d1f; background: #ffffff; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .85rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: right; vertical-align: top; }
th { background: #f0f2f5; }
td.text, th.text { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th.sorted-asc::after { content: " \\25B2"; font-size: .7em; }
table.sortable th.sorted-desc::after { content: " \\25BC"; font-size: .7em; }
td.best { background: #d8f3dc; font-weight: 600; }
.ci { display: block; color: #666; font-size: .75em; font-weight: normal; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .4rem .7rem; }
.muted { color: #666; }
img.figure { max-width: 100%; display: block; margin: .5rem 0 1.5rem; }
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
    var table = document.getElementById('combined');
    if (!table) { return; }
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
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
