"""End to end in a real browser: streamlit run app.py, headless Chromium via Playwright."""

import csv
import json
from pathlib import Path

import pytest

from tests.browser.helpers import BROWSER, wait_idle

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
pytestmark = BROWSER


def chart_y(page, index: int, trace: int):
    return page.evaluate(f"document.querySelectorAll('.js-plotly-plot')[{index}].data[{trace}].y")


def test_temperature_page_responds_to_t(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server + "/Temperature")
    page.wait_for_selector(".js-plotly-plot", timeout=30000)
    before = chart_y(page, 0, 1)
    slider = page.get_by_role("slider").first
    slider.focus()
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    js_y = "JSON.stringify(document.querySelectorAll('.js-plotly-plot')[0].data[1].y)"
    page.wait_for_function(
        f"{js_y} !== {json.dumps(json.dumps(before, separators=(',', ':')))}", timeout=15000
    )
    after = chart_y(page, 0, 1)
    assert after != before and abs(sum(after) - 1) < 1e-9
    assert max(after) < max(before)  # hotter: flatter
    page.wait_for_function("location.search.includes('T=12')", timeout=5000)  # 5 -> 6 -> 8 -> 10 -> 12
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "temperature.png"), full_page=True)
    page.close()


LAB_EPOCHS = (  # whole epochs on the Lab's live test-error chart (not a partial first look); 0 undrawn
    "(p => p ? p.data[0].x.filter(Number.isInteger).length : 0)"
    "([...document.querySelectorAll('.js-plotly-plot')]"
    ".find(p => p.data && p.data[0] && p.data[0].name === 'labels only'))"
)


def edit_cell(page, cell: str, text: str, x: float = 0.8, done: str | None = None) -> bool:
    """Type `text` into a cell of the first table, e.g. cell "2-0" (column 2, row 0), drawn at `x`
    (a share of the table's width); `done` is the page's JS condition that the edit arrived.

    The grid is a canvas, so where a cell is drawn depends on fonts and layout. Click down the value
    column until the grid's accessible mirror reports that cell selected, then open its editor (a real
    textarea) and fill it.
    """
    from playwright.sync_api import Error as PlaywrightError

    selected = "[...document.querySelectorAll('td[aria-selected=true]')].map(td => td.id)"
    editor = page.locator("textarea.gdg-input")
    for _attempt in range(3):
        wait_idle(page)
        grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
        left = grid["x"] + grid["width"] * x
        for dy in range(8, int(grid["height"]), 10):
            page.mouse.click(left, grid["y"] + dy)
            page.wait_for_timeout(200)
            if page.evaluate(selected) == [f"glide-cell-{cell}"]:
                break
        else:
            continue
        try:
            page.keyboard.press("Enter")  # open the cell editor
            try:
                editor.wait_for(timeout=2000)
            except PlaywrightError:
                page.mouse.dblclick(left, grid["y"] + dy)
            # the overlay editor sometimes closes as soon as it opens (headless focus): start over
            editor.fill(text, timeout=3000)
            editor.press("Enter", timeout=3000)
            page.wait_for_function(done or f"location.search.includes('values={text}')", timeout=8000)
            return True
        except PlaywrightError:
            page.keyboard.press("Escape")
    return False


def test_temperature_table_edit(server, browser):
    # dog's probability 0.6 -> 3: normalised 3 / 3.4 at T = 1, and the edit is in the link
    for _fresh_page in range(3):  # a page whose grid never takes the edit: try a fresh one
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server + "/Temperature")
        page.wait_for_selector(".js-plotly-plot", timeout=30000)
        if edit_cell(page, "2-0", "3"):
            break
        page.close()
    else:
        pytest.fail("could not edit the table in three fresh pages")
    page.wait_for_function(
        "Math.abs(document.querySelectorAll('.js-plotly-plot')[0].data[0].y[0] - 3 / 3.4) < 1e-9",
        timeout=15000,
    )
    page.screenshot(path=str(ARTIFACTS / "temperature-edited.png"), full_page=True)
    page.close()


