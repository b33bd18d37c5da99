#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Runs a command (the real ssh client) on a pseudo-terminal, as a user at a
# terminal would, and answers what it asks:
#   "Code shown by your app: "  the QR code printed before it (UTF-8 half
#       blocks) is drawn back into modules, written as a PBM image and read
#       with zbarimg; the URI goes to URI_FILE, and the answer is the code
#       oathtool gives for its secret;
#   "Press Enter once you have saved them: " (after the recovery codes) Enter;
#   "Verification code: "       the contents of CODE_FILE.
# Everything the command printed goes to OUT_FILE (\r removed); the exit
# status is the command's. Gives up after 60 s (status 124).
#
#   pty_login.py OUT_FILE URI_FILE CODE_FILE COMMAND...
import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import time

FULL, UPPER, LOWER = "\u2588", "\u2580", "\u2584"


def decode_qr(text):
    """The URI of the last QR code drawn in `text`, or None."""
    rows, block = [], []
    for line in text.split("\n"):
        # The code's lines: half blocks and spaces only (at least one block).
        body = line.rstrip("\r")
        body = re.sub(r"^\([^)]*\) ", "", body)  # ssh's "(user@host) " before the first line
        if body and set(body) <= {FULL, UPPER, LOWER, " "} and (FULL in body):
            block.append(body)
        elif block:
            rows, block = block, []
    if block:
        rows = block
    if not rows:
        return None
    width = max(len(r) for r in rows)
    dark = []
    for r in rows:
        r = r.ljust(width, FULL)
        dark.append([c in (" ", LOWER) for c in r])  # top half
        dark.append([c in (" ", UPPER) for c in r])  # bottom half
    scale = 6
    with tempfile.NamedTemporaryFile("w", suffix=".pbm", delete=False) as f:
        f.write("P1\n%d %d\n" % (width * scale, len(dark) * scale))
        for row in dark:
            line = " ".join("1" if d else "0" for d in row for _ in range(scale))
            for _ in range(scale):
                f.write(line + "\n")
        path = f.name
    try:
        r = subprocess.run(["zbarimg", "-q", "--raw", path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def oathtool_code(uri):
    secret = re.search(r"[?&]secret=([A-Z2-7]+)", uri).group(1)
    return subprocess.run(["oathtool", "--totp", "-b", secret], capture_output=True, text=True,
                          check=True).stdout.strip()


def main():
    out_file, uri_file, code_file = sys.argv[1:4]
    cmd = sys.argv[4:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    raw = b""
    answered = 0
    deadline = time.time() + 60
    status = None
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            raw += chunk
        text = raw.decode("utf-8", "replace").replace("\r", "")
        tail = text[answered:]
        if tail.rstrip(" ").endswith("Code shown by your app:"):
            uri = decode_qr(tail)
            with open(uri_file, "w") as f:
                f.write((uri or "") + "\n")
            os.write(fd, ((oathtool_code(uri) if uri else "none") + "\r").encode())
            answered = len(text)
        elif tail.rstrip(" ").endswith("Press Enter once you have saved them:"):
            os.write(fd, b"\r")
            answered = len(text)
        elif tail.rstrip(" ").endswith("Verification code:"):
            with open(code_file) as f:
                os.write(fd, (f.read().strip() + "\r").encode())
            answered = len(text)
    else:
        os.kill(pid, 9)
        status = 124
    _, ws = os.waitpid(pid, 0)
    if status is None:
        status = os.waitstatus_to_exitcode(ws)
    with open(out_file, "w") as f:
        f.write(raw.decode("utf-8", "replace").replace("\r", ""))
    sys.exit(status if status >= 0 else 128 - status)


main()
