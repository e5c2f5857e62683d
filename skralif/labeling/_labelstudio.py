"""Label Studio: annotations in, one scored prediction per unlabeled task out."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from numbers import Real
from urllib.parse import urlparse

import numpy as np

from .. import __version__
from ._round import check_options, run_round

__all__ = ["SyncReport", "sync_label_studio"]

#: every prediction skralif writes has a model_version starting with this
VERSION_PREFIX = "skralif"
_ROUND = re.compile(r"^skralif .* round (\d+)$")


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
    lines: list = field(default_factory=list)

    def __str__(self):
        return "\n".join(self.lines)


def sync_label_studio(url, api_key, project, *, n=20, features=None, strategy="ralif",
                      seed=0, epochs=60, client=None):
    """Train on a Label Studio project's annotations and publish a scored prediction per task.

    The project's single ``Choices`` control is the label: a task's label is
    the choice of its latest completed (not skipped) annotation. Its features
    are the numeric fields of the task's ``data``: by default every field
    that is a number in all tasks, or, when no such field exists, the one
    field holding a list of numbers in every task (an embedding); or the
    fields named in ``features`` (numbers and lists of numbers, concatenated).
    skralif's net is trained on the labeled tasks and the strategy ranks the
    unlabeled ones (TypiClust until two choices have labels). Every
    unlabeled task then gets one prediction: the predicted choice in Label
    Studio's result format (empty before any model) and a ``score`` that
    orders the tasks as the strategy does: the ``n`` tasks of its batch
    first, in its order, then the others by its per-task score, tasks it
    excludes last (``score = 1 - (rank - 1) / n_unlabeled``; Label Studio's
    bulk import drops scores outside [0, 1], so the raw score cannot be used
    as such). Sorting by prediction score in Label Studio's data manager
    therefore follows the strategy. The predictions' ``model_version``
    names skralif, the strategy and the round; the project's model version
    is set to it, and earlier skralif predictions are deleted once the new
    ones are written, so each sync publishes one new version instead of
    piling up duplicates. Everything is read and checked, and the net
    trained, before anything is written.

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
    features : sequence of str, default=None
        Data fields to use as features; None chooses them as described above.
    strategy : str, default="ralif"
        A name of :data:`skralif.evaluation.STRATEGIES`.
    seed : int, default=0
        Seeds training and the strategy.
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
    ls = _client(url, api_key) if client is None else client
    server = _Server(url, project, api_key)
    info = server.call(lambda: ls.projects.get(project))
    control = _choices_control(_get(info, "label_config"), project)
    tasks = server.tasks(ls, _get(info, "task_number"))
    if not tasks:
        raise ValueError(f"Label Studio project {project} has no task; import tasks first.")
    names = _feature_fields(tasks, features, project)
    rows = [_row(t, names) for t in tasks]
    for task, row in zip(tasks, rows, strict=True):
        if len(row) != len(rows[0]):
            raise ValueError(f"Task {task.id} of project {project} has {len(row)} feature "
                             f"values in {names}, task {tasks[0].id} has {len(rows[0])}; "
                             "every task needs the same number.")
    X = np.array(rows, dtype=np.float64)
    if not np.isfinite(X.astype(np.float32)).all():
        task = tasks[int(np.flatnonzero(~np.isfinite(X.astype(np.float32)).all(axis=1))[0])]
        raise ValueError(f"Task {task.id} of project {project} has a feature that is not a "
                         "finite float32 number (NaN, infinity, or beyond about 3.4e38).")
    X = X.astype(np.float32)
    y = np.empty(len(tasks), dtype=object)
    y[:] = [_label(t, control["name"]) for t in tasks]
    earlier = [p for t in tasks for p in (t.predictions or [])
               if _version(p).startswith(VERSION_PREFIX)]
    k = 1 + max((int(m.group(1)) for p in earlier if (m := _ROUND.match(_version(p)))),
                default=0)

    done = run_round(X, y, n, strategy=strategy, seed=seed, epochs=epochs)
    proposal = done.proposal
    version = f"{VERSION_PREFIX} {__version__} {proposal.strategy} round {k}"
    predictions = _predictions(tasks, proposal, control, version)
    if predictions:
        server.call(lambda: ls.projects.import_predictions(project, request=predictions))
    server.call(lambda: ls.projects.update(project, model_version=version))
    old = [p.id for p in earlier if _version(p) != version]
    for prediction_id in old:
        server.call(lambda i=prediction_id: ls.predictions.delete(i))

    per_class = done.labeled_per_class
    proposed = [tasks[i].id for i in proposal.picks]
    lines = [f"Label Studio project {project}, round {k}: {done.n_labeled} of {len(tasks)} "
             "tasks labeled" + (f" ({', '.join(f'{c}: {m}' for c, m in per_class.items())})."
                                if per_class else "."),
             f"Features: {', '.join(names)}.", *done.model_lines("tasks", "choices")]
    lines.append(f"Wrote {len(predictions)} predictions as model version {version!r} "
                 f"(removed {len(old)} earlier skralif predictions). Sort tasks by prediction "
                 f"score, descending, to label in {proposal.strategy}'s order; its next "
                 f"{len(proposed)}: task ids {', '.join(map(str, proposed))}.")
    return SyncReport(k, version, done.n_labeled, per_class, proposed, len(predictions),
                      len(old), done.cv_accuracy, lines)


