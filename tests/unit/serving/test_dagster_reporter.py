"""The ticker service reports runless materialisations to the Dagster webserver's REST endpoint: at most
once per interval, only when rows changed, and an unreachable webserver never raises."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from serving.ticker_service import DagsterReporter


def test_reports_changed_rows_once_per_interval_and_survives_an_unreachable_webserver():
    got = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = DagsterReporter(f"http://127.0.0.1:{server.server_port}", every_s=3600)
        r.add(0)          # nothing changed: no report
        r.add(5)          # first change: reported
        r.add(7)          # within the interval: accumulated
        assert got == [("/report_asset_materialization/serving_latest_ticker",
                        {"metadata": {"rows_changed": 5}, "description": "serving-ticker"})]
        assert r.changed == 7
    finally:
        server.shutdown()
    down = DagsterReporter("http://127.0.0.1:9", every_s=0)  # nothing listens on port 9
    down.add(3)
    assert down.changed == 3  # kept for the next attempt
