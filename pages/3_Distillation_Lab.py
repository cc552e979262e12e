"""Distillation Lab: a teacher and a race of students train live; does listening to the teacher help?"""

import pandas as pd
import streamlit as st

from kdviz import plots, runs
from kdviz.footprint import tradeoff
from kdviz.history import PAGE, class_table, csv_bytes
from kdviz.i18n import _, ngettext, on_screen
from kdviz.links import parse_choice
from pages.ui.controls import teacher_controls
from pages.ui.layout import (
    cache_dir,
    chart,
    data_or_stop,
    device_control,
    env,
    fragment,
    setup_page,
    warm_up_training,
)
from pages.ui.lesson import open_lesson
from pages.ui.session import (
    footprints,
    progress_line,
    redraw_once_finished,
    run_history,
    session_id,
    session_run,
    start_run,
)
from pages.ui.teachers import TeacherChoice, choose_teacher
from pages.ui.url import url_notice, url_state, write_url

limits = env().limits
STUDENT_SIZES = [
    s for s in ("800,800", "300,300", "100,100", "30,30", "64") if limits.allows_student(runs.parse_hidden(s))
]
TRAIN_SIZES = [n for n in (300, 1000, 3000, 10000, 60000) if n <= limits.max_train_size]
OVERLAY_CHOICES = 60  # the class history's newest students offered for the overlay


setup_page("Distillation Lab")
warm_up_training()  # the first optimizer's imports, before the first Train
st.title(_("Distillation Lab"))
st.write(
    _(
        "Students with the **same initial weights** see the **same batches**. One learns from the labels "
        "alone; the others also listen to the teacher's softened outputs, each at its own T and α (up to "
        "{most} students). The only difference between them is the loss."
    ).format(most=runs.MAX_STUDENTS)
)
# True when the settings were (re)applied from the link or the session's memory: the race table
# then starts again from those students.
if url_state(
    "lab",
    {
        "student": (STUDENT_SIZES[0], parse_choice(STUDENT_SIZES)),
        "students": (
            runs.encode_students(runs.PAIR),
            lambda r: runs.encode_students(runs.decode_students(r)),
        ),
        "epochs": (min(20, limits.max_epochs), parse_choice(range(1, limits.max_epochs + 1), int)),
        "n": (1000, parse_choice(TRAIN_SIZES, int)),
        "omit": ("none", parse_choice(["none", *map(str, range(10))])),
        "seed": (0, parse_choice(range(2**31), int)),
        "name": ("", lambda r: str(r)[:40]),
    },
):
    st.session_state.pop("race_start", None)
url_notice(
    "lab",
    {
        "student": _("Student hidden layers"),
        "students": _("the race's students (T and α)"),
        "epochs": _("Epochs"),
        "n": _("Labelled training images (transfer set)"),
        "omit": _("Leave a digit out of the transfer set"),
        "seed": _("Seed"),
    },
)
if env().classroom:
    st.caption(
        _(
            "Classroom mode (KDVIZ_CLASSROOM=1): student size, images and epochs are capped so the "
            "server can train for the whole class."
        )
    )
device = device_control()
data = data_or_stop(device)

