"""How a Label Studio project's tasks become the learner's rows: numeric data fields, text
through TF-IDF and truncated SVD, images through the user's frozen encoder, or the user's
own scikit-learn transformer."""

from __future__ import annotations

import importlib
import io
from numbers import Real

import numpy as np

from ._studio import short

__all__ = ["TaskFeatures", "load_callable"]

#: components of the default text features at most; fewer for a small vocabulary (the
#: square root of its size: the net's scaler gives every component the same weight, so
#: components past the vocabulary's few real directions mostly add noise)
TEXT_COMPONENTS = 100


def load_callable(spec, option):
    """The callable named ``module:attribute`` (``option`` is named in the error).

    Parameters
    ----------
    spec : str
        ``"package.module:name"``.
    option : str
        The option it came from, e.g. ``"--encoder"``.

    Returns
    -------
    callable

    Raises
    ------
    ValueError
        One line when ``spec`` is not ``module:callable``, the module cannot
        be imported, or it has no such callable.
    """
    module, sep, name = str(spec).partition(":")
    if not sep or not module or not name:
        raise ValueError(f"{option} must be module:callable (e.g. mypkg.models:encoder); "
                         f"got {spec!r}.")
    try:
        found = importlib.import_module(module)
    except Exception as err:  # ImportError, or the module's own error at import
        raise ValueError(f"{option} {spec!r}: cannot import {module!r} "
                         f"({type(err).__name__}: {err}).") from None
    for part in name.split("."):
        found = getattr(found, part, None)
    if not callable(found):
        raise ValueError(f"{option} {spec!r}: module {module!r} has no callable {name!r}.")
    return found