def test_lab_train_watch_stop_retrain(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.goto(server + "/Distillation_Lab?student=800,800&epochs=100&n=3000")
    # The shipped paper teacher is ready: no teacher training before the students
    page.get_by_role("button", name="Train students").wait_for(timeout=60000)
    assert page.get_by_role("button", name="Train teacher").count() == 0
    page.get_by_role("button", name="Train students").click()
    page.wait_for_function(f"{LAB_EPOCHS} >= 2", timeout=60000)
    page.screenshot(path=str(ARTIFACTS / "lab-running.png"), full_page=True)
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("The distilled student made").wait_for(timeout=30000)  # the result of the stopped run
    epochs_done = page.evaluate(LAB_EPOCHS)
    assert 2 <= epochs_done < 100
    assert page.get_by_role("button", name="Train students").is_enabled()
    # the two live charts and the size trade-off, once the page has settled (the last rerun times
    # the models, longer on a busy machine); stale copies that stayed would time this out
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot').length === 3"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=60000,
    )
    page.wait_for_timeout(1000)
    assert page.evaluate("document.querySelectorAll('.js-plotly-plot').length") == 3
    page.screenshot(path=str(ARTIFACTS / "lab-stopped.png"), full_page=True)

    # Retrain: a second run starts, is stopped too, and the history holds both.
    page.get_by_role("button", name="Train students").click()
    page.get_by_role("button", name="Stop").and_(page.locator(":enabled")).wait_for(timeout=30000)
    page.wait_for_function(f"{LAB_EPOCHS} >= 1", timeout=60000)
    page.get_by_role("button", name="Stop").click()
    page.get_by_role("button", name="Train students").and_(page.locator(":enabled")).wait_for(timeout=30000)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the history (CSV)").click()
    rows = list(csv.DictReader(Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()))
    assert [r["run"] for r in rows] == ["1", "1", "2", "2"]  # two runs of two students
    assert {r["images"] for r in rows} == {"3000"}  # the server's 3,000
    page.close()


def test_lab_run_states_across_two_sessions(server, browser):
    """What a second student at the same server sees: its place in the queue, a Stop that frees
    the page at once, and the first session's settings locked while its students train."""
    link = server + "/Distillation_Lab?student=800,800&epochs=100&n=60000"
    first = browser.new_page(viewport={"width": 1400, "height": 1600})
    first.goto(link)
    first.get_by_role("button", name="Train students").click()
    first.wait_for_function(f"{LAB_EPOCHS} >= 1", timeout=60000)
    first.get_by_text("The settings are locked while these students train").wait_for(timeout=10000)
    first.get_by_text("These students: 800-800 students (labels only; T = 20, α = 0.9)").wait_for(
        timeout=10000
    )

    second = browser.new_page(viewport={"width": 1400, "height": 1600})
    second.goto(link)
    second.get_by_role("button", name="Train students").click()
    second.get_by_test_id("stProgress").get_by_text("1 run(s) ahead of yours").wait_for(timeout=15000)
    second.screenshot(path=str(ARTIFACTS / "lab-queued.png"), full_page=True)
    second.get_by_role("button", name="Stop").click()  # before its first epoch
    train = second.get_by_role("button", name="Train students")
    train.and_(second.locator(":enabled")).wait_for(timeout=10000)  # unlocked with one press
    assert second.get_by_role("button", name="Stop").is_disabled()
    second.close()

    first.get_by_role("button", name="Stop").click()
    first.get_by_text("The distilled student made").wait_for(timeout=30000)
    first.close()


