"""The lesson: eight questions through the four pages; the class predicts on phones, the app measures."""

import streamlit as st

from kdviz import lesson, plots, poll
from kdviz.i18n import _
from kdviz.lesson import STEPS
from pages.ui.layout import chart, fragment, setup_page
from pages.ui.lesson import choice_labels, class_poll, evidence, join_url, qr_png, step_link, teacher_key
from pages.ui.url import url_state, write_url

setup_page("Lesson", projector_default=True)
classroom = class_poll()
key = teacher_key()
url_state("lesson", {"code": ("", lambda raw: str(raw).strip().upper()[:8])})
code = st.session_state["code"]
if code:
    write_url({"code": code})
current = classroom.lesson(code) if code else None

if st.query_params.get("print") == "1":  # the whole lesson on A4: questions, choices, notes
    st.html("<style>@media print { section[data-testid='stSidebar'], header { display: none; } }</style>")
    st.title(_("Lesson: knowledge distillation in {n} questions").format(n=len(STEPS)))
    for i, step in enumerate(STEPS, 1):
        st.markdown(f"**{i}. {_(step.question)}**")
        if step.choices and lesson.marks(step) == step.choices:  # short ones (digits, T = 2.5): a line
            st.markdown(" · ".join(choice_labels(step)))
        elif step.choices:
            st.markdown("\n".join(f"- {c}" for c in choice_labels(step)))
        st.caption(_("Teacher's notes: {notes}").format(notes=_(step.notes)))
    st.stop()

if current is None or not current.open or not classroom.is_teacher(key):  # no lesson running here
    st.title(_("Lesson: knowledge distillation in {n} questions").format(n=len(STEPS)))
    st.write(
        _(
            "Predict, run, reveal: the class answers each question on its phones, the app opens the "
            "page that answers it and measures the answer live on this machine."
        )
    )
    if current is not None and current.open:
        st.info(_("Students: answer on the join page: {url}").format(url=join_url(code)))
    typed = st.text_input(
        _("Teacher's key"), type="password", help=_("printed by `kdviz app` when it starts")
    )
    if typed:
        st.session_state["_teacher_key"] = key = typed
    if classroom.is_teacher(key):
        if st.button(_("Start the lesson"), type="primary"):
            st.session_state["code"] = classroom.start(key)
            write_url({"code": st.session_state["code"]})
            st.rerun()
    elif key:
        st.error(_("That is not this server's teacher's key."))
    st.markdown("\n".join(f"{i}. {_(s.question)}" for i, s in enumerate(STEPS, 1)))
    lang = f"&lang={st.query_params['lang']}" if "lang" in st.query_params else ""
    printable = _("Printable view (A4)")
    st.markdown(f"[{printable}](Lesson?print=1{lang})")
    st.stop()

step = STEPS[current.step]
marks = lesson.marks(step)
reveal = evidence(step) if current.revealed else None
question, side = st.columns([3, 2], gap="large")
with question:
    st.caption(_("Question {i} of {n}").format(i=current.step + 1, n=len(STEPS)))
    st.subheader(_(step.question))
    if step.choices and list(marks) != choice_labels(step):
        st.markdown("  \n".join(f"**{m}.** {c}" for m, c in zip(marks, choice_labels(step))))
    if isinstance(reveal, lesson.Reveal):
        st.success(f"{reveal.answer}\n\n{reveal.why}")
        for line in reveal.context:
            st.caption(line)
    elif reveal is not None:
        st.warning(reveal)
with side:  # the join code, large enough to read from the back row, then the class's answers
    qr, join = st.columns([1, 2])
    qr.image(qr_png(join_url(code)), width=110)
    join.markdown(
        f"<div style='font-size:2.4rem;font-weight:700;letter-spacing:.2em'>{code}</div>",
        unsafe_allow_html=True,
    )
    join.caption(join_url(code))

    @fragment(run_every=None if current.revealed else 1.0)
    def tally():
        answers = classroom.answers(code, current.step)
        counts = poll.tally(step, answers)
        correct = reveal.correct if isinstance(reveal, lesson.Reveal) else None
        labels = [marks[int(k)] for k in counts] if step.choices else list(counts)
        chart(plots.tally_chart(labels, list(counts.values()), correct, bool(step.choices)))
        st.caption(_("{n} answers").format(n=len(answers)))

    tally()

b0, b1, b2, b3, b4 = st.columns([2.8, 1, 1, 1.4, 1.4])
page, params = step_link(step)
if b0.button(_("Open the page for this question"), icon=":material/open_in_new:"):
    st.switch_page(page, query_params=params)
try:
    if b1.button(_("Previous"), disabled=current.step == 0):
        classroom.go(key, code, current.step - 1)
        st.rerun()
    if b2.button(_("Reveal"), type="primary", disabled=current.revealed):
        classroom.reveal(key, code)
        st.rerun()
    if b3.button(_("Next question"), disabled=current.step == len(STEPS) - 1):
        classroom.go(key, code, current.step + 1)
        st.rerun()
    if b4.button(_("Close the lesson"), disabled=not current.open):
        classroom.close(key, code)
        st.rerun()
except poll.PollError as e:
    st.error(str(e))
with st.expander(_("Teacher's notes")):
    st.write(_(step.notes))
    if step.seconds:
        st.caption(_("Its training takes about {s} s on a 2-core laptop.").format(s=step.seconds))
