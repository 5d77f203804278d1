#!/usr/bin/env python3
"""Runs the official Dialpad Python SDK (python-dialpad) against any Dialpad-compatible
base URL: the dialpad-emulator, dialbridge's proxy (<public_url>/proxy/<account_id>), or
Dialpad itself. Run it with the venv's python from scripts/python-sdk/setup-venv.sh.

    sdk_check.py --base-url http://127.0.0.1:8080 --token KEY --user-id 123 \
        users-get users-pages contacts-crud sms

The base URL is where `/api/v2/...` lives: the SDK appends `/api/v2/<resource>` itself.
Each option also comes from the environment: DIALPAD_BASE_URL, DIALPAD_TOKEN,
DIALPAD_USER_ID. Prints a JSON summary on stdout and exits 0 when every scenario passes;
on the first failure prints what failed and the HTTP requests made so far to stderr and
exits 1 (2 for bad arguments).

Scenarios:
  company        GET /api/v2/company
  users-get      GET /api/v2/users/{--user-id}
  users-pages    every user through the SDK's cursor paginator with ?limit=--page-size,
                 and again through users.list() (no limit); ids unique, both the same set,
                 more than one page when there are more users than the page size
  contacts-crud  create a shared contact, get it, update its last name, get it, delete
                 it; a get after that must fail with 404
  sms            send an SMS as --user-id to --sms-to; the response must carry an id
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import uuid
from importlib import metadata
from urllib.parse import parse_qs, urlsplit

try:
  from dialpad import AsyncDialpadClient, DialpadClient
except ImportError as e:  # pragma: no cover - depends on the interpreter
  sys.stderr.write(
    f'sdk_check.py: cannot import the Dialpad SDK ({e}); run it with the python that '
    'scripts/python-sdk/setup-venv.sh prints\n'
  )
  sys.exit(2)

import httpx
import requests

SCENARIOS = ('company', 'users-get', 'users-pages', 'contacts-crud', 'sms')


class CheckFailed(Exception):
  pass


def check(condition, message):
  if not condition:
    raise CheckFailed(message)


class Trace:
  """Every HTTP request the SDK makes, seen through its HTTP client's response hooks."""

  def __init__(self, echo):
    self.echo = echo
    self.entries = []

  def record(self, method, url, status, body_text):
    entry = {'method': method, 'url': url, 'status': status}
    try:
      parsed = json.loads(body_text) if body_text else None
    except ValueError:
      parsed = None
    entry['json'] = parsed
    self.entries.append(entry)
    if self.echo:
      sys.stderr.write(f'  -> {method} {url} -> {status}\n')

  def since(self, start):
    return self.entries[start:]

  def dump(self, out):
    if not self.entries:
      out.write('  (none completed)\n')
    for e in self.entries:
      out.write(f'  {e["method"]} {e["url"]} -> {e["status"]}\n')


class SyncDriver:
  """DialpadClient (requests): calls return values, lists are iterators."""

  name = 'sync'

  def __init__(self, base_url, token, trace):
    self.client = DialpadClient(token=token, base_url=base_url)

    def hook(response, *args, **kwargs):
      trace.record(response.request.method, response.request.url, response.status_code,
                   response.text)

    # The SDK's requests.Session: the only way to observe its requests from outside.
    self.client._session.hooks['response'].append(hook)

  def call(self, value):
    return value

  def collect(self, iterator):
    return list(iterator)

  @staticmethod
  def http_status(error):
    if isinstance(error, requests.HTTPError) and error.response is not None:
      return error.response.status_code
    return None

  def close(self):
    self.client._session.close()


