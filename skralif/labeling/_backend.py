"""``skralif labelstudio serve``: skralif as Label Studio's model backend.

Label Studio's model-backend protocol, served with FastAPI on uvicorn:
``GET /health``, ``POST /setup`` (the project and its labeling config),
``POST /predict`` (a prediction for each task Label Studio sends) and
``POST /webhook`` (the annotation events of the project webhook Label Studio
registers for its model, and ``START_TRAINING``; ``POST /train``, Label Studio's
older training call, is the same). Training runs on one
background thread: a request never waits for it and is answered by the last
model. After each training the backend publishes a prediction for every
unlabeled task in bulk (:meth:`StudioProject.publish`), its score the
strategy's order, so sorting the data manager by prediction score, descending,
follows the strategy. Each project's state (settings, model versions, the
published predictions, the net's weights) is plain JSON and skorch's
parameter file in ``state_dir/project-<id>``: a restarted backend continues.
"""
# no `from __future__ import annotations`: FastAPI reads the handlers' annotations

import json
import logging
import threading
import time
from pathlib import Path

import numpy as np

from .. import __version__
from .._audit import NO_ESTIMATE, draw_audit, estimate_from_draws
from ._round import check_options, propose
from ._state import save_json, write_atomically
from ._studio import (
    VERSION_PREFIX,
    StudioProject,
    choice_result,
    get,
    labeling_interface,
    ranked_predictions,
    short,
    task_label,
)
from ._task_features import TaskFeatures

__all__ = ["ModelBackend", "make_app", "serve_backend"]

logger = logging.getLogger("skralif.labelstudio")
#: the backend's state file inside a project's folder, and its layout's version
STATE_FILE, FORMAT = "backend.json", 1
#: the annotation events that count towards ``train_every``
ANNOTATION_EVENTS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED",
                     "ANNOTATION_DELETED", "ANNOTATIONS_DELETED")


