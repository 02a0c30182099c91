"""tether advise, end to end through the command: every number in its JSON recomputed here
from the published prices and the issue's formula, the recommendation found by brute force,
the chart parsed as XML, the serverless crossover solved by hand."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import pytest

from conftest import run_cli, run_json

import tether

# Published us-east-1 on-demand Linux prices, 2019-2020, USD/hour: an independent copy.
HOST_PRICE = {"c5.large": 0.085, "c5.xlarge": 0.17, "c5.2xlarge": 0.34, "c5.4xlarge": 0.68, "m5.large": 0.096,
              "m5.xlarge": 0.192, "g4dn.xlarge": 0.526, "p2.xlarge": 0.90, "p3.2xlarge": 3.06}
ACCEL_PRICE = {"eia1.medium": 0.13, "eia1.large": 0.26, "eia2.medium": 0.12, "eia2.large": 0.24,
               "eia2.xlarge": 0.34}
GPU_HOSTS = {"g4dn.xlarge", "p2.xlarge", "p3.2xlarge"}

# (host, accelerator, mean ms, p90 ms): a sweep as the seeds measured one, roughly.
MEASURED = [
    ("c5.large", "", 180.0, 195.0),
    ("c5.xlarge", "", 95.0, 104.0),
    ("c5.2xlarge", "", 52.0, 58.0),
    ("m5.large", "", 190.0, 210.0),
    ("c5.large", "eia2.medium", 31.0, 36.0),
    ("c5.large", "eia2.large", 21.0, 25.0),
    ("c5.large", "eia2.xlarge", 15.0, 18.0),
    ("m5.large", "eia1.medium", 33.0, 41.0),
    ("g4dn.xlarge", "", 9.0, 10.5),
    ("p3.2xlarge", "", 5.0, 5.8),
]


def cost_per_100k(price: float, mean_ms: float) -> float:
    return price / 3600 * (mean_ms / 1000) * 100_000


def price_of(host: str, acc: str) -> float:
    return HOST_PRICE[host] + (ACCEL_PRICE[acc] if acc else 0.0)


@pytest.fixture
def sweep_csv(tmp_path):
    p = tmp_path / "sweep.csv"
    lines = ["host,accelerator,price_per_hour,mean_ms,p90_ms"]
    lines += [f"{h},{a},,{m},{p90}" for h, a, m, p90 in MEASURED]
    p.write_text("\n".join(lines) + "\n")
    return p


def expected(max_p90: float | None):
    rows = []
    for h, a, m, p90 in MEASURED:
        price = price_of(h, a)
        rows.append({"host": h, "accelerator": a or None, "price": price, "cost": cost_per_100k(price, m),
                     "mean": m, "p90": p90, "meets": max_p90 is None or p90 <= max_p90,
                     "class": "accelerated" if a else ("gpu-only" if h in GPU_HOSTS else "cpu-only")})
    rows.sort(key=lambda r: r["cost"])
    return rows


def key(r):
    return (r["host"], r["accelerator"])


@pytest.mark.parametrize("max_p90", [50.0, 20.0, 12.0])
def test_advise_json_matches_an_independent_computation(tmp_path, sweep_csv, max_p90):
    doc, proc = run_json("advise", sweep_csv, "--max-p90-ms", max_p90, "--json", "--no-svg", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    want = expected(max_p90)
    got = doc["rows"]
    assert [key(r) for r in got] == [key(r) for r in want]  # sorted by cost
    for g, w in zip(got, want):
        assert g["price_per_hour"] == pytest.approx(w["price"], rel=1e-12)
        assert g["cost_per_100k"] == pytest.approx(w["cost"], rel=1e-12)
        assert g["meets_constraints"] == w["meets"]
        assert g["class"] == w["class"]
        if w["meets"]:
            assert g["why_not"] is None
        else:
            assert f"p90 {g['p90_ms']:.3g} ms > {max_p90:.3g} ms" in g["why_not"]
    meeting = [w for w in want if w["meets"]]
    assert key(doc["recommended"]) == key(meeting[0])
    assert doc["reason"] is None
    assert key(doc["runner_up"]) == key(meeting[1])
    rec_cost = meeting[0]["cost"]
    for cls, name in (("cpu-only", "cpu_only"), ("gpu-only", "gpu_only")):
        pool = [w for w in want if w["class"] == cls]
        base = ([w for w in pool if w["meets"]] or pool)[0]
        s = doc["savings"][name]
        assert key(s["row"]) == key(base)
        assert s["fraction_saved"] == pytest.approx(1 - rec_cost / base["cost"], rel=1e-9)


def test_advise_text_output_names_the_recommendation(tmp_path, sweep_csv):
    proc = run_cli("advise", sweep_csv, "--max-p90-ms", 50, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    best = [w for w in expected(50.0) if w["meets"]][0]
    name = f"{best['host']} + {best['accelerator']}" if best["accelerator"] else best["host"]
    assert f"recommended: {name} at ${best['cost']:.5f}" in proc.stdout
    assert "runner-up:" in proc.stdout and "savings:" in proc.stdout
    assert "not meeting the constraints:" in proc.stdout and "c5.large: p90 195 ms > 50 ms" in proc.stdout
    assert (tmp_path / "advise.svg").is_file()  # the chart, by default next to the caller


def test_chart_is_valid_svg_with_a_bar_per_row(tmp_path, sweep_csv):
    svg = tmp_path / "chart.svg"
    doc, proc = run_json("advise", sweep_csv, "--max-p90-ms", 50, "--json", "--svg", svg)
    assert proc.returncode == 0 and doc["chart"] == str(svg)
    root = ET.parse(svg).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    bars = root.findall(".//s:rect[@class='bar']", ns)
    assert len(bars) == len(MEASURED)
    costs = [float(b.get("data-cost")) for b in bars]
    assert costs == pytest.approx([w["cost"] for w in expected(50.0)], rel=1e-5)
    # bar heights are proportional to cost
    heights = [float(b.get("height")) for b in bars]
    ratios = [h / c for h, c in zip(heights, costs)]
    assert max(ratios) == pytest.approx(min(ratios), rel=0.02)
    # one colour per family, different families different colours
    colour = {}
    for b in bars:
        colour.setdefault(b.get("data-family"), set()).add(b.get("fill"))
    assert all(len(c) == 1 for c in colour.values())
    assert len({next(iter(c)) for c in colour.values()}) == len(colour)
    assert set(colour) == {"c5", "m5", "eia2", "eia1", "g4dn", "p3"}
    points = root.findall(".//s:circle[@class='p90-point']", ns)
    assert [float(p.get("data-p90")) for p in points] == pytest.approx([w["p90"] for w in expected(50.0)])
    assert root.find(".//s:g[@class='limit']", ns) is not None


def test_no_row_meeting_the_constraints(tmp_path, sweep_csv):
    doc, proc = run_json("advise", sweep_csv, "--max-p90-ms", 1, "--json", "--no-svg")
    assert proc.returncode == 1
    assert doc["recommended"] is None and "none of the 10 rows" in doc["reason"]
    assert all(not r["meets_constraints"] for r in doc["rows"])


def test_memory_constraint_uses_accelerator_gpu_or_host_memory(tmp_path, sweep_csv):
    doc, proc = run_json("advise", sweep_csv, "--min-accelerator-memory", "6GiB", "--json", "--no-svg")
    assert proc.returncode == 0
    by = {key(r): r for r in doc["rows"]}
    assert not by[("c5.large", "eia2.medium")]["meets_constraints"]  # 2 GiB
    assert not by[("c5.large", "eia2.large")]["meets_constraints"]  # 4 GiB
    assert by[("c5.large", "eia2.xlarge")]["meets_constraints"]  # 8 GiB
    assert not by[("c5.large", None)]["meets_constraints"]  # 4 GiB of RAM
    assert by[("c5.xlarge", None)]["meets_constraints"]  # 8 GiB of RAM
    assert by[("g4dn.xlarge", None)]["device_memory"] == 16 * 2**30  # a T4
    assert "memory 2 GiB < 6 GiB" in by[("c5.large", "eia2.medium")]["why_not"]


def test_user_price_file_overrides_the_catalog(tmp_path, sweep_csv):
    prices = tmp_path / "prices.csv"
    prices.write_text("name,price_per_hour\nc5.large,0.01\neia2.medium,0.02\n")
    doc, proc = run_json("advise", sweep_csv, "--prices", prices, "--json", "--no-svg")
    assert proc.returncode == 0
    by = {key(r): r for r in doc["rows"]}
    assert by[("c5.large", "eia2.medium")]["price_per_hour"] == pytest.approx(0.03)
    assert by[("c5.large", "eia2.large")]["price_per_hour"] == pytest.approx(0.01 + 0.24)
    assert by[("m5.large", None)]["price_per_hour"] == pytest.approx(0.096)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,price_per_hour\nc5.large,free\n")
    proc = run_cli("advise", sweep_csv, "--prices", bad, "--no-svg")
    assert proc.returncode == 1 and "bad.csv:2" in proc.stderr


def test_monthly_volume_crossover(tmp_path, sweep_csv):
    volume = 2_000_000
    doc, proc = run_json("advise", sweep_csv, "--max-p90-ms", 50, "--monthly-volume", volume, "--json", "--no-svg")
    assert proc.returncode == 0, proc.stderr
    m = doc["monthly"]
    # the serverless duration defaults to the cheapest CPU-only row's mean
    cpu_rows = [w for w in expected(50.0) if w["class"] == "cpu-only"]
    duration = cpu_rows[0]["mean"]
    per_request = 0.20 / 1e6 + 0.0000166667 * (2048 / 1024) * math.ceil(duration) / 1000
    assert m["serverless"]["duration_ms"] == duration
    assert m["serverless"]["billed_ms"] == math.ceil(duration)
    # serverless runs on a CPU: at the cheapest CPU row's mean it misses a 50 ms p90 limit
    assert m["serverless"]["meets_constraints"] is (duration <= 50)
    assert (m["serverless"]["why_not"] is None) is (duration <= 50)
    assert m["serverless"]["per_request_usd"] == pytest.approx(per_request, rel=1e-12)
    assert m["serverless"]["monthly_usd"] == pytest.approx(volume * per_request, rel=1e-12)
    meeting = [w for w in expected(50.0) if w["meets"]]
    assert [(r["host"], r["accelerator"]) for r in m["always_on"]] == [key(w) for w in meeting]
    for r, w in zip(m["always_on"], meeting):
        monthly = w["price"] * 730
        capacity = 730 * 3600 * 1000 / w["mean"]
        assert r["monthly_usd"] == pytest.approx(monthly * math.ceil(volume / capacity), rel=1e-12)
        cross = monthly / per_request
        if cross <= capacity:
            assert r["crossover_volume"] == pytest.approx(cross, rel=1e-12)
            # at the crossover both cost the same
            assert cross * per_request == pytest.approx(monthly, rel=1e-12)
        else:
            assert r["crossover_volume"] is None
        assert r["cheaper"] == ("always-on" if r["monthly_usd"] < volume * per_request else "serverless")
    # the price model is a set of flags
    doc2, _ = run_json("advise", sweep_csv, "--monthly-volume", volume, "--json", "--no-svg", "--serverless-ms", 100,
                       "--serverless-memory-mb", 1024, "--serverless-request-price", 0.4,
                       "--serverless-gb-second-price", 0.00002)
    assert doc2["monthly"]["serverless"]["per_request_usd"] == pytest.approx(0.4e-6 + 0.00002 * 1 * 0.1, rel=1e-12)


def test_bench_json_feeds_advise(tmp_path, mlp_path):
    bench, proc = run_json("bench", mlp_path, "--json", "--runs", 20)
    assert proc.returncode == 0, proc.stderr
    f = tmp_path / "bench.json"
    f.write_text(json.dumps(bench))
    # measured on an unnamed host: unpriced, and advise says so
    doc, proc = run_json("advise", f, "--json", "--no-svg")
    assert proc.returncode == 1 and "no price for host 'local'" in doc["rows"][0]["why_not"]
    # --host names it; a second file (CSV) adds rows; '-' reads standard input
    doc, proc = run_json("advise", "-", "--host", "c5.large", "--json", "--no-svg", input=json.dumps(bench))
    assert proc.returncode == 0, proc.stderr
    row = doc["recommended"]
    assert row["host"] == "c5.large" and row["price_per_hour"] == 0.085
    assert row["cost_per_100k"] == pytest.approx(cost_per_100k(0.085, bench["rows"][0]["mean_ms"]), rel=1e-12)
    assert row["memory_needed"] == bench["rows"][0]["memory_needed"]


def test_input_errors_name_the_file_and_line(tmp_path):
    assert run_cli("advise", "--help").returncode == 0
    assert run_cli("advise").returncode == 2
    proc = run_cli("advise", tmp_path / "none.csv")
    assert proc.returncode == 1 and "none.csv" in proc.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("host,accelerator,price_per_hour,mean_ms,p90_ms\nc5.large,,,12,fast\n")
    proc = run_cli("advise", bad, "--no-svg")
    assert proc.returncode == 1 and "bad.csv:2: p90_ms 'fast'" in proc.stderr
    proc = run_cli("advise", bad, "--max-p90-ms", "soon")
    assert proc.returncode == 2 and "--max-p90-ms" in proc.stderr  # a usage error


def test_list_prices_shows_the_catalog():
    proc = run_cli("advise", "--list-prices")
    assert proc.returncode == 0
    for name in list(HOST_PRICE) + list(ACCEL_PRICE):
        assert name in proc.stdout


def test_python_advise_wrapper(tmp_path, sweep_csv):
    rows = [{"host": h, "accelerator": a or None, "mean_ms": m, "p90_ms": p} for h, a, m, p in MEASURED]
    from_rows = tether.advise(rows, max_p90_ms=50)
    from_file = tether.advise(sweep_csv, max_p90_ms=50)
    assert from_rows["rows"] == from_file["rows"]
    assert key(from_rows["recommended"]) == key([w for w in expected(50.0) if w["meets"]][0])
    none = tether.advise(sweep_csv, max_p90_ms=0.5)
    assert none["recommended"] is None
    svg = tmp_path / "c.svg"
    tether.advise(sweep_csv, svg=svg)
    assert svg.read_text().startswith("<?xml")


# ---- tables as the seeds printed them ----------------------------------------------------------

SEED_TABLE = """\
Results measured on a c5 host, batch size 1.

