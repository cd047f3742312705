"""End-to-end check of the book: `svd book --profile tiny` in a copy of the repository, then the
built HTML as a reader sees it (files, links, scripts, and headless Chromium).

The copy holds the repository's tracked and untracked-but-not-ignored files. With
``SVD_BOOK_STAND_INS=1`` every notebook of ``svdlib.book.runs.RUNS`` that is missing from
``notebooks/`` is replaced, in the copy only, by a trivial stand-in (parameters cell, a figure, a
table, math, glue values for every key the narrative pages reference, and a widget in the
explorer); this checks the runner, the build and the browser checks before the real notebooks
exist. ``SVD_BOOK_ARTIFACTS=DIR`` keeps the screenshots and the build log in DIR.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

import svdlib
from svdlib.book.build import toc_files
from svdlib.book.runs import RUNS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
# glue from a generated notebook: inline {glue...}`generated/x.ipynb::key` and the block form
# ```{glue:} key  +  :doc: generated/x.ipynb
GLUE_REF = re.compile(r"generated/([\w.-]+?)\.ipynb::([A-Za-z_]\w*)")
GLUE_BLOCK = re.compile(r"\{glue:?\w*\}\s+([A-Za-z_]\w*)\s*\n(?::\w+:.*\n)*?:doc:\s*\S*?"
                        r"generated/([\w.-]+?)\.ipynb")


def glue_references(text: str) -> list[tuple[str, str]]:
    """(output, key) pairs a page glues from book/generated, MyST comments ignored."""
    text = re.sub(r"(?m)^%.*$", "", text)
    return GLUE_REF.findall(text) + [(doc, key) for key, doc in GLUE_BLOCK.findall(text)]
# the one remote URL sphinx-book-theme writes into every page; only a Thebe launch button
# (disabled) would load it
INERT_REMOTE = ("https://unpkg.com/thebe",)


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def copy_repository(dest: Path) -> Path:
    """Copy the tracked and untracked-but-not-ignored files of the repository to ``dest``."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"the repository's files cannot be listed with git: {err}")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


STAND_IN_TITLES = {
    "model": "The singing voice detector",
    "attacks": "Adversarial examples",
    "horses": "Horses",
    "flip_counts": "Flip counts",
    "subset_perturbations": "Subset perturbations",
    "fidelity": "Fidelity",
    "results": "All results",
    "benchmark": "Which explainer tells the truth?",
    "proxies": "Which faithfulness metric can you trust?",
    "own_model": "Bring your own model",
    "pretrained_vad": "A real pretrained model: Silero VAD on waveforms",
    "explorer": "Explorer",
}


