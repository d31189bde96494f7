"""A local stand-in for the mail API, for the black-box suite under wrangler dev: it accepts
POST /mail with the test key and appends each JSON body as a line to a file.

Usage: mail-sink.py PORT FILE KEY"""

import http.server
import sys

port, path, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path != "/mail" or self.headers.get("authorization") != f"Bearer {key}":
            self.send_response(401)
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with open(path, "ab") as out:
            out.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Sink).serve_forever()
