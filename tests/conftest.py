"""Shared fixtures: tiny MNIST-format data the tests write themselves, and the real set if present."""

import gzip
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kdviz.data import FILES, load_mnist

REAL_MNIST = Path(
    os.environ.get("KDVIZ_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared/data/mnist"
)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzip if the name ends in .gz)"""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x00000800 | array.ndim
    data = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 28x28 'digits': class c is a bright 7x7 block at its own place, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(y):
        r, col = 2 + 6 * (c // 4), 2 + 6 * (c % 4) + int(rng.integers(0, 2))
        x[i, r : r + 7, col : col + 7] = 230
    return x, y


def write_synthetic_mnist(folder: Path, n_train: int = 600, n_test: int = 200, gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        x, y = synthetic_digits(n, seed)
        write_idx(folder / f"{split}-images-idx3-ubyte{ext}", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte{ext}", y)
    return folder


@pytest.fixture
def tiny_dir(tmp_path) -> Path:
    return write_synthetic_mnist(tmp_path / "mnist")


@pytest.fixture
def tiny_env(tiny_dir, tmp_path, monkeypatch) -> Path:
    """The app's environment for page tests: tiny data, an empty cache (returned)."""
    monkeypatch.setenv("KDVIZ_DATA_DIR", str(tiny_dir))
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def tiny_data(tiny_dir):
    return load_mnist(tiny_dir)


@pytest.fixture(scope="session")
def real_mnist():
    if not all(
        (REAL_MNIST / (name + ".gz")).exists() or (REAL_MNIST / name).exists() for name in FILES.values()
    ):
        pytest.skip(f"real MNIST not found at {REAL_MNIST} (set KDVIZ_DATA_DIR to run this test)")
    return load_mnist(REAL_MNIST)


@pytest.fixture
def no_shipped_teacher(monkeypatch, tmp_path):
    """As if the shipped paper teacher were missing: the app falls back to training one."""
    import kdviz.runs
    import kdviz.shipped

    absent = tmp_path / "absent" / "paper_teacher.safetensors"
    monkeypatch.setattr(kdviz.shipped, "WEIGHTS", absent)  # what the core loads
    monkeypatch.setattr(kdviz.runs, "SHIPPED", absent)  # what the pages list


class SmallDisk(type(Path())):
    """A folder on its own small filesystem, that a test fills up and frees again."""

    def fill(self) -> None:
        fd = os.open(self / "ballast", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 1024)
        except OSError:  # no space left
            pass
        finally:
            os.close(fd)

    def free(self) -> None:
        (self / "ballast").unlink()


@pytest.fixture
def full_disk(tmp_path):
    """A 192 KiB tmpfs (root only: skipped elsewhere); `.fill()` makes it full."""
    folder = SmallDisk(tmp_path / "small")
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on loopback for this test session (Debian's `postgresql` package,
    which .ci/run installs); its URL. Skipped with the reason where it cannot start."""
    import glob
    import shutil
    import tempfile

    from kdviz.serve import free_port

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql)")
    bin_dir = Path(found[-1]).parent
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: as its own account
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot start PostgreSQL as its own user")
        as_user = ["runuser", "-u", "postgres", "--"]
    # not under pytest's folders: those are private to this account, and the server runs as another
    root = Path(tempfile.mkdtemp(prefix="kdviz-postgres-"))
    data, sockets, port = root / "data", root / "sockets", free_port()
    sockets.mkdir()
    if as_user:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    run = lambda *cmd: subprocess.run([*as_user, *cmd], capture_output=True, text=True)  # noqa: E731
    made = run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "kdviz", "-E", "UTF8")
    if made.returncode != 0:
        pytest.skip(f"initdb failed: {made.stderr.strip()[:200]}")
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = root / "server.log"
    started = run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
    if started.returncode != 0:
        pytest.skip(f"PostgreSQL did not start: {started.stderr.strip()[:200]}")
    try:
        import psycopg

        with psycopg.connect(f"postgresql://kdviz@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE kdviz")
        yield f"postgresql://kdviz@127.0.0.1:{port}/kdviz"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres):
    """The session's PostgreSQL database, emptied of kdviz's tables for this test."""
    import sqlalchemy as sa

    engine = sa.create_engine(postgres.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        for table in ("runs", "lessons", "answers", "kdviz_schema"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()
    return postgres
