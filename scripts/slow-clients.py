#!/usr/bin/env python3
"""Floods a `dialbridge serve` process of its own with slow clients and reports its memory.

    scripts/slow-clients.py --bin target/release/dialbridge [--connections 3000] [--hold 20]
                            [-- more serve flags, e.g. --max-connections 4096]

Starts `BIN serve` on a free loopback port with a fresh SQLite database, reads VmRSS from
/proc/<pid>/status when it is idle, then opens --connections connections that each send an
unfinished request head (8 KiB of headers, then one more header byte a second: a slowloris),
samples VmRSS while they hold on for --hold seconds, closes them all, and reads VmRSS again
after --settle seconds. Prints one JSON line: the figures in MiB, how many connections got
through, and how many the server had closed by itself. Only loopback addresses are used; the
run is bounded in time and stops the server at the end. Standard library only.
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def rss_mib(pid):
    with open(f'/proc/{pid}/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f'no VmRSS for {pid}')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_healthy(base, server, limit=30):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f'the server exited with {server.returncode}')
        try:
            urllib.request.urlopen(f'{base}/healthz', timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError('the server did not answer /healthz')


HEAD = (b'POST /webhooks/dialpad/some-hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/jwt\r\n'
        + b''.join(b'X-Padding-%04d: %s\r\n' % (i, b'p' * 48) for i in range(128)))


class Client:
    def __init__(self):
        self.writer = None
        self.closed_by_server = False

    async def run(self, port, stop):
        try:
            reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection('127.0.0.1', port), timeout=5)
        except (OSError, asyncio.TimeoutError):
            return
        try:
            self.writer.write(HEAD)
            await self.writer.drain()
            while not stop.is_set():
                # One more byte of an endless header line a second; EOF means the server hung up.
                try:
                    data = await asyncio.wait_for(reader.read(1024), timeout=1)
                    if not data:
                        self.closed_by_server = True
                        return
                except asyncio.TimeoutError:
                    pass
                self.writer.write(b'X')
                await self.writer.drain()
        except OSError:
            self.closed_by_server = True
        finally:
            self.writer.close()


async def flood(port, pid, connections, hold):
    stop = asyncio.Event()
    clients = [Client() for _ in range(connections)]
    tasks = [asyncio.create_task(c.run(port, stop)) for c in clients]
    peak, started = 0.0, time.monotonic()
    while time.monotonic() - started < hold:
        await asyncio.sleep(0.5)
        peak = max(peak, rss_mib(pid))
    connected = sum(1 for c in clients if c.writer is not None)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        'peak_mib': peak,
        'connected': connected,
        'closed_by_server': sum(1 for c in clients if c.closed_by_server),
    }


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--bin', required=True, help='the dialbridge executable')
    parser.add_argument('--connections', type=int, default=3000)
    parser.add_argument('--hold', type=float, default=20.0, help='seconds the clients hold on')
    parser.add_argument('--settle', type=float, default=10.0, help='seconds to wait after they close')
    parser.add_argument('serve_args', nargs='*', help='more `serve` flags (after --)')
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith('DIALBRIDGE_')}
        env.setdefault('RUST_LOG', 'error')
        server = subprocess.Popen(
            [args.bin, 'serve', '--listen', f'127.0.0.1:{port}', '--api-key', 'flood-test',
             '--database-url', f'sqlite://{work}/data/dialbridge.db', *args.serve_args],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_healthy(f'http://127.0.0.1:{port}', server)
            time.sleep(1)
            idle = rss_mib(server.pid)
            result = asyncio.run(flood(port, server.pid, args.connections, args.hold))
            time.sleep(args.settle)
            after = rss_mib(server.pid)
            print(json.dumps({'connections': args.connections, 'serve_args': args.serve_args,
                              'idle_mib': idle, **result, 'after_mib': after}))
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
