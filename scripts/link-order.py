#!/usr/bin/env python3
"""Writes crates/dialbridge/link-order.txt: the functions `dialbridge serve` runs, in two tiers.

The linker places the functions named in that file first in the executable's code, in the
file's order (crates/dialbridge/build.rs passes it to lld as `--symbol-ordering-file`). The
kernel maps an executable's code into a process 64 KiB around each page it runs, so code that
runs together should lie together: the first tier is what a process runs from start-up to idle
(start on a new database, the app's credentials, one account connected with its workflow
hook, the background loops ticking), the second what requests add (signed events and their
executions, an action, the proxy, listings, the OpenAPI document, the dashboard's sign-in
page). Everything else follows in the linker's own order.

The file names the symbols of one build: the `dist` profile of `dialbridge` built alone, by
this toolchain (symbol names carry a hash of the crate's version, features, dependencies and
rustc). After a toolchain upgrade, any change to the crates' dependencies (one added, removed
or upgraded changes the hashes of every crate above it), after new or rewritten code on the hot
path (the file cannot name it), or when the bench's row 7 says the file is stale (too few of
its names defined, or too much of the code idle `serve` maps holding none of them),
build and run this again:

    cargo build --profile dist --locked -p dialbridge
    scripts/link-order.py            # under a minute here; needs valgrind (callgrind)
    cargo build --profile dist --locked -p dialbridge   # relinks with the new order

It runs `serve` and the emulator from target/dist/dialbridge in a temporary folder, with
`serve` under callgrind (which records every function that ran), and talks to both over HTTP.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "dist", "dialbridge")
OUT = os.path.join(ROOT, "crates", "dialbridge", "link-order.txt")
ADMIN = "link-order-admin"
ACME = "5629499534213120"  # the emulator's default company
ACME_GENERAL = "4700000000000001"  # and its general channel
IDLE_SECONDS = 20  # the refresh loop ticks every 15 s, the execution poll more often


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None, token=None, content_type="application/json"):
    data = None
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("content-type", content_type)
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as e:
        text, status = e.read().decode(), e.code
    if status >= 400:
        sys.exit(f"{method} {url}: {status} {text}")
    return json.loads(text) if text.startswith(("{", "[")) else text


def wait_until_answering(url, process, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"{process.args[0]} exited ({process.returncode}) before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    sys.exit(f"{url} did not answer within {seconds} s")


def jwt_hs256(claims, secret):
    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


def hangup_event(n):
    """The claims of a `call.hangup` event, unique for each `n`."""
    return {"call_id": str(7_000_000_000_000_000 + n), "state": "hangup",
            "direction": "inbound", "external_number": "+14155550150",
            "event_timestamp": int(time.time() * 1000)}


class Serve:
    """`dialbridge serve` under callgrind, on a SQLite database in `data`."""

    def __init__(self, work, data, port, profile):
        self.base = f"http://127.0.0.1:{port}"
        self.profile = profile
        self.process = subprocess.Popen(
            [
                "valgrind", "--tool=callgrind", "--demangle=no", "--dump-instr=no",
                f"--callgrind-out-file={profile}",
                BIN, "serve", "--listen", f"127.0.0.1:{port}", "--api-key", ADMIN,
                "--database-url", f"sqlite://{data}/dialbridge.db",
            ],
            cwd=work,
            stdout=open(profile + ".log", "w"),
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith(("DIALBRIDGE_", "RUST_LOG"))},
        )
        wait_until_answering(f"{self.base}/healthz", self.process)

    def api(self, method, path, body=None):
        return call(method, self.base + path, body, token=ADMIN)

    def set_up(self, emulator_url, api_key, throttle=True):
        """The `custom` environment on the emulator (its throttle off unless `throttle`), the
        workflow `call.hangup` → one `set` step, and the account `acme` connected with
        `api_key` and the workflow enabled for it: the account's hook (`dialpad_events`)."""
        credentials = {"client_id": "dialbridge-dev", "client_secret": "dialbridge-dev-secret",
                       "base_url": emulator_url}
        if not throttle:
            credentials["rate_limits"] = {"enabled": False}
        self.api("PUT", "/api/v1/app/credentials/custom", credentials)
        self.api("PUT", "/api/v1/workflows/note_call", {
            "name": "Note the call", "trigger": {"type": "call.hangup"},
            "steps": [{"id": "note", "set": {"call": "{{ event.call_id }}"}}],
        })
        self.api("PUT", "/api/v1/accounts/acme", {})
        self.api("PUT", "/api/v1/accounts/acme/connection",
                 {"auth_type": "api_key", "api_key": api_key, "environment": "custom"})
        self.api("PUT", "/api/v1/accounts/acme/workflows/note_call", {"config": {}})
        return self.api("GET", "/api/v1/accounts/acme")["dialpad_events"]

    def stop(self):
        """Stops it as an operator would (SIGINT: graceful shutdown), so callgrind writes its file."""
        self.process.send_signal(signal.SIGINT)
        if self.process.wait(timeout=120) != 0:
            sys.exit(f"serve exited with {self.process.returncode}; see {self.profile}.log")


