"""A scripted misbehaving language server for meshls-proxy's tests.

Usage: fake_server.py MODE. It reads framed JSON-RPC on stdin and, by MODE:
  crash     answers nothing; exits with code 3 after the first request, saying "boom" on stderr
  garbage   answers each request after writing garbage, a bad header and a non-JSON body
  silent    never answers; reports each $/cancelRequest as a notification "fake/cancelled"
  asks      before answering a request, asks the client workspace/configuration and answers
            with what the client said
  forks     starts a long `sleep` that it never waits for and answers each request with its pid;
            exits on `exit`, leaving the sleep behind
  dies      answers initialize (offering hover), then exits with code 1 once initialized
  relays    offers semantic tokens (legend: macro, function / readonly), call hierarchy and
            document symbols; once initialized, creates progress token 1 (begin, end) and
            registers file watcher "w1"; logs the file changes it hears of; answers
            `<anything>/ping` with {"pong": params}
  slow      answers initialize offering hover, then every request 5 s late (a hover says "slow")
  hangs     answers initialize offering hover, then never answers again (it reads on)
  floods    answers initialize offering hover; once initialized, sends 20,000 window/logMessage
            notifications as fast as it can, then answers requests (a hover says "flooded")
  exits     exits with code 5 on initialize, without an answer
  huge      answers initialize offering hover, and a hover by the line it is on: line 0 gets a
            50 MB result; line 1 gets a Content-Length that is no number, then a message over the
            reader's 256 MiB limit, sent whole, that starts with a well-formed wrong answer, and
            only then the real answer, "after the oversized message"; line 2 gets a Content-Length
            of 2^64 - 1 and a few bytes, and then the server exits with code 4; any other line
            gets "huge answers". Other requests are answered with null
"""
import json
import subprocess
import sys
import time

MODE = sys.argv[1]
out = sys.stdout.buffer


def read():
    length = None
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            sys.exit(0)
        line = line.strip()
        if not line:
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return json.loads(sys.stdin.buffer.read(length))


def frame(message):
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def write(message):
    out.write(frame(message))
    out.flush()


def answer_of(request_id):
    """Reads until the client's answer to our request `request_id` (relays mode)."""
    while True:
        message = read()
        if message.get("id") == request_id and "method" not in message:
            return message
        # What comes meanwhile is handled, not lost.
        relays(message)


def relays(message):
    method, id = message.get("method"), message.get("id")
    reply = lambda result: write({"jsonrpc": "2.0", "id": id, "result": result})
    if method == "initialize":
        reply({"capabilities": {
            "semanticTokensProvider": {
                "legend": {"tokenTypes": ["macro", "function"], "tokenModifiers": ["readonly"]},
                "full": {"delta": True}},
            "callHierarchyProvider": True,
            # lsp-types 0.94, meshls's vocabulary, has no field for it.
            "typeHierarchyProvider": True,
            "completionProvider": {"resolveProvider": True},
            "documentSymbolProvider": True}})
    elif method == "initialized":
        write({"jsonrpc": "2.0", "id": "c1", "method": "window/workDoneProgress/create",
               "params": {"token": 1}})
        answer_of("c1")
        for value in [{"kind": "begin", "title": "Indexing"}, {"kind": "end"}]:
            write({"jsonrpc": "2.0", "method": "$/progress", "params": {"token": 1, "value": value}})
        write({"jsonrpc": "2.0", "id": "r1", "method": "client/registerCapability",
               "params": {"registrations": [
                   {"id": "w1", "method": "workspace/didChangeWatchedFiles",
                    "registerOptions": {"watchers": [{"globPattern": "**/*.fake"}]}},
                   {"id": "f1", "method": "textDocument/formatting"}]}})
        answer_of("r1")
    elif method == "workspace/didChangeWatchedFiles":
        write({"jsonrpc": "2.0", "method": "window/logMessage",
               "params": {"type": 3, "message": "watched " + json.dumps(message["params"]["changes"])}})
    elif method == "textDocument/semanticTokens/full":
        # macro+readonly, then function.
        reply({"data": [0, 0, 3, 0, 1, 1, 0, 3, 1, 0]})
    elif method in ("textDocument/prepareCallHierarchy", "textDocument/prepareTypeHierarchy",
                    "textDocument/documentSymbol"):
        span = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 3}}
        item = {"name": "fromFake", "kind": 12, "range": span, "selectionRange": span}
        if method != "textDocument/documentSymbol":
            item.update(uri=message["params"]["textDocument"]["uri"], data={"mine": 1})
        reply([item])
    elif method == "typeHierarchy/supertypes":
        item = dict(message["params"]["item"])
        if item.get("data") != {"mine": 1}:
            write({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "not my data: %r" % item.get("data")}})
            return
        item.update(name="Base", data={"mine": 2})
        reply([item])
    elif method == "textDocument/completion":
        reply([{"label": "fromFake", "data": {"mine": 1}}])
    elif method == "completionItem/resolve":
        item = dict(message["params"])
        if item.get("data") != {"mine": 1}:
            write({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "not my data: %r" % item.get("data")}})
            return
        item["detail"] = "resolved by the fake"
        reply(item)
    elif method == "callHierarchy/incomingCalls":
        item = dict(message["params"]["item"])
        if item.get("data") != {"mine": 1}:
            write({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "not my data: %r" % item.get("data")}})
            return
        item["data"] = {"mine": 2}
        reply([{"from": item, "fromRanges": []}])
    elif method is not None and method.endswith("/ping"):
        reply({"pong": message.get("params")})
    elif id is not None and method is not None:
        reply(None)