# --- Teacher -------------------------------------------------------------------------------------
st.subheader(_("1. The teacher"))
quick = runs.TEACHER_RECIPES["quick"]
quick_path = str(runs.checkpoint_path(quick, cache_dir()))
chosen = choose_teacher(
    device, {quick_path: _("Quick teacher: {label} (trained here, about 40 s)").format(label=quick.label)}
)
teacher_job = session_run("teacher_job")
if not isinstance(chosen, TeacherChoice):  # the quick teacher, not trained yet
    if teacher_job is None or teacher_job.status != "done" or teacher_job.result is None:
        st.info(
            _(
                "No trained teacher yet. Training the default one takes about 40 s on a 2-core CPU, once: "
                "it is cached for every later session."
            )
        )
        busy = bool(teacher_job and not teacher_job.finished)
        if st.button(_("Train teacher"), type="primary", disabled=busy):
            if start_run(
                "teacher_job",
                device,
                "teacher",
                lambda job: runs.teacher(data, "quick", cache_dir(), job.report, job.should_stop),
            ):
                st.rerun()

        @fragment(run_every=1.0 if busy else None)
        def teacher_progress():
            job = session_run("teacher_job")
            if job is None:
                return
            if job.status == "failed":
                st.error(_("Teacher training failed: {error}").format(error=job.error))
            elif job.status == "stopped":
                st.warning(
                    _("Teacher training was stopped before it finished; press Train teacher to go on.")
                )
            elif not job.finished:
                st.progress(
                    job.latest.fraction if job.latest else 0.0,
                    text=_("Teacher: {progress}").format(progress=progress_line(job)),
                )
                if job.epochs:
                    st.caption(
                        _("Test errors after epoch {epoch}: {errors}").format(
                            epoch=job.epochs[-1].epoch, errors=job.epochs[-1].test_errors[0]
                        )
                    )
            redraw_once_finished(job)

        teacher_progress()
        st.stop()
    # Trained, but the cache could not be written: it lives in its finished job until a restart.
    teacher, teacher_logits = teacher_job.result, teacher_job.result.logits(data.train_x)
    st.warning(teacher.note)
else:
    teacher, teacher_logits = chosen.teacher, chosen.logits(device, "train")
st.caption(
    _(
        "{teacher}: **{errors} test errors** of {total} ({accuracy:.2f}% accuracy), "
        "{parameters:,} parameters."
    ).format(
        teacher=teacher.spec.label,
        errors=teacher.test_errors,
        total=teacher.test_total,
        accuracy=100 * (1 - teacher.test_errors / teacher.test_total),
        parameters=teacher.model.parameters_per_model(),
    )
)

# --- Students ------------------------------------------------------------------------------------
st.subheader(_("2. The students"))
job = session_run("lab_job")
busy = bool(job and not job.finished)  # the inputs stay as the running students' settings
c1, c2, c3 = st.columns(3)
with c1:
    student = st.selectbox(
        _("Student hidden layers"),
        STUDENT_SIZES,
        key="student",
        disabled=busy,
        format_func=lambda s: (
            _("{size} (the paper's)").format(size=runs.shape_name(runs.parse_hidden(s)))
            if s == "800,800"
            else runs.shape_name(runs.parse_hidden(s))
        ),
    )
    n = st.select_slider(
        _("Labelled training images (transfer set)"),
        TRAIN_SIZES,
        key="n",
        disabled=busy,
        help=_("Few labels is where the teacher's soft targets help most."),
    )
with c2:
    # No bounds on the box: an out-of-range number typed there stays on screen (red) while the run
    # would silently use the last valid one. It is read as typed and refused below, with a message.
    epochs = st.number_input(_("Epochs"), step=1, key="epochs", disabled=busy)
    omit = st.selectbox(
        _("Leave a digit out of the transfer set"),
        ["none", *map(str, range(10))],
        key="omit",
        disabled=busy,
        format_func=lambda d: _("none") if d == "none" else d,
    )
with c3:
    seed = st.number_input(_("Seed"), 0, 2**31 - 1, key="seed", disabled=busy)
    name = st.text_input(
        _("Your name (optional)"),
        key="name",
        max_chars=40,
        help=_("shown with your runs in the class's table"),
    )

