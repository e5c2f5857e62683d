"""``skralif labelstudio sync`` of a text project at the speed of its server: requests made and
wall time, against a real Label Studio started here (issue 24, item 4).

A Text project of ``--tasks`` news texts (AG News, validation data: nothing is tuned on it
here, the figures are speed), ``--labeled`` of them annotated with their true topic through
the API. Two syncs: the first publishes a model version, the second replaces it (its
deletions included). For comparison, the old way of replacing a version, one DELETE per
prediction, is timed on ``--old-sample`` predictions and its request count is the number of
predictions replaced. Needs ``label-studio`` (its own virtual environment is fine:
``--label-studio PATH``).

    python benchmarks/bench_labelstudio.py --label-studio .venv-ci-labelstudio/bin/label-studio
"""

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _report import markdown_table, write_section  # noqa: E402

from skralif.datasets import AG_NEWS_TOPICS, load_ag_news  # noqa: E402
from skralif.labeling import sync_label_studio  # noqa: E402
from tests.labelstudio_server import TOKEN, label_studio  # noqa: E402

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="topic" toName="text">'
          + "".join(f'<Choice value="{t}"/>' for t in AG_NEWS_TOPICS) + "</Choices></View>")


def read_ag_news(path, n):
    """The first ``n`` texts (title and description) and topics of AG News's CSV."""
    texts, topics = load_ag_news(path)
    return texts[:n].tolist(), topics[:n].tolist()


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label-studio", default="label-studio", help="the executable")
    parser.add_argument("--ag-news", type=Path,
                        default=ROOT.parent / "shared" / "data" / "ag_news" / "test.csv.gz")
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--labeled", type=int, default=100)
    parser.add_argument("--old-sample", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from label_studio_sdk import LabelStudio

    texts, topics = read_ag_news(args.ag_news, args.tasks)
    rows = []
    with tempfile.TemporaryDirectory() as folder, label_studio(args.label_studio,
                                                               Path(folder)) as url:
        ls = LabelStudio(base_url=url, api_key=TOKEN, timeout=600)
        pid = ls.projects.create(title="AG News (skralif)", label_config=CONFIG).id
        ids = ls.projects.import_tasks(pid, request=[{"text": t} for t in texts],
                                       return_task_ids=True).task_ids
        truth = dict(zip(ids, topics, strict=True))
        for t in ids[:: len(ids) // args.labeled][: args.labeled]:
            ls.annotations.create(t, result=[{"from_name": "topic", "to_name": "text",
                                              "type": "choices",
                                              "value": {"choices": [truth[t]]}}])
        for what in ("first sync (publishes)", "second sync (replaces)"):
            start, cpu = time.perf_counter(), cpu_seconds()
            report = sync_label_studio(url, TOKEN, pid, n=20)
            wall = time.perf_counter() - start
            rows.append([what, f"{report.n_predictions:,}", f"{report.n_removed:,}",
                         report.n_requests, f"{wall:.1f} s", f"{cpu_seconds() - cpu:.1f} s"])
            print(rows[-1], flush=True)
        predictions = list(ls.predictions.list(project=pid))
        hits = sum(p.result[0]["value"]["choices"][0] == truth[p.task] for p in predictions)
        # the old replacement: one DELETE per prediction, timed on a sample
        start = time.perf_counter()
        for p in predictions[: args.old_sample]:
            ls.predictions.delete(p.id)
        per_delete = (time.perf_counter() - start) / args.old_sample
    old = report.n_removed
    write_section("bench_labelstudio", (
        f"A Label Studio 1.23 Text project of {args.tasks:,} AG News texts (validation data; "
        f"speed only), {args.labeled} annotated; `sync_label_studio(n=20)` twice, torch "
        f"{args.threads} threads. Requests: every HTTP request skralif made to Label Studio.\n\n"
        + markdown_table(["sync", "predictions written", "old predictions deleted",
                          "requests", "wall time", "CPU time (skralif)"], rows)
        + f"\n\nThe old replacement (one DELETE per prediction) would have made {old:,} "
        f"deletion requests where the new one makes one per old version; timed on "
        f"{args.old_sample} of them at {per_delete * 1000:.0f} ms each, about "
        f"{old * per_delete:.0f} s for the second sync's deletions alone.\n\n"
        f"Accuracy of the published predictions on the unlabeled texts (true topics): "
        f"{hits / len(predictions):.3f}, from {args.labeled} labels."))


if __name__ == "__main__":
    main()
