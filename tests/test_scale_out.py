"""Scale-out: scripts/serve_class.sh starts two app processes behind Debian's nginx; students'
sessions run through it, each stays on one process, and stopping the script stops everything."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLES
from tests.test_served import free_port

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed: run `apt-get install -y nginx` "
                                "(scripts/serve_class.sh does so itself when it may)")


def student(url: str, k: int) -> str:
    """Analyze, then run FPN: the second call needs the session state the first left in its process."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    picture = [SAMPLES / "coffee.png", SAMPLES / "chelsea.png"][k % 2]
    top5, *_, status = client.predict(handle_file(str(picture)), "cpu", "C3", api_name="/analyze")
    summary = client.predict("FPN", 64, 5, "False", api_name="/fpn_run")[0]
    assert "FPN" in summary and "Outputs" in summary
    return top5["label"]


@pytest.mark.slow
def test_two_processes_behind_nginx_keep_each_session_on_one_process(tmp_path):
    run_dir, port = tmp_path / "run", free_port()
    env = dict(os.environ, NECKLAB_RUN_DIR=str(run_dir))
    script = subprocess.Popen(["bash", "scripts/serve_class.sh", "2", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        line = script.stdout.readline()  # printed once every process answers
        assert f"http://127.0.0.1:{port}/" in line, line + script.stdout.read()
        url = f"http://127.0.0.1:{port}/"
        page = httpx.get(url, timeout=30, trust_env=False)
        assert page.status_code == 200 and "necklab_session=" in page.headers["set-cookie"]
        app_pids = [int((run_dir / f"app-{i}.pid").read_text()) for i in (1, 2)]
        with ThreadPoolExecutor(4) as pool:
            labels = list(pool.map(lambda k: student(url, k), range(4)))
        assert labels == ["espresso", "Egyptian cat"] * 2
    finally:
        script.send_signal(signal.SIGTERM)
        out = script.communicate(timeout=60)[0]
    assert "stopped nginx and 2 NeckLab process(es)" in out  # printed after the script has reaped them all
    assert not [pid for pid in app_pids if Path(f"/proc/{pid}").exists()]
    # Stickiness: every request carrying a session's cookie went to one process.
    requests, upstreams = defaultdict(int), defaultdict(set)
    for session, upstream in re.findall(r"session=(\w+) upstream=(\S+)", (run_dir / "nginx-access.log").read_text()):
        requests[session] += 1
        upstreams[session].add(upstream)
    students = [s for s, n in requests.items() if n >= 4]  # config, upload, two calls and their streams
    assert len(students) == 4 and all(len(upstreams[s]) == 1 for s in students), dict(upstreams)


@pytest.mark.slow
def test_processes_on_other_machines_are_served_through_nginx_with_its_limits(tmp_path):
    """UPSTREAMS lists NeckLab processes elsewhere (here: one in this test process, standing in for
    another machine); with N=0 nginx sends everyone there, and refuses an oversized body itself."""
    import app
    from necklab.ui.fair_queue import serve_fairly
    from tests.test_served import free_port as port_for

    remote = serve_fairly(app.build_app())
    settings = app.launch_settings("127.0.0.1", port_for())
    remote.launch(prevent_thread_lock=True, quiet=True, **settings)
    address = f"127.0.0.1:{settings['server_port']}"
    run_dir, port = tmp_path / "run", free_port()
    env = dict(os.environ, NECKLAB_RUN_DIR=str(run_dir), UPSTREAMS=address)
    script = subprocess.Popen(["bash", "scripts/serve_class.sh", "0", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        line = script.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line and address in line, line + script.stdout.read()
        url = f"http://127.0.0.1:{port}/"
        assert student(url, 1) == "Egyptian cat"
        big = httpx.post(url + "gradio_api/upload", files={"files": ("big.png", bytes(28 * 1024 * 1024), "image/png")},
                         timeout=120, trust_env=False)
        assert big.status_code == 413
    finally:
        script.send_signal(signal.SIGTERM)
        out = script.communicate(timeout=60)[0]
        remote.close()
    assert "stopped nginx and 0 NeckLab process(es)" in out
    upstreams = set(re.findall(r"upstream=(\S+)", (run_dir / "nginx-access.log").read_text())) - {"-"}
    assert upstreams == {address}


def test_the_compose_recipe_renders_a_configuration_nginx_accepts(tmp_path):
    """No Docker engine runs here: the compose file's own shell command renders the template (with
    this machine's address for the `app` service, which only Docker's DNS knows) and nginx checks it."""
    import yaml

    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    command = compose["services"]["proxy"]["command"][2]
    command = (command.replace("/run/necklab", str(tmp_path)).replace("server app:7860", "server 127.0.0.1:7860")
               .replace("/etc/necklab/nginx.conf.template", str(ROOT / "deploy" / "nginx.conf.template"))
               .replace("exec nginx", f"{NGINX} -t"))
    checked = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    assert checked.returncode == 0 and "syntax is ok" in checked.stderr, checked.stderr
    assert compose["services"]["app"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / "deploy" / "Dockerfile").read_text().count("torch==2.13.0") == 1  # the pin, from the CPU index
