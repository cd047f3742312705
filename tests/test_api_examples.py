"""Every name ``svdlib`` exports has an ``Examples`` section that runs as a doctest.

The examples are the ones the book's API page (``book/api.md``) shows; each runs with fresh
globals, as a reader would paste it. The page documents exactly the exported names.
"""

from __future__ import annotations

import doctest
import inspect
import re
from pathlib import Path

import pytest

import svdlib

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", svdlib.__all__)
def test_example_runs(name: str) -> None:
    obj = getattr(svdlib, name)
    doc = inspect.getdoc(obj) or ""
    assert re.search(r"^Examples\n-{8}$", doc, re.M), f"svdlib.{name} has no Examples section"
    finder = doctest.DocTestFinder(recurse=False)
    tests = [t for t in finder.find(obj, f"svdlib.{name}", globs={}) if t.examples]
    assert tests, f"the Examples of svdlib.{name} hold no >>> lines"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} example(s) of svdlib.{name} failed (see above)"


def test_api_page_documents_every_export() -> None:
    page = (REPO / "book" / "api.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\.\. auto(?:function|class|exception):: svdlib\.(\w+)", page, re.M)
    assert sorted(documented) == svdlib.__all__
    toc = (REPO / "_toc.yml").read_text(encoding="utf-8")
    assert "file: book/api" in toc