| Instance type | EI accelerator | Price per hour | Average latency (ms) | P90 latency (ms) | Cost per 100,000 inferences |
|---|---|---:|---:|---:|---:|
| C5.Large | eia.medium | $0.215 | 33 | 41 | $0.20 |
| C5.Large | EIA2.Medium | $0.205 | 31 | 36 | $0.18 |
| c5.XL | None | $0.17 | 95 | 104 | $0.45 |
| C5.4XL | - | $0.68 | 30 | | $0.57 |
| ml.g4dn.xlarge | N/A | $0.526 | 9 | 10.5 | $0.13 |
"""


def seed_rows():
    """(host, accelerator, price, mean, p90 or None) as the table means them."""
    return [("c5.large", "eia1.medium", 0.215, 33, 41), ("c5.large", "eia2.medium", 0.205, 31, 36),
            ("c5.xlarge", None, 0.17, 95, 104), ("c5.4xlarge", None, 0.68, 30, None),
            ("g4dn.xlarge", None, 0.526, 9, 10.5)]


def test_a_seed_table_as_printed(tmp_path):
    # pasted as it is, caption included
    table = tmp_path / "seed.md"
    table.write_text(SEED_TABLE)
    doc, proc = run_json("advise", table, "--max-p90-ms", 60, "--json", "--no-svg")
    assert proc.returncode == 0, proc.stderr
    got = {(r["host"], r["accelerator"]): r for r in doc["rows"]}
    for host, acc, price, mean, p90 in seed_rows():
        r = got[(host, acc)]
        assert r["price_per_hour"] == pytest.approx(price) and r["mean_ms"] == mean and r["p90_ms"] == p90
        assert r["cost_per_100k"] == pytest.approx(cost_per_100k(price, mean))
    # the row without a P90 cannot show it meets a P90 limit; without the limit it may win
    assert "p90 not measured" in got[("c5.4xlarge", None)]["why_not"]
    assert doc["recommended"]["host"] == "g4dn.xlarge"
    doc2, _ = run_json("advise", table, "--max-mean-ms", 40, "--json", "--no-svg")
    assert got[("c5.4xlarge", None)]["cost_per_100k"] > doc2["recommended"]["cost_per_100k"]
    assert doc2["rows"][0]["meets_constraints"]
    # text output: the table prints '-' where no P90 was measured
    proc = run_cli("advise", table, "--no-svg")
    line = [ln for ln in proc.stdout.splitlines() if "c5.4xlarge" in ln][0]
    assert " - " in line


def test_percentile_limits(tmp_path):
    t = tmp_path / "pct.csv"
    t.write_text("host,accelerator,price_per_hour,mean_ms,p90_ms,p95_ms,p99_ms\n"
                 "c5.large,eia2.medium,,20,24,26,40\n"
                 "c5.xlarge,,,30,33,34,35\n"
                 "c5.2xlarge,,,10,11,,\n")
    doc, proc = run_json("advise", t, "--max-p99-ms", 38, "--json", "--no-svg")
    assert proc.returncode == 0
    why = {r["host"]: r["why_not"] for r in doc["rows"]}
    assert why["c5.large"] == "p99 40 ms > 38 ms" and why["c5.2xlarge"] == "p99 not measured (a p99 limit was given)"
    assert doc["recommended"]["host"] == "c5.xlarge" and doc["constraints"]["max_p99_ms"] == 38
    doc, _ = run_json("advise", t, "--max-p95-ms", 25, "--json", "--no-svg")
    assert doc["recommended"] is None and doc["constraints"]["max_p95_ms"] == 25


def test_batched_rows_are_costed_per_sample_and_mixed_rows_refused(tmp_path):
    t = tmp_path / "batched.csv"
    t.write_text("host,accelerator,price_per_hour,mean_ms,p90_ms,batch,model\n"
                 "c5.large,eia2.medium,,40,44,8,resnet50.onnx\n"
                 "c5.xlarge,,,200,230,8,resnet50.onnx\n")
    doc, proc = run_json("advise", t, "--json", "--no-svg")
    assert proc.returncode == 0, proc.stderr
    assert doc["cost_unit"] == "per 100,000 samples"
    acc = [r for r in doc["rows"] if r["accelerator"]][0]
    assert acc["batch"] == 8 and acc["cost_per_100k"] == pytest.approx(cost_per_100k(0.085 + 0.12, 40) / 8)
    assert "$/100k smp." in run_cli("advise", t, "--no-svg").stdout
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(t.read_text() + "c5.2xlarge,,,60,70,1,resnet50.onnx\n")
    proc = run_cli("advise", mixed, "--no-svg")
    assert proc.returncode == 1 and "different batch sizes (8 and 1)" in proc.stderr and "--allow-mixed" in proc.stderr
    doc, proc = run_json("advise", mixed, "--allow-mixed", "--json", "--no-svg")
    assert proc.returncode == 0 and len(doc["rows"]) == 3
    models = tmp_path / "models.csv"
    models.write_text("host,accelerator,price_per_hour,mean_ms,model\nc5.large,,,10,resnet18.onnx\n"
                      "c5.large,eia2.medium,,5,resnet50.onnx\n")
    proc = run_cli("advise", models, "--no-svg")
    assert proc.returncode == 1 and "different models (resnet18.onnx and resnet50.onnx)" in proc.stderr


def test_utilization_for_the_serverless_comparison(tmp_path, sweep_csv):
    volume = 60_000_000
    full, _ = run_json("advise", sweep_csv, "--monthly-volume", volume, "--json", "--no-svg")
    half, proc = run_json("advise", sweep_csv, "--monthly-volume", volume, "--utilization", "50%", "--json", "--no-svg")
    assert proc.returncode == 0, proc.stderr
    assert full["monthly"]["utilization"] == 1 and half["monthly"]["utilization"] == 0.5
    for f, h in zip(full["monthly"]["always_on"], half["monthly"]["always_on"]):
        assert h["capacity_per_instance"] == pytest.approx(f["capacity_per_instance"] / 2)
        row = [w for w in expected(None) if key(w) == (h["host"], h["accelerator"])][0]
        assert h["instances"] == math.ceil(volume / (730 * 3600 * 1000 / row["mean"] * 0.5))
    proc = run_cli("advise", sweep_csv, "--monthly-volume", volume, "--utilization", "1.5")
    assert proc.returncode == 2 and "--utilization '1.5'" in proc.stderr


def test_python_advise_takes_the_new_options(tmp_path):
    rows = [{"host": "c5.large", "accelerator": None, "mean_ms": 10, "p99_ms": 30, "batch": 1, "model": "a.onnx"},
            {"host": "C5.XL", "accelerator": "eia.medium", "mean_ms": 4, "p99_ms": 9, "batch": 2, "model": "a.onnx"}]
    with pytest.raises(tether.TetherError, match="different batch sizes"):
        tether.advise(rows)
    doc = tether.advise(rows, allow_mixed=True, max_p99_ms=20, monthly_volume=1000, utilization=0.25)
    assert doc["recommended"]["host"] == "c5.xlarge" and doc["recommended"]["accelerator"] == "eia1.medium"
    assert doc["monthly"]["utilization"] == 0.25
