"""The letter index: repeats found, unrelated letters not, persisted, updated in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.errors import ModelError
from triage.similar import LetterIndex

FIRST = ("我是青禾县柳林镇石桥村村民王某，2023年村里修物流园征了我家三亩二分地，"
         "说好每亩补偿四万二，到现在只拿到两万，镇里说钱在县里，县里说已经拨到镇里。")
REPEAT = ("领导，我是石桥村的王某，又来反映了。2023年物流园征了我家三亩二分地，"
          "说好每亩四万二，现在才给了两万，镇里和县里互相推，请给个准话。")
OTHER = ("我在城东一家餐馆打工八个月，老板拖欠工资九千块，说生意不好等等再给，"
         "现在店已经关门了，电话也不接，请劳动监察大队帮我讨回工钱。")
OTHER2 = ("小区楼下的烧烤摊每天开到凌晨两点，油烟和噪音大得没法睡觉，"
          "打过电话给城管，来了一次又照旧，请管一管。")


@pytest.fixture()
def index() -> LetterIndex:
    """Three letters among a hundred others from the corpus (the IDF needs a real store)."""
    from training.data import read_corpus

    filler = read_corpus("train")
    idx = LetterIndex()
    idx.add(filler.ids[::28], filler.texts[::28])
    idx.add(["a1", "b1", "c1"], [FIRST, OTHER, OTHER2])
    return idx


def test_repeat_finds_the_first_letter(index: LetterIndex) -> None:
    hits = index.query(REPEAT)
    assert hits and hits[0][0] == "a1" and hits[0][1] >= index.threshold


def test_unrelated_letter_finds_nothing(index: LetterIndex) -> None:
    assert index.query("孩子学校门口的斑马线被挖掉了，上学过马路太危险，请交警设个红绿灯。") == []


def test_a_letter_is_most_similar_to_itself_and_can_be_excluded(index: LetterIndex) -> None:
    assert index.query(OTHER)[0] == ("b1", pytest.approx(1.0, abs=1e-5))
    assert all(i != "b1" for i, _ in index.query(OTHER, exclude="b1"))


def test_adding_the_same_id_replaces_it(index: LetterIndex) -> None:
    n = len(index)
    index.add(["a1"], [OTHER2])
    assert len(index) == n
    assert all(i != "a1" for i, _ in index.query(REPEAT))


def test_save_and_load(index: LetterIndex, tmp_path: Path) -> None:
    path = tmp_path / "index.joblib"
    index.save(path)
    loaded = LetterIndex.load(path)
    assert loaded.ids == index.ids and loaded.threshold == index.threshold
    assert loaded.lead == index.lead
    assert loaded.query(REPEAT) == index.query(REPEAT)


# six veterans, each asking for the same subsidy in his own words
VETERANS = [
    "我叫甲某，1978年入伍，参加过边境作战，1982年退伍回乡种地。听说参战退役人员每月有生活补助，"
    "乡里说我档案里查不到参战记录，不给办。请退役军人事务局帮我查档案。",
    "退役军人事务局：本人乙某，1979年参军上过前线，1984年复员。去年填了参战人员信息采集表，到现在"
    "补助一分没有，去问说材料不全，可我退伍证上的部队番号清清楚楚。",
    "领导好，我是丙某，七九年入伍打过仗，八三年回村务农，身上还有伤。参战老兵的定期生活补助别人都"
    "领了，我去镇里登记三次都说档案缺页，请给个说法。",
    "我叫丁某，1980年入伍，随部队参加过边境轮战，1985年退伍。参战身份一直认定不下来，民政的人说"
    "档案在县里，县里说没收到，补助也就落实不了，恳请退役军人事务局核实。",
    "县退役军人事务局：我是戊某，1977年当兵，参加过对越作战，1981年复员。听说有参战补助，我去申请，"
    "说我的档案里没有参战记录，可当年一个连的战友都领到了，希望帮我查一查。",
    "我是己某，1979年入伍上过前线，后来退伍回乡。今年才知道参战退役人员有生活补助，乡里说要档案"
    "证明，县档案馆说查不到，我年纪大了跑不动，请领导帮忙认定参战身份。",
]


def test_a_letter_in_a_common_form_is_not_a_repeat_of_each_like_it(index: LetterIndex) -> None:
    """A seventh veteran's first letter is as close to each of the six as they are to each
    other: similar by cosine, but no one letter stands out, so it is not a repeat. The third
    veteran writing again is one."""
    index.add([f"v{k}" for k in range(6)], VETERANS)
    seventh = ("我是庚某，八一年当兵，上过前线，八六年退伍。参战退役人员补助别人都有，我去登记说"
               "材料不全、档案没有记录，请退役军人事务局核实我的参战身份。")
    assert index.query(seventh, lead=0.0)  # cosine alone would link it
    assert index.query(seventh) == []
    again = ("我是丙某，又写信来了。七九年我入伍打过仗，八三年回村务农，身上的伤还在。参战老兵的"
             "定期生活补助，我去镇里登记了三次，次次说档案缺页，别人都领了，我还没有，请给个说法。")
    assert [i for i, _ in index.query(again)] == ["v2"]


def test_bad_index_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "index.joblib"
    path.write_bytes(b"not an index")
    with pytest.raises(ModelError, match="letter index"):
        LetterIndex.load(path)


def test_empty_index() -> None:
    assert LetterIndex().query(FIRST) == []


def test_letters_added_one_by_one_score_as_a_fresh_index(index: LetterIndex) -> None:
    """A service adds letters one at a time; the scores it then gives must be those of an
    index built in one go (the IDF weights are refreshed as the index grows)."""
    from training.data import read_corpus

    more = read_corpus("train")
    grown = LetterIndex()
    grown.add(index.ids, [*(more.texts[::28]), FIRST, OTHER, OTHER2])
    probe = [REPEAT, OTHER, "与任何信都无关的一句话"]
    grown.scores(probe)  # weights computed once, then letters arrive one by one
    for k, (lid, text) in enumerate(zip(more.ids[1::28][:40], more.texts[1::28][:40],
                                        strict=True)):
        grown.add([f"new-{k}-{lid}"], [text])
        assert grown.query(text, k=1)[0][0] == f"new-{k}-{lid}"  # found at once
    fresh = LetterIndex()
    fresh.add(grown.ids, [*(more.texts[::28]), FIRST, OTHER, OTHER2, *more.texts[1::28][:40]])
    got, want = grown.scores(probe).toarray(), fresh.scores(probe).toarray()
    assert got.shape == want.shape == (3, len(fresh))
    assert abs(got - want).max() < 0.02  # the IDF may lag the last 2 % of letters
    tail = more.texts[2::28][:10]  # > 2 % more letters: the weights are recomputed
    grown.add([f"tail-{k}" for k in range(10)], tail)
    fresh.add([f"tail-{k}" for k in range(10)], tail)
    assert abs(grown.scores(probe).toarray() - fresh.scores(probe).toarray()).max() < 1e-5
    assert [h for h, _ in grown.query(REPEAT)] == [h for h, _ in fresh.query(REPEAT)]
    assert grown.query(REPEAT)[0][0] == "a1"


def test_an_index_saved_by_the_previous_version_still_loads(index: LetterIndex,
                                                            tmp_path: Path) -> None:
    import joblib
    from sklearn.feature_extraction.text import HashingVectorizer

    texts = [FIRST, OTHER, OTHER2]
    counts = HashingVectorizer(analyzer="char", ngram_range=(1, 2), n_features=2**20,
                               alternate_sign=False, norm=None).transform(texts).tocsr()
    joblib.dump({"format": 1, "threshold": 0.33, "ids": ["a1", "b1", "c1"],
                 "counts": counts}, tmp_path / "old.joblib")
    old = LetterIndex.load(tmp_path / "old.joblib")
    fresh = LetterIndex()
    fresh.add(["a1", "b1", "c1"], texts)
    assert abs(old.scores([REPEAT]).toarray() - fresh.scores([REPEAT]).toarray()).max() < 1e-6


def test_queries_while_letters_are_added_from_other_threads(index: LetterIndex) -> None:
    """The service adds letters in one thread while others query: every query answers from
    one consistent snapshot (no error, no id paired with another letter's score)."""
    import threading

    from training.data import read_corpus

    texts = read_corpus("train").texts[3::7][:150]
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for k, text in enumerate(texts):
                index.add([f"w{k}"], [text])
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:
        try:
            while not done.is_set():
                hits = index.query(REPEAT, k=1)
                assert hits and hits[0][0] == "a1"
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer), *(threading.Thread(target=reader)
                                                  for _ in range(3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(index) == len(set(index.ids)) and "w149" in index.ids
