"""Temperature Explorer: slide T and watch a softmax flatten and the dark knowledge appear."""

import inspect

import numpy as np
import pandas as pd
import streamlit as st

from kdviz import plots, temperature
from kdviz.i18n import N_, _, language
from kdviz.links import decode_list, encode_list, parse_t
from pages.ui.layout import draw, fragment, setup_page, shared_figures
from pages.ui.url import t_control, url_notice, url_state, write_url

# key (the link's "preset") -> (title, mode, class names, values). Titles and class names are
# marked here and translated where they are shown (preset_data): the page runs in the session's language.
PRESETS = {
    "docs": (
        N_("The docs' example: dog, cat, horse, car"),
        "probabilities",
        [N_("dog"), N_("cat"), N_("horse"), N_("car")],
        [0.6, 0.3, 0.08, 0.02],
    ),
    "confident": (
        N_("A confident teacher (one large logit)"),
        "logits",
        [N_("cat"), N_("dog"), N_("fox"), N_("car")],
        [12.0, 4.0, 3.0, -2.0],
    ),
    "tie": (
        N_("A near tie between two classes"),
        "probabilities",
        [N_("wolf"), N_("husky"), N_("cat"), N_("car")],
        [0.48, 0.46, 0.05, 0.01],
    ),
    "mnist": (
        N_("MNIST-like: a '2' that looks a bit like a '7'"),
        "logits",
        [str(d) for d in range(10)],
        [-1.0, 1.5, 9.0, 2.5, -2.0, -0.5, -1.5, 4.5, 1.0, -1.0],
    ),
}
MODES = {"probabilities": N_("probabilities"), "logits": N_("logits")}  # the link's "mode" -> label


def preset_data(key: str):
    """A preset's (mode, class names in the session's language, values)."""
    _title, mode, classes, values = PRESETS[key]
    return mode, [c if c.isdigit() else _(c) for c in classes], values


def parse_preset(raw):
    if raw not in PRESETS:
        raise ValueError(raw)
    return raw


def parse_list(raw):
    items = decode_list(raw)
    if len(items) < 2:
        raise ValueError(raw)
    return items


setup_page("Temperature")
st.title(_("Temperature Explorer"))
st.write(
    _(
        "A network's softmax turns logits $z_i$ into probabilities. Dividing the logits by a "
        "**temperature** $T$ before the softmax softens the distribution: the small probabilities "
        "of the wrong classes grow, and how the model ranks them becomes visible."
    )
)

url_state(
    "temp",
    {
        "T": (5.0, parse_t),
        "preset": ("docs", parse_preset),
        "mode": (None, str),
        "classes": (None, parse_list),
        "values": (None, parse_list),
    },
)
url_notice("temp", {"preset": _("Example"), "mode": _("I am typing")})


def load_preset():
    mode = PRESETS[st.session_state["preset"]][1]
    st.session_state.update(mode=mode, classes=None, values=None)
    st.session_state["table_version"] = st.session_state.get("table_version", 0) + 1


left, right = st.columns([1, 1.4])
with left:
    preset = st.selectbox(
        _("Example"),
        list(PRESETS),
        key="preset",
        format_func=lambda k: _(PRESETS[k][0]),
        on_change=load_preset,
    )
    preset_mode, preset_classes, preset_values = preset_data(preset)
    if st.session_state.get("mode") not in MODES:
        st.session_state["mode"] = preset_mode
    mode = st.radio(
        _("I am typing"), list(MODES), key="mode", horizontal=True, format_func=lambda m: _(MODES[m])
    )
    classes = st.session_state.get("classes") or preset_classes
    values = st.session_state.get("values") or preset_values
    if len(classes) != len(values):
        st.warning(_("The link's classes and values differ in number; showing the example instead."))
        classes, values = preset_classes, preset_values
    table = pd.DataFrame({"class": classes, "value": [str(v) for v in values]})
    edited = st.data_editor(
        table,
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        column_config={"class": _("class"), "value": _("value")},  # the headers shown; the keys stay
        # the language in the key: a preset's class names are in it, so another language is another table
        key=f"table_{preset}_{language()}_{st.session_state.get('table_version', 0)}",
    )
try:
    names, logits = temperature.parse_distribution(edited["class"].tolist(), edited["value"].tolist(), mode)
    problem = None
except ValueError as e:
    names, logits, problem = [], None, _("Cannot use this table: {error}.").format(error=e)
edited_values = [str(v) for _c, v in temperature.filled_rows(edited["class"], edited["value"])]
custom = names != preset_classes or edited_values != [str(v) for v in preset_values]
if mode == "probabilities" and problem is None:
    total = sum(float(v) for v in edited_values)
    if abs(total - 1) > 1e-9:
        st.caption(
            _("The probabilities typed sum to {total:g}, not 1: each is divided by {total:g} first.").format(
                total=total
            )
        )


