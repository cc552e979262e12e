"""Dark Knowledge: what a trained MNIST teacher says about the wrong classes, at any T."""

import random

import streamlit as st
import torch
from streamlit_drawable_canvas import st_canvas

from kdviz import dark, plots, temperature
from kdviz.i18n import N_, _
from kdviz.links import parse_choice, parse_t
from pages.ui.layout import chart, data_or_stop, device_control, setup_page
from pages.ui.teachers import choose_teacher
from pages.ui.url import t_control, url_notice, url_state, write_url

DIGITS = [str(d) for d in range(10)]
GALLERY = 10
MAX_INDEX = 10_000  # MNIST's test digits; a smaller set's are checked once it is loaded
# The drawing pad's side and pen width, px: 9x MNIST's 28 and its ~2 px strokes. The pad and the
# teacher's 28x28 view of it (blown up to the same size) fit side by side on a 1024 px projector.
PAD, PEN = 9 * 28, 18
# The similar pairs' columns (kdviz.dark.similar_pairs) -> their headers on screen
PAIR_COLUMNS = {"pair": N_("pair"), "a→b": "a→b", "b→a": "b→a", "similarity": N_("similarity")}


def parse_class(raw):
    if raw != "all" and raw not in DIGITS:
        raise ValueError(raw)
    return raw


setup_page("Dark Knowledge")
st.title(_("Dark Knowledge"))
st.write(
    _(
        "A trained teacher is almost always sure of the right digit, but it still **ranks the wrong ones**: "
        "a 4 gets far more probability on 9 than on 0. That ranking is the *dark knowledge* "
        "(Hinton, Vinyals & Dean 2015). At T = 1 it hides in probabilities of 10⁻⁴ and less; a higher T "
        "lifts it into view. Everything below is what a real teacher says about real MNIST test digits."
    )
)
# idx -1: the showcase digit, chosen once the teacher has looked at the test set
url_state(
    "dark",
    {"T": (4.0, parse_t), "idx": (-1, parse_choice(range(MAX_INDEX), int)), "cls": ("all", parse_class)},
)
url_notice("dark", {"idx": _("Test image index"), "cls": _("True class")})
device = device_control()
data = data_or_stop(device)

chosen = choose_teacher(device)
teacher = chosen.teacher
# The teacher runs once per checkpoint; moving T only re-applies the softmax below.
logits = chosen.logits(device, "test").detach().cpu()
labels = data.test_y.cpu()
n = len(labels)
ranking = dark.ambiguity_ranking(logits)
st.caption(
    _(
        "{teacher}: {errors} test errors of {total}. "
        "Its outputs for all {n:,} test digits are computed once and reused at every T."
    ).format(teacher=teacher.spec.label, errors=teacher.test_errors, total=teacher.test_total, n=n)
)

top_left, top_right = st.columns([2, 1])
with top_left:
    T = t_control("T")
with top_right:
    log_y = st.toggle(
        _("Log scale"), key="log_y", help=_("for the probabilities: shows the 10⁻⁶ that T = 1 hides")
    )

# --- 1. Pick a digit -------------------------------------------------------------------------------
st.subheader(_("1. Pick a test digit"))
if not 0 <= st.session_state.get("idx", -1) < n:
    st.session_state["idx"] = dark.showcase_digit(logits, labels)


def choose(i: int) -> None:
    st.session_state["idx"] = int(i)


def choose_random() -> None:
    choose(random.choice(dark.in_class(labels, st.session_state.get("cls", "all"))))


st.caption(
    _(
        "The most ambiguous test digits: those where the teacher's **second choice** is strongest at T = 1. "
        "Click one, or pick any digit by index."
    )
)
f1, f2, f3 = st.columns([1.4, 1.2, 2])
cls = f1.selectbox(
    _("True class"),
    ["all", *DIGITS],
    key="cls",
    format_func=lambda c: _("all classes") if c == "all" else _("class {c}").format(c=c),
)
f2.number_input(_("Test image index"), 0, n - 1, key="idx")
f3.button(_("Random digit"), on_click=choose_random)
order = ranking if cls == "all" else ranking[labels[ranking] == int(cls)]
gallery = dark.top_choices(logits, labels, order[:GALLERY])
for start in range(0, len(gallery), 5):  # rows of five stay readable on a tablet or a 1024 px projector
    for col, row in zip(st.columns(5), gallery.iloc[start : start + 5].itertuples()):
        col.image(dark.upscale(data.test_x[row.index], 3), width="stretch")
        col.caption(
            _("a {label}; says {first} / {second} ({p:.2f})").format(
                label=row.label, first=row.first, second=row.second, p=row.p_second
            )
        )
        col.button(f"#{row.index}", key=f"pick_{row.index}", on_click=choose, args=(row.index,))

