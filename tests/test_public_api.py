"""Every name a package exports exists, and every public class documents itself."""

import importlib
import inspect

import pytest

PACKAGES = ["skralif", "skralif.influence", "skralif.strategies", "skralif.stopping",
            "skralif.labeling",
            "skralif.exceptions"]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_names_exist_and_have_docstrings(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{package}.{name} has no docstring"


@pytest.mark.parametrize("package", ["skralif.influence", "skralif.strategies",
                                     "skralif.stopping"])
def test_init_parameters_are_documented(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        obj = getattr(module, name)
        if not inspect.isclass(obj) or inspect.isabstract(obj):
            continue
        doc = inspect.getdoc(obj) or ""
        for param in inspect.signature(obj.__init__).parameters:
            if param not in ("self", "args", "kwargs"):
                assert f"{param} :" in doc, f"{name} does not document `{param}`"
