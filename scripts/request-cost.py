#!/usr/bin/env python3
"""Instructions `dialbridge serve` executes per request, counted by callgrind.

The bench's rows 1 and 2 measure time, and on this shared 2-core machine two runs of the same
build differ by a tenth; a change that saves a few percent of `serve`'s work does not show in
them. An instruction count does not depend on the hour: the same build gives the same figure to
within a percent. This counts, for a build in `--bin` (default target/dist):

- `serve` (under callgrind) answering a proxied `GET /proxy/acme/api/v2/channels/{id}`, the
  action `get_channel`, and `GET /healthz`, one keep-alive connection, `--requests` of each;
- a signed `call.hangup` event posted to the account's hook and the execution of the one-`set`
  workflow it starts (row 3's and 4's unit of work), one at a time: each event is a batch of
  one, so its commit is counted whole where the bench's 64 connections share it;
- beside them, the bench's bare relay (`dialbridge-bench --relay-to`, the same GET through axum
  and reqwest and nothing else) under callgrind: what any hop on this stack costs.

Both talk to the emulator (`--no-rate-limits`, not counted), with the `custom` environment's
throttle off, as in the bench. Counters are zeroed after a warm-up, so start-up, the first
connection and the first token are not counted; the background loops are, for the second or
two each window lasts (a few hundred instructions per request at most).

    cargo build --profile dist --locked -p dialbridge -p dialbridge-bench
    scripts/request-cost.py                  # about a minute; needs valgrind (callgrind)
    scripts/request-cost.py --bin /tmp/before --keep /tmp/before-cost   # an older build, files kept

`--keep DIR` keeps each window's callgrind file (`callgrind_annotate --inclusive=yes FILE`
shows where the instructions went).
"""

import argparse
import glob
import http.client
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
lo = importlib.import_module("link-order")  # its helpers: free ports, HTTP calls, `Serve`

WARM_UP = 100


def totals(profile):
    """The instructions a callgrind output file counts."""
    with open(profile, errors="replace") as lines:
        for line in lines:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    sys.exit(f"{profile}: no totals")


class Counted:
    """A process under callgrind whose counters are zeroed and dumped around each window."""

    def __init__(self, pid, profile, keep):
        self.pid, self.profile, self.keep = str(pid), profile, keep

    def window(self, name, drive, requests):
        drive(WARM_UP)
        subprocess.run(["callgrind_control", "-z", self.pid], check=True, capture_output=True)
        drive(requests)
        subprocess.run(["callgrind_control", "-d", name, self.pid], check=True, capture_output=True)
        dumps = [p for p in glob.glob(self.profile + ".*") if not p.endswith(".log")]
        latest = max(dumps, key=os.path.getmtime)
        if self.keep:
            shutil.copy(latest, os.path.join(self.keep, f"{name}.callgrind"))
        return totals(latest) / requests


def driver(port, method, path, token, body=None):
    """Sends `n` requests on one keep-alive connection; all must be 200."""

    def drive(n):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"authorization": f"Bearer {token}"}
        if body is not None:
            headers["content-type"] = "application/json"
        for _ in range(n):
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            text = answer.read()
            if answer.status != 200:
                sys.exit(f"{method} {path}: {answer.status} {text[:300]!r}")
        connection.close()

    return drive