def _predictions(tasks, proposal, control, version):
    """One prediction per unlabeled task, its score the strategy's order mapped to (0, 1]."""
    order = list(proposal.picks)
    chosen = set(order)
    at = {r: j for j, r in enumerate(proposal.rows)}
    rest = [r for r in proposal.rows if r not in chosen]
    scores = np.array([proposal.scores[at[r]] for r in rest], dtype=float)
    keyed = np.where(np.isnan(scores), -np.inf, scores)
    order += [rest[j] for j in np.lexsort((np.arange(len(rest)), -keyed))]
    total = len(order)
    out = []
    for rank, row in enumerate(order):
        result = []
        if proposal.predicted is not None:
            result = [{"from_name": control["name"], "to_name": control["to_name"],
                       "type": "choices",
                       "value": {"choices": [str(proposal.predicted[at[row]])]}}]
        out.append({"task": tasks[row].id, "result": result,
                    "score": 1.0 - rank / total, "model_version": version})
    return out


def _client(url, api_key):
    try:
        from label_studio_sdk import LabelStudio
    except ImportError as err:
        raise ValueError("Label Studio sync needs the official SDK: pip install "
                         "'skralif[labelstudio]' (label-studio-sdk).") from err
    if not api_key:
        raise ValueError("No Label Studio API key: pass `api_key` or set LABEL_STUDIO_API_KEY "
                         "(Account & Settings > Legacy Token).")
    return LabelStudio(base_url=url, api_key=api_key)


#: characters of a server's error body printed at most
BODY_CHARS = 300


