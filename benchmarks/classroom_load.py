"""Classroom load: N sessions slide T on the Temperature page while students train.

One `streamlit run app.py` server. One extra browser session starts a long training on the Lab
page (800-800 students on all 60k, 50 epochs) and keeps it running. Then, for each N, N student
sessions each open the Temperature page at the same moment and move T back and forth.

Two kinds of student session, measured separately (`--clients`):
  browser   headless Chromium pages (Playwright). Time: key press to the redrawn chart. On one
            2-core machine the N Chromium renderers compete with the server for the same cores;
            the report says how much of the machine's CPU the server itself used.
  protocol  what each student's browser sends and receives, without rendering (in class that
            happens on the students' own laptops): the messages a real Chromium session sent are
            recorded once, then N websocket clients replay them. Time: sending the new T to
            the server's "script finished". One real Chromium page runs beside them, and its
            key-press-to-chart times are reported too.
`--pause S`: each protocol student waits 0.5-1.5 x S seconds before each move, as a student looks
at the chart; the default 0 moves back to back (a stress test: every session always waiting).
Reports the median and worst time, errors seen, the server's CPU and peak memory (VmHWM), and
whether the training was still running at the end. Target on a 2-core machine (issue 20): N = 40 with one
training running: median < 1 s, worst < 3 s, no error.

Run: KDVIZ_DATA_DIR=../shared/data/mnist python benchmarks/classroom_load.py [--sessions 1 5 10 20]
     [--clients browser protocol] (the default teacher must be cached: `kdviz train-teacher`
     first, or it is trained here). Do not set KDVIZ_CLASSROOM: its caps end the training early.
"""

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

import websockets
from playwright.async_api import async_playwright
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kdviz.serve import running_app  # noqa: E402

CHART_Y = "JSON.stringify(document.querySelectorAll('.js-plotly-plot')[0].data[1].y)"
# Wait inside the page for the chart's data to change, on DOM mutations: pages polling every
# animation frame would load the CPU being measured.
WAIT_FOR_CHANGE = f"""before => new Promise(resolve => {{
    const done = () => {{ if ({CHART_Y} !== before) {{ obs.disconnect(); resolve(); }} }};
    const obs = new MutationObserver(done);
    obs.observe(document.body, {{subtree: true, childList: true, attributes: true}});
    done();
}})"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy so far (everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def chromium_seconds() -> float:
    """CPU seconds of every Chromium and Playwright driver process alive now (the measuring
    browsers' share of the cores)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        if any(name in text.split(")", 1)[0] for name in ("chrom", "node")):
            total += cpu_seconds(int(stat.parent.name))
    return total


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def move_t(page, i: int) -> float:
    """Press an arrow key on the T slider; seconds until the chart shows the new T."""
    before = await page.evaluate(CHART_Y)
    await page.get_by_role("slider").first.focus()
    changed = asyncio.ensure_future(page.evaluate(WAIT_FOR_CHANGE, before))
    await asyncio.sleep(0)
    start = time.perf_counter()
    await page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
    await asyncio.wait_for(changed, 30)
    return time.perf_counter() - start


async def browser_student(browser, url, moves, times, errors, record=None):
    ctx = await browser.new_context()
    page = await ctx.new_page()
    if record is not None:
        page.on("websocket", lambda ws: ws.on("framesent", lambda f: record.append(f)))
    try:
        await page.goto(url + "/Temperature")
        await page.wait_for_selector(".js-plotly-plot", timeout=60000)
        for i in range(moves):
            times.append(await move_t(page, i))
        if await page.get_by_text("Traceback").count():
            errors.append("traceback on page")
    except Exception as e:  # a timeout is a failed redraw: count it, keep measuring others
        errors.append(f"{type(e).__name__}: {str(e).splitlines()[0]}")
    finally:
        await ctx.close()


async def record_messages(browser, url) -> tuple[bytes, list[bytes]]:
    """What a real browser sends: the page load, then T one stop right and one stop left."""
    frames: list = []
    await browser_student(browser, url, 2, [], [], record=frames)
    reruns = []
    for f in frames:
        msg = BackMsg()
        if isinstance(f, bytes) and msg.ParseFromString(f) and msg.WhichOneof("type") == "rerun_script":
            reruns.append(f)
    if len(reruns) != 3:
        raise SystemExit(f"expected 3 reruns from the recording browser, saw {len(reruns)}")
    return reruns[0], reruns[1:]


async def until_finished(ws, errors) -> None:
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await ws.recv())
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.new_element.WhichOneof("type") == "exception":
            errors.append("exception: " + msg.delta.new_element.exception.message[:100])
        if kind == "script_finished":
            return


