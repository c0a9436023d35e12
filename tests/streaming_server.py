"""An OpenAI-compatible streaming server whose timing is known, for the offline benchmark tests.

It answers /health, /v1/models and streaming /v1/chat/completions like vLLM does: a role chunk,
then the first token after `ttft_s`, then `tokens_per_chunk` tokens every `interval_s`, with
usage in every chunk (continuous_usage_stats), a usage-only chunk and [DONE]. Chunk times are
scheduled from the first token, so sleep overshoot does not accumulate: a client that measures
(last token - first token) / (tokens - 1) should get interval_s / tokens_per_chunk.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "Qwen/Qwen3-32B"


@dataclass(frozen=True)
class Behaviour:
    tokens_per_chunk: int
    interval_s: float
    ttft_s: float = 0.05
    prompt_tokens: int = 64
    usage: bool = True  # report token usage in the stream, as vLLM does when asked

    @property
    def itl_ms(self) -> float:
        return 1000 * self.interval_s / self.tokens_per_chunk


def _handler(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _send_json(self, status: int, body: dict | None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send_json(200, None)
            elif self.path == "/v1/models":
                self._send_json(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            else:
                self._send_json(404, {"error": "not found"})

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            limit = request.get("max_completion_tokens") or request.get("max_tokens") or 16
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
                         "usage": self._usage(0)})
            time.sleep(behaviour.ttft_s)
            first, sent, chunk = time.monotonic(), 0, 0
            while sent < limit:
                if chunk:
                    time.sleep(max(0.0, first + chunk * behaviour.interval_s - time.monotonic()))
                count = 1 if not chunk else min(behaviour.tokens_per_chunk, limit - sent)
                sent, chunk = sent + count, chunk + 1
                self._event({"choices": [{"index": 0, "delta": {"content": " word" * count},
                                          "finish_reason": "length" if sent >= limit else None}],
                             "usage": self._usage(sent)})
            self._event({"choices": [], "usage": self._usage(sent)})
            self._write(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _usage(self, completion: int) -> dict:
            return {"prompt_tokens": behaviour.prompt_tokens, "completion_tokens": completion,
                    "total_tokens": behaviour.prompt_tokens + completion}

        def _event(self, body: dict) -> None:
            body = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": MODEL, **body}
            if not behaviour.usage:
                body.pop("usage", None)
            self._write(f"data: {json.dumps(body)}\n\n".encode())

        def _write(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client closing its connection early (a health probe) is not a failure here


@contextmanager
def serving(behaviour: Behaviour):
    """A server on a free localhost port for the duration of the block; yields its base URL."""
    server = _Server(("127.0.0.1", 0), _handler(behaviour))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
