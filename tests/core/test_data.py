import gzip
import shutil

import numpy as np
import pytest
import torch

from kdviz.data import (
    DataError,
    MissingDataError,
    download_mnist,
    find_files,
    load_mnist,
    read_idx,
)
from tests.conftest import synthetic_digits, write_idx, write_synthetic_mnist


@pytest.mark.parametrize("gz", [True, False])
def test_tiny_idx_files_load(tmp_path, gz):
    folder = write_synthetic_mnist(tmp_path, n_train=50, n_test=20, gz=gz)
    data = load_mnist(folder)
    x, y = synthetic_digits(50, 0)
    assert data.train_x.shape == (50, 784) and data.test_x.shape == (20, 784)
    assert data.train_x.dtype == torch.float32 and 0 <= data.train_x.min() and data.train_x.max() <= 1
    assert torch.equal(data.train_y, torch.from_numpy(y.astype(np.int64)))
    assert torch.allclose(data.train_x[3], torch.from_numpy(x[3].reshape(784) / 255.0).float())


def test_torchvision_layout_is_found(tmp_path):
    write_synthetic_mnist(tmp_path / "MNIST" / "raw", n_train=10, n_test=10)
    assert len(load_mnist(tmp_path).train_y) == 10


def test_missing_data_says_what_to_do(tmp_path):
    with pytest.raises(MissingDataError, match="KDVIZ_DATA_DIR") as e:
        load_mnist(tmp_path)
    assert "kdviz download" in str(e.value)


def test_truncated_file_names_the_file(tiny_dir):
    path = tiny_dir / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*truncated"):
        load_mnist(tiny_dir)


def test_cut_gzip_stream_is_reported(tiny_dir):
    path = tiny_dir / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:15])
    with pytest.raises(DataError, match="t10k-labels"):
        load_mnist(tiny_dir)


def test_wrong_magic(tmp_path):
    path = tmp_path / "x"
    write_idx(path, np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DataError, match="magic"):
        read_idx(path, 0x00000801)  # an image file where labels are expected


def test_wrong_count(tiny_dir):
    write_idx(tiny_dir / "train-labels-idx1-ubyte.gz", np.zeros(7, np.uint8))
    with pytest.raises(DataError, match="wrong count"):
        load_mnist(tiny_dir)


def test_empty_file(tiny_dir):
    (tiny_dir / "train-images-idx3-ubyte.gz").unlink()
    (tiny_dir / "train-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(DataError, match="magic"):
        load_mnist(tiny_dir)


def test_download_is_skipped_when_present(tiny_dir, monkeypatch):
    import torchvision.datasets

    def no_network(*a, **k):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torchvision.datasets, "MNIST", no_network)
    assert download_mnist(tiny_dir) == tiny_dir


def test_download_failure_is_one_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*a, **k):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(DataError, match="KDVIZ_DATA_DIR"):
        download_mnist(tmp_path / "cache")


def test_find_files_prefers_given_folder(tmp_path):
    write_synthetic_mnist(tmp_path, n_train=5, n_test=5, gz=False)
    shutil.copy(tmp_path / "train-images-idx3-ubyte", tmp_path / "copy")
    assert find_files(tmp_path)["train_images"].name == "train-images-idx3-ubyte"
