"""Sphinx configuration of the skralif documentation.

Sphinx with numpydoc, because skralif's docstrings are numpydoc with Sphinx roles
(``:class:``, ``:meth:``) and maths: numpydoc renders them as written, and its
validation (``numpydoc_validation_checks``) turns an undocumented parameter into a
warning, which ``-W`` makes an error.
"""

import skralif

project = "skralif"
author = "the skralif developers"
release = version = skralif.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
]
autosummary_generate = True
templates_path = ["_templates"]  # class pages list the class's own members only
# our own members only: no torch.nn.Module or sklearn metadata-routing methods
autodoc_default_options = {
    "members": True,
    "exclude-members": "set_score_request, set_fit_request, set_predict_request",
}
numpydoc_show_class_members = False
numpydoc_validation_checks = {"GL08", "PR01", "PR02"}
numpydoc_validation_exclude = {r"\.__init__$"}
numpydoc_xref_param_type = False
intersphinx_mapping = {}
html_theme = "pydata_sphinx_theme"
html_title = "skralif"
exclude_patterns = ["_build"]
nitpicky = False
suppress_warnings = ["autosummary"]
