"""A labeling project on the user's own file: each run is one round of ``skralif query``."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .._csv import spreadsheet_safe
from ..stopping import StabilizingPredictions
from ._round import check_options, run_round
from ._state import FORMAT, STATE_FILE, load_state, project_lock, save_json, write_atomically
from ._table import read_table

__all__ = ["QueryReport", "query_file", "default_state_dir"]

#: the proposals file written in the state folder every round
TO_LABEL = "to_label.csv"
#: rows in the stopping criterion's stop set
STOP_SET_SIZE = 1000


@dataclass
class QueryReport:
    """What one run of :func:`query_file` did.

    Parameters
    ----------
    round : int
        The round just proposed, or the last one when nothing new was labeled.
    new_round : bool
        False when no label was added since the last round: nothing was
        trained or written.
    proposed : list
        Ids of the rows proposed this round, best first.
    pending : list
        Ids proposed in earlier rounds and still unlabeled.
    to_label : pathlib.Path
        The proposals file.
    lines : list of str
        The summary printed by ``skralif query``.
    """

    round: int
    new_round: bool
    proposed: list = field(default_factory=list)
    pending: list = field(default_factory=list)
    to_label: Path | None = None
    lines: list = field(default_factory=list)

    def __str__(self):
        return "\n".join(self.lines)


def default_state_dir(data):
    """The state folder of ``data`` when ``state_dir`` (``--state``) is not given.

    Parameters
    ----------
    data : path-like
        The data file.

    Returns
    -------
    folder : pathlib.Path
        Beside the file, named after it: ``cells.csv`` -> ``cells.skralif``.
    """
    data = Path(data)
    return data.with_name(data.stem + ".skralif")


def query_file(data, target, *, id_column=None, ignore=(), n=20, strategy="ralif",
               state_dir=None, seed=0, epochs=60):
    """Propose the next rows of a data file to label, continuing its labeling project.

    Rows whose ``target`` cell is empty are unlabeled. The net is trained on
    the labeled rows, the strategy ranks the unlabeled ones, and
    ``state_dir/to_label.csv`` lists the ``n`` picked rows (id, rank, round,
    predicted label, its probability, the strategy's score, then the row's
    own columns), followed by rows proposed in earlier rounds that are still
    unlabeled. Until two classes have labels, the label-free TypiClust
    proposes. The user fills target cells in ``data`` and calls again: the
    project continues from ``state_dir/state.json`` (plain JSON; the trained
    net's weights are saved next to it with skorch's ``save_params``). A run
    in which no label was added since the last round trains and writes
    nothing. Every file and option is checked before any training, and the
    state is written last, atomically: an interrupted run leaves the project
    as it was.

    Parameters
    ----------
    data : path-like
        A ``.csv`` file with a header row (or ``.parquet`` with pyarrow).
    target : str
        The label column.
    id_column : str, default=None
        A column of unique row ids; None uses row numbers from 0 (which shift
        if rows are inserted or deleted between runs).
    ignore : sequence of str, default=()
        Columns that are not features (copied to ``to_label.csv`` all the same).
    n : int, default=20
        Rows to propose.
    strategy : str, default="ralif"
        A name of :data:`skralif.evaluation.STRATEGIES`.
    state_dir : path-like, default=None
        The project folder; None is :func:`default_state_dir` of ``data``.
    seed : int, default=0
        Seeds training, the strategy and the stopping criterion's stop set.
    epochs : int, default=60
        Training epochs of the net every round.

    Returns
    -------
    report : QueryReport

    Raises
    ------
    ValueError
        For a bad option, file or state folder (naming it), before any training.
    """
    data = Path(data)
    check_options(positive=[("`n`", n), ("`epochs`", epochs)], non_negative=[("`seed`", seed)],
                  strategy=("`strategy`", strategy))
    folder = default_state_dir(data) if state_dir is None else Path(state_dir)
    earlier = load_state(folder)  # a bad folder or state is named before the data is read
    table = read_table(data, target, id_column=id_column, ignore=tuple(ignore))
    settings = {"target": target, "id": id_column, "ignore": sorted(ignore),
                "features": table.features}
    if earlier is not None:
        _check_same_project(earlier, settings, folder)
    if not any(v is None for v in table.y):
        raise ValueError(f"Every row of {data} has a `target` label: nothing is left to "
                         "propose. Add unlabeled rows (an empty target cell) to continue.")
    if (folder / TO_LABEL).exists() and not (folder / TO_LABEL).is_file():
        raise ValueError(f"{folder / TO_LABEL} is not a file; skralif writes the proposals "
                         "there. Move it away, or pass another `state_dir` folder.")
    folder.mkdir(parents=True, exist_ok=True)
    with project_lock(folder):  # read again under the lock: another run may have written
        state = load_state(folder)
        if state is None:
            state = {"skralif_state": FORMAT, "data": str(data.resolve()),
                     "settings": settings, "rounds": [], "labeled_ids": [], "stopping": None}
        else:
            _check_same_project(state, settings, folder)
        return _Round(table, state, folder, dict(n=n, strategy=strategy, seed=seed,
                                                 epochs=epochs)).run()


class _Round:
    """One run of ``skralif query``, from the table and state already checked."""

    def __init__(self, table, state, folder, options):
        self.table, self.state, self.folder, self.options = table, state, folder, options
        self.position = {i: k for k, i in enumerate(table.ids)}
        self.labeled = table.labeled
        self.labeled_ids = [table.ids[i] for i in self.labeled]

    def run(self):
        rounds = self.state["rounds"]
        lines = self._progress_lines(rounds)
        pending = self._pending(rounds)
        new = set(self.labeled_ids) - set(self.state["labeled_ids"])
        if rounds and not new:
            last = rounds[-1]["round"]
            lines.append(f"No label was added to {self.table.path.name} since round {last}: "
                         "nothing to retrain. Fill the target cells of the rows in "
                         f"{self.folder / TO_LABEL} and run again.")
            return QueryReport(last, False, [], [self.table.ids[i] for i in pending],
                               self.folder / TO_LABEL, lines)
        k = len(rounds) + 1
        opts = self.options
        done = run_round(self.table.X, self.table.y, opts["n"], pending=pending,
                         strategy=opts["strategy"], seed=opts["seed"], epochs=opts["epochs"])
        proposal = done.proposal
        stopping = None if proposal.learner is None else self._update_stopping(proposal)
        record = {
            "round": k, "at": datetime.now(UTC).isoformat(timespec="seconds"), **opts,
            "strategy": proposal.strategy, "n_labeled": done.n_labeled,
            "labeled_per_class": done.labeled_per_class,
            "proposed": [self.table.ids[i] for i in proposal.picks],
            "came_back_labeled": None, "cv_accuracy": done.cv_accuracy,
            "cv_folds": done.cv_folds,
            "stopping_value": None if stopping is None else stopping.values_[-1],
            "should_stop": bool(stopping is not None and stopping.stop_),
        }
        to_label = self.folder / TO_LABEL
        model = self._save_model(proposal.learner)  # first: the largest, slowest write
        write_atomically(to_label, self._to_label_csv(proposal, pending, k))
        self.state.update(rounds=[*rounds, record], labeled_ids=self.labeled_ids, model=model)
        save_json(self.folder / STATE_FILE, self.state)  # last: the round now counts
        lines += self._summary_lines(record, done, stopping, pending, to_label)
        return QueryReport(k, True, record["proposed"], [self.table.ids[i] for i in pending],
                           to_label, lines)

    # ------------------------------------------------------------ bookkeeping
    def _pending(self, rounds):
        """Rows proposed in any earlier round, still in the file and still unlabeled."""
        proposed = {i for r in rounds for i in r["proposed"]}
        return np.array(sorted(self.position[i] for i in proposed if i in self.position
                               and self.table.y[self.position[i]] is None), dtype=np.int64)

    def _progress_lines(self, rounds):
        """What became of the earlier rounds' proposals (recorded into the state)."""
        lines = []
        if not rounds:
            return lines
        last = rounds[-1]
        back = [i for i in last["proposed"] if i in self.position
                and self.table.y[self.position[i]] is not None]
        last["came_back_labeled"] = len(back)
        lines.append(f"Round {last['round']} proposed {len(last['proposed'])} rows; "
                     f"{len(back)} came back labeled.")
        gone = [i for r in rounds for i in r["proposed"] if i not in self.position]
        if gone:
            lines.append(f"{len(gone)} proposed row(s) are no longer in the file (ids "
                         f"{_ids_text(gone)}).")
        waiting = {}
        for r in rounds:
            ids = [i for i in r["proposed"]
                   if i in self.position and self.table.y[self.position[i]] is None]
            if ids:
                waiting[r["round"]] = ids
        if waiting:
            total = sum(len(ids) for ids in waiting.values())
            per_round = "; ".join(f"round {r}: {_ids_text(ids, 5)}" for r, ids in waiting.items())
            lines.append(f"{total} row(s) proposed earlier are still unlabeled ({per_round}); "
                         f"{TO_LABEL} lists them again after the new rows, not as new "
                         "proposals.")
        return lines

    def _update_stopping(self, proposal):
        """StabilizingPredictions, continued through its own state; the stop set is kept
        by id across runs (rows may move in the file)."""
        saved = self.state.get("stopping") or {}
        criterion = StabilizingPredictions(random_state=self.options["seed"])
        if saved.get("stop_set"):
            keep = [j for j, i in enumerate(saved["stop_set"]) if i in self.position]
            ids = [saved["stop_set"][j] for j in keep]
            resumed = {"values": saved["values"],
                       "stop_set": self.table.X[[self.position[i] for i in ids]]}
            if saved.get("predictions") is not None:
                # JSON keeps ints and strings; the learner's classes_ are int64 or str
                resumed["predictions"] = np.array([saved["predictions"][j] for j in keep]) \
                    .astype(proposal.learner.classes_.dtype)
        else:
            rng = np.random.default_rng(self.options["seed"])
            size = min(STOP_SET_SIZE, len(proposal.rows))
            ids = [self.table.ids[i] for i in np.sort(rng.choice(proposal.rows, size,
                                                                   replace=False))]
            resumed = {"values": [], "stop_set": self.table.X[[self.position[i] for i in ids]]}
        criterion.set_state(resumed)
        criterion.update(proposal.learner, self.table.X[proposal.rows])
        state = criterion.get_state()
        state.pop("stop_set")
        self.state["stopping"] = {"criterion": "StabilizingPredictions", "stop_set": ids,
                                  **state}
        return criterion

    def _save_model(self, learner):
        """The net's weights with skorch's ``save_params`` and the scaler as JSON."""
        if learner is None:
            return None
        scaler, net = learner.estimator_[0], learner.estimator_[-1]
        # written beside, then renamed over the old files: never half a file (issue 22)
        write_atomically(self.folder / "net_params.pt",
                         lambda tmp: net.save_params(f_params=tmp))
        write_atomically(self.folder / "net_history.json",
                         lambda tmp: net.save_params(f_history=tmp))
        return {"classes": learner.classes_.tolist(), "scaler_mean": scaler.mean_,
                "scaler_scale": scaler.scale_, "params": "net_params.pt",
                "history": "net_history.json", "module": type(net.module_).__name__,
                "module_params": {k[len("module__"):]: v for k, v in net.get_params().items()
                                  if k.startswith("module__")}}

    # ------------------------------------------------------------ output
    def _to_label_csv(self, proposal, pending, k):
        t = self.table
        at = {r: j for j, r in enumerate(proposal.rows)}
        round_of = {i: r["round"] for r in self.state["rounds"] for i in r["proposed"]}
        own = [c for c in t.header if c != (t.id_name if t.id_name != "row" else None)]
        own_index = [t.header.index(c) for c in own]
        out = io.StringIO()
        # RFC 4180 line ends: a field holding a carriage return is then quoted, not a new row
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([spreadsheet_safe(c) for c in
                         [t.id_name, "rank", "round", "predicted", "probability", "score", *own]])
        listed = [(rank, row, k) for rank, row in enumerate(proposal.picks, start=1)]
        listed += [("", row, round_of[t.ids[row]]) for row in pending]
        for rank, row, r in listed:
            j = at[row]
            predicted = "" if proposal.predicted is None else proposal.predicted[j]
            probability = "" if proposal.probability is None else \
                f"{proposal.probability[j]:.4f}"
            score = proposal.scores[j]
            # user data reaches an annotator's spreadsheet: no cell may run as a formula
            writer.writerow([spreadsheet_safe(c) for c in [
                t.ids[row], rank, r, predicted, probability,
                "" if not np.isfinite(score) else f"{score + 0.0:.6g}",
                *[t.cells[row][i] for i in own_index]]])
        return out.getvalue()

    def _summary_lines(self, record, done, stopping, pending, to_label):
        t, k, proposal = self.table, record["round"], done.proposal
        per_class = ", ".join(f"{c}: {m}" for c, m in record["labeled_per_class"].items())
        lines = [f"Round {k} of {t.path.name}: {len(self.labeled):,} of {len(t.ids):,} rows "
                 f"labeled" + (f" ({per_class})." if per_class else "."),
                 *done.model_lines()]
        if stopping is not None:
            value = stopping.values_[-1]
            lines.append(
                "Stopping (StabilizingPredictions: kappa between this round's and the last "
                f"round's predictions on {len(stopping.stop_set_)} rows, stop at a mean of "
                f"{stopping.threshold} over {stopping.window} rounds): "
                + ("first model, nothing to compare yet." if not np.isfinite(value) else
                   f"{value:.3f}; " + ("predictions have stabilised: labeling more is "
                                       "unlikely to pay off." if stopping.stop_ else
                                       "keep labeling.")))
        lines.append(f"Wrote {to_label}: {len(proposal.picks)} row(s) to label, ranked by "
                     f"{record['strategy']}" + (f", then {len(pending)} still unlabeled from "
                                                "earlier rounds." if len(pending) else ".")
                     + f" Fill their `{self.state['settings']['target']}` cells "
                     f"in {t.path.name} and run the same command again.")
        return lines


def _ids_text(ids, limit=10):
    text = ", ".join(str(i) for i in ids[:limit])
    return text + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _check_same_project(state, settings, folder):
    """The file's columns and the options that define the project must not change."""
    saved = state["settings"]
    for key, option in [("target", "`target`"), ("id", "`id_column`"), ("ignore", "`ignore`")]:
        if saved.get(key) != settings[key]:
            raise ValueError(f"{folder} is the project of {option} {saved.get(key)!r}; got "
                             f"{option} {settings[key]!r}. Use the same options, or another "
                             "`state_dir` folder for a new project.")
    if saved.get("features") != settings["features"]:
        raise ValueError(f"The feature columns changed since the last round: {folder} was made "
                         f"with {saved.get('features')}, the file now has "
                         f"{settings['features']}. Restore the columns, `ignore` the new ones, "
                         "or start a new project with another `state_dir` folder.")
