"""Offline: the app and a whole client session (gradio_client and a chromium page) run inside a new
network namespace with only loopback, and no Python process of either attempts a connection or a
name lookup for any other host (an audit hook in every Python process logs each attempt)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLES
from tests.test_served import analyse_in_browser, browser_page, free_port

ROOT = Path(__file__).resolve().parent.parent

# Imported by every Python process started with this folder on PYTHONPATH: logs each connection
# ("connect") and each attempt to reach another host ("OUTBOUND"), before any guard of the app runs.
SITECUSTOMIZE = '''
import os, sys
from necklab.ui.offline import outbound_host

_log = open(os.environ["NECKLAB_NET_LOG"], "a", buffering=1)

def _watch(event, args):
    if (host := outbound_host(event, args)) is not None:
        _log.write(f"OUTBOUND {event} {host} pid={os.getpid()}\\n")
    elif event == "socket.connect":
        _log.write(f"connect {args[1]} pid={os.getpid()}\\n")

sys.addaudithook(_watch)
'''


def namespaces_work() -> bool:
    try:
        return subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not namespaces_work(), reason="cannot create a network namespace here "
                                "(`unshare -rn` needs unprivileged user namespaces, or `ip` is missing)")


def client_session(url: str) -> None:
    """What a student does, run inside the namespace: API calls and a page in chromium."""
    from gradio_client import Client, handle_file

    end = time.monotonic() + 240
    while True:
        try:
            if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                break
        except httpx.HTTPError:
            if time.monotonic() > end:
                raise
            time.sleep(0.5)
    client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    top5, *_ = client.predict(handle_file(str(SAMPLES / "coffee.png")), "cpu", "C3", api_name="/analyze")
    assert top5["label"] == "espresso", top5
    assert "FPN" in client.predict("FPN", 64, 5, "False", api_name="/fpn_run")[0]
    assert "ASPP" in client.predict("ASPP", "12, 24, 36", 256, api_name="/aspp_run")[0]
    with browser_page(url) as (page, errors):
        analyse_in_browser(page, str(SAMPLES / "chelsea.png"))
        assert "Egyptian cat" in page.locator("#top5").inner_text()
    assert not errors, errors
    print("SESSION OK")


@pytest.mark.slow
def test_app_and_client_session_run_with_no_network_and_never_reach_out(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "net.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    py = sys.executable
    script = (f"ip link set lo up && "
              f"{{ {py} app.py --port {port} > {tmp_path}/app.log 2>&1 & app=$!; }} && "
              f"{py} -c 'from tests.test_offline import client_session; client_session(\"{url}\")'; "
              f"rc=$?; kill $app; wait $app; exit $rc")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}:{ROOT}", NECKLAB_NET_LOG=str(log))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(name, None)
    done = subprocess.run(["unshare", "-rn", "bash", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and "SESSION OK" in done.stdout, (done.stdout[-3000:], done.stderr[-3000:],
                                                                   (tmp_path / "app.log").read_text()[-3000:])
    attempts = log.read_text().splitlines()
    assert any(a.startswith("connect") for a in attempts), "the watch saw no connection at all"
    assert not [a for a in attempts if a.startswith("OUTBOUND")], attempts
