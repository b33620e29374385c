"""HTTP/1.1 on raw sockets (issue 9): every request-smuggling and parsing
vector gets a JSON error and a closed connection, pipelining and
keep-alive keep their order, 100-continue and HEAD work, limits hold as
bytes arrive, and deadlines answer 408.

The transport is the same whatever the storage, so these run on the SQLite
backend only (and again under ASan+UBSan).
"""

import json
import re
import socket
import time
import unittest

from harness import BACKEND, ServerTestCase, uniq

SQLITE_ONLY = unittest.skipIf(BACKEND != "sqlite", "transport tests need no database: run on SQLite")


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<%s %r %r>" % (self.status, self.headers, self.body[:300])


def parse_replies(data, head_only=()):
    """Splits raw bytes into Reply objects (by Content-Length). Indexes in
    head_only are responses to HEAD (no body whatever Content-Length says).
    Returns (replies, leftover bytes)."""
    replies = []
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return replies, data
        head = data[:end].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", head[0])
        if not m:
            raise AssertionError("not a status line: %r" % head[0])
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        status = int(m.group(1))
        length = 0 if (len(replies) in head_only or status in (100, 204, 304)) else \
            int(headers.get("content-length", "0"))
        if len(data) < end + 4 + length:
            return replies, data
        replies.append(Reply(status, headers, data[end + 4:end + 4 + length]))
        data = data[end + 4 + length:]


