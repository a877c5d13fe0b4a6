"""The docs: `make docs`'s build (mkdocs build --strict: every link, anchor and nav page checked)
succeeds, the README stays short, and its links into docs/ reach a page and an anchor that exist
(the site uses GitHub's heading anchors, so what the built page has, GitHub has too)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

README = REPO / "README.md"
README_MAX_LINES = 250  # a newcomer's page: the rest lives in docs/


def _missing_docs_tools() -> str | None:
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            __import__(module)
        except ImportError:
            return module
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site as `make docs` builds it, in a temp folder (the checkout's site/ is left alone)."""
    missing = _missing_docs_tools()
    if missing:
        pytest.skip(
            f"{missing} is not installed: the docs tools come with the dev extra "
            '(pip install -e ".[dev]", or make install)'
        )
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}{build.stderr}"
    return out


def test_docs_build_strict(site):
    assert (site / "index.html").is_file()
    nav = re.findall(r"^\s*-\s.*?:\s*(\S+\.md)\s*$", (REPO / "mkdocs.yml").read_text(), re.M)
    assert "extending.md" in nav and "changelog.md" in nav, nav
    for page in nav:
        built = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert built.is_file(), f"{page} is in the nav but was not built"


def test_api_reference_is_rendered_from_docstrings(site):
    html = (site / "reference" / "index.html").read_text()
    for name in ("compose", "run", "load_policy", "evaluate", "LoadedPolicy", "BCXError"):
        assert f'id="bcx.api.{name}"' in html or f'id="bcx.errors.{name}"' in html, name


def test_changelog_is_included_not_copied(site):
    assert (REPO / "docs" / "changelog.md").read_text().strip() == '--8<-- "CHANGELOG.md"'
    first = (REPO / "CHANGELOG.md").read_text().splitlines()[0].lstrip("# ").strip()
    assert first in (site / "changelog" / "index.html").read_text()


def test_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_readme_links_reach_pages_and_anchors(site):
    text = README.read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets, "no links found in README.md"
    for target in targets:
        if re.match(r"[a-z]+:", target):
            continue  # a URL
        path, _, anchor = target.partition("#")
        assert (REPO / path).exists(), f"README.md links to {target}: {path} does not exist"
        if anchor:
            assert path.startswith("docs/") and path.endswith(".md"), target
            page = path.removeprefix("docs/")[:-3]
            html = site / ("index.html" if page == "index" else f"{page}/index.html")
            assert f'id="{anchor}"' in html.read_text(), f"README.md: no #{anchor} in {path}"
