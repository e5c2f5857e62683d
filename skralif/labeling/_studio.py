"""A Label Studio project over its API: its labeling interface, its tasks and their labels
in; skralif's scored predictions out, one model version replacing the last in bulk.

Shared by the one-shot ``skralif labelstudio sync`` and the model backend
``skralif labelstudio serve``: every call's failure becomes one line (the API
key never printed), every answer read is checked, and the number of HTTP
requests grows with pages of tasks, never with tasks.
"""

from __future__ import annotations

import base64
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np

__all__ = ["Interface", "StudioProject", "labeling_interface", "ranked_predictions",
           "task_label", "VERSION_PREFIX"]

#: every prediction skralif writes has a model_version starting with this
VERSION_PREFIX = "skralif"
_ROUND = re.compile(r"^skralif .* round (\d+)$")
#: characters of a server's error body printed at most
BODY_CHARS = 300
#: tasks asked for per page, and predictions sent per import request
PAGE_SIZE = 1000
#: the object tags skralif reads, besides numeric data fields
OBJECT_TAGS = ("Text", "HyperText", "Image")


@dataclass(frozen=True)
class Interface:
    """What skralif reads of a labeling config.

    Parameters
    ----------
    control : str
        Name of the single ``Choices`` control: the label.
    to_name : str
        The object tag it labels.
    choices : tuple of str
        Its choices.
    kind : str
        ``"text"``, ``"image"`` or ``"numeric"``: how tasks are featurised.
        The object tag named by ``to_name`` decides (``Text`` and
        ``HyperText`` are text, ``Image`` is an image, any other tag leaves
        the numeric data fields).
    field : str or None
        The data field the object tag reads (``value="$text"`` gives
        ``"text"``); None for numeric projects.
    """

    control: str
    to_name: str
    choices: tuple
    kind: str
    field: str | None


def labeling_interface(config, project):
    """Parse a labeling config into an :class:`Interface`.

    Parameters
    ----------
    config : str
        The project's labeling config (XML).
    project : int or str
        Named in the errors.

    Returns
    -------
    interface : Interface

    Raises
    ------
    ValueError
        One line for a config that is not XML, does not have exactly one
        single-choice ``Choices`` control, or whose control labels no object
        tag of the config.
    """
    try:
        root = ET.fromstring(config or "")
    except ET.ParseError as err:
        raise ValueError(f"The labeling config of project {project} is not valid XML: "
                         f"{err}.") from None
    controls = root.findall(".//Choices")
    if len(controls) != 1:
        raise ValueError(f"skralif labels with the project's single Choices control; project "
                         f"{project} has {len(controls)} "
                         f"({[c.get('name') for c in controls]}).")
    tag = controls[0]
    if tag.get("choice", "single") != "single":
        raise ValueError(f"The Choices control {tag.get('name')!r} of project {project} allows "
                         f"choice={tag.get('choice')!r}; skralif needs a single choice per task.")
    to_name = tag.get("toName")
    objects = [e for e in root.iter() if e.get("name") == to_name and e is not tag
               and e.get("value", "").startswith("$")]
    if not objects:
        raise ValueError(f"The Choices control {tag.get('name')!r} of project {project} labels "
                         f"toName={to_name!r}, but the config has no object tag of that name "
                         "reading a data field (such as <Text name=\"text\" value=\"$text\"/>).")
    obj = objects[0]
    kind = {"Text": "text", "HyperText": "text", "Image": "image"}.get(obj.tag, "numeric")
    return Interface(tag.get("name"), to_name, tuple(c.get("value") for c in tag.findall("Choice")),
                     kind, obj.get("value")[1:] if kind != "numeric" else None)


def task_label(task, control_name):
    """The choice of the task's latest completed (not skipped) annotation, or None.

    Parameters
    ----------
    task : dict or object
        A task as Label Studio sends it (from its API or a webhook).
    control_name : str
        The ``Choices`` control's name.

    Returns
    -------
    label : str or None
    """
    done = [a for a in (get(task, "annotations") or []) if not get(a, "was_cancelled")]
    for annotation in sorted(done, key=lambda a: (get(a, "updated_at") or "",
                                                  get(a, "id") or 0), reverse=True):
        for region in get(annotation, "result") or []:
            if region.get("from_name") == control_name and region.get("type") == "choices":
                choices = region.get("value", {}).get("choices") or []
                if choices:
                    return choices[0]
    return None


