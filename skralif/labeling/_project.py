"""A labeling project on the user's own file: each run is one round of ``skralif query``."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .._audit import (
    MIN_CALIBRATION,
    NO_ESTIMATE,
    choose_temperature,
    draw_audit,
    estimate_from_draws,
    scale_temperature,
)
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
               state_dir=None, seed=0, epochs=60, audit=5):
    """Propose the next rows of a data file to label, continuing its labeling project.

    Rows whose ``target`` cell is empty are unlabeled. The net is trained on
    the labeled rows, the strategy ranks the unlabeled ones, and
    ``state_dir/to_label.csv`` lists the ``n`` picked rows (id, rank, purpose,
    round, predicted label, its probability, the strategy's score, then the
    row's own columns), then ``audit`` rows drawn at random, then rows
    proposed in earlier rounds that are still unlabeled. The audit rows'
    labels are never trained on (unless the strategy picks them later): they
    estimate the model's accuracy on the unlabeled rows without the bias of
    rows chosen because they are hard (see
    :func:`skralif.evaluation.estimate_accuracy`). Until two classes have
    labels, the label-free TypiClust proposes. The user fills target cells
    in ``data`` and calls again: the project continues from
    ``state_dir/state.json`` (plain JSON; the trained net's weights are saved
    next to it with skorch's ``save_params``). A run in which no label was
    added since the last round trains and writes nothing. Every file and
    option is checked before any training, and the state is written last,
    atomically: an interrupted run leaves the project as it was.

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
    audit : int, default=5
        Rows drawn uniformly at random from the unlabeled rows every round
        for the accuracy estimate (0: none; a drawn row already labeled costs
        nothing).

    Returns
    -------
    report : QueryReport

    Raises
    ------
    ValueError
        For a bad option, file or state folder (naming it), before any training.
    """
    data = Path(data)
    check_options(positive=[("`n`", n), ("`epochs`", epochs)],
                  non_negative=[("`seed`", seed), ("`audit`", audit)],
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
                                                 epochs=epochs, audit=audit)).run()


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
        # audit rows the strategy picked last round, labeled already: they train now
        known = set(self.state["labeled_ids"])
        promoted = [] if not rounds else [i for i in rounds[-1]["proposed"] if i in known]
        if rounds and not new and not promoted:
            last = rounds[-1]["round"]
            lines.append(f"No label was added to {self.table.path.name} since round {last}: "
                         "nothing to retrain. Fill the target cells of the rows in "
                         f"{self.folder / TO_LABEL} and run again.")
            return QueryReport(last, False, [], [self.table.ids[i] for i in pending],
                               self.folder / TO_LABEL, lines)
        k = len(rounds) + 1
        opts = self.options
        # audit rows are held out of training (unlabeled to the learner) until the
        # strategy picks one: the estimate then drops its draw, and its label trains
        y = self.table.y.copy()
        y[self._held_out(rounds)] = None
        done = run_round(self.table.X, y, opts["n"], pending=pending,
                         strategy=opts["strategy"], seed=opts["seed"], epochs=opts["epochs"])
        proposal = done.proposal
        stopping = None if proposal.learner is None else self._update_stopping(proposal)
        estimate = self._estimate(proposal)
        temperature = self._temperature(proposal)
        drawn = self._draw_audit(proposal, k)
        record = {
            "round": k, "at": datetime.now(UTC).isoformat(timespec="seconds"), **opts,
            "strategy": proposal.strategy, "n_labeled": done.n_labeled,
            "labeled_per_class": done.labeled_per_class,
            "proposed": [self.table.ids[i] for i in proposal.picks],
            "audit_drawn": [self.table.ids[i] for i in drawn],
            "came_back_labeled": None, **estimate.as_record(), "temperature": temperature,
            "cv_accuracy": done.cv_accuracy, "cv_folds": done.cv_folds,
            "stopping_value": None if stopping is None else stopping.values_[-1],
            "should_stop": bool(stopping is not None and stopping.stop_),
        }
        to_label = self.folder / TO_LABEL
        audit_pending = self._audit_pending(rounds, drawn, [*proposal.picks, *pending])
        model = self._save_model(proposal.learner)  # first: the largest, slowest write
        write_atomically(to_label, self._to_label_csv(proposal, pending, k, drawn,
                                                      audit_pending, temperature))
        self.state.update(rounds=[*rounds, record], labeled_ids=self.labeled_ids, model=model)
        save_json(self.folder / STATE_FILE, self.state)  # last: the round now counts
        lines += self._summary_lines(record, done, stopping, pending, to_label, estimate,
                                     audit_pending)
        return QueryReport(k, True, record["proposed"], [self.table.ids[i] for i in pending],
                           to_label, lines)

    # ------------------------------------------------------------ bookkeeping
    def _pending(self, rounds):
        """Rows proposed in any earlier round, still in the file and still unlabeled."""
        proposed = {i for r in rounds for i in r["proposed"]}
        return np.array(sorted(self.position[i] for i in proposed if i in self.position
                               and self.table.y[self.position[i]] is None), dtype=np.int64)

    def _audit_draws(self, rounds):
        """Every audit draw of the earlier rounds still in the file, as row positions
        (a row drawn twice counts twice)."""
        return [self.position[i] for r in rounds for i in r.get("audit_drawn", [])
                if i in self.position]

    def _held_out(self, rounds):
        """Rows drawn for the audit that no round's strategy has picked: not trained on."""
        picked = {i for r in rounds for i in r["proposed"]}
        draws = {self.table.ids[j] for j in self._audit_draws(rounds)}
        return np.array(sorted(self.position[i] for i in draws - picked), dtype=np.int64)

    def _estimate(self, proposal):
        """The audit's estimate of this round's model on the rows it was not trained on."""
        if proposal.learner is None:
            return NO_ESTIMATE
        draws = np.array(self._audit_draws(self.state["rounds"]), dtype=np.int64)
        return estimate_from_draws(proposal.predicted, proposal.probability, proposal.rows,
                                   draws, self.table.y[draws])

    def _temperature(self, proposal):
        """Temperature scaling of the model's probabilities, fitted on the audit labels it
        was not trained on (None with fewer than MIN_CALIBRATION of them)."""
        if proposal.learner is None:
            return None
        classes = {c: i for i, c in enumerate(proposal.learner.classes_.tolist())}
        held = set(proposal.rows.tolist())
        rows = [j for j in dict.fromkeys(self._audit_draws(self.state["rounds"]))
                if j in held and self.table.y[j] in classes]
        if len(rows) < MIN_CALIBRATION:
            return None
        proba = proposal.learner.predict_proba(self.table.X[rows])
        return choose_temperature(proba, np.array([classes[self.table.y[j]] for j in rows]))

    def _draw_audit(self, proposal, k):
        """This round's audit rows: uniform over the rows the next round's model will not
        be trained on (the unlabeled rows but this round's picks)."""
        rng = np.random.RandomState([self.options["seed"], k])
        return draw_audit(rng, np.setdiff1d(proposal.rows, proposal.picks),
                          self.options["audit"])

    def _audit_pending(self, rounds, drawn, listed):
        """Audit rows to list for labeling: this round's draws and earlier ones still
        unlabeled, but none listed as a proposal already."""
        rows, listed = [*self._audit_draws(rounds), *drawn.tolist()], set(listed)
        return [j for j in dict.fromkeys(rows) if self.table.y[j] is None
                and j not in listed]

    def _progress_lines(self, rounds):
        """What became of the earlier rounds' proposals (recorded into the state)."""
        lines = []
        if not rounds:
            return lines
        last = rounds[-1]
        back = [i for i in last["proposed"] if i in self.position
                and self.table.y[self.position[i]] is not None]
        last["came_back_labeled"] = len(back)
        drawn = [i for i in last.get("audit_drawn", []) if i in self.position]
        audited = sum(self.table.y[self.position[i]] is not None for i in drawn)
        lines.append(f"Round {last['round']} proposed {len(last['proposed'])} rows; "
                     f"{len(back)} came back labeled"
                     + (f", and {len(drawn)} audit rows, {audited} labeled." if drawn else "."))
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
    def _to_label_csv(self, proposal, pending, k, drawn, audit_pending, temperature):
        t = self.table
        at = {r: j for j, r in enumerate(proposal.rows)}
        round_of = {i: r["round"] for r in self.state["rounds"] for i in r["proposed"]}
        drawn_in = {i: r["round"] for r in reversed(self.state["rounds"])
                    for i in r.get("audit_drawn", [])}
        for j in drawn:
            drawn_in.setdefault(t.ids[j], k)
        own = [c for c in t.header if c != (t.id_name if t.id_name != "row" else None)]
        own_index = [t.header.index(c) for c in own]
        out = io.StringIO()
        # RFC 4180 line ends: a field holding a carriage return is then quoted, not a new row
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([spreadsheet_safe(c) for c in [
            t.id_name, "rank", "purpose", "round", "predicted", "probability", "score", *own]])
        listed = [(rank, row, "query", k) for rank, row in enumerate(proposal.picks, start=1)
                  if t.y[row] is None]  # a labeled audit row the strategy picked: no work
        listed += [("", row, "audit", drawn_in[t.ids[row]]) for row in audit_pending]
        listed += [("", row, "query", round_of[t.ids[row]]) for row in pending]
        percentile = _percentiles(proposal.scores)
        rows = [row for _, row, _, _ in listed]
        probability = {} if proposal.probability is None else {
            row: proposal.probability[at[row]] for row in rows}
        if temperature not in (None, 1.0) and rows:  # 1.0: scaling would change nothing
            scaled = scale_temperature(proposal.learner.predict_proba(t.X[rows]), temperature)
            probability = dict(zip(rows, scaled.max(axis=1), strict=True))
        for rank, row, purpose, r in listed:
            j = at[row]
            # an audit row shows no prediction: an annotator leaning on it would make the
            # estimate read high
            shown = proposal.predicted is not None and purpose == "query"
            predicted = proposal.predicted[j] if shown else ""
            p = probability[row] if shown else None
            score = percentile[j] if purpose == "query" else np.nan
            # user data reaches an annotator's spreadsheet: no cell may run as a formula
            writer.writerow([spreadsheet_safe(c) for c in [
                t.ids[row], rank, purpose, r, predicted, "" if p is None else f"{p:.4f}",
                "" if not np.isfinite(score) else f"{score:.1f}",
                *[t.cells[row][i] for i in own_index]]])
        return out.getvalue()

    def _summary_lines(self, record, done, stopping, pending, to_label, estimate,
                       audit_pending):
        t, k, proposal = self.table, record["round"], done.proposal
        per_class = ", ".join(f"{c}: {m}" for c, m in record["labeled_per_class"].items())
        held = len(self.labeled) - done.n_labeled
        lines = [f"Round {k} of {t.path.name}: {len(self.labeled):,} of {len(t.ids):,} rows "
                 f"labeled" + (f" ({per_class}" if per_class else "")
                 + (f"; {held} more held out as audit rows" if held else "")
                 + (")." if per_class else ".")]
        if proposal.learner is not None:
            lines.append(estimate.line())
        lines += done.model_lines()
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
        audit = (f", then {len(audit_pending)} audit row(s) drawn at random (labeled only to "
                 "estimate the accuracy, never trained on)" if audit_pending else "")
        known = sum(t.y[row] is not None for row in proposal.picks)
        if known:
            lines.append(f"{known} of the picks are audit rows labeled already: their labels "
                         "train the model from the next round (their audit draws no longer "
                         "count), and they are not listed again.")
        lines.append(f"Wrote {to_label}: {len(proposal.picks) - known} row(s) to label, "
                     "ranked by "
                     f"{record['strategy']}{audit}" + (f", then {len(pending)} still "
                                                      "unlabeled from earlier rounds."
                                                      if len(pending) else ".")
                     + f" Fill their `{self.state['settings']['target']}` cells "
                     f"in {t.path.name} and run the same command again.")
        if proposal.learner is not None:
            temperature = record["temperature"]
            lines.append(
                f"In {TO_LABEL}: rank is the strategy's batch order (a diverse batch, so it "
                "need not follow score); score is the row's percentile by the strategy's "
                "score among the unlabeled rows (100: its strongest candidate); probability "
                "is the model's, of its predicted label, "
                + (f"not calibrated yet (fewer than {MIN_CALIBRATION} audit labels)"
                   if temperature is None else
                   "unscaled (on the audit labels, cross-validated, temperature scaling did "
                   "not predict better)" if temperature == 1.0 else
                   f"temperature-scaled on the audit labels (T = {temperature:.2f})")
                + "; audit rows show neither, so their labels stay the annotator's own.")
        return lines


def _percentiles(scores):
    """Each score's percentile among the finite ones (100: the highest; NaN stays NaN):
    a scale that means the same every round, whatever the strategy's own units."""
    from scipy.stats import rankdata

    out = np.full(len(scores), np.nan)
    finite = np.isfinite(scores)
    if finite.any():
        out[finite] = 100 * rankdata(scores[finite], method="max") / finite.sum()
    return out


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