class AsyncDriver:
  """AsyncDialpadClient (httpx): calls return coroutines, lists are async iterators."""

  name = 'async'

  def __init__(self, base_url, token, trace):
    self.loop = asyncio.new_event_loop()
    self.client = AsyncDialpadClient(token=token, base_url=base_url)

    async def hook(response):
      await response.aread()
      trace.record(response.request.method, str(response.request.url), response.status_code,
                   response.text)

    self.client._session.event_hooks['response'].append(hook)

  def call(self, coroutine):
    return self.loop.run_until_complete(coroutine)

  def collect(self, async_iterator):
    async def gather():
      return [item async for item in async_iterator]

    return self.loop.run_until_complete(gather())

  @staticmethod
  def http_status(error):
    if isinstance(error, httpx.HTTPStatusError):
      return error.response.status_code
    return None

  def close(self):
    self.loop.run_until_complete(self.client._session.aclose())
    self.loop.close()


def require_user_id(args):
  check(args.user_id, 'this scenario needs --user-id (or DIALPAD_USER_ID)')
  return args.user_id


def scenario_company(d, args, trace):
  company = d.call(d.client.company.get())
  check(isinstance(company, dict), f'company: expected a JSON object, got {company!r}')
  check(company.get('id'), f'company: no id in {company}')
  return {'id': str(company['id']), 'name': company.get('name')}


def scenario_users_get(d, args, trace):
  user_id = require_user_id(args)
  user = d.call(d.client.users.get(user_id))
  check(isinstance(user, dict), f'users.get: expected a JSON object, got {user!r}')
  check(str(user.get('id')) == str(user_id), f'users.get({user_id}): got id {user.get("id")!r}')
  return {'id': str(user['id']), 'display_name': user.get('display_name')}


def scenario_users_pages(d, args, trace):
  page_size = args.page_size
  # The SDK's users.list() has no `limit` argument (Dialpad soft-deprecated it), so the
  # small page size goes through the client's own paginator, which users.list() also uses:
  # it keeps the params and adds `cursor` from each response until a response has none.
  start = len(trace.entries)
  paged = d.collect(
    d.client.iter_request(method='GET', sub_path='/api/v2/users', params={'limit': page_size})
  )
  pages = [e for e in trace.since(start) if urlsplit(e['url']).path.endswith('/api/v2/users')]
  paged_ids = [str(u.get('id')) for u in paged]

  check(all(u.get('id') for u in paged), f'users: an item without id among {paged}')
  check(len(set(paged_ids)) == len(paged_ids), f'users: duplicate ids across pages: {paged_ids}')
  for i, page in enumerate(pages):
    items = (page['json'] or {}).get('items') or []
    check(len(items) <= page_size,
          f'users: page {i + 1} has {len(items)} items, more than limit={page_size}')
    query = parse_qs(urlsplit(page['url']).query)
    if i > 0:
      check(query.get('cursor'), f'users: page {i + 1} was requested without a cursor')
  if len(paged_ids) > page_size:
    check(len(pages) > 1,
          f'users: {len(paged_ids)} users came in one page despite limit={page_size}')

  start = len(trace.entries)
  listed = d.collect(d.client.users.list())
  listed_ids = [str(u.get('id')) for u in listed]
  list_pages = len(trace.since(start))
  check(len(set(listed_ids)) == len(listed_ids), f'users.list(): duplicate ids: {listed_ids}')
  check(set(listed_ids) == set(paged_ids),
        f'users.list() gave {sorted(listed_ids)} but limit={page_size} pages gave {sorted(paged_ids)}')

  if args.expect_users is not None:
    check(len(paged_ids) == args.expect_users,
          f'users: expected {args.expect_users} users, got {len(paged_ids)}: {paged_ids}')
  return {
    'count': len(paged_ids),
    'page_size': page_size,
    'pages': len(pages),
    'list_pages': list_pages,
    'ids': paged_ids,
  }


def expect_http_error(d, thunk, status, what):
  try:
    result = thunk()
  except Exception as e:  # noqa: BLE001 - any other exception is a failure, reported below
    got = d.http_status(e)
    check(got == status, f'{what}: expected HTTP {status}, got {type(e).__name__}: {e}')
    return
  raise CheckFailed(f'{what}: expected HTTP {status}, but it succeeded with {result!r}')