def test_a_race_of_four_students_is_still_listed_after_a_reload(server, browser):
    race = "20:0,2:0.5,8:0.9,20:0.9:a"
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.goto(server + f"/Distillation_Lab?student=100,100&epochs=3&n=3000&students={race}&name=race4")
    page.get_by_role("button", name="Train students").click()
    page.get_by_text("Fewest test errors:").wait_for(timeout=120000)
    race_chart = (  # the live test-error chart, once it has been redrawn with the finished run
        "[...document.querySelectorAll('.js-plotly-plot')]"
        ".find(p => p.data && p.data[0] && p.data[0].name === 'labels only'"
        " && p.data[0].x.filter(Number.isInteger).length === 3)"
    )
    page.wait_for_function(f"!!{race_chart}", timeout=30000)
    # whole epochs per curve (a partial first look, if the first epoch took over 0.1 s, is not one)
    curves = page.evaluate(f"{race_chart}.data.map(d => [d.name, d.x.filter(Number.isInteger).length])")
    assert curves[:4] == [
        ["labels only", 3],
        ["T = 2, α = 0.5", 3],
        ["T = 8, α = 0.9", 3],
        ["T = 20→1, α = 0.9", 3],
    ]
    page.screenshot(path=str(ARTIFACTS / "lab-race.png"), full_page=True)
    page.reload()
    page.get_by_text("4. The class's runs").wait_for(timeout=60000)
    page.wait_for_timeout(1000)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the class's runs (CSV)").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    rows = [r for r in lines if ",race4," in r]
    assert len(rows) == 4  # one row per student, kept across the reload
    assert page.evaluate("new URLSearchParams(location.search).get('students')") == race
    page.close()


def test_dark_knowledge_page_shows_the_teacher(server, browser):
    # the shipped paper teacher, with no training
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(server + "/Dark_Knowledge")
    page.wait_for_function(
        "[...document.querySelectorAll('.js-plotly-plot')].some(p => p.data.some(d => d.type === 'heatmap'))",
        timeout=60000,
    )
    assert page.get_by_text("Traceback").count() == 0
    page.screenshot(path=str(ARTIFACTS / "dark-knowledge.png"), full_page=True)
    page.close()


DRAWN_BARS = (  # the y values of the bars of the teacher on the drawing; null while none is drawn
    "(p => p ? JSON.stringify(p.data.map(d => d.y)) : null)"
    "([...document.querySelectorAll('.js-plotly-plot')]"
    ".find(p => /your drawing/.test((p.layout.title || {}).text || '')))"
)


def draw(page, pad, *strokes) -> None:
    """Draw each stroke (points in pad pixels) with the mouse: down, move in small steps, up."""
    box = pad.bounding_box()
    for points in strokes:
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
        page.mouse.up()


def pad_is_blank(page) -> bool:
    """No ink on the pad's drawing layer (a canvas in the component's shadow root)."""
    return page.locator("canvas.dc-canvas.lower-canvas").evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.every((v, i) => i % 4 == 3 || !v)"
    )


