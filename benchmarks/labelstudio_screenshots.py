"""Screenshots of Label Studio driven by ``skralif labelstudio sync``, for docs/labeling.rst.

Starts a Label Studio server on 127.0.0.1 (temporary data folder), makes a project of 300
handwritten digits (the 8x8 image, enlarged, to look at; the 64 pixels as the embedding
skralif reads), syncs once (TypiClust: no label yet), annotates the 20 proposed tasks with
their true digit, syncs again (RALIF), and photographs the data manager sorted by
prediction score and the first task with headless Chromium (Selenium). Needs
``label-studio`` (its own virtual environment is fine: ``--label-studio PATH``),
``label-studio-sdk``, ``selenium`` and Debian's ``chromium`` and ``chromium-driver``.

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
from skralif.labeling import sync_label_studio  # noqa: E402
from tests.labelstudio_server import PASSWORD, TOKEN, USER, label_studio  # noqa: E402

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


def screenshots(url, project, view, first_task):
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
        driver.get(f"{url}/projects/{project}/data?tab={view}")
        time.sleep(8)
        STATIC.mkdir(exist_ok=True)
        driver.save_screenshot(STATIC / "label_studio_data_manager.png")
        driver.get(f"{url}/projects/{project}/data?tab={view}&task={first_task}")
        time.sleep(8)
        driver.save_screenshot(STATIC / "label_studio_task.png")
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label-studio", default="label-studio",
                        help="the label-studio executable")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, \
            label_studio(args.label_studio, Path(folder)) as url:
        project, view, proposed = build_project(url)
        screenshots(url, project, view, proposed[0])
    print(f"Wrote {STATIC / 'label_studio_data_manager.png'} and "
          f"{STATIC / 'label_studio_task.png'}")


if __name__ == "__main__":
    main()