# T and everything it moves rerun alone (a fragment), into the columns above: the table, the menu
# and the text are the same at every T, and a class moving T at once shares the server's two cores.
@fragment()
def explorer() -> None:
    with right:
        T = t_control("T")
        log_y = st.toggle(_("Log scale for probabilities (shows the tiny ones)"), key="log_y")
    if problem:
        st.error(problem)
        return
    write_url(
        {"T": T, "preset": preset, "mode": mode}
        | ({"classes": encode_list(names), "values": encode_list(edited_values)} if custom else {})
    )
    for k in ("classes", "values"):
        if not custom and k in st.query_params:
            del st.query_params[k]

    q_now, q_one = temperature.softmax_t(logits, T), temperature.softmax_t(logits, 1.0)
    with left:  # metrics two and one across: three in a column cut their numbers short at 800 px
        top = int(q_now.argmax())
        a, b = st.columns(2)
        c, _spare = st.columns(2)
        vs_one = _("{delta:+.4f} vs T = 1")
        a.metric(
            _("p({name}) at T = {T:g}").format(name=names[top], T=T),
            f"{q_now[top]:.4f}",
            vs_one.format(delta=q_now[top] - q_one[top]),
        )
        a2 = int(np.argsort(q_now.numpy())[-2])
        b.metric(
            _("2nd choice: {name}").format(name=names[a2]),
            f"{q_now[a2]:.4f}",
            vs_one.format(delta=q_now[a2] - q_one[a2]),
        )
        H = float(temperature.entropy(q_now))
        c.metric(
            _("entropy (bits)"),
            f"{H:.3f}",
            help=_("at most log₂ {n} = {bits:.3f} bits (uniform)").format(
                n=len(names), bits=np.log2(len(names))
            ),
        )
        st.caption(
            _(
                "T → 0: all mass on the arg-max (one-hot). T = 1: the ordinary softmax. "
                "T → ∞: uniform, 1/C for every class."
            )
        )
    bars, lines, spread = shared_figures(
        plots.temperature_figures, tuple(names), tuple(logits.tolist()), T, log_y
    )
    with right:  # the chart T moves right under T: one screen on a phone too
        draw(bars)
    col1, col2 = st.columns(2)
    draw(lines, col1)
    draw(spread, col2)

    st.subheader(_("The formula, with your numbers"))
    pick = st.selectbox(_("Class"), names, index=min(1, len(names) - 1), key="pick")
    i = names.index(pick)
    terms, shift = temperature.formula_terms(logits, T)
    st.latex(rf"q_i = \frac{{\exp(z_i / T)}}{{\sum_j \exp(z_j / T)}}, \qquad T = {T:g}")
    minus = rf" - {shift:.6g}" if shift else ""  # only when exp(z/T) itself overflows
    st.latex(
        rf"q_{{\text{{{pick}}}}} = \frac{{\exp({terms['z'][i]:.4g} / {T:g}{minus})}}"
        rf"{{\sum_j \exp(z_j / {T:g}{minus})}}"
        rf" = \frac{{{terms['exp'][i]:.6g}}}{{{terms['exp'].sum():.6g}}} = {terms['q'][i]:.6g}"
    )
    exp_column = f"exp(z/T{minus})"
    class_column = _("class")
    st.dataframe(
        terms.rename(columns={"exp": exp_column}).assign(**{class_column: names}).set_index(class_column),
        width="stretch",
    )
    if shift:
        st.caption(
            _(
                "exp(z/T) would overflow here, so {shift:.6g} (the largest z/T) is subtracted from every "
                "z/T first: the factor exp(-shift) cancels in the ratio. This is how a softmax is computed "
                "stably."
            ).format(shift=shift)
        )


explorer()
st.subheader(_("Why this matters for distillation"))
st.markdown(
    "\n".join(
        (
            _(
                "- At T = 1 a trained teacher puts almost all its mass on the right class, so the tiny "
                "probabilities of the *wrong* classes (a 2 that looks a bit like a 7, a dog that is more "
                "cat than car) carry almost no weight in a loss. That ranking of wrong classes is the "
                "**dark knowledge** (Hinton, Vinyals & Dean 2015)."
            ),
            _(
                "- Raising T lifts those small probabilities, so a student trained to match the teacher's "
                "softened distribution learns how the teacher generalises, not only what is right."
            ),
            _(
                "- Too high a T flattens everything towards uniform and the class relations dissolve "
                "into noise; distillation usually uses T of about 2-20 (the paper used 20 on MNIST, and "
                "2.5-4 for very small students)."
            ),
        )
    )
)
with st.expander(_("Show the code")):
    st.code(inspect.getsource(temperature.softmax_t), language="python")
