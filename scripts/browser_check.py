#!/usr/bin/env python3
"""Open HTML pages in headless Chromium and fail on anything a reader would see go wrong.

    python3 scripts/browser_check.py [--notebooks] PAGE.html ...
    python3 scripts/browser_check.py --reports     # every target/reports/*.html (written by tests/report.rs)
    python3 scripts/browser_check.py --notebooks   # every target/notebooks/*.html (scripts/notebooks.sh --headless)

Chromium (Debian's `chromium`) is driven over the DevTools protocol through a pipe
(--remote-debugging-pipe: no port is opened). A page FAILS on
  * a JavaScript exception or a console error,
  * any request that leaves the page's own file (reports: nothing at all may load;
    notebook pages: only files under the page's own directory, i.e. the local MathJax),
  * a page wider than the 1024 px window (something overflows the layout),
  * a blank screenshot (every pixel the same colour),
  * for notebook pages: TeX left unrendered ($…$, \\frac, \\begin) in the visible text.
  * for report pages: two texts of one chart drawn over each other (e.g. column labels
    too long for their columns), measured from the boxes the browser lays them out in.
Screenshots go to target/screenshots/<page>.png, 16 000 px at most (Chromium refuses larger
captures); a longer page continues in <page>.part2.png, <page>.part3.png, ... (up to 16 parts,
256 000 px); with --charts also one per chart, target/screenshots/<page>/chart_NN.png
(every SVG, inline or as an image, of at least 120 × 60 px outside MathJax, at the size the reader sees it), to look at
them one by one. Only the standard library is used.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 1024
MAX_SHOT = 16000
MAX_PARTS = 16


class Browser:
    """One headless Chromium, spoken to over fds 3 (commands) and 4 (replies)."""

    def __init__(self) -> None:
        exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if not exe:
            raise SystemExit("chromium not found (Debian: apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="quantlens-chromium-")
        r_cmd, w_cmd = os.pipe()  # we write commands; chromium reads fd 3
        r_out, w_out = os.pipe()  # chromium writes replies on fd 4
        args = [exe, "--headless=new", "--remote-debugging-pipe", "--no-first-run", "--no-default-browser-check",
                "--disable-gpu", "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--no-sandbox", "--allow-file-access-from-files", f"--user-data-dir={self.profile}",
                f"--window-size={WIDTH},800", "about:blank"]

        def child():
            os.dup2(r_cmd, 3)
            os.dup2(w_out, 4)

        self.proc = subprocess.Popen(args, pass_fds=(3, 4), preexec_fn=child, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r_cmd)
        os.close(w_out)
        self.w = os.fdopen(w_cmd, "wb", buffering=0)
        self.r = os.fdopen(r_out, "rb", buffering=0)
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def _read(self) -> dict:
        while b"\0" not in self.buf:
            chunk = self.r.read(1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.w.write(json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def pump(self, seconds: float, session: str) -> None:
        """Collect events for a while (a harmless round trip every 100 ms)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.send("Runtime.evaluate", {"expression": "1"}, session)
            time.sleep(0.1)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def png_is_blank(png: bytes) -> bool:
    """True when every pixel of an 8-bit RGB(A) PNG has the same colour."""
    w, h, depth, ctype = struct.unpack(">IIBB", png[16:26])
    idat = b""
    i = 8
    while i < len(png):
        n, kind = struct.unpack(">I4s", png[i:i + 8])
        if kind == b"IDAT":
            idat += png[i + 8:i + 8 + n]
        i += 12 + n
    raw = zlib.decompress(idat)
    bpp = {2: 3, 6: 4}.get(ctype, 4)
    stride = w * bpp
    prev = bytearray(stride)
    first = None
    pos = 0
    for _ in range(h):
        f = raw[pos]
        line = bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if first is None:
            first = bytes(line[:bpp])
        if line != bytearray(first * w):
            return False
        prev = line
    return True


TEX = re.compile(r"\$\$|(?<![\w$])\$[^$\s][^$\n]{0,200}?\$(?![\w$])|\\frac|\\begin\{|\\sum_|\\mathrm|\\text\{")


