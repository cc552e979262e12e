"""The catalogs (kdviz.i18n): every message translated, placeholders kept, languages per context."""

import re
import string
import threading
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from kdviz import i18n
from kdviz.i18n import _

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
# Words a Chinese text may keep in Latin letters: names, units, symbols, file and library names.
ALLOWED = {
    "hinton",
    "vinyals",
    "dean",
    "beyer",
    "simard",
    "ciresan",
    "mnist",
    "kdviz",
    "pytorch",
    "streamlit",
    "safetensors",
    "nesterov",
    "sgd",
    "adam",
    "softmax",
    "logits",
    "logit",
    "batchmean",
    "kl",
    "ce",
    "cpu",
    "gpu",
    "cuda",
    "mps",
    "apple",
    "csv",
    "json",
    "utc",
    "qr",
    "png",
    "url",
    "id",
    "et",
    "al",
    "max",
    "min",
    "exp",
    "log",
    "sd",
    "ms",
    "mb",
    "kb",
    "px",
    "dropout",
    "relu",
    "bits",
    "bit",
}


def english_runs(text: str) -> list[str]:
    """Runs of two or more English words (outside code, math, links and the allowed names)."""
    text = re.sub(r"<[^>]*>|`[^`]*`|\$[^$]*\$|https?://\S+|\{[^}]*\}|KDVIZ_\w+|--[\w.-]+", " ", text)
    runs, run = [], []
    for token in re.findall(r"[A-Za-z][A-Za-z'’]*|[^\sA-Za-z]", text):
        word = token[0].isalpha() and len(token) > 1 and token.lower() not in ALLOWED
        if word and not (token.isupper() and len(token) <= 5):
            run.append(token)
            continue
        if token.strip() and not token[0].isalpha() and token not in "-'’":
            if len(run) >= 2:
                runs.append(" ".join(run))
            run = []
    if len(run) >= 2:
        runs.append(" ".join(run))
    return runs


def source_messages() -> dict[str, tuple]:
    found = {}
    for folder in ("kdviz", "pages"):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            ROOT / folder, [("**.py", "python")], keywords=KEYWORDS
        ):
            found[message if isinstance(message, str) else message[0]] = message
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        ROOT, [("app.py", "python")], keywords=KEYWORDS
    ):
        found[message if isinstance(message, str) else message[0]] = message
    return found


def catalog(code="zh"):
    with open(i18n.catalog_path(code), "rb") as f:
        return read_po(f, locale=code)


def fields(text: str) -> set[str]:
    return {f for _lit, f, spec, _conv in string.Formatter().parse(text) if f is not None}


def test_every_message_in_the_code_is_translated_into_chinese():
    cat = catalog()
    missing = [
        m for m in source_messages() if not (cat.get(m) and cat.get(m).string and not cat.get(m).fuzzy)
    ]
    assert missing == [], f"{len(missing)} messages have no Chinese translation, e.g. {missing[:5]}"


def test_translations_keep_their_placeholders_and_pass_babels_checks():
    cat = catalog()
    wrong = []
    for m in cat:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strs = m.string if isinstance(m.string, tuple) else (m.string,)
        if any(fields(s) != fields(ids[0]) for s in strs if s):
            wrong.append(ids[0])
    assert wrong == []
    assert [(m.id, errors) for m, errors in cat.check()] == []


def test_chinese_messages_hold_no_english_sentence():
    leftover = {m.id: english_runs(m.string) for m in catalog() if m.id and isinstance(m.string, str)}
    assert {k: v for k, v in leftover.items() if v} == {}


def test_the_detector_catches_an_english_sentence_and_allows_names():
    assert english_runs("the teacher is right") == ["the teacher is right"]
    assert english_runs("温度 T = 20，α = 0.9（Hinton, Vinyals & Dean 2015），MNIST 测试集") == []
    assert english_runs("使用 `kdviz app` 启动") == []


def test_the_language_is_per_context_and_reaches_a_worker_thread():
    import contextvars

    i18n.set_language("zh")
    try:
        assert _("Temperature") == "温度"
        seen = {}
        ctx = contextvars.copy_context()
        t = threading.Thread(target=lambda: ctx.run(lambda: seen.update(lang=_("Temperature"))))
        t.start()
        t.join()
        assert seen["lang"] == "温度"
        other = threading.Thread(target=lambda: seen.update(plain=_("Temperature")))  # a fresh context
        other.start()
        other.join()
        assert seen["plain"] == "Temperature"
    finally:
        i18n.set_language("en")
    assert _("Temperature") == "Temperature"


@pytest.mark.parametrize(
    "asked, locale, expected",
    [
        ("zh", None, "zh"),
        ("en", "zh-CN", "en"),
        (None, "zh-CN", "zh"),
        (None, "zh_Hans_CN", "zh"),
        ("fr", "de-DE", "en"),
        (None, None, "en"),
        ("ZH", None, "zh"),
    ],
)
def test_the_language_comes_from_the_link_then_the_browser_then_english(asked, locale, expected):
    assert i18n.choose(asked, locale) == expected


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError, match="unknown language"):
        i18n.set_language("xx")


def test_a_core_error_reads_in_the_language_of_the_caller():
    from kdviz.temperature import check_temperature

    i18n.set_language("zh")
    try:
        with pytest.raises(ValueError) as e:
            check_temperature(-1)
        assert re.search(r"[\u4e00-\u9fff]", str(e.value)) and not english_runs(str(e.value))
    finally:
        i18n.set_language("en")


def test_on_screen_translates_the_headers_and_status_words_not_the_data():
    import pandas as pd

    table = pd.DataFrame({"status": ["stopped", "done"], "test errors": [12, 9], "name": ["done", "x"]})
    i18n.set_language("zh")
    try:
        shown = i18n.on_screen(table)
    finally:
        i18n.set_language("en")
    assert list(shown.columns) == [i18n._catalog("zh").gettext(c) for c in table.columns]
    assert (
        list(shown.iloc[:, 0])
        == [i18n._catalog("zh").gettext(w) for w in ("stopped", "done")]
        != ["stopped", "done"]
    )
    assert list(shown.iloc[:, 2]) == ["done", "x"] and list(table["status"]) == ["stopped", "done"]  # a copy
