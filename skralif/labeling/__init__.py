"""Labeling real data: which unlabeled rows of a file, or tasks of Label Studio, next.

:func:`query_file` runs one round of a labeling project on a CSV or Parquet
file (``skralif query`` on the command line): it trains on the rows labeled
so far and writes the next rows to label, keeping the project's state in a
folder of plain JSON. :func:`sync_label_studio` does the same for a Label
Studio project (``skralif labelstudio sync``), publishing one scored
prediction per unlabeled task.
"""

from ._labelstudio import SyncReport, sync_label_studio
from ._project import QueryReport, default_state_dir, query_file

__all__ = ["QueryReport", "default_state_dir", "query_file", "SyncReport", "sync_label_studio"]
