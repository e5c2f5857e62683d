"""labelstudio sync against a misbehaving server (a fake on 127.0.0.1): one line, no key
printed, nothing written, and a reading that ends (issue 22). Behaviour against the real
server is tests/test_labelstudio.py."""

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("label_studio_sdk")

from skralif.cli import main  # noqa: E402
from skralif.labeling import sync_label_studio  # noqa: E402
from tests.fake_labelstudio import CONFIG, FakeLabelStudio, serve, task  # noqa: E402

KEY = "0123456789abcdef-secret-key"
TASKS = [task(i, "a" if i < 4 else ("b" if i < 8 else None)) for i in range(40)]
WRITES = ("POST", "PATCH", "DELETE")


def sync(url, **kw):
    return sync_label_studio(url, KEY, 1, **{"n": 3, "epochs": 2, **kw})


def broken(tasks=TASKS, page=None, **errors):
    fake = FakeLabelStudio([dict(t) for t in tasks])
    if page is not None:
        fake.tasks_page = page
    fake.errors.update(errors)
    return fake


def without(key):
    return [{k: v for k, v in t.items() if k != key} for t in TASKS]


def with_result(result):
    tasks = [dict(t) for t in TASKS]
    tasks[2] = dict(tasks[2], annotations=[{"id": 7, "result": result}])
    return tasks


@pytest.mark.parametrize("fake, message", [
    (broken(page=lambda p, s: {"tasks": "nope"}), "that is 'n', not a task object"),
    (broken(page=lambda p, s: {"tasks": None}), "sent no task for project 1, which has 40"),
    (broken(page=lambda p, s: {"nothing": 1}), "sent no task for project 1, which has 40"),
    (broken(with_result("a string")), "annotation whose result is 'a string'"),
    (broken(with_result(["a"])), "annotation whose result is ['a']"),
    (broken(without("id")), "without an integer id (got None)"),
    (broken(without("data")), "whose data is None, not an object"),
    (broken(**{"/api/projects/1/": lambda headers: (200, {"label_config": CONFIG})}),
     "did not say how many tasks project 1 has"),
    (broken(**{"/api/projects/1/": lambda headers: (200, ["not", "a", "project"])}),
     "sent an answer skralif cannot read"),
], ids=["tasks-string", "tasks-null", "no-tasks-key", "result-string", "result-of-strings",
        "no-id", "no-data", "no-task-number", "project-a-list"])
def test_a_misbehaving_server_gets_one_line_and_nothing_is_written(fake, message):
    with serve(fake) as url, pytest.raises(ValueError) as err:
        sync(url)
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert not [r for r in fake.requests if r[0] in WRITES]


def test_an_error_body_is_cut_and_never_shows_the_key():
    def echo(headers):  # a proxy that reflects the request, Authorization header first
        return 502, {"authorization": headers.get("Authorization"), "pad": "x" * 5000}

    fake = broken(**{"/api/projects/1/": echo})
    with serve(fake) as url, pytest.raises(ValueError) as err:
        sync(url)
    text = str(err.value)
    assert "answered 502" in text and KEY not in text and "[API key]" in text
    assert len(text) < 500 and text.endswith("....")


def test_a_server_that_always_sends_a_full_page_is_read_once():
    """Issue 22: 1,326 requests in 95 s, memory growing; now bounded by the task count."""
    fake = broken(page=lambda p, s: {"tasks": TASKS[:s], "total": 10**9})
    with serve(fake) as url:
        report = sync(url)
    reads = [r for r in fake.requests if r == ("GET", "/api/tasks/")]
    assert report.n_predictions == 32 and len(reads) == 1


def test_a_server_that_repeats_a_short_page_is_refused():
    fake = broken(page=lambda p, s: {"tasks": TASKS[:10], "total": 40})
    with serve(fake) as url, pytest.raises(ValueError, match="sent task 0 of project 1 twice"):
        sync(url)
    assert not [r for r in fake.requests if r[0] in WRITES]


def test_the_command_line_prints_one_line(capsys, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", KEY)
    fake = broken(page=lambda p, s: {"tasks": "nope"})
    with serve(fake) as url:
        status = main(["labelstudio", "sync", "--url", url, "--project", "1", "--epochs", "2"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "not a task object" in err


def test_plain_http_to_another_host_warns():
    from skralif.labeling._studio import StudioProject

    with pytest.warns(UserWarning, match="plain http to another host: the API key crosses"):
        StudioProject("http://labels.example.com", KEY, 1)
    for url in ("http://localhost:8080", "http://127.0.0.1:9", "https://labels.example.com"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            StudioProject(url, KEY, 1)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 50) | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["id", "data", "annotations", "result",
                                                       "x", "tasks"]), inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=15, deadline=None)
@given(position=st.integers(0, 39), field=st.sampled_from(["id", "data", "annotations"]),
       value=JSON)
def test_any_malformed_task_is_one_line_and_writes_nothing(position, field, value):
    """Issue 22, as a property: a task with any value in a field sync reads is either
    read or refused in one line before anything is written."""
    tasks = [dict(t) for t in TASKS]
    tasks[position] = dict(tasks[position], **{field: value})
    fake = broken(tasks)
    with serve(fake) as url:
        try:
            sync(url, epochs=1)
        except ValueError as err:
            assert "\n" not in str(err) and KEY not in str(err)
            assert not [r for r in fake.requests if r[0] in WRITES]