def functions_run(profile):
    """Names of the functions of the executable that ran, from a callgrind output file."""
    objects, names, ran, current = {}, {}, set(), None
    define = re.compile(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$")
    with open(profile, errors="replace") as lines:
        for line in lines:
            m = define.match(line.rstrip("\n"))
            if not m:
                continue
            kind, key, name = m.groups()
            table = objects if kind.endswith("ob") else names
            if name:
                table[key] = name
            if kind == "ob":
                current = objects.get(key)
            elif kind == "fn" and current == BIN:
                # callgrind marks recursion levels as `name'2`.
                ran.add(re.sub(r"'\d+$", "", names[key]))
    return ran


def main():
    if not os.access(BIN, os.X_OK):
        sys.exit(f"build it first: cargo build --profile dist --locked -p dialbridge ({BIN})")
    if not shutil.which("valgrind"):
        sys.exit("needs valgrind (callgrind records the functions that run): apt-get install valgrind")
    symbols = subprocess.run(["nm", "--defined-only", BIN], capture_output=True, text=True, check=True)
    code = {parts[2] for parts in map(str.split, symbols.stdout.splitlines())
            if len(parts) == 3 and parts[1] in "tTwW"}

    with tempfile.TemporaryDirectory(prefix="link-order-") as work:
        data = os.path.join(work, "data")
        os.mkdir(data)
        # One port for both runs of `serve`: the account's hook URL names it.
        serve_port, emulator_port = free_port(), free_port()
        emulator_url = f"http://127.0.0.1:{emulator_port}"
        emulator = subprocess.Popen(
            [BIN, "emulator", "--listen", f"127.0.0.1:{emulator_port}", "--no-rate-limits"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_answering(f"{emulator_url}/_control/operations", emulator)
            api_key = call("POST", f"{emulator_url}/_control/api-keys", {"company_id": ACME})["api_key"]

            # Tier 1: start-up on a new database, set-up, idle.
            first = os.path.join(work, "idle.callgrind")
            serve = Serve(work, data, serve_port, first)
            hook = serve.set_up(emulator_url, api_key)
            time.sleep(IDLE_SECONDS)
            serve.stop()

            # Tier 2: a restart, and what requests run.
            second = os.path.join(work, "busy.callgrind")
            serve = Serve(work, data, serve_port, second)
            webhook = call("GET", f"{emulator_url}/api/v2/webhooks/{hook['dialpad_webhook_id']}",
                           token=api_key)
            secret = webhook["signature"]["secret"]
            for n in range(20):
                call("POST", hook["hook_url"], jwt_hs256(hangup_event(n), secret),
                     content_type="application/jwt")
            deadline = time.time() + 120
            while len(serve.api("GET", "/api/v1/executions?account_id=acme&limit=200")["items"]) < 20:
                if time.time() > deadline:
                    sys.exit("the events' executions did not appear within 120 s")
                time.sleep(1)
            serve.api("POST", "/api/v1/accounts/acme/actions/get_channel", {"id": ACME_GENERAL})
            serve.api("GET", f"/proxy/acme/api/v2/channels/{ACME_GENERAL}")
            page = serve.api("GET", "/api/v1/executions?account_id=acme&limit=5")
            serve.api("GET", f"/api/v1/executions/{page['items'][0]['id']}")
            serve.api("GET", f"/api/v1/executions?account_id=acme&limit=5&cursor={page['cursor']}")
            serve.api("GET", "/api/v1/accounts")
            serve.api("GET", "/api/v1/app")
            serve.api("GET", "/api/v1/openapi.json")
            serve.api("GET", "/metrics")
            call("GET", f"{serve.base}/ui/sign-in")
            serve.stop()
        finally:
            emulator.terminate()
            emulator.wait()

        idle = functions_run(first) & code
        busy = functions_run(second) & code - idle

    with open(OUT, "w") as out:
        out.write(
            "# Generated by scripts/link-order.py: the functions `dialbridge serve` runs, which the\n"
            "# linker places first (crates/dialbridge/build.rs). Start-up to idle, then requests.\n"
        )
        for name in sorted(idle) + sorted(busy):
            out.write(name + "\n")
    print(f"{OUT}: {len(idle)} functions from start-up to idle, {len(busy)} more from requests "
          f"(of {len(code)} in the executable)")


if __name__ == "__main__":
    main()