def write_stand_in_notebooks(root: Path) -> list[str]:
    """Write a trivial parameterized notebook for every notebook of RUNS missing in the copy.

    Returns the names of the stand-ins written. For development only: never commit them.
    """
    notebooks = root / "notebooks"
    notebooks.mkdir(exist_ok=True)
    glue_keys: dict[str, set[str]] = {}
    for page in (root / "book").glob("*.md"):
        for output, key in glue_references(page.read_text(encoding="utf-8")):
            glue_keys.setdefault(output, set()).add(key)
    written = []
    for name in dict.fromkeys(r.notebook for r in RUNS):
        path = notebooks / f"{name}.ipynb"
        if path.exists():
            continue
        outputs = [r.name for r in RUNS if r.notebook == name]
        keys = sorted(set().union(*(glue_keys.get(o, set()) for o in outputs)))
        section = {k: v for r in RUNS if r.notebook == name for k, v in r.parameters.items()}
        params = 'profile = "quick"\noverrides = {}\n' + "".join(
            f"{k} = {v!r}\n" for k, v in section.items())
        title = STAND_IN_TITLES.get(name, name)
        cells = [
            nbformat.v4.new_markdown_cell(f"# {title}\n\nA stand-in page used while developing "
                                          "the book: $p(\\text{sing} \\mid x) > 0.51$."),
            nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(
                "from svdlib.config import load_config\n"
                "cfg = load_config(profile, overrides)\n"
                "print(cfg.profile, cfg.run.progress, sorted(overrides))"),
            nbformat.v4.new_code_cell(
                "import matplotlib.pyplot as plt\nimport pandas as pd\n"
                "from myst_nb import glue\n"
                "fig, ax = plt.subplots(figsize=(5, 2.5))\n"
                "ax.plot([0, 1, 2, 3], [0.2, 0.8, 0.4, 0.9], marker='o')\n"
                f"ax.set_title({title!r})\nplt.show()\n"
                f"for key in {keys!r}:\n    glue(key, 12.345, display=False)\n"
                "pd.DataFrame({'k': [1, 3, 5], 'rate': [0.1, 0.3, 0.5]})"),
        ]
        if name == "explorer":
            cells.append(nbformat.v4.new_code_cell(
                "import ipywidgets as widgets\n"
                "widgets.VBox([widgets.IntSlider(value=3, min=1, max=20, description='k'),\n"
                "              widgets.Dropdown(options=['wave', 'spec'], description='attack')])"))
        nb = nbformat.v4.new_notebook(cells=cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbformat.write(nb, path)
        written.append(name)
    return written


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img" and values.get("src"):
            self.images.append(values["src"] or "")
        if tag == "script" and values.get("src"):
            self.scripts.append(values["src"] or "")
        if tag == "link" and "stylesheet" in (values.get("rel") or ""):
            self.styles.append(values.get("href") or "")
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def parse(page: Path) -> _Refs:
    refs = _Refs()
    refs.feed(page.read_text(encoding="utf-8"))
    return refs


def local_target(page: Path, url: str) -> Path | None:
    """The file a relative URL of ``page`` points to (None for data: URIs)."""
    parsed = urlparse(url)
    if parsed.scheme == "data":
        return None
    assert parsed.scheme in ("", "file"), f"{page.name}: remote resource {url}"
    return (page.parent / unquote(parsed.path)).resolve()


def run_chromium(chromium: str, args: list[str], profile_dir: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync",
             f"--user-data-dir={profile_dir}"]
    return subprocess.run([chromium, *flags, *args], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def built_book(tmp_path_factory, tiny_run) -> tuple[Path, str]:
    chromium = chromium_binary()
    if chromium is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    root = copy_repository(tmp_path_factory.mktemp("book") / "repo")
    vendor = subprocess.run(["bash", "tools/vendor_web_assets.sh", "book/_static"], cwd=root,
                            capture_output=True, text=True, check=False)
    if vendor.returncode != 0:
        pytest.skip(f"npm cannot vendor the browser assets: {vendor.stderr.strip()[:300]}")
    if os.environ.get("SVD_BOOK_STAND_INS"):
        write_stand_in_notebooks(root)
    missing = [r.notebook for r in RUNS if not (root / "notebooks" / f"{r.notebook}.ipynb")
               .is_file()]
    assert not missing, (f"notebooks missing: {sorted(set(missing))} (SVD_BOOK_STAND_INS=1 "
                         "fills them with stand-ins while developing)")
    # the stages of `svd run --profile tiny` (tests/test_tiny_run.py) are reused: the book
    # runs on a copy of its results, so it computes only what the notebooks add
    ran, tiny_results = tiny_run
    assert ran.returncode == 0, ran.stderr[-3000:]
    shutil.copytree(tiny_results, root.parent / "results")
    env = dict(os.environ, PYTHONPATH=str(root))  # the kernels import the copy's svdlib
    env.pop("SVD_RESULTS", None)
    env.pop("SVD_DATA", None)
    proc = subprocess.run(
        [sys.executable, "-m", "svdlib.cli", "book", "--profile", "tiny", "--results",
         str(root.parent / "results")], cwd=root, env=env, capture_output=True, text=True,
        check=False)
    keep = os.environ.get("SVD_BOOK_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / "svd-book.out").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return root, proc.stdout


def test_every_toc_page_is_built(built_book):
    root, out = built_book
    html = root / "_build" / "html"
    assert "svd book: built" in out
    assert (html / "index.html").is_file()
    for doc in toc_files(root):
        assert (html / f"{doc}.html").is_file(), f"{doc} was not built"
    for page in html.rglob("*.html"):           # no absolute path of the building machine
        assert str(root) not in page.read_text(encoding="utf-8"), page
    for run in RUNS:
        executed = nbformat.read(root / "book" / "generated" / f"{run.name}.ipynb", as_version=4)
        assert executed.metadata["svdlib"]["stamp"], run.name
        assert executed.metadata["papermill"]["parameters"]["profile"] == "tiny"


def test_results_page_has_its_glued_values(built_book):
    root, _ = built_book
    page = root / "_build" / "html" / "book" / "results.html"
    text = " ".join(parse(page).text)
    assert "{glue" not in text
    log = (root / "_build" / "book-build.log").read_text(encoding="utf-8")
    glue_warnings = [line for line in log.splitlines()
                     if "WARNING" in line and "glue" in line.lower()]
    assert not glue_warnings, glue_warnings
    source = (root / "book" / "results.md").read_text(encoding="utf-8")
    text_refs = re.findall(r"\{glue:text\}`[^`]+`", re.sub(r"(?m)^%.*$", "", source))
    pasted = re.findall(r'class="pasted-text">([^<]*)<', page.read_text(encoding="utf-8"))
    assert len(pasted) >= len(text_refs), "glued values are missing"
    numeric = [value for value, ref in zip(pasted, text_refs, strict=False)
               if not ref.endswith(":s`")]
    # a number, or "nan" for a setting that has no pairs (tiny's weak detector may give none)
    assert all(re.search(r"\d", value) or "nan" in value for value in numeric), pasted
    assert "tiny" in pasted                   # the profile's name is glued as text
    # Table 1: our numbers are shown next to the paper's
    assert "53 %" in text and "21 %" in text and "41 %" in text and "32 %" in text


def test_images_resolve_and_nothing_loads_from_the_network(built_book):
    root, _ = built_book
    html = root / "_build" / "html"
    pages = sorted(p for p in html.rglob("*.html") if "_static" not in p.relative_to(html).parts)
    assert len(pages) >= len(toc_files(root))
    images = 0
    for page in pages:
        refs = parse(page)
        for src in refs.images:
            target = local_target(page, src)
            images += 1
            assert target is None or target.is_file(), f"{page.name}: broken image {src}"
        for src in refs.scripts + refs.styles:
            if src.startswith(INERT_REMOTE):
                continue
            target = local_target(page, src)
            assert target is None or target.is_file(), f"{page.name}: missing {src}"
    assert images > 0, "the book has no images at all"
    intro = (html / "book" / "intro.html").read_text(encoding="utf-8")
    assert "widgets/embed-amd.js" in (html / "book" / "generated" / "explorer.html").read_text(
        encoding="utf-8")
    assert "mathjax/tex-mml-chtml.js" in intro


def _screenshot_dir(tmp_path: Path) -> Path:
    keep = os.environ.get("SVD_BOOK_ARTIFACTS")
    folder = Path(keep) if keep else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_pages_render_in_chromium(built_book, tmp_path):
    root, _ = built_book
    chromium = chromium_binary()
    assert chromium
    html = root / "_build" / "html"
    explorer = html / "book" / "generated" / "explorer.html"
    dom = run_chromium(chromium, ["--virtual-time-budget=5000", "--dump-dom",
                                  explorer.as_uri()], tmp_path / "profile-dom").stdout
    assert "jupyter-widgets" in dom or "widget-" in dom, "the explorer's widgets did not render"
    intro_dom = run_chromium(chromium, ["--virtual-time-budget=5000", "--dump-dom",
                                        (html / "book" / "intro.html").as_uri()],
                             tmp_path / "profile-math").stdout
    assert "<mjx-container" in intro_dom, "MathJax did not render the intro's formula"
    # the API reference, generated from the docstrings: every export, numpydoc sections rendered
    api_dom = run_chromium(chromium, ["--virtual-time-budget=5000", "--dump-dom",
                                      (html / "book" / "api.html").as_uri()],
                           tmp_path / "profile-api").stdout
    missing = [name for name in svdlib.__all__ if f'id="svdlib.{name}"' not in api_dom]
    assert not missing, f"the API page lacks {missing}"
    assert "LimeExplainer" in api_dom
    assert api_dom.count('<p class="rubric">Examples</p>') == len(svdlib.__all__)
    assert ">Parameters" in api_dom and ">Returns" in api_dom
    assert "&gt;&gt;&gt; " in api_dom and "Parameters\n----------" not in api_dom
    shots = _screenshot_dir(tmp_path)
    pages = {"intro": "book/intro.html", "section": "book/generated/attacks-wave.html",
             "results": "book/results.html", "explorer": "book/generated/explorer.html",
             "reproduce": "book/reproduce.html", "api": "book/api.html"}
    for name, rel in pages.items():
        target = shots / f"{name}.png"
        run_chromium(chromium, ["--virtual-time-budget=5000", "--window-size=1280,1600",
                                f"--screenshot={target}", (html / rel).as_uri()],
                     tmp_path / f"profile-{name}")
        assert target.is_file(), f"no screenshot of {rel}"
        assert target.stat().st_size > 10_000, f"empty screenshot of {rel}"
