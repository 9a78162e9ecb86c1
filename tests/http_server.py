"""A loopback HTTP server serving one folder, for tests of download code (no outside network).

    with serve_directory(folder) as base_url:
      urllib.request.urlopen(base_url + '/file.tgz')

Binds 127.0.0.1 on a free port, answers GETs with Content-Length, and is shut down when the block
exits. `truncate={'name': n}` makes the server announce the full length but send only n bytes of that
file and close the connection, like a download that breaks off.
"""
import contextlib
import functools
import http.server
import os
import threading


class _Handler(http.server.SimpleHTTPRequestHandler):
  truncate = {}

  def log_message(self, *args):  # keep test output clean
    pass

  def do_GET(self):
    name = self.path.lstrip('/').split('?')[0]
    if name in self.truncate:
      path = os.path.join(self.directory, name)
      with open(path, 'rb') as f:
        data = f.read()
      self.send_response(200)
      self.send_header('Content-Type', 'application/octet-stream')
      self.send_header('Content-Length', str(len(data)))
      self.end_headers()
      self.wfile.write(data[:self.truncate[name]])
      self.wfile.flush()
      self.close_connection = True
      return
    return super().do_GET()


@contextlib.contextmanager
def serve_directory(directory, truncate=None):
  """Serves `directory` on http://127.0.0.1:<random port>; yields the base URL."""
  handler = type('Handler', (_Handler,), {'truncate': dict(truncate or {})})
  server = http.server.ThreadingHTTPServer(
      ('127.0.0.1', 0), functools.partial(handler, directory=directory))
  server.daemon_threads = True
  thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05},
                            daemon=True)
  thread.start()
  # A proxy configured in the environment must not receive requests meant for this server.
  saved = {key: os.environ.get(key) for key in ('no_proxy', 'NO_PROXY')}
  for key, value in saved.items():
    os.environ[key] = ','.join(filter(None, [value, '127.0.0.1', 'localhost']))
  try:
    yield 'http://127.0.0.1:%d' % server.server_address[1]
  finally:
    for key, value in saved.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
