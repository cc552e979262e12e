"""Join the lesson: a student's phone shows the question on the teacher's screen and takes an answer."""

import streamlit as st

from kdviz import poll
from kdviz.i18n import _
from kdviz.lesson import STEPS, marks
from pages.ui.layout import fragment, setup_page
from pages.ui.lesson import choice_labels, class_poll, device_id

setup_page("Join the lesson")
st.title(_("Join the lesson"))
classroom = class_poll()
me = device_id()
code = st.text_input(_("Join code"), value=str(st.query_params.get("code", "")), max_chars=8).strip().upper()
if not code:
    st.info(_("Type the code on the teacher's screen."))
    st.stop()
if st.query_params.get("code") != code:
    st.query_params["code"] = code
name = st.text_input(_("Your name (optional)"), key="poll_name", max_chars=poll.MAX_NAME)


@fragment(run_every=1.5)
def question():
    """Follows the teacher's screen: a student who joins late lands on the current question."""
    current = classroom.lesson(code)
    if current is None:
        st.error(_("No lesson has the code {code}.").format(code=code))
        return
    if not current.open:
        st.info(_("This lesson is closed. Thank you!"))
        return
    step = STEPS[current.step]
    st.caption(_("Question {i} of {n}").format(i=current.step + 1, n=len(STEPS)))
    st.subheader(_(step.question))
    mine = classroom.my_answer(code, current.step, me)
    if current.revealed:
        st.info(_("Look at the teacher's screen: the answer is revealed."))
        return
    try:
        if step.choices:
            for i, (mark, label) in enumerate(zip(marks(step), choice_labels(step))):
                picked = mine == str(i)
                if st.button(
                    label if mark == step.choices[i] else f"{mark}. {label}",
                    key=f"a{current.step}_{i}",
                    type="primary" if picked else "secondary",
                    width="stretch",
                ):
                    classroom.answer(code, me, current.step, str(i), name)
                    st.rerun(scope="fragment")
        else:
            with st.form(f"number{current.step}", border=False):
                typed = st.text_input(_("Your guess (a number)"), value=mine or "")
                if st.form_submit_button(_("Send"), type="primary", width="stretch"):
                    classroom.answer(code, me, current.step, typed, name)
                    st.rerun(scope="fragment")
    except poll.PollError as e:
        st.error(str(e))
        return
    if mine is not None:
        shown = choice_labels(step)[int(mine)] if step.choices else mine
        st.success(_("Your answer: {answer}. You can change it until the reveal.").format(answer=shown))


question()