def event_driver(port, path, secret):
    """Posts `n` unique signed `call.hangup` events on one keep-alive connection."""
    sent = [0]

    def drive(n):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(n):
            sent[0] += 1
            connection.request("POST", path, body=lo.jwt_hs256(lo.hangup_event(sent[0]), secret),
                               headers={"content-type": "application/jwt"})
            answer = connection.getresponse()
            text = answer.read()
            outcome = json.loads(text) if answer.status == 200 else {}
            if outcome.get("duplicate") is not False or len(outcome.get("executions", [])) != 1:
                sys.exit(f"POST {path}: {answer.status} {text[:300]!r}")
        connection.close()

    return drive


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.path.join(lo.ROOT, "target", "dist"),
                        help="folder holding dialbridge and dialbridge-bench (dist builds)")
    parser.add_argument("--requests", type=int, default=1000, help="requests counted per row")
    parser.add_argument("--keep", help="folder to keep each window's callgrind file in")
    args = parser.parse_args()
    serve_bin = os.path.join(args.bin, "dialbridge")
    bench_bin = os.path.join(args.bin, "dialbridge-bench")
    for binary in (serve_bin, bench_bin):
        if not os.access(binary, os.X_OK):
            sys.exit(f"build it first: cargo build --profile dist --locked -p dialbridge "
                     f"-p dialbridge-bench ({binary})")
    if not shutil.which("callgrind_control"):
        sys.exit("needs valgrind (callgrind counts the instructions): apt-get install valgrind")
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    lo.BIN = serve_bin

    with tempfile.TemporaryDirectory(prefix="request-cost-") as work:
        data = os.path.join(work, "data")
        os.mkdir(data)
        serve_port, emulator_port, relay_port = lo.free_port(), lo.free_port(), lo.free_port()
        emulator_url = f"http://127.0.0.1:{emulator_port}"
        emulator = subprocess.Popen(
            [serve_bin, "emulator", "--listen", f"127.0.0.1:{emulator_port}", "--no-rate-limits"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        relay = None
        try:
            lo.wait_until_answering(f"{emulator_url}/_control/operations", emulator)
            api_key = lo.call("POST", f"{emulator_url}/_control/api-keys",
                              {"company_id": lo.ACME})["api_key"]
            channel = f"/api/v2/channels/{lo.ACME_GENERAL}"

            profile = os.path.join(work, "serve.callgrind")
            serve = lo.Serve(work, data, serve_port, profile)
            hook = serve.set_up(emulator_url, api_key, throttle=False)
            secret = lo.call("GET", f"{emulator_url}/api/v2/webhooks/{hook['dialpad_webhook_id']}",
                             token=api_key)["signature"]["secret"]
            hook_path = "/" + hook["hook_url"].split("/", 3)[3]
            counted = Counted(serve.process.pid, profile, args.keep)
            rows = [
                ("proxy", f"proxy `GET /proxy/acme{channel}`",
                 driver(serve_port, "GET", f"/proxy/acme{channel}", lo.ADMIN)),
                ("action", "action `get_channel`",
                 driver(serve_port, "POST", "/api/v1/accounts/acme/actions/get_channel", lo.ADMIN,
                        json.dumps({"id": lo.ACME_GENERAL}))),
                ("healthz", "`GET /healthz` (no hop: `serve`'s HTTP floor)",
                 driver(serve_port, "GET", "/healthz", lo.ADMIN)),
                ("event", "signed event stored, its `set` execution run",
                 event_driver(serve_port, hook_path, secret)),
            ]
            figures = [(label, counted.window(name, drive, args.requests))
                       for name, label, drive in rows]
            serve.stop()

            relay_profile = os.path.join(work, "relay.callgrind")
            relay = subprocess.Popen(
                ["valgrind", "--tool=callgrind", "--demangle=no", "--dump-instr=no",
                 f"--callgrind-out-file={relay_profile}", bench_bin,
                 "--relay-to", emulator_url, "--relay-listen", f"127.0.0.1:{relay_port}"],
                cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            deadline = time.time() + 120
            while True:
                try:
                    probe = http.client.HTTPConnection("127.0.0.1", relay_port, timeout=5)
                    probe.connect()
                    probe.close()
                    break
                except OSError:
                    if relay.poll() is not None or time.time() > deadline:
                        sys.exit("the bare relay did not start")
                    time.sleep(0.2)
            relay_cost = Counted(relay.pid, relay_profile, args.keep).window(
                "relay", driver(relay_port, "GET", channel, api_key), args.requests)
        finally:
            if relay is not None:
                relay.kill()
                relay.wait()
            emulator.terminate()
            emulator.wait()

    print(f"instructions per request, {args.requests} requests each on one connection, "
          f"callgrind ({serve_bin})")
    print(f"{'bare relay: the same GET, straight through':58} {relay_cost:9,.0f}")
    for label, cost in figures:
        ratio = f"   ×{cost / relay_cost:.2f} of the relay" if label.startswith(("proxy", "action")) else ""
        print(f"{label:58} {cost:9,.0f}{ratio}")


if __name__ == "__main__":
    main()