def choice_result(interface, choice):
    """A prediction's ``result``: ``choice`` for the interface's ``Choices`` control.

    Parameters
    ----------
    interface : Interface
    choice : object
        Written as a string.

    Returns
    -------
    result : list of dict
    """
    return [{"from_name": interface.control, "to_name": interface.to_name,
             "type": "choices", "value": {"choices": [str(choice)]}}]


def ranked_predictions(task_ids, proposal, control, version):
    """One prediction per unlabeled task, its score the strategy's order mapped to (0, 1].

    The ``n`` picks first, in the strategy's order, then the other tasks by
    the strategy's per-task score, tasks it excludes (NaN) last:
    ``score = 1 - (rank - 1) / n_unlabeled``, so sorting by score,
    descending, labels in the strategy's order. (Label Studio's bulk import
    drops scores outside [0, 1], so the raw score cannot be used as such.)

    Parameters
    ----------
    task_ids : sequence of int
        Label Studio's id of each row of the round's data.
    proposal : skralif.labeling._round.Proposal
    control : Interface
    version : str
        The predictions' ``model_version``.

    Returns
    -------
    predictions : list of dict
        In Label Studio's prediction format, best first.
    """
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
        result = ([] if proposal.predicted is None
                  else choice_result(control, proposal.predicted[at[row]]))
        out.append({"task": int(task_ids[row]), "result": result,
                    "score": 1.0 - rank / total, "model_version": version})
    return out