class TaskFeatures:
    """Featurise a project's tasks, the same way for ``sync`` and ``serve``.

    Fitted on the project's tasks without their labels (:meth:`fit_transform`),
    then applied to any task (:meth:`transform`, for tasks Label Studio asks
    about later).

    Parameters
    ----------
    interface : Interface
        The project's labeling interface: its ``kind`` picks the default.
    fields : sequence of str, default=None
        Numeric projects: the data fields to use (numbers and lists of
        numbers, concatenated); None uses every field that is a number in
        all tasks or, when there is none, the single list-of-numbers field.
    transformer : callable, default=None
        Returns a scikit-learn transformer, fitted on the object's values
        (texts, PIL images, or the numeric fields' matrix) instead of the
        default pipeline.
    encoder : callable, default=None
        Image projects: returns a ``torch.nn.Module`` mapping a batch of one
        image, a float tensor of shape (1, 3, height, width) in [0, 1], to
        its features. It is wrapped in :class:`~skralif.nets.FrozenEncoder`:
        frozen, so embedding every image once is the same as running it in
        the net.
    seed : int, default=0
        Seeds the truncated SVD.
    download : callable, default=None
        ``download(url) -> bytes`` for images (the project's
        :meth:`StudioProject.download`).
    project : int or str, default=""
        Named in the errors.
    """

    def __init__(self, interface, *, fields=None, transformer=None, encoder=None, seed=0,
                 download=None, project=""):
        self.interface, self.fields, self.seed = interface, fields, seed
        self.transformer, self.encoder, self.download = transformer, encoder, download
        self.project = project
        if encoder is not None and interface.kind != "image":
            raise ValueError(f"`encoder` reads images, but the Choices control of project "
                             f"{project} labels a {interface.kind} object "
                             f"({interface.to_name!r}).")
        if fields and (encoder is not None or transformer is not None):
            raise ValueError("Name either data fields or an encoder or transformer as the "
                             "features, not both.")
        # numeric data fields when named, or for an image project without an encoder
        # or a transformer (an embedding stored in the tasks)
        self.mode = interface.kind
        if fields or (interface.kind == "image" and encoder is None and transformer is None):
            self.mode = "numeric"

    @classmethod
    def from_option(cls, interface, features, **kwargs):
        """The features a ``features`` option names: data fields (a sequence of
        names), a transformer (a callable returning one), or None for the default.

        Parameters
        ----------
        interface : Interface
        features : sequence of str, callable or None
        **kwargs
            The other parameters of the class.

        Returns
        -------
        TaskFeatures
        """
        if callable(features):
            return cls(interface, transformer=features, **kwargs)
        return cls(interface, fields=features, **kwargs)

    def describe(self):
        """One line naming the features, for a summary."""
        what = {"text": f"field {self.interface.field!r}", "image":
                f"images of field {self.interface.field!r}", "numeric": "numeric fields"}
        if self.transformer is not None:
            return f"Features: your transformer over the {what[self.mode]}."
        if self.mode == "text":
            return (f"Features: TF-IDF and truncated SVD ({self.n_components_} components) "
                    f"of field {self.interface.field!r}, fitted on the project's texts.")
        if self.mode == "image":
            return (f"Features: your frozen encoder's {self.n_features_} outputs over the "
                    f"images of field {self.interface.field!r}.")
        return f"Features: {', '.join(self.fields_)}."

    def fit_transform(self, tasks):
        """Fit on ``tasks`` (no labels read) and return their rows.

        Parameters
        ----------
        tasks : list
            Label Studio tasks (dicts or SDK objects).

        Returns
        -------
        X : ndarray of shape (n_tasks, n_features), float32
        """
        if self.mode == "numeric":
            self.fields_ = self._numeric_fields(tasks)
        values = self._values(tasks)
        if self.transformer is not None:
            self.model_ = self.transformer()
            if not all(hasattr(self.model_, m) for m in ("fit_transform", "transform")):
                raise ValueError(f"`features` returned {short(self.model_)}, not a "
                                 "scikit-learn transformer (fit_transform and transform).")
            try:
                X = self.model_.fit_transform(values)
            except Exception as err:  # the user's transformer: any failure is one line
                raise ValueError(f"`features` failed on the tasks of project {self.project} "
                                 f"({type(err).__name__}: {err}).") from None
        elif self.mode == "text":
            X = self._fit_text(values)
        elif self.mode == "image":
            from ..nets import FrozenEncoder

            module = self.encoder()
            if not hasattr(module, "forward"):
                raise ValueError(f"`encoder` returned {short(module)}, not a torch module.")
            self.model_ = FrozenEncoder(module)
            X = self._encode(values, tasks)
        else:
            X = values
        X = self._check(X, tasks)
        self.n_features_ = X.shape[1]
        return X

    def transform(self, tasks):
        """The rows of ``tasks`` with the fitted features (same checks as fitting).

        Parameters
        ----------
        tasks : list
            Label Studio tasks.

        Returns
        -------
        X : ndarray of shape (n_tasks, n_features), float32
        """
        values = self._values(tasks)
        if self.transformer is not None:
            X = self.model_.transform(values)
        elif self.mode == "image":
            X = self._encode(values, tasks)
        elif self.mode == "text":
            X = self._text_rows(values)
        else:
            X = values
        X = self._check(X, tasks)
        if X.shape[1] != self.n_features_:
            raise ValueError(f"Tasks of project {self.project} gave {X.shape[1]} features; "
                             f"the model was trained on {self.n_features_}.")
        return X

    def _fit_text(self, texts):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        tfidf = TfidfVectorizer(sublinear_tf=True, max_features=2**16)
        terms = tfidf.fit_transform(texts)
        k = min(TEXT_COMPONENTS, round(np.sqrt(terms.shape[1])), terms.shape[1] - 1,
                terms.shape[0] - 1)
        if k < 1:
            raise ValueError(f"The texts of project {self.project} (field "
                             f"{self.interface.field!r}) hold {terms.shape[1]} distinct word(s) "
                             f"over {terms.shape[0]} task(s); TF-IDF and SVD need at least two "
                             "of each.")
        svd = TruncatedSVD(k, random_state=self.seed).fit(terms)
        # the projection kept as plain arrays (vocabulary, idf, components): the same
        # rows for the tasks fitted on, for new tasks, and after a restart (state())
        self.vocabulary_ = {term: int(i) for term, i in tfidf.vocabulary_.items()}
        self.idf_, self.components_ = tfidf.idf_, svd.components_
        self.n_components_ = k
        return self._text_rows(texts)

    def _text_rows(self, texts):
        """TF-IDF (sublinear, l2-normalised, the fitted idf) projected on the components."""
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        counts = CountVectorizer(vocabulary=self.vocabulary_).transform(texts).astype(
            np.float64)
        counts.data = 1.0 + np.log(counts.data)
        return normalize(counts.multiply(self.idf_).tocsr()) @ self.components_.T

    def state(self):
        """What rebuilds the fitted features without refitting, in safe formats.

        Returns
        -------
        meta : dict or None
            JSON-able description; None when they cannot be saved (a user's
            transformer is arbitrary code, refitted at the next training).
        arrays : dict of str to ndarray
            Numeric arrays, for ``numpy.savez`` (loaded with
            ``allow_pickle=False``).
        """
        if self.transformer is not None:
            return None, {}
        meta = {"mode": self.mode, "n_features": int(self.n_features_)}
        if self.mode == "numeric":
            return {**meta, "fields": list(self.fields_)}, {}
        if self.mode == "text":
            return ({**meta, "vocabulary": self.vocabulary_},
                    {"idf": self.idf_, "components": self.components_})
        return meta, {}  # image: the encoder is named again when the backend starts

    @classmethod
    def restore(cls, interface, meta, arrays, *, encoder=None, download=None, project=""):
        """Fitted features from :meth:`state`'s output.

        Parameters
        ----------
        interface : Interface
        meta : dict
        arrays : mapping of str to ndarray
        encoder, download, project : see the class.

        Returns
        -------
        TaskFeatures

        Raises
        ------
        ValueError
            When ``meta`` does not match the project (another object tag) or
            an image project is restored without its encoder.
        """
        mode = meta.get("mode")
        fields = meta.get("fields") if mode == "numeric" else None
        if mode not in ("numeric", "text", "image") or (mode != "numeric" and mode !=
                                                       interface.kind):
            raise ValueError(f"The saved features ({mode!r}) do not fit project {project}'s "
                             f"{interface.kind} labeling config.")
        if mode == "image" and encoder is None:
            raise ValueError("The saved model read images: start the backend with its "
                             "--encoder.")
        features = cls(interface, fields=fields or None,
                       encoder=encoder if mode == "image" else None,
                       download=download, project=project)
        features.mode, features.n_features_ = mode, int(meta["n_features"])
        if mode == "numeric":
            features.fields_ = list(meta["fields"])
        elif mode == "text":
            features.vocabulary_ = {str(k): int(v) for k, v in meta["vocabulary"].items()}
            features.idf_ = np.asarray(arrays["idf"], dtype=np.float64)
            features.components_ = np.asarray(arrays["components"], dtype=np.float64)
            features.n_components_ = len(features.components_)
        else:
            from ..nets import FrozenEncoder

            features.model_ = FrozenEncoder(encoder())
        return features

    def _encode(self, images, tasks):
        import torch

        out = []
        with torch.no_grad():
            for image, task in zip(images, tasks, strict=True):
                pixels = np.asarray(image, dtype=np.float32) / 255.0
                batch = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0)
                try:
                    features = self.model_(batch)
                except Exception as err:  # the user's module: any failure is one line
                    raise ValueError(f"`encoder` failed on the image of task "
                                     f"{_id(task)} ({type(err).__name__}: {err}).") from None
                if not isinstance(features, torch.Tensor):
                    raise ValueError(f"`encoder` returned {short(features)} for task "
                                     f"{_id(task)}, not a tensor.")
                out.append(features.reshape(-1).numpy())
        if len({len(f) for f in out}) > 1:
            raise ValueError(f"`encoder` gave {len(out[0])} features for task {_id(tasks[0])} "
                             f"but {[len(f) for f in out if len(f) != len(out[0])][0]} for "
                             "another; it must give the same number for every image.")
        return np.stack(out) if out else np.empty((0, 0), np.float32)

    def _values(self, tasks):
        """What the features are made from: texts, images, or the numeric matrix."""
        kind, name = self.mode, self.interface.field
        if kind == "numeric":
            rows = [_row(t, self.fields_, self.project) for t in tasks]
            for task, row in zip(tasks, rows, strict=True):
                if len(row) != len(rows[0]):
                    raise ValueError(f"Task {_id(task)} of project {self.project} has "
                                     f"{len(row)} feature values in {self.fields_}, task "
                                     f"{_id(tasks[0])} has {len(rows[0])}; every task needs "
                                     "the same number.")
            return np.array(rows, dtype=np.float64)
        values = []
        for task in tasks:
            data = _data(task)
            if name not in data:
                raise ValueError(f"Task {_id(task)} of project {self.project} has no data "
                                 f"field {name!r}, which the labeling config reads; its "
                                 f"fields: {sorted(data)}.")
            value = data[name]
            if not isinstance(value, str):
                raise ValueError(f"Task {_id(task)}: data field {name!r} is {short(value)}, "
                                 f"not {'a text' if kind == 'text' else 'an image URL'}.")
            values.append(value if kind == "text" else self._image(value, task))
        return values

    def _image(self, url, task):
        from PIL import Image, UnidentifiedImageError

        if self.download is None:
            raise ValueError("Image features need a way to download the images.")
        try:
            with Image.open(io.BytesIO(self.download(url))) as image:
                return image.convert("RGB")
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"The image of task {_id(task)} ({short(url)}) cannot be read "
                             f"as an image ({err}).") from None

    def _check(self, X, tasks):
        try:
            X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"The features of project {self.project} are not numbers "
                             f"({err}).") from None
        if X.ndim != 2 or len(X) != len(tasks):
            raise ValueError(f"The features of project {self.project} have shape {X.shape}; "
                             f"expected one row per task ({len(tasks)}).")
        bad = ~np.isfinite(X.astype(np.float32)).all(axis=1)
        if bad.any():
            raise ValueError(f"Task {_id(tasks[int(np.flatnonzero(bad)[0])])} of project "
                             f"{self.project} has a feature that is not a finite float32 "
                             "number (NaN, infinity, or beyond about 3.4e38).")
        return X.astype(np.float32)

    def _numeric_fields(self, tasks):
        """The data fields that are the features (checked to exist in every task)."""
        if self.fields:
            names = list(self.fields)
            for task in tasks:
                for name in names:
                    if name not in _data(task):
                        raise ValueError(f"Task {_id(task)} of project {self.project} has no "
                                         f"data field {name!r} (`features`); its fields: "
                                         f"{sorted(_data(task))}.")
            return names
        common = set(_data(tasks[0]))
        for task in tasks[1:]:
            common &= set(_data(task))
        numbers = sorted(n for n in common if all(_is_number(_data(t)[n]) for t in tasks))
        if numbers:
            return numbers
        vectors = sorted(n for n in common if all(_is_vector(_data(t)[n]) for t in tasks))
        if len(vectors) == 1:
            return vectors
        hint = ""
        if self.interface.kind == "image":
            hint = ("; or, to read the images, name an encoder (--encoder module:callable "
                    "returning a torch module)")
        raise ValueError(
            f"Project {self.project}'s tasks have no field that is a number in every task, and "
            + (f"{len(vectors)} list-of-numbers fields {vectors}" if vectors else
               "no field holding a list of numbers")
            + f"; name the feature fields with `features` (fields: {sorted(common)}){hint}.")


def _row(task, names, project):
    row = []
    for name in names:
        value = _data(task).get(name)
        if _is_number(value):
            row.append(float(value))
        elif _is_vector(value):
            row.extend(float(v) for v in value)
        else:
            raise ValueError(f"Task {_id(task)}: data field {name!r} is {short(value)}, not a "
                             "number or a list of numbers.")
    return row


def _data(task):
    data = task.get("data") if isinstance(task, dict) else getattr(task, "data", None)
    return data if isinstance(data, dict) else {}


def _id(task):
    return task.get("id") if isinstance(task, dict) else getattr(task, "id", None)


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def _is_vector(value):
    return isinstance(value, list) and bool(value) and all(_is_number(v) for v in value)