class ModelBackend:
    """skralif as the model backend of the projects of one Label Studio server.

    Parameters
    ----------
    url : str
        The Label Studio server the backend reads tasks from and publishes
        predictions to.
    api_key : str
        A (legacy) API token of a user of its projects.
    state_dir : path-like
        Where each project's state lives (``state_dir/project-<id>``).
    strategy : str, default="ralif"
        A name of :data:`skralif.evaluation.STRATEGIES`.
    train_every : int, default=10
        Retrain after this many annotation events (created, updated, deleted)
        of a project; ``START_TRAINING`` retrains at once. Events that arrive
        during a training start the next one when it ends.
    n : int, default=20
        Tasks of the strategy's batch: the top of the order.
    features, encoder : default=None
        As for :func:`~skralif.labeling.sync_label_studio`.
    seed : int, default=0
    epochs : int, default=60
    audit : int, default=2
        Tasks drawn uniformly at random each training to estimate the model's
        accuracy on the unlabeled tasks without bias (as ``skralif query
        --audit``): published first in the order, with no predicted choice,
        and never trained on unless the strategy picks them. 0 turns the
        audit off.

    Attributes
    ----------
    projects : dict
        The state of each project set up, by id.
    """

    def __init__(self, url, api_key, state_dir, *, strategy="ralif", train_every=10, n=20,
                 features=None, encoder=None, seed=0, epochs=60, audit=2):
        check_options(positive=[("`train_every`", train_every), ("`n`", n),
                                ("`epochs`", epochs)],
                      non_negative=[("`seed`", seed), ("`audit`", audit)],
                      strategy=("`strategy`", strategy))
        self.audit = audit
        self.url, self.api_key, self.state_dir = url, api_key, Path(state_dir)
        self.strategy, self.train_every, self.n = strategy, train_every, n
        self.features, self.encoder, self.seed, self.epochs = features, encoder, seed, epochs
        self.projects = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ the protocol
    def health(self):
        """``GET /health``: up, whether a training runs, and each project's round, model
        version, labels and audit estimate of its accuracy on the unlabeled tasks.

        Returns
        -------
        answer : dict
        """
        with self._lock:
            training = any(p["training"] for p in self.projects.values())
            projects = {str(pid): {"round": p["round"], "model_version": p["model_version"],
                                   "training": p["training"], "n_labeled": p["n_labeled"],
                                   "n_audit_labeled": p["n_audit_labeled"],
                                   **{k: None if isinstance(v, float) and v != v else v
                                      for k, v in p["estimate"].items()},
                                   "error": p["error"]}
                        for pid, p in self.projects.items()}
        return {"status": "UP", "model_class": f"skralif {__version__} ({self.strategy})",
                "training": training, "projects": projects}

    def setup(self, payload):
        """``POST /setup``: register the project (its labeling config checked) and start its
        first training when it has none.

        Parameters
        ----------
        payload : dict
            Label Studio's request: ``project`` (``"<id>.<timestamp>"``) and
            ``schema`` (the labeling config).

        Returns
        -------
        answer : dict
            ``{"model_version": ...}``, the version the backend serves.
        """
        config = get(payload, "schema")
        labeling_interface(config, get(payload, "project"))  # checked at every setup
        project = self._project(payload, config=config)
        self.train(project["id"], first=True)
        return {"model_version": project["model_version"]}

    def predict(self, payload):
        """``POST /predict``: one prediction per task, from the last published model.

        A task the last training ranked gets its published prediction; one
        imported since gets the model's choice and a score of 0 (last in the
        strategy's order until the next training); before any model, an empty
        result.

        Parameters
        ----------
        payload : dict
            Label Studio's request: ``project``, ``label_config`` and
            ``tasks`` (task objects with ``id`` and ``data``).

        Returns
        -------
        answer : dict
            ``{"results": [...], "model_version": ...}``, one result per task
            (``result``, ``score``, ``model_version``).
        """
        project = self._project(payload, config=get(payload, "label_config"))
        tasks = get(payload, "tasks")
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            raise ValueError(f"`tasks` must be a list of task objects; got {short(tasks)}.")
        with self._lock:
            published, version = project["predictions"], project["model_version"]
            model = project.get("model")
        results = []
        for task in tasks:
            known = published.get(str(task.get("id")))
            if known is None and model is not None:
                known = self._predict_new(project, model, task)
            result, score = known if known is not None else ([], 0.0)
            results.append({"result": result, "score": score, "model_version": version})
        return {"results": results, "model_version": version}

    def webhook(self, payload):
        """``POST /webhook``: annotation events count towards ``train_every``;
        ``START_TRAINING`` retrains at once. Other events are ignored.

        Parameters
        ----------
        payload : dict
            Label Studio's event: ``action`` and ``project`` (an object with
            its ``id``).

        Returns
        -------
        answer : dict
            ``status`` (``"training"``, ``"counted"`` or ``"ignored"``).
        """
        action = get(payload, "action")
        if action not in (*ANNOTATION_EVENTS, "START_TRAINING"):
            return {"status": "ignored", "action": action}
        project = self._project(payload, config=get(get(payload, "project") or {},
                                                    "label_config"))
        with self._lock:
            if action != "START_TRAINING":
                project["events"] += 1
            due = action == "START_TRAINING" or project["events"] >= self.train_every
        if due:
            self.train(project["id"])
        return {"status": "training" if due else "counted", "events": project["events"]}

    # ------------------------------------------------------------ training
    def train(self, pid, first=False):
        """Start a training of a project on a background thread, or, when one runs, have
        it run again once it ends.

        Parameters
        ----------
        pid : int
            The project id (set up before).
        first : bool, default=False
            Only a project's first training: nothing when it has a model or
            a training runs (Label Studio calls ``/setup`` often).
        """
        with self._lock:
            project = self.projects[pid]
            if first and (project["training"] or project["round"] > 0):
                return
            if project["training"]:
                project["again"] = True
                return
            project["training"], project["again"] = True, False
        threading.Thread(target=self._train_loop, args=(pid,), daemon=True,
                         name=f"skralif-train-{pid}").start()

    def wait(self, timeout=None):
        """Block until no project is training (for tests and a clean shutdown).

        Parameters
        ----------
        timeout : float, default=None
            Seconds to wait at most; None waits as long as it takes.

        Returns
        -------
        idle : bool
            False when ``timeout`` seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if not any(p["training"] for p in self.projects.values()):
                    return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def _train_loop(self, pid):
        project = self.projects[pid]
        while True:
            try:
                self._train_once(project)
            except Exception as err:  # a failed training leaves the last model serving
                project["error"] = f"{type(err).__name__}: {err}" if not isinstance(
                    err, ValueError) else str(err)
                logger.error("project %s: training failed, the last model keeps serving: %s",
                             pid, project["error"])
            with self._lock:
                if not project["again"]:
                    project["training"] = False
                    return
                project["again"] = False

    def _train_once(self, project):
        start = time.monotonic()
        pid = project["id"]
        with self._lock:
            project["events"] = 0
        server = StudioProject(self.url, self.api_key, pid)
        info = server.info()
        interface = server.interface(info)
        featuriser = TaskFeatures.from_option(interface, self.features, encoder=self.encoder,
                                              seed=self.seed, download=server.download,
                                              project=pid)
        tasks = server.tasks(get(info, "task_number"))
        if not tasks:
            logger.info("project %s has no task yet; nothing to train on.", pid)
            return
        X = featuriser.fit_transform(tasks)
        labels = np.empty(len(tasks), dtype=object)
        labels[:] = [task_label(t, interface.control) for t in tasks]
        ids = [t.id for t in tasks]
        at = {t: i for i, t in enumerate(ids)}
        # audit tasks the strategy never picked are held out: unlabeled to the learner
        draws = np.array([at[t] for t in project["audit_drawn"] if t in at], dtype=np.int64)
        held = sorted({ids[j] for j in draws} - set(project["picked"]))
        y = labels.copy()
        y[[at[t] for t in held]] = None
        versions = server.model_versions()
        k = max(project["round"], server.next_round(versions) - 1) + 1
        proposal = propose(X, y, self.n, strategy=self.strategy, seed=self.seed,
                           epochs=self.epochs)
        estimate = NO_ESTIMATE
        if proposal.learner is not None:
            estimate = estimate_from_draws(proposal.predicted, proposal.probability,
                                           proposal.rows, draws, labels[draws])
        drawn = draw_audit(np.random.RandomState([self.seed, k]),
                           np.setdiff1d(proposal.rows, proposal.picks), self.audit)
        audit_drawn = [*project["audit_drawn"], *(ids[j] for j in drawn)]
        picked = [*project["picked"], *(ids[j] for j in proposal.picks)]
        version = f"{VERSION_PREFIX} {__version__} {proposal.strategy} round {k}"
        chosen = set(picked)  # once: a set built per element made this quadratic
        predictions, audit_pending = _with_audit(
            ranked_predictions(ids, proposal, interface, version), labels, at,
            [t for t in dict.fromkeys(audit_drawn) if t in at and t not in chosen])
        removed = server.publish(predictions, version, versions)
        trained = int(sum(v is not None for v in y))
        weights = self._save_weights(pid, proposal.learner, featuriser)
        with self._lock:
            project.update(
                round=k, model_version=version, interface=interface, error=None,
                predictions={str(p["task"]): (p["result"], p["score"]) for p in predictions},
                proposed=[ids[i] for i in proposal.picks if labels[i] is None],
                audit_pending=audit_pending, audit_drawn=audit_drawn, picked=picked,
                n_labeled=trained, n_audit_labeled=int(sum(labels[at[t]] is not None
                                                           for t in held)),
                estimate=estimate.as_record(),
                model=(featuriser, proposal.learner) if proposal.learner is not None else None)
            self._save(project, weights)
        logger.info("project %s round %s: trained on %s of %s tasks, published %s predictions "
                    "as %r (removed %s) in %s requests, %.1f s. %s", pid, k, trained,
                    len(tasks), len(predictions), version, removed, server.requests,
                    time.monotonic() - start, estimate.line("tasks"))

    def _predict_new(self, project, model, task):
        """A task the last training did not see (imported since): the model's choice, and
        a score of 0 (last in the strategy's order until the next training)."""
        featuriser, learner = model
        try:
            X = featuriser.transform([task])
        except ValueError as err:
            logger.warning("project %s: no prediction for task %s: %s", project["id"],
                           task.get("id"), err)
            return None
        return choice_result(project["interface"], learner.predict(X)[0]), 0.0

    # ------------------------------------------------------------ projects and state
    def _project(self, payload, config=None):
        """The project a request names (``project`` as Label Studio sends it: ``"id.time"``,
        an id, or an object with an id), set up from its state or config on first sight."""
        pid = _project_id(get(payload, "project"))
        with self._lock:
            if pid in self.projects:
                return self.projects[pid]
        project = self._load(pid)
        if config:
            project["interface"] = labeling_interface(config, pid)
        project["model"] = self._restore(project, project.pop("saved_model", None))
        with self._lock:
            return self.projects.setdefault(pid, project)

    def _folder(self, pid):
        return self.state_dir / f"project-{pid}"

    def _load(self, pid):
        project = {"id": pid, "round": 0, "model_version": f"{VERSION_PREFIX} {__version__} "
                   f"{self.strategy} untrained", "predictions": {}, "proposed": [],
                   "events": 0, "training": False, "again": False, "error": None,
                   "interface": None, "n_labeled": 0, "audit_drawn": [], "picked": [],
                   "audit_pending": [], "n_audit_labeled": 0,
                   "estimate": NO_ESTIMATE.as_record()}
        path = self._folder(pid) / STATE_FILE
        if not path.exists():
            return project
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("format") != FORMAT or saved.get("project") != pid:
                raise ValueError(f"format {saved.get('format')!r}, project "
                                 f"{saved.get('project')!r}")
            project.update(round=int(saved["round"]), model_version=str(saved["model_version"]),
                           proposed=list(saved["proposed"]), events=int(saved["events"]),
                           n_labeled=int(saved["n_labeled"]),
                           audit_drawn=[int(t) for t in saved["audit_drawn"]],
                           picked=[int(t) for t in saved["picked"]],
                           audit_pending=[int(t) for t in saved["audit_pending"]],
                           n_audit_labeled=int(saved["n_audit_labeled"]),
                           saved_model=saved.get("model"),
                           estimate=dict(saved["estimate"]),
                           predictions={str(t): (r, float(s)) for t, (r, s)
                                        in saved["predictions"].items()})
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{path} is not a skralif backend state ({err}); move it away "
                             "to start the project afresh.") from None
        return project

    def _save_weights(self, pid, learner, featuriser):
        """What rebuilds the model after a restart: the net's weights (skorch's
        ``save_params``), its module's sizes, scaler and classes, and the features
        (:meth:`TaskFeatures.state`: JSON and ``features.npz``)."""
        if learner is None:
            return None
        folder = self._folder(pid)
        folder.mkdir(parents=True, exist_ok=True)
        scaler, net = learner.estimator_[0], learner.estimator_[-1]
        write_atomically(folder / "net_params.pt", lambda tmp: net.save_params(f_params=tmp))
        features, arrays = featuriser.state()
        if arrays:
            def write_npz(tmp):
                with open(tmp, "wb") as handle:  # a handle: savez would add ".npz" to a name
                    np.savez(handle, **arrays)
            write_atomically(folder / "features.npz", write_npz)
        return {"params": "net_params.pt", "classes": learner.classes_.tolist(),
                "scaler_mean": scaler.mean_, "scaler_scale": scaler.scale_,
                "module_params": {k[len("module__"):]: v for k, v in net.get_params().items()
                                  if k.startswith("module__")},
                "features": features, "arrays": "features.npz" if arrays else None}

    def _restore(self, project, saved):
        """The model the state describes, for tasks the last training did not see; None
        (with a warning) when it cannot be rebuilt: the next training makes one."""
        if not saved or not saved.get("features") or project["interface"] is None:
            return None
        folder = self._folder(project["id"])
        try:
            arrays = {}
            if saved.get("arrays"):
                with np.load(folder / saved["arrays"], allow_pickle=False) as npz:
                    arrays = {k: npz[k] for k in npz.files}
            featuriser = TaskFeatures.restore(project["interface"], saved["features"], arrays,
                                              encoder=self.encoder, project=project["id"])
            return featuriser, _SavedModel(folder / saved["params"], saved, self.epochs)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
            logger.warning("project %s: the saved model cannot be rebuilt (%s); tasks "
                           "imported since the last training get no prediction until the "
                           "next one.", project["id"], err)
            return None

    def _save(self, project, weights):
        folder = self._folder(project["id"])
        folder.mkdir(parents=True, exist_ok=True)
        save_json(folder / STATE_FILE, {
            "format": FORMAT, "project": project["id"], "url": self.url,
            "settings": {"strategy": self.strategy, "train_every": self.train_every,
                         "n": self.n, "seed": self.seed, "epochs": self.epochs,
                         "audit": self.audit},
            "round": project["round"], "model_version": project["model_version"],
            "n_labeled": project["n_labeled"], "events": project["events"],
            "proposed": project["proposed"], "estimate": project["estimate"],
            "n_audit_labeled": project["n_audit_labeled"],
            "audit_drawn": project["audit_drawn"], "picked": project["picked"],
            "audit_pending": project["audit_pending"], "model": weights,
            "predictions": {t: list(v) for t, v in project["predictions"].items()}})