# meshls-proxy's framing::MAX_MESSAGE_LEN.
LIMIT = 256 * 1024 * 1024


def huge(id, method, params):
    if method == "initialize":
        write({"jsonrpc": "2.0", "id": id, "result": {"capabilities": {"hoverProvider": True}}})
        return
    if method != "textDocument/hover":
        write({"jsonrpc": "2.0", "id": id, "result": None})
        return
    hover = lambda text: {"jsonrpc": "2.0", "id": id, "result": {"contents": text}}
    line = params["position"]["line"]
    if line == 0:
        value = "0123456789" * 5_000_000
        write(hover({"kind": "plaintext", "value": value}))
    elif line == 1:
        out.write(b"Content-Length: 99999999999999999999999\r\n\r\n")
        # A reader that lost its place would take this frame for the answer.
        decoy = frame(hover("read from inside an oversized message"))
        out.write(b"Content-Length: %d\r\n\r\n" % (LIMIT + 1) + decoy)
        left = LIMIT + 1 - len(decoy)
        chunk = b"x" * (1 << 20)
        while left > 0:
            out.write(chunk[:left])
            left -= len(chunk)
        write(hover("after the oversized message"))
    elif line == 2:
        out.write(b'Content-Length: 18446744073709551615\r\n\r\n{"jsonrpc"')
        out.flush()
        sys.exit(4)
    else:
        write(hover("huge answers"))


while True:
    message = read()
    method, id = message.get("method"), message.get("id")
    if method == "$/cancelRequest":
        if MODE == "silent":
            write({"jsonrpc": "2.0", "method": "fake/cancelled", "params": message["params"]})
        continue
    if method == "exit":
        sys.exit(0)
    if MODE == "exits" and method == "initialize":
        sys.exit(5)
    if MODE in ("slow", "hangs", "floods"):
        if method == "initialize":
            write({"jsonrpc": "2.0", "id": id, "result": {"capabilities": {"hoverProvider": True}}})
        elif method == "initialized" and MODE == "floods":
            for n in range(20000):
                out.write(frame({"jsonrpc": "2.0", "method": "window/logMessage",
                                 "params": {"type": 4, "message": "flood %d" % n}}))
            out.flush()
        elif id is not None and MODE != "hangs":
            if MODE == "slow":
                time.sleep(5)
            text = "slow" if MODE == "slow" else "flooded"
            result = None if method == "shutdown" else {"contents": text}
            write({"jsonrpc": "2.0", "id": id, "result": result})
        continue
    if MODE == "dies":
        if method == "initialize":
            write({"jsonrpc": "2.0", "id": id, "result": {"capabilities": {"hoverProvider": True}}})
        if method == "initialized":
            sys.stderr.write("dying on purpose\n")
            sys.stderr.flush()
            sys.exit(1)
        continue
    if MODE == "relays":
        relays(message)
        continue
    if id is None or method is None:
        continue
    if MODE == "huge":
        huge(id, method, message.get("params"))
        continue
    if MODE == "forks":
        if method == "shutdown":
            write({"jsonrpc": "2.0", "id": id, "result": None})
            continue
        child = subprocess.Popen(["sleep", "600"])
        write({"jsonrpc": "2.0", "id": id, "result": child.pid})
    if MODE == "crash":
        sys.stderr.write("boom\n")
        sys.stderr.flush()
        sys.exit(3)
    if MODE == "garbage":
        out.write(b"this is not a header\r\n\r\nContent-Length: 5\r\n\r\nnope!")
        out.flush()
        write({"jsonrpc": "2.0", "id": id, "result": {"echo": message.get("params")}})
    if MODE == "asks":
        write({"jsonrpc": "2.0", "id": "q1", "method": "workspace/configuration",
               "params": {"items": [{"section": "fake"}]}})
        answer = read()
        write({"jsonrpc": "2.0", "id": id, "result": answer.get("result")})
