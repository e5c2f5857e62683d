"""skralif: reliable active learning for skorch classifiers via influence functions.

The public names load on first use (PEP 562), so ``import skralif`` and the command
line's ``--help`` and ``--version`` do not import torch.
"""

import importlib

__version__ = "0.1.0"

__all__ = [
    "ActiveLearningClassifier",
    "RALIFQuery",
    "exceptions",
    "influence",
    "influence_scores",
    "nets",
    "strategies",
    "__version__",
]

#: public name -> (module, attribute or None for the module itself)
_LAZY = {
    "ActiveLearningClassifier": ("._learner", "ActiveLearningClassifier"),
    "RALIFQuery": (".strategies", "RALIFQuery"),
    "influence_scores": (".influence", "influence_scores"),
    "exceptions": (".exceptions", None),
    "influence": (".influence", None),
    "nets": (".nets", None),
    "strategies": (".strategies", None),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'skralif' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = importlib.import_module(module, __name__)
    value = value if attribute is None else getattr(value, attribute)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
