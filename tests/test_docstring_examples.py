"""Every `Example:` block in the package runs, on every backend, and prints
what its docstring shows."""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest

import keras_crosswise
from keras_crosswise import initializers, layers, ops, regularizers

MODULES = [
    importlib.import_module(info.name)
    for info in pkgutil.walk_packages(keras_crosswise.__path__, "keras_crosswise.")
]


def namespace():
    """What a reader of the docs has imported: keras, NumPy, the package and
    its public names."""
    names = {"keras": keras, "np": np, "keras_crosswise": keras_crosswise}
    for module in (layers, initializers, regularizers, ops):
        names.update({name: getattr(module, name) for name in module.__all__})
    return names


def examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = {}
    for module in MODULES:
        for test in finder.find(module, globs={}):
            if test.examples and test.name not in found:
                found[test.name] = test
    return found


EXAMPLES = examples()


def test_every_example_section_has_runnable_lines():
    for module in MODULES:
        for test in doctest.DocTestFinder(exclude_empty=False).find(module):
            if test.docstring and "Example:" in test.docstring:
                assert test.examples, f"{test.name}: an Example: without >>> lines"
    assert len(EXAMPLES) >= 12


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_docstring_example(name):
    test = EXAMPLES[name]
    test.globs = {**namespace(), **vars(_module_of(test.name))}
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    output = []
    runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)


def _module_of(name):
    """The module a doctest was found in (its globals are the example's too)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        try:
            return importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
    raise ImportError(name)
