"""Page frame: set-up, the sidebar menu, settings, device and data (cached per server)."""

from __future__ import annotations

import streamlit as st

from kdviz import settings
from kdviz.settings import AppSettings, SettingsError
from pages.ui.runs import my_runs

# The sidebar menu, in teaching order. Streamlit's own page list (hidden in .streamlit/config.toml)
# would call the home page "app" after app.py; st.navigation could rename it, but Streamlit only
# honours it once a session has opened the home page, not for a first visit to a shared link.
MENU = (
    ("app.py", "Home", ":material/home:"),
    ("pages/1_Temperature.py", "Temperature", ":material/thermostat:"),
    ("pages/2_Dark_Knowledge.py", "Dark knowledge", ":material/visibility:"),
    ("pages/3_Distillation_Lab.py", "Distillation Lab", ":material/science:"),
    ("pages/4_Experiments.py", "Experiments", ":material/analytics:"),
)


def setup_page(title: str) -> None:
    st.set_page_config(page_title=f"{title} · kdviz", page_icon="🌡️", layout="wide")
    app_settings()  # a malformed KDVIZ_* variable stops every page with one clear message
    try:
        for path, label, icon in MENU:
            st.sidebar.page_link(path, label=label, icon=icon)
        st.sidebar.divider()
    except st.errors.StreamlitAPIException:
        pass  # AppTest runs a page file as its own main script: there is no app to link to
    with st.sidebar:
        my_runs()


def app_settings() -> AppSettings:
    """The server's KDVIZ_* settings (kdviz.settings); a malformed one stops the page, saying which."""
    try:
        return settings.current()
    except SettingsError as e:
        st.error(f"kdviz cannot use its settings: {e}. Fix the variable and restart the app.")
        st.stop()


def data_dir() -> str:
    return str(app_settings().mnist_dir)


# Core objects shared by every session of this server process.
@st.cache_resource(show_spinner="Loading MNIST onto the device...")
def load_data(data_dir: str | None, device: str):
    from kdviz.data import load_mnist

    return load_mnist(data_dir, device)


def device_control() -> str:
    """The sidebar's device menu: the best device first (CUDA, then MPS, then the CPU)."""
    from kdviz.device import available

    return st.sidebar.selectbox(
        "Device", available(), help="CUDA GPU or Apple MPS when present, else the CPU"
    )


def data_or_stop(device: str = "cpu"):
    """The dataset, or a clear message saying what to do and st.stop()."""
    from kdviz.data import DataError

    try:
        return load_data(data_dir(), device)
    except DataError as e:
        st.error(str(e))
        st.info(
            "To use the MNIST pages: on a machine with internet run `kdviz download`; offline, start the "
            "app with `KDVIZ_DATA_DIR=/path/to/folder/with/the/four/mnist/files kdviz app`."
        )
        st.stop()


def cache_dir() -> str:
    return str(app_settings().cache_dir)
