"""A class on several machines: two replicas of the app behind nginx (deploy/nginx.conf, as checked
in), sharing one real PostgreSQL server; real Chromium sessions through the load balancer.

Runs finished on either replica appear in both replicas' class tables; a poll answered through
both shows one tally; a replica killed mid-class loses only its own run in flight, and its
browsers are served by the other."""

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from kdviz import poll
from kdviz.history import RunHistory
from kdviz.lesson import STEPS
from tests.browser.helpers import BROWSER, TEACHER_KEY, open_page, wait_idle
from tests.browser.test_lesson_browser import WORDS, answer

pytestmark = [*BROWSER, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
RACE = "/Distillation_Lab?student=64&epochs=2&n=300&name={name}"


@pytest.fixture
def two_machines(pg_url, tmp_path):
    """(the load balancer's URL, {replica address: its server's pid})."""
    from kdviz.serve import free_port, running_app, wait_until_healthy
    from tests.conftest import write_synthetic_mnist

    if not os.path.exists(NGINX):
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    data = write_synthetic_mnist(tmp_path / "mnist", n_train=3000, n_test=500)
    env = {
        **os.environ,
        "KDVIZ_DATA_DIR": str(data),
        "KDVIZ_HISTORY_URL": pg_url,
        "KDVIZ_TEACHER_KEY": TEACHER_KEY,
        # Two replicas here share this machine's cores (in a school, each has its own): one thread
        # each, or two trainings at once oversubscribe two cores (2.7x slower: benchmarks/training.py)
        "KDVIZ_TRAIN_THREADS": "1",
    }
    one = running_app(env | {"KDVIZ_CACHE_DIR": str(tmp_path / "cache1")})
    two = running_app(env | {"KDVIZ_CACHE_DIR": str(tmp_path / "cache2")})
    with one as (url1, pid1), two as (url2, pid2):
        # nginx's workers may run as another account (as root: nobody): a folder they can write
        prefix = Path(tempfile.mkdtemp(prefix="kdviz-nginx-"))
        prefix.chmod(0o777)
        port = free_port()
        conf = (ROOT / "deploy/nginx.conf").read_text()
        for mark, value in {
            "@PREFIX@": str(prefix),
            "@LISTEN@": f"127.0.0.1:{port}",
            "@REPLICA_1@": url1.split("//")[1],
            "@REPLICA_2@": url2.split("//")[1],
        }.items():
            conf = conf.replace(mark, value)
        (prefix / "nginx.conf").write_text(conf)
        proxy = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
            stderr=subprocess.PIPE,
            text=True,
        )
        front = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_until_healthy(front, proxy, 20)
            except RuntimeError:
                pytest.fail(f"nginx did not start: {proxy.stderr.read() if proxy.poll() is not None else ''}")
            yield front, {url1.split("//")[1]: pid1, url2.split("//")[1]: pid2}
        finally:
            proxy.terminate()
            proxy.wait(10)
            shutil.rmtree(prefix, ignore_errors=True)


def one_page_on_each(browser, front: str, replicas: dict) -> dict:
    """A browser (its own cookies) on each replica: new ones until the sticky hash has used both."""
    pages = {}
    for i in range(16):
        page = browser.new_context().new_page()
        seen = set()
        page.on("response", lambda r, seen=seen: seen.add(r.headers.get("x-kdviz-replica")))
        where = page.goto(front + RACE.format(name=f"student{i}")).headers["x-kdviz-replica"]
        if where in pages:
            page.context.close()
            continue
        open_page(page, front + RACE.format(name=f"student{i}"))
        pages[where] = (page, f"student{i}", seen)
        if len(pages) == len(replicas):
            return pages
    pytest.fail(f"16 browsers all landed on {list(pages)}: the sticky hash does not spread")


def test_two_replicas_share_one_class_and_a_killed_one_loses_only_its_run_in_flight(
    two_machines, browser, pg_url
):
    front, replicas = two_machines
    pages = one_page_on_each(browser, front, replicas)
    for page, _name, _seen in pages.values():
        page.get_by_role("button", name="Train students").click()
        page.get_by_role("button", name="Stop").and_(page.locator(":enabled")).wait_for(timeout=30000)
    for page, _name, _seen in pages.values():
        page.get_by_text("test errors, the labels-only student").wait_for(timeout=120000)  # the verdict
    names = sorted(name for _page, name, _seen in pages.values())
    # Sticky: every request of a browser, its websocket included, went to its one replica.
    for where, (_page, _name, seen) in pages.items():
        assert seen - {None} == {where}
    # Both replicas' class tables show both runs (two students each), kept in PostgreSQL.
    for page, _name, _seen in pages.values():
        open_page(page, page.url)
        page.get_by_text("4 students match.").wait_for(timeout=30000)
    assert sorted({r.name for r in RunHistory(pg_url).runs()}) == names

    # One lesson, answered through both replicas: one tally.
    code = poll.ClassPoll(pg_url, TEACHER_KEY).start(TEACHER_KEY)
    for j, (page, _name, _seen) in enumerate(pages.values()):
        open_page(page, f"{front}/Join?code={code}")
        page.get_by_text(WORDS["en"]["question"].format(i=1, n=len(STEPS))).wait_for(timeout=20000)
        answer(page, STEPS[0], j, WORDS["en"])
    assert len(poll.ClassPoll(pg_url, TEACHER_KEY).answers(code, 0)) == 2

    # A replica killed while one of its browsers trains: that run is lost, nothing else.
    (doomed, (page, _name, _seen)), (survivor, (other, _n, _s)) = pages.items()
    open_page(page, front + "/Distillation_Lab?student=800,800&epochs=100&n=3000&name=cut-off")
    page.get_by_role("button", name="Train students").click()
    page.get_by_text("epoch 1 of 100").first.wait_for(timeout=60000)
    os.kill(replicas[doomed], signal.SIGKILL)
    open_page(other, front + RACE.format(name="after"))  # the other replica serves on
    other.get_by_text("4 students match.").wait_for(timeout=30000)
    late = browser.new_context().new_page()  # a browser arriving now is served, whatever its hash
    assert late.goto(front + RACE.format(name="late")).headers["x-kdviz-replica"] == survivor
    wait_idle(late)
    assert sorted({r.name for r in RunHistory(pg_url).runs()}) == names  # no "cut-off" row
