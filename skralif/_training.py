"""Training the learner's estimator: skorch nets (fresh or warm), Pipelines, classifiers.

Every function returns new objects and never changes the learner, so a fit that
raises leaves the committed estimator as it was.
"""

from __future__ import annotations

import contextlib
import copy
import warnings

import numpy as np
import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch import NeuralNet, NeuralNetBinaryClassifier
from skorch.dataset import ValidSplit

from ._adapter import predict_proba, split_estimator
from ._random import seeded_torch
from .exceptions import InputTypeError
from .nets import MLPModule, default_net

__all__ = ["train", "predict_proba_full", "net_classes", "check_strategies_fit",
           "warn_module_instance"]


def train(template, X, y_enc, n_classes, seed, previous=None):
    """An estimator fitted on ``(X, y_enc)``: ``previous`` trained on (a copy), or a
    fresh clone of ``template`` (None: :func:`~skralif.nets.default_net`).

    Training runs under ``seed`` (a forked torch generator) and a Ctrl-C that skorch
    swallowed is raised again, so an interrupted fit is never committed.
    """
    # continue training a copy: a refit that raises must leave ``previous`` as it was
    estimator = copy.deepcopy(previous) if previous is not None else _fresh(template, X,
                                                                             n_classes)
    check_validation_split(estimator, y_enc)
    y_fit = training_targets(estimator, y_enc, n_classes)
    grad_mode = torch.is_grad_enabled()
    try:
        with seeded_torch(seed % (2**31 - 1)), interrupts_propagate(estimator):
            if previous is not None:
                _partial_fit(estimator, X, y_fit)
            else:
                estimator.fit(X, y_fit)
    finally:
        # an interrupt inside skorch's no-grad evaluation left the (thread's) global grad
        # mode off, and every later training step silently learned nothing (issue 22)
        torch.set_grad_enabled(grad_mode)
    # one probe of the fitted estimator serves both checks
    proba = np.asarray(estimator.predict_proba(X[:PROBE_ROWS]), dtype=np.float64)
    _check_output_width(estimator, proba, n_classes)
    _check_trained(estimator, proba)
    return estimator


def predict_proba_full(estimator, X, n_classes):
    """``predict_proba`` with one column per class, also for classifiers that know only
    the classes present in their training labels."""
    final, _ = split_estimator(estimator)
    if isinstance(final, NeuralNet):
        # skralif's own forward pass, under the module's lock like every other it starts:
        # skorch's predict_proba raced with queries in other threads (issue 22)
        return predict_proba(estimator, X, name="X")
    proba = estimator.predict_proba(X)
    full = np.zeros((len(X), n_classes))
    full[:, final.classes_.astype(int)] = proba
    return full


def net_classes(template):
    """The ``classes`` a skorch ``template`` was given (every class the user expects),
    or None."""
    final = None if template is None else split_estimator(template)[0]
    classes = getattr(final, "classes", None) if isinstance(final, NeuralNet) else None
    return None if classes is None else np.asarray(classes)


def check_strategies_fit(template, **strategies):
    """Refuse strategies (or criteria) that need a skorch net for another classifier."""
    final = None if template is None else split_estimator(template)[0]
    if final is None or isinstance(final, NeuralNet):
        return
    for name, needs in strategies.items():
        if getattr(needs, "needs_net", False):
            raise InputTypeError(
                f"`{name}` {type(needs).__name__} needs a skorch net (or a Pipeline "
                f"ending in one) as `estimator`; got {type(final).__name__}. Use "
                "UncertaintyQuery or RandomQuery (and a stopping criterion that reads "
                "predictions only) with other classifiers.")


def warn_module_instance(template):
    """Warn when a net's ``module`` is an instance: clones keep its trained weights."""
    final = None if template is None else split_estimator(template)[0]
    if isinstance(final, NeuralNet) and isinstance(final.module, torch.nn.Module):
        warnings.warn(
            "The net's `module` is an instance, not a class: clone copies it with its "
            "current weights, so every refit starts from those weights rather than a "
            "fresh random initialisation. Pass the module class (with `module__` "
            "arguments) to retrain from scratch each round.",
            UserWarning,
            stacklevel=3,
        )


def _fresh(template, X, n_classes):
    estimator = default_net() if template is None else clone(template)
    final, _ = split_estimator(estimator)
    if isinstance(final, NeuralNet) and final.module is MLPModule:
        # skralif's own MLP takes its widths from the data
        Xt = clone(estimator[:-1]).fit_transform(X) if isinstance(estimator, Pipeline) else X
        final.set_params(module__in_features=int(np.prod(Xt.shape[1:])),
                         module__n_classes=n_classes)
    if isinstance(estimator, Pipeline) and isinstance(final, NeuralNet):
        # skorch modules want float32; the steps before may well produce float64
        steps = estimator.steps[:-1] + [("to_float32", FunctionTransformer(_to_float32)),
                                        estimator.steps[-1]]
        estimator = Pipeline(steps, memory=estimator.memory)
    return estimator


def _check_output_width(estimator, proba, n_classes):
    final, _ = split_estimator(estimator)
    if not isinstance(final, NeuralNet):
        return
    width = proba.shape[1]
    if width != n_classes:
        raise ValueError(
            f"The net outputs {width} columns but the labels hold {n_classes} classes. "
            "Make the module's output width the number of classes, or pass `classes=` "
            "(every class you expect) to the NeuralNetClassifier."
        )


#: rows of the training set whose probabilities are checked after every fit
PROBE_ROWS = 256
#: a final training loss above this is finite but not a trained classifier's
DIVERGED_LOSS = 1e4


