"""kdviz, the Streamlit entry and home page: what the app teaches, its pages, where it runs.

The pages in pages/ are discovered by Streamlit and listed in the sidebar in teaching order."""

import streamlit as st

from kdviz import __version__
from kdviz.device import describe
from kdviz.i18n import _
from pages.ui.layout import setup_page

setup_page("Home")
st.title(_("kdviz: knowledge distillation, live"))
st.write(
    _(
        "A big **teacher** network knows more than its top answer: how much a 2 looks like a 7, "
        "or a 3 like a 5. **Knowledge distillation** (Hinton, Vinyals & Dean, 2015) trains a small "
        "**student** to match the teacher's *softened* outputs, and the student learns more from "
        "them than from the labels alone. This app lets a class see every step."
    )
)
st.markdown(
    "\n".join(
        (
            _("1. **Temperature**: slide T and watch a softmax flatten and the dark knowledge appear."),
            _("2. **Dark knowledge**: what a real MNIST teacher thinks of the wrong classes."),
            _(
                "3. **Distillation Lab**: two students learn live from the paper's teacher (shipped) "
                "or labels."
            ),
            _("4. **Experiments**: reproduce the paper's MNIST results and sweep T, alpha and size."),
        )
    )
)
teacher, student = _("teacher"), _("student")  # the subscripts' words; the symbols stay
st.latex(
    r"\mathcal{L} = \alpha\, T^2\, \mathrm{KL}\big(q^{T}_{\text{" + teacher + r"}} \,\|\, "
    r"q^{T}_{\text{"
    + student
    + r"}}\big) + (1-\alpha)\, \mathrm{CE}\big(y, q^{1}_{\text{"
    + student
    + r"}}\big)"
)
st.caption(_("Running on {device} · kdviz {version}").format(device=describe(), version=__version__))
