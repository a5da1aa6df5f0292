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


def test_code_and_plots_fit_their_boxes(site):
    # Long code lines ran out of their boxes, table cells split code mid-word
    # (`Dens e(units)`), plots were shrunk below readable labels.
    css = (site / "stylesheets" / "extra.css").read_text()
    assert "pre-wrap" in css and "nowrap" in css and "width: 100%" in css
    assert "stylesheets/extra.css" in (site / "guide.html").read_text()


def test_no_markup_shows_as_literal_text(site):
    # "(IA)^3" showed as literal text.
    for page in site.glob("*.html"):
        assert "(IA)^3" not in page.read_text(), page.name


def test_install_lines_agree_and_name_the_export_extra():
    # The README installed from a checkout, docs/serving.md from PyPI (where
    # the package is not); the README's serving snippet needs [export].
    texts = {p: p.read_text() for p in [ROOT / "README.md", *ROOT.glob("docs/*.md")]}
    for path, text in texts.items():
        assert 'pip install "keras-crosswise' not in text, path
    readme = texts[ROOT / "README.md"]
    assert "not on PyPI" in readme
    before_export = readme.split('model.export("small.onnx"')[0]
    assert '.[export]"' in before_export.rsplit("## ", 1)[1]


def test_the_main_job_pins_the_backend_of_the_readme_table(tmp_path):
    # A reader who exported KERAS_BACKEND=jax (the Install section) did not
    # get the TensorFlow run the README's table comes from.
    # Run main.sh in a copy of the layout whose setup does nothing and whose
    # Python prints the backend it was given, with KERAS_BACKEND=jax set.
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / "scripts" / "main.sh").write_text(
        (ROOT / "scripts" / "main.sh").read_text()
    )
    (root / "scripts" / "setup.sh").write_text("true\n")
    fake = root / ".venv" / "bin" / "python"
    fake.write_text('#!/bin/sh\necho "$KERAS_BACKEND"\n')
    fake.chmod(0o755)
    ran = subprocess.run(
        ["bash", str(root / "scripts" / "main.sh")],
        env={**os.environ, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        check=True,
    )
    backend = ran.stdout.split()[-1]
    # The README names the backend its table comes from: the one main.sh runs.
    readme = (ROOT / "README.md").read_text().replace("\n", " ")
    (named,) = set(re.findall(r"on (TensorFlow|JAX|PyTorch), whatever", readme))
    assert backend == {"TensorFlow": "tensorflow", "JAX": "jax"}.get(named, "torch")
