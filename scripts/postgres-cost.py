#!/usr/bin/env python3
"""Instructions PostgreSQL's server executes per event `dialbridge serve` ingests, by callgrind.

The bench's row 3 gives PostgreSQL's CPU per event by time, and on this shared 2-core machine
that figure moves by a third between runs of the same build. This counts instructions instead:
a PostgreSQL cluster of its own (initdb in a temporary folder, the machine's `postgres`
binaries) runs under callgrind, counting what its backends and auxiliary processes (WAL
writer, checkpointer, background writer) run, not the start-up each forked process inherits
from the postmaster, nor autovacuum; `serve` (a dist build from
`--bin`, not under callgrind) stores signed `call.hangup` events in it for the account with
the one-`set`-step workflow, as in row 3, from `--concurrency` connections at once so that its
event writer commits them in batches.

Each count is one whole run of the cluster, started fresh: the set-up and a warm-up of 300
events alone, then the same followed by `--events` more. The difference, divided by
`--events`, is the server's work per event. The set-up alone repeats to within 2 million
instructions; two runs of one build gave per-event figures 4k and 6k apart (of ~450k) at the
default 12,800 events: what runs by the clock differs a little from run to run.
The server offers TLS when the machine has Debian's snakeoil certificate, as the machine's
PostgreSQL does, so `serve` talks to it over TLS, as in the bench.

    cargo build --profile dist --locked -p dialbridge
    scripts/postgres-cost.py                       # about three minutes; needs valgrind
    scripts/postgres-cost.py --bin /tmp/before     # an older build

Run as root it runs the cluster as the `postgres` user (PostgreSQL refuses to run as root).
"""

import argparse
import glob
import http.client
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
lo = importlib.import_module("link-order")  # its helpers: free ports, HTTP calls, set-up
cost = importlib.import_module("request-cost")  # callgrind totals, the sequential driver

WARM_UP = 300
CERT = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
KEY = "/etc/ssl/private/ssl-cert-snakeoil.key"


