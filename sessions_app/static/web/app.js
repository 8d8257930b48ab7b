/* The built-in web client: shared helpers (window.K12) and the "My sessions" page.
 *
 * Plain JavaScript, no build step, nothing from elsewhere. Every piece of data comes from the
 * public API (shared/CONTRACT.md) with the browser's Django session: same-origin fetch() sends
 * the session cookie, and writes carry the CSRF token in the X-CSRFToken header.
 * User text only ever reaches the page through textContent, so markup shows as text.
 */
(function () {
  "use strict";

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function loginUrl() {
    const base = document.body.dataset.loginUrl || "/login/";
    return base + "?next=" + encodeURIComponent(location.pathname);
  }

  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      super(describe(status, body));
      this.status = status; // 0 when the request never got an answer
      this.body = body;
      this.retryAfter = retryAfter ? Number(retryAfter) : null;
    }
  }

  function describe(status, body) {
    if (!status) return "The network is unreachable.";
    if (body && typeof body.detail === "string") return body.detail;
    if (body && typeof body === "object") {
      return Object.values(body).flat().filter((item) => typeof item === "string").join(" ") || `Error ${status}.`;
    }
    return `Error ${status}.`;
  }

  /** RFC 8288 Link header → {prev: url, next: url}. */
  function parseLinks(header) {
    const links = {};
    if (!header) return links;
    const re = /<([^>]*)>\s*;\s*rel="([^"]*)"/g;
    let match;
    while ((match = re.exec(header)) !== null) links[match[2]] = match[1];
    return links;
  }

  /** fetch() a JSON endpoint; resolves {data, links, status}, rejects with ApiError. */
  async function api(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, null, null);
    }
    let data = null;
    if ((response.headers.get("Content-Type") || "").includes("json")) {
      try {
        data = await response.json();
      } catch (err) {
        data = null;
      }
    }
    if (response.status === 401) {
      // The Django session ended (logged out elsewhere, or expired): back to the login page.
      location.assign(loginUrl());
    }
    if (!response.ok) throw new ApiError(response.status, data, response.headers.get("Retry-After"));
    return { data, links: parseLinks(response.headers.get("Link")), status: response.status };
  }

  const PROPERTIES = new Set(["className", "textContent", "href", "dateTime", "type", "src"]);

  /** el("p", {className: "x"}, "text", child): children are nodes or strings (as text). */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      // Properties for the DOM's own fields and flags (controls: true), attributes for the rest.
      if (PROPERTIES.has(key) || typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // randomUUID needs a secure context; a phone on http://<LAN address> is not one.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

  function fmtDateTime(iso) {
    return iso ? dateTime.format(new Date(iso)) : "";
  }

  function fmtTime(iso) {
    const date = new Date(iso);
    const today = new Date().toDateString() === date.toDateString();
    return today ? timeOnly.format(date) : dateTime.format(date);
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const s = Math.round(Number(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return "";
    const units = ["bytes", "KB", "MB", "GB"];
    let value = Number(n);
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit += 1;
    }
    return unit ? `${value.toFixed(1)} ${units[unit]}` : `${value} bytes`;
  }

  // Busy, not disabled: disabling the focused button would drop a keyboard user's focus.
  function setBusy(button, busy) {
    if (busy) button.setAttribute("aria-busy", "true");
    else button.removeAttribute("aria-busy");
  }

  function isBusy(button) {
    return button.getAttribute("aria-busy") === "true";
  }

  function personName(person) {
    return person ? `${person.first_name || ""} ${person.last_name || ""}`.trim() : "";
  }

  // Who is logged in: asked once per page (not at all on the login page), shared by the scripts.
  let mePromise = null;
  function me() {
    if (!mePromise) mePromise = api("/api/me").then((r) => r.data);
    return mePromise;
  }

  window.K12 = {
    api,
    ApiError,
    csrfToken,
    loginUrl,
    parseLinks,
    el,
    uuid4,
    fmtDateTime,
    fmtTime,
    fmtDuration,
    fmtBytes,
    personName,
    setBusy,
    isBusy,
    me,
  };

  document.addEventListener("DOMContentLoaded", () => {
    const whoami = document.getElementById("whoami");
    if (whoami) {
      me().then((user) => {
        whoami.textContent = `${personName(user) || user.email} (${user.role})`;
      }).catch(() => {});
    }
    const page = document.getElementById("sessions-page");
    if (page) sessionsPage(page);
  });

  // --- My sessions ---------------------------------------------------------------------------

  function sessionsPage(page) {
    const list = document.getElementById("sessions");
    const status = document.getElementById("sessions-status");
    const more = document.getElementById("sessions-more");
    const roomUrl = (id) => page.dataset.roomUrl.replace("SESSION_ID", encodeURIComponent(id));
    let nextUrl = null;

    async function load(url) {
      if (isBusy(more)) return;
      setBusy(more, true);
      try {
        const { data, links } = await api(url);
        for (const session of data) list.append(sessionItem(session));
        nextUrl = links.next || null;
        more.hidden = !nextUrl;
        status.textContent = list.children.length
          ? `${list.children.length} session${list.children.length === 1 ? "" : "s"}.`
          : "You have no sessions yet.";
      } catch (err) {
        status.textContent = `Could not load your sessions: ${err.message}`;
      } finally {
        setBusy(more, false);
      }
    }

    function sessionItem(session) {
      const student = personName(session.student);
      const tutor = personName(session.tutor);
      const title = `${session.subject.name}: ${student} with ${tutor}`;
      const link = el("a", { href: roomUrl(session.id), className: "session-link" }, title);
      const details = el(
        "p",
        { className: "muted" },
        el("time", { dateTime: session.starts_at }, fmtDateTime(session.starts_at)),
        ` · ${session.duration_minutes} min`,
      );
      const badges = el("p", { className: "badges" }, el("span", { className: `status status-${session.status}` }, session.status));
      // Unread counts are shown when the API offers them (the field may be absent or null).
      if (typeof session.unread === "number" && session.unread > 0) {
        const label = `${session.unread} unread message${session.unread === 1 ? "" : "s"}`;
        badges.append(" ", el("span", { className: "badge unread", "data-unread": String(session.unread) }, label));
      }
      return el("li", { className: "session card", "data-session-id": session.id }, link, details, badges);
    }

    more.addEventListener("click", () => nextUrl && load(nextUrl));
    load("/api/sessions");
  }
})();
