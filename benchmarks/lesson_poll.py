"""The class answers live: N students answer one question within 10 s; how soon does the teacher see it all?

One `streamlit run app.py` server. The teacher's page (headless Chromium, 1280 x 720, projector
mode) starts a lesson. N student sessions, each its own Chromium context on the join page (real
sessions: the Streamlit page, its websocket, its fragment polling), answer the first question at
moments spread evenly over `--spread` seconds. Reported:
  - tally delay: from the last answer's click to the teacher's tally showing all N answers
    (target: under 2 s for 30 students within 10 s, on a 2-core machine);
  - each student's own wait: click to "Your answer: ..." on their phone (median, worst);
  - every answer counted: the teacher's bars against the answers given;
  - the server's CPU seconds and peak memory (VmHWM).
Two kinds of phone (`--clients`):
  browser   each phone a headless Chromium page. On one 2-core machine the N renderers run beside
            the server on the same cores (in class they run on the students' phones), so these
            are upper bounds for the server's part.
  protocol  what each phone sends and receives, without rendering: the messages real Chromium
            phones sent (the page load, the question's poll every 1.5 s, the click on each
            answer) are recorded once, then N websocket clients replay them, each as its own
            device (its own `me`), polling as a phone does. The teacher's page is still Chromium.

Run: KDVIZ_DATA_DIR=../shared/data/mnist python benchmarks/lesson_poll.py [--students 30] [--spread 10]
     [--clients browser|protocol] [--training]
"""

import argparse
import asyncio
import os
import shutil
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

from benchmarks.classroom_load import cpu_seconds, peak_rss_mb, start_training  # noqa: E402
from kdviz.serve import running_app  # noqa: E402

KEY = "benchmark-teacher-key"
IDLE = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
TALLY = (
    "(() => { const p = [...document.querySelectorAll('.js-plotly-plot')].pop();"
    " return p && p.data ? p.data[0].y.map(Number) : []; })()"
)


async def loaded(page, url: str) -> None:
    await page.goto(url, timeout=180000)
    await page.wait_for_selector("[data-testid=stMain] h1", timeout=180000)
    await page.wait_for_function(IDLE, timeout=180000)


async def join(browser, url: str, gate: asyncio.Semaphore):
    """A student's phone on the join page, its first answer button shown (a few load at a time:
    30 renderers starting at once on 2 cores is not what a class does)."""
    async with gate:
        ctx = await browser.new_context(viewport={"width": 390, "height": 844})
        page = await ctx.new_page()
        await loaded(page, url)
        await page.get_by_role("button", name="A. ").first.wait_for(timeout=60000)
        return ctx, page


async def answer(page, at: float, choice: int, clicks: list, waits: list, errors: list) -> None:
    try:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        start = time.perf_counter()
        await page.get_by_role("button", name=f"{'ABCD'[choice]}. ").first.click()
        clicks.append(time.perf_counter())
        await page.get_by_text("Your answer:").wait_for(timeout=30000)
        waits.append(time.perf_counter() - start)
    except Exception as e:  # count it and go on: a lost answer shows in the tally check too
        errors.append(f"{type(e).__name__}: {str(e).splitlines()[0]}")


async def record_phone(browser, url: str, choice: int) -> tuple[bytes, bytes, bytes]:
    """What a real phone sends: (the page load, one poll of the question, the click on `choice`)."""
    ctx = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await ctx.new_page()
    frames: list = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: frames.append(f)))
    await loaded(page, url)
    await page.get_by_role("button", name="A. ").first.wait_for(timeout=60000)
    await page.wait_for_timeout(1700)  # one poll of the question (every 1.5 s)
    await page.get_by_role("button", name=f"{'ABCD'[choice]}. ").first.click()
    await page.get_by_text("Your answer:").wait_for(timeout=30000)
    await ctx.close()
    reruns = []
    for f in frames:
        msg = BackMsg()
        if isinstance(f, bytes) and msg.ParseFromString(f) and msg.WhichOneof("type") == "rerun_script":
            reruns.append(msg)
    click = [
        m for m in reruns if any(w.HasField("trigger_value") for w in m.rerun_script.widget_states.widgets)
    ]
    polls = [m for m in reruns[1:] if m.rerun_script.fragment_id and m not in click]
    if not click or not polls:
        raise SystemExit(f"the recording phone sent no poll or no click ({len(reruns)} reruns)")
    return reruns[0].SerializeToString(), polls[0].SerializeToString(), click[0].SerializeToString()


def as_device(raw: bytes, query: str) -> bytes:
    """A recorded rerun as another phone sends it: its own URL (its own device id, `me`)."""
    msg = BackMsg()
    msg.ParseFromString(raw)
    msg.rerun_script.query_string = query
    return msg.SerializeToString()


async def until_finished(ws) -> tuple[str | None, bool, list[str]]:
    """Read one run's messages: (the URL the server set, whether "Your answer:" was shown, exceptions)."""
    query, answered, raised = None, False, []
    while True:
        raw = await ws.recv()
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        kind = msg.WhichOneof("type")
        if kind == "page_info_changed":
            query = msg.page_info_changed.query_string
        elif kind == "delta" and msg.delta.new_element.WhichOneof("type") == "exception":
            raised.append(msg.delta.new_element.exception.message[:100])
        answered = answered or b"Your answer:" in raw
        if kind == "script_finished" and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            return query, answered, raised  # an answer's click reruns the question: read that too


