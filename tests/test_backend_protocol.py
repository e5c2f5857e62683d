"""The model backend's protocol and inputs, without a Label Studio server: bad requests,
bad labeling configs, bad options and the task features each get one line, and nothing is
trained or written. Behaviour against the real server: tests/test_labelstudio_backend.py."""

import contextlib
import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")
pytest.importorskip("label_studio_sdk")
with warnings.catch_warnings():  # starlette's client prefers a newer httpx: not ours to fix
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient  # noqa: E402

from skralif.cli import main  # noqa: E402
from skralif.labeling import (  # noqa: E402
    ModelBackend,
    TaskFeatures,
    labeling_interface,
    load_callable,
    make_app,
)

TEXT = ('<View><Text name="text" value="$text"/><Choices name="topic" toName="text">'
        '<Choice value="a"/><Choice value="b"/></Choices></View>')


@pytest.fixture
def client(tmp_path):
    backend = ModelBackend("http://127.0.0.1:9", "key", tmp_path / "state")
    return backend, TestClient(make_app(backend))


def test_health_and_requests_it_cannot_use(client, tmp_path):
    backend, http = client
    assert http.get("/health").json()["status"] == "UP"
    for body, message in [
        (b"not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (json.dumps({"project": "x.1", "schema": TEXT}).encode(), "`project` must name"),
        (json.dumps({"project": "3.17", "schema": "<View/>"}).encode(), "has 0 ([])"),
        (json.dumps({"project": "3.17", "schema": "<View"}).encode(), "not valid XML"),
    ]:
        answer = http.post("/setup", content=body)
        assert answer.status_code == 400, body
        error = answer.json()["error"]
        assert message in error and "\n" not in error
    # the predict of a project set up before any training: empty results, one per task
    answer = http.post("/predict", json={"project": "3.17", "label_config": TEXT,
                                         "tasks": [{"id": 1, "data": {"text": "x"}}]})
    assert answer.status_code == 200
    (result,) = answer.json()["results"]
    assert result["result"] == [] and result["model_version"].endswith("untrained")
    assert http.post("/predict", json={"project": 3, "tasks": "x"}).status_code == 400
    assert http.post("/webhook", json={"action": "PROJECT_UPDATED"}).json()["status"] == \
        "ignored"
    assert not (tmp_path / "state").exists()  # nothing trained, nothing written


def test_a_failed_training_is_one_line_and_the_last_model_keeps_serving(client, tmp_path):
    backend, http = client
    answer = http.post("/train", json={"project": "5.17", "annotations": []})
    assert answer.json()["status"] == "training"
    assert backend.wait(60)
    project = backend.projects[5]
    assert "Cannot reach Label Studio at http://127.0.0.1:9" in project["error"]
    assert "\n" not in project["error"] and project["round"] == 0
    served = http.post("/predict", json={"project": 5, "tasks": [{"id": 1, "data": {}}]})
    assert served.json()["results"][0]["model_version"].endswith("untrained")
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("config, message", [
    (TEXT.replace("</Choices>", '</Choices><Choices name="b" toName="text"/>'), "has 2"),
    ('<View><Choices name="c" toName="nowhere"><Choice value="a"/></Choices></View>',
     "no object tag of that name"),
    (TEXT.replace('toName="text"', 'toName="text" choice="multiple"'), "single choice"),
])
def test_configs_skralif_cannot_use(config, message):
    with pytest.raises(ValueError, match=message) as err:
        labeling_interface(config, 7)
    assert "\n" not in str(err.value)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_any_config_is_read_or_refused_in_one_line(config):
    try:
        interface = labeling_interface(config, 1)
    except ValueError as err:
        assert "\n" not in str(err)
    else:
        assert interface.kind in ("text", "image", "numeric")


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12),
                 st.sampled_from(["²", "٣.17", "0.5", "-3"]),
                 st.dictionaries(st.just("id"), st.integers() | st.text(max_size=5))))
def test_any_project_field_is_an_id_or_one_line(value):
    backend = ModelBackend("http://127.0.0.1:9", "key", "/nonexistent/never-written")
    try:
        project = backend._project({"project": value})
    except ValueError as err:
        assert "`project` must name" in str(err) and "\n" not in str(err)
    else:
        assert project["id"] >= 1


def test_options_are_checked_before_anything():
    for kwargs, message in [({"train_every": 0}, "`train_every` must be a positive"),
                            ({"strategy": "best"}, "`strategy` 'best' is not a strategy"),
                            ({"seed": -1}, "`seed` must be an integer"),
                            ({"audit": -1}, "`audit` must be an integer")]:
        with pytest.raises(ValueError, match=message):
            ModelBackend("http://127.0.0.1:9", "key", "unused", **kwargs)


def test_load_callable_errors():
    assert load_callable("numpy:zeros", "--encoder") is np.zeros
    for spec, message in [("numpy", "must be module:callable"),
                          ("no_such_module_xyz:f", "cannot import 'no_such_module_xyz'"),
                          ("numpy:no_such_thing", "has no callable 'no_such_thing'")]:
        with pytest.raises(ValueError, match=message):
            load_callable(spec, "--encoder")


