import json
import subprocess
import sys
import time

import pytest

from kdviz.cli import main


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "kdviz", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_import_kdviz_does_not_import_streamlit():
    code = (
        "import sys, kdviz, kdviz.cli, kdviz.data, kdviz.distill, kdviz.ensemble, kdviz.experiments, "
        "kdviz.jobs, kdviz.losses, kdviz.models, kdviz.plots, kdviz.teacher, kdviz.temperature, kdviz.train; "
        "print('streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_help_lists_commands_with_examples():
    out = run_cli("--help")
    assert out.returncode == 0
    for word in ("app", "download", "train-teacher", "distill", "examples"):
        assert word in out.stdout
    # the quick preset's time as kdviz.timing estimates it (issue 20: the help said "~10 min")
    from kdviz.experiments import DEFAULT
    from kdviz.timing import describe_seconds, estimated_seconds

    quick = describe_seconds(estimated_seconds("quick", DEFAULT, "cpu"))
    line = next(li for li in out.stdout.splitlines() if "reproduce --quick " in li)
    assert f"about {quick} on 2 cores" in line and "six" in line


@pytest.mark.parametrize(
    "args, message",
    [
        (["distill", "--T", "0"], "temperature"),
        (["distill", "--T", "nan"], "temperature"),
        (["distill", "--T", "1e-9"], "between"),
        (["distill", "--T", "1e9"], "between"),
        (["distill", "--epochs", "1000000"], "epochs"),
        (["distill", "--alpha", "nan"], "alpha"),
        (["distill", "--train-size", "0"], "train size"),
        (["distill", "--omit", "0,1,2,3,4,5,6,7,8,9"], "empty"),
        (["distill", "--alpha", "2"], "alpha"),
        (["distill", "--alpha", "-1"], "alpha"),
        (["distill", "--epochs", "0"], "epochs"),
        (["distill", "--student", "0,10"], "hidden"),
        (["distill", "--student", "10000000"], "hidden"),
        (["distill", "--device", "tpu"], "device"),
    ],
)
def test_bad_values_exit_nonzero_with_one_line(args, message, capsys, tmp_path):
    assert main([*args, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_missing_data_is_one_clear_line(tmp_path):
    out = run_cli("distill", "--data-dir", str(tmp_path / "nothing"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "KDVIZ_DATA_DIR" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_distill_json_on_tiny_data(tiny_dir, tmp_path):
    env = {"KDVIZ_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    out = run_cli(
        "distill",
        "--data-dir",
        str(tiny_dir),
        "--json",
        "--epochs",
        "2",
        "--student",
        "16",
        "--T",
        "4",
        "--omit",
        "3",
        env=env,
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    for key in ("teacher_errors", "labels_only_errors", "distilled_errors", "seconds", "device"):
        assert key in res
    assert res["options"]["T"] == 4.0 and res["options"]["omit"] == [3] and res["options"]["student"] == [16]
    assert 0 <= res["distilled_errors"] <= res["test_total"] == 200
    assert "epoch 2/2" in out.stderr  # progress on stderr, JSON alone on stdout


def test_reproduce_json_on_tiny_data(tiny_dir, tmp_path):
    env = {"KDVIZ_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    out = run_cli(
        "reproduce",
        "--preset",
        "tiny",
        "--only",
        "main,omit3,matching",
        "--json",
        "--data-dir",
        str(tiny_dir),
        env=env,
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert [e["name"] for e in res["experiments"]] == ["main", "omit3", "matching"]
    main = res["experiments"][0]
    assert [r["paper"] for r in main["rows"]] == [67, 146, 74, None, None] and all(
        r["this run"] >= 0 for r in main["rows"]
    )
    assert res["experiments"][1]["curve"] and "seconds" in main
    assert main["settings"]["seeds"] == 2 and "setup" not in main  # the output's keys, as before


def test_reproduce_only_ensemble_on_tiny_data(tiny_dir, tmp_path):
    from kdviz.recipes import TINY

    env = {"KDVIZ_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    args = ("reproduce", "--preset", "tiny", "--only", "ensemble", "--json", "--data-dir", str(tiny_dir))
    out = run_cli(*args, env=env)
    assert out.returncode == 0, out.stderr
    (ens,) = json.loads(out.stdout)["experiments"]
    k = TINY.ensemble_members
    assert ens["name"] == "ensemble" and len(ens["rows"]) == k + 6 and len(ens["checks"]) == 2
    assert [p["kind"] for p in ens["curve"]] == ["member"] * k + ["ensemble"] + ["student"] * 3
    assert f"ensemble epoch {TINY.ensemble.epochs}/{TINY.ensemble.epochs}" in out.stderr  # the members


def test_reproduce_help_names_every_experiment():
    from kdviz.cli import build_parser
    from kdviz.experiments import EXPERIMENTS

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    only = next(a for a in sub.choices["reproduce"]._actions if a.dest == "only")
    assert only.help.split(": ")[1].split(",") == list(EXPERIMENTS)


def test_reproduce_rejects_unknown_experiment(tmp_path, capsys):
    assert main(["reproduce", "--only", "main,nope", "--data-dir", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err


def test_app_passes_streamlit_options_through(monkeypatch, capsys):
    import subprocess as sp

    calls = []

    class FakeServer:
        def __init__(self, cmd, cwd=None, env=None):
            calls.append((cmd, cwd, env))

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(sp, "Popen", FakeServer)
    monkeypatch.delenv("KDVIZ_TEACHER_KEY", raising=False)
    assert main(["app", "--server.port", "8999", "--server.headless", "true"]) == 0
    cmd, cwd, env = calls[0]
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("app.py")
    assert cmd[5:] == ["--server.port", "8999", "--server.headless", "true"]
    assert (cwd / ".streamlit" / "config.toml").exists()  # run from the app folder: its config applies
    printed = capsys.readouterr().out
    key = env["KDVIZ_TEACHER_KEY"]  # a key made for this server, printed as a notebook server does
    assert len(key) >= 8 and f"localhost:8999/Lesson?key={key}" in printed
    monkeypatch.setenv("KDVIZ_TEACHER_KEY", "a-key-the-teacher-set")
    main(["app"])
    assert (
        calls[1][2]["KDVIZ_TEACHER_KEY"] == "a-key-the-teacher-set" and "key" not in capsys.readouterr().out
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_signal_to_kdviz_app_alone_stops_the_server_and_frees_the_port(tmp_path, name):
    import signal
    import socket
    import urllib.request

    from kdviz.serve import free_port

    port = free_port()
    args = ["app", "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kdviz", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # as from a terminal: a test run started in the background (`cmd &`) inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the app did not start"
                time.sleep(0.25)
        proc.send_signal(getattr(signal, name))  # to kdviz alone, not its process group
        proc.wait(10)  # kdviz passes it on and waits for its server (a SIGINT took 15 s, then a kill)
        with socket.socket() as s, pytest.raises(OSError):
            s.connect(("127.0.0.1", port))  # nothing holds the port any more
    finally:
        if proc.poll() is None:
            proc.kill()


def test_unknown_option_is_an_error_outside_app(capsys):
    with pytest.raises(SystemExit) as e:
        main(["distill", "--bogus"])
    assert e.value.code == 2 and "--bogus" in capsys.readouterr().err


def test_a_huge_student_is_announced_with_its_time_before_it_trains(tiny_dir, monkeypatch, capsys):
    from kdviz import runs

    def no_teacher(*args, **kwargs):
        raise ValueError("stopped here: the warning came first")

    monkeypatch.setattr(runs, "default_teacher", no_teacher)
    huge = ["distill", "--student", "8192,8192,8192", "--epochs", "20", "--data-dir", str(tiny_dir)]
    assert main(huge) == 2
    err = capsys.readouterr().err
    assert "these two 8192-8192-8192 students take about" in err and "stopped here" in err
    assert main(["distill", "--student", "30", "--epochs", "1", "--data-dir", str(tiny_dir)]) == 2
    assert "take about" not in capsys.readouterr().err  # a quick one is not announced