def _check_trained(estimator, proba):
    """Refuse a fit whose training loss or probabilities are not finite; warn on one
    whose loss is finite but far beyond any trained classifier's (issue 22: such nets
    were committed, then predicted class 0 and scored every pool row the same)."""
    final, _ = split_estimator(estimator)
    loss = _last_train_loss(final)
    bad_proba = not np.isfinite(proba).all() or (proba < -1e-6).any() or not np.allclose(
        proba.sum(axis=1), 1.0, atol=1e-3)
    if (loss is not None and not np.isfinite(loss)) or bad_proba:
        what = (f"its training loss is {loss}" if loss is not None and not np.isfinite(loss)
                else "its predicted probabilities are not finite, or negative, or do not sum "
                     "to 1")
        raise ValueError(
            f"Training failed: {what}, so the model was not kept. Likely causes: a learning "
            f"rate too high for the data (`lr`={getattr(final, 'lr', 'n/a')!r}), inputs on "
            "very different scales (put a StandardScaler first), or a module returning "
            "log-probabilities (log_softmax) with NLLLoss, which skorch passes through a "
            "second log: return logits with CrossEntropyLoss instead.")
    if proba.shape[1] > 1 and np.all((proba == 0) | (proba == 1)):
        warnings.warn(
            "The net is saturated: every probability it gives its training rows is exactly 0 "
            "or 1, so uncertainty, BADGE and RALIF scores tie across the pool and its "
            "ranking is arbitrary. Lower `lr`, add weight decay, or scale the inputs.",
            UserWarning, stacklevel=4)
    elif loss is not None and loss > DIVERGED_LOSS:
        warnings.warn(
            f"The net's final training loss is {loss:.3g}: finite, but no trained classifier's "
            f"(above {DIVERGED_LOSS:g}); its probabilities, and every strategy's ranking, are "
            "likely meaningless. Lower `lr` or scale the inputs.", UserWarning, stacklevel=4)


def _last_train_loss(net):
    """The last epoch's training loss of a skorch net (None for other classifiers, or
    when the net recorded none)."""
    if not isinstance(net, NeuralNet) or not getattr(net, "history_", None):
        return None
    try:
        return float(net.history_[-1, "train_loss"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _to_float32(X):
    return np.asarray(X, dtype=np.float32)


def training_targets(estimator, y_enc, n_classes):
    """What the estimator trains on: class indices, or 0./1. floats for a binary net
    (skorch's ``NeuralNetBinaryClassifier`` and its ``BCEWithLogitsLoss``)."""
    final, _ = split_estimator(estimator)
    if not isinstance(final, NeuralNetBinaryClassifier):
        return y_enc
    if n_classes != 2:
        raise ValueError(
            f"A NeuralNetBinaryClassifier learns two classes; the labeled rows hold "
            f"{n_classes}. Label rows of both classes (binary problems), or use a "
            "NeuralNetClassifier with one output per class."
        )
    return y_enc.astype(np.float32)


def _partial_fit(estimator, X, y):
    if hasattr(estimator, "partial_fit"):
        return estimator.partial_fit(X, y)
    Xt = estimator[:-1].transform(X)  # a Pipeline: keep its fitted preprocessing
    return estimator.steps[-1][1].partial_fit(Xt, y)


@contextlib.contextmanager
def interrupts_propagate(estimator):
    """Re-raise a ``KeyboardInterrupt`` that skorch swallowed during ``fit``.

    skorch's ``partial_fit`` catches ``KeyboardInterrupt`` around its training
    loop and returns normally, which would commit an under-trained model. The
    net's ``fit_loop`` is wrapped for the duration of the fit to record an
    interrupt, which is raised again once skorch returns. The one interrupt
    that is not a Ctrl-C, skorch's own ``EarlyStopping`` ending training, is
    left alone.
    """
    net, _ = split_estimator(estimator)
    if not isinstance(net, NeuralNet):
        yield
        return
    interrupts, fit_loop = [], net.fit_loop

    def recording_fit_loop(*args, **kwargs):
        try:
            return fit_loop(*args, **kwargs)
        except KeyboardInterrupt as interrupt:
            if not _raised_by_early_stopping(interrupt):
                interrupts.append(interrupt)
            raise

    net.__dict__["fit_loop"] = recording_fit_loop  # an instance attribute, removed below
    try:
        yield
    finally:
        net.__dict__.pop("fit_loop", None)
    if interrupts:
        raise KeyboardInterrupt("training was interrupted") from interrupts[0]


def _raised_by_early_stopping(interrupt):
    from skorch.callbacks import EarlyStopping

    tb = interrupt.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return isinstance(tb.tb_frame.f_locals.get("self"), EarlyStopping)


def check_validation_split(estimator, y_enc):
    """skorch's default 5-fold stratified validation split fails on tiny labeled sets."""
    final, _ = split_estimator(estimator)
    split = getattr(final, "train_split", None)
    if not isinstance(split, ValidSplit):
        return
    counts = np.bincount(y_enc)
    folds = split.cv if isinstance(split.cv, int) else 5
    if split.stratified and counts[counts > 0].min() < folds:
        raise ValueError(
            f"The net's `train_split` (skorch's ValidSplit, {folds} folds, stratified) "
            f"needs at least {folds} labeled rows per class; the labeled set has "
            f"{counts[counts > 0].min()} for some class. Pass `train_split=None` to the "
            "NeuralNetClassifier (recommended for active learning)."
        )
