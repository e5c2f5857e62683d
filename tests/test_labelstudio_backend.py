"""skralif as Label Studio's model backend, against a real Label Studio server and a real
backend (uvicorn on 127.0.0.1), both started here.

A text project of 200 tasks is connected to the backend the way a user does it (a model
in the project's settings, which makes Label Studio call /health and /setup and register
a project webhook); annotations made through Label Studio's API reach the backend through
that webhook and retrain it; Label Studio's own "train" button reaches it as
START_TRAINING. An image project reads uploaded PNG files through a toy encoder.
"""

import io
import os
import threading
import time

import httpx
import numpy as np
import pytest
import torch

from skralif.datasets import TOPIC_WORDS as TOPICS
from skralif.datasets import make_topic_texts as texts
from skralif.labeling import ModelBackend, sync_label_studio

from .labelstudio_server import TOKEN, serving

pytestmark = [pytest.mark.slow, pytest.mark.labelstudio]
REQUIRED = bool(os.environ.get("SKRALIF_LABEL_STUDIO"))  # CI's step: fail, never skip
if REQUIRED:
    import label_studio_sdk as sdk
    import uvicorn
else:
    sdk = pytest.importorskip("label_studio_sdk")
    uvicorn = pytest.importorskip("uvicorn")

TEXT_CONFIG = ('<View><Text name="text" value="$text"/><Choices name="topic" toName="text">'
               + "".join(f'<Choice value="{t}"/>' for t in TOPICS) + "</Choices></View>")


@pytest.fixture(scope="module")
def server(label_studio_url):
    return label_studio_url




def annotate(ls, task_ids, truth, control="topic", to_name="text"):
    for t in task_ids:
        ls.annotations.create(t, result=[{"from_name": control, "to_name": to_name,
                                          "type": "choices",
                                          "value": {"choices": [truth[t]]}}])


def predictions(ls, project):
    out = {}
    for p in ls.predictions.list(project=project):
        assert p.task not in out, f"task {p.task} has two predictions"
        out[p.task] = p
    return out


