"""Labeling real data: which unlabeled rows of a file, or tasks of Label Studio, next.

:func:`query_file` runs one round of a labeling project on a CSV or Parquet
file (``skralif query`` on the command line): it trains on the rows labeled
so far and writes the next rows to label, keeping the project's state in a
folder of plain JSON. :func:`sync_label_studio` does the same for a Label
Studio project (``skralif labelstudio sync``), publishing one scored
prediction per unlabeled task; :class:`ModelBackend` keeps doing it as people
annotate, as the project's model backend (``skralif labelstudio serve``).
"""

from ._backend import ModelBackend, make_app, serve_backend
from ._labelstudio import SyncReport, sync_label_studio
from ._project import QueryReport, default_state_dir, query_file
from ._studio import Interface, labeling_interface, ranked_predictions
from ._task_features import TaskFeatures, load_callable

__all__ = ["QueryReport", "default_state_dir", "query_file", "SyncReport", "sync_label_studio",
           "ModelBackend", "make_app", "serve_backend", "TaskFeatures", "load_callable",
           "Interface", "labeling_interface", "ranked_predictions"]