def test_text_features_fit_on_texts_and_transform_new_ones():
    interface = labeling_interface(TEXT, 1)
    tasks = [{"id": i, "data": {"text": f"word{i % 5} common token{i % 3} more{i}"}}
             for i in range(40)]
    features = TaskFeatures(interface, project=1)
    X = features.fit_transform(tasks)
    assert X.dtype == np.float32 and X.shape[0] == 40 and 1 <= X.shape[1] <= 39
    assert features.transform(tasks[:3]).shape == (3, X.shape[1])
    assert "TF-IDF and truncated SVD" in features.describe()
    with pytest.raises(ValueError, match="has no data field 'text'"):
        features.transform([{"id": 99, "data": {"body": "x"}}])
    with pytest.raises(ValueError, match="need at least two"):
        TaskFeatures(interface).fit_transform([{"id": 1, "data": {"text": "one"}}])
    with pytest.raises(ValueError, match="`encoder` reads images"):
        TaskFeatures(interface, encoder=lambda: None)


def test_image_project_without_an_encoder_or_embedding_says_how():
    config = ('<View><Image name="image" value="$image"/><Choices name="c" toName="image">'
              '<Choice value="a"/></Choices></View>')
    tasks = [{"id": i, "data": {"image": f"/data/upload/1/{i}.png"}} for i in range(3)]
    with pytest.raises(ValueError, match="name an encoder"):
        TaskFeatures(labeling_interface(config, 1)).fit_transform(tasks)


@pytest.mark.parametrize("argv, message", [
    (["--encoder", "nope"], "--encoder must be module:callable"),
    (["--encoder", "no_such_module_xyz:f"], "--encoder 'no_such_module_xyz:f': cannot import"),
    (["--features", "numpy:no_such"], "--features 'numpy:no_such': module 'numpy' has no"),
    (["--train-every", "0"], None),
    (["--port", "70000"], None),
])
def test_serve_command_line_errors_are_one_line(argv, message, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "key")
    with pytest.raises(SystemExit) if message is None else contextlib.nullcontext():
        status = main(["labelstudio", "serve", "--url", "http://127.0.0.1:9",
                       "--state", str(tmp_path / "s"), *argv])
        assert status == 2
    err = capsys.readouterr().err
    if message:
        assert message in err and err.count("\n") == 1
    assert not (tmp_path / "s").exists()


def test_serve_refuses_an_unreachable_server_and_a_missing_key(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    argv = ["labelstudio", "serve", "--url", "http://127.0.0.1:9", "--state", str(tmp_path)]
    assert main(argv) == 2
    assert "No Label Studio API key" in capsys.readouterr().err
    assert main([*argv, "--api-key", "secret-key-1234"]) == 2
    err = capsys.readouterr().err
    assert "Cannot reach Label Studio" in err and "secret-key-1234" not in err


@pytest.mark.parametrize("kind", ["text", "numeric"])
def test_a_saved_model_predicts_as_the_trained_one(kind, tmp_path):
    """Issue 24: a restarted backend rebuilds the net and the features from its state
    (weights, scaler, vocabulary, idf, components: no pickle) and predicts as before."""
    from skralif.datasets import make_topic_texts
    from skralif.labeling._backend import _SavedModel
    from skralif.labeling._round import propose

    texts, topics = make_topic_texts(80)
    if kind == "text":
        interface = labeling_interface(TEXT, 1)
        tasks = [{"id": i, "data": {"text": t}} for i, t in enumerate(texts)]
    else:
        config = TEXT.replace('<Text name="text" value="$text"/>',
                              '<Header name="text" value="$x"/>')
        interface = labeling_interface(config, 1)
        rng = np.random.default_rng(0)
        tasks = [{"id": i, "data": {"x": float(k) + rng.normal(), "y": rng.normal()}}
                 for i, k in enumerate(i % 2 for i in range(80))]
    features = TaskFeatures(interface, project=1)
    X = features.fit_transform(tasks)
    y = np.array([t if i < 30 else None for i, t in enumerate(topics)], dtype=object)
    learner = propose(X, y, 5, epochs=5).learner
    backend = ModelBackend("http://127.0.0.1:9", "key", tmp_path, epochs=5)
    saved = json.loads(json.dumps(backend._save_weights(1, learner, features),
                                  default=lambda a: a.tolist()))
    project = {"id": 1, "interface": interface}
    restored_features, model = backend._restore(project, saved)
    new = tasks[-10:]
    np.testing.assert_allclose(restored_features.transform(new), features.transform(new),
                               rtol=1e-6)
    np.testing.assert_array_equal(model.predict(restored_features.transform(new)),
                                  learner.predict(features.transform(new)))
    assert isinstance(model, _SavedModel)
    # a state that does not fit the project is not rebuilt, with a warning, never a crash
    other = labeling_interface(TEXT.replace("Text", "Image"), 1)
    if kind == "text":
        assert backend._restore({"id": 1, "interface": other}, saved) is None
