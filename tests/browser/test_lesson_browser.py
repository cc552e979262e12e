"""The lesson in a real browser, in both languages: a teacher on a 1280 x 720 projector, three students
on phones answering every step, a fourth session without the teacher's key that cannot drive it;
every page keeping its settings across the menu; projector and phone sizes measured."""

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from kdviz import i18n
from kdviz.lesson import STEPS, marks
from tests.browser.helpers import BROWSER, TEACHER_KEY, open_page, wait_idle

pytestmark = BROWSER
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "artifacts" / "lesson"  # docs/lesson holds a copy of these (README)
PROJECTOR = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}
WORDS = {
    "en": {
        "start": "Start the lesson",
        "reveal": "Reveal",
        "next": "Next question",
        "send": "Send",
        "question": "Question {i} of {n}",
        "answers": "{n} answers",
        "revealed": "Look at the teacher's screen: the answer is revealed.",
    },
    "zh": {
        "start": "开始上课",
        "reveal": "揭晓答案",
        "next": "下一题",
        "send": "提交",
        "question": "第 {i} 题，共 {n} 题",
        "answers": "已收到 {n} 个回答",
        "revealed": "请看老师的屏幕：答案已经揭晓。",
    },
}


def say(lang: str, message: str) -> str:
    """What the app shows for `message` in `lang` (kdviz.i18n's own catalog)."""
    return message if lang == "en" else i18n._catalog(lang).gettext(message)


def run_the_race(teacher, lang: str) -> None:
    """Predict, run, reveal: open the step's page, train there, come back to the lesson by the menu."""
    click(teacher, say(lang, "Open the page for this question"))
    teacher.wait_for_function("location.pathname.endsWith('/Distillation_Lab')", timeout=30000)
    assert query(teacher)["n"] == "1000" and query(teacher)["epochs"] == "20"  # the step's own state
    teacher.get_by_role("button", name=say(lang, "Train students"), exact=True).wait_for(timeout=60000)
    click(teacher, say(lang, "Train students"))
    teacher.get_by_text(say(lang, "3. Results (this session)")).wait_for(timeout=120000)
    teacher.locator("[data-testid=stExpandSidebarButton]").click()
    teacher.get_by_role("link", name=say(lang, "Lesson")).click()
    wait_idle(teacher)
    teacher.locator("[data-testid=stSidebarCollapseButton]").click()