CHART_BOXES = """JSON.stringify(Array.from(document.querySelectorAll('svg, img[src^="data:image/svg"]')).filter(e => !e.closest('.MathJax_SVG, .MathJax_SVG_Display, mjx-container, svg svg')).map(e => { const r = e.getBoundingClientRect(); return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]; }).filter(b => b[2] >= 120 && b[3] >= 60))"""

# Report pages: pairs of non-empty <text> elements of one chart (a top-level inline SVG) whose
# laid-out boxes overlap by more than 1 px both ways; [chart title, count, first examples].
TEXT_OVERLAPS = r"""JSON.stringify(Array.from(document.querySelectorAll('svg')).filter(s => !s.closest('svg svg')).map(s => {
  const t = Array.from(s.querySelectorAll('text')).filter(e => e.textContent.trim()).map(e => [e.textContent.trim(), e.getBoundingClientRect()]);
  const hits = [];
  for (let i = 0; i < t.length; i++) for (let j = i + 1; j < t.length; j++) {
    const a = t[i][1], b = t[j][1];
    if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1) hits.push(t[i][0] + ' / ' + t[j][0]);
  }
  return [t.length ? t[0][0] : '', hits.length, hits.slice(0, 2)];
}).filter(x => x[1] > 0))"""


def chart_shots(browser: Browser, session: str, out_dir: Path) -> int:
    """One screenshot per chart (see CHART_BOXES) into out_dir; returns how many."""
    boxes = json.loads(browser.send("Runtime.evaluate", {"expression": CHART_BOXES, "returnByValue": True}, session)["result"]["value"])
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("chart_*.png"):
        old.unlink()
    for i, (x, y, w, h) in enumerate(boxes):
        clip = {"x": max(x - 4, 0), "y": max(y - 4, 0), "width": min(w + 8, WIDTH), "height": min(h + 8, MAX_SHOT), "scale": 1}
        shot = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True}, session)["data"])
        (out_dir / f"chart_{i + 1:02}.png").write_bytes(shot)
    return len(boxes)


