"""The fake WeCom as its own process on host D of the cross-host test.

    python -m tests.support.cross_host_wecom --host 10.x.y.z --port 8080 --log sends.jsonl

Serves tests/support/fake_wecom.py's FakeWeCom (every contact a friend of every
employee) on the given address, and appends each accepted add_msg_template to
`--log` as a JSON line (msgid, sender, delivered customers, text, the caller's
address), written before the answer leaves, so a sender killed mid-call cannot
hide a message WeCom took. A few control endpoints for the test (under /control/):
  POST add_contact {external_userid, userid, tags}  -> {params, body} of the signed
                                                      add_external_contact callback
  POST slow_sends {seconds}    every later add_msg_template answers that much later
                               (after recording: the answer is what a cut loses)
  GET  inflight                -> {"callers": [address, ...]} of sends being answered
"""
from __future__ import annotations

import argparse
import json
import threading
import time

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.support.fake_wecom import FakeWeCom, _Quiet


class LoggedWeCom(FakeWeCom):
    def __init__(self, log_path: str):
        super().__init__(strict_friends=False)
        self.log_path, self.slow = log_path, 0.0
        self.inflight: dict[int, str] = {}
        self._local = threading.local()
        self._log_lock = threading.Lock()

    def _add_msg_template(self, body: dict) -> tuple[int, dict]:
        status, payload = super()._add_msg_template(body)
        if payload.get("errcode") == 0:
            message = self.messages[-1]
            line = json.dumps({"msgid": message["msgid"], "sender": message["sender"],
                               "delivered": message["delivered"], "text": message["text"],
                               "caller": getattr(self._local, "caller", ""),
                               "at": time.time()}, ensure_ascii=False)
            with self._log_lock, open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
        return status, payload

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith("/control/"):
            return self._control(request)(environ, start_response)
        self._local.caller = request.remote_addr or ""
        sending = request.path.endswith("add_msg_template")
        if sending:
            with self.lock:
                self.inflight[threading.get_ident()] = self._local.caller
        try:
            if sending and self.slow:
                with self.lock:  # processed and logged, then the answer waits
                    self._faults.append({"path": "add_msg_template", "errcode": None,
                                         "http_status": None, "delay": self.slow, "left": 1,
                                         "after": True})
            return super().__call__(environ, start_response)
        finally:
            with self.lock:
                self.inflight.pop(threading.get_ident(), None)

    def _control(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        name = request.path[len("/control/"):]
        if name == "add_contact":
            xml = self.add_contact(body["external_userid"], body["userid"],
                                   tags=body.get("tags", ()), state=body.get("state"))
            params, signed = self.signed(xml)
            answer = {"params": params, "body": signed}
        elif name == "slow_sends":
            self.slow = float(body.get("seconds", 0))
            answer = {"slow": self.slow}
        elif name == "inflight":
            with self.lock:
                answer = {"callers": sorted(self.inflight.values())}
        else:
            return Response("not found", 404)
        return Response(json.dumps(answer), 200, content_type="application/json")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log", required=True)
    args = parser.parse_args(argv)
    fake = LoggedWeCom(args.log)
    server = make_server(args.host, args.port, fake, threaded=True, request_handler=_Quiet)
    print(f"http://{args.host}:{args.port}/cgi-bin/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
