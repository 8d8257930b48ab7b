"""One way to start a real browser in the tests: Debian's chromium (`make test` installs it),
driven by Playwright, which never downloads a browser of its own."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def csp_violations(page) -> list[str]:
    """Content-Security-Policy violations the page reports, from now on: the browser's console
    message and the page's own `securitypolicyviolation` event, one entry each. Assert it empty."""
    found: list[str] = []

    def on_console(message):
        if "Content Security Policy" in message.text:
            found.append(message.text)

    page.on("console", on_console)
    page.expose_function("__cspViolation", lambda text: found.append(text))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => window.__cspViolation("
        "`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`));"
    )
    return found


AXE = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "axe-core" / "axe.min.js"


def watch_console(page) -> list[str]:
    """Console errors and uncaught exceptions of a page, as they happen. A Content-Security-Policy
    violation is a console error ("Refused to ..."), so an empty list also means none."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return errors


def axe_violations(
    page, console: list[str] | None = None, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[dict]:
    """axe-core's violations of the page's current state at these impacts. The library (npm,
    tests/js) is evaluated through the DevTools protocol, which the page's CSP does not govern;
    the <style> element axe adds while it measures is, and is refused: pass the page's
    ``watch_console`` list and those refusals, axe's and not the page's, are taken out of it."""
    before = len(console) if console is not None else 0
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, { resultTypes: ["violations"] });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
            }));
        }"""
    )
    if console is not None:
        page.wait_for_timeout(100)  # the console events of the run arrive after it returns
        console[before:] = [line for line in console[before:] if "Content Security Policy" not in line]
    return [violation for violation in found if violation["impact"] in impacts]
