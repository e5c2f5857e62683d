"""skralif against scikit-activeml on the same fitted net and pool: time, memory, picks.

scikit-activeml (the maintained library with its own skorch wrapper) is never a dependency
of skralif: this script runs in an environment of its own,

    python -m venv .venv-peers
    .venv-peers/bin/pip install torch==2.13.0
    .venv-peers/bin/pip install -e . scikit-activeml==1.0.1
    .venv-peers/bin/python benchmarks/bench_peers.py

One skorch net (a 64-256-128-10 MLP, skralif's ``MLPModule``) is trained on 1,000 labeled
rows of a synthetic 10-class pool; scikit-activeml's ``SkorchClassifier`` wraps the same
weights (loaded into a module that also returns the penultimate features, which its BADGE
and core-set read). Each shared strategy picks 100 rows from pools of ``--sizes`` rows:

- margin: skralif's ``UncertaintyQuery(measure="margin")``, scikit-activeml's
  ``UncertaintySampling(method="margin_sampling")``;
- BADGE: ``BADGEQuery`` and ``Badge`` (k-means++ seeding on gradient embeddings);
- core-set: ``CoresetQuery`` and ``CoreSet`` (greedy k-center); scikit-activeml's works on
  the features it is given, so its time includes the pass that computes them.

Per cell: the median time of ``--repeats`` runs, the peak extra memory (the rise of the
process's peak resident memory, as ``bench_query`` measures it), and ratios skralif/peer
measured in the same run. Picks: the share of skralif's 100 rows the peer also picked (the
same for margin; BADGE's and core-set's seeding draws differ). A peer run that would not
fit in ``--peer-max-mib`` of working memory is skipped and says so.
"""

import argparse
import time
from functools import partial

import numpy as np
import torch
from _report import markdown_table, write_section
from bench_query import median_time, peak_extra_mib

from skralif.nets import MLPModule, default_net
from skralif.strategies import BADGEQuery, CoresetQuery, UncertaintyQuery

N_FEATURES, N_CLASSES, HIDDEN, LABELED, QUERY = 64, 10, (256, 128), 1000, 100


class WithFeatures(MLPModule):
    """``MLPModule`` that also returns its penultimate features (what scikit-activeml's
    BADGE and core-set read)."""

    def forward(self, X):
        features = self.body(X.reshape(len(X), -1))
        return self.head(features), features


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(N_CLASSES, N_FEATURES)) * 2
    y = rng.integers(N_CLASSES, size=n + LABELED)
    X = (centres[y] + rng.normal(size=(len(y), N_FEATURES))).astype(np.float32)
    return X[:LABELED], y[:LABELED], X[LABELED:]


def fit_net(X_lab, y_lab):
    torch.manual_seed(0)
    net = default_net(max_epochs=10, module__hidden_units=HIDDEN,
                      module__in_features=N_FEATURES, module__n_classes=N_CLASSES,
                      iterator_valid__batch_size=4096, train_split=None)
    return net.fit(X_lab, y_lab)


def peer_classifier(net, X_lab, y_lab):
    """scikit-activeml's wrapper holding ``net``'s weights."""
    from skactiveml.classifier import SkorchClassifier

    clf = SkorchClassifier(
        WithFeatures, classes=np.arange(N_CLASSES), criterion_output_keys="proba",
        forward_outputs={"proba": (0, torch.nn.Softmax(dim=-1)), "emb": (1, None)},
        neural_net_param_dict=dict(module__in_features=N_FEATURES, module__n_classes=N_CLASSES,
                                   module__hidden_units=HIDDEN, iterator_valid__batch_size=4096,
                                   train_split=None, max_epochs=0))
    clf.fit(X_lab, y_lab)  # zero epochs: builds the net, then the trained weights go in
    clf.neural_net_.module_.load_state_dict(net.module_.state_dict())
    return clf


