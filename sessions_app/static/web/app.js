/* The built-in web client: shared helpers (window.K12) and the "My sessions" page.
 *
 * Plain JavaScript, no build step, nothing from elsewhere. Every piece of data comes from the
 * public API (/api/, described at /api/docs/) with the browser's Django session: same-origin
 * fetch() sends the session cookie, and writes carry the CSRF token in the X-CSRFToken header.
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

  const PROPERTIES = new Set(["className", "textContent", "href", "dateTime", "type", "src", "htmlFor"]);

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
    const bell = document.getElementById("bell");
    if (bell) notificationsBell(bell);
    const page = document.getElementById("sessions-page");
    if (page) sessionsPage(page);
    const children = document.getElementById("children-page");
    if (children) childrenPage();
  });

  // --- The notifications bell ----------------------------------------------------------------

  const JOIN_BEFORE_MS = 15 * 60 * 1000; // "Join" shows this long before the start
  const MAX_SESSION_MS = 240 * 60 * 1000; // the longest session the API books

  function notificationsBell(bell) {
    const panel = document.getElementById("notifications-panel");
    const list = document.getElementById("notifications-list");
    const status = document.getElementById("notifications-status");
    const count = document.getElementById("bell-count");
    const items = new Map(); // notification id → {notification, li}

    function unread() {
      let n = 0;
      for (const { notification } of items.values()) if (!notification.read_at) n += 1;
      return n;
    }

    function renderCount() {
      const n = unread();
      count.hidden = n === 0;
      count.textContent = String(n);
      bell.setAttribute("aria-label", n ? `Notifications, ${n} unread` : "Notifications, none unread");
      status.textContent = items.size ? (n ? `${n} unread.` : "All read.") : "Nothing yet.";
    }

    function sessionOf(notification) {
      const data = notification.data || {};
      return data.sessionId || data.session_id || null;
    }

    function itemElement(notification) {
      const body = el(
        "button",
        { type: "button", className: "notification-open" },
        el("span", { className: "visually-hidden unread-mark" }, "Unread: "),
        el("span", { className: "notification-title" }, notification.title),
        notification.body ? el("span", { className: "notification-body" }, notification.body) : null,
        el("time", { dateTime: notification.created_at, className: "notification-time" }, fmtDateTime(notification.created_at)),
      );
      const li = el("li", { className: "notification", "data-id": notification.id, "data-kind": notification.kind }, body);
      body.addEventListener("click", () => markRead(notification.id, true));
      return li;
    }

    function fill(li, notification) {
      li.classList.toggle("unread", !notification.read_at);
      li.querySelector(".unread-mark").hidden = Boolean(notification.read_at);
    }

    function add(notification, { atTop = false } = {}) {
      const known = items.get(notification.id);
      if (known) {
        known.notification = notification;
        fill(known.li, notification);
        return;
      }
      const li = itemElement(notification);
      items.set(notification.id, { notification, li });
      fill(li, notification);
      if (atTop) list.prepend(li);
      else list.append(li);
    }

    async function markRead(id, open) {
      const item = items.get(id);
      if (!item) return;
      const target = sessionOf(item.notification);
      if (!item.notification.read_at) {
        try {
          const { data } = await api(`/api/notifications/${encodeURIComponent(id)}/read`, { method: "POST" });
          add(data);
          renderCount();
        } catch (err) {
          status.textContent = `Could not mark it read: ${err.message}`;
          return;
        }
      }
      if (open && target && !location.pathname.includes(target)) location.assign(`/sessions/${encodeURIComponent(target)}/`);
    }

    async function load() {
      try {
        const { data } = await api("/api/notifications?limit=30");
        for (const notification of data) add(notification);
        renderCount();
      } catch (err) {
        status.textContent = `Could not load notifications: ${err.message}`;
      }
    }

    function toggle(open) {
      panel.hidden = !open;
      bell.setAttribute("aria-expanded", String(open));
    }

    bell.addEventListener("click", () => toggle(panel.hidden));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !panel.hidden) {
        toggle(false);
        bell.focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (!panel.hidden && !panel.contains(event.target) && !bell.contains(event.target)) toggle(false);
    });

    // Live: the room's socket hands its notifications over; other pages keep a socket for them.
    document.addEventListener("k12:notification", (event) => {
      add(event.detail, { atTop: true });
      renderCount();
    });
    if (!document.getElementById("room")) notificationSocket();
    load();
  }

  /** A socket that only listens for this user's notifications (pages without a live room). */
  function notificationSocket() {
    let attempt = 0;
    function open() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${scheme}//${location.host}/ws/encounters/`);
      ws.addEventListener("message", (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (err) {
          return;
        }
        if (frame.type === "ready") attempt = 0;
        if (frame.type === "notification") {
          document.dispatchEvent(new CustomEvent("k12:notification", { detail: frame.notification }));
        }
      });
      ws.addEventListener("close", (event) => {
        if (event.code === 4401 || event.code === 4403) return; // signed out: the next request says so
        attempt += 1;
        const ceiling = Math.min(30000, 1000 * 2 ** (attempt - 1));
        setTimeout(open, ceiling / 2 + Math.random() * (ceiling / 2));
      });
    }
    open();
  }

  // --- My sessions ---------------------------------------------------------------------------

  function sessionsPage(page) {
    const upcoming = document.getElementById("sessions");
    const past = document.getElementById("past-sessions");
    const status = document.getElementById("sessions-status");
    const moreUpcoming = document.getElementById("sessions-more");
    const morePast = document.getElementById("past-more");
    const roomUrl = (id) => page.dataset.roomUrl.replace("SESSION_ID", encodeURIComponent(id));
    const cards = new Map(); // session id → li
    const next = { upcoming: null, past: null };
    // One split for the whole visit, so a session does not jump lists while the page is open.
    const now = Date.now();

    function isUpcoming(session) {
      return session.status === "scheduled" && Date.parse(session.ends_at) > now;
    }

    function joinable(session) {
      const start = Date.parse(session.starts_at);
      return session.status === "scheduled" && Date.now() >= start - JOIN_BEFORE_MS && Date.now() < Date.parse(session.ends_at);
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
      if (typeof session.unread === "number" && session.unread > 0) {
        const label = `${session.unread} unread message${session.unread === 1 ? "" : "s"}`;
        badges.append(" ", el("span", { className: "badge unread", "data-unread": String(session.unread) }, label));
      }
      const actions = el("p", { className: "session-actions" });
      if (joinable(session)) {
        const join = el("a", { href: roomUrl(session.id), className: "button primary join" }, "Join");
        join.setAttribute("aria-label", `Join ${title} now`);
        actions.append(join);
      }
      if (session.can && session.can.cancel && isUpcoming(session)) {
        const cancel = el("button", { type: "button", className: "danger cancel" }, "Cancel");
        cancel.setAttribute("aria-label", `Cancel ${title} on ${fmtDateTime(session.starts_at)}`);
        cancel.addEventListener("click", () => cancelSession(session, cancel));
        actions.append(cancel);
      }
      const li = el("li", { className: "session card", "data-session-id": session.id }, link, details, badges);
      if (actions.children.length) li.append(actions);
      li.dataset.start = String(Date.parse(session.starts_at));
      return li;
    }

    function place(session) {
      const li = sessionItem(session);
      const old = cards.get(session.id);
      if (old) old.remove();
      cards.set(session.id, li);
      const list = isUpcoming(session) ? upcoming : past;
      const start = Number(li.dataset.start);
      // upcoming soonest first, past newest first
      const before = Array.from(list.children).find((other) =>
        list === upcoming ? Number(other.dataset.start) > start : Number(other.dataset.start) < start,
      );
      list.insertBefore(li, before || null);
      return li;
    }

    function summarize() {
      document.getElementById("upcoming-empty").hidden = upcoming.children.length > 0;
      document.getElementById("past-empty").hidden = past.children.length > 0;
      const n = upcoming.children.length;
      status.textContent = `${n} upcoming session${n === 1 ? "" : "s"}.`;
    }

    async function load(which, url) {
      const button = which === "upcoming" ? moreUpcoming : morePast;
      if (isBusy(button)) return;
      setBusy(button, true);
      try {
        const { data, links } = await api(url);
        for (const session of data) place(session);
        next[which] = links.next || null;
        button.hidden = !next[which];
        summarize();
      } catch (err) {
        status.textContent = `Could not load your sessions: ${err.message}`;
      } finally {
        setBusy(button, false);
      }
    }

    async function cancelSession(session, button) {
      if (isBusy(button)) return;
      if (!window.confirm(`Cancel ${session.subject.name} on ${fmtDateTime(session.starts_at)}? Everyone taking part is told.`)) return;
      setBusy(button, true);
      try {
        const { data } = await api(`/api/sessions/${encodeURIComponent(session.id)}/cancel`, { method: "POST", body: {} });
        const li = place(data);
        summarize();
        status.textContent = `Cancelled ${data.subject.name} on ${fmtDateTime(data.starts_at)}.`;
        li.querySelector(".session-link").focus();
      } catch (err) {
        status.textContent = `Could not cancel: ${err.message}`;
        setBusy(button, false);
      }
    }

    moreUpcoming.addEventListener("click", () => next.upcoming && load("upcoming", next.upcoming));
    morePast.addEventListener("click", () => next.past && load("past", next.past));
    // Sessions that started up to the longest session ago may still be running: they are
    // read with the upcoming ones and sorted by their end.
    const split = new Date(now - MAX_SESSION_MS).toISOString();
    load("upcoming", `/api/sessions?from=${encodeURIComponent(split)}`);
    load("past", `/api/sessions?to=${encodeURIComponent(split)}`);
    me().then((user) => {
      if (user.role === "parent") bookingForm({ place, summarize, status });
    }).catch(() => {});
  }

  // --- Booking (parents) ---------------------------------------------------------------------

  const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

  /** Weekday (0 = Monday) and minutes since midnight of an instant, in a time zone. */
  function localParts(date, timeZone) {
    const parts = new Intl.DateTimeFormat("en-GB", {
      timeZone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).formatToParts(date);
    const get = (type) => parts.find((p) => p.type === type).value;
    const weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].indexOf(get("weekday"));
    return { weekday, minutes: Number(get("hour")) * 60 + Number(get("minute")) };
  }

  function minutesOf(hhmmss) {
    const [h, m] = hhmmss.split(":").map(Number);
    return h * 60 + m;
  }

  /** Inside one of the tutor's weekly windows, as the server decides it. */
  function insideAvailability(windows, starts, ends) {
    return windows.some((w) => {
      const a = localParts(starts, w.timezone);
      const b = localParts(ends, w.timezone);
      const endMinutes = b.minutes === 0 && b.weekday !== a.weekday ? 24 * 60 : b.minutes;
      return a.weekday === w.weekday && (b.weekday === a.weekday || endMinutes === 24 * 60) &&
        minutesOf(w.start_time) <= a.minutes && endMinutes <= minutesOf(w.end_time);
    });
  }

  function describeAvailability(windows) {
    if (!windows.length) return "No availability set: ask the staff.";
    const first = windows[0];
    const same = (w) => w.start_time === first.start_time && w.end_time === first.end_time && w.timezone === first.timezone;
    if (windows.length === 7 && new Set(windows.map((w) => w.weekday)).size === 7 && windows.every(same)) {
      return `Available every day ${first.start_time.slice(0, 5)}–${first.end_time.slice(0, 5)} (${first.timezone}).`;
    }
    return "Available " + windows
      .map((w) => `${WEEKDAYS[w.weekday].slice(0, 3)} ${w.start_time.slice(0, 5)}–${w.end_time.slice(0, 5)}`)
      .join(", ") + ` (${windows[0].timezone}).`;
  }

  function bookingForm({ place, summarize, status }) {
    const section = document.getElementById("book");
    const form = document.getElementById("book-form");
    const student = document.getElementById("book-student");
    const tutor = document.getElementById("book-tutor");
    const hint = document.getElementById("book-availability");
    const date = document.getElementById("book-date");
    const time = document.getElementById("book-time");
    const duration = document.getElementById("book-duration");
    const error = document.getElementById("book-status");
    const submit = form.querySelector("button[type=submit]");
    let choices = [];

    const today = new Date();
    date.min = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, "0")}-${String(today.getDate()).padStart(2, "0")}`;

    async function loadTutors() {
      tutor.replaceChildren();
      hint.textContent = "";
      if (!student.value) return;
      try {
        const { data } = await api(`/api/students/${encodeURIComponent(student.value)}/tutors`);
        choices = data;
        for (const [i, choice] of data.entries()) {
          tutor.append(el("option", { value: String(i) }, `${choice.subject.name} with ${personName(choice.tutor)}`));
        }
        if (!data.length) tutor.append(el("option", { value: "" }, "No tutor yet: the staff allocate one"));
        showAvailability();
      } catch (err) {
        error.textContent = `Could not load the tutors: ${err.message}`;
      }
    }

    function showAvailability() {
      const choice = choices[Number(tutor.value)];
      hint.textContent = choice ? describeAvailability(choice.availability) : "";
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const choice = choices[Number(tutor.value)];
      if (!choice || tutor.value === "") {
        error.textContent = "Choose a subject and tutor.";
        return;
      }
      const starts = new Date(`${date.value}T${time.value}`);
      if (Number.isNaN(starts.getTime())) {
        error.textContent = "Choose a day and a start time.";
        return;
      }
      if (starts.getTime() <= Date.now()) {
        error.textContent = "Choose a time in the future.";
        return;
      }
      const minutes = Number(duration.value);
      const ends = new Date(starts.getTime() + minutes * 60000);
      if (!insideAvailability(choice.availability, starts, ends)) {
        error.textContent = `${personName(choice.tutor)} is not available then. ${describeAvailability(choice.availability)}`;
        return;
      }
      if (isBusy(submit)) return;
      setBusy(submit, true);
      try {
        const { data } = await api("/api/sessions", {
          method: "POST",
          body: {
            student_id: student.value,
            tutor_id: choice.tutor.id,
            subject_id: choice.subject.id,
            starts_at: starts.toISOString(),
            duration_minutes: minutes,
          },
        });
        const li = place(data);
        summarize();
        li.classList.add("just-booked");
        status.textContent = `Booked ${data.subject.name} with ${personName(data.tutor)} on ${fmtDateTime(data.starts_at)}.`;
        time.value = "";
      } catch (err) {
        error.textContent = `Could not book: ${err.message}`;
      } finally {
        setBusy(submit, false);
      }
    });

    student.addEventListener("change", loadTutors);
    tutor.addEventListener("change", showAvailability);

    api("/api/students").then(({ data }) => {
      if (!data.length) return;
      for (const child of data) student.append(el("option", { value: child.id }, `${child.first_name} ${child.last_name}`.trim()));
      section.hidden = false;
      loadTutors();
    }).catch(() => {});
  }

  // --- My children (recording consent) -------------------------------------------------------

  function childrenPage() {
    const list = document.getElementById("children");
    const status = document.getElementById("children-status");

    function childItem(child) {
      const name = `${child.first_name} ${child.last_name}`.trim();
      const id = `consent-${child.id}`;
      const box = el("input", { type: "checkbox", id, role: "switch", checked: Boolean(child.recording_consent) });
      const note = el("p", { className: "consent-state", id: `${id}-state`, "aria-live": "polite" });
      box.setAttribute("aria-describedby", note.id);
      const describe = (on) => {
        note.textContent = on
          ? `Allowed: ${child.first_name}'s sessions may be recorded and watched by you, ${child.first_name} and the tutor.`
          : `Not allowed: uploads are refused and recordings are hidden from all but the safeguarding staff.`;
      };
      describe(child.recording_consent);
      box.addEventListener("change", async () => {
        const granted = box.checked;
        box.disabled = true;
        try {
          const { data } = await api(`/api/students/${encodeURIComponent(child.id)}/recording-consent`, {
            method: "POST",
            body: { granted },
          });
          describe(data.recording_consent);
          status.textContent = `Saved: recording ${data.recording_consent ? "allowed" : "not allowed"} for ${name}.`;
        } catch (err) {
          box.checked = !granted;
          status.textContent = `Could not save: ${err.message}`;
        } finally {
          box.disabled = false;
          box.focus();
        }
      });
      return el(
        "li",
        { className: "child card", "data-student-id": child.id },
        el("h2", {}, name),
        el("p", { className: "muted" }, child.grade === 0 ? "Kindergarten" : `Grade ${child.grade}`),
        el("div", { className: "switch-row" }, box, el("label", { htmlFor: id }, `Allow recording of ${child.first_name}'s sessions`)),
        note,
      );
    }

    api("/api/students").then(({ data }) => {
      for (const child of data) list.append(childItem(child));
      status.textContent = data.length ? "" : "No children yet.";
    }).catch((err) => {
      status.textContent = `Could not load your children: ${err.message}`;
    });
  }
})();
