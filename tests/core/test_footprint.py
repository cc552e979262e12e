"""kdviz.footprint: sizes are real byte counts, latencies positive and ordered by size."""

from kdviz.footprint import measure


def test_a_big_and_a_tiny_model_side_by_side():
    big, tiny = measure({"teacher": (1200, 1200), "student": (30, 30)}, rounds=5)
    assert big.parameters == 784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10
    assert tiny.parameters == 784 * 30 + 30 + 30 * 30 + 30 + 30 * 10 + 10
    # 4 bytes per fp32 parameter, 2 per fp16, plus a small safetensors header
    assert 0 < big.fp32_bytes - 4 * big.parameters < 2000 and 0 < big.fp16_bytes - 2 * big.parameters < 2000
    for f in (big, tiny):
        assert f.ms_batch1 > 0 and f.ms_batch256 > 0
        assert f.ms_batch256 < f.ms_batch1  # batching amortises the per-call cost
    assert big.ms_batch256 > tiny.ms_batch256  # 100x the arithmetic
    assert big.row()["hidden layers"] == "1200-1200" and big.row()["fp16 on disk (MB)"] == 4.79


def test_tradeoff_points_count_parameters_exactly():
    from kdviz.footprint import parameters, tradeoff
    from kdviz.models import StackedMLP

    for h in [(800, 800), (30,), ()]:
        assert parameters(h) == StackedMLP(h).parameters_per_model()
    df = tradeoff([("teacher", (1200, 1200), 80), ("student", (30, 30), 300)])
    assert df["test errors"].tolist() == [80, 300] and df["fp32 MB"].iloc[0] > 9 > df["fp32 MB"].iloc[1]