async def protocol_phone(url, recorded, at, done: asyncio.Event, clicks, waits, errors, gate) -> None:
    """A phone on the join page: polls the question every 1.5 s, answers at `at`, polls on until `done`."""
    load, poll, click = recorded
    ws_url = url.replace("http", "ws") + "/_stcore/stream"
    try:
        async with websockets.connect(ws_url, subprotocols=["streamlit"], origin=url, max_size=None) as ws:
            async with gate:
                await ws.send(load)
                query, _answered, raised = await asyncio.wait_for(until_finished(ws), 120)
            errors.extend(raised)
            if not query or "me=" not in query:
                raise RuntimeError(f"the server gave this phone no device id ({query!r})")
            poll, click = as_device(poll, query), as_device(click, query)
            next_poll, answered = time.perf_counter() + 1.5, False
            while not done.is_set():
                now = time.perf_counter()
                if not answered and now >= at:
                    await ws.send(click)
                    clicks.append(time.perf_counter())
                    _q, shown, raised = await asyncio.wait_for(until_finished(ws), 30)
                    waits.append(time.perf_counter() - now)
                    errors.extend(raised if shown else [*raised, "no 'Your answer:' after the click"])
                    answered = True
                elif now >= next_poll:
                    await ws.send(poll)
                    errors.extend((await asyncio.wait_for(until_finished(ws), 30))[2])
                    next_poll += 1.5
                else:
                    await asyncio.sleep(min(next_poll, at if not answered else next_poll) - now)
    except Exception as e:  # count it and go on: a lost answer shows in the tally check too
        errors.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


async def main(n: int, spread: float, clients: str = "browser", training: bool = False) -> None:
    chromium = os.environ.get("KDVIZ_CHROMIUM") or shutil.which("chromium")
    env = {**os.environ, "KDVIZ_TEACHER_KEY": KEY, "KDVIZ_CACHE_DIR": tempfile.mkdtemp(prefix="kdviz-poll-")}
    with running_app(env) as (url, server):
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            teacher = await (await browser.new_context(viewport={"width": 1280, "height": 720})).new_page()
            await loaded(teacher, f"{url}/Lesson?present=1&key={KEY}")
            await teacher.get_by_role("button", name="Start the lesson").click()
            await teacher.wait_for_function("location.search.includes('code=')", timeout=60000)
            code = (await teacher.evaluate("new URLSearchParams(location.search).get('code')")).strip()
            join_url = f"{url}/Join?code={code}"
            trainer = await start_training(browser, url) if training else None
            expected = [sum(1 for i in range(n) if i % 4 == c) for c in range(4)]
            clicks, waits, errors = [], [], []
            if clients == "browser":
                gate = asyncio.Semaphore(4)
                phones = await asyncio.gather(*(join(browser, join_url, gate) for _ in range(n)))
                cpu0 = cpu_seconds(server)
                begin = time.perf_counter() + 1
                await asyncio.gather(
                    *(
                        answer(page, begin + spread * i / n, i % 4, clicks, waits, errors)
                        for i, (_ctx, page) in enumerate(phones)
                    )
                )
            else:
                recorded = [await record_phone(browser, join_url, c) for c in range(4)]
                expected = [e + 1 for e in expected]  # the four recording phones answered too
                done, gate = asyncio.Event(), asyncio.Semaphore(8)
                begin = time.perf_counter() + 10 + n / 4  # every phone joined (and polling) first
                phones = [
                    asyncio.ensure_future(
                        protocol_phone(
                            url, recorded[i % 4], begin + spread * i / n, done, clicks, waits, errors, gate
                        )
                    )
                    for i in range(n)
                ]
                await asyncio.sleep(max(0.0, begin - 1 - time.perf_counter()))
                cpu0 = cpu_seconds(server)
                while len(clicks) < n and not all(p.done() for p in phones):
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.05)  # the last click's own answer
            last = max(clicks) if clicks else time.perf_counter()
            try:
                await teacher.wait_for_function(
                    f"{TALLY}.reduce((a, b) => a + b, 0) >= {sum(expected)}", timeout=30000
                )
                seen = time.perf_counter()
            except Exception:
                seen = float("nan")
            counts = await teacher.evaluate(TALLY)
            cpu = cpu_seconds(server) - cpu0
            print(
                f"students {n} ({clients} phones), answers spread over {spread:g} s, {os.cpu_count()} cores"
            )
            print(f"tally complete {seen - last:.2f} s after the last answer (target < 2 s)")
            if waits:
                median, worst = statistics.median(waits), max(waits)
                print(f"a student's own wait: median {median:.2f} s, worst {worst:.2f} s")
            verdict = "all counted" if counts == expected else "MISMATCH"
            print(f"tally {counts}, answers given {expected}: {verdict}")
            print(f"errors {len(errors)}: {errors[:3]}")
            if trainer is not None:
                stop = trainer.get_by_role("button", name="Stop")
                running = await stop.count() > 0 and await stop.is_enabled()
                print(f"a Lab run trained meanwhile; still running at the end: {'yes' if running else 'NO'}")
            print(f"server CPU {cpu:.1f} s over the answering, peak memory {peak_rss_mb(server):.0f} MB")
            if clients == "browser":
                for ctx, _page in phones:
                    await ctx.close()
            else:
                done.set()
                await asyncio.gather(*phones)
            await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--spread", type=float, default=10.0)
    parser.add_argument("--clients", choices=["browser", "protocol"], default="browser")
    parser.add_argument("--training", action="store_true", help="a Lab run (800-800 on 60k) trains meanwhile")
    args = parser.parse_args()
    asyncio.run(main(args.students, args.spread, args.clients, args.training))
