"""Page frame: language, projector mode, the sidebar menu, environment, device and data (cached)."""

from __future__ import annotations

import functools
import html
from urllib.parse import urlencode

import streamlit as st

from kdviz import env as environment
from kdviz import i18n
from kdviz.env import Env, EnvError
from kdviz.i18n import N_, _
from kdviz.runs import warm_up
from pages.ui.session import my_runs

# The sidebar menu, in teaching order. Streamlit's own page list (hidden in .streamlit/config.toml)
# would call the home page "app" after app.py; st.navigation could rename it, but Streamlit only
# honours it once a session has opened the home page, not for a first visit to a shared link.
MENU = (
    ("app.py", N_("Home"), ":material/home:"),
    ("pages/0_Lesson.py", N_("Lesson"), ":material/school:"),
    ("pages/1_Temperature.py", N_("Temperature"), ":material/thermostat:"),
    ("pages/2_Dark_Knowledge.py", N_("Dark knowledge"), ":material/visibility:"),
    ("pages/3_Distillation_Lab.py", N_("Distillation Lab"), ":material/science:"),
    ("pages/4_Experiments.py", N_("Experiments"), ":material/analytics:"),
)
TITLES = (N_("Dark Knowledge"), N_("Join the lesson"))  # page titles not in the menu
# URL parameters that every page keeps when the menu moves to another one.
SHARED_PARAMS = ("lang", "present")
# Projector mode: text read from the back of a classroom on a 1280 x 720 projector. Streamlit sizes
# its text in rem, so one root size scales it all; charts get their own (chart()).
PROJECTOR_CSS = """<style>
html { font-size: 23px !important; }  /* captions and labels are 0.875rem: 20 px */
.block-container { padding-top: 3.5rem !important; max-width: 100% !important; }
</style>"""
PROJECTOR_CHART_FONT = 22  # px: plotly draws minor log-axis labels at 3/4 of it, still 16 px
PHONE_CSS = """<style>
@media (max-width: 640px) { .katex-display { overflow-x: auto; overflow-y: hidden; } }
</style>"""


@functools.cache
def warm_up_training() -> None:
    """Once per server, when the Lab first opens, not at its first Train (kdviz.train.warm_up).
    Not at the first page: an import holding the interpreter while that page first lays out
    left the Temperature page's metrics cut short at 800 px."""
    warm_up()


def setup_page(title: str, projector_default: bool = False) -> None:
    """Every page's first call: the language and projector mode of this view, the menu, the
    server's environment (a malformed KDVIZ_* variable stops the page with one clear message)."""
    language = i18n.choose(st.query_params.get("lang"), st.context.locale)
    st.session_state["_lang"] = language
    i18n.set_language(language)
    if projector_default and "present" not in st.query_params:
        st.query_params["present"] = "1"  # in the URL, so the menu and the lesson's links keep it
    present = projector()
    st.set_page_config(
        page_title=f"{_(title)} · kdviz",
        page_icon="🌡️",
        layout="wide",
        initial_sidebar_state="collapsed" if present else "auto",
    )
    st.html(PHONE_CSS + (PROJECTOR_CSS if present else ""))
    env()
    keep = {k: st.query_params[k] for k in SHARED_PARAMS if k in st.query_params}
    try:
        for path, label, icon in MENU:
            st.sidebar.page_link(path, label=_(label), icon=icon, query_params=keep)
        st.sidebar.divider()
    except st.errors.StreamlitAPIException:
        pass  # AppTest runs a page file as its own main script: there is no app to link to
    with st.sidebar:
        view_controls(language, present)
        my_runs()


def view_controls(language: str, present: bool) -> None:
    """The sidebar's language and projector switches; both live in the URL (?lang=, ?present=1)."""
    st.session_state["_language_slot"] = st.empty()
    language_links()
    shown = st.toggle(
        _("Projector mode"),
        value=present,
        key="_present_pick",
        help=_("Large text for a classroom projector"),
    )
    if shown != present:
        st.query_params["present"] = "1" if shown else "0"
        st.rerun()