idx = int(st.session_state["idx"])
write_url({"T": T, "idx": idx, "cls": cls})
label, z = int(labels[idx]), logits[idx]
q_one, q_t = temperature.softmax_t(z, 1.0), temperature.softmax_t(z, T)
first, second = q_one.topk(2).indices.tolist()

# --- 2. What the teacher says ----------------------------------------------------------------------
st.subheader(_("2. Test digit #{idx}: a {label}").format(idx=idx, label=label))
img_col, chart_col = st.columns([1, 2.4])
with img_col:
    st.image(dark.upscale(data.test_x[idx], 10), width="stretch")
    p_first, p_second = dark.format_probabilities(q_one[first], q_one[second])
    says = (
        _("Label **{label}**. The teacher says **{first}** ({p_first}) at T = 1, a mistake.")
        if first != label
        else _("Label **{label}**. The teacher says **{first}** ({p_first}) at T = 1.")
    )
    st.caption(
        says.format(label=label, first=first, p_first=p_first)
        + _(" Second choice: **{second}** ({p_second}).").format(second=second, p_second=p_second)
    )
with chart_col:
    chart(plots.soft_target_bars(z, label, T, log_y))
bits_t, bits_one = temperature.entropy(q_t), temperature.entropy(q_one)
# two per row: four metrics across a narrow screen cut their numbers short ("1.03...")
m1, m2 = st.columns(2)
m3, m4 = st.columns(2) if T != 1 else (None, st.columns(2)[0])
bits = _("{bits:.3f} bits")
m1.metric(_("spread of the one-hot label"), _("0 bits"), help=_("a label says only which class"))
m2.metric(_("spread of the soft target, T = 1"), bits.format(bits=bits_one))
if m3 is not None:  # at T = 1 it would repeat the metric beside it
    m3.metric(_("spread of the soft target, T = {T:g}").format(T=T), bits.format(bits=bits_t))
m4.metric(
    _("mass on wrong classes at T = {T:g}").format(T=T),
    f"{1 - q_t[label]:.3f}",
    help=_("{mass:.2g} at T = 1").format(mass=1 - q_one[label]),
)
st.caption(
    _(
        "Spread = the entropy of the soft target in bits: 0 for the one-hot label, log₂ 10 = 3.32 for a "
        "uniform guess. More spread is not more knowledge (a uniform target would score highest and teach "
        "nothing): what teaches is *which* wrong digits get the mass, as the bars show."
    )
)
temps = sorted(set(temperature.DOC_TEMPERATURES) | {T})
curves = plots.curves(temperature.softened_table(z, DIGITS, temps), T, log_y)
chart(curves.update_xaxes(title=_("digit")))

# --- 3. Class similarity ---------------------------------------------------------------------------
st.subheader(_("3. What does the teacher think a 3 resembles?"))
st.write(
    _(
        "Row c is the teacher's **average softened distribution** over all test images of true class c at "
        "T = {T:g}. Off the diagonal is the dark knowledge: which digits the teacher sees in a c."
    ).format(T=T)
)
sim = dark.class_similarity(logits, labels, T)
h1, h2 = st.columns([2.2, 1])
with h1:
    hide = st.toggle(_("Hide the diagonal (the right answers) so the wrong-class structure shows"), True)
    chart(plots.similarity_heatmap(sim, T, hide))
with h2:
    pairs = dark.similar_pairs(sim, top=10)
    st.markdown(_("**Most similar pairs** (mean of both directions)"))
    st.dataframe(
        pairs[list(PAIR_COLUMNS)].style.format(precision=4),
        hide_index=True,
        width="stretch",
        column_config={k: _(v) for k, v in PAIR_COLUMNS.items()},  # headers on screen; the keys stay
    )
    look = st.selectbox(_("A digit"), DIGITS, index=3, key="look")
    near = dark.nearest_classes(sim, int(look))
    st.write(
        _("The teacher thinks a **{digit}** most resembles {similar} at T = {T:g}.").format(
            digit=look, similar=", ".join(f"**{k}** ({p:.3f})" for k, p in near), T=T
        )
    )

