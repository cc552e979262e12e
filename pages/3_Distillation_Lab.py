"""Distillation Lab: a teacher and two students train live; does listening to the teacher help?"""

import os
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from kdviz import plots
from kdviz.distill import STUDENTS, DistillConfig, compare_students
from kdviz.jobs import drain
from kdviz.losses import check_alpha
from kdviz.teacher import TeacherSpec, checkpoint_path, ensure_teacher
from pages import (
    cache_dir,
    data_or_stop,
    device_control,
    job_queue,
    load_teacher_cached,
    parse_t,
    progress_line,
    setup_page,
    shipped_notice,
    t_control,
    teacher_choices,
    teacher_logits,
    url_notice,
    url_state,
    write_url,
)

# KDVIZ_CLASSROOM=1: a teacher serving a whole class freezes the heavy options.
CLASSROOM = os.environ.get("KDVIZ_CLASSROOM", "") not in ("", "0")
STUDENT_SIZES = (
    ["300,300", "100,100", "30,30"] if CLASSROOM else ["800,800", "300,300", "100,100", "30,30", "64"]
)
TRAIN_SIZES = [300, 1000, 3000] if CLASSROOM else [300, 1000, 3000, 10000, 60000]
MAX_EPOCHS = 20 if CLASSROOM else 100


def parse_choice(options, cast=str):
    def parse(raw):
        value = cast(raw)
        if value not in options:
            raise ValueError(raw)
        return value

    return parse


def parse_epochs(raw):
    if not 1 <= int(raw) <= MAX_EPOCHS:
        raise ValueError(raw)
    return int(raw)


setup_page("Distillation Lab")
st.title("Distillation Lab")
st.write(
    "Two students with the **same initial weights** see the **same batches**. One learns from the labels "
    "alone; the other also listens to the teacher's softened outputs. The only difference is the loss."
)
url_state(
    "lab",
    {
        "student": (STUDENT_SIZES[0], parse_choice(STUDENT_SIZES)),
        "T": (20.0, parse_t),
        "alpha": (0.9, lambda r: round(check_alpha(float(r)), 2)),
        "epochs": (20, parse_epochs),
        "n": (1000, parse_choice(TRAIN_SIZES, int)),
        "omit": ("none", parse_choice(["none", *map(str, range(10))])),
        "seed": (0, lambda r: int(r) if 0 <= int(r) < 2**31 else int("x")),
    },
)
url_notice("lab")
if CLASSROOM:
    st.caption(
        "Classroom mode (KDVIZ_CLASSROOM=1): student size, images and epochs are capped so the "
        "server can train for the whole class."
    )
device = device_control()
data = data_or_stop(device)
queue = job_queue()

# --- Teacher -------------------------------------------------------------------------------------
st.subheader("1. The teacher")
spec = TeacherSpec()
path = checkpoint_path(spec, cache_dir())
shipped_notice()
choices = teacher_choices(cache_dir())
choices.setdefault(str(path), f"Quick teacher: {spec.label} (trained here, about 40 s)")
chosen = st.selectbox("Teacher", list(choices), format_func=choices.get)
teacher_path = Path(chosen)
job_key = f"teacher:{teacher_path.name}:{device}"

# A teacher trained into an unwritable cache lives only in memory, in its finished job.
teacher_job = queue.get(st.session_state.get("teacher_job"))
unsaved = None
if not teacher_path.exists() and teacher_job and teacher_job.status == "done" and teacher_job.result:
    unsaved = teacher_job.result