class Conn:
    """A raw client connection."""

    def __init__(self, server, timeout=5.0):
        self.sock = socket.create_connection((server.host, server.port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def read_replies(self, count, head_only=(), timeout=5.0):
        """Reads until `count` complete replies arrived (or the connection
        closed / timed out); returns them."""
        deadline = time.monotonic() + timeout
        replies = []
        while len(replies) < count and time.monotonic() < deadline:
            got, self.buf = parse_replies(self.buf, head_only)
            replies += got
            if len(replies) >= count:
                break
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(262144)
            except socket.timeout:
                break
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                got, self.buf = parse_replies(self.buf, head_only)
                replies += got
                break
            self.buf += chunk
        return replies

    def closed_by_server(self, timeout=3.0):
        """True when the server closes the connection (EOF or reset) within
        timeout, having sent nothing more."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
                if parse_replies(self.buf)[0]:
                    return False
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


class ProtocolCase(ServerTestCase):

    def exchange(self, data, count=1, head_only=()):
        c = Conn(self.server)
        try:
            c.send(data)
            return c.read_replies(count, head_only)
        finally:
            c.close()

    def assertJsonError(self, reply, status, msg=""):
        self.assertEqual(reply.status, status, "%s%r" % (msg, reply))
        self.assertEqual((reply.header("content-type") or "").split(";")[0], "application/json", msg)
        self.assertIsInstance(reply.json, dict, "%serror body must be a JSON object: %r" % (msg, reply))
        self.assertIsInstance(reply.json.get("error"), str, "%s%r" % (msg, reply))
        self.assertTrue(reply.header("x-request-id"), "%serror carries a request id: %r" % (msg, reply))

    def refused_and_closed(self, data, status, msg=""):
        """data gets exactly one JSON error `status`, then the connection
        closes: nothing after it is served as a second request."""
        c = Conn(self.server)
        try:
            c.send(data)
            replies = c.read_replies(1)
            self.assertEqual(len(replies), 1, "%sno answer to %r" % (msg, data[:120]))
            self.assertJsonError(replies[0], status, msg)
            self.assertEqual(replies[0].header("connection"), "close", "%s%r" % (msg, replies[0]))
            self.assertTrue(c.closed_by_server(), "%sconnection kept open (or a second answer) after %r"
                            % (msg, data[:120]))
        finally:
            c.close()
        self.assertEqual(self.server.get("/health").status, 200, "server alive after %r" % data[:80])


FOLLOW = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


@SQLITE_ONLY
class Smuggling(ProtocolCase):
    """Each vector of issue 9: 400 (501 for a coding we do not know) and a
    closed connection, never a second request served from the body."""

    def test_te_and_content_length(self):
        self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + FOLLOW, 400)
        self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                b"Content-Length: 40\r\n\r\n0\r\n\r\n" + FOLLOW, 400)

    def test_two_content_lengths(self):
        self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                b"Content-Length: 38\r\n\r\n{}" + FOLLOW, 400)
        self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 38\r\n\r\n{}" + FOLLOW, 400)

    def test_space_before_colon(self):
        self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n"
                                b"Content-Length: 5\r\n\r\n0\r\n\r\n" + FOLLOW, 400)
        self.refused_and_closed(b"GET /health HTTP/1.1\r\nHost : x\r\n\r\n", 400)

    def test_transfer_codings_other_than_chunked(self):
        self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n"
                                + FOLLOW, 400)
        self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                                b"0\r\n\r\n" + FOLLOW, 501)
        self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + FOLLOW, 400)
        self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
                                b"0\r\n\r\n" + FOLLOW, 400)
        self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
                                b"0\r\n\r\n" + FOLLOW, 400)

    def test_host_exactly_once(self):
        self.refused_and_closed(b"GET /health HTTP/1.1\r\n\r\n", 400)
        self.refused_and_closed(b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)
        self.refused_and_closed(b"GET /health HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400)
        r = self.exchange(b"GET /health HTTP/1.0\r\n\r\n")
        self.assertEqual([x.status for x in r], [200], "HTTP/1.0 needs no Host: %r" % r)

    def test_absolute_form(self):
        r = self.exchange(b"GET http://example.test/health HTTP/1.1\r\nHost: example.test\r\n\r\n")
        self.assertEqual([x.status for x in r], [200], repr(r))
        self.assertEqual(r[0].json, {"status": "ok"})
        r = self.exchange(b"GET https://example.test:8443/flags?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual([x.status for x in r], [200], repr(r))
        r = self.exchange(b"GET http://example.test HTTP/1.1\r\nHost: x\r\n\r\n")   # no path: "/", the console
        self.assertEqual([x.status for x in r], [200], repr(r))
        self.assertTrue(r[0].headers["content-type"].startswith("text/html"), repr(r))
        self.refused_and_closed(b"GET example.test/health HTTP/1.1\r\nHost: x\r\n\r\n", 400)

    def test_encoded_slash_never_separates(self):
        n = uniq("slash")
        self.assertEqual(self.server.post("/flags", {"name": n}).status, 201)
        r = self.exchange(b"GET /flags%2F" + n.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertJsonError(r[0], 404, "/flags%2F<name>: ")
        r = self.exchange(b"GET /flags/" + n.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(r[0].status, 200)

    def test_bad_content_length(self):
        for value in (b"-5", b"+4", b"4x", b" ", b"99999999999999999999999", b"0x10"):
            self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Length: " + value + b"\r\n\r\n",
                                    400, "Content-Length %r: " % value)


@SQLITE_ONLY
class Parsing(ProtocolCase):

    def test_bare_lf_and_obs_fold(self):
        self.refused_and_closed(b"GET /health HTTP/1.1\nHost: x\n\n", 400, "bare LF: ")
        self.refused_and_closed(b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n", 400, "obs-fold: ")
        self.refused_and_closed(b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: one\r\n\ttwo\r\n\r\n", 400, "obs-fold: ")

    def test_nul_bytes(self):
        self.refused_and_closed(b"GET /heal\x00th HTTP/1.1\r\nHost: x\r\n\r\n", 400, "NUL in target: ")
        self.refused_and_closed(b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, "NUL in header: ")
        self.refused_and_closed(b"GET /health HTTP/1.1\r\nHo\x00st: x\r\n\r\n", 400, "NUL in name: ")

    def test_garbage_and_methods(self):
        self.refused_and_closed(b"\x00\x01\x02\r\n\r\n", 400)
        self.refused_and_closed(b"G\xffT /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, "non-UTF-8 method: ")
        self.refused_and_closed(b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n", 501, "unknown method: ")
        self.refused_and_closed(b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 505, "HTTP/9.9: ")
        self.refused_and_closed(b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0: ")
        self.refused_and_closed(b"GET\r\n\r\n", 400)
        self.refused_and_closed(b"GET /health\r\n\r\n", 505, "HTTP/0.9 style: ")
        r = self.exchange(b"PROPFIND /flags HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertJsonError(r[0], 405, "a method llhttp knows but no route takes: ")

    def test_half_close_after_garbage_is_answered(self):
        for junk in (b"GET\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00", b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Le",
                     b"GET /health HTTP/1.1\r\nHost: x\r\n"):
            c = Conn(self.server)
            try:
                t0 = time.monotonic()
                c.send(junk)
                c.sock.shutdown(socket.SHUT_WR)
                r = c.read_replies(1, timeout=3)
                self.assertEqual(len(r), 1, "no answer to %r then FIN" % junk)
                self.assertJsonError(r[0], 400, "%r then FIN: " % junk)
                self.assertTrue(c.closed_by_server(2), "%r then FIN: connection left open" % junk)
                self.assertLess(time.monotonic() - t0, 2.0, "%r then FIN took long" % junk)
            finally:
                c.close()

    def test_error_text_with_half_a_character_is_valid_json(self):
        # jansson's message quotes the input: '"x\<0xC3>' is half of "é".
        body = '{"name":"x\\\u00e9"}'.encode("utf-8")
        r = self.exchange(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.assertJsonError(r[0], 400)
        self.assertIn("invalid", r[0].json["error"])
        r = self.exchange(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 4\r\n\r\n\xff\xfe\xc3\"")
        self.assertJsonError(r[0], 400)

    def test_target_too_long_and_headers_too_large(self):
        self.refused_and_closed(b"GET /flags/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414)
        self.refused_and_closed(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431)
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(101))
        self.refused_and_closed(b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n", 431)
        # Just under both limits is fine.
        r = self.exchange(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 7000 + b"\r\n\r\n")
        self.assertEqual(r[0].status, 200)
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(99))
        r = self.exchange(b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        self.assertEqual(r[0].status, 200)

    def test_writes_need_json_content_type(self):
        n = uniq("ct")
        body = json.dumps({"name": n}).encode()
        for ct in (b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x",
                   b"application/jsonx"):
            r = self.exchange(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Type: " + ct +
                              b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            self.assertJsonError(r[0], 415, "Content-Type %r: " % ct)
        r = self.exchange(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        self.assertJsonError(r[0], 415, "no Content-Type: ")
        self.assertEqual(self.server.get("/flags/" + n).status, 404, "a refused write changed nothing")
        r = self.exchange(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Type: Application/JSON; charset=utf-8\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.assertEqual(r[0].status, 201, repr(r))
        r = self.exchange(b"PUT /flags/" + n.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                          b"Content-Length: 19\r\n\r\n{\"is_enabled\":true}")
        self.assertJsonError(r[0], 415, "PUT: ")


@SQLITE_ONLY
class Connections(ProtocolCase):

    def test_pipelining_1000_requests_in_one_send(self):
        n = uniq("pipe")
        self.assertEqual(self.server.post("/flags", {"name": n}).status, 201)
        paths = ["/health", "/flags/" + n, "/flags/" + uniq("missing"), "/flags?limit=1"]
        data = b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\nX-Request-Id: seq-%d\r\n\r\n"
                        % (paths[i % 4].encode(), i) for i in range(1000))
        c = Conn(self.server, timeout=10)
        try:
            c.send(data)
            r = c.read_replies(1000, timeout=20)
        finally:
            c.close()
        self.assertEqual(len(r), 1000, "answers to 1000 pipelined requests")
        self.assertEqual([x.header("x-request-id") for x in r], ["seq-%d" % i for i in range(1000)],
                         "answers in request order")
        self.assertEqual([x.status for x in r[:4]], [200, 200, 404, 200])

    def test_pipelined_writes_and_reads_in_order(self):
        n = uniq("pw")
        body = json.dumps({"name": n, "is_enabled": True}).encode()
        put = json.dumps({"is_enabled": False}).encode()
        data = (b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body) +
                b"GET /flags/%s HTTP/1.1\r\nHost: x\r\n\r\n" % n.encode() +
                b"PUT /flags/%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (n.encode(), len(put), put) +
                b"GET /flags/%s HTTP/1.1\r\nHost: x\r\n\r\n" % n.encode())
        r = self.exchange(data, count=4)
        self.assertEqual([x.status for x in r], [201, 200, 200, 200], repr(r))
        self.assertEqual([r[1].json["is_enabled"], r[3].json["is_enabled"]], [True, False],
                         "each read sees the write before it")

    def test_keep_alive_and_close(self):
        c = Conn(self.server)
        try:
            for _ in range(3):
                c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                r = c.read_replies(1)
                self.assertEqual(r[0].status, 200)
                self.assertIsNone(r[0].header("connection"), repr(r))
            c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            r = c.read_replies(1)
            self.assertEqual((r[0].status, r[0].header("connection")), (200, "close"))
            self.assertTrue(c.closed_by_server())
        finally:
            c.close()

    def test_http10(self):
        c = Conn(self.server)
        try:
            c.send(b"GET /health HTTP/1.0\r\n\r\n")
            r = c.read_replies(1)
            self.assertEqual((r[0].status, r[0].header("connection")), (200, "close"))
            self.assertTrue(c.closed_by_server(), "HTTP/1.0 closes by default")
        finally:
            c.close()
        c = Conn(self.server)
        try:
            for _ in range(2):
                c.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                r = c.read_replies(1)
                self.assertEqual((r[0].status, r[0].header("connection")), (200, "keep-alive"))
        finally:
            c.close()

    def test_head(self):
        n = uniq("head")
        self.assertEqual(self.server.post("/flags", {"name": n}).status, 201)
        data = (b"HEAD /flags/%s HTTP/1.1\r\nHost: x\r\n\r\n" % n.encode() +
                b"GET /flags/%s HTTP/1.1\r\nHost: x\r\n\r\n" % n.encode())
        r = self.exchange(data, count=2, head_only=(0,))
        self.assertEqual([x.status for x in r], [200, 200])
        self.assertEqual(r[0].body, b"")
        self.assertEqual(int(r[0].header("content-length")), len(r[1].body))

    def test_100_continue(self):
        n = uniq("cont")
        body = json.dumps({"name": n}).encode()
        c = Conn(self.server)
        try:
            c.send(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(body))
            r = c.read_replies(1)
            self.assertEqual([x.status for x in r], [100], "interim 100 before the body: %r" % r)
            c.send(body)
            r = c.read_replies(1)
            self.assertEqual([x.status for x in r], [201], repr(r))
        finally:
            c.close()
        # A body over the limit is refused instead of invited.
        self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                b"Expect: 100-continue\r\nContent-Length: 900000\r\n\r\n", 413)
        self.refused_and_closed(b"POST /flags HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n"
                                b"Content-Length: 2\r\n\r\n{}", 417)

    def test_chunked_body(self):
        n = uniq("chunk")
        body = json.dumps({"name": n, "is_enabled": True}).encode()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
        r = self.exchange(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
        self.assertEqual(r[0].status, 201, repr(r))
        self.assertEqual(self.server.get("/flags/" + n).json["is_enabled"], True)

    def test_chunked_body_over_the_limit_stopped_early(self):
        """The 413 arrives while the client is still sending, as soon as the
        bytes received pass the limit, not after the whole body."""
        c = Conn(self.server)
        try:
            c.send(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (8192, b"x" * 8192)
            answered_after = None
            for sent in range(1, 200):       # up to 1.6 MB offered
                if not c.send(chunk):
                    answered_after = sent
                    break
                c.sock.settimeout(0.02)
                try:
                    data = c.sock.recv(65536)
                except socket.timeout:
                    continue
                c.buf += data
                answered_after = sent
                break
            r = c.read_replies(1)
        finally:
            c.close()
        self.assertIsNotNone(answered_after, "no answer while 1.6 MB of chunks were offered")
        self.assertLessEqual(answered_after * 8192, 65536 + 4 * 8192,
                             "413 came only after %d bytes" % (answered_after * 8192))
        if r:
            self.assertJsonError(r[0], 413)


@SQLITE_ONLY
class Deadlines(ProtocolCase):
    server_env = {"HEADER_TIMEOUT": 1, "BODY_TIMEOUT": 1, "KEEPALIVE_TIMEOUT": 2}

    def test_slow_head_gets_408(self):
        c = Conn(self.server)
        try:
            t0 = time.monotonic()
            c.send(b"GET /health HTTP/1.1\r\nHo")
            r = c.read_replies(1, timeout=5)
            elapsed = time.monotonic() - t0
            self.assertEqual(len(r), 1, "no answer to a head that never ends")
            self.assertJsonError(r[0], 408)
            self.assertTrue(0.8 < elapsed < 3.0, "408 after %.2fs (HEADER_TIMEOUT=1)" % elapsed)
            self.assertTrue(c.closed_by_server())
        finally:
            c.close()

    def test_slow_body_gets_408(self):
        c = Conn(self.server)
        try:
            c.send(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{")
            r = c.read_replies(1, timeout=5)
            self.assertEqual(len(r), 1, "no answer to a body that never ends")
            self.assertJsonError(r[0], 408)
        finally:
            c.close()

    def test_silent_connection_closed(self):
        c = Conn(self.server)
        try:
            t0 = time.monotonic()
            self.assertTrue(c.closed_by_server(5), "a connection that never sends stays open")
            self.assertLess(time.monotonic() - t0, 3.0)
        finally:
            c.close()

    def test_idle_keep_alive_closed(self):
        c = Conn(self.server)
        try:
            c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(c.read_replies(1)[0].status, 200)
            time.sleep(1.0)
            c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")   # within KEEPALIVE_TIMEOUT: still open
            self.assertEqual(c.read_replies(1)[0].status, 200)
            t0 = time.monotonic()
            self.assertTrue(c.closed_by_server(5), "idle keep-alive connection kept past KEEPALIVE_TIMEOUT")
            self.assertTrue(1.5 < time.monotonic() - t0 < 3.5)
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main()
