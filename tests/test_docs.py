"""The documentation site builds with `--strict` (the test command's only docs
build) and reads offline (file://, no network)."""

import os
import re
import subprocess
import sys

import pytest

from script_runner import ROOT


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


pytestmark = pytest.mark.backend_independent


def test_math_is_rendered_at_build_time(site):
    page = (site / "math.html").read_text()
    assert page.count("<math") > 20
    assert 'class="arithmatex"' not in page  # nothing left for JavaScript


def test_pages_load_nothing_from_the_network(site):
    for page in site.glob("*.html"):
        sources = re.findall(r'<script[^>]+src="([^"]+)"', page.read_text())
        assert not [s for s in sources if s.startswith(("http:", "https:", "//"))]


def test_navigation_links_name_files(site):
    """`use_directory_urls: false`: a link to a page ends in .html, so a
    file:// copy of the site opens pages, not folder listings."""
    links = re.findall(r'href="([^"#]+)"', (site / "index.html").read_text())
    pages = [link for link in links if not link.startswith(("http", "assets", "."))]
    for name in ("math.html", "guide.html", "saving.html", "benchmarks.html"):
        assert name in pages or f"./{name}" in links, (name, links)
    assert not [link for link in links if link.endswith("/") and "://" not in link]