class _SavedModel:
    """The net of a saved training, rebuilt from its weights: ``predict`` as the learner's.

    The pipeline of :func:`skralif.nets.scaled_mlp` with the saved module sizes, the
    scaler's saved mean and scale, and skorch's ``load_params`` (torch's
    ``weights_only`` loading).
    """

    def __init__(self, params, saved, epochs):
        from ..nets import scaled_mlp

        self.classes_ = np.asarray(saved["classes"], dtype=object)
        self.pipeline = scaled_mlp(max_epochs=epochs)
        scaler, net = self.pipeline[0], self.pipeline[-1]
        mean = np.asarray(saved["scaler_mean"], dtype=np.float64)
        scale = np.asarray(saved["scaler_scale"], dtype=np.float64)
        scaler.mean_, scaler.scale_, scaler.var_ = mean, scale, scale**2
        scaler.n_features_in_, scaler.n_samples_seen_ = len(mean), 1
        module = {k: tuple(v) if isinstance(v, list) else v
                  for k, v in saved["module_params"].items()}
        net.set_params(**{f"module__{k}": v for k, v in module.items()})
        net.initialize()
        net.load_params(f_params=str(params))

    def predict(self, X):
        """The predicted class of each row of ``X``."""
        return self.classes_[self.pipeline.predict_proba(X).argmax(axis=1)]


