import hashlib
import json

import pytest
import torch
from safetensors.torch import save as save_safetensors

from kdviz.shipped import WEIGHTS, card_path, expected_shapes, export_shipped, load_shipped, read_card
from kdviz.teacher import PAPER, CheckpointError, TeacherSpec, ensure_teacher

SPEC = TeacherSpec(hidden=(32,), dropout=0.1, input_dropout=0.0, jitter=0, epochs=2, batch_size=64)


@pytest.fixture
def exported(tiny_data, tmp_path):
    teacher = ensure_teacher(SPEC, tiny_data, tmp_path / "cache")
    path = tmp_path / "ship" / "t.safetensors"
    card = export_shipped(teacher, tiny_data, path)
    return teacher, path, card


def test_export_then_load_measures_the_same_errors(exported, tiny_data):
    teacher, path, card = exported
    loaded = load_shipped(tiny_data, path)
    assert loaded.spec == SPEC
    assert loaded.test_errors == card["test_errors"] and loaded.test_total == len(tiny_data.test_y)
    # fp16 weights: logits within fp16 rounding of the fp32 teacher's
    torch.testing.assert_close(
        loaded.logits(tiny_data.test_x), teacher.logits(tiny_data.test_x), rtol=0, atol=0.05
    )
    assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not list(path.parent.glob("*.tmp")), "no temp files left behind"


def test_the_card_is_not_trusted_for_test_errors(exported, tiny_data):
    _, path, card = exported
    card_file = card_path(path)
    card_file.write_text(json.dumps({**card, "test_errors": card["test_errors"] + 123}))
    assert load_shipped(tiny_data, path).test_errors == card["test_errors"]


def test_altered_weights_are_refused(exported, tiny_data):
    _, path, _ = exported
    blob = bytearray(path.read_bytes())
    blob[-3] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="altered or damaged"):
        load_shipped(tiny_data, path)


def test_a_foreign_file_with_a_matching_hash_is_refused_by_shape(exported, tiny_data):
    _, path, card = exported
    foreign = save_safetensors({"weight": torch.zeros(3, 3)})
    path.write_bytes(foreign)
    card_path(path).write_text(json.dumps({**card, "sha256": hashlib.sha256(foreign).hexdigest()}))
    with pytest.raises(CheckpointError, match="not those of"):
        load_shipped(tiny_data, path)


def test_garbage_and_missing_files_are_refused(exported, tiny_data, tmp_path):
    _, path, card = exported
    path.write_bytes(b"\x00" * 64)
    card_path(path).write_text(json.dumps({**card, "sha256": hashlib.sha256(b"\x00" * 64).hexdigest()}))
    with pytest.raises(CheckpointError, match="damaged"):
        load_shipped(tiny_data, path)
    with pytest.raises(CheckpointError, match="card"):
        load_shipped(tiny_data, tmp_path / "absent.safetensors")
    card_path(path).write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="not a kdviz teacher card"):
        load_shipped(tiny_data, path)


def test_the_shipped_file_is_the_papers_teacher():
    card = read_card()
    assert WEIGHTS.stat().st_size < 8_000_000, "fp16 1200-1200: about 4.8 MB"
    assert TeacherSpec(**card["spec"]) == PAPER
    assert card["sha256"] == hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
    teacher = load_shipped()  # no data: checks hash and shapes only
    assert {k: tuple(v.shape) for k, v in teacher.model.state_dict().items()} == expected_shapes(PAPER)


@pytest.mark.slow
def test_the_shipped_teacher_makes_the_errors_its_card_says(real_mnist):
    teacher = load_shipped(real_mnist)
    card = read_card()
    assert teacher.test_total == 10_000
    assert teacher.test_errors == card["test_errors"]
    assert teacher.test_errors <= 67  # the paper's teacher (ours: 61, README)
