"""What a piece leaves behind: figures (the caption drawn under the plot), tables (``.md`` with
the caption, and ``.csv``), one manifest per piece, and the index pages built from the manifests.
Every file is written atomically (``bcx.io.atomic_write``)."""

from __future__ import annotations

import csv
import html
import io
import json
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

from bcx.io import atomic_write, atomic_write_json  # noqa: E402

MANIFESTS = "pieces"  # <out>/pieces/<piece>.json: what a piece made, with its captions
TITLE = "Behavioral cloning, measured: the figures and tables behind the lecture's claims"


@dataclass
class Artifact:
    """A figure (``file`` a .png) or a table (``file`` a .md, ``rows`` its cells, plus a .csv)."""

    kind: str
    file: str
    title: str
    caption: str
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    also: list[str] = field(default_factory=list)  # companion files (the table's .csv)

    @property
    def files(self) -> list[str]:
        return [self.file, *self.also]


def save_figure(fig, out: Path, stem: str, title: str, caption: str) -> Artifact:
    """Save ``fig`` as ``<out>/<stem>.png`` with ``title: caption`` wrapped below the axes."""
    fig.tight_layout()
    width, height = fig.get_size_inches()
    lines = textwrap.wrap(f"{title}. {caption}", width=int(width * 15))
    extra = 0.15 * len(lines) + 0.2  # inches of caption
    total = height + extra
    for ax in fig.axes:  # keep every axes where it was, on a taller canvas
        box = ax.get_position()
        ax.set_position([box.x0, (box.y0 * height + extra) / total, box.width,
                         box.height * height / total])  # fmt: skip
    for text in fig.texts:
        x, y = text.get_position()
        text.set_position((x, (y * height + extra) / total))
    fig.set_size_inches(width, total)
    fig.text(0.01, (extra - 0.1) / total, "\n".join(lines), va="top", ha="left", fontsize=8)
    path = out / f"{stem}.png"
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return Artifact("figure", path.name, title, caption)


def write_table(
    out: Path, stem: str, title: str, caption: str, header: list[str], rows: list[list[str]]
) -> Artifact:
    """``<out>/<stem>.md`` (title, caption, table) and ``<out>/<stem>.csv`` (the cells)."""
    text = f"# {title}\n\n{caption}\n\n{markdown_table(header, rows)}"
    atomic_write(out / f"{stem}.md", lambda f: f.write(text.encode()))
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    atomic_write(out / f"{stem}.csv", lambda f: f.write(buffer.getvalue().encode()))
    return Artifact("table", f"{stem}.md", title, caption, header, rows, also=[f"{stem}.csv"])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_manifest(
    out: Path, piece: str, title: str, scale: str, seconds: float, made: list[Artifact]
) -> None:
    """Written last: a piece is done when its manifest and every file it lists exist."""
    atomic_write_json(
        out / MANIFESTS / f"{piece}.json",
        {
            "piece": piece,
            "title": title,
            "scale": scale,
            "seconds": round(seconds, 1),
            "artifacts": [asdict(a) for a in made],
        },
    )


def read_manifest(out: Path, piece: str) -> dict[str, Any] | None:
    try:
        return json.loads((out / MANIFESTS / f"{piece}.json").read_text())
    except (OSError, ValueError):
        return None


def is_done(out: Path, piece: str, scale: str) -> bool:
    """The piece's manifest is of this scale and every file it lists is there, non-empty."""
    manifest = read_manifest(out, piece)
    if manifest is None or manifest["scale"] != scale:
        return False
    files = [f for a in manifest["artifacts"] for f in Artifact(**a).files]
    return all((out / f).is_file() and (out / f).stat().st_size > 0 for f in files)


def write_index(out: Path, pieces: list[str], about: str) -> list[Path]:
    """index.md and index.html from the pieces' manifests; a file whose text did not change is
    left alone (its modification time too)."""
    manifests = [m for m in (read_manifest(out, p) for p in pieces) if m is not None]
    pages = {
        "index.md": _index_markdown(manifests, about),
        "index.html": _index_html(manifests, about),
    }
    for name, text in pages.items():
        path = out / name
        if not path.is_file() or path.read_text() != text:
            atomic_write(path, lambda f, text=text: f.write(text.encode()))
    return [out / name for name in pages]


def _index_markdown(manifests: list[dict[str, Any]], about: str) -> str:
    parts = [f"# {TITLE}\n\n{about}\n"]
    for manifest in manifests:
        parts.append(f"\n## {manifest['title']}\n\n(made in {manifest['seconds']:.0f} s)\n")
        for artifact in map(lambda a: Artifact(**a), manifest["artifacts"]):
            parts.append(f"\n### {artifact.title}\n\n")
            if artifact.kind == "figure":
                parts.append(f"![{artifact.title}]({artifact.file})\n\n")
            parts.append(f"{artifact.caption}\n\n")
            if artifact.kind == "table":
                parts.append(markdown_table(artifact.header, artifact.rows) + "\n")
            links = ", ".join(f"[{f}]({f})" for f in artifact.files)
            parts.append(f"Files: {links}\n")
    return "".join(parts)


def _index_html(manifests: list[dict[str, Any]], about: str) -> str:
    e = html.escape
    body = [f"<h1>{e(TITLE)}</h1>\n<p>{e(about)}</p>\n"]
    for manifest in manifests:
        body.append(f"<h2>{e(manifest['title'])}</h2>\n")
        for artifact in map(lambda a: Artifact(**a), manifest["artifacts"]):
            body.append(f"<h3>{e(artifact.title)}</h3>\n")
            if artifact.kind == "figure":
                body.append(f'<img src="{e(artifact.file)}" alt="{e(artifact.title)}">\n')
            body.append(f"<p>{e(artifact.caption)}</p>\n")
            if artifact.kind == "table":
                head = "".join(f"<th>{e(h)}</th>" for h in artifact.header)
                rows = "".join(
                    "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>\n"
                    for row in artifact.rows
                )
                body.append(f"<table>\n<tr>{head}</tr>\n{rows}</table>\n")
            links = ", ".join(f'<a href="{e(f)}">{e(f)}</a>' for f in artifact.files)
            body.append(f"<p>Files: {links}</p>\n")
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:auto}img{max-width:100%}"
        "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 6px}"
    )
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{e(TITLE)}</title>'
        f"<style>{style}</style></head>\n<body>\n{''.join(body)}</body></html>\n"
    )
