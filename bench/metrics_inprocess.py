"""In-process cost of pyfleet's generated wrapper, for bench/metrics.ts.

Usage: python metrics_inprocess.py CONTEXT REQUESTS REPEATS

Imports the generated pyfleet_app.py of a staged build context (the example Flask app wrapped with the
JSON access log and, when the context has metrics on, the request metrics) and calls it as a WSGI app,
GET /items/42 with no backend wait, REQUESTS times per repeat. No server, no socket, no other process
in the loop: what is left is the wrapper, Flask and the handler. Time is this process's CPU time
(time.process_time), so time the scheduler gives to other programs on a busy machine is not counted.
Prints one JSON object: the fastest repeat's CPU microseconds per request, the median repeat's, and
(with metrics) the request counter summed over the multiprocess files, which must equal the number of
requests made, or the run fails.
"""
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time


def main():
    context, requests, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    multiproc = tempfile.mkdtemp(prefix="pyfleet-bench-mp-")
    atexit.register(shutil.rmtree, multiproc, ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiproc
    os.environ["BACKEND_LATENCY_MS"] = "0"
    sys.path.insert(0, context)
    os.chdir(context)
    # The access log goes to stdout (fd 1) with os.write: send it to /dev/null, keep a copy of the real
    # stdout for the result.
    out = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)

    import pyfleet_app
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path="/items/42", method="GET").get_environ()
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def request():
        body = pyfleet_app.app(dict(environ), start_response)
        for _ in body:
            pass
        body.close()

    def run(n):
        del statuses[:]
        t0 = time.process_time()
        for _ in range(n):
            request()
        t = time.process_time() - t0
        if len(statuses) != n or any(not s.startswith("200 ") for s in statuses):
            raise SystemExit("not every request answered 200: %r" % sorted(set(statuses)))
        return t

    run(200)  # warm-up: imports, first series, caches
    made = 200
    per_request = []
    for _ in range(repeats):
        per_request.append(run(requests) / requests * 1e6)
        made += requests

    counted = None
    if pyfleet_app._METRICS:
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        counted = sum(s.value for m in registry.collect() if m.name == "http_requests" for s in m.samples if s.name == "http_requests_total")
        if counted != made:
            raise SystemExit("the request counter says %r, but %d requests were made" % (counted, made))
    out.write(json.dumps({"min_us": min(per_request), "median_us": statistics.median(per_request), "requests": made, "counted": counted}) + "\n")
    out.flush()


main()
