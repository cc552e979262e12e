"""A class presses Train: N Lab races of the default setup, pressed within a minute, on one server.

One `streamlit run app.py` server (a fresh cache folder: an empty class history; the shipped
teacher). A real Chromium page opens the Lab and presses Train students; the messages it sent are
recorded, and N - 1 websocket sessions replay them (what each student's browser sends, without the
rendering that happens on the students' own laptops), pressing Train at moments spread evenly over
`--spread` seconds. Every session then reruns its page every `--poll` seconds (which keeps its run
alive, as a browser's fragments do) until the page shows its race's verdict.

Reported: each race's time from its press to its verdict (median, worst), the time from the last
press to the last verdict (target: 30 races pressed within 60 s all done within 240 s of the last
press on a 2-core CPU), errors, the server's CPU seconds and peak memory (VmHWM), and the class
history's rows (every race kept, each with its students). The verdicts are seen at the poll's
resolution (up to `--poll` s late).

Run: KDVIZ_DATA_DIR=../shared/data/mnist python benchmarks/class_races.py [--races 30] [--spread 60]
     [--setups 1] (--setups 3: the races cycle through three different student pairs, so three
     pools train instead of one)
"""

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import websockets
from playwright.async_api import async_playwright
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.classroom_load import cpu_seconds, peak_rss_mb  # noqa: E402
from kdviz.serve import running_app  # noqa: E402

VERDICT = "labels-only student"  # in every two-student verdict (kdviz.lab.LabResult.verdict)
SETUPS = ["20:0,20:0.9", "20:0,8:0.9", "20:0,3:0.5"]  # --setups: the races' students, in turn


def reruns_of(frames) -> list[BackMsg]:
    out = []
    for f in frames:
        msg = BackMsg()
        if isinstance(f, bytes) and msg.ParseFromString(f) and msg.WhichOneof("type") == "rerun_script":
            out.append(msg)
    return out


def pressed(msg: BackMsg) -> bool:
    widgets = msg.rerun_script.widget_states.widgets
    return any(w.WhichOneof("value") == "trigger_value" and w.trigger_value for w in widgets)


async def record(browser, url: str, students: str) -> tuple[bytes, bytes]:
    """A real browser opens the Lab and presses Train: its page load and its press, as sent."""
    ctx = await browser.new_context()
    page = await ctx.new_page()
    frames: list = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: frames.append(f)))
    await page.goto(f"{url}/Distillation_Lab?students={students}")
    train = page.get_by_role("button", name="Train students")
    await train.wait_for(timeout=120000)
    await page.wait_for_timeout(1000)
    await train.click()
    await page.get_by_text("Stop").first.wait_for(timeout=60000)
    await page.wait_for_timeout(500)
    await ctx.close()  # its run is abandoned: it is not one of the class's races
    msgs = reruns_of(frames)
    press = next(m for m in msgs if pressed(m))
    load = next(m for m in msgs if not pressed(m) and not m.rerun_script.fragment_id)
    return load.SerializeToString(), press.SerializeToString()


async def until_finished(ws, errors) -> bool:
    """Read to the script's end; whether the verdict was on the page."""
    seen = False
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await ws.recv())
        kind = msg.WhichOneof("type")
        if kind == "delta":
            el = msg.delta.new_element
            which = el.WhichOneof("type")
            if which == "exception":
                errors.append("exception: " + el.exception.message[:100])
            elif which == "alert" and VERDICT in el.alert.body:
                seen = True
            elif which == "alert" and el.alert.format == 1:  # ERROR
                errors.append("error: " + el.alert.body[:100])
        if kind == "script_finished":
            return seen


async def student(url, load, press, delay, poll, times, errors, pressed_at):
    ws_url = url.replace("http", "ws") + "/_stcore/stream"
    try:
        async with websockets.connect(ws_url, subprotocols=["streamlit"], origin=url, max_size=None) as ws:
            await ws.send(load)
            await asyncio.wait_for(until_finished(ws, errors), 120)
            await asyncio.sleep(delay)
            start = time.perf_counter()
            pressed_at.append(start)
            await ws.send(press)
            await asyncio.wait_for(until_finished(ws, errors), 120)
            while True:
                await asyncio.sleep(poll)
                await ws.send(load)
                if await asyncio.wait_for(until_finished(ws, errors), 120):
                    times.append((start, time.perf_counter()))
                    return
                if time.perf_counter() - start > 900:
                    errors.append("no verdict after 900 s")
                    return
    except Exception as e:
        errors.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


async def run(races: int, spread: float, poll: float, setups: int, chromium: str):
    cache = tempfile.mkdtemp(prefix="kdviz-class-races-")
    env = {k: v for k, v in os.environ.items() if k != "KDVIZ_CLASSROOM"} | {"KDVIZ_CACHE_DIR": cache}
    try:
        with running_app(env) as (url, server):
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                recorded = [await record(browser, url, SETUPS[i]) for i in range(setups)]
                await browser.close()
            end = time.monotonic() + 120  # the recording pages' races end before the class's start
            while rows(cache) < 2 * setups and time.monotonic() < end:
                time.sleep(1)
            before = rows(cache)
            times, errors, pressed_at = out = [], [], []
            cpu0 = cpu_seconds(server)
            await asyncio.gather(
                *(
                    student(url, *recorded[i % setups], spread * i / max(races - 1, 1), poll, *out)
                    for i in range(races)
                )
            )
            cpu = cpu_seconds(server) - cpu0
            waits = [end - start for start, end in times]
            last_press, last_done = max(pressed_at), max((end for _s, end in times), default=float("nan"))
            print(
                f"{races} races ({setups} setup(s)) pressed over {spread:.0f} s, pages rerun every {poll:g} s"
            )
            if waits:
                print(
                    f"  press to verdict: median {statistics.median(waits):.1f} s, worst {max(waits):.1f} s; "
                    f"{len(waits)} of {races} verdicts seen"
                )
            print(f"  last press to last verdict: {last_done - last_press:.1f} s (target <= 240 s)")
            print(f"  errors: {len(errors)}", *errors[:5], sep="\n    ")
            print(f"  server: {cpu:.0f} CPU s during the races; peak memory {peak_rss_mb(server):.0f} MB")
            print(f"  class history: {rows(cache) - before} student rows kept (expected {2 * races})")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def rows(cache: str) -> int:
    path = Path(cache) / "runs.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--races", type=int, default=30)
    ap.add_argument("--spread", type=float, default=60.0)
    ap.add_argument("--poll", type=float, default=2.0)
    ap.add_argument("--setups", type=int, default=1, choices=[1, 2, 3])
    args = ap.parse_args()
    chromium = os.environ.get("KDVIZ_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        raise SystemExit("needs Debian's chromium (apt-get install -y chromium)")
    asyncio.run(run(args.races, args.spread, args.poll, args.setups, chromium))
