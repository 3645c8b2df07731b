"""HTML building blocks of the report: tables, pictures, sections and the page around them.

Cells and bodies are HTML already; plain text goes through :func:`text` first. The page is one
static file with its style inline, so it opens from disk with no server.
"""
from __future__ import annotations

from collections.abc import Sequence
from html import escape

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 1.6em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.mean td { font-weight: bold; }
figure { display: inline-block; margin: 0.15em; text-align: center; }
figcaption { font-size: 0.75em; color: #555; }
img.label { image-rendering: pixelated; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #888; margin: 0 0.2em 0 0.8em; }
.key { white-space: nowrap; }
.note { color: #666; }
"""


def text(value: object) -> str:
    """``value`` as HTML-escaped text."""
    return escape(str(value))


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric_from: int = 1,
          mean_last: bool = False) -> str:
    """A table with a text ``header`` and HTML ``rows``; cells from column ``numeric_from`` on are
    right-aligned; ``mean_last`` sets the last row in bold (an mIoU row)."""
    head = "<tr>" + "".join(f"<th>{text(h)}</th>" for h in header) + "</tr>"
    body = []
    for index, row in enumerate(rows):
        cells = "".join(f'<td class="num">{cell}</td>' if i >= numeric_from else f"<td>{cell}</td>"
                        for i, cell in enumerate(row))
        mean = mean_last and index == len(rows) - 1
        body.append(f'<tr class="mean">{cells}</tr>' if mean else f"<tr>{cells}</tr>")
    return f"<table>\n{head}\n" + "\n".join(body) + "\n</table>"


def picture(src: str, caption: str = "", *, alt: str = "", label: bool = False) -> str:
    """A figure showing the image at the relative path ``src``, captioned when ``caption`` is
    given; ``label`` keeps a label map's pixels sharp when the browser scales it."""
    css = ' class="label"' if label else ""
    img = f'<img src="{escape(src, quote=True)}" alt="{text(alt or caption or src)}"{css}>'
    return f"<figure>{img}<figcaption>{text(caption)}</figcaption></figure>" if caption else f"<figure>{img}</figure>"


def note(message: str) -> str:
    """A grey line of plain text."""
    return f'<p class="note">{text(message)}</p>'


def section(title: str, body: str, level: int = 2) -> str:
    return f"<h{level}>{text(title)}</h{level}>\n{body}"


def document(title: str, body: Sequence[str]) -> str:
    """The whole page."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{text(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{text(title)}</h1>\n" + "\n".join(body) + "\n</body>\n</html>\n")
