"""How many SVD components the default text features keep: accuracy of skralif's net on
TF-IDF and truncated SVD with k components, from a few random labels.

The default (:data:`skralif.labeling._task_features.TEXT_COMPONENTS` = 100 at most, and at
most the square root of the vocabulary's size) was chosen on the synthetic topic texts of
``skralif.datasets.make_topic_texts`` (200 texts, 54 terms). ``--ag-news PATH`` adds AG News
(validation data: reported, never used to choose).

    python benchmarks/bench_text_features.py
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _report import markdown_table, write_section  # noqa: E402

from skralif import ActiveLearningClassifier  # noqa: E402
from skralif.datasets import make_topic_texts  # noqa: E402
from skralif.labeling import TaskFeatures, labeling_interface  # noqa: E402

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="topic" toName="text">'
          '<Choice value="a"/><Choice value="b"/></Choices></View>')
from skralif.nets import scaled_mlp  # noqa: E402


def accuracy(X, y, n_labels, seeds):
    """Mean accuracy on the other rows of the net trained on ``n_labels`` random rows."""
    out = []
    for seed in range(seeds):
        labeled = np.random.default_rng(seed).choice(len(y), n_labels, replace=False)
        rest = np.setdiff1d(np.arange(len(y)), labeled)
        learner = ActiveLearningClassifier(scaled_mlp(max_epochs=30), missing_label=None,
                                           random_state=seed).fit(X[labeled], y[labeled])
        out.append(np.mean(learner.predict(X[rest]) == y[rest]))
    return float(np.mean(out))


def main():
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ag-news", type=Path, help="AG News's test.csv.gz (validation)")
    parser.add_argument("--components", type=int, nargs="+", default=[10, 20, 50, 100])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sets = [("synthetic topics (tuning)", *make_topic_texts(200), 20)]
    if args.ag_news:
        from bench_labelstudio import read_ag_news

        sets.append(("AG News, 2,000 texts (validation)", *read_ag_news(args.ag_news, 2000),
                     100))
    rows, start = [], time.perf_counter()
    for name, docs, labels, n_labels in sets:
        terms = TfidfVectorizer(sublinear_tf=True, max_features=2**16).fit_transform(docs)
        # the default is what the Label Studio text features choose for these texts
        features = TaskFeatures(labeling_interface(CONFIG, name))
        features.fit_transform([{"id": i, "data": {"text": d}} for i, d in enumerate(docs)])
        default = features.n_components_
        for k in sorted({*args.components, default}):
            if k >= min(terms.shape):
                continue
            X = TruncatedSVD(k, random_state=0).fit_transform(terms).astype(np.float32)
            acc = accuracy(X, np.array(labels), n_labels, args.seeds)
            rows.append([name, f"{terms.shape[1]:,}", n_labels,
                         f"{k}{' (default)' if k == default else ''}", f"{acc:.3f}"])
            print(rows[-1], flush=True)
    write_section("bench_text_features", (
        f"Accuracy on the unlabeled texts of skralif's net (`scaled_mlp(max_epochs=30)`) on "
        f"TF-IDF and k SVD components, from random labels, mean of {args.seeds} seeds; "
        f"torch {args.threads} threads, {time.perf_counter() - start:.0f} s.\n\n"
        + markdown_table(["texts", "terms", "labels", "components", "accuracy"], rows)))


if __name__ == "__main__":
    main()
