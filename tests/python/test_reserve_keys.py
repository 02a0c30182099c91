"""tether.attach with a reservation key, against a tetherd started with --reserve-keys: without
the key the server refuses, with it the slot is attached, and past the key's slot limit the
server refuses again."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import time

import pytest

from conftest import tetherd_path

import tether

TETHERD = tetherd_path()
pytestmark = pytest.mark.skipif(TETHERD is None, reason="tetherd is not built (build/bin/tetherd)")

KEY = "tk-python-test-key-0123456789"


@pytest.fixture
def keyed_server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keys = tmp_path / "keys"
    keys.write_text(f"py {hashlib.sha256(KEY.encode()).hexdigest()} 1 3600\n")
    state = tmp_path / "state"
    log = open(tmp_path / "tetherd.log", "w")
    proc = subprocess.Popen([str(TETHERD), "--listen", f"127.0.0.1:{port}", "--slots", "cpu.small=2",
                             "--reserve-keys", str(keys), "--state-dir", str(state), "--peak-gflops", "10"],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                pytest.fail("tetherd did not start listening:\n" + (tmp_path / "tetherd.log").read_text())
            time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def test_attach_needs_the_key_and_respects_its_limit(keyed_server, monkeypatch):
    monkeypatch.delenv("TETHER_RESERVE_KEY", raising=False)
    # the command line's errors reach Python as the class of the server's status, with its reason
    with pytest.raises(tether.AuthError, match="needs a reservation key"):
        tether.attach("cpu.small", keyed_server)
    with pytest.raises(tether.AuthError, match="not one this server knows") as e:
        tether.attach("cpu.small", keyed_server, key="tk-wrong")
    assert e.value.status_name == "TETHER_ERR_AUTH"
    acc = tether.attach("cpu.small", keyed_server, key=KEY)
    assert acc["type"] == "cpu.small"
    with pytest.raises(tether.QuotaError, match="1 of its 1"):
        tether.attach("cpu.small", keyed_server, key=KEY)
    tether.detach(acc["ordinal"])
