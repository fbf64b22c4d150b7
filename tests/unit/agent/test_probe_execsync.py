"""ExecSync: the exec process derived from the container's, and the exec itself driven
through a stand-in for runc (a script speaking runc exec's arguments), so output,
exit codes, timeouts (the process killed through its pid file) and runc's own errors are
checked without root."""

import os
import sys
import textwrap
import time

import pytest

from tinykube.agent.runtime.execsync import MAX_OUTPUT, ExecError, exec_process, exec_sync

CONTAINER_PROCESS = {
    "terminal": False, "user": {"uid": 1000, "gid": 1000}, "args": ["/app"], "env": ["PATH=/bin", "A=1"],
    "cwd": "/work", "capabilities": {"bounding": ["CAP_KILL"]}, "noNewPrivileges": True,
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}], "oomScoreAdj": 5,
}

FAKE_RUNC = textwrap.dedent("""\
    import json, subprocess, sys
    args = sys.argv[1:]
    process = json.load(open(args[args.index("--process") + 1]))
    if args[-1] == "missing":
        sys.stderr.write('time="x" level=error msg="container does not exist"\\n')
        sys.exit(1)
    child = subprocess.Popen(process["args"], env=dict(e.split("=", 1) for e in process["env"]),
                             cwd=process["cwd"])
    open(args[args.index("--pid-file") + 1], "w").write(str(child.pid))
    sys.exit(child.wait())
""")


def test_exec_process_keeps_the_containers_identity_and_replaces_argv():
    process = exec_process(CONTAINER_PROCESS, ["sh", "-c", "true"])
    assert process["args"] == ["sh", "-c", "true"] and process["terminal"] is False
    for key in ("user", "env", "cwd", "capabilities", "noNewPrivileges", "rlimits", "oomScoreAdj"):
        assert process[key] == CONTAINER_PROCESS[key]
    assert exec_process({}, ["x"])["cwd"] == "/"


@pytest.fixture
def runc(tmp_path):
    script = tmp_path / "runc"
    script.write_text(f"#!{sys.executable}\n{FAKE_RUNC}")
    script.chmod(0o755)
    return str(script)


def process(tmp_path, *argv):
    return exec_process({"env": ["PATH=" + os.environ["PATH"]], "cwd": str(tmp_path)}, list(argv))


async def test_output_and_exit_code(runc, tmp_path):
    result = await exec_sync(runc, tmp_path, "c1", process=process(
        tmp_path, "sh", "-c", "pwd; echo err >&2; exit 4"), timeout=10, scratch_dir=tmp_path)
    assert (result.exit_code, result.stdout, result.stderr, result.timed_out) == \
        (4, f"{tmp_path}\n".encode(), b"err\n", False)
    assert result.output == f"{tmp_path}\nerr\n"


async def test_timeout_kills_the_exec_process(runc, tmp_path):
    start = time.monotonic()
    result = await exec_sync(runc, tmp_path, "c1", process=process(tmp_path, "sh", "-c", "echo started; exec sleep 30"),
                             timeout=0.5, scratch_dir=tmp_path)
    assert result.timed_out and result.stdout == b"started\n"
    assert time.monotonic() - start < 5


async def test_output_is_capped(runc, tmp_path):
    result = await exec_sync(runc, tmp_path, "c1", process=process(tmp_path, "sh", "-c", "head -c 200000 /dev/zero"),
                             timeout=10, scratch_dir=tmp_path)
    assert result.exit_code == 0 and len(result.stdout) == MAX_OUTPUT


async def test_runc_refusing_is_an_error(runc, tmp_path):
    with pytest.raises(ExecError, match="container does not exist"):
        await exec_sync(runc, tmp_path, "missing", process=process(tmp_path, "true"), timeout=10, scratch_dir=tmp_path)