def _with_audit(predictions, labels, at, audit):
    """The published order: the audit tasks still unannotated first, with no predicted
    choice (an annotator is not led by the model on them), then the strategy's order;
    tasks annotated in Label Studio (held-out audit tasks) get no prediction. Scores are
    the new ranks mapped to (0, 1].

    Returns
    -------
    predictions : list of dict
    audit_pending : list of int
        The audit tasks at the top, in order.
    """
    pending = [t for t in audit if labels[at[t]] is None]
    first = set(pending)
    version = predictions[0]["model_version"] if predictions else ""
    ordered = [{"task": t, "result": [], "model_version": version} for t in pending]
    ordered += [p for p in predictions if p["task"] not in first and labels[at[p["task"]]] is None]
    for rank, p in enumerate(ordered):
        p["score"] = 1.0 - rank / len(ordered)
    return ordered, pending


def make_app(backend):
    """The FastAPI application serving ``backend``.

    Bad requests (not JSON, a missing or unknown project, a labeling config
    skralif cannot use) are answered 400 with one line in ``error``.

    Parameters
    ----------
    backend : ModelBackend

    Returns
    -------
    app : fastapi.FastAPI
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    app = FastAPI(title="skralif model backend for Label Studio", version=__version__)

    async def answer(request, handler):
        try:
            payload = await request.json()
        except Exception:  # json's ValueError, or the framework's own decoding error
            return JSONResponse({"error": "The request body is not JSON."}, status_code=400)
        if not isinstance(payload, dict):
            return JSONResponse({"error": "The request body must be a JSON object; got "
                                          f"{short(payload)}."}, status_code=400)
        try:
            import anyio.to_thread

            return await anyio.to_thread.run_sync(handler, payload)
        except ValueError as err:
            logger.warning("%s: %s", request.url.path, err)
            return JSONResponse({"error": str(err)}, status_code=400)

    @app.get("/health")
    def health():
        return backend.health()

    @app.post("/setup")
    async def setup(request: Request):
        return await answer(request, backend.setup)

    @app.post("/predict")
    async def predict(request: Request):
        return await answer(request, backend.predict)

    @app.post("/webhook")
    async def webhook(request: Request):
        return await answer(request, backend.webhook)

    @app.post("/train")
    async def train(request: Request):
        # Label Studio's older training call (its webhook flag off): START_TRAINING
        return await answer(request, lambda payload: backend.webhook(
            {"action": "START_TRAINING", "project": payload.get("project")}))

    return app


def serve_backend(url, api_key, state_dir, *, host="127.0.0.1", port=9090, **options):
    """Run the model backend until interrupted (``skralif labelstudio serve``).

    The API key, the server and the port are checked first: each failure is
    one line (a ``ValueError``) before anything listens.

    Parameters
    ----------
    url : str
        The Label Studio server.
    api_key : str
        A (legacy) API token.
    state_dir : path-like
        The backend's state folder.
    host : str, default="127.0.0.1"
        Address to listen on.
    port : int, default=9090
        Port to listen on.
    **options
        Passed to :class:`ModelBackend` (``strategy``, ``train_every``, ``n``,
        ``features``, ``encoder``, ``seed``, ``epochs``).

    Returns
    -------
    status : int
        0 once stopped.
    """
    import socket

    import uvicorn

    backend = ModelBackend(url, api_key, state_dir, **options)
    StudioProject(url, api_key, 0).check_access()
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as err:
        raise ValueError(f"Cannot listen on {host}:{port} ({err.strerror or err}); choose "
                         "another --port or --host.") from None
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s skralif: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    logger.info("model backend for %s on http://%s:%s (strategy %s, retrain every %s "
                "annotations, state in %s). Connect it in a project's Settings > Model.",
                url, host, port, backend.strategy, backend.train_every, backend.state_dir)
    uvicorn.run(make_app(backend), host=host, port=port, log_level="warning")
    return 0


def _project_id(value):
    """The project id of Label Studio's ``project`` field (``"3.1733312345"``, 3, or
    ``{"id": 3, ...}``)."""
    raw = get(value, "id") if isinstance(value, dict) else value
    text = str(raw).split(".")[0] if isinstance(raw, str | int) and not isinstance(
        raw, bool) else ""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"`project` must name a Label Studio project (an id, or "
                         f"\"<id>.<timestamp>\"); got {short(value)}.")
    return int(text)
