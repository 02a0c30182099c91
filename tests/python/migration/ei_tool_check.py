"""A health check as Elastic Inference users scripted it around the EI tool
(`ei describe-accelerators -j`), run unchanged but for the tool's path.

usage: ei_tool_check.py [EXPECTED_COUNT]   (EI_VISIBLE_DEVICES picks the devices)"""
import json
import subprocess
import sys

EI_TOOL = "tether"  # was: EI_TOOL = "/opt/amazon/ei/ei_tools/bin/ei"

out = subprocess.run([EI_TOOL, "describe-accelerators", "-j"], check=True, capture_output=True, text=True).stdout
info = json.loads(out)
print("EI client version:", info["ei_client_version"])
print("attached accelerators:", info["attached_accelerators"])
for dev in info["devices"]:
    print(f"  ordinal {dev['ordinal']}: {dev['type']} {dev['id']} {dev['status']}")

unhealthy = [d for d in info["devices"] if d["status"] != "healthy"]
if unhealthy:
    sys.exit(f"unhealthy accelerators: {[d['id'] for d in unhealthy]}")
if len(sys.argv) > 1 and info["attached_accelerators"] != int(sys.argv[1]):
    sys.exit(f"expected {sys.argv[1]} accelerators, found {info['attached_accelerators']}")
print("all accelerators healthy")