if not teacher_path.exists() and unsaved is None:
    st.info(
        "No trained teacher yet. Training the default one takes about 40 s on a 2-core CPU, once: "
        "it is cached for every later session."
    )

    def train_teacher(job):
        return ensure_teacher(spec, data, cache_dir(), on_progress=job.report, should_stop=job.should_stop)

    if st.button("Train teacher", type="primary", disabled=bool(teacher_job and not teacher_job.finished)):
        st.session_state["teacher_job"] = queue.submit(job_key, "teacher", train_teacher).id
        st.rerun()

    @st.fragment(run_every=1.0 if teacher_job and not teacher_job.finished else None)
    def teacher_progress():
        job = queue.get(st.session_state.get("teacher_job"))
        if job is None:
            return
        job.touch()
        if job.status == "failed":
            st.error(f"Teacher training failed: {job.error}")
        elif job.status == "stopped":
            st.warning("Teacher training was stopped before it finished; press Train teacher to start again.")
        elif job.finished:
            st.rerun()  # the teacher is ready: draw the rest of the page
        else:
            place = queue.position(job)
            st.progress(
                job.latest.fraction if job.latest else 0.0,
                text=(
                    f"Teacher: waiting, {place - 1} run(s) ahead"
                    if place
                    else f"Teacher: {progress_line(job)}"
                ),
            )
            if job.epochs:
                st.caption(f"Test errors after epoch {job.epochs[-1].epoch}: {job.epochs[-1].test_errors[0]}")

    teacher_progress()
    st.stop()

if unsaved is not None:
    teacher, mtime = unsaved, None
    st.warning(unsaved.note)
else:
    mtime = teacher_path.stat().st_mtime
    try:
        teacher = load_teacher_cached(str(teacher_path), mtime, device)
    except ValueError as e:
        st.error(f"The cached teacher cannot be used: {e}")
        if teacher_path.suffix == ".safetensors":  # the shipped file belongs to the installation
            st.stop()
        if st.button("Retrain it"):  # keep the bad file for inspection, out of the way
            teacher_path.replace(teacher_path.with_suffix(".rejected"))
            st.rerun()
        st.stop()
st.caption(
    f"{teacher.spec.label}: **{teacher.test_errors} test errors** of {teacher.test_total} "
    f"({100 * (1 - teacher.test_errors / teacher.test_total):.2f}% accuracy), "
    f"{teacher.model.parameters_per_model():,} parameters."
)

# --- Students ------------------------------------------------------------------------------------
st.subheader("2. The students")
c1, c2, c3 = st.columns(3)
with c1:
    student = st.selectbox(
        "Student hidden layers",
        STUDENT_SIZES,
        key="student",
        format_func=lambda s: s.replace(",", "-") + (" (the paper's)" if s == "800,800" else ""),
    )
    n = st.select_slider(
        "Labelled training images (transfer set)",
        TRAIN_SIZES,
        key="n",
        help="Few labels is where the teacher's soft targets help most.",
    )
with c2:
    T = t_control("T")
    alpha = st.slider(
        "α: how much the student listens to the teacher",
        0.0,
        1.0,
        step=0.05,
        key="alpha",
        help="0 = labels only, 1 = the teacher's soft targets only",
    )
with c3:
    epochs = st.number_input("Epochs", 1, MAX_EPOCHS, key="epochs")
    omit = st.selectbox("Leave a digit out of the transfer set", ["none", *map(str, range(10))], key="omit")
    seed = st.number_input("Seed", 0, 2**31 - 1, key="seed")
write_url({"student": student, "T": T, "alpha": alpha, "epochs": epochs, "n": n, "omit": omit, "seed": seed})
st.latex(
    rf"\mathcal{{L}} = \underbrace{{{alpha:g}}}_{{\alpha}} \cdot \underbrace{{{T:g}^2}}_{{T^2}} \cdot"
    rf"\mathrm{{KL}}\big(q^{{T={T:g}}}_{{\text{{teacher}}}} \,\|\, q^{{T={T:g}}}_{{\text{{student}}}}\big)"
    rf" + {1 - alpha:g} \cdot \mathrm{{CE}}\big(y, q^{{T=1}}_{{\text{{student}}}}\big)"
)
st.caption(
    "The KL is summed over classes and averaged over the batch ('batchmean'); T² keeps the soft "
    "term's gradients comparable as T changes. The labels-only student uses α = 0."
)