def scenario_contacts_crud(d, args, trace):
  suffix = uuid.uuid4().hex[:8]
  phone = f'+1415555{int(suffix[:4], 16) % 10000:04d}'
  email = f'sdk-check-{suffix}@example.com'
  body = {
    'first_name': 'Sdk',
    'last_name': f'Check-{suffix}',
    'phones': [phone],
    'emails': [email],
  }
  contacts = d.client.contacts
  created = d.call(contacts.create(body))
  check(isinstance(created, dict) and created.get('id'), f'contacts.create: no id in {created!r}')
  contact_id = str(created['id'])
  deleted = False
  try:
    for key in ('first_name', 'last_name'):
      check(created.get(key) == body[key], f'contacts.create: {key} {created.get(key)!r} != {body[key]!r}')
    check(phone in (created.get('phones') or []), f'contacts.create: {phone} not in {created.get("phones")!r}')
    check(email in (created.get('emails') or []), f'contacts.create: {email} not in {created.get("emails")!r}')
    if 'type' in created:
      check(created['type'] == 'shared', f'contacts.create without owner_id: type {created["type"]!r}')

    got = d.call(contacts.get(contact_id))
    check(str(got.get('id')) == contact_id, f'contacts.get({contact_id}): id {got.get("id")!r}')
    check(got.get('last_name') == body['last_name'], f'contacts.get: last_name {got.get("last_name")!r}')

    new_last = f'Updated-{suffix}'
    updated = d.call(contacts.partial_update(contact_id, {'last_name': new_last}))
    check(updated.get('last_name') == new_last, f'contacts.partial_update: last_name {updated.get("last_name")!r}')
    check(updated.get('first_name') == 'Sdk',
          f'contacts.partial_update changed first_name to {updated.get("first_name")!r}')
    check(phone in (updated.get('phones') or []),
          f'contacts.partial_update dropped phones: {updated.get("phones")!r}')

    again = d.call(contacts.get(contact_id))
    check(again.get('last_name') == new_last, f'contacts.get after update: last_name {again.get("last_name")!r}')

    removed = d.call(contacts.delete(contact_id))
    deleted = True
    if removed is not None:
      check(str(removed.get('id')) == contact_id, f'contacts.delete: returned {removed!r}')

    expect_http_error(d, lambda: d.call(contacts.get(contact_id)), 404,
                      f'contacts.get({contact_id}) after delete')
  finally:
    if not deleted:
      try:
        d.call(contacts.delete(contact_id))
      except Exception:  # noqa: BLE001 - best-effort cleanup; the real failure is raised
        pass
  return {'id': contact_id, 'phone': phone, 'email': email, 'last_name': new_last}


def scenario_sms(d, args, trace):
  user_id = require_user_id(args)
  text = f'dialbridge sdk check {uuid.uuid4().hex[:8]}'
  # SendSMSMessage.user_id is an int in the SDK's schema (the API also takes a string).
  body = {
    'user_id': int(user_id) if str(user_id).isdigit() else user_id,
    'to_numbers': [args.sms_to],
    'text': text,
  }
  sent = d.call(d.client.sms.send(body))
  check(isinstance(sent, dict) and sent.get('id'), f'sms.send: no id in {sent!r}')
  if 'to_numbers' in sent:
    check(args.sms_to in (sent['to_numbers'] or []), f'sms.send: to_numbers {sent["to_numbers"]!r}')
  if 'text' in sent:
    check(sent['text'] == text, f'sms.send: text {sent["text"]!r} != {text!r}')
  if 'user_id' in sent:
    check(str(sent['user_id']) == str(user_id), f'sms.send: user_id {sent["user_id"]!r} != {user_id!r}')
  return {'id': str(sent['id']), 'message_status': sent.get('message_status')}


RUNNERS = {
  'company': scenario_company,
  'users-get': scenario_users_get,
  'users-pages': scenario_users_pages,
  'contacts-crud': scenario_contacts_crud,
  'sms': scenario_sms,
}


