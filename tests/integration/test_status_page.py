#!/usr/bin/python3
"""The status page at / on tetherd's HTTP port, loaded in headless Chromium (Debian's
chromium) as a person would, and what it shows compared with the server's own DESCRIBE
document (and, for what DESCRIBE keeps for each slot's tenant, /metrics): the device, every
slot (type, state, holder, memory used and quota, rate, inferences) and every repository
model (requests, batch sizes). It must also be
self-contained: no script, style sheet, image or font from anywhere.

usage: test_status_page.py   (TETHERD and TETHER_CLI in the environment)"""
import html.parser, os, shutil, subprocess

import numpy as np

import serving_util as su
from serving_util import Server, Skip


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.slots, self.models, self.ids, self.external = [], [], {}, []
        self._row, self._cell, self._id = None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if k in a and (a[k].startswith("http") or a[k].startswith("//")):
                self.external.append((tag, a[k]))
        if tag in ("script", "link", "img", "iframe") and ("src" in a or tag == "link"):
            self.external.append((tag, a.get("src") or a.get("href")))
        if tag == "tr" and a.get("class") in ("slot", "model"):
            self._row = dict(a, cells=[])
            (self.slots if a["class"] == "slot" else self.models).append(self._row)
        if tag == "td" and self._row is not None:
            self._cell = ""
        if "id" in a:
            self._id = a["id"]
            self.ids[self._id] = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._id:
            self.ids[self._id] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row["cells"].append(self._cell.strip())
            self._cell = None
        if tag == "tr":
            self._row = None
        if tag in ("span", "p", "h1", "h2", "table"):
            self._id = None


def chromium_dom(url, d):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise Skip("chromium is not installed (scripts/deps.sh installs Debian's chromium)")
    prof = os.path.join(d, "chromium-profile")
    r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--no-first-run", "--user-data-dir=" + prof, "--virtual-time-budget=2000", "--dump-dom", url],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or "<html" not in r.stdout:
        raise AssertionError("chromium failed (%d): %s" % (r.returncode, r.stderr[-2000:]))
    return r.stdout


def test_status_page_shows_what_describe_says(d):
    su.onnx_or_skip()
    repo = os.path.join(d, "repo")
    su.add_model(repo, "dense", 1, su.dense_model, "slot = cpu.large\nmax_batch_size = 4\n")
    s = Server(d, repo, slots="cpu.medium=2,cpu.large=1")
    try:
        holder = "host <b>&'7'"  # escaped on the page, not markup
        n = su.Native(s.native)
        n.reserve("cpu.medium", holder)
        body, h = su.infer_json({"x": np.ones((2, 16), np.float32)})
        for _ in range(3):
            st, _, b = s.request("POST", "/v2/models/dense/infer", body, h)
            assert st == 200, b
        dom = chromium_dom("http://127.0.0.1:%d/" % s.port, d)
        desc = n.describe()
        n.close()
        # DESCRIBE keeps each slot's holder and activity for its own tenant; the page is the
        # operator's view, whose numbers /metrics gives
        m = s.metrics()
        for sl in desc["slots"]:
            sel = '{slot="%d",type="%s"}' % (sl["index"], sl["type"])
            sl.setdefault("memory_used_bytes", int(su.metric(m, "tetherd_slot_memory_used_bytes" + sel)))
            sl.setdefault("inferences", int(su.metric(m, "tetherd_slot_inferences_total" + sel)))
        p = Page()
        p.feed(dom)
        assert not p.external, "the page loads from elsewhere: %s" % p.external
        assert '<meta http-equiv="refresh"' in dom, "the page does not refresh itself"
        srv = desc["server"]
        assert p.ids["server-id"] == srv["id"], (p.ids.get("server-id"), srv["id"])
        assert p.ids["device"] == srv["device"], (p.ids.get("device"), srv["device"])
        assert int(p.ids["slot-count"]) == len(desc["slots"]) == len(p.slots) == 3
        for row, sl in zip(p.slots, desc["slots"]):
            assert int(row["data-slot"]) == sl["index"]
            assert row["data-type"] == sl["type"] and row["cells"][1] == sl["type"], (row, sl)
            assert row["data-state"] == sl["state"], (row, sl)
            assert int(row["data-memory-used"]) == sl["memory_used_bytes"], (row, sl)
            assert int(row["data-memory-quota"]) == sl["memory_quota_bytes"], (row, sl)
            assert abs(float(row["data-tflops"]) - sl["compute_tflops"]) <= 1e-5 * sl["compute_tflops"], (row, sl)
            assert int(row["data-inferences"]) == sl["inferences"], (row, sl)
            shown = "%.1f / %.1f MiB" % (sl["memory_used_bytes"] / 1048576, sl["memory_quota_bytes"] / 1048576)
            assert shown in row["cells"], (shown, row["cells"])
            if sl["state"] == "attached":
                assert row["cells"][3].startswith(holder) and "(eia-" in row["cells"][3], (row["cells"], sl)
        states = sorted(sl["state"] for sl in desc["slots"])
        assert states == ["attached", "free", "repository"], states
        assert len(p.models) == 1, p.models
        m = p.models[0]
        assert m["data-model"] == "dense" and m["data-version"] == "1" and m["data-requests"] == "3", m
        assert m["data-errors"] == "0" and float(m["data-mean-batch"]) == 2.0, m
        assert float(m["data-p99-ms"]) >= float(m["data-p50-ms"]) > 0, m
        large = [sl for sl in desc["slots"] if sl["type"] == "cpu.large"][0]
        assert int(m["data-slot"]) == large["index"] and large["inferences"] == 3, (m, large)
        if os.environ.get("STATUS_PAGE_SCREENSHOT"):  # for a person to look at
            subprocess.run([shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu",
                            "--user-data-dir=" + os.path.join(d, "p2"), "--window-size=1100,700",
                            "--screenshot=" + os.environ["STATUS_PAGE_SCREENSHOT"],
                            "http://127.0.0.1:%d/" % s.port], capture_output=True, timeout=120)
        s.stop()
    except BaseException:
        print(open(s.log).read()[-4000:])
        s.kill()
        raise


if __name__ == "__main__":
    su.run_tests([test_status_page_shows_what_describe_says])