def until(condition, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


class Gate:
    """A transformer factory whose fitting waits until the test opens the gate: a training
    that provably runs while the test sends requests."""

    def __init__(self):
        self.entered, self.open = threading.Event(), threading.Event()

    def __call__(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        gate = self

        class Waiting(TfidfVectorizer):
            def fit_transform(self, raw, y=None):
                gate.entered.set()
                assert gate.open.wait(120)
                return super().fit_transform(raw, y)

        return Waiting()


def test_backend_retrains_as_people_annotate(server, tmp_path):
    ls = sdk.LabelStudio(base_url=server, api_key=TOKEN)
    pid = ls.projects.create(title="skralif text", label_config=TEXT_CONFIG).id
    docs, topics = texts(200)
    ids = ls.projects.import_tasks(pid, request=[{"text": d} for d in docs],
                                   return_task_ids=True).task_ids
    truth = dict(zip(ids, topics, strict=True))
    state = tmp_path / "state"
    backend = ModelBackend(server, TOKEN, state, train_every=10, n=10, epochs=30)
    with serving(backend) as url:
        # connected as a user does: Label Studio calls /health and /setup, which starts the
        # first training (TypiClust: no label yet), and registers the project webhook
        model = ls.ml.create(project=pid, url=url, title="skralif")
        assert any(w.url == f"{url}/webhook" for w in ls.webhooks.list(project=pid))
        until(lambda: backend.projects.get(pid, {}).get("round") == 1)
        backend.wait(120)
        first = predictions(ls, pid)
        assert set(first) == set(ids)
        assert {p.model_version for p in first.values()} == {backend.projects[pid][
            "model_version"]} and "typiclust round 1" in first[ids[0]].model_version
        by_score = sorted(first, key=lambda t: -first[t].score)
        audit = backend.projects[pid]["audit_pending"]
        assert len(audit) == 2 and by_score[:2] == audit  # the audit's random draws first
        assert by_score[2:12] == backend.projects[pid]["proposed"]  # then the strategy

        # an annotator labels from the top of the sorted list; each annotation reaches the
        # backend through the webhook, and the tenth starts a training
        annotate(ls, by_score[:20], truth)
        until(lambda: backend.projects[pid]["round"] >= 2)
        backend.wait(180)
        project = backend.projects[pid]
        # annotated audit tasks are held out of training (unless the strategy picks one:
        # then its label trains) and estimate the accuracy on the unlabeled tasks
        assert project["n_labeled"] + project["n_audit_labeled"] == 20
        assert project["error"] is None
        assert project["estimate"]["n_audit"] >= project["n_audit_labeled"]  # repeats count
        health = httpx.get(f"{url}/health").json()["projects"][str(pid)]
        if project["n_audit_labeled"]:
            assert 0 <= health["accuracy_low"] <= health["accuracy_estimate"] <= \
                health["accuracy_high"] <= 1
        after = predictions(ls, pid)
        unlabeled = set(ids) - set(by_score[:20])
        assert set(after) == unlabeled  # one per unlabeled task, the old version gone
        assert {p.model_version for p in after.values()} == {project["model_version"]}
        assert "ralif round" in project["model_version"]
        assert ls.projects.get(pid).model_version == project["model_version"]
        assert all(0 < p.score <= 1 for p in after.values())
        ranked = sorted(after, key=lambda t: -after[t].score)
        head = len(project["audit_pending"])
        assert ranked[:head] == project["audit_pending"]
        assert all(after[t].result == [] for t in ranked[:head])  # audit: no choice shown
        # sorting by score is the strategy's order
        assert ranked[head:head + len(project["proposed"])] == project["proposed"]
        hits = np.mean([after[t].result[0]["value"]["choices"][0] == truth[t]
                        for t in ranked[head:]])
        assert hits > 0.5  # four topics: chance is 0.25

        # Label Studio's own training trigger (START_TRAINING) during which /predict answers
        # with the last model
        gate = Gate()
        backend.features, backend.train_every = gate, 1000
        version, before = project["model_version"], project["round"]
        ls.ml.train(model.id)
        assert gate.entered.wait(60)
        task = ls.tasks.get(ranked[head])
        answer = httpx.post(f"{url}/predict", timeout=30, json={
            "project": f"{pid}.0", "label_config": TEXT_CONFIG,
            "tasks": [{"id": task.id, "data": task.data}]}).json()
        assert backend.health()["training"]  # answered while the training waits
        (result,) = answer["results"]
        assert result["model_version"] == version and result["score"] == after[task.id].score
        gate.open.set()
        backend.wait(180)
        assert backend.projects[pid]["error"] is None
        assert backend.projects[pid]["round"] == before + 1
        # a user's transformer cannot be saved safely: one more training with the default
        # text features, which the restarted backend rebuilds from its state
        backend.features = None
        ls.ml.train(model.id)
        until(lambda: backend.projects[pid]["round"] == before + 2)
        backend.wait(180)
        retrained = backend.projects[pid]["round"]

    # a restarted backend (same address: Label Studio's webhook points there) continues
    # from its state: same version served, the saved net and features rebuilt for a task
    # imported while it was down, the next training is the next round
    (late,) = ls.projects.import_tasks(pid, request=[{"text": docs[0]}],
                                       return_task_ids=True).task_ids
    again = ModelBackend(server, TOKEN, state, train_every=10, n=10, epochs=30)
    with serving(again, port=int(url.rsplit(":", 1)[1])) as url:
        answer = httpx.post(f"{url}/setup", json={"project": f"{pid}.0",
                                                  "schema": TEXT_CONFIG}).json()
        assert answer["model_version"] == backend.projects[pid]["model_version"]
        assert not again.health()["training"]  # nothing to retrain on restart
        served = httpx.post(f"{url}/predict", json={
            "project": f"{pid}.0", "label_config": TEXT_CONFIG,
            "tasks": [{"id": ranked[head + 1],
                       "data": {"text": docs[ids.index(ranked[head + 1])]}}]},
            timeout=30).json()["results"][0]
        assert served["model_version"] == answer["model_version"] and served["result"]
        fresh = httpx.post(f"{url}/predict", json={
            "project": f"{pid}.0", "label_config": TEXT_CONFIG,
            "tasks": [{"id": late, "data": {"text": docs[0]}}]}, timeout=30).json()
        (fresh,) = fresh["results"]
        assert fresh["score"] == 0 and fresh["result"][0]["value"]["choices"][0] in TOPICS
        annotate(ls, ranked[:10], truth)
        until(lambda: again.projects[pid]["round"] == retrained + 1)
        again.wait(180)
        restarted = again.projects[pid]
        assert restarted["n_labeled"] + restarted["n_audit_labeled"] == 30
        assert restarted["estimate"]["n_audit"] >= restarted["n_audit_labeled"]  # repeats count
        final = predictions(ls, pid)
        assert len(final) == 171 and {p.model_version for p in final.values()} == {
            again.projects[pid]["model_version"]}


def png(value):
    """A 6x6 grey PNG of brightness ``value`` (0-255) with noise."""
    from PIL import Image

    rng = np.random.default_rng(value)
    pixels = np.clip(value + rng.normal(0, 10, (6, 6)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def toy_encoder():
    """Mean brightness of each colour channel: a frozen 'encoder' of three features."""
    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())


def test_image_project_reads_uploads_through_an_encoder(server, tmp_path):
    ls = sdk.LabelStudio(base_url=server, api_key=TOKEN)
    config = ('<View><Image name="image" value="$image"/><Choices name="shade" toName="image">'
              '<Choice value="dark"/><Choice value="light"/></Choices></View>')
    pid = ls.projects.create(title="skralif images", label_config=config).id
    values = [20 + 2 * i if i % 2 else 235 - 2 * i for i in range(30)]  # odd: dark
    files = [(f"file{i}", (f"img{i}.png", png(v), "image/png")) for i, v in enumerate(values)]
    answer = httpx.post(f"{server}/api/projects/{pid}/import", files=files,
                        headers={"Authorization": f"Token {TOKEN}"}, timeout=60)
    assert answer.status_code == 201, answer.text
    tasks = list(ls.tasks.list(project=pid))
    assert tasks[0].data["image"].startswith("/data/upload/")
    shade = {t.id: "dark" if int(t.data["image"].split("img")[1].split(".")[0]) % 2
             else "light" for t in tasks}
    backend = ModelBackend(server, TOKEN, tmp_path, encoder=toy_encoder, train_every=8, n=5,
                           epochs=40)
    with serving(backend) as url:
        ls.ml.create(project=pid, url=url, title="skralif")
        until(lambda: backend.projects.get(pid, {}).get("round") == 1)
        backend.wait(120)
        annotate(ls, [t.id for t in tasks[:8]], shade, control="shade", to_name="image")
        until(lambda: backend.projects[pid]["round"] == 2)
        backend.wait(120)
    project = backend.projects[pid]
    assert project["n_labeled"] + project["n_audit_labeled"] == 8 and project["error"] is None
    out = predictions(ls, pid)
    assert len(out) == 22
    assert sorted(t for t in out if not out[t].result) == sorted(project["audit_pending"])
    hits = np.mean([out[t].result[0]["value"]["choices"][0] == shade[t] for t in out
                    if out[t].result])
    assert hits > 0.9
    # the same features through the one-shot sync
    report = sync_label_studio(server, TOKEN, pid, n=5, epochs=40, encoder=toy_encoder)
    assert report.n_labeled == 8 and "frozen encoder's 3 outputs" in str(report)
