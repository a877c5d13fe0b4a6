"""``make paper`` at its tiny scale: every figure and table is linked from the index pages, and a
rebuild after a loss makes only what is missing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bcx.paper.driver import PIECES, build
from bcx.paper.runs import SCALES

EXPECTED = {
    "fig1_gaussian_fit.png",
    "fig2_shift_over_training.png",
    "fig6_action_samples.png",
    "table_mitigations.md",
    "table_heads.md",
    "fig_dagger_vs_bc_labels.png",
    "table_dagger_vs_bc_labels.md",
    "fig_diagnosis.png",
    "table_diagnosis_lane.md",
    "table_diagnosis_fork.md",
}


@pytest.fixture(scope="module")
def paper(tmp_path_factory, cache_dir) -> Path:
    out = tmp_path_factory.mktemp("paper")
    made = build(out, SCALES["tiny"], cache_dir)
    assert made == [piece.NAME for piece in PIECES]
    return out


def links(index: Path) -> list[str]:
    text = index.read_text()
    if index.suffix == ".md":
        return re.findall(r"\]\(([^)\s]+)\)", text)
    return re.findall(r'(?:href|src)="([^"]+)"', text)


def outputs(out: Path) -> set[str]:
    """The figure and table files of the build (the index pages aside)."""
    return {
        p.name
        for p in out.iterdir()
        if p.is_file() and p.suffix in {".png", ".md", ".csv"} and p.stem != "index"
    }


@pytest.mark.parametrize("page", ["index.md", "index.html"])
def test_the_index_links_every_figure_and_table(paper, page):
    linked = links(paper / page)
    assert outputs(paper) >= EXPECTED
    assert outputs(paper) <= set(linked)
    for target in linked:
        assert (paper / target).is_file() and (paper / target).stat().st_size > 0, target


def test_every_table_and_index_entry_carries_its_caption(paper):
    for table in paper.glob("table_*.md"):
        title, caption, *_ = table.read_text().split("\n\n")
        assert title.startswith("# ") and len(caption) > 100, table.name
    index = (paper / "index.md").read_text()
    assert index.count("Verdict:") + index.count("Result:") >= 6  # one per claim-bearing piece


def test_a_rebuild_makes_only_what_is_missing(paper, cache_dir):
    run = paper / "runs" / "lane" / "gaussian-none-s0" / "metrics.json"
    lost = {paper / "fig2_shift_over_training.png", run}
    before = {p: p.stat().st_mtime_ns for p in paper.rglob("*") if p.is_file()}
    for path in lost:
        path.unlink()

    made = build(paper, SCALES["tiny"], cache_dir)

    assert made == ["shift_curve"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in lost)
    remade = lost | {
        paper / "pieces" / "shift_curve.json",
        paper / "index.md",
        paper / "index.html",
    }
    changed = [p for p, t in before.items() if p not in remade and mtime(p) != t]
    # The lost run was rerun in its folder; every other run and piece was left alone.
    assert all(run.parent in p.parents for p in changed), changed
    others = [p for p in before if p.name == "metrics.json" and p != run]
    assert len(others) >= 10 and all(mtime(p) == before[p] for p in others)


def mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None
