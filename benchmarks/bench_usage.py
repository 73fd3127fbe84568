"""Every role using the demo in a browser for a long session: pages, forms, errors a person would meet.

Starts `hotline demo` (as `make run` does: the embedded default, the carrier simulator, demo
users, a week of history) in a temporary HOTLINE_VAR_DIR, then signs in each demo user (admin,
head, boss, lead, qa, agent1) in a browser context of its own in one headless Chromium, all at
once. Each person follows the links their pages show, opens lists and details, fills and submits
the forms they find (mostly with plausible values; some with a required field left empty, dates
the wrong way round or in the past, text past any limit where the page states none, numbers out
of range; drafts may keep parts empty, searches may look into the past), uses the htmx
controls, and switches to 简体中文 and back now and then; the agent goes available and answers
the calls offered to them.

It counts as errors: an HTTP status >= 500; a link the pages show that answers 403/404; any
console error, uncaught script error or Content-Security-Policy violation; an htmx request that
failed with nothing shown; a page showing raw codes (snake_case words, None, Traceback, template
syntax), or on a Chinese page English text whose translation exists in the catalogue or has
none; a refused form with no readable message beside it; a raw JSON answer shown as a page; a
page slower than --slow seconds; and every WARNING or ERROR line of the demo's log.

Prints pages visited, forms submitted (valid / invalid), language switches, page time p50/p99,
and errors by kind with examples (`--findings FILE` writes every error as JSON lines).

    python -m benchmarks.bench_usage --minutes 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import exit_on_sigterm, percentile
from hotline.demo import SEED_NAMES_ZH

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "hotline-demo-2026"
ROLES = ("admin", "head", "boss", "lead", "qa", "agent1")
# Forms a person of the role would not use while the others keep working: signing out, the
# language (used on purpose), and whatever would lock the demo's own people out or wipe the site.
SKIPPED_ACTIONS = re.compile(r"^/(signout|signin|language)\b|^/admin/people/\d+/|^/admin/sites/\d+/|"
                             r"^/admin/settings/reset|^/admin/backups|/restore\b|/erase\b")
SKIPPED_LINKS = re.compile(r"^/(signout|signin|language)\b|^/static/|^/api/|^/docs|^/redoc|^/openapi|"
                           r"\.(csv|pdf|wav|mp3)\b|/export\b|/download\b|/recording\b")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (WARNING|ERROR|CRITICAL) ")
SNAKE = re.compile(r"(?<![\w@./:-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w@/-])")
RAW = re.compile(r"(?:^|[\t:·(])[ ]*None[ ]*(?=$|[\t·)])|Traceback|\{\{|\}\}|\{%|%\(\w+\)s|\bundefined\b|\bNaN\b|"
                 r"<built-in|object at 0x", re.M)
ENGLISH_WORDS = re.compile(r"[A-Za-z]{2,}(?:[ ,'-]+[A-Za-z]{2,}){2,}")
STOPWORDS = {"the", "a", "an", "of", "to", "and", "or", "for", "in", "on", "is", "are", "no", "not", "this", "that",
             "with", "your", "you", "by", "at", "from", "be", "has", "have", "was", "will", "can", "it"}

# A button that keeps a draft (what is still missing is kept on purpose), or that puts a setting
# back to its default (what the box holds is not used).
DRAFT = re.compile(r"Save draft|保存草稿|Back to the default|恢复默认")

# Words the pages show on purpose: the columns an administrator's purchases CSV must have.
TEXT_TYPES = ("", "text", "search")
LITERALS = {"customer_id", "source_id", "amount_cents"}
TYPED: set[str] = set()  # what the people typed: their own words are not the page's
# The demo's seed names (people, the store, shift templates such as "Late") are data typed in one
# language, not the page's words, though some spell a word the catalogue translates.
TYPED.update(SEED_NAMES_ZH)

# Watches the page from inside: CSP violations, htmx requests in flight and failed, each swap's time.
INIT_SCRIPT = """
window.__soak = {csp: [], htmxErrors: [], inflight: 0, swaps: []};
document.addEventListener('securitypolicyviolation', e => {
  window.__soak.csp.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' '
                         + (e.sourceFile || '') + ':' + e.lineNumber);
});
// Counted on the request itself: an element swapped out while its request is in flight fires
// htmx:afterRequest where the document no longer hears it.
document.addEventListener('htmx:beforeSend', e => {
  const x = e.detail.xhr, t = performance.now(), path = (e.detail.requestConfig || {}).path;
  window.__soak.inflight++;
  x.addEventListener('loadend', () => {
    window.__soak.inflight = Math.max(0, window.__soak.inflight - 1);
    window.__soak.swaps.push(performance.now() - t);
    if (x.status >= 400 && x.status != 409 && x.status != 422) window.__soak.htmxErrors.push(x.status + ' ' + path);
    if (x.status === 0) window.__soak.htmxErrors.push('no answer ' + path);
  });
});
"""

# What the page shows a reader: its visible text, its text nodes (for the catalogue check), its language.
READ_PAGE = """() => {
  const texts = [];
  // Text marked as another language (lang=...) is content in that language: the IVR's English
  // prompts on a Chinese page, say.
  const pageLang = (document.documentElement.lang || '').slice(0, 2);
  const foreign = el => { const m = el.closest('[lang]'); return !!m && m.lang.slice(0, 2) !== pageLang; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const n = walker.currentNode, el = n.parentElement, t = n.textContent.trim();
    if (!t || !el || el.closest('script,style,noscript,code,pre,[hidden],[aria-hidden=true],.who,'
                                + '.language-switcher,input,textarea,select,option')) continue;
    if (!el.checkVisibility() || foreign(el)) continue;
    texts.push(t);
  }
  for (const el of document.querySelectorAll('[placeholder],[title],[aria-label]')) {
    if (foreign(el)) continue;
    for (const a of ['placeholder', 'title', 'aria-label']) {
      const v = el.getAttribute(a); if (v) texts.push(v.trim());
    }
  }
  return {lang: document.documentElement.lang, texts: texts, body: document.body ? document.body.innerText : '',
          contentType: document.contentType, path: location.pathname + location.search};
}"""

# The forms a person can see and use: their action, method, and whether they change anything.
LIST_FORMS = """() => Array.from(document.forms).map((f, i) => {
  const visible = f.checkVisibility() && !f.closest('[hidden]');
  const action = f.getAttribute('hx-post') || f.getAttribute('hx-get') || f.getAttribute('action') || location.pathname;
  const method = f.getAttribute('hx-get') ? 'get'
    : (f.getAttribute('hx-post') ? 'post' : (f.getAttribute('method') || 'get').toLowerCase());
  const submit = f.querySelector('button:not([type=button]):not([type=reset]), input[type=submit]');
  return {index: i, visible, action: new URL(action, location.href).pathname, method,
          fields: f.querySelectorAll('input:not([type=hidden]),select,textarea').length,
          submit: !!(submit && submit.getClientRects().length)};
})"""

ERROR_SHOWN = """() => Array.from(document.querySelectorAll(
  '.field-error, .alert.error, .refusal, [role=alert], .errors, .error, [aria-invalid=true] + *'))
  .filter(e => e.checkVisibility() && !e.hidden && e.textContent.trim().length > 3)
  .map(e => e.textContent.trim().slice(0, 160))"""


@dataclass
class Figures:
    pages: int = 0
    swaps: int = 0
    forms_valid: int = 0
    forms_invalid: int = 0
    languages: int = 0
    calls_answered: int = 0
    times: list[float] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    paths: Counter[str] = field(default_factory=Counter)


def _shape(path: str) -> str:
    """A path with its ids as {id}: the same page for each record."""
    return re.sub(r"/(\d+|[0-9a-f]{8,}|[A-Z]{1,4}-?\d[\w-]*)(?=/|$|\?)", "/{id}", path.split("?")[0])


class Catalogue:
    """The Chinese catalogue: which English texts have a translation, which are msgids without one."""

    def __init__(self) -> None:
        from babel.messages.pofile import read_po

        with open(ROOT / "agent_ui/translations/zh_Hans/LC_MESSAGES/messages.po", "rb") as handle:
            catalogue = read_po(handle)
        self.translated: dict[str, str] = {}
        self.untranslated: set[str] = set()
        for message in catalogue:
            ids = [str(i) for i in (message.id if isinstance(message.id, (tuple, list)) else (message.id,))]
            strings = [str(t or "") for t in (message.string if isinstance(message.string, (tuple, list))
                                              else (message.string,))]
            for msgid in ids:
                if not msgid:
                    continue
                if any(strings) and strings[0] != msgid:
                    self.translated[msgid.strip()] = strings[0]
                else:
                    self.untranslated.add(msgid.strip())


class Person:
    """One demo user in a browser context of their own, using the pages for `seconds`."""

    def __init__(self, username: str, url: str, browser: Any, catalogue: Catalogue, *, seconds: float,
                 pause: tuple[float, float], slow: float, invalid_share: float, seed: int) -> None:
        self.username, self.url, self.browser, self.catalogue = username, url, browser, catalogue
        self.seconds, self.pause, self.slow, self.invalid_share = seconds, pause, slow, invalid_share
        self.random = random.Random(f"{seed}-{username}")
        self.figures = Figures()
        self.page: Any = None
        self.responses: list[tuple[int, str, str, str]] = []  # status, method, url, resource type
        self.console: list[str] = []
        self.seen: Counter[str] = Counter()
        self.reported: set[tuple[str, str]] = set()
        self.doing = ""

    # -- what goes wrong
    def error(self, kind: str, detail: str, where: str | None = None) -> None:
        where = where or (self.page.url.replace(self.url, "") if self.page else "")
        self.figures.errors.append({"role": self.username, "kind": kind, "where": where, "detail": detail[:400]})

    async def start(self) -> None:
        context = await self.browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True,
                                                 locale="en-US")
        context.set_default_timeout(20000)
        await context.add_init_script(INIT_SCRIPT)
        self.page = page = await context.new_page()
        page.on("response", lambda r: self.responses.append(
            (r.status, r.request.method, r.url, r.request.resource_type)))
        # With where it came from: a failed resource's message does not name the resource.
        page.on("console", lambda m: self.console.append(
            f"{m.text} ({(m.location or {}).get('url', '').replace(self.url, '')})") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console.append(f"uncaught: {e}"))
        await self.sign_in()

    async def sign_in(self) -> None:
        page = self.page
        await page.goto(self.url + "/signin")
        await page.fill("input[name=username]", self.username)
        await page.fill("input[name=password]", PASSWORD)
        await page.locator("form[action='/signin'] button[type=submit], form[action='/signin'] button").first.click()
        await page.wait_for_load_state("load")
        if "/signin" in page.url:
            raise RuntimeError(f"{self.username} could not sign in")
        await self.set_language("en", count=False)

    async def run(self) -> Figures:
        await self.start()
        deadline = time.monotonic() + self.seconds
        await self.check("sign-in")
        while time.monotonic() < deadline:
            try:
                await self.step()
            except Exception as exc:  # noqa: BLE001 - a person meets it; the run goes on
                text = str(exc).splitlines()[0][:200]
                if "Timeout" in type(exc).__name__ or "Timeout" in text:
                    self.error("page timed out", f"{self.doing}: {text}")
                elif "Download is starting" in text or "net::ERR_ABORTED" in text:
                    pass
                else:
                    self.error("driver", f"{self.doing}: {type(exc).__name__}: {text}")
                try:
                    await self.page.goto(self.url + "/")
                except Exception:  # noqa: BLE001
                    pass
            await asyncio.sleep(self.random.uniform(*self.pause))
            if "/signin" in self.page.url:
                self.error("signed out", "the session ended during use")
                await self.sign_in()
        await self.page.context.close()
        return self.figures

    async def step(self) -> None:
        roll = self.random.random()
        if self.username == "agent1" and roll < 0.15:
            await self.desk()
        elif roll < 0.05:
            await self.switch_language()
        elif roll < 0.45:
            await self.submit_form()
        else:
            await self.follow_link()

    # -- acting
    async def timed(self, action: Any, what: str) -> None:
        """Do `action` (a click, a goto) and wait for the page to settle; check what it shows."""
        self.responses.clear()
        self.doing = what
        started = time.perf_counter()
        await action()
        await self.settle()
        elapsed = time.perf_counter() - started
        self.figures.times.append(elapsed * 1000)
        if elapsed > self.slow:
            self.error("slow page", f"{what}: {elapsed:.1f} s")
        await self.check(what)

    async def settle(self) -> None:
        page = self.page
        await page.wait_for_load_state("load")
        await asyncio.sleep(0.15)
        try:
            await page.wait_for_function("() => !window.__soak || window.__soak.inflight === 0",
                                         timeout=self.slow * 4000)
        except Exception:  # noqa: BLE001
            self.error("slow page", "an htmx request did not finish")
        await page.wait_for_load_state("load")

    async def goto(self, path: str, what: str | None = None) -> None:
        await self.timed(lambda: self.page.goto(self.url + path), what or f"GET {path}")

    async def follow_link(self) -> None:
        page = self.page
        links = await page.evaluate("""() => Array.from(document.querySelectorAll('a[href]:not([download])'))
            .filter(a => !a.closest('[hidden]')).map((a, i) => ({i, href: a.getAttribute('href'),
              visible: a.checkVisibility(), menu: !!(a.closest('details') && !a.closest('details').open)}))""")
        chosen = []
        for link in links:
            href = link["href"] or ""
            if href.startswith(self.url):
                href = href[len(self.url):]
            if not href.startswith("/") or SKIPPED_LINKS.search(href):
                continue
            chosen.append((href, link))
        if not chosen or self.random.random() < 0.1:
            await self.goto("/")
            self.figures.pages += 1
            return
        weights = [1.0 / (1 + self.seen[_shape(h)]) ** 1.5 for h, _ in chosen]
        href, link = self.random.choices(chosen, weights)[0]
        self.seen[_shape(href)] += 1
        self.figures.paths[_shape(href)] += 1
        locator = page.locator("a[href]:not([download])").nth(link["i"])
        if link["menu"]:  # a group of the bar: open it, then the page
            await locator.evaluate("a => a.closest('details').querySelector('summary').click()")
            await self.timed(lambda: locator.click(timeout=8000), f"link {href} (menu)")
        elif link["visible"]:
            await self.timed(lambda: locator.click(timeout=8000), f"link {href}")
        else:
            await self.goto(href, f"link {href} (in a menu)")
        self.figures.pages += 1
        for status, _method, url, kind in self.responses:
            if kind == "document" and url.replace(self.url, "").split("#")[0] == href and status in (403, 404):
                self.error("broken link", f"{href} answers {status}", where=href)

    async def switch_language(self) -> None:
        page = self.page
        lang = await page.evaluate("() => document.documentElement.lang")
        await self.set_language("en" if lang.startswith("zh") else "zh")

    async def set_language(self, to: str, *, count: bool = True) -> None:
        page = self.page
        button = page.locator(".language-switcher button", has_text="简体中文" if to == "zh" else "English")
        if await button.count() == 0:
            return
        await self.timed(lambda: button.first.click(), f"language -> {to}")
        if count:
            self.figures.languages += 1
        lang = await page.evaluate("() => document.documentElement.lang")
        if (to == "zh") != lang.startswith("zh"):
            self.error("language switch", f"asked for {to}, the page is in {lang}")

    async def desk(self) -> None:
        """The agent's work: be available, answer a call offered, fill the ticket form, hang up."""
        page = self.page
        if not page.url.endswith("/desktop"):
            await self.goto("/desktop")
            self.figures.pages += 1
        available = page.locator("#presence-panel button", has_text=re.compile("Available|空闲|可用"))
        if await available.count() and await available.first.is_visible() and await available.first.is_enabled() \
                and self.random.random() < 0.7:
            await self.timed(lambda: available.first.click(), "presence available")
        for _ in range(20):
            answer = page.locator("form[action$='/answer'] button, button:has-text('Answer'), button:has-text('接听')")
            if await answer.count() and await answer.first.is_visible():
                await self.timed(answer.first.click, "answer a call")
                self.figures.calls_answered += 1
                await asyncio.sleep(self.random.uniform(2, 6))
                await self.submit_form(prefer="/desktop/tickets")
                hangup = page.locator("form[action$='hangup'] button, button:has-text('Hang up'), "
                                      "button:has-text('挂断')")
                if await hangup.count() and await hangup.first.is_visible():
                    await self.timed(hangup.first.click, "hang up")
                return
            await asyncio.sleep(1)

    async def submit_form(self, prefer: str | None = None) -> None:
        page = self.page
        forms = [f for f in await page.evaluate(LIST_FORMS)
                 if f["visible"] and f["submit"] and not SKIPPED_ACTIONS.search(f["action"])]
        if prefer:
            forms = [f for f in forms if f["action"].startswith(prefer)] or forms
        if not forms:
            await self.follow_link()
            return
        weights = [1.0 / (1 + self.seen["form " + _shape(f["action"])]) for f in forms]
        form = self.random.choices(forms, weights)[0]
        self.seen["form " + _shape(form["action"])] += 1
        invalid = form["fields"] > 0 and self.random.random() < self.invalid_share
        locator = page.locator("form").nth(form["index"])
        how = await self.fill(locator, invalid)
        invalid = invalid and bool(how)  # a form with no field that can be got wrong is filled right
        submit = locator.locator("button:not([type=button]):not([type=reset]), input[type=submit]")
        buttons = [b for b in range(await submit.count())
                   if await submit.nth(b).is_visible() and await submit.nth(b).is_enabled()]
        if not buttons:
            return
        if invalid and how.startswith("empty"):
            # A draft keeps what is missing on purpose (a scorecard, a handover): the mistake is
            # sending it with a required part empty.
            final = [b for b in buttons if not DRAFT.search(await submit.nth(b).text_content() or "")]
            buttons = final or buttons
        button = submit.nth(self.random.choice(buttons))
        label = (await button.text_content() or "").strip()[:40]
        if invalid and how.startswith("empty") and DRAFT.search(label):
            invalid, how = False, ""
        what = f"{form['method'].upper()} {form['action']} [{label}]" + (f" ({how})" if invalid else "")
        page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
        await self.timed(lambda: button.click(timeout=8000), what)
        if invalid:
            self.figures.forms_invalid += 1
        else:
            self.figures.forms_valid += 1
        refused = [(s, u) for s, m, u, k in self.responses
                   if s in (400, 409, 422) and (m == "POST" or k in ("document", "xhr", "fetch"))]
        if refused or (invalid and form["method"] == "post"):
            shown = await page.evaluate(ERROR_SHOWN)
            browser_check = await page.evaluate("() => Array.from(document.querySelectorAll(':invalid'))"
                                                ".filter(e => e.tagName !== 'FORM' && e.tagName !== 'FIELDSET').length")
            if refused and not shown:
                self.error("refusal without message", f"{what}: HTTP {refused[0][0]}, nothing shown")
            elif invalid and not shown and not browser_check and not refused:
                self.figures.errors.append({"role": self.username, "kind": "invalid accepted (review)",
                                            "where": page.url.replace(self.url, ""), "detail": what})

    async def fill(self, form: Any, invalid: bool) -> str:
        """Fill the form's fields as a person would; when `invalid`, get one thing wrong (and turn
        the browser's own checks off, as a form posted by a script would be, so the server answers).
        Returns the mistake and the field it is in ("long: notes"), or "" when none was made."""
        fields = await form.evaluate("""f => Array.from(f.querySelectorAll('input:not([type=hidden]),select,textarea'))
            .map((e, i) => ({i, tag: e.tagName.toLowerCase(), type: (e.getAttribute('type') || '').toLowerCase(),
                             name: e.name, required: e.required, min: e.getAttribute('min'), max: e.getAttribute('max'),
                             maxlength: e.maxLength, visible: e.checkVisibility() && !e.disabled && !e.readOnly,
                             options: e.tagName === 'SELECT' ? Array.from(e.options).map(o => o.value) : [],
                             multiple: e.multiple, value: e.value, numeric: e.inputMode === 'numeric',
                             suggested: e.list ? Array.from(e.list.options).map(o => o.value).filter(v => v) : []}))""")
        fields = [f for f in fields if f["visible"]]
        if not fields:
            return ""
        mistake, target = "", None
        dates = [f for f in fields if f["type"] in ("date", "datetime-local")]
        if invalid:
            search = await form.evaluate("f => f.matches('.filters, [role=search]') || f.method === 'get'")
            candidates_of = {
                # Only a field the page marks required is a mistake left empty: an optional note,
                # a search box or a draft's answer may be empty.
                "empty": [f for f in fields if f["required"] and f["type"] not in ("checkbox", "radio", "file")],
                # Dates the wrong way round need two of them; a date long past is a mistake where
                # something is planned or asked for, not in a search of what happened.
                "dates": dates if len(dates) > 1 or not search else [],
                # Text past its limit: a field that states one (maxlength) keeps a person within it
                # in the browser (a paste is cut there), so the mistake is on a field that states
                # none, with more than any field of the hub keeps (10,000 characters).
                "long": [f for f in fields if (f["tag"] == "textarea" or (f["tag"] == "input" and f["type"] in
                                                                          TEXT_TYPES)) and f["maxlength"] <= 0],
                # Out of the range the page states: below its min, or past its max; a number with
                # no max stated may be large (a wait limit of hours is odd, not wrong).
                "number": [f for f in fields if f["type"] == "number" and (f["min"] or f["max"])]}
            kinds = [kind for kind, some in candidates_of.items() if some]
            if not kinds:
                return ""
            mistake = self.random.choice(kinds)
            await form.evaluate("f => { f.noValidate = true; "
                                "f.querySelectorAll('[min],[max]').forEach(e => { e.removeAttribute('min'); "
                                "e.removeAttribute('max'); }); }")
            candidates = candidates_of[mistake]
            target = self.random.choice(candidates)["i"]
            if mistake == "dates" and search:
                mistake = "dates reversed"
        elements = form.locator("input:not([type=hidden]),select,textarea")
        day_offset = 0
        for f in fields:
            element = elements.nth(f["i"])
            wrong = f["i"] == target or (mistake.startswith("dates") and f["type"] in ("date", "datetime-local"))
            kind = f["type"]
            if f["tag"] == "select":
                options = [o for o in f["options"] if o] or f["options"]
                if f["i"] == target and mistake == "empty":
                    await element.evaluate("e => { const o = document.createElement('option'); o.value = ''; "
                                           "e.add(o); e.value = ''; }")
                elif options and (f["required"] or self.random.random() < 0.8):
                    await element.select_option(self.random.choice(options))
            elif kind in ("checkbox", "radio"):
                if self.random.random() < 0.5:
                    await element.check()
            elif kind == "file":
                continue
            elif f["i"] == target and mistake == "empty":
                await element.fill("")
            elif kind == "date":
                # in the right order, from today; wrong: the later field first, or long past
                reversed_ = mistake == "dates reversed" or (len(dates) > 1 and self.random.random() < 0.6)
                offset = (20 - 7 * day_offset) if wrong and reversed_ else \
                    (-400 if wrong else 1 + 3 * day_offset + self.random.randint(0, 5))
                day_offset += 1
                await element.fill((date.today() + timedelta(days=offset)).isoformat())
            elif kind == "datetime-local":
                offset = ((20 - 7 * day_offset) if len(dates) > 1 else -400) if wrong else 1 + 2 * day_offset
                day_offset += 1
                day = (date.today() + timedelta(days=offset)).isoformat()
                await element.fill(f"{day}T{self.random.randint(8, 17):02d}:00")
            elif kind == "time":
                await element.fill(f"{self.random.randint(7, 18):02d}:{self.random.choice(['00', '30'])}")
            elif kind == "number":
                low = float(f["min"]) if f["min"] not in (None, "") else 0
                high = float(f["max"]) if f["max"] not in (None, "") else low + 20
                wrong_values = ([low - 5] if f["min"] not in (None, "") else []) + \
                    ([high * 1000 + 7] if f["max"] not in (None, "") else [])
                value = self.random.choice(wrong_values) if f["i"] == target else \
                    self.random.randint(int(low), int(max(low, min(high, low + 20))))
                await element.fill(str(int(value)))
            elif kind == "password":
                if f["required"] or f["value"] == "":
                    await element.fill(PASSWORD + "-x9")
            elif kind == "email":
                await element.fill("not-an-address" if wrong else f"soak{self.random.randint(1, 999)}@example.com")
            elif kind == "tel":
                await element.fill(f"+86139{self.random.randint(10000000, 99999999)}")
            elif kind in ("", "text", "search", "url") or f["tag"] == "textarea":
                if f["i"] == target and mistake == "long":
                    await element.fill(("Too long " * 1400)[:12000])
                elif f["value"] and self.random.random() < 0.5:
                    continue  # a value already there (an edit form): leave it
                elif f["suggested"] and self.random.random() < 0.8:
                    await element.fill(self.random.choice(f["suggested"]))  # picked from the box's list
                elif f["numeric"]:
                    await element.fill(str(self.random.randint(1, 40)))  # an id, as a person would copy it
                else:
                    await element.fill(self.text_for(f["name"], f["maxlength"], f["tag"] == "textarea"))
        if not mistake:
            return ""
        named = next((f["name"] for f in fields if f["i"] == target), "") or ""
        return f"{mistake}: {named}" if named else mistake

    def text_for(self, name: str, maxlength: int, long: bool) -> str:
        text = self._text_for(name, maxlength, long)
        TYPED.add(text)
        return text

    def _text_for(self, name: str, maxlength: int, long: bool) -> str:
        name = (name or "").lower()
        r = self.random
        if "phone" in name or "number" in name and "ticket" not in name:
            text = f"+86138{r.randint(10000000, 99999999)}"
        elif "code" in name:
            text = f"S{r.randint(10, 99)}"
        elif "name" in name:
            text = r.choice(["Wang Lei", "Zhao Min", "陈静", "Morning shift", "Billing", "Huang Tao"])
        elif "q" == name or "search" in name or "query" in name:
            text = r.choice(["Wang", "138", "billing", "T-", "王"])
        elif "email" in name:
            text = f"soak{r.randint(1, 999)}@example.com"
        elif long:
            text = r.choice(["Customer asked about the last bill; explained the charges and sent a copy.",
                             "客户反映话费异常，已核实并解释。", "Follow up tomorrow morning with the billing team.",
                             "Calm, clear, solved on the first call."])
        else:
            text = r.choice(["Billing question", "Line down since Monday", "账单疑问", "Refund request", "OK"])
        return text[:maxlength] if maxlength and maxlength > 0 else text

    # -- checking what the person sees
    async def check(self, what: str) -> None:
        page = self.page
        for status, method, url, _kind in self.responses:
            if status >= 500:
                self.error("HTTP 5xx", f"{what}: {method} {url.replace(self.url, '')} -> {status}")
        self.responses.clear()
        soak = await page.evaluate("() => { const s = window.__soak || {csp: [], htmxErrors: []}; "
                                   "const r = {csp: s.csp, htmx: s.htmxErrors, "
                                   "swaps: (s.swaps || []).length}; if (window.__soak) { window.__soak.csp = []; "
                                   "window.__soak.htmxErrors = []; window.__soak.swaps = []; } return r; }")
        self.figures.swaps += soak["swaps"]
        for line in soak["csp"]:
            self.error("CSP violation", f"{what}: {line}")
        for line in soak["htmx"]:
            self.error("htmx request failed", f"{what}: {line}")
        for line in self.console:
            if "Content Security Policy" in line or "Content-Security-Policy" in line:
                self.error("CSP violation", f"{what}: {line}")
            elif "status of 409" in line or "status of 422" in line or "status of 400" in line:
                continue  # a refused form, checked for its message
            else:
                self.error("console error", f"{what}: {line}")
        self.console.clear()
        shown = await page.evaluate(READ_PAGE)
        if "json" in (shown["contentType"] or ""):
            self.error("raw JSON page", f"{what}: {shown['body'][:200]}")
            return
        body = shown["body"]
        words = "\n".join(shown["texts"])  # not code, a secret shown once, or what a person typed
        for match in set(SNAKE.findall(words)) - LITERALS:
            self.once("raw code on screen", match, f"{what}: '{match}' in …{_around(body, match)}…")
        chinese = shown["lang"].startswith("zh")
        for match in set(RAW.findall(body)):
            if match.strip(" \t:·()") != "None" or chinese:  # "None" is the English word for an empty list
                self.once("raw value on screen", match, f"{what}: '{match}' in …{_around(body, match)}…")
        if chinese:
            for text in set(shown["texts"]) - TYPED:
                if "Too long Too long" in text:
                    continue  # what a person typed, as long as the page kept it
                if text in self.catalogue.translated:
                    self.once("English where a translation exists", text, f"{what}: '{text[:120]}'")
                elif text in self.catalogue.untranslated:
                    self.once("msgid without a Chinese translation", text, f"{what}: '{text[:120]}'")
                elif ENGLISH_WORDS.search(text) and STOPWORDS & set(re.findall(r"[a-z]+", text.lower())):
                    self.once("English on a Chinese page (review)", text, f"{what}: '{text[:120]}'")

    def once(self, kind: str, key: str, detail: str) -> None:
        """A text counted once per page shape (the same words on the same page are one finding)."""
        mark = (kind, key + " @ " + _shape(self.page.url.replace(self.url, "")))
        if mark not in self.reported:
            self.reported.add(mark)
            self.error(kind, detail)


