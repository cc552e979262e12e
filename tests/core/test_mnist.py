"""On the real MNIST (skipped without it): the distilled student beats labels alone."""

import pytest

from kdviz.distill import DistillConfig, Student, race
from kdviz.teacher import TeacherSpec, ensure_teacher
from kdviz.train import run_to_end


@pytest.fixture(scope="module")
def teacher(real_mnist, tmp_path_factory):
    spec = TeacherSpec(hidden=(512, 512), dropout=0.2, epochs=3, jitter=0, seed=0)  # ~97.6% in ~8 s
    return ensure_teacher(spec, real_mnist, tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distilled_beats_labels_only_on_1000_images(real_mnist, teacher, seed):
    assert teacher.test_errors < 300
    pair = (Student(4, 0.0), Student(4, 0.9))
    cfg = DistillConfig(hidden=(300, 300), students=pair, epochs=20, train_size=1000, seed=seed)
    _, events = race(real_mnist, teacher.logits(real_mnist.train_x), cfg)
    last = run_to_end(events)
    scratch, distilled = last.test_errors
    assert distilled < scratch - 150, (scratch, distilled)  # measured: ~1130 vs ~690-760 errors


@pytest.mark.slow
def test_quick_preset_shows_every_effect_of_the_paper(real_mnist, tmp_path):
    """The Experiments page's default, with the shipped teacher: every effect the paper's way."""
    from kdviz import runs

    results = runs.experiments(runs.ExperimentsRun("quick"), real_mnist, tmp_path).results
    assert len(results) == 6
    failed = [r.name for r in results for c in r.checks if not c["holds"]]
    # Known short of the paper in the quick preset: a student that saw only 7s and 8s for 30
    # epochs gains from the bias shift, but not always by half (56% -> 27% in one run, not in
    # another). Every other effect must show.
    assert set(failed) <= {"only78"}, failed
    only78 = next(r for r in results if r.name == "only78")
    before, after = only78.rows[0]["this run"], only78.rows[2]["this run"]
    assert after < 0.75 * before, "the bias shift still removes a large part of the errors"