def query(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def click(page, label: str) -> None:
    page.get_by_role("button", name=label, exact=True).click()
    wait_idle(page)


def tally(page) -> list[int]:
    """The teacher's tally chart: answers per bar."""
    return page.evaluate(
        "(() => { const p = [...document.querySelectorAll('.js-plotly-plot')].pop();"
        " return p && p.data ? p.data[0].y.map(Number) : []; })()"
    )


def answer(student, step, j: int, words) -> str:
    """Student j's answer to `step`: choice j (mod the choices) or the number 10 (j + 1)."""
    if step.choices:
        i = j % len(step.choices)
        mark = marks(step)[i]
        if mark == step.choices[i]:  # a short choice is its own label (a digit, "T = 2.5")
            student.get_by_role("button", name=mark, exact=True).click()
        else:
            student.get_by_role("button", name=re.compile(rf"^{mark}\. ")).click()
        wait_idle(student)
        return str(i)
    student.get_by_role("textbox").last.fill(str(10 * (j + 1)))
    click(student, words["send"])
    return str(10 * (j + 1))


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_whole_lesson_with_three_students_and_an_intruder(server, browser, lang):
    words = WORDS[lang]
    teacher = browser.new_context(viewport=PROJECTOR).new_page()
    open_page(teacher, f"{server}/Lesson?lang={lang}&present=1&key={TEACHER_KEY}")
    assert "key" not in query(teacher)  # taken out of the projected address bar
    click(teacher, words["start"])
    teacher.wait_for_function("location.search.includes('code=')", timeout=15000)
    code = query(teacher)["code"]
    students = []
    for _ in range(3):
        s = browser.new_context(viewport=PHONE).new_page()
        open_page(s, f"{server}/Join?code={code}&lang={lang}")
        students.append(s)
    intruder = browser.new_context(viewport=PHONE).new_page()
    open_page(intruder, f"{server}/Lesson?code={code}&lang={lang}&key=not-the-key")
    assert intruder.get_by_role("button", name=words["reveal"], exact=True).count() == 0
    assert intruder.get_by_role("button", name=words["start"], exact=True).count() == 0
    DOCS.mkdir(parents=True, exist_ok=True)
    for i, step in enumerate(STEPS):
        heading = words["question"].format(i=i + 1, n=len(STEPS))
        expected: dict[str, int] = {}
        for j, s in enumerate(students):
            s.get_by_text(heading).wait_for(timeout=20000)
            given = answer(s, step, j, words)
            expected[given] = expected.get(given, 0) + 1
        teacher.get_by_text(words["answers"].format(n=3)).wait_for(timeout=10000)
        wait_idle(teacher)
        counts = tally(teacher)
        if step.choices:
            assert counts == [expected.get(str(k), 0) for k in range(len(step.choices))]
        else:
            assert sorted(counts) == sorted(expected.values())
        if step.id == "race":
            run_the_race(teacher, lang)
        click(teacher, words["reveal"])
        teacher.locator("[data-testid='stAlertContainer']").first.wait_for(timeout=60000)
        if step.id == "race":  # measured by the run just made, not "nobody has run this race yet"
            shown = teacher.locator("[data-testid=stAlertContainer]").first.inner_text()
            expected = say(lang, "Listening to the teacher: {taught} test errors; labels only: {plain}.")
            pattern = re.escape(expected).replace(r"\{taught\}", r"\d+").replace(r"\{plain\}", r"\d+")
            assert re.search(pattern, shown), shown
        teacher.evaluate("document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")
        teacher.wait_for_timeout(300)
        teacher.screenshot(path=str(DOCS / f"{lang}-{i + 1}-{step.id}.png"))
        assert teacher.evaluate("document.documentElement.scrollWidth") <= PROJECTOR["width"]
        for part in ("[data-testid=stAlertContainer]", ".js-plotly-plot"):  # one screen on the projector
            box = teacher.locator(part).first.bounding_box()
            assert box["y"] >= 0 and box["y"] + box["height"] <= PROJECTOR["height"], (step.id, part, box)
        students[0].get_by_text(words["revealed"]).wait_for(timeout=10000)
        assert students[0].get_by_role("button", name=re.compile(r"^A\. ")).count() == 0  # answers closed
        if i < len(STEPS) - 1:
            click(teacher, words["next"])
    # the intruder still cannot drive it, and the lesson is where the teacher left it
    intruder.reload()
    wait_idle(intruder)
    assert intruder.get_by_role("button", name=words["next"], exact=True).count() == 0
    for p in (teacher, *students, intruder):
        p.context.close()


def test_every_page_keeps_its_settings_across_the_menu(server, browser):
    """Set values on each page, leave through the menu, come back through the menu."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    views = {
        "Temperature": ("/Temperature?T=20&preset=confident", {"T": "20", "preset": "confident"}),
        "Dark_Knowledge": ("/Dark_Knowledge?T=10&cls=4", {"T": "10", "cls": "4"}),
        "Distillation_Lab": (
            "/Distillation_Lab?epochs=7&n=1000&seed=7&student=100,100",
            {"epochs": "7", "n": "1000", "seed": "7", "student": "100,100"},
        ),
        "Experiments": ("/Experiments?preset=tiny&only=few_labels", {"preset": "tiny", "only": "few_labels"}),
    }
    menu = {
        "Temperature": "Temperature",
        "Dark_Knowledge": "Dark knowledge",
        "Distillation_Lab": "Distillation Lab",
        "Experiments": "Experiments",
    }
    for name, (link, expected) in views.items():
        open_page(page, server + link)
        page.get_by_role("link", name="Home").click()
        wait_idle(page)
        page.get_by_role("link", name=menu[name]).click()
        wait_idle(page)
        page.wait_for_function(f"location.pathname.endsWith('/{name}')", timeout=10000)
        got = query(page)
        assert {k: got.get(k) for k in expected} == expected, name
    # the Lab's inputs show the kept values, not the widgets' minimums
    open_page(page, server + "/Distillation_Lab?epochs=7&seed=7")
    page.get_by_role("link", name="Temperature").click()
    wait_idle(page)
    page.get_by_role("link", name="Distillation Lab").click()
    wait_idle(page)
    assert page.get_by_label("Epochs").input_value() == "7"
    assert page.get_by_label("Seed").input_value() == "7"
    # the sidebar's language switch keeps the page's settings (and its widgets show them)
    page.locator("[data-testid=stSidebar]").get_by_role("link", name="简体中文").click()
    page.wait_for_function("location.search.includes('lang=zh')", timeout=15000)
    open_page(page, page.url)
    assert query(page)["epochs"] == "7" and page.get_by_label(say("zh", "Epochs")).input_value() == "7"
    # the language and projector mode travel with the menu too
    open_page(page, server + "/Temperature?lang=zh")
    page.get_by_role("link", name="蒸馏实验室").click()
    wait_idle(page)
    assert query(page).get("lang") == "zh"
    open_page(page, server + "/Temperature?lang=zh&present=1")  # the sidebar is folded away: read the link
    wait_idle(page)
    href = page.get_by_role("link", name="蒸馏实验室").get_attribute("href")
    assert "lang=zh" in href and "present=1" in href
    page.close()


def test_projector_mode_text_is_readable_from_the_back_row(server, browser):
    page = browser.new_page(viewport=PROJECTOR)
    for path in ("/Temperature", "/Lesson", "/Distillation_Lab"):
        open_page(page, f"{server}{path}?present=1")
        page.wait_for_function(  # the page has drawn with its projector style
            "parseFloat(getComputedStyle(document.documentElement).fontSize) >= 20", timeout=15000
        )
        wait_idle(page)
        small = page.evaluate(
            "[...document.querySelectorAll('[data-testid=stMain] [data-testid=stMarkdownContainer] p')]"
            ".map(p => [parseFloat(getComputedStyle(p).fontSize), p.textContent.slice(0, 40)])"
            ".filter(([size]) => size < 20)"
        )
        assert small == [], path
        charts = page.evaluate(
            "[...document.querySelectorAll('.js-plotly-plot text')].filter(t => t.textContent.trim())"
            ".map(t => parseFloat(t.style.fontSize || getComputedStyle(t).fontSize))"
        )
        if charts:
            assert min(charts) >= 16, (path, min(charts))
        assert page.evaluate("document.documentElement.scrollWidth") <= PROJECTOR["width"], path
        sidebar = page.locator("[data-testid=stSidebar]")
        box = sidebar.bounding_box() if sidebar.count() else None
        assert box is None or box["x"] + box["width"] <= 1, "the sidebar is folded away"
    page.close()


def test_a_phone_shows_the_t_control_with_its_chart_and_fits_the_join_page(server, browser):
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{server}/Temperature")
    page.wait_for_selector(".js-plotly-plot", timeout=30000)
    wait_idle(page)
    slider = page.get_by_role("slider").first.bounding_box()
    chart = page.locator(".js-plotly-plot").first.bounding_box()
    assert chart["y"] + chart["height"] / 2 - slider["y"] < PHONE["height"], "T and its chart a screen apart"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    open_page(page, f"{server}/Join?code=ABCD")
    for box in page.locator("[data-testid=stMain] input, [data-testid=stMain] button").all():
        b = box.bounding_box()
        if b:
            assert b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"]
    page.close()