class StudioProject:
    """One Label Studio project, reached through the official SDK.

    Every call's failure becomes one ``ValueError`` line, with the API key
    never printed; every answer read is checked (issue 22). :attr:`requests`
    counts the HTTP requests made.

    Parameters
    ----------
    url : str
        The Label Studio server, e.g. ``"http://localhost:8080"``.
    api_key : str
        A (legacy) API token of a user of the project.
    project : int
        The project id.
    client : label_studio_sdk.LabelStudio, default=None
        A client to use instead of one made from ``url`` and ``api_key``
        (its requests are then not counted).
    """

    def __init__(self, url, api_key, project, *, client=None):
        self.url, self.project, self.secret = url.rstrip("/"), project, api_key or None
        self.requests = 0
        host = urlparse(url).hostname or ""
        if urlparse(url).scheme == "http" and host not in ("localhost", "127.0.0.1", "::1"):
            warnings.warn(f"{url} is plain http to another host: the API key crosses the "
                          "network unencrypted. Use https.", UserWarning, stacklevel=3)
        try:
            import httpx
            from label_studio_sdk import LabelStudio
        except ImportError:
            raise ValueError("Label Studio needs the official SDK: pip install "
                             "'skralif[labelstudio]' (label-studio-sdk).") from None
        if client is None and not api_key:
            raise ValueError("No Label Studio API key: pass `api_key` or set "
                             "LABEL_STUDIO_API_KEY (Account & Settings > Legacy Token).")
        self.http = httpx.Client(base_url=self.url, timeout=60,
                                 headers={"Authorization": f"Token {api_key}"},
                                 event_hooks={"request": [self._count]})
        self.ls = client if client is not None else LabelStudio(
            base_url=self.url, api_key=api_key, httpx_client=self.http)

    def _count(self, request):
        self.requests += 1

    def call(self, fn):
        """Run one SDK call; connection, HTTP and parsing failures become a ValueError."""
        try:
            return fn()
        except Exception as err:  # the SDK raises httpx errors, ApiError and parse errors
            raise ValueError(self._redact(self._explain(err))) from None

    def _explain(self, err):
        url = self.url
        status = getattr(err, "status_code", None) or getattr(
            getattr(err, "response", None), "status_code", None)
        if status == 401:
            return (f"Label Studio at {url} refused the API key (401). Use a legacy token "
                    "from Account & Settings (legacy tokens must be enabled for the "
                    "organization).")
        if status == 404:
            return f"Label Studio at {url} has no project {self.project} (404)."
        if status is not None:
            body = getattr(err, "body", None)
            if body is None and getattr(err, "response", None) is not None:
                body = err.response.text
            body = " ".join(str(body).split())
            cut = body[:BODY_CHARS] + (" ..." if len(body) > BODY_CHARS else "")
            return f"Label Studio at {url} answered {status}: {cut}."
        if type(err).__module__.startswith(("httpx", "httpcore")):
            return f"Cannot reach Label Studio at {url}: {err}."
        return (f"Label Studio at {url} sent an answer skralif cannot read "
                f"({type(err).__name__}: {str(err)[:BODY_CHARS]}).")

    def _redact(self, text):
        return text.replace(self.secret, "[API key]") if self.secret else text

    def _raw(self, method, path, **kwargs):
        """One request outside the SDK (endpoints it does not wrap), checked."""
        def send():
            answer = self.http.request(method, path, **kwargs)
            answer.raise_for_status()
            return answer
        return self.call(send)

    def check_access(self):
        """One request that fails, in one line, when the server cannot be reached or
        refuses the API key."""
        self._raw("GET", "/api/current-user/whoami")

    def info(self):
        """The project (its label config, task count and model version)."""
        return self.call(lambda: self.ls.projects.get(self.project))

    def interface(self, info=None):
        """The project's :class:`Interface` (one line for a config skralif cannot use)."""
        info = self.info() if info is None else info
        return labeling_interface(get(info, "label_config"), self.project)

    def tasks(self, count):
        """The project's tasks, at most ``count`` (the project's own task count: a server
        that always returns a full page cannot keep skralif reading), each checked; read
        :data:`PAGE_SIZE` to a request."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"Label Studio at {self.url} did not say how many tasks project "
                             f"{self.project} has (task_number {count!r}).")
        pages = iter(self.call(lambda: self.ls.tasks.list(project=self.project, fields="all",
                                                          page_size=PAGE_SIZE)))
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
            raise ValueError(f"{where} that is {short(task)}, not a task object.")
        tid = get(task, "id")
        if isinstance(tid, bool) or not isinstance(tid, int):
            raise ValueError(f"{where} without an integer id (got {short(tid)}), so no "
                             "prediction can be written for it.")
        if not isinstance(get(task, "data"), dict):
            raise ValueError(f"{where}, {tid}, whose data is {short(get(task, 'data'))}, "
                             "not an object.")
        annotations = get(task, "annotations") or []
        if not isinstance(annotations, list):
            raise ValueError(f"{where}, {tid}, whose annotations are {short(annotations)}, "
                             "not a list.")
        for annotation in annotations:
            result = get(annotation, "result") or []
            if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
                raise ValueError(f"{where}, {tid}, with an annotation whose result is "
                                 f"{short(result)}, not a list of regions.")
        return tid

    def model_versions(self):
        """``{model_version: number of predictions}`` of the project's predictions."""
        versions = self._raw("GET", f"/api/projects/{self.project}/model-versions/").json()
        if not isinstance(versions, dict):
            raise ValueError(f"Label Studio at {self.url} sent the model versions of project "
                             f"{self.project} as {short(versions)}, not an object.")
        return versions

    def next_round(self, versions):
        """1 + the highest round among skralif's model versions in ``versions``."""
        return 1 + max((int(m.group(1)) for v in versions if (m := _ROUND.match(v or ""))),
                       default=0)

    def publish(self, predictions, version, versions):
        """Write ``predictions`` (one model version), make it the project's, then delete
        skralif's other versions: one request per :data:`PAGE_SIZE` predictions and one per
        old version, whatever the number of tasks.

        Parameters
        ----------
        predictions : list of dict
        version : str
        versions : dict
            The project's model versions before (:meth:`model_versions`).

        Returns
        -------
        n_removed : int
            Earlier skralif predictions deleted.
        """
        for start in range(0, len(predictions), PAGE_SIZE):
            chunk = predictions[start:start + PAGE_SIZE]
            self.call(lambda c=chunk: self.ls.projects.import_predictions(self.project,
                                                                          request=c))
        self.call(lambda: self.ls.projects.update(self.project, model_version=version))
        removed = 0
        for old, count in versions.items():
            if old and old != version and old.startswith(VERSION_PREFIX):
                self._raw("DELETE", f"/api/projects/{self.project}/model-versions/",
                          json={"model_version": old})
                removed += int(count or 0)
        return removed

    def download(self, url):
        """The bytes of a file the project's tasks point to (an upload, a local file served
        by Label Studio, or any http(s) URL), sent with the API key to Label Studio only."""
        if url.startswith("data:") and ";base64," in url:
            try:
                return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
            except ValueError:
                raise ValueError(f"Task data {short(url)} of project {self.project} is not "
                                 "valid base64.") from None
        if url.startswith("/"):
            return self._raw("GET", url).content
        if urlparse(url).scheme in ("http", "https"):
            if url.startswith(self.url + "/"):
                return self._raw("GET", url[len(self.url):]).content
            import httpx
            return self.call(lambda: httpx.get(url, timeout=60).raise_for_status().content)
        raise ValueError(f"Task data {short(url)} of project {self.project} is not a URL "
                         "skralif can download (http(s), a path on the Label Studio server, or "
                         "a base64 data URI).")


def short(value, limit=60):
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def get(obj, name):
    """``obj[name]`` of a dict, ``obj.name`` of an SDK object, None when absent."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
