from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from triage.classify import LetterClassifier
from triage.errors import LetterError

TEXTS = [
    "包工头拖欠农民工工资两万元不给", "工地老板欠我们工钱三个月", "公司不给缴社保还拖欠工资",
    "工资拖了半年没发，劳动监察不管", "打工一年工钱一分没拿到", "老板跑路了工资找谁要",
    "村里的地被征收了补偿款没发", "征地补偿标准太低，青苗费也没给", "承包地被村委会收回",
    "宅基地被邻居占了不让建房", "土地流转费三年没付", "征地时没有公告就把地推平了",
]
LABELS = ["labour"] * 6 + ["land"] * 6
NATURE = ["claim", "claim", "claim", "accusation", "claim", "claim",
          "claim", "claim", "claim", "claim", "accusation", "claim"]


@pytest.fixture(scope="module")
def fitted() -> LetterClassifier:
    return LetterClassifier(C=1.0).fit(TEXTS, LABELS)


def test_classifier_learns_and_orders_probabilities(fitted: LetterClassifier) -> None:
    assert list(fitted.classes_) == ["labour", "land"]
    pred = fitted.predict(["老板拖欠工资不发", "征地补偿款被截留"])
    assert pred.tolist() == ["labour", "land"]
    proba = fitted.predict_proba(["老板拖欠工资不发"])
    assert proba.shape == (1, 2)
    assert proba.sum() == pytest.approx(1.0)
    assert proba[0, 0] > proba[0, 1]


def test_classifier_multi_output_heads() -> None:
    Y = np.column_stack([LABELS, NATURE])
    clf = LetterClassifier(model="logreg").fit(TEXTS, Y)
    assert [list(c) for c in clf.classes_] == [["labour", "land"], ["accusation", "claim"]]
    assert clf.predict(["工资拖欠"]).shape == (1, 2)
    assert len(clf.predict_proba(["工资拖欠"])) == 2


def test_classifier_clone_and_get_params_round_trip() -> None:
    clf = LetterClassifier(C=3.0, char_ngram_range=(2, 4), userdict="x.txt")
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert LetterClassifier(**clf.get_params()).get_params() == clf.get_params()
    assert not hasattr(twin, "heads_")


def test_classifier_pickle_round_trip(fitted: LetterClassifier) -> None:
    again = pickle.loads(pickle.dumps(fitted))
    probe = ["欠薪问题请处理", "宅基地纠纷"]
    np.testing.assert_allclose(again.predict_proba(probe), fitted.predict_proba(probe))


def test_classifier_not_fitted_error() -> None:
    with pytest.raises(NotFittedError):
        LetterClassifier().predict(["工资"])


@pytest.mark.parametrize(("X", "y", "error", "message"), [
    ("单个字符串", ["a"], LetterError, "single string"),
    ([1, 2], ["a", "b"], LetterError, "item 0 is int"),
    (["a", "b"], ["x", "x"], ValueError, "at least two classes"),
    (["a", "b"], ["x"], ValueError, "shape"),
])
def test_classifier_fit_rejects_bad_input(X, y, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        LetterClassifier().fit(X, y)


def test_classifier_rejects_unknown_model_name() -> None:
    with pytest.raises(ValueError, match="model='forest'"):
        LetterClassifier(model="forest").fit(TEXTS, LABELS)


def test_classifier_explain_names_words_of_the_letter(fitted: LetterClassifier) -> None:
    Xf = fitted.transform_texts(["包工头拖欠工资不给钱"])
    terms = fitted.explain(Xf[0], head=0, label="labour", k=3)
    assert terms and all(t in "包工头拖欠工资不给钱" for t in terms)


def test_all_heads_scored_together_give_each_heads_own_probabilities() -> None:
    """The stacked product of every head (the fast path of a suggestion) must give the very
    numbers each calibrated head gives alone: binary, three classes, and a head with a class
    seen once (which keeps its own predict_proba)."""
    three = (["a"] * 4 + ["b"] * 4 + ["c"] * 4)
    once = ["x"] * 11 + ["y"]
    Y = np.column_stack([LABELS, three, once])
    clf = LetterClassifier(C=1.0).fit(TEXTS, Y)
    probe = ["老板拖欠工资不发", "征地补偿款被截留", "没有一个认识的字 qqq", "",
             "工地欠薪，村里征地"]
    Xf = clf.transform_texts(probe)
    assert Xf[3].nnz == 0  # a letter with no known feature is scored from the intercepts
    together = clf.predict_proba_features(Xf)
    for head, p in zip(clf.heads_, together, strict=True):
        assert np.array_equal(p, head.predict_proba(Xf))
        assert np.allclose(p.sum(axis=1), 1.0)
    for i in range(len(probe)):
        one = clf.predict_proba_features(Xf[i])
        assert all(np.array_equal(a, b[i:i + 1]) for a, b in zip(one, together, strict=True))
    assert np.array_equal(clf.predict_proba_features(Xf, heads=[1])[0], together[1])
    # the weights are shared with the heads (no second copy) and survive pickling
    again = pickle.loads(pickle.dumps(clf))
    assert all(np.array_equal(a, b) for a, b in
               zip(again.predict_proba_features(Xf), together, strict=True))