def peer_queries(clf, X_lab, y_lab, X_pool):
    """Each shared strategy of scikit-activeml, as a call returning pool positions."""
    from skactiveml.pool import Badge, CoreSet, UncertaintySampling
    from skactiveml.utils import MISSING_LABEL

    X = np.concatenate([X_lab, X_pool])
    y = np.concatenate([y_lab, np.full(len(X_pool), MISSING_LABEL)])

    def margin():
        return UncertaintySampling(method="margin_sampling", random_state=0).query(
            X, y, clf, fit_clf=False, batch_size=QUERY)

    def badge():
        return Badge(clf_embedding_flag_name={"extra_outputs": "emb"}, random_state=0).query(
            X, y, clf, fit_clf=False, batch_size=QUERY)

    def coreset():
        _, features = clf.predict_proba(X, extra_outputs="emb")
        return CoreSet(random_state=0).query(features, y, batch_size=QUERY)

    return {name: (lambda f=f: np.asarray(f()) - LABELED)
            for name, f in (("margin", margin), ("badge", badge), ("coreset", coreset))}


def ours(net, X_lab, y_lab, X_pool):
    strategies = {"margin": UncertaintyQuery(measure="margin"),
                  "badge": BADGEQuery(random_state=0), "coreset": CoresetQuery(random_state=0)}
    return {name: (lambda s=s: s.query(net, X_pool, QUERY, X_labeled=X_lab, y_labeled=y_lab))
            for name, s in strategies.items()}


def peer_mib(name, n):
    """Working memory scikit-activeml's run needs at least, in MiB (float64 arrays)."""
    gradient = n * HIDDEN[-1] * N_CLASSES * 8  # BADGE's gradient embeddings
    return {"margin": n * N_CLASSES * 8, "badge": 2 * gradient,
            "coreset": n * HIDDEN[-1] * 8 * 2}[name] / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peer-max-mib", type=float, default=8192)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import skactiveml

    rows, start = [], time.perf_counter()
    for n in args.sizes:
        X_lab, y_lab, X_pool = make_data(n)
        net = fit_net(X_lab, y_lab)
        base = median_time(partial(net.predict_proba, X_pool), args.repeats)
        mine = ours(net, X_lab, y_lab, X_pool)
        theirs = peer_queries(peer_classifier(net, X_lab, y_lab), X_lab, y_lab, X_pool)
        for name in mine:
            ours_time = median_time(mine[name], args.repeats)
            ours_mem = peak_extra_mib(mine[name], "cpu")
            picks = set(np.asarray(mine[name]()).tolist())
            if peer_mib(name, n) > args.peer_max_mib:
                rows.append([f"{n:,}", name, f"{ours_time:.3f} s", f"{ours_mem:.0f} MiB",
                             f"skipped (needs > {peer_mib(name, n):,.0f} MiB)", "", "", ""])
                continue
            peer_time = median_time(theirs[name], args.repeats)
            peer_mem = peak_extra_mib(theirs[name], "cpu")
            shared = len(picks & set(theirs[name]().tolist())) / QUERY
            rows.append([f"{n:,}", name, f"{ours_time:.3f} s ({ours_time / base:.1f}x)",
                         f"{ours_mem:.0f} MiB", f"{peer_time:.3f} s ({peer_time / base:.1f}x)",
                         f"{peer_mem:.0f} MiB", f"{peer_time / ours_time:.1f}x / "
                         f"{peer_mem / max(ours_mem, 1):.1f}x", f"{100 * shared:.0f}%"])
            print(rows[-1], flush=True)
    body = (
        f"scikit-activeml {skactiveml.__version__}; {args.threads} torch threads; query size "
        f"{QUERY}; times are medians of {args.repeats} runs, with the multiple of one "
        "`predict_proba` pass over the pool in brackets; memory is the peak extra resident "
        "memory of one run. *Peer / skralif*: how many times slower and larger the peer's "
        "run is. *Same picks*: the share of skralif's rows the peer also picked. Total "
        f"{time.perf_counter() - start:.0f} s. Where skralif is not the leaner: its core-set "
        "and BADGE compute distances in float64 chunks of 2**20 values (8 MiB each), a "
        "fixed cost a 10k pool does not amortise. Where the picks differ for margin: rows "
        "whose margins tie to float32 precision (skralif reads the net's float32 output; "
        "scikit-activeml's wrapper works in float64).\n\n"
        + markdown_table(["pool rows", "strategy", "skralif time", "skralif memory",
                          "scikit-activeml time", "scikit-activeml memory",
                          "peer / skralif (time / memory)", "same picks"], rows))
    write_section("bench_peers", body)


if __name__ == "__main__":
    main()
