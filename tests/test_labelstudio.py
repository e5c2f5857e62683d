"""Label Studio sync against a real Label Studio server started here on 127.0.0.1.

The server is Label Studio's own ``label-studio start`` (offline, a temporary
data folder, a legacy API token). It is found through ``$SKRALIF_LABEL_STUDIO``
(the executable) or on ``PATH``; ``.ci/run`` installs it in a virtual
environment of its own (its Django stack is not skralif's concern) and runs
these tests as a separate step. Marked slow: the server takes about 30 s to
start.
"""

import os

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skralif.cli import main
from skralif.labeling import sync_label_studio

from .labelstudio_server import TOKEN, free_port

pytestmark = [pytest.mark.slow, pytest.mark.labelstudio]
REQUIRED = bool(os.environ.get("SKRALIF_LABEL_STUDIO"))  # CI's step: fail, never skip
if REQUIRED:
    import label_studio_sdk as sdk
else:
    sdk = pytest.importorskip("label_studio_sdk")

CHOICES = [f"digit {k}" for k in range(10)]
CONFIG = ('<View><Image name="image" value="$image"/><Choices name="digit" toName="image">'
          + "".join(f'<Choice value="{c}"/>' for c in CHOICES) + "</Choices></View>")


@pytest.fixture(scope="module")
def server(label_studio_url):
    return label_studio_url


@pytest.fixture
def project(server):
    """A project of 150 digit tasks: an image field (unused), the pixels as an embedding
    and an ``index`` field (the row of load_digits)."""
    ls = sdk.LabelStudio(base_url=server, api_key=TOKEN)
    created = ls.projects.create(title="skralif digits", label_config=CONFIG)
    X, y = load_digits(return_X_y=True)
    tasks = [{"image": f"/data/{i}.png", "pixels": X[i].tolist()} for i in range(150)]
    ids = ls.projects.import_tasks(created.id, request=tasks, return_task_ids=True).task_ids
    return ls, created.id, dict(zip(ids, y[:150], strict=True))


def annotate(ls, truth, task_ids, cancelled=()):
    for t in task_ids:
        ls.annotations.create(t, result=[{"from_name": "digit", "to_name": "image",
                                          "type": "choices",
                                          "value": {"choices": [CHOICES[truth[t]]]}}],
                              was_cancelled=t in cancelled)


def predictions(ls, project):
    return {p.task: p for p in ls.predictions.list(project=project)}


def test_annotations_in_one_scored_prediction_per_unlabeled_task_out(server, project):
    ls, pid, truth = project
    first = sync_label_studio(server, TOKEN, pid, n=10, epochs=20)
    assert first.round == 1 and first.n_labeled == 0 and len(first.proposed) == 10
    out = predictions(ls, pid)
    assert set(out) == set(truth)  # one per task, none labeled yet
    assert {p.model_version for p in out.values()} == {"skralif 0.1.0 typiclust round 1"}
    assert all(p.result == [] for p in out.values())  # no model yet: nothing predicted
    by_score = sorted(out, key=lambda t: -out[t].score)
    assert by_score[:10] == first.proposed  # sorting by score follows the strategy

    annotate(ls, truth, first.proposed, cancelled=first.proposed[-1:])
    second = sync_label_studio(server, TOKEN, pid, n=10, epochs=20)
    assert second.round == 2 and second.n_labeled == 9  # a skipped task is no label
    assert second.model_version == "skralif 0.1.0 ralif round 2"
    out = predictions(ls, pid)
    unlabeled = set(truth) - set(first.proposed[:9])
    assert set(out) == unlabeled  # the old version is gone: no duplicates
    assert {p.model_version for p in out.values()} == {second.model_version}
    assert second.n_removed == len(truth)
    assert ls.projects.get(pid).model_version == second.model_version
    for p in out.values():
        (region,) = p.result
        assert region["from_name"] == "digit" and region["to_name"] == "image"
        assert region["value"]["choices"][0] in CHOICES
        assert 0 < p.score <= 1
    assert sorted(out, key=lambda t: -out[t].score)[:10] == second.proposed
    assert not set(second.proposed) & set(first.proposed[:9])
    # predictions agree with the truth more often than chance on the labeled digits' kin
    hits = np.mean([out[t].result[0]["value"]["choices"][0] == CHOICES[truth[t]]
                    for t in out])
    assert hits > 0.3


def test_command_line_and_errors(server, project, capsys, monkeypatch):
    ls, pid, truth = project
    annotate(ls, truth, list(truth)[:20])
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    assert main(["labelstudio", "sync", "--url", server, "--project", str(pid), "--n", "5",
                 "--features", "pixels", "--epochs", "10"]) == 0
    out = capsys.readouterr().out
    assert "round 1: 20 of 150 tasks labeled" in out and "Features: pixels." in out
    for argv, message in [
        (["--project", "999"], "has no project 999"),
        (["--project", str(pid), "--api-key", "wrong"], "refused the API key"),
        (["--project", str(pid), "--features", "image"], "data field 'image' is "
                                                           "'/data/0.png', not a number"),
        (["--project", str(pid), "--features", "nope"], "has no data field 'nope'"),
    ]:
        assert main(["labelstudio", "sync", "--url", server, *argv]) == 2
        assert message in capsys.readouterr().err
    assert main(["labelstudio", "sync", "--url", f"http://127.0.0.1:{free_port()}",
                 "--project", "1"]) == 2
    assert "Cannot reach Label Studio" in capsys.readouterr().err
    # a failed sync wrote nothing: still round 1's predictions only
    assert {p.model_version for p in predictions(ls, pid).values()} == {
        "skralif 0.1.0 ralif round 1"}