st.markdown(
    _(
        "**The race**: one row per student (up to {most}). α = 0 is the labels-only student; "
        "*anneal* lowers that student's T linearly to 1 over the run (start hot, end sharp). "
        "*Learns from* is the kind of knowledge (the survey's three, and one scheme): the teacher's "
        "logits (the paper); a hint, where its last hidden layer learns to predict the teacher's "
        "through a learned map (FitNets); relations, where it matches how far apart the teacher puts "
        "the batch's images (RKD); or a peer, a second student with other initial weights and no "
        "teacher, each learning from the other's logits (mutual learning). α weighs that against "
        "the labels in every row."
    ).format(most=runs.MAX_STUDENTS)
)
# The editor's starting table is fixed per session (from the link), so edits are not reset by reruns.
start = st.session_state.setdefault("race_start", runs.decode_students(st.session_state["students"]))
edited = st.data_editor(
    pd.DataFrame(runs.race_table(start)),  # text cells: what is typed reaches the check below as typed
    key="race",
    num_rows="fixed" if busy else "dynamic",
    disabled=busy,
    hide_index=True,
    column_config={
        "T": st.column_config.TextColumn(_("T (temperature)"), default="20"),
        "alpha": st.column_config.TextColumn(_("α (weight of the teacher)"), default="0.9"),
        "anneal": st.column_config.CheckboxColumn(_("anneal T to 1"), default=False),
        "knowledge": st.column_config.SelectboxColumn(
            _("learns from"),
            options=list(runs.KNOWLEDGE_NAMES),
            default="logits",
            required=True,
            format_func=runs.knowledge_name,
        ),
    },
)
if not 1 <= epochs <= limits.max_epochs:
    st.error(_("Epochs must be 1 to {most}, not {value}.").format(most=limits.max_epochs, value=epochs))
    st.stop()
try:
    students = runs.students_from_table(edited.to_dict("records"))
except runs.RaceSizeError as e:
    st.error(
        _(
            "{error}. To remove a row, tick the box at its left and press Delete (or the bin above "
            "the table)."
        ).format(error=e)
    )
    st.stop()
except ValueError as e:
    st.error(_("{error}. Fix that row to train.").format(error=e))
    st.stop()
write_url(
    {
        "student": student,
        "students": runs.encode_students(students),
        "epochs": epochs,
        "n": n,
        "omit": omit,
        "seed": seed,
        "name": name,
    }
)
st.latex(  # two lines: one is wider than a tablet
    r"\begin{aligned}\mathcal{L}_k = {} & \alpha_k \cdot T_k^2 \cdot"
    r"\mathrm{KL}\big(q^{T_k}_{\text{teacher}} \,\|\, q^{T_k}_{\text{student }k}\big) \\"
    r" & + (1 - \alpha_k) \cdot \mathrm{CE}\big(y, q^{T=1}_{\text{student }k}\big)\end{aligned}"
)
st.caption(
    _(
        "The KL is summed over classes and averaged over the batch ('batchmean'); T² keeps the soft "
        "term's gradients comparable as T changes. An annealed student uses its current T in both places."
    )
    + " "
    + _(
        "A student that learns from a hint, from relations or from a peer has that term in the KL's "
        "place: the mean squared error of its projected hidden layer against the teacher's, RKD's "
        "distance loss, or the KL to its peer's softened outputs."
    )
    + (_(" The settings are locked while these students train.") if busy else "")
)

cfg = runs.DistillConfig(
    hidden=runs.parse_hidden(student),
    students=students,
    epochs=int(epochs),
    seed=int(seed),
    train_size=None if n >= len(data.train_y) else n,
    omit=() if omit == "none" else (int(omit),),
)
history = run_history()
b1, b2, _spare = st.columns([1.6, 1, 1.4])
if b1.button(_("Train students"), type="primary", disabled=busy):
    # kept in the class's history when it ends, even if this tab is closed by then
    who, lesson_then = (session_id(), name.strip()), open_lesson()
    keep = (  # with the lesson open when it ends, if any (the class table's lesson filter)
        (lambda r: history.add(r.records(device, teacher.spec.english_label, *who, lesson_then())))
        if history
        else runs.ignore
    )
    # Classmates' races of the same setup that wait together train as one (kdviz.lab.Pool).
    together = runs.lab_together(data, teacher_logits, teacher.test_errors, cfg, teacher.hidden)
    if start_run(
        "lab_job",
        device,
        "students",
        lambda job: together.run([job])[0],
        details=runs.Entry(cfg, keep=keep),
        together=together,
        estimate=runs.lab_seconds(data, [cfg]),
    ):
        st.rerun()  # redraw: inputs and Train locked, Stop on
if b2.button(_("Stop"), disabled=not busy):
    job.queue.cancel(job)
    st.rerun()


