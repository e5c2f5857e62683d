"""``skralif labelstudio sync``: one round on a Label Studio project, annotations in, one
scored prediction per unlabeled task out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from ._round import check_options, run_round
from ._studio import VERSION_PREFIX, StudioProject, get, ranked_predictions, task_label
from ._task_features import TaskFeatures

__all__ = ["SyncReport", "sync_label_studio"]


@dataclass
class SyncReport:
    """What one :func:`sync_label_studio` did.

    Parameters
    ----------
    round : int
        The sync's round (1 for the project's first skralif sync).
    model_version : str
        The ``model_version`` of the predictions written, also set as the
        project's model version.
    n_labeled : int
        Tasks with a completed annotation.
    labeled_per_class : dict
        Their count per choice.
    proposed : list of int
        Ids of the ``n`` tasks to label next, in the strategy's order.
    n_predictions : int
        Predictions written (one per unlabeled task).
    n_removed : int
        Earlier skralif predictions deleted.
    cv_accuracy : float
        Cross-validated accuracy on the labeled tasks (NaN when n/a).
    n_requests : int
        HTTP requests made to Label Studio.
    lines : list of str
        The printed summary.
    """

    round: int
    model_version: str
    n_labeled: int
    labeled_per_class: dict
    proposed: list = field(default_factory=list)
    n_predictions: int = 0
    n_removed: int = 0
    cv_accuracy: float = float("nan")
    n_requests: int = 0
    lines: list = field(default_factory=list)

    def __str__(self):
        return "\n".join(self.lines)


def sync_label_studio(url, api_key, project, *, n=20, features=None, encoder=None,
                      strategy="ralif", seed=0, epochs=60, client=None):
    """Train on a Label Studio project's annotations and publish a scored prediction per task.

    The project's single ``Choices`` control is the label: a task's label is
    the choice of its latest completed (not skipped) annotation. Its
    features depend on the object tag the control labels
    (:class:`~skralif.labeling.TaskFeatures`): TF-IDF and truncated SVD of
    the texts for ``Text``; the images through ``encoder`` for ``Image``;
    otherwise the numeric fields of the task's ``data``: by default every
    field that is a number in all tasks, or, when no such field exists, the
    one field holding a list of numbers in every task (an embedding); or
    the fields named in ``features``. skralif's net is trained on the labeled
    tasks and the strategy ranks the unlabeled ones (TypiClust until two
    choices have labels). Every unlabeled task then gets one prediction:
    the predicted choice in Label Studio's result format (empty before any
    model) and a ``score`` that orders the tasks as the strategy does
    (:func:`~skralif.labeling.ranked_predictions`): sorting by prediction
    score, descending, in Label Studio's data manager follows the strategy.
    The predictions' ``model_version`` names skralif, the strategy and the
    round; the project's model version is set to it, and skralif's earlier
    versions are deleted once the new one is written, so each sync
    publishes one new version instead of piling up duplicates. Everything is
    read and checked, and the net trained, before anything is written. The
    requests made grow with pages of tasks, not with tasks.

    Parameters
    ----------
    url : str
        The Label Studio server, e.g. ``"http://localhost:8080"``.
    api_key : str
        A (legacy) API token of a user of the project.
    project : int
        The project id.
    n : int, default=20
        Tasks in the batch to label next.
    features : sequence of str or callable, default=None
        Data fields to use as features, or a callable returning a
        scikit-learn transformer fitted on the object's values (texts,
        images, numeric fields); None chooses as described above.
    encoder : callable, default=None
        For image projects: returns the ``torch.nn.Module`` that embeds an
        image (see :class:`~skralif.labeling.TaskFeatures`).
    strategy : str, default="ralif"
        A name of :data:`skralif.evaluation.STRATEGIES`.
    seed : int, default=0
        Seeds training, the features and the strategy.
    epochs : int, default=60
        Training epochs of the net.
    client : label_studio_sdk.LabelStudio, default=None
        A client to use instead of one made from ``url`` and ``api_key``.

    Returns
    -------
    report : SyncReport

    Raises
    ------
    ValueError
        For a bad option, an unreachable server, a refused key, a missing
        project, a labeling config without exactly one ``Choices`` control, or
        features that are missing or not numeric (naming the task and field).
    """
    check_options(positive=[("`n`", n), ("`epochs`", epochs), ("`project`", project)],
                  non_negative=[("`seed`", seed)], strategy=("`strategy`", strategy))
    server = StudioProject(url, api_key, project, client=client)
    info = server.info()
    interface = server.interface(info)
    featuriser = TaskFeatures.from_option(interface, features, encoder=encoder, seed=seed,
                                          download=server.download, project=project)
    tasks = server.tasks(get(info, "task_number"))
    if not tasks:
        raise ValueError(f"Label Studio project {project} has no task; import tasks first.")
    X = featuriser.fit_transform(tasks)
    y = np.empty(len(tasks), dtype=object)
    y[:] = [task_label(t, interface.control) for t in tasks]
    versions = server.model_versions()
    k = server.next_round(versions)

    done = run_round(X, y, n, strategy=strategy, seed=seed, epochs=epochs)
    proposal = done.proposal
    version = f"{VERSION_PREFIX} {__version__} {proposal.strategy} round {k}"
    predictions = ranked_predictions([t.id for t in tasks], proposal, interface, version)
    removed = server.publish(predictions, version, versions)

    per_class = done.labeled_per_class
    proposed = [tasks[i].id for i in proposal.picks]
    lines = [f"Label Studio project {project}, round {k}: {done.n_labeled} of {len(tasks)} "
             "tasks labeled" + (f" ({', '.join(f'{c}: {m}' for c, m in per_class.items())})."
                                if per_class else "."),
             featuriser.describe(), *done.model_lines("tasks", "choices")]
    lines.append(f"Wrote {len(predictions)} predictions as model version {version!r} "
                 f"(removed {removed} earlier skralif predictions) in {server.requests} "
                 f"requests. Sort tasks by prediction score, descending, to label in "
                 f"{proposal.strategy}'s order; its next {len(proposed)}: task ids "
                 f"{', '.join(map(str, proposed))}.")
    return SyncReport(k, version, done.n_labeled, per_class, proposed, len(predictions),
                      removed, done.cv_accuracy, server.requests, lines)