def parse_args(argv):
  parser = argparse.ArgumentParser(
    description=__doc__.split('\n\n')[0],
    formatter_class=argparse.RawDescriptionHelpFormatter,
    epilog='scenarios: ' + ', '.join(SCENARIOS),
  )
  env = os.environ.get
  parser.add_argument('--base-url', default=env('DIALPAD_BASE_URL'),
                      help='root that /api/v2 hangs off, e.g. http://127.0.0.1:8080 or '
                           '<public_url>/proxy/<account_id> (env DIALPAD_BASE_URL)')
  parser.add_argument('--token', default=env('DIALPAD_TOKEN'),
                      help='API key or access token, sent as Authorization: Bearer (env DIALPAD_TOKEN)')
  parser.add_argument('--user-id', default=env('DIALPAD_USER_ID'),
                      help='a user of the company: users-get fetches it, sms sends as it (env DIALPAD_USER_ID)')
  parser.add_argument('--client', choices=('sync', 'async'), default='sync',
                      help='DialpadClient (requests) or AsyncDialpadClient (httpx); default sync')
  parser.add_argument('--page-size', type=int, default=2, help='users-pages: limit per page (default 2)')
  parser.add_argument('--expect-users', type=int, default=None,
                      help='users-pages: the exact number of users the company has')
  parser.add_argument('--sms-to', default='+14155550199', help='sms: the recipient (default +14155550199)')
  parser.add_argument('--timeout', type=float, default=60.0,
                      help='seconds for the whole run before it fails (default 60)')
  parser.add_argument('--trace', action='store_true', help='print every HTTP request to stderr')
  parser.add_argument('scenarios', nargs='+', metavar='SCENARIO', choices=SCENARIOS)
  args = parser.parse_args(argv)
  if not args.base_url:
    parser.error('--base-url (or DIALPAD_BASE_URL) is required')
  if not args.token:
    parser.error('--token (or DIALPAD_TOKEN) is required')
  if args.page_size < 1:
    parser.error('--page-size must be at least 1')
  # The SDK joins f'{base_url}/{path}': a trailing slash would make '//api/v2'.
  args.base_url = args.base_url.rstrip('/')
  return args


def main(argv):
  args = parse_args(argv)

  def on_alarm(signum, frame):
    raise CheckFailed(f'timed out after {args.timeout:g}s')

  if args.timeout > 0:
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, args.timeout)

  trace = Trace(echo=args.trace)
  driver = (AsyncDriver if args.client == 'async' else SyncDriver)(args.base_url, args.token, trace)
  summary = {
    'ok': True,
    'sdk': f'python-dialpad {metadata.version("python-dialpad")}',
    'client': driver.name,
    'base_url': args.base_url,
    'scenarios': {},
  }
  current = None
  try:
    for name in args.scenarios:
      current = name
      start, began = len(trace.entries), time.monotonic()
      if args.trace:
        sys.stderr.write(f'{name}:\n')
      result = RUNNERS[name](driver, args, trace)
      result['requests'] = len(trace.entries) - start
      result['seconds'] = round(time.monotonic() - began, 3)
      summary['scenarios'][name] = result
  except Exception as e:  # noqa: BLE001 - every failure ends the run with one clear report
    signal.setitimer(signal.ITIMER_REAL, 0)
    kind = '' if isinstance(e, CheckFailed) else f'{type(e).__name__}: '
    detail = ''
    status = driver.http_status(e)
    if status is not None:
      detail = f'\n  response body: {e.response.text[:2000]}'
    sys.stderr.write(
      f'sdk_check.py: FAILED scenario {current} ({driver.name} client, base URL {args.base_url}): '
      f'{kind}{e}{detail}\n'
    )
    sys.stderr.write('HTTP requests made:\n')
    trace.dump(sys.stderr)
    print(json.dumps({'ok': False, 'failed': current, 'error': f'{kind}{e}',
                      'passed': list(summary['scenarios'])}))
    return 1
  finally:
    try:
      driver.close()
    except Exception:  # noqa: BLE001
      pass
  signal.setitimer(signal.ITIMER_REAL, 0)
  print(json.dumps(summary))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