class _Server:
    """One Label Studio project, reached through the SDK: every call's failure becomes one
    line, with the API key never printed, and every answer read is checked (issue 22)."""

    def __init__(self, url, project, api_key):
        self.url, self.project, self.secret = url, project, api_key or None
        host = urlparse(url).hostname or ""
        if urlparse(url).scheme == "http" and host not in ("localhost", "127.0.0.1", "::1"):
            warnings.warn(f"{url} is plain http to another host: the API key crosses the "
                          "network unencrypted. Use https.", UserWarning, stacklevel=3)

    def call(self, fn):
        """Run one SDK call; connection, HTTP and parsing failures become a ValueError."""
        try:
            return fn()
        except Exception as err:  # the SDK raises httpx errors, ApiError and parse errors
            raise ValueError(self._redact(self._explain(err))) from None

    def _explain(self, err):
        url, status = self.url, getattr(err, "status_code", None)
        if status == 401:
            return (f"Label Studio at {url} refused the API key (401). Use a legacy token "
                    "from Account & Settings (legacy tokens must be enabled for the "
                    "organization).")
        if status == 404:
            return f"Label Studio at {url} has no project {self.project} (404)."
        if status is not None:
            body = " ".join(str(getattr(err, "body", "")).split())
            cut = body[:BODY_CHARS] + (" ..." if len(body) > BODY_CHARS else "")
            return f"Label Studio at {url} answered {status}: {cut}."
        if type(err).__module__.startswith(("httpx", "httpcore")):
            return f"Cannot reach Label Studio at {url}: {err}."
        return (f"Label Studio at {url} sent an answer skralif cannot read "
                f"({type(err).__name__}: {str(err)[:BODY_CHARS]}).")

    def _redact(self, text):
        return text.replace(self.secret, "[API key]") if self.secret else text

    def tasks(self, ls, count):
        """The project's tasks, at most ``count`` (the project's own task count: a server
        that always returns a full page cannot keep skralif reading), each checked."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"Label Studio at {self.url} did not say how many tasks project "
                             f"{self.project} has (task_number {count!r}).")
        pages = iter(self.call(lambda: ls.tasks.list(project=self.project, fields="all")))
        tasks, seen = [], set()
        for _ in range(count):  # each item checked as it comes: a bad page stops the reading
            task = self.call(lambda: next(pages, None))
            if task is None:
                break
            tid = self._check_task(task)
            if tid in seen:
                raise ValueError(f"Label Studio at {self.url} sent task {tid} of project "
                                 f"{self.project} twice; its task list cannot be read.")
            seen.add(tid)
            tasks.append(task)
        if count and not tasks:
            raise ValueError(f"Label Studio at {self.url} sent no task for project "
                             f"{self.project}, which has {count}; its task list cannot be read.")
        return tasks

    def _check_task(self, task):
        where = f"Label Studio at {self.url} sent a task of project {self.project}"
        if isinstance(task, str | bytes | int | float | list):
            raise ValueError(f"{where} that is {_short(task)}, not a task object.")
        tid = _get(task, "id")
        if isinstance(tid, bool) or not isinstance(tid, int):
            raise ValueError(f"{where} without an integer id (got {_short(tid)}), so no "
                             "prediction can be written for it.")
        if not isinstance(_get(task, "data"), dict):
            raise ValueError(f"{where}, {tid}, whose data is {_short(_get(task, 'data'))}, "
                             "not an object.")
        annotations = _get(task, "annotations") or []
        if not isinstance(annotations, list):
            raise ValueError(f"{where}, {tid}, whose annotations are {_short(annotations)}, "
                             "not a list.")
        for annotation in annotations:
            result = _get(annotation, "result") or []
            if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
                raise ValueError(f"{where}, {tid}, with an annotation whose result is "
                                 f"{_short(result)}, not a list of regions.")
        return tid


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _choices_control(config, project):
    """The name, target and choices of the labeling config's single ``Choices`` tag."""
    try:
        root = ET.fromstring(config or "")
    except ET.ParseError as err:
        raise ValueError(f"The labeling config of project {project} is not valid XML: "
                         f"{err}.") from err
    controls = root.findall(".//Choices")
    if len(controls) != 1:
        raise ValueError(f"skralif labels with the project's single Choices control; project "
                         f"{project} has {len(controls)} "
                         f"({[c.get('name') for c in controls]}).")
    tag = controls[0]
    if tag.get("choice", "single") != "single":
        raise ValueError(f"The Choices control {tag.get('name')!r} of project {project} allows "
                         f"choice={tag.get('choice')!r}; skralif needs a single choice per task.")
    return {"name": tag.get("name"), "to_name": tag.get("toName"),
            "choices": [c.get("value") for c in tag.findall("Choice")]}


def _label(task, control_name):
    """The choice of the task's latest completed annotation, or None."""
    done = [a for a in (task.annotations or []) if not _get(a, "was_cancelled")]
    for annotation in sorted(done, key=lambda a: (_get(a, "updated_at") or "",
                                                  _get(a, "id") or 0), reverse=True):
        for region in _get(annotation, "result") or []:
            if region.get("from_name") == control_name and region.get("type") == "choices":
                choices = region.get("value", {}).get("choices") or []
                if choices:
                    return choices[0]
    return None


def _feature_fields(tasks, features, project):
    """The data fields that are the features (checked to exist in every task)."""
    if features:
        names = list(features)
        for task in tasks:
            for name in names:
                if name not in task.data:
                    raise ValueError(f"Task {task.id} of project {project} has no data field "
                                     f"{name!r} (`features`); its fields: {sorted(task.data)}.")
        return names
    common = set(tasks[0].data)
    for task in tasks[1:]:
        common &= set(task.data)
    numbers = sorted(n for n in common if all(_is_number(t.data[n]) for t in tasks))
    if numbers:
        return numbers
    vectors = sorted(n for n in common if all(_is_vector(t.data[n]) for t in tasks))
    if len(vectors) == 1:
        return vectors
    raise ValueError(
        f"Project {project}'s tasks have no field that is a number in every task, and "
        + (f"{len(vectors)} list-of-numbers fields {vectors}" if vectors else
           "no field holding a list of numbers")
        + f"; name the feature fields with `features` (fields: {sorted(common)}).")


def _row(task, names):
    row = []
    for name in names:
        value = task.data[name]
        if _is_number(value):
            row.append(float(value))
        elif _is_vector(value):
            row.extend(float(v) for v in value)
        else:
            raise ValueError(f"Task {task.id}: data field {name!r} is {value!r}, not a number "
                             "or a list of numbers.")
    return row


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def _is_vector(value):
    return isinstance(value, list) and bool(value) and all(_is_number(v) for v in value)


def _get(obj, name):
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _version(prediction):
    return _get(prediction, "model_version") or ""