# --- 4. Your own digit -----------------------------------------------------------------------------
st.subheader(_("4. Your own digit"))


def teacher_on(x, image_col, chart_col, key: str, title: str) -> None:
    """What the teacher sees (the 28x28 image, blown up) and says at T about a digit of the user's."""
    with torch.no_grad():
        zu = teacher.logits(x).detach().cpu()[0]
    image_col.image(dark.upscale(x, PAD // 28), width="content")  # the pad's size
    image_col.caption(
        _(
            "As the teacher sees it (28x28, white on black). It says **{digit}**; "
            "spread {bits:.3f} bits at T = {T:g}."
        ).format(digit=int(zu.argmax()), bits=temperature.entropy(temperature.softmax_t(zu, T)), T=T)
    )
    chart(plots.compare_bars(DIGITS, zu, T, log_y, title=title, x_title=_("digit")), chart_col, key=key)


def clear_pad() -> None:
    st.session_state["pads"] = st.session_state.get("pads", 0) + 1  # a new key: a fresh, empty pad


st.write(
    _(
        "Try to fool the teacher: draw a digit with the mouse or a finger. The teacher answers when you "
        "lift the pen. It sees your drawing the way MNIST digits were made: the ink's box scaled into "
        "20x20 pixels and centred by its centre of mass in 28x28."
    )
)
st.space("small")  # room for the pad's toolbar (undo, redo, clear), which shows above it on hover
row = st.container(horizontal=True)  # side by side; one above the other on a narrow screen
pad_col, seen_col = row.container(width=PAD), row.container(width=PAD)
with pad_col:
    pad = st_canvas(
        stroke_width=PEN,
        stroke_color="#ffffff",
        background_color="#000000",  # white ink on black paper, like MNIST
        width=PAD,
        height=PAD,
        return_image_data=True,
        key=f"pad_{st.session_state.get('pads', 0)}",
    )
    st.button(_("Clear the pad"), on_click=clear_pad)
drawn = None if pad.image_data is None else dark.image_from_canvas(pad.image_data)
if drawn is None:
    seen_col.info(
        _("Draw a digit on the black pad: the teacher's answer appears here when you lift the pen.")
    )
else:
    title = (
        _("The teacher on your drawing at T = {T:g} vs T = 1")
        if T != 1
        else _("The teacher on your drawing at T = {T:g}")
    )
    teacher_on(drawn, seen_col, st, key="drawn_bars", title=title.format(T=T))

# A refused upload empties the box (a new widget key) and says why above it: kept in the box, each
# refused file stayed listed with its error, one under another.
slot = st.session_state.setdefault("upload_slot", 0)
upload = st.file_uploader(
    _("Or upload a small image of one digit (PNG or JPEG, at most 5 MB)"),
    type=["png", "jpg", "jpeg"],
    key=f"upload_{slot}",
)
if refused := st.session_state.pop("upload_refused", None):
    st.error(_("Cannot use this upload: {error}.").format(error=refused))
if upload is not None:
    try:
        x = dark.image_from_upload(upload.getvalue())
    except ValueError as e:
        st.session_state["upload_refused"], st.session_state["upload_slot"] = str(e), slot + 1
        st.rerun()
    else:
        title = (
            _("The teacher on your upload at T = {T:g} vs T = 1")
            if T != 1
            else _("The teacher on your upload at T = {T:g}")
        )
        teacher_on(x, *st.columns([1, 2.4]), key="upload_bars", title=title.format(T=T))

st.subheader(_("Why this matters"))
st.markdown(
    "\n".join(
        (
            _(
                "- A label says *this is a 4*. The teacher's soft target also says *it looks a bit like a 9 "
                "and nothing like a 0*: information about how digits relate that the label cannot carry."
            ),
            _(
                "- At T = 1 those wrong-class probabilities are so small that a loss barely notices them; "
                "raising T spreads the mass so the student is trained to match the whole ranking."
            ),
            _(
                "- In Hinton et al.'s MNIST experiment a student that never saw a 3 during distillation "
                "still recognised most test 3s: it learned about them only from the teacher's soft targets "
                "on other digits."
            ),
        )
    )
)