# --- Live results --------------------------------------------------------------------------------
# Earlier runs to draw beside this one, read once per page run: the live fragment below redraws
# every 0.7 s and reads nothing from the class history, so its cost does not grow with it.
this_run = job.result.run if job is not None and job.result is not None else None
earlier = [r for r in (history.recent(OVERLAY_CHOICES) if history and job else []) if r.run != this_run]
shown = (
    st.multiselect(
        _("Compare with earlier runs (yours and the class's)"),
        earlier,
        format_func=lambda r: _("{name}, run {run}: {student}, {loss}").format(
            name=r.name or _("anonymous"), run=r.run[:6], student=r.student, loss=r.loss_name
        ),
        key="overlay",
        help=_("Their test errors appear as dotted lines on the left chart."),
    )
    if earlier
    else []
)
overlay = {
    _("{name} {run}: {loss}").format(name=r.name or _("run"), run=r.run[:6], loss=r.loss_name): tuple(
        zip(*r.curve)
    )
    for r in shown
}


# Every 0.2 s until the race's first point is in (a class watches for it), then every 0.7 s.
first_wait = busy and not job.tested


@fragment(run_every=(0.2 if first_wait else 0.7) if busy else None)
def live():
    job = session_run("lab_job")
    if job is None:
        st.info(_("Press **Train students** to start. All the students train together, epoch by epoch."))
        return
    if not job.finished:
        stopping = job.should_stop() and job.status == "running"
        st.progress(
            job.latest.fraction if job.latest else 0.0,
            text=_("Stopping...") if stopping else progress_line(job),
        )
    if job.status == "failed":
        st.error(_("Training failed: {error}").format(error=job.error))
    elif job.status == "stopped" and job.result is None:
        st.warning(_("Stopped before the first epoch finished: nothing to compare yet."))
    tested = job.tested
    if tested:
        ep = [e.at for e in tested]
        errors, losses, owners = runs.race_curves(job.details.cfg.students, tested)
        every, total = job.details.cfg.tested_every, tested[0].test_total
        partial = tested[0] if tested[0].kind == "partial" else None
        st.caption(
            _("These students: {students}.").format(students=job.details.cfg.describe())
            + " "
            + (
                _("Tested on all {total:,} test images after every epoch.")
                if every == 1
                else _(
                    "Tested on all {total:,} test images every {every} epochs and after the last: a pass "
                    "over them costs about as much as two or three epochs of training on 1,000 images, so "
                    "a race is tested at most ten times."
                )
            ).format(total=total, every=every)
            + (
                " "
                + _(
                    "The point (hollow) is a test at epoch {at:.2f}, before that epoch's training "
                    "had finished: a first look, not a whole epoch; the tested epochs replace it."
                ).format(at=partial.at)
                if partial is not None
                else ""
            )
        )
        left, right = st.columns(2)
        chart(
            plots.training_curves(
                ep,
                errors,
                _("Test errors (of {total:,}) per epoch").format(total=total),
                _("test errors"),
                {_("teacher"): teacher.test_errors},
                overlay,
                partial_first=partial is not None,
            ),
            left,
        )
        chart(
            plots.training_curves(
                ep,
                losses,
                _("Training loss terms per epoch"),
                _("loss"),
                owners=owners,
                partial_first=partial is not None,
            ),
            right,
        )
    lab_runs = st.session_state.setdefault("lab_runs", [])  # (job id, LabResult), oldest first
    if job.finished and job.result is not None and all(jid != job.id for jid, _result in lab_runs):
        lab_runs.append((job.id, job.result))
    redraw_once_finished(job)
    if first_wait and tested:
        st.rerun()  # the whole page, once the first point is drawn: this fragment's pace becomes 0.7 s


live()

