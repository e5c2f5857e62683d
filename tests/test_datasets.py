"""Loaders of the validation data: USPS digits and AG News texts, read from a path and
refused with the file and line named; and AL on text through a scikit-learn Pipeline."""

import gzip

import numpy as np
import pytest
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline

from skralif import ActiveLearningClassifier
from skralif.datasets import AG_NEWS_TOPICS, load_ag_news, load_usps, make_topic_texts
from skralif.nets import default_net


def _write_usps(path, lines):
    with gzip.open(path, "wt") as handle:
        handle.write("".join(lines))


def test_load_usps_drops_a_short_or_long_line_with_a_warning(tmp_path):
    good = "3 " + " ".join(["-1"] * 255 + ["0.5"]) + "\n"
    long = "4 " + " ".join(["0"] * 257) + "\n"
    _write_usps(tmp_path / "zip.test.gz", [good, long, good])
    with pytest.warns(UserWarning, match="line 2 \\(257 values\\)"):
        X, y = load_usps(tmp_path / "zip.test.gz")
    assert X.shape == (2, 256) and X.dtype == np.float32 and y.tolist() == [3, 3]
    assert X[0, -1] == 0.5


@pytest.mark.parametrize("line, match", [
    ("12 " + " ".join(["0"] * 256) + "\n", "line 1: a USPS line is a digit"),
    ("3 " + " ".join(["0"] * 255 + ["x"]) + "\n", "line 1: not a number"),
])
def test_load_usps_names_the_bad_line(tmp_path, line, match):
    _write_usps(tmp_path / "u.gz", [line])
    with pytest.raises(ValueError, match=match):
        load_usps(tmp_path / "u.gz")


def test_load_usps_refuses_a_file_that_is_not_usps(tmp_path):
    (tmp_path / "u.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="cannot be read as USPS text"):
        load_usps(tmp_path / "u.gz")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="holds no USPS image"):
        load_usps(tmp_path / "empty.txt")


def _write_ag_news(path, text):
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(text)


def test_load_ag_news_reads_quoted_fields_and_restores_entities(tmp_path):
    _write_ag_news(tmp_path / "test.csv.gz", (
        "label,title,description\n"
        '3,Oil up,"Prices rose, again: ""crude"" at  #36;50\\a barrel."\n'
        "2,Cup final,Team wins &amp; fans cheer\n"))
    texts, y = load_ag_news(tmp_path / "test.csv.gz")
    assert y.tolist() == ["Business", "Sports"] and texts.dtype == object
    assert texts[0] == 'Oil up. Prices rose, again: "crude" at  $50 a barrel.'
    assert texts[1] == "Cup final. Team wins & fans cheer"


@pytest.mark.parametrize("content, match", [
    ("label,text\n1,a\n", "line 1: AG News's CSV starts with the header"),
    ("label,title,description\n5,a,b\n", "line 2: an AG News row is a label 1-4"),
    ("label,title,description\n1,a,b\n2,only a title\n", "line 3: an AG News row"),
    ("label,title,description\n", "holds no AG News text"),
])
def test_load_ag_news_names_the_bad_line(tmp_path, content, match):
    (tmp_path / "news.csv").write_text(content)
    with pytest.raises(ValueError, match=match):
        load_ag_news(tmp_path / "news.csv")


def test_load_ag_news_fails_clearly_when_absent_or_not_csv(tmp_path):
    with pytest.raises(ValueError, match="absent.csv.gz cannot be read as AG News's CSV"):
        load_ag_news(tmp_path / "absent.csv.gz")
    (tmp_path / "x.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="cannot be read as AG News's CSV"):
        load_ag_news(tmp_path / "x.csv.gz")
    (tmp_path / "latin.csv").write_bytes(b"label,title,description\n1,caf\xe9,b\n")
    with pytest.raises(ValueError, match="cannot be read as AG News's CSV"):
        load_ag_news(tmp_path / "latin.csv")


def test_ag_news_topics_are_the_four_of_its_readme(tmp_path):
    """Labels 1 to 4 are World, Sports, Business, Sci/Tech (the data's README), in order."""
    (tmp_path / "news.csv").write_text("label,title,description\n"
                                       + "".join(f"{k},t,d\n" for k in (4, 1, 3, 2)))
    _, y = load_ag_news(tmp_path / "news.csv")
    assert y.tolist() == ["Sci/Tech", "World", "Business", "Sports"]
    assert AG_NEWS_TOPICS == ("World", "Sports", "Business", "Sci/Tech")


def test_active_learning_on_text_through_a_pipeline():
    """The worked example of AL on text: TF-IDF and SVD fitted on every text (labeled or
    not, as a Pipeline's unsupervised steps are), the learner on their features, then
    a query of the stored pool taught back through the same transformers."""
    texts, topics = make_topic_texts(120, seed=0)
    texts, topics = np.asarray(texts, dtype=object), np.asarray(topics)
    y = np.where(np.arange(120) < 12, topics, None)  # 12 labeled texts, 3 a topic
    pipe = make_pipeline(TfidfVectorizer(), TruncatedSVD(8, random_state=0),
                         ActiveLearningClassifier(default_net(max_epochs=20), query_size=5,
                                                  random_state=0))
    pipe.fit(texts, y)
    learner, features = pipe[-1], pipe[:-1]
    pool_texts = texts[12:]  # the stored pool: the unlabeled texts, in order
    picks = learner.query()
    assert len(set(picks.tolist())) == 5
    learner.teach(features.transform(pool_texts[picks]), topics[12:][picks])
    assert learner.y_labeled_.tolist()[12:] == topics[12:][picks].tolist()
    assert len(learner.X_pool_) == 108 - 5 and learner.labeled_iter_[12 + picks].tolist() == [1] * 5
    assert pipe.predict(["match goal team season"]).tolist()[0] in set(topics)
    assert 0.0 <= pipe.score(texts, topics) <= 1.0
    assert pipe.score(texts, topics) > 0.5  # 17 labels of easy topics: far above chance (1/4)
