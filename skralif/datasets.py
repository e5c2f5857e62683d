"""Load the data users already have: bundled sklearn sets, CSV files, MNIST-format IDX files,
the USPS digits in the text format of *The Elements of Statistical Learning*, and the AG
News topic texts.

Nothing is ever downloaded. Every loader returns ``(X, y)`` with ``X`` a float32
array of shape ``(n_samples, n_features)`` (texts for :func:`load_ag_news`) and ``y``
a 1-D label array.
"""

from __future__ import annotations

import csv
import gzip
import html
import re
import warnings
from pathlib import Path

import numpy as np
from sklearn import datasets as _sk

from ._csv import parse_number, read_csv_rows

__all__ = ["BUNDLED", "AG_NEWS_TOPICS", "load_dataset", "load_csv", "load_idx", "load_usps",
           "load_ag_news", "make_topic_texts"]

#: names accepted by :func:`load_dataset` for scikit-learn's bundled sets
BUNDLED = {
    "digits": _sk.load_digits,
    "breast_cancer": _sk.load_breast_cancer,
    "wine": _sk.load_wine,
}


def load_dataset(name, *, target=None):
    """Load a bundled set by name, a CSV file, or a folder of IDX files.

    Parameters
    ----------
    name : str or path-like
        ``"digits"``, ``"breast_cancer"`` or ``"wine"``; a path to a ``.csv``
        file (then ``target`` names the label column); or a folder holding an
        ``*images*`` and a ``*labels*`` IDX file (optionally gzipped), such as
        MNIST's.
    target : str, default=None
        Label column of a CSV file.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    y : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from skralif.datasets import load_dataset
    >>> X, y = load_dataset("wine")
    >>> X.shape, X.dtype
    ((178, 13), dtype('float32'))
    """
    if str(name) in BUNDLED:
        X, y = BUNDLED[str(name)](return_X_y=True)
        return X.astype(np.float32), y
    path = Path(name)
    if path.is_dir():
        return load_idx(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        if target is None:
            raise ValueError(f"`target` must name the label column of the CSV file {path}.")
        return load_csv(path, target)
    raise ValueError(
        f"`dataset` must be one of {sorted(BUNDLED)}, a .csv file or a folder of IDX "
        f"files; got {str(name)!r}, which is none of these."
    )


def load_csv(path, target):
    """Read a CSV file with a header row; every column but ``target`` is a numeric feature.

    Parameters
    ----------
    path : path-like
        The file.
    target : str
        Name of the label column (its values are kept as strings unless all
        are integers).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    y : ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        For an empty file, a row whose field count differs from the header's, an
        unbalanced quote, an empty label, or a feature that is not a finite
        float32 number; the message names the file, and the line when there is one.
    """
    path = Path(path)
    header, body = read_csv_rows(path)
    if target not in header:
        raise ValueError(f"`target` {target!r} is not a column of {path}; columns: {header}.")
    col = header.index(target)
    labels, features = [], []
    for line, row in body:
        if not row[col].strip():
            raise ValueError(f"{path}, line {line}: the `{target}` cell is empty; `skralif run` "
                             "needs every row labeled.")
        labels.append(row[col].strip())
        features.append([parse_number(v, path, line, header[i]) for i, v in enumerate(row)
                         if i != col])
    X = np.array(features, dtype=np.float64).reshape(len(features), len(header) - 1)
    y = np.array(labels)
    if all(v.lstrip("-").isdigit() for v in labels):
        y = y.astype(np.int64)
    return X.astype(np.float32), y


def load_idx(folder):
    """Read MNIST-format IDX files (``*images*`` and ``*labels*``, optionally ``.gz``).

    Parameters
    ----------
    folder : path-like
        Folder holding exactly one images file and one labels file.

    Returns
    -------
    X : ndarray of shape (n_samples, height * width), float32 in [0, 1]
    y : ndarray of shape (n_samples,), int64

    Raises
    ------
    ValueError
        When a file is not an unsigned-byte IDX file, its header claims more or
        fewer bytes than it holds (checked before anything large is allocated),
        or the two files disagree on the number of samples; the message names
        the file.
    """
    folder = Path(folder)
    images = sorted(folder.glob("*images*"))
    labels = sorted(folder.glob("*labels*"))
    if len(images) != 1 or len(labels) != 1:
        raise ValueError(
            f"{folder} must hold one '*images*' and one '*labels*' IDX file; found "
            f"{[p.name for p in images + labels]}."
        )
    X = _read_idx(images[0])
    y = _read_idx(labels[0])
    if X.ndim < 2 or y.ndim != 1:
        raise ValueError(f"{images[0]} must hold images (2 or more dimensions) and {labels[0]} "
                         f"labels (1 dimension); got {X.ndim} and {y.ndim} dimensions.")
    if len(X) != len(y):
        raise ValueError(f"{images[0]} holds {len(X)} images but {labels[0]} holds {len(y)} "
                         "labels; they must match.")
    return (X.reshape(len(X), -1) / 255.0).astype(np.float32), y.astype(np.int64)


def _read_idx(path):
    """An unsigned-byte IDX file as a uint8 array, its header checked against its size."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            head = handle.read(4)
            if len(head) < 4 or head[:2] != b"\x00\x00" or head[2] != 0x08 or not (
                    1 <= head[3] <= 4):
                raise ValueError(f"{path} is not an unsigned-byte IDX file (its first 4 bytes "
                                 f"are {head.hex() or 'missing'}).")
            ndim = head[3]
            dims = handle.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise ValueError(f"{path} ends inside its IDX header.")
            shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
            expected = int(np.prod(shape, dtype=object))
            data = _read_at_most(handle, expected + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise ValueError(f"{path} cannot be read as an IDX file: {err}.") from err
    if len(data) != expected:
        raise ValueError(f"{path}: its header claims shape {shape} ({expected:,} bytes of "
                         f"data) but the file holds {len(data):,}" +
                         (" or more" if len(data) > expected else "") + " bytes.")
    return np.frombuffer(bytes(data), dtype=np.uint8).reshape(shape)


def _read_at_most(handle, limit, block=1 << 24):
    """Read up to ``limit`` bytes in blocks, so a header's claim allocates nothing."""
    data = bytearray()
    while len(data) < limit:
        chunk = handle.read(min(block, limit - len(data)))
        if not chunk:
            break
        data += chunk
    return data


def load_usps(path):
    """Load USPS digits from the text file of *The Elements of Statistical Learning*.

    One image a line: the digit (0-9), then 256 grey values in [-1, 1], row by
    row of a 16 x 16 image; plain or gzip-compressed (``zip.test.gz``). A line
    with another number of values is dropped with a warning naming it, never
    shifted into its neighbours' columns.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    X : ndarray of shape (n_samples, 256), float32
    y : ndarray of shape (n_samples,), int64

    Raises
    ------
    ValueError
        If the file cannot be read as USPS text (naming the file and line), or
        holds no image.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows, labels, dropped = [], [], []
    try:
        with opener(path, "rt", encoding="ascii") as handle:
            for number, line in enumerate(handle, start=1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 257:
                    dropped.append((number, len(fields) - 1))
                    continue
                values = np.array(fields, dtype=np.float64)
                if values[0] not in range(10) or not np.all(np.abs(values[1:]) <= 1):
                    raise ValueError(f"{path}, line {number}: a USPS line is a digit 0-9 and "
                                     f"256 values in [-1, 1]; got label {fields[0]!r}.")
                labels.append(int(values[0]))
                rows.append(values[1:])
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise ValueError(f"{path} cannot be read as USPS text: {err}") from err
    except ValueError as err:
        if str(path) in str(err):
            raise
        raise ValueError(f"{path}, line {number}: not a number ({err}).") from err
    if dropped:
        lines = ", ".join(f"line {n} ({k} values)" for n, k in dropped[:5])
        warnings.warn(f"{path}: dropped {len(dropped)} line(s) without 256 values: {lines}.",
                      UserWarning, stacklevel=2)
    if not rows:
        raise ValueError(f"{path} holds no USPS image (a digit and 256 values a line).")
    return np.asarray(rows, dtype=np.float32), np.asarray(labels, dtype=np.int64)


#: AG News's topics, labels 1 to 4 of its CSV
AG_NEWS_TOPICS = ("World", "Sports", "Business", "Sci/Tech")
_AG_NEWS_HEADER = ["label", "title", "description"]


def load_ag_news(path):
    """Load AG News topic texts from its CSV (Zhang, Zhao and LeCun, 2015).

    The CSV has a header ``label,title,description``, labels 1 to 4; plain or
    gzip-compressed (``test.csv.gz``). A text is its title and description;
    the corpus's stripped entities (``#36;`` for ``&#36;``, a dollar) and its
    backslash line breaks are restored.

    Parameters
    ----------
    path : path-like
        AG News's CSV, such as its ``test.csv.gz`` of 7,600 texts; read, never written.

    Returns
    -------
    texts : ndarray of shape (n_samples,), dtype object
        The texts (str), ready for a ``TfidfVectorizer``.
    y : ndarray of shape (n_samples,)
        Their topics, as :data:`AG_NEWS_TOPICS` names.

    Raises
    ------
    ValueError
        If the file cannot be read as AG News's CSV (naming the file and line),
        or holds no text.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    texts, topics = [], []
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header != _AG_NEWS_HEADER:
                raise ValueError(f"{path}, line 1: AG News's CSV starts with the header "
                                 f"{','.join(_AG_NEWS_HEADER)}; got {header!r}.")
            for row in reader:
                if len(row) != 3 or row[0] not in ("1", "2", "3", "4"):
                    raise ValueError(
                        f"{path}, line {reader.line_num}: an AG News row is a label 1-4, "
                        f"a title and a description; got {row[:3]!r}.")
                topics.append(AG_NEWS_TOPICS[int(row[0]) - 1])
                texts.append(_ag_news_text(f"{row[1]}. {row[2]}"))
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as err:
        raise ValueError(f"{path} cannot be read as AG News's CSV: {err}") from err
    if not texts:
        raise ValueError(f"{path} holds no AG News text (only a header).")
    return np.asarray(texts, dtype=object), np.asarray(topics)


def _ag_news_text(text):
    """A text with AG News's stripped entities (``#36;``) and backslash breaks restored."""
    return html.unescape(re.sub(r"(?<!&)#(\d+);", r"&#\1;", text)).replace("\\", " ")


#: the topics of :func:`make_topic_texts` and their words
TOPIC_WORDS = {
    "sport": "match goal team season coach league score player win cup",
    "science": "cell energy atom study species lab theory data gene climate",
    "business": "market shares profit bank deal stock growth price firm trade",
    "politics": "vote election party law minister senate policy court reform power",
}
_COMMON_WORDS = "the a of and in today new report says week people".split()


def make_topic_texts(n, *, seed=0):
    """Short synthetic texts of four topics, for a text project with nothing to download.

    Text ``i`` is of topic ``i % 4`` (:data:`TOPIC_WORDS`): four words of its
    topic, four common words and one topic name drawn at random (a
    misleading word), shuffled. scikit-learn bundles no text dataset, and
    nothing can be downloaded in tests.

    Parameters
    ----------
    n : int
        Texts to make.
    seed : int, default=0

    Returns
    -------
    texts : list of str
    topics : list of str
    """
    rng = np.random.default_rng(seed)
    names = list(TOPIC_WORDS)
    texts, topics = [], []
    for i in range(n):
        words = (rng.choice(TOPIC_WORDS[names[i % 4]].split(), 4).tolist()
                 + rng.choice(_COMMON_WORDS, 4).tolist() + [names[rng.integers(4)]])
        rng.shuffle(words)
        texts.append(" ".join(words))
        topics.append(names[i % 4])
    return texts, topics
