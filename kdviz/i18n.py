"""Every word a user reads, in English or 简体中文: gettext catalogs managed with Babel.

Marking: `_("text {name}").format(name=...)` translates now; `N_("text")` only marks a constant
(a menu label, a preset's title) for extraction, and the code that shows it calls `_()` on it.
Placeholders are named (`{name}`) so a translation may put them in another order.

Catalogs: `kdviz/locales/<lang>/LC_MESSAGES/kdviz.po`, the sources of truth, edited with
`pybabel extract / update` (see babel.cfg and the README). They are read with Babel and compiled in
memory the first time a language is used (a few milliseconds), so a fresh clone needs no compile
step and there is no binary .mo in git that could fall behind its .po.

The language is a context variable, not a global: a server holds a class whose sessions read
different languages at once. Each page run sets it (pages.ui.layout), and kdviz.jobs runs every
training in a copy of the context that started it, so the core's messages (its errors included)
come out in the language of the session that asked, and the core never imports Streamlit.
"""

from __future__ import annotations

import contextvars
import functools
import gettext
import io
from pathlib import Path

LANGUAGES = {"en": "English", "zh": "简体中文"}  # code -> the language's own name
DEFAULT = "en"
DOMAIN = "kdviz"
LOCALES = Path(__file__).parent / "locales"

_language: contextvars.ContextVar[str] = contextvars.ContextVar("kdviz_language", default=DEFAULT)


def _(message: str) -> str:
    """`message` in the current language (itself when no translation exists)."""
    return _catalog(_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _catalog(_language.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a constant for extraction; it is translated where it is shown, with `_()`."""
    return message


def language() -> str:
    return _language.get()


def set_language(code: str) -> None:
    """Use `code` for this thread's (or context's) messages from now on; ValueError if unknown."""
    if code not in LANGUAGES:
        raise ValueError(f"unknown language {code!r}: one of {', '.join(LANGUAGES)}")
    _language.set(code)


def choose(asked: str | None, browser_locale: str | None) -> str:
    """The language to use: the link's `?lang=` when it names one of ours, else the browser's
    (a locale such as "zh-CN" or "zh_Hans_CN" picks zh), else English."""
    for candidate in (asked, browser_locale):
        code = str(candidate or "").strip().lower().replace("_", "-").split("-")[0]
        if code in LANGUAGES:
            return code
    return DEFAULT


def catalog_path(code: str) -> Path:
    return LOCALES / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _catalog(code: str) -> gettext.NullTranslations:
    """The compiled catalog of `code`; English is the source language and needs none."""
    if code == DEFAULT:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(catalog_path(code), "rb") as f:
        catalog = read_po(f, locale=code.replace("-", "_"))
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy (unchecked) entry is not shown
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def on_screen(table, words: tuple[str, ...] = ("status",)):
    """A table as a page shows it: its stable English column keys (which its CSV keeps) and the
    word values of the columns `words` (e.g. a run's status) in the current language."""
    shown = table.copy()
    for column in words:
        if column in shown:
            shown[column] = shown[column].map(lambda v: _(v) if isinstance(v, str) and v else v)
    return shown.rename(columns=lambda c: _(c) if isinstance(c, str) and c else c)
