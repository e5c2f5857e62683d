"""Every public class, function and method has a docstring documenting each parameter.

Checked with numpydoc's own validator: GL08 (no docstring), PR01 (a parameter is not
documented) and PR02 (a documented parameter does not exist).
"""

import importlib
import inspect

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

MODULES = ["skralif", "skralif.influence", "skralif.strategies", "skralif.evaluation",
           "skralif.datasets", "skralif.nets", "skralif.exceptions", "skralif.cli",
           "skralif.stopping", "skralif.labeling"]
CHECKS = {"GL08", "PR01", "PR02"}


def public_names():
    names = set()
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            qualified = f"{obj.__module__}.{obj.__qualname__}"
            names.add(qualified)
            if inspect.isclass(obj):
                names.update(f"{qualified}.{m}" for m, member in vars(obj).items()
                             if not m.startswith("_") and callable(member))
    return sorted(names)


@pytest.mark.parametrize("name", public_names())
def test_docstring_documents_every_parameter(name):
    result = numpydoc_validate.validate(name)
    errors = [f"{code}: {msg}" for code, msg in result["errors"] if code in CHECKS]
    assert not errors, "\n".join(errors)