def test_dark_knowledge_drawing_pad(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(server + "/Dark_Knowledge?T=4")
    pad = page.locator("canvas.upper-canvas")
    pad.wait_for(timeout=60000)
    wait_idle(page)
    pad.scroll_into_view_if_needed()
    page.get_by_text("Draw a digit on the black pad").wait_for(timeout=5000)
    assert page.evaluate(DRAWN_BARS) is None  # an empty pad: no answer

    draw(page, pad, [(60, 40), (190, 40), (110, 220)])  # a 7, in one stroke (the pad is 252 px)
    page.wait_for_function(f"{DRAWN_BARS} !== null", timeout=30000)
    wait_idle(page)
    seven_json = page.evaluate(DRAWN_BARS)
    seven = json.loads(seven_json)
    assert len(seven) == 2 and all(len(y) == 10 and abs(sum(y) - 1) < 1e-6 for y in seven)  # T = 1, T = 4
    assert seven[0].index(max(seven[0])) == 7  # the shipped teacher reads it
    assert page.get_by_text("Draw a digit on the black pad").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("h3").filter(has_text="4. Your own digit").evaluate("h => h.scrollIntoView()")
    page.screenshot(path=str(ARTIFACTS / "dark-knowledge-drawn.png"))

    draw(page, pad, [(90, 130), (170, 130)])  # a cross-bar through the 7 changes the answer's bars
    page.wait_for_function(f"{DRAWN_BARS} !== {json.dumps(seven_json)}", timeout=30000)
    crossed = json.loads(page.evaluate(DRAWN_BARS))
    assert len(crossed) == 2 and max(abs(a - b) for a, b in zip(crossed[1], seven[1])) > 1e-3

    assert not pad_is_blank(page)
    page.get_by_role("button", name="Clear the pad").click()
    page.get_by_text("Draw a digit on the black pad").wait_for(timeout=30000)
    assert page.evaluate(DRAWN_BARS) is None
    pad = page.locator("canvas.upper-canvas")  # a fresh pad
    pad.wait_for(timeout=10000)
    assert pad_is_blank(page)
    wait_idle(page)
    draw(page, pad, [(126, 30), (126, 220)])  # a 1 on the cleared pad: only the 1 is seen
    page.wait_for_function(f"{DRAWN_BARS} !== null", timeout=30000)
    one = json.loads(page.evaluate(DRAWN_BARS))
    assert one[0].index(max(one[0])) == 1

    pad.hover()  # the pad's own toolbar shows on hover; its bin clears the pad too
    page.get_by_role("button", name="Reset canvas & history").click()
    page.get_by_text("Draw a digit on the black pad").wait_for(timeout=30000)
    assert page.evaluate(DRAWN_BARS) is None and pad_is_blank(page)
    assert page.get_by_text("Traceback").count() == 0
    page.close()


def test_experiments_page_runs_a_tiny_reproduction(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 3000})
    page.goto(server + "/Experiments")
    page.get_by_role("button", name="Run experiments").click()
    page.wait_for_function(  # the sixth experiment's chart
        "[...document.querySelectorAll('.js-plotly-plot')]"
        ".some(p => /logit matching/i.test((p.layout.title || {}).text || ''))",
        timeout=180000,
    )
    assert page.get_by_text("Traceback").count() == 0
    assert page.locator("h3").filter(has_text="6. High T").count() == 1  # every result has its section
    page.screenshot(path=str(ARTIFACTS / "experiments.png"), full_page=True)
    page.close()


@pytest.mark.parametrize("width", [800, 1024])
def test_pages_fit_a_tablet_or_a_projector(server, browser, width):
    """No element wider than the window, no metric cut short ("1.03..."), at 800 and 1024 px."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    for path in ("/Temperature", "/Dark_Knowledge?T=4", "/Distillation_Lab", "/Experiments"):
        page.goto(server + path)
        page.wait_for_selector("h1", timeout=60000)
        wait_idle(page)
        wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"{path} is {wide} px wider than a {width} px window"
        cut = page.evaluate(
            "[...document.querySelectorAll('[data-testid=stMetricValue] div, [data-testid=stMetricValue]')]"
            ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"
        )
        assert not cut, f"{path}: metrics cut short at {width} px: {cut}"
        page.screenshot(
            path=str(ARTIFACTS / f"{path.strip('/').split('?')[0].lower()}-{width}.png"), full_page=True
        )
    page.close()


def test_a_word_typed_as_alpha_in_the_race_is_refused_by_name(server, browser):
    """Issue 20: "abc" typed as a student's alpha used to become 0.00 without a word."""
    said = "student 2: alpha must be a number in [0, 1], got 'abc'"
    alerts = "[...document.querySelectorAll('[data-testid=stAlertContainer]')]"
    shown = f"{alerts}.some(a => a.innerText.includes({said!r}))"
    for _fresh_page in range(3):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server + "/Distillation_Lab?student=30,30&epochs=2&n=300&students=20:0,20:0.9")
        page.get_by_role("button", name="Train students").wait_for(timeout=60000)
        if edit_cell(page, "2-1", "abc", x=0.5, done=shown):
            break
        page.close()
    else:
        pytest.fail("could not edit the race table in three fresh pages")
    assert page.get_by_role("button", name="Train students").count() == 0  # nothing runs on a guess
    assert page.get_by_text("Traceback").count() == 0
    page.close()