async def protocol_student(url, load, reruns, moves, times, errors, pause=0.0):
    ws_url = url.replace("http", "ws") + "/_stcore/stream"
    try:
        async with websockets.connect(ws_url, subprotocols=["streamlit"], origin=url, max_size=None) as ws:
            await ws.send(load)
            await asyncio.wait_for(until_finished(ws, errors), 60)
            for i in range(moves):
                await asyncio.sleep(pause * random.uniform(0.5, 1.5))  # a student looks at the chart
                start = time.perf_counter()
                await ws.send(reruns[i % 2])
                await asyncio.wait_for(until_finished(ws, errors), 30)
                times.append(time.perf_counter() - start)
    except Exception as e:
        errors.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


async def start_training(browser, url):
    ctx = await browser.new_context()
    page = await ctx.new_page()
    await page.goto(url + "/Distillation_Lab?student=800,800&n=60000&epochs=50")
    train_teacher = page.get_by_role("button", name="Train teacher")
    train = page.get_by_role("button", name="Train students")
    await page.locator("button:has-text('Train')").first.wait_for(timeout=60000)
    if await train_teacher.count():
        await train_teacher.click()
    await train.wait_for(timeout=300000)
    await train.click()
    await page.get_by_text("epoch").first.wait_for(timeout=60000)
    return page


def summary(label: str, times: list[float], errors: list[str]) -> str:
    if not times:
        return f"{label}: no move measured, {len(errors)} errors"
    return (
        f"{label}: median {statistics.median(times):.2f} s, worst {max(times):.2f} s, "
        f"{len(times)} moves, {len(errors)} errors"
    )


async def run(
    sessions: list[int], clients: list[str], trainings: int, moves: int, pause: float, chromium: str
):
    env = {k: v for k, v in os.environ.items() if k != "KDVIZ_CLASSROOM"}
    with running_app(env) as (url, server):
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            load, reruns = await record_messages(browser, url)
            trainers = [await start_training(browser, url) for _ in range(trainings)]
            print(f"{trainings} training run(s) going on the Lab page")
            for kind in clients:
                for n in sessions:
                    times, errors, seen, seen_errors = [], [], [], []
                    t0, cpu0, busy0 = time.perf_counter(), cpu_seconds(server), machine_busy_seconds()
                    mine0, chrome0 = time.process_time(), chromium_seconds()
                    if kind == "browser":
                        tasks = [browser_student(browser, url, moves, times, errors) for _ in range(n)]
                    else:
                        tasks = [
                            protocol_student(url, load, reruns, moves, times, errors, pause) for _ in range(n)
                        ]
                        tasks.append(browser_student(browser, url, moves, seen, seen_errors))
                    await asyncio.gather(*tasks)
                    wall = time.perf_counter() - t0
                    cpu, busy = cpu_seconds(server) - cpu0, machine_busy_seconds() - busy0
                    mine, chrome = time.process_time() - mine0, chromium_seconds() - chrome0
                    capacity = wall * os.cpu_count()
                    print(summary(f"{kind:8s} N = {n:2d}", times, errors))
                    if kind == "protocol":
                        print(summary("    one real browser beside them", seen, seen_errors))
                    print(
                        f"    {wall:.0f} s wall; CPU busy {busy:.0f} of {capacity:.0f} core-s, "
                        f"server {cpu:.0f} (training included), browsers {chrome:.0f}, the clients here "
                        f"{mine:.1f}; server peak {peak_rss_mb(server):.0f} MB"
                    )
                    for e in (errors + seen_errors)[:3]:
                        print("      ", e)
            for page in trainers:
                stop = page.get_by_role("button", name="Stop")
                running = await stop.count() > 0 and await stop.is_enabled()
                print(f"training still running at the end: {'yes' if running else 'NO'}")
                if running:
                    await stop.click()
            await browser.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 10, 20])
    ap.add_argument("--clients", nargs="+", choices=["browser", "protocol"], default=["protocol", "browser"])
    ap.add_argument("--trainings", type=int, default=1)
    ap.add_argument("--moves", type=int, default=5)
    ap.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="protocol students wait 0.5-1.5x this many seconds between moves",
    )
    args = ap.parse_args()
    chromium = os.environ.get("KDVIZ_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        raise SystemExit("needs Debian's chromium (apt-get install -y chromium)")
    asyncio.run(run(args.sessions, args.clients, args.trainings, args.moves, args.pause, chromium))
