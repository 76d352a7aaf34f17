#!/usr/bin/env python3
"""An OpenAI-compatible chat server for many LoRA adapters over one loaded base model (transformers + PEFT, CPU or
CUDA): the dev and test stand-in for vLLM / LoRAX multi-LoRA serving.

    adapter_server.py --base NAME_OR_DIR [--host 127.0.0.1] [--port 0] [--max-queue 32] [--max-batch 8]
                      [--timeout-s 120] [--max-new-tokens 256] [--adapter NAME=DIR[@DIGEST] ...]

    GET  /v1/models              the base (its registered name) and every loaded adapter, `model` = adapter name
    POST /v1/chat/completions    {model, messages, max_tokens?, temperature?, top_p?, stream?}; stream: SSE chunks
    POST /admin/adapters         {name, path, digest?}: load (or replace) an adapter, from a local folder
    GET  /health                 {status, base, base_loads, adapters, queued}

The base is loaded once (base_loads stays 1 while adapters come and go): the first adapter wraps it in a PeftModel,
later ones are added with load_adapter and picked per batch with set_adapter; `model` = the base's name answers with
the adapter layers disabled. One generation thread takes requests from a bounded queue (full: 429), batching
requests for the same model and sampling settings (left padding, up to --max-batch); a request that waits longer
than --timeout-s gets 504, and generation stops at that deadline. Prompts are rendered as the trainer renders them
(train_lora.render: the tokenizer's chat template). Errors use OpenAI's shape {"error": {"message", "type", "code"}}.
stdout: one JSON line {"event": "ready", "port", "base", "base_loads"} once listening; logs on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from base_models import BASE_FILE, resolve_base  # noqa: E402
from train_lora import claim_stdout, die_with_parent, emit, render  # noqa: E402


def log(msg: str) -> None:
    print(f"adapter_server: {msg}", file=sys.stderr, flush=True)


class ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code


class Job:
    def __init__(self, model: str, prompt: str, max_new_tokens: int, temperature: float, top_p: float, deadline: float, streamer=None):
        self.model, self.prompt, self.max_new_tokens = model, prompt, max_new_tokens
        self.temperature, self.top_p, self.deadline, self.streamer = temperature, top_p, deadline, streamer
        self.done = threading.Event()
        self.result: dict | None = None
        self.error: ApiError | None = None

    def key(self):
        return (self.model, self.temperature, self.top_p, self.streamer is None)


class Engine:
    """The loaded base, its adapters, and the one thread that runs generate."""

    def __init__(self, base: str, max_queue: int, max_batch: int):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        folder, identity = resolve_base(base)
        self.base_name, self.base_digest = identity["name"], identity.get("digest")
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        t0 = time.perf_counter()
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(self.device).eval()
        self.base_loads = 1
        log(f"base {self.base_name} loaded from {folder} in {time.perf_counter() - t0:.1f} s ({self.device.type})")
        eos = self.model.generation_config.eos_token_id
        self.eos = sorted({*(eos if isinstance(eos, list) else [eos] if eos is not None else []), *([self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else [])})
        self.adapters: dict[str, dict] = {}
        self.peft = False
        self.lock = threading.Lock()  # the model: generation and adapter loading never overlap
        self.queue: queue.Queue[Job] = queue.Queue(maxsize=max_queue)
        self.max_batch = max_batch
        threading.Thread(target=self._loop, name="generate", daemon=True).start()

    # -- adapters
    def load_adapter(self, name: str, path: str, digest: str | None) -> dict:
        if not name or name == self.base_name or "/" in name:
            raise ApiError(400, f"adapter name {name!r} is empty, contains '/', or is the base's name", code="invalid_adapter_name")
        if not os.path.isfile(os.path.join(path, "adapter_config.json")):
            raise ApiError(400, f"{path} has no adapter_config.json", code="invalid_adapter")
        recorded = self._adapter_base(path)
        if recorded.get("digest") and self.base_digest and recorded["digest"] != self.base_digest:
            raise ApiError(409, f"adapter {name} was trained on {recorded.get('name')} {recorded['digest']}, this server's base is "
                                f"{self.base_name} {self.base_digest}", code="base_mismatch")
        with self.lock:
            if not self.peft:
                from peft import PeftModel

                self.model = PeftModel.from_pretrained(self.model, path, adapter_name=name).eval()
                self.peft = True
            else:
                if name in self.adapters:
                    self.model.delete_adapter(name)
                self.model.load_adapter(path, adapter_name=name)
            self.adapters[name] = {"id": name, "path": path, "digest": digest, "loaded_at": int(time.time())}
        log(f"adapter {name} loaded from {path} ({digest or 'no digest'})")
        return self.adapters[name]

    @staticmethod
    def _adapter_base(path: str) -> dict:
        try:
            with open(os.path.join(path, BASE_FILE), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def models(self) -> list[dict]:
        out = [{"id": self.base_name, "object": "model", "created": 0, "owned_by": "distillery", "root": self.base_name, "digest": self.base_digest}]
        for a in self.adapters.values():
            out.append({"id": a["id"], "object": "model", "created": a["loaded_at"], "owned_by": "distillery", "root": self.base_name,
                        "parent": self.base_name, "digest": a["digest"]})
        return out

    # -- requests
    def submit(self, job: Job) -> None:
        if job.model != self.base_name and job.model not in self.adapters:
            raise ApiError(404, f"the model {job.model!r} does not exist on this server (GET /v1/models lists them)", code="model_not_found")
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            raise ApiError(429, f"the request queue is full ({self.queue.maxsize} waiting): retry later", "rate_limit_error", "queue_full")

    def _loop(self) -> None:
        while True:
            first = self.queue.get()
            batch = [first]
            held: list[Job] = []
            if first.streamer is None:
                while len(batch) < self.max_batch:  # same model and settings join the batch; the rest wait their turn
                    try:
                        j = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    (batch if j.key() == first.key() else held).append(j)
            for j in held:
                try:
                    self.queue.put_nowait(j)
                except queue.Full:
                    j.error = ApiError(429, "the request queue is full: retry later", "rate_limit_error", "queue_full")
                    j.done.set()
            now = time.monotonic()
            live = []
            for j in batch:
                if now > j.deadline:
                    j.error = ApiError(504, "the request timed out waiting in the queue", "timeout_error", "timeout")
                    j.done.set()
                    if j.streamer is not None:
                        j.streamer.end()
                else:
                    live.append(j)
            if live:
                self._run(live)

    def _run(self, jobs: list[Job]) -> None:
        torch = self.torch
        first = jobs[0]
        try:
            with self.lock:
                enc = self.tokenizer([j.prompt for j in jobs], add_special_tokens=False, padding=True, return_tensors="pt").to(self.device)
                sample = first.temperature > 0
                kw = dict(max_new_tokens=max(j.max_new_tokens for j in jobs), do_sample=sample, num_beams=1, pad_token_id=self.tokenizer.pad_token_id,
                          eos_token_id=self.eos or None, max_time=max(0.1, first.deadline - time.monotonic()))
                if sample:
                    kw.update(temperature=first.temperature, top_p=first.top_p)
                if first.streamer is not None:
                    kw["streamer"] = first.streamer
                t0 = time.perf_counter()
                with torch.no_grad():
                    if first.model == self.base_name:
                        if self.peft:
                            with self.model.disable_adapter():
                                out = self.model.generate(**enc, **kw)
                        else:
                            out = self.model.generate(**enc, **kw)
                    else:
                        self.model.set_adapter(first.model)
                        out = self.model.generate(**enc, **kw)
                elapsed = time.perf_counter() - t0
            new = out[:, enc["input_ids"].shape[1]:]
            prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
            for row, j in enumerate(jobs):
                toks = new[row].tolist()[: j.max_new_tokens]
                cut = next((k for k, t in enumerate(toks) if t in self.eos), None)
                finish = "stop" if cut is not None else "length"
                toks = toks[: cut if cut is not None else len(toks)]
                j.result = {"text": self.tokenizer.decode(toks, skip_special_tokens=True).strip(), "finish_reason": finish,
                            "prompt_tokens": int(prompt_lens[row]), "completion_tokens": len(toks), "batch": len(jobs), "elapsed_s": elapsed}
        except Exception as e:  # noqa: BLE001 - every request of the batch gets the error, the server goes on
            log(f"generation failed: {e!r}")
            for j in jobs:
                j.error = ApiError(500, f"generation failed: {e}", "server_error", "generation_failed")
            if first.streamer is not None:
                first.streamer.end()
        finally:
            for j in jobs:
                j.done.set()


def make_handler(engine: Engine, args):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet: one line per request on stderr at most
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, e: ApiError) -> None:
            self._json(e.status, {"error": {"message": e.message, "type": e.type, "param": None, "code": e.code}})

        def _body(self) -> dict:
            n = int(self.headers.get("Content-Length") or 0)
            if n > 4 << 20:
                raise ApiError(413, "request body over 4 MiB", code="body_too_large")
            try:
                body = json.loads(self.rfile.read(n) or b"{}")
            except ValueError:
                raise ApiError(400, "the body is not JSON", code="invalid_json")
            if not isinstance(body, dict):
                raise ApiError(400, "the body must be a JSON object", code="invalid_json")
            return body

        def do_GET(self):
            if self.path == "/v1/models":
                return self._json(200, {"object": "list", "data": engine.models()})
            if self.path == "/health":
                return self._json(200, {"status": "ok", "base": engine.base_name, "base_digest": engine.base_digest, "base_loads": engine.base_loads,
                                        "adapters": sorted(engine.adapters), "queued": engine.queue.qsize()})
            self._error(ApiError(404, f"no route GET {self.path}", code="not_found"))

        def do_POST(self):
            try:
                if self.path == "/admin/adapters":
                    b = self._body()
                    if not isinstance(b.get("name"), str) or not isinstance(b.get("path"), str):
                        raise ApiError(400, "give {name, path, digest?}", code="invalid_request")
                    return self._json(200, engine.load_adapter(b["name"], b["path"], b.get("digest")))
                if self.path == "/v1/chat/completions":
                    return self._chat(self._body())
                raise ApiError(404, f"no route POST {self.path}", code="not_found")
            except ApiError as e:
                self._error(e)

        def _chat(self, b: dict) -> None:
            model, messages = b.get("model"), b.get("messages")
            if not isinstance(model, str) or not model:
                raise ApiError(400, "`model` is required: an adapter name (GET /v1/models)", code="missing_model")
            if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and m.get("role") in ("system", "user", "assistant") and isinstance(m.get("content"), str) for m in messages
            ):
                raise ApiError(400, "`messages` must be a non-empty list of {role: system|user|assistant, content: string}", code="invalid_messages")
            max_tokens = b.get("max_completion_tokens", b.get("max_tokens")) or args.max_new_tokens
            if not isinstance(max_tokens, int) or max_tokens < 1:
                raise ApiError(400, "`max_tokens` must be a positive integer", code="invalid_max_tokens")
            temperature = float(b.get("temperature") or 0.0)
            top_p = float(b.get("top_p") or 1.0)
            if b.get("n", 1) != 1:
                raise ApiError(400, "only n = 1 is supported", code="unsupported_n")
            prompt = render(engine.tokenizer, [{"role": m["role"], "content": m["content"]} for m in messages], True)
            deadline = time.monotonic() + args.timeout_s
            stream = bool(b.get("stream"))
            streamer = None
            if stream:
                from transformers import TextIteratorStreamer

                streamer = TextIteratorStreamer(engine.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=args.timeout_s)
            job = Job(model, prompt, min(max_tokens, args.max_new_tokens), temperature, top_p, deadline, streamer)
            engine.submit(job)
            rid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
            if not stream:
                if not job.done.wait(args.timeout_s + 5):
                    raise ApiError(504, "the request timed out", "timeout_error", "timeout")
                if job.error:
                    raise job.error
                r = job.result
                return self._json(200, {
                    "id": rid, "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": r["text"]}, "finish_reason": r["finish_reason"]}],
                    "usage": {"prompt_tokens": r["prompt_tokens"], "completion_tokens": r["completion_tokens"],
                              "total_tokens": r["prompt_tokens"] + r["completion_tokens"]},
                })
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

            def chunk(delta: dict, finish=None, usage=None) -> None:
                c = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                if usage:
                    c["usage"] = usage
                self.wfile.write(f"data: {json.dumps(c)}\n\n".encode())
                self.wfile.flush()

            chunk({"role": "assistant", "content": ""})
            try:
                for text in streamer:
                    if text:
                        chunk({"content": text})
            except queue.Empty:
                pass  # the streamer's own timeout: the job's error below says why
            job.done.wait(args.timeout_s + 5)
            if job.error:
                self.wfile.write(f"data: {json.dumps({'error': {'message': job.error.message, 'type': job.error.type, 'code': job.error.code}})}\n\n".encode())
            else:
                r = job.result
                chunk({}, r["finish_reason"], {"prompt_tokens": r["prompt_tokens"], "completion_tokens": r["completion_tokens"],
                                               "total_tokens": r["prompt_tokens"] + r["completion_tokens"]})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="registered base name or local save_pretrained folder")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: any free port (printed in the ready line)")
    ap.add_argument("--max-queue", type=int, default=32)
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--timeout-s", type=float, default=120.0)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--adapter", action="append", default=[], help="NAME=DIR[@DIGEST], loaded before listening")
    args = ap.parse_args()
    claim_stdout()
    die_with_parent(signal.SIGTERM)
    engine = Engine(args.base, args.max_queue, args.max_batch)
    for spec in args.adapter:
        name, _, rest = spec.partition("=")
        path, _, digest = rest.partition("@")
        engine.load_adapter(name, path, digest or None)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(engine, args))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    emit({"event": "ready", "port": server.server_address[1], "base": engine.base_name, "base_loads": engine.base_loads})
    log(f"listening on http://{args.host}:{server.server_address[1]}/v1")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