def language_links() -> None:
    """The language switch: links that reload the page with its settings and the other language.

    A reload, not a widget: a selectbox keeps its value in the browser as the old language's
    label, which the new labels would not match; a fresh session rebuilds every widget from the
    URL (pages.ui.url). Drawn again by write_url once a page has put its settings in the URL."""
    slot = st.session_state.get("_language_slot")
    if slot is None:
        return
    here, language = st.query_params.to_dict(), st.session_state.get("_lang", i18n.DEFAULT)
    links = " · ".join(
        f"<b>{html.escape(name)}</b>"
        if code == language
        else f'<a href="?{html.escape(urlencode(here | {"lang": code}))}">{html.escape(name)}</a>'
        for code, name in i18n.LANGUAGES.items()
    )
    slot.html(f"<div class='kdviz-language'>{html.escape(_('Language'))}: {links}</div>")


def projector() -> bool:
    return st.query_params.get("present", "0") in ("1", "true", "yes")


def use_session_language() -> None:
    i18n.set_language(st.session_state.get("_lang", i18n.DEFAULT))


def chart(fig, where=None, key: str | None = None) -> None:
    """A plotly figure at the page's width, its text sized for the projector when that is on."""
    draw(_sized(fig, projector()), where, key)


def draw(fig, where=None, key: str | None = None) -> None:
    """A figure already sized for this view (shared_figures) at the page's width."""
    (where or st).plotly_chart(fig, width="stretch", key=key)


def _sized(fig, present: bool):
    if present:  # every text size set here: Streamlit's chart theme would size the rest in rem
        size = PROJECTOR_CHART_FONT
        fig.update_layout(font_size=size, title_font_size=size + 4, legend_font_size=size)
        fig.update_xaxes(tickfont_size=size, title_font_size=size)
        fig.update_yaxes(tickfont_size=size, title_font_size=size)
    return fig


def shared_figures(build, *args) -> tuple:
    """`build(*args)`'s figures, sized for this view, built once per server for every session that
    asks for the same arguments in the same language and mode. Building and checking a plotly
    figure is most of what a T move costs the server, and a class moving T on one example asks
    for the same few dozen. `build` is a function of the core (a page's own functions are new
    objects on every rerun) and must return new figures; they are shared, so draw them, never
    change them."""
    return _shared(build, args, i18n.language(), projector())


@functools.lru_cache(maxsize=256)
def _shared(build, args: tuple, language: str, present: bool) -> tuple:
    del language  # a key only: build() speaks the language this thread has set
    return tuple(_sized(fig, present) for fig in build(*args))


def fragment(run_every: float | None = None):
    """`st.fragment` whose reruns speak the session's language: a fragment's rerun may start in a
    fresh thread, where the language that setup_page set is not there (kdviz.i18n)."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            use_session_language()
            return fn(*args, **kwargs)

        return st.fragment(run, run_every=run_every)

    return wrap


def env() -> Env:
    """The server's KDVIZ_* variables (kdviz.env); a malformed one stops the page, saying which."""
    try:
        return environment.current()
    except EnvError as e:
        st.error(
            _("kdviz cannot use its settings: {error}. Fix the variable and restart the app.").format(error=e)
        )
        st.stop()


def data_dir() -> str:
    return str(env().mnist_dir)


# Core objects shared by every session of this server process.
@st.cache_resource(show_spinner=False)
def _load_data(data_dir: str | None, device: str):
    from kdviz.data import load_mnist

    return load_mnist(data_dir, device)


def load_data(data_dir: str | None, device: str):
    with st.spinner(_("Loading MNIST onto the device...")):
        return _load_data(data_dir, device)


def device_control() -> str:
    """The sidebar's device menu: the best device first (CUDA, then MPS, then the CPU)."""
    from kdviz.device import available

    return st.sidebar.selectbox(
        _("Device"), available(), help=_("CUDA GPU or Apple MPS when present, else the CPU")
    )


def data_or_stop(device: str = "cpu"):
    """The dataset, or a clear message saying what to do and st.stop()."""
    from kdviz.data import DataError

    try:
        return load_data(data_dir(), device)
    except DataError as e:
        st.error(str(e))
        st.info(
            _(
                "To use the MNIST pages: on a machine with internet run `kdviz download`; offline, start "
                "the app with `KDVIZ_DATA_DIR=/path/to/folder/with/the/four/mnist/files kdviz app`."
            )
        )
        st.stop()


def cache_dir() -> str:
    return str(env().cache_dir)