def postgres_bin():
    """The folder of the machine's PostgreSQL server binaries."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if found:
        return os.path.dirname(found[-1])
    if shutil.which("postgres"):
        return os.path.dirname(shutil.which("postgres"))
    sys.exit("needs PostgreSQL's server binaries (postgres, initdb)")


class Cluster:
    """A PostgreSQL cluster in `folder`, run under callgrind while started."""

    def __init__(self, folder, bindir):
        self.folder, self.bindir = folder, bindir
        self.data = os.path.join(folder, "data")
        self.sockets = os.path.join(folder, "sockets")
        self.profiles = os.path.join(folder, "profiles")
        self.port = lo.free_port()
        self.user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        os.makedirs(self.sockets)
        if self.user:
            subprocess.run(["chown", "-R", "postgres", folder], check=True)
        subprocess.run(self.user + [os.path.join(bindir, "initdb"), "-D", self.data, "-A", "trust",
                                    "-U", "postgres", "--locale=C.UTF-8"],
                       check=True, capture_output=True)
        self.process = None

    def start(self):
        shutil.rmtree(self.profiles, ignore_errors=True)
        os.makedirs(self.profiles)
        if self.user:
            subprocess.run(["chown", "postgres", self.profiles], check=True)
        tls = ["-c", "ssl=off"]
        if os.access(CERT, os.R_OK):
            tls = ["-c", "ssl=on", "-c", f"ssl_cert_file={CERT}", "-c", f"ssl_key_file={KEY}"]
        self.process = subprocess.Popen(
            self.user + ["valgrind", "--tool=callgrind", "--trace-children=yes", "--dump-instr=no",
                         # Only what a process does as a backend or as one of the server's
                         # auxiliary processes (WAL writer, checkpointer, background writer):
                         # not the start-up each forked process inherits from the postmaster.
                         "--collect-atstart=no", "--toggle-collect=PostgresMain",
                         "--toggle-collect=AuxiliaryProcessMain",
                         f"--callgrind-out-file={self.profiles}/postgres.%p",
                         os.path.join(self.bindir, "postgres"), "-D", self.data,
                         "-p", str(self.port), "-k", self.sockets,
                         "-c", "listen_addresses=127.0.0.1"] + tls,
            stdout=open(os.path.join(self.folder, "postgres.log"), "a"), stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 300
        while subprocess.run([os.path.join(self.bindir, "pg_isready"), "-q", "-h", self.sockets,
                              "-p", str(self.port)]).returncode != 0:
            if self.process.poll() is not None or time.time() > deadline:
                sys.exit(f"PostgreSQL did not start; see {self.folder}/postgres.log")
            time.sleep(0.5)
        self.psql("DROP DATABASE IF EXISTS cost")
        self.psql("CREATE DATABASE cost")
        return f"postgres://postgres@127.0.0.1:{self.port}/cost"

    def psql(self, sql):
        subprocess.run([os.path.join(self.bindir, "psql"), "-h", self.sockets, "-p", str(self.port),
                        "-U", "postgres", "-d", "postgres", "-qc", sql],
                       check=True, capture_output=True)

    def stop(self):
        """Stops the cluster (callgrind writes each process's file) and answers its total."""
        subprocess.run(self.user + [os.path.join(self.bindir, "pg_ctl"), "-D", self.data,
                                    "-m", "fast", "stop"], capture_output=True)
        self.process.wait(timeout=300)
        return sum(cost.totals(p) for p in glob.glob(os.path.join(self.profiles, "postgres.*")))


def post_events(port, path, secret, events, concurrency):
    """Posts `events` unique signed events from `concurrency` connections; all must be 200."""
    failures = []

    def connection(c):
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        for i in range(events // concurrency):
            claims = lo.hangup_event(1_000_000 * (c + 1) + i)
            client.request("POST", path, body=lo.jwt_hs256(claims, secret),
                           headers={"content-type": "application/jwt"})
            answer = client.getresponse()
            text = answer.read()
            if answer.status != 200:
                failures.append(f"{answer.status} {text[:300]!r}")
                return

    threads = [threading.Thread(target=connection, args=(c,)) for c in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        sys.exit(f"POST {path}: {failures[0]}")


def counted_run(cluster, serve_bin, work, events, concurrency):
    """PostgreSQL's instructions for the set-up, the warm-up and `events` events."""
    url = cluster.start()
    serve_port, emulator_port = lo.free_port(), lo.free_port()
    emulator_url = f"http://127.0.0.1:{emulator_port}"
    emulator = subprocess.Popen(
        [serve_bin, "emulator", "--listen", f"127.0.0.1:{emulator_port}", "--no-rate-limits"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIALBRIDGE_", "RUST_LOG"))}
    env["DIALBRIDGE_MASTER_KEY"] = "ab" * 32
    serve = subprocess.Popen(
        [serve_bin, "serve", "--listen", f"127.0.0.1:{serve_port}", "--api-key", lo.ADMIN,
         "--database-url", url],
        cwd=work, env=env, stdout=open(os.path.join(work, "serve.log"), "a"),
        stderr=subprocess.STDOUT,
    )
    try:
        lo.wait_until_answering(f"{emulator_url}/_control/operations", emulator)
        lo.wait_until_answering(f"http://127.0.0.1:{serve_port}/healthz", serve, seconds=300)
        api_key = lo.call("POST", f"{emulator_url}/_control/api-keys",
                          {"company_id": lo.ACME})["api_key"]

        class Api:
            base = f"http://127.0.0.1:{serve_port}"

            def api(self, method, path, body=None):
                return lo.call(method, self.base + path, body, token=lo.ADMIN)

        hook = lo.Serve.set_up(Api(), emulator_url, api_key, throttle=False)
        secret = lo.call("GET", f"{emulator_url}/api/v2/webhooks/{hook['dialpad_webhook_id']}",
                         token=api_key)["signature"]["secret"]
        path = "/" + hook["hook_url"].split("/", 3)[3]
        cost.event_driver(serve_port, path, secret)(WARM_UP)
        if events:
            post_events(serve_port, path, secret, events, concurrency)
    finally:
        serve.terminate()
        serve.wait()
        emulator.terminate()
        emulator.wait()
    return cluster.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.path.join(lo.ROOT, "target", "dist"),
                        help="folder holding dialbridge (a dist build)")
    parser.add_argument("--events", type=int, default=12_800, help="events counted")
    parser.add_argument("--concurrency", type=int, default=32, help="connections posting them")
    args = parser.parse_args()
    serve_bin = os.path.join(args.bin, "dialbridge")
    if not os.access(serve_bin, os.X_OK):
        sys.exit(f"build it first: cargo build --profile dist --locked -p dialbridge ({serve_bin})")
    if not shutil.which("valgrind"):
        sys.exit("needs valgrind (callgrind counts the instructions): apt-get install valgrind")
    events = args.events - args.events % args.concurrency
    with tempfile.TemporaryDirectory(prefix="postgres-cost-") as work:
        os.chmod(work, 0o755)
        cluster = Cluster(os.path.join(work, "cluster"), postgres_bin())
        base = counted_run(cluster, serve_bin, work, 0, args.concurrency)
        loaded = counted_run(cluster, serve_bin, work, events, args.concurrency)
    print(f"PostgreSQL's instructions, all its processes, callgrind ({serve_bin}):")
    print(f"{'set-up and warm-up alone':44} {base:16,}")
    print(f"{f'the same and {events:,} events':44} {loaded:16,}")
    print(f"{'per event':44} {(loaded - base) / events:16,.0f}")


if __name__ == "__main__":
    main()
