"""The model's handler on this machine, behind SageMaker's container contract: GET /ping
answers 200 once the model is loaded, POST /invocations runs input_fn -> predict_fn ->
output_fn. `aideploy up --target local` runs this; the endpoint runs the same handler in
the Hugging Face container."""

import importlib.util
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_DIR = os.path.join(HERE, "model")

spec = importlib.util.spec_from_file_location("inference", os.path.join(MODEL_DIR, "code", "inference.py"))
inference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(inference)
model = inference.model_fn(MODEL_DIR)


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, body, content_type="application/json"):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/ping":
            self._send(200, "{}")
        else:
            self._send(404, '{"error": "not found"}')

    def do_POST(self):
        if self.path != "/invocations":
            self._send(404, '{"error": "not found"}')
            return
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            data = inference.input_fn(body, self.headers.get("content-type", "application/json"))
            self._send(200, inference.output_fn(inference.predict_fn(data, model), "application/json"))
        except (ValueError, KeyError, TypeError) as e:
            self._send(400, '{"error": "%s"}' % str(e).replace('"', "'"))


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
