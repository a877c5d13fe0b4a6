"""``make paper`` at its tiny scale (2 seeds): every figure and table is linked from the index
pages, reports mean, IQM and a 95% bootstrap interval over seeds, says on how many seeds each
claim holds, and a rebuild after a loss makes only what is missing."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from bcx.paper.driver import PIECES, build
from bcx.paper.runs import SCALES, data_seed

EXPECTED = {
    "fig1_gaussian_fit.png",
    "fig2_shift_over_training.png",
    "fig6_action_samples.png",
    "table_shift.md",
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
    made = build(out, SCALES["tiny"], cache_dir, jobs=2)  # runs in 2 worker processes
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


def test_every_table_reports_mean_iqm_and_a_bootstrap_interval_over_seeds(paper):
    seeds = len(SCALES["tiny"].seeds)
    assert seeds >= 2  # so that the intervals are real ones, not "n=1"
    for table in paper.glob("table_*.md"):
        header, *rows = list(csv.reader((table.with_suffix(".csv")).open()))
        stat = [i for i, name in enumerate(header) if name.endswith("mean")]
        assert stat, table.name
        i = stat[0]
        assert header[i + 1].endswith("IQM") and header[i + 2].endswith("95% CI"), header
        for row in rows:
            assert re.fullmatch(r"\[-?[\d.e+]+, -?[\d.e+]+\]|-", row[i + 2]), (table.name, row)
            if row[i + 2] != "-":
                low, high = map(float, row[i + 2].strip("[]").split(", "))
                assert low <= float(row[i]) <= high, (table.name, row)
        caption = table.read_text().split("\n\n")[1]
        assert "percentile bootstrap" in caption and "10000 resamples" in caption, table.name


def test_every_claim_says_on_how_many_seeds_it_holds(paper):
    seeds = len(SCALES["tiny"].seeds)
    holds = re.compile(rf"on \d+ of {seeds} seeds")
    for piece in PIECES:
        manifest = json.loads((paper / "pieces" / f"{piece.NAME}.json").read_text())
        for artifact in manifest["artifacts"]:
            caption = artifact["caption"]
            assert "Verdict:" in caption or "Result:" in caption or "DAgger" in caption
            assert holds.search(caption), (artifact["file"], caption)
    mitigations = (paper / "table_mitigations.md").read_text()
    assert re.search(rf"`dagger` .*above plain BC's on \d+ of {seeds} seeds", mitigations)


def test_each_seed_has_its_own_demonstrations(paper):
    for seed in SCALES["tiny"].seeds:
        spec = json.loads((paper / "runs" / "lane" / f"gaussian-none-s{seed}" / "paper_spec.json")
                          .read_text())  # fmt: skip
        assert f"data.seed={data_seed(seed)}" in spec
    assert len({data_seed(s) for s in range(10)}) == 10 and data_seed(0) >= 100


def test_a_rebuild_makes_only_what_is_missing(paper, cache_dir):
    run = paper / "runs" / "lane" / "gaussian-none-s0" / "metrics.json"
    lost = {paper / "fig2_shift_over_training.png", run}
    before = {p: p.stat().st_mtime_ns for p in paper.rglob("*") if p.is_file()}
    in_a_worker = measured(run)
    for path in lost:
        path.unlink()

    made = build(paper, SCALES["tiny"], cache_dir)  # one run missing: made in this process

    assert made == ["shift_curve"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in lost)
    remade = lost | {
        paper / "table_shift.md",  # the piece's other files are rewritten with its figure
        paper / "table_shift.csv",
        paper / "pieces" / "shift_curve.json",
        paper / "index.md",
        paper / "index.html",
    }
    changed = [p for p, t in before.items() if p not in remade and mtime(p) != t]
    # The lost run was rerun in its folder; every other run and piece was left alone.
    assert all(run.parent in p.parents for p in changed), changed
    others = [p for p in before if p.name == "metrics.json" and p != run]
    assert len(others) >= 10 and all(mtime(p) == before[p] for p in others)
    assert measured(run) == in_a_worker  # where a run is made does not change it


def measured(metrics_file: Path) -> dict[str, float]:
    """A run's rollout and shift metrics (its timings aside)."""
    metrics = json.loads(metrics_file.read_text())["metrics"]
    return {k: v for k, v in metrics.items() if k.startswith(("rollout/", "shift/"))}


def mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None