lab_runs = st.session_state.get("lab_runs", [])
if lab_runs:
    st.subheader(_("3. Results (this session)"))
    last = session_run("lab_job")
    if last is not None and last.result is not None:
        st.success(last.result.verdict())
        for caveat in last.result.caveats():  # a stopped or short race says so beside its verdict
            st.warning(caveat)
        if last.result.not_kept:
            st.warning(
                _("This run is not in the class's history: {error}.").format(error=last.result.not_kept)
            )
    df = pd.DataFrame([{"run": i} | row for i, (_jid, r) in enumerate(lab_runs, 1) for row in r.rows()])
    st.dataframe(on_screen(df), width="stretch", hide_index=True)
    st.download_button(_("Download the history (CSV)"), csv_bytes(df), "kdviz-runs.csv", "text/csv")
if lab_runs:
    st.subheader(_("What the small model buys"))
    # Stable English names for the (cached) measurement; the table shows them translated.
    shapes = {"teacher": teacher.spec.hidden} | {
        f"student {runs.shape_name(r.cfg.hidden)}": r.cfg.hidden for _jid, r in lab_runs
    }
    model_names = {"teacher": _("teacher")} | {
        f"student {runs.shape_name(r.cfg.hidden)}": _("student {hidden}").format(
            hidden=runs.shape_name(r.cfg.hidden)
        )
        for _jid, r in lab_runs
    }
    buys = pd.DataFrame([f.row() for f in footprints(tuple(shapes.items()), device)])
    buys["model"] = buys["model"].map(model_names)
    st.dataframe(on_screen(buys), hide_index=True, width="stretch")
    st.caption(
        _(
            "Measured on this machine just now, every model in one go (median of 15 rounds): inference time "
            "per image for one image at a time and for a batch of 256. Sizes are the weights as safetensors."
        )
    )
    points = [(_("teacher"), teacher.spec.hidden, teacher.test_errors)]
    for i, (_jid, r) in enumerate(lab_runs, 1):
        points += [
            (_("run {number}: {label}").format(number=i, label=n), r.cfg.hidden, e)
            for n, e in zip(runs.student_names(r.cfg.students), r.errors)
        ]
    chart(plots.size_tradeoff(tradeoff(points)))

# A page of the class's students at a time, sorted and filtered in SQL: a semester's history costs
# a page run what a lesson's does (kdviz.history.RunHistory.page).
who, since, lesson, total = "", "", "", 0  # the class table's filter and count (for the teacher's delete)
if history is not None and history.page(size=1)[1]:
    st.subheader(_("4. The class's runs"))
    st.caption(_("Every run on this server, kept across reloads and restarts, fewest test errors first."))
    f1, f2, f3 = st.columns([2, 1, 1])
    who = f1.text_input(_("Name contains"), key="class_name", max_chars=40)
    day = f2.date_input(_("Since (UTC)"), value=None, key="class_since", format="YYYY-MM-DD")
    since = day.isoformat() if day else ""
    lessons = dict(history.lessons())  # join code -> when its first run ended
    lesson = f3.selectbox(
        _("Lesson"),
        ["", *lessons],
        format_func=lambda c: f"{c} ({lessons[c][:10]})" if c else _("all"),
        key="class_lesson",
    )
    number = int(st.session_state.get("class_page", 1))
    rows, total = history.page(number - 1, who, since, lesson=lesson)
    pages = max(1, -(-total // PAGE))
    if number > pages:  # the filter shrank the list under the page shown
        number, st.session_state["class_page"] = 1, 1
        rows, total = history.page(0, who, since, lesson=lesson)
    st.dataframe(on_screen(class_table(rows)), width="stretch", hide_index=True)
    st.caption(
        ngettext("{count:,} student matches.", "{count:,} students match.", total).format(count=total)
        + (_(" Page {page} of {pages}.").format(page=number, pages=pages) if pages > 1 else "")
    )
    p1, p2 = st.columns([1, 2])
    if pages > 1:
        p1.number_input(_("Page"), 1, pages, key="class_page")
    p2.download_button(  # built on click, straight from the database, not on every rerun
        _("Download the class's runs (CSV)"),
        lambda: history.csv(who, since, lesson),
        "kdviz-class-runs.csv",
        "text/csv",
    )
teacher_controls(device, history, (who, since, lesson), total)  # for the teacher's key only
