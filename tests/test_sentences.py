"""The sentence splitter: English as before (abbreviations, initials, decimals, quotes), other cased and caseless
scripts, and Chinese and Japanese sentence ends without whitespace, on real reviews."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bertjax.data.pretraining.corpus.sentences import split_sentences

@pytest.mark.parametrize("text, sentences", [
    ("Mr. Smith went to Washington. He arrived on Monday.",
     ["Mr. Smith went to Washington.", "He arrived on Monday."]),
    ("It costs 3.14 dollars. Cheap!", ["It costs 3.14 dollars.", "Cheap!"]),
    ("See e.g. the U.S. Army. It is large.", ["See e.g. the U.S. Army.", "It is large."]),
    ("J. K. Rowling wrote it. It sold well.", ["J. K. Rowling wrote it.", "It sold well."]),
    ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
    ("It was big (very big.) Next one? Yes.", ["It was big (very big.)", "Next one?", "Yes."]),
    ("Wait... What happened? Nothing.", ["Wait...", "What happened?", "Nothing."]),
    ("the end. the start is lower-case so no split.", ["the end. the start is lower-case so no split."]),
    ("Dr. No met Prof. X on Jan. 5 at St. Paul's. Fine.", ["Dr. No met Prof. X on Jan. 5 at St. Paul's.", "Fine."]),
    ("WikiText style , spaced out . Like this . \"Quoted\" next .",
     ["WikiText style , spaced out .", "Like this .", "\"Quoted\" next ."]),
    ("Merity et al. (2016) built it. Warner Bros. Pictures and Acme Inc. Ltd. agreed. Done.",
     ["Merity et al. (2016) built it.", "Warner Bros. Pictures and Acme Inc. Ltd. agreed.", "Done."]),
    ("In 1990. 2000 came later.", ["In 1990.", "2000 came later."]),
    ("Il est parti. Émile est venu.", ["Il est parti.", "Émile est venu."]),
    ("Er ging. „Über Nacht“ kam er.", ["Er ging.", "„Über Nacht“ kam er."]),
    ("Он ушёл домой. Она пришла позже. а это нет.", ["Он ушёл домой.", "Она пришла позже. а это нет."]),
    ("¿Vienes? ¡Claro! «Bien».", ["¿Vienes?", "¡Claro!", "«Bien»."]),
    ("ذهب إلى البيت. ثم عاد.", ["ذهب إلى البيت.", "ثم عاد."]),  # a script without case
    ("   ", []),
])
def test_split_sentences(text, sentences):
    assert split_sentences(text) == sentences


def test_english_wikitext_splits_as_before(shared_data: Path) -> None:
    lines = [line for line in (shared_data / "wikitext-2" / "valid.txt").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.strip().startswith("=")]
    assert sum(len(split_sentences(line)) for line in lines) == 7168  # the count of the splitter before CJK ends


@pytest.mark.parametrize("text, sentences", [
    ("房间太小。其他的都一般。。。。。。。。。", ["房间太小。", "其他的都一般。。。。。。。。。"]),
    ("你好！你是谁？我不知道；再见……明天见", ["你好！", "你是谁？", "我不知道；", "再见……", "明天见"]),
    ("他说：“我走了。”然后离开了。", ["他说：“我走了。”", "然后离开了。"]),  # the closing quote stays
    ("她笑了（真的！）很好。", ["她笑了（真的！）", "很好。"]),
    ("为什么有两种版本呢?当当网是不是该商量一下!好", ["为什么有两种版本呢?", "当当网是不是该商量一下!", "好"]),
    ("热的不行. 2.摄像头用不起来.", ["热的不行.", "2.摄像头用不起来."]),  # half-width after CJK
    ("15.4寸的键盘确实爽，第3.5节也好。", ["15.4寸的键盘确实爽，第3.5节也好。"]),  # decimals stay whole
    ("酒店装修一般。 泳池很小。", ["酒店装修一般。", "泳池很小。"]),  # whitespace after the end is dropped
    ("「行ってきます。」と彼は言った。雨が降っていた！本当？",
     ["「行ってきます。」", "と彼は言った。", "雨が降っていた！", "本当？"]),
    ("『ノルウェイの森』を読んだ｡面白かった", ["『ノルウェイの森』を読んだ｡", "面白かった"]),
    ("我用iPhone。It works well. 很好。", ["我用iPhone。", "It works well.", "很好。"]),  # mixed scripts
    ("Wait… what? Yes.", ["Wait… what?", "Yes."]),  # English `…` without CJK is no end
    ("나는 학교에 갔다. 그리고 집에 왔다.", ["나는 학교에 갔다.", "그리고 집에 왔다."]),
])
def test_split_cjk_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_chinese_reviews_split_at_every_sentence_end(shared_data: Path) -> None:
    rows = (shared_data / "chinese" / "chnsenticorp" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]
    reviews = [row.split("\t")[0] for row in rows]
    assert split_sentences(reviews[0]) == [
        "选择珠江花园的原因就是方便，有电动扶梯直接到达海边，周围餐馆、食廊、商场、超市、摊位一应俱全。",
        "酒店装修一般，但还算整洁。", "泳池在大堂的屋顶，因此很小，不过女儿倒是喜欢。", "包的早餐是西式的，还算丰富。",
        "服务吗，一般"]
    inside = re.compile(r"[。！？][^。！？；…!?.”’」』）)】》\"']")  # an end followed by more of the same sentence
    sentences = 0
    for review in reviews:
        split = split_sentences(review)
        assert re.sub(r"\s", "", "".join(split)) == re.sub(r"\s", "", review)  # nothing lost or moved
        assert not any(inside.search(sentence) for sentence in split), split
        sentences += len(split)
    assert sentences > 3 * len(reviews)  # most reviews hold several sentences