cfg = DistillConfig(
    hidden=tuple(int(h) for h in student.split(",")),
    T=T,
    alpha=alpha,
    epochs=int(epochs),
    seed=int(seed),
    train_size=None if n >= len(data.train_y) else n,
    omit=() if omit == "none" else (int(omit),),
)
job = queue.get(st.session_state.get("lab_job"))
b1, b2, _ = st.columns([1, 1, 4])
if b1.button("Train students", type="primary", disabled=bool(job and not job.finished)):
    logits = (
        teacher.logits(data.train_x) if unsaved else teacher_logits(str(teacher_path), mtime, device, "train")
    )

    def run(job, cfg=cfg, teacher_errors=teacher.test_errors, images=min(n, len(data.train_y))):
        _, events = compare_students(data, logits, cfg, should_stop=job.should_stop)
        last = drain(events, job)
        return (
            None
            if last is None
            else {"cfg": cfg, "last": last, "teacher_errors": teacher_errors, "images": images}
        )

    st.session_state["lab_job"] = queue.submit(f"lab:{time.time_ns()}", "students", run).id
    st.rerun()  # redraw the buttons: Train off, Stop on
if b2.button("Stop", disabled=not (job and not job.finished)):
    queue.cancel(job)


# --- Live results --------------------------------------------------------------------------------
def summary_row(job) -> dict:
    cfg, last = job.result["cfg"], job.result["last"]
    scratch, distilled = last.test_errors
    return {
        "student": "-".join(map(str, cfg.hidden)),
        "T": cfg.T,
        "alpha": cfg.alpha,
        "images": job.result["images"],
        "omit": ",".join(map(str, cfg.omit)) or "-",
        "seed": cfg.seed,
        "epochs": f"{last.epoch}/{cfg.epochs}",
        "teacher errors": job.result["teacher_errors"],
        "labels-only errors": scratch,
        "distilled errors": distilled,
        "gain": scratch - distilled,
        "seconds": round(last.elapsed, 1),
        "status": job.status,
    }


@st.fragment(run_every=0.7 if job and not job.finished else None)
def live():
    job = queue.get(st.session_state.get("lab_job"))
    if job is None:
        st.info("Press **Train students** to start. Both students train together, epoch by epoch.")
        return
    job.touch()
    place = queue.position(job)
    if place:
        st.progress(0.0, text=f"Waiting for the trainer: {place - 1} run(s) ahead of yours")
    elif not job.finished:
        st.progress(job.latest.fraction if job.latest else 0.0, text=progress_line(job))
    if job.status == "failed":
        st.error(f"Training failed: {job.error}")
    if job.epochs:
        ep = [e.epoch for e in job.epochs]
        errors = {name: [e.test_errors[i] for e in job.epochs] for i, name in enumerate(STUDENTS)}
        losses = {
            "distilled: soft (KL)": [e.soft_loss[1] for e in job.epochs],
            "distilled: hard (CE)": [e.hard_loss[1] for e in job.epochs],
            "labels only: hard (CE)": [e.hard_loss[0] for e in job.epochs],
        }
        left, right = st.columns(2)
        left.plotly_chart(
            plots.training_curves(
                ep,
                errors,
                f"Test errors (of {job.epochs[0].test_total:,}) per epoch",
                "test errors",
                {"teacher": teacher.test_errors},
            ),
            width="stretch",
        )
        right.plotly_chart(
            plots.training_curves(ep, losses, "Training loss terms per epoch", "loss"), width="stretch"
        )
    if job.finished and job.result and st.session_state.get("recorded") != job.id:
        st.session_state["recorded"] = job.id
        st.session_state.setdefault("history", []).append(summary_row(job))
        st.rerun()  # redraw the page: buttons enabled, table updated, polling off
    elif job.finished and not job.result and job.status == "stopped":
        st.warning("Stopped before the first epoch finished: nothing to compare yet.")
    elif not job.finished and job.status != "queued" and job._stop.is_set():
        st.info("Stopping...")


live()

history = st.session_state.get("history", [])
if history:
    st.subheader("3. Results (this session)")
    last = history[-1]
    gain = last["gain"]
    verdict = f"beat labels alone by {gain}" if gain > 0 else "tied" if gain == 0 else f"lost by {-gain}"
    st.success(
        f"The distilled student made **{last['distilled errors']}** test errors, the labels-only student "
        f"**{last['labels-only errors']}**: distillation {verdict}."
    )
    df = pd.DataFrame(history)
    df.index = range(1, len(df) + 1)
    st.dataframe(df, width="stretch")
    st.download_button(
        "Download the history (CSV)", df.to_csv(index_label="run"), "kdviz-runs.csv", "text/csv"
    )