def check(browser: Browser, page: Path, notebook: bool, shots: Path, charts: bool = False) -> list[str]:
    problems: list[str] = []
    url = page.resolve().as_uri()
    allowed_dir = page.resolve().parent.as_uri() + "/"
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Network", "Log"):
        browser.send(f"{domain}.enable", {}, session)
    browser.send("Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": 800, "deviceScaleFactor": 1, "mobile": False}, session)
    browser.events.clear()
    browser.send("Page.navigate", {"url": url}, session)
    # Wait for the load event, then (notebook pages) for MathJax to typeset.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(e.get("method") == "Page.loadEventFired" and e.get("sessionId") == session for e in browser.events):
        browser.pump(0.2, session)
    if notebook:
        while time.monotonic() < deadline:
            done = browser.send("Runtime.evaluate", {"expression": "(() => { const M = window.MathJax; if (!M) return 'none'; if (M.Hub) return M.Hub.queue.pending === 0 && M.Hub.queue.running === 0 && document.querySelectorAll('.MathJax_Processing, .MathJax_Preview:not(:empty)').length === 0 ? 'done' : 'busy'; return 'done'; })()", "returnByValue": True}, session)["result"].get("value")
            if done in ("done", "none"):
                break
            browser.pump(0.3, session)
        browser.pump(1.0, session)
    else:
        browser.pump(0.5, session)
    for e in browser.events:
        if e.get("sessionId") != session:
            continue
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            problems.append(f"page error: {d.get('exception', {}).get('description') or d.get('text')}")
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            problems.append("console error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            problems.append(f"log error: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        elif m == "Network.requestWillBeSent":
            req = p.get("request", {}).get("url", "")
            if req == url or req.startswith("data:") or req == "about:blank":
                continue
            if notebook and req.startswith(allowed_dir):
                continue
            problems.append(f"request leaves the file: {req}")
        elif m == "Network.loadingFailed":
            problems.append(f"load failed: {p.get('errorText')} ({p.get('type')})")
    metrics = browser.send("Runtime.evaluate", {"expression": "JSON.stringify([document.documentElement.scrollWidth, document.documentElement.scrollHeight, document.body ? document.body.innerText.length : 0])", "returnByValue": True}, session)["result"]["value"]
    sw, sh, text_len = json.loads(metrics)
    if sw > WIDTH + 2:
        problems.append(f"page is {sw} px wide in a {WIDTH} px window (something overflows)")
    if text_len == 0:
        problems.append("the page shows no text")
    if not notebook:
        for title, n, examples in json.loads(browser.send("Runtime.evaluate", {"expression": TEXT_OVERLAPS, "returnByValue": True}, session)["result"]["value"]):
            problems.append(f"chart {title!r}: {n} pairs of texts drawn over each other, e.g. {' ; '.join(examples)}")
    if notebook:
        text = browser.send("Runtime.evaluate", {"expression": "document.body.innerText", "returnByValue": True}, session)["result"]["value"]
        # Code cells and outputs may hold dollar signs legitimately; look at the prose only.
        prose = browser.send("Runtime.evaluate", {"expression": "Array.from(document.querySelectorAll('.jp-MarkdownOutput, .text_cell_render')).map(e => e.innerText).join('\\n')", "returnByValue": True}, session)["result"]["value"] or text
        raw = TEX.findall(prose)
        if raw:
            problems.append(f"raw TeX in the rendered text ({len(raw)}×, e.g. {raw[0]!r})")
    h = min(sh, MAX_SHOT)
    browser.send("Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": h, "deviceScaleFactor": 1, "mobile": False}, session)
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob(f"{page.stem}.part*.png"):
        old.unlink()
    # The whole page, MAX_SHOT px at a time: <page>.png, then <page>.part2.png, ... (at most MAX_PARTS).
    for part, y in enumerate(range(0, min(sh, MAX_SHOT * MAX_PARTS), MAX_SHOT)):
        clip = {"x": 0, "y": y, "width": WIDTH, "height": min(sh - y, MAX_SHOT), "scale": 1}
        shot = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True}, session)["data"])
        out = shots / (f"{page.stem}.png" if part == 0 else f"{page.stem}.part{part + 1}.png")
        out.write_bytes(shot)
        if part == 0 and png_is_blank(shot):
            problems.append(f"blank screenshot ({out})")
    if charts:
        chart_shots(browser, session, shots / page.stem)
    browser.send("Target.closeTarget", {"targetId": target})
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pages", nargs="*", type=Path)
    ap.add_argument("--reports", action="store_true", help="every target/reports/*.html")
    ap.add_argument("--notebooks", action="store_true", help="every target/notebooks/*.html (also: check math and allow the local MathJax)")
    ap.add_argument("--shots", type=Path, default=ROOT / "target" / "screenshots")
    ap.add_argument("--charts", action="store_true", help="also one screenshot per chart: SHOTS/<page>/chart_NN.png")
    args = ap.parse_args()
    jobs: list[tuple[Path, bool]] = [(p, args.notebooks) for p in args.pages]
    if args.reports:
        jobs += [(p, False) for p in sorted((ROOT / "target" / "reports").glob("*.html"))]
    if args.notebooks and not args.pages:
        jobs += [(p, True) for p in sorted((ROOT / "target" / "notebooks").glob("*.html"))]
    if not jobs:
        print("no pages to check")
        print("0 passed, 0 failed")
        return 1
    browser = Browser()
    passed = failed = 0
    try:
        for page, nb in jobs:
            start = time.monotonic()
            try:
                problems = check(browser, page, nb, args.shots, args.charts)
            except Exception as e:  # a dead browser, a protocol error
                problems = [f"check failed: {type(e).__name__}: {e}"]
            ok = not problems
            print(f"{'ok  ' if ok else 'FAIL'} {page}  {time.monotonic() - start:5.1f} s", flush=True)
            for p in problems[:10]:
                print("     " + p, flush=True)
            passed += ok
            failed += not ok
    finally:
        browser.close()
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