def _around(body: str, match: str) -> str:
    at = body.find(match)
    return body[max(0, at - 50):at + len(match) + 50].replace("\n", " ⏎ ")


class Demo:
    """`hotline demo` in a subprocess, as `make run` starts it; its log in a file."""

    def __init__(self, var: Path, port: int, calls_per_minute: float, history: int) -> None:
        self.var, self.port, self.log_path = var, port, var / "demo.log"
        self.url = f"http://127.0.0.1:{port}"
        hotline = Path(sys.executable).with_name("hotline")
        command = [str(hotline)] if hotline.exists() else [sys.executable, "-m", "hotline.cli"]
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")},
               "HOTLINE_VAR_DIR": str(var / "var"), "PYTHONUNBUFFERED": "1"}
        self.log = open(self.log_path, "w")  # noqa: SIM115 - open for the process's life
        self.started = time.monotonic()
        self.stopped_at = 0
        self.process = subprocess.Popen([*command, "demo", "--port", str(port), "--calls-per-minute",
                                         str(calls_per_minute), "--history-calls-per-day", str(history)],
                                        cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def wait(self, timeout: float = 600) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the demo exited {self.process.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as answer:  # noqa: S310 - loopback
                    if answer.status == 200:
                        return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the demo did not answer /healthz")

    def problems(self, *, at_stop: bool = False) -> list[str]:
        """The log's WARNING and ERROR lines (with a traceback's last line), while in use or (`at_stop`)
        from the moment it was asked to stop."""
        text = self.log_path.read_text(errors="replace")
        lines = (text[self.stopped_at:] if at_stop else text[:self.stopped_at]).splitlines()
        found = []
        for n, line in enumerate(lines):
            if LOG_LINE.match(line):
                tail = ""
                if n + 1 < len(lines) and lines[n + 1].startswith("Traceback"):
                    rest = [x for x in lines[n + 1:n + 80] if x and not x.startswith((" ", "Traceback"))]
                    tail = " | " + rest[0] if rest else ""
                found.append(line.split(" ", 2)[2][:300] + tail[:200])
        return found

    def stop(self) -> None:
        self.stopped_at = len(self.log_path.read_text(errors="replace"))
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.close()


def cpu_of(pid: int) -> float:
    from benchmarks.common import cpu_seconds

    return cpu_seconds(pid)


async def soak(args: argparse.Namespace, url: str) -> tuple[list[Figures], float]:
    from playwright.async_api import async_playwright

    catalogue = Catalogue()
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        people = [Person(u, url, browser, catalogue, seconds=args.minutes * 60,
                         pause=(args.pause / 2, args.pause * 1.5), slow=args.slow, invalid_share=args.invalid,
                         seed=args.seed) for u in args.roles]
        started = time.monotonic()
        figures = await asyncio.gather(*(p.run() for p in people), return_exceptions=True)
        elapsed = time.monotonic() - started
        await browser.close()
    out = []
    for person, result in zip(people, figures, strict=True):
        if isinstance(result, BaseException):
            person.figures.errors.append({"role": person.username, "kind": "driver", "where": "",
                                          "detail": f"the session stopped: {result!r}"[:400]})
            out.append(person.figures)
        else:
            out.append(result)
    return out, elapsed


def report(args: argparse.Namespace, figures: list[Figures], demo: Demo, elapsed: float,
           startup: float, cpu: float) -> list[dict[str, str]]:
    errors = [e for f in figures for e in f.errors]
    errors += [{"role": "server", "kind": "server log WARNING/ERROR", "where": "", "detail": line}
               for line in demo.problems()]
    errors += [{"role": "server", "kind": "server log WARNING/ERROR while stopping", "where": "", "detail": line}
               for line in demo.problems(at_stop=True)]
    times = [t for f in figures for t in f.times]
    print(f"usage soak: {len(figures)} people ({', '.join(args.roles)}) in parallel for {elapsed / 60:.1f} min "
          f"(demo started in {startup:.0f} s; demo CPU {cpu:.0f} s = {100 * cpu / max(elapsed, 1):.0f} % of a core)")
    print(f"  {'role':<8} {'pages':>6} {'swaps':>6} {'forms ok':>9} {'invalid':>8} {'language':>9} {'calls':>6} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>7}")
    for role, f in zip(args.roles, figures, strict=True):
        print(f"  {role:<8} {f.pages:>6} {f.swaps:>6} {f.forms_valid:>9} {f.forms_invalid:>8} {f.languages:>9} "
              f"{f.calls_answered:>6} {percentile(f.times, 0.5) if f.times else 0:>7.0f} "
              f"{percentile(f.times, 0.99) if f.times else 0:>7.0f} {len(f.errors):>7}")
    print(f"  pages visited {sum(f.pages for f in figures)}, htmx swaps {sum(f.swaps for f in figures)}, "
          f"forms submitted {sum(f.forms_valid + f.forms_invalid for f in figures)} "
          f"({sum(f.forms_invalid for f in figures)} with a mistake), "
          f"language switches {sum(f.languages for f in figures)}")
    if times:
        print(f"  page time p50 {percentile(times, 0.5):.0f} ms, p99 {percentile(times, 0.99):.0f} ms, "
              f"max {max(times):.0f} ms ({len(times)} actions)")
    print(f"  distinct pages {len({p for f in figures for p in f.paths})}")
    by_kind: dict[str, list[dict[str, str]]] = defaultdict(list)
    for e in errors:
        by_kind[e["kind"]].append(e)
    print(f"  errors by kind ({len(errors)} in all):")
    for kind, items in sorted(by_kind.items(), key=lambda kv: -len(kv[1])):
        print(f"    {len(items):>5}  {kind}")
        for (role, detail), count in Counter((e["role"], e["detail"][:150]) for e in items).most_common(args.examples):
            print(f"           {count:>3} x {role}: {detail}")
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20, help="each person's session (20-30 for the soak)")
    parser.add_argument("--port", type=int, default=8391)
    parser.add_argument("--roles", nargs="+", default=list(ROLES), choices=ROLES)
    parser.add_argument("--pause", type=float, default=2.0, help="a person's mean thinking time between actions (s)")
    parser.add_argument("--slow", type=float, default=3.0, help="a page slower than this (s) is an error")
    parser.add_argument("--invalid", type=float, default=0.3, help="share of forms filled with a mistake")
    parser.add_argument("--calls-per-minute", type=float, default=3.0, help="the demo's traffic (as `make run`)")
    parser.add_argument("--history", type=int, default=8, help="the demo's history calls a day (0: none, faster)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--examples", type=int, default=6, help="examples printed per kind of error")
    parser.add_argument("--findings", type=Path, help="write every error here as JSON lines (and the demo's log "
                        "beside it, FILE.demo.log)")
    args = parser.parse_args()
    exit_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="hotline-usage-") as var:
        demo = Demo(Path(var), args.port, args.calls_per_minute, args.history)
        try:
            startup = demo.wait()
            cpu_before = cpu_of(demo.process.pid)
            figures, elapsed = asyncio.run(soak(args, demo.url))
            cpu = cpu_of(demo.process.pid) - cpu_before
        finally:
            demo.stop()
        errors = report(args, figures, demo, elapsed, startup, cpu)
        if args.findings:  # the demo's log beside the findings, to look into a slow page or an error
            shutil.copyfile(demo.log_path, args.findings.with_suffix(".demo.log"))
    if args.findings:
        args.findings.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in errors))


if __name__ == "__main__":
    main()
