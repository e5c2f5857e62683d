"""Screenshots of Label Studio driven by skralif (``sync``, and ``serve`` as the project's
model), for docs/labeling.rst.

Starts a Label Studio server on 127.0.0.1 (temporary data folder), makes a project of 300
handwritten digits (the 8x8 image, enlarged, to look at; the 64 pixels as the embedding
skralif reads), syncs once (TypiClust: no label yet), annotates the 20 proposed tasks with
their true digit, syncs again (RALIF), and photographs the data manager sorted by
prediction score and the first task with headless Chromium (Selenium). Needs
``label-studio`` (its own virtual environment is fine: ``--label-studio PATH``),
``label-studio-sdk``, ``selenium`` and Debian's ``chromium`` and ``chromium-driver``.

The model-backend screenshots (``--backend``): a text project of 300 AG News texts (only
to look at; nothing is measured on them), skralif's backend connected as its model in the
project's settings, 20 annotations from the top of the sorted list made through the API,
and the data manager once the backend has retrained.

    python benchmarks/labelstudio_screenshots.py --label-studio /path/to/bin/label-studio
"""

import argparse
import base64
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from skralif.labeling import ModelBackend, sync_label_studio  # noqa: E402
from tests.labelstudio_server import PASSWORD, TOKEN, USER, label_studio, serving  # noqa: E402

STATIC = ROOT / "docs" / "_static"
CHOICES = [f"digit {k}" for k in range(10)]
CONFIG = ('<View><Image name="image" value="$image" width="160px"/>'
          '<Choices name="digit" toName="image" choice="single" showInline="true">'
          + "".join(f'<Choice value="{c}"/>' for c in CHOICES) + "</Choices></View>")

#: data manager columns not shown in the screenshot
HIDDEN = ["data.pixels", "annotators", "total_predictions", "cancelled_annotations", "inner_id",
          "completed_at", "total_annotations", "annotations_results", "annotations_ids",
          "file_upload", "storage_filename", "created_at", "updated_at", "updated_by",
          "avg_lead_time", "draft_exists", "comment_count", "unresolved_comment_count",
          "comment_authors", "last_comment_updated_at", "predictions_model_versions",
          "annotations_results_json", "predictions_results_json"]


def png(pixels):
    """An 8x8 digit (0-16) as a 96x96 PNG data URI."""
    image = Image.fromarray((255 - pixels.reshape(8, 8) * 15.9).astype(np.uint8))
    out = io.BytesIO()
    image.resize((96, 96), Image.NEAREST).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def build_project(url):
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=url, api_key=TOKEN)
    project = ls.projects.create(title="Digits (skralif)", label_config=CONFIG)
    X, y = load_digits(return_X_y=True)
    tasks = [{"image": png(X[i]), "pixels": X[i].tolist()} for i in range(300)]
    ids = ls.projects.import_tasks(project.id, request=tasks, return_task_ids=True).task_ids
    truth = dict(zip(ids, y[:300], strict=True))
    first = sync_label_studio(url, TOKEN, project.id, n=20, features=["pixels"], epochs=60)
    print(first, flush=True)
    for task in first.proposed:
        ls.annotations.create(task, result=[{"from_name": "digit", "to_name": "image",
                                             "type": "choices",
                                             "value": {"choices": [CHOICES[truth[task]]]}}])
    second = sync_label_studio(url, TOKEN, project.id, n=20, features=["pixels"], epochs=60)
    print(second, flush=True)
    view = ls.views.create(project=project.id, data={
        "title": "skralif", "ordering": ["-tasks:predictions_score"],
        "filters": {"conjunction": "and", "items": []},
        "hiddenColumns": {"explore": [f"tasks:{c}" for c in HIDDEN], "labeling": []}})
    return project.id, view.id, second.proposed


def backend_project(url, backend_url, backend, ag_news):
    """A text project connected to the backend, 20 annotations, the backend retrained."""
    from label_studio_sdk import LabelStudio

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_labelstudio import CONFIG, read_ag_news

    texts, topics = read_ag_news(ag_news, 300)
    ls = LabelStudio(base_url=url, api_key=TOKEN)
    project = ls.projects.create(title="News topics (skralif model)", label_config=CONFIG)
    ids = ls.projects.import_tasks(project.id, request=[{"text": t} for t in texts],
                                   return_task_ids=True).task_ids
    truth = dict(zip(ids, topics, strict=True))
    ls.ml.create(project=project.id, url=backend_url, title="skralif (RALIF)")
    _until(lambda: backend.projects.get(project.id, {}).get("round") == 1)
    backend.wait(300)
    scores = {p.task: p.score for p in ls.predictions.list(project=project.id)}
    for task in sorted(scores, key=lambda t: -scores[t])[:20]:
        ls.annotations.create(task, result=[{"from_name": "topic", "to_name": "text",
                                             "type": "choices",
                                             "value": {"choices": [truth[task]]}}])
    _until(lambda: backend.projects[project.id]["round"] >= 2)
    backend.wait(300)
    view = ls.views.create(project=project.id, data={
        "title": "skralif", "ordering": ["-tasks:predictions_score"],
        "filters": {"conjunction": "and", "items": []},
        "hiddenColumns": {"explore": [f"tasks:{c}" for c in HIDDEN if c != "data.pixels"],
                          "labeling": []}})
    return project.id, view.id, backend.projects[project.id]["proposed"]


def _until(condition, timeout=300):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the backend did not train in time")
        time.sleep(0.5)


def screenshots(url, project, view, first_task, prefix="label_studio", settings=False):
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                 "--disable-dev-shm-usage"]:
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get(f"{url}/user/login/")
        driver.find_element(By.NAME, "email").send_keys(USER)
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
        time.sleep(3)
        STATIC.mkdir(exist_ok=True)
        if settings:
            driver.get(f"{url}/projects/{project}/settings/ml")
            time.sleep(8)
            driver.save_screenshot(STATIC / f"{prefix}_settings.png")
        driver.get(f"{url}/projects/{project}/data?tab={view}")
        time.sleep(8)
        driver.save_screenshot(STATIC / f"{prefix}_data_manager.png")
        driver.get(f"{url}/projects/{project}/data?tab={view}&task={first_task}")
        time.sleep(8)
        driver.save_screenshot(STATIC / f"{prefix}_task.png")
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label-studio", default="label-studio",
                        help="the label-studio executable")
    parser.add_argument("--backend", action="store_true",
                        help="the model-backend screenshots instead of the sync ones")
    parser.add_argument("--ag-news", type=Path,
                        default=ROOT.parent / "shared" / "data" / "ag_news" / "test.csv.gz",
                        help="AG News's test.csv.gz (the --backend project's texts)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, \
            label_studio(args.label_studio, Path(folder)) as url:
        if not args.backend:
            project, view, proposed = build_project(url)
            screenshots(url, project, view, proposed[0])
            print(f"Wrote {STATIC}/label_studio_{{data_manager,task}}.png")
            return
        backend = ModelBackend(url, TOKEN, Path(folder) / "backend", train_every=10)
        with serving(backend) as backend_url:
            project, view, proposed = backend_project(url, backend_url, backend,
                                                      args.ag_news)
            screenshots(url, project, view, proposed[0], prefix="label_studio_backend",
                        settings=True)
        print(f"Wrote {STATIC}/label_studio_backend_{{settings,data_manager,task}}.png")


if __name__ == "__main__":
    main()
