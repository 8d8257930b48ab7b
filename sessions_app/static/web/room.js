/* A session room: chat history by the REST cursor, the live room over /ws/encounters/, the
 * recordings with a player, and an upload form when the session's `can.upload_recording` says an
 * upload would be accepted (its tutor or staff, with the child's consent to record).
 *
 * How nothing is lost or shown twice:
 * - Messages are kept by id; whatever path brings a message again (the live broadcast of one's
 *   own message, a replay after reconnecting) updates the one element instead of adding one.
 * - `lastSeenId` is the newest message received through the ordered stream (REST pages read
 *   forwards, `joined.missed`, `newMessage`). The server gives each session's messages one
 *   order and a client that saw message n has seen all before it, so rejoining with
 *   `after=lastSeenId` replays exactly what was missed. The answer to one's own POST is not part
 *   of that stream (an earlier message from someone else may still be on its way) and never
 *   moves `lastSeenId`.
 * - Messages are sent with POST and a client_id: the answer says whether it was stored, and a
 *   retry after a network failure reuses the client_id, so it is stored once. (A sendMessage
 *   frame's result arrives as an anonymous broadcast, which a sender that lost its socket
 *   could not tell apart from a message never stored.)
 */
(function () {
  "use strict";

  const K = window.K12;
  const root = document.getElementById("room");
  if (!root) return;

  const sessionId = root.dataset.sessionId;
  const base = `/api/sessions/${encodeURIComponent(sessionId)}`;
  const PAGE_SIZE = 50;
  const BACKOFF_FIRST_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const JOIN_TIMEOUT_MS = 10000;
  // the server relays at most one typing per this interval (WS_TYPING_INTERVAL_SECONDS): no more is sent
  const TYPING_EVERY_MS = Number(root.dataset.typingEveryMs);
  const TYPING_SHOWN_MS = 4000;
  const READ_DELAY_MS = 1000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    title: $("room-title"),
    meta: $("room-meta"),
    conn: $("conn"),
    error: $("room-error"),
    list: $("messages"),
    empty: $("messages-empty"),
    jump: $("jump-unread"),
    reportDialog: $("report-dialog"),
    reportForm: $("report-form"),
    reportStatus: $("report-status"),
    reportDescription: $("report-description"),
    older: $("load-older"),
    typing: $("typing"),
    announcer: $("announcer"),
    composer: $("composer"),
    text: $("message-text"),
    composerError: $("composer-error"),
    upload: $("upload"),
    uploadFile: $("upload-file"),
    progress: $("upload-progress"),
    percent: $("upload-percent"),
    uploadStatus: $("upload-status"),
    recordings: $("recordings"),
    recordingsStatus: $("recordings-status"),
    recordingsRefresh: $("recordings-refresh"),
    recordingsMore: $("recordings-more"),
  };

  const state = {
    me: null,
    session: null,
    byId: new Map(), // message id → its <li>
    lastSeenId: null,
    olderUrl: null,
    pending: new Map(), // client_id → {text, li, timer, attempt, inFlight}
  };

  function showError(message) {
    ui.error.textContent = message;
    ui.error.hidden = !message;
  }

  // --- Messages ------------------------------------------------------------------------------

  function isMine(message) {
    return state.me && message.user_id === state.me.id;
  }

  function fillMessage(li, message) {
    const body = li.querySelector(".msg-text");
    li.classList.toggle("is-hidden", Boolean(message.hidden));
    if (message.hidden && !message.text) {
      body.textContent = "This message was hidden by a moderator.";
    } else {
      body.textContent = message.text; // never innerHTML: markup shows as text
    }
  }

  function messageElement(message) {
    const meta = K.el(
      "p",
      { className: "msg-meta" },
      K.el("span", { className: "msg-from" }, message.from),
      " ",
      K.el("time", { dateTime: message.created_at }, K.fmtTime(message.created_at)),
    );
    if (!isMine(message) && state.session && state.session.can && state.session.can.report) {
      const button = K.el("button", { type: "button", className: "link-button report-button" }, "Report");
      button.setAttribute("aria-label", `Report the message from ${message.from}`);
      button.addEventListener("click", () => openReport(message, li, button));
      meta.append(" ", button);
    }
    const li = K.el("li", { className: isMine(message) ? "msg mine" : "msg", "data-id": message.id }, meta);
    li.append(K.el("p", { className: "msg-text" }));
    li.dataset.at = String(Date.parse(message.created_at));
    li.dataset.userId = message.user_id;
    fillMessage(li, message);
    return li;
  }

  // --- The chat's landmarks: days, the first unread message, an empty chat -------------------

  const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long" });

  function dayLabel(at) {
    const date = new Date(at);
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (date.toDateString() === today.toDateString()) return "Today";
    if (date.toDateString() === yesterday.toDateString()) return "Yesterday";
    return dayFormat.format(date);
  }

  /** A separator before the first message of each day (local time), and the empty state. */
  function renderLandmarks() {
    for (const old of ui.list.querySelectorAll(".day-separator")) old.remove();
    let lastDay = null;
    for (const li of Array.from(ui.list.querySelectorAll(".msg:not(.pending)"))) {
      const day = new Date(Number(li.dataset.at)).toDateString();
      if (day !== lastDay) {
        const label = dayLabel(Number(li.dataset.at));
        ui.list.insertBefore(K.el("li", { className: "day-separator" }, K.el("span", {}, label)), li);
        lastDay = day;
      }
    }
    ui.empty.hidden = ui.list.querySelector(".msg") !== null;
  }

  /** The "new messages" line before the first of the `unread` newest messages from others. */
  function markFirstUnread(unread) {
    if (!unread) return;
    const others = Array.from(ui.list.querySelectorAll(".msg:not(.mine):not(.is-hidden)"));
    const first = others[Math.max(0, others.length - unread)];
    if (!first) return;
    const divider = K.el("li", { className: "unread-divider", id: "first-unread" }, K.el("span", {}, "New messages"));
    ui.list.insertBefore(divider, first);
    ui.jump.textContent = `Jump to the first new message (${unread})`;
    const update = () => {
      const box = ui.list.getBoundingClientRect();
      const at = divider.getBoundingClientRect();
      ui.jump.hidden = !divider.isConnected || (at.top >= box.top && at.top <= box.bottom);
    };
    ui.list.addEventListener("scroll", update, { passive: true });
    ui.jump.addEventListener("click", () => {
      divider.scrollIntoView({ block: "start" });
      ui.jump.hidden = true;
      first.setAttribute("tabindex", "-1");
      first.focus({ preventScroll: true });
    });
    update();
  }

  function nearBottom() {
    const list = ui.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollToEnd() {
    ui.list.scrollTop = ui.list.scrollHeight;
  }

  /** Show a message once. `stream`: it came through the ordered stream (see the top). */
  function addMessage(message, { stream = false, announce = false } = {}) {
    if (stream) state.lastSeenId = message.id;
    const known = state.byId.get(message.id);
    if (known) {
      fillMessage(known, message);
      return false;
    }
    dropPendingCopy(message);
    const stick = nearBottom() || isMine(message);
    const li = messageElement(message);
    // Almost always the end; placed by time so a late arrival still lands where it belongs.
    // Messages still being sent stay last.
    const at = Number(li.dataset.at);
    let before = null;
    for (let node = ui.list.lastElementChild; node; node = node.previousElementSibling) {
      if (node.classList.contains("msg") && !node.classList.contains("pending") && Number(node.dataset.at) <= at) break;
      before = node;
    }
    ui.list.insertBefore(li, before);
    state.byId.set(message.id, li);
    renderLandmarks();
    if (announce && !isMine(message)) {
      ui.announcer.textContent = `${message.from}: ${message.hidden ? "hidden message" : message.text}`;
    }
    if (stick) scrollToEnd();
    scheduleRead();
    return true;
  }

  async function loadNewest() {
    const { data, links } = await K.api(`${base}/messages?limit=${PAGE_SIZE}`);
    for (const message of data) addMessage(message, { stream: true });
    setOlder(links.prev);
    renderLandmarks();
    markFirstUnread(state.session.unread);
    const divider = document.getElementById("first-unread");
    // Open where the reader left off: at the first unread message, else at the end.
    if (divider) ui.list.scrollTop = divider.offsetTop - ui.list.offsetTop - 8;
    else scrollToEnd();
  }

  function setOlder(url) {
    state.olderUrl = url || null;
    ui.older.hidden = !state.olderUrl;
  }

  let loadingOlder = false;

  async function loadOlder() {
    if (!state.olderUrl || loadingOlder) return;
    loadingOlder = true;
    K.setBusy(ui.older, true);
    try {
      const { data, links } = await K.api(state.olderUrl);
      const list = ui.list;
      const fromBottom = list.scrollHeight - list.scrollTop;
      const first = list.firstElementChild;
      for (const message of data) {
        if (state.byId.has(message.id)) continue;
        const li = messageElement(message);
        list.insertBefore(li, first);
        state.byId.set(message.id, li);
      }
      renderLandmarks();
      list.scrollTop = list.scrollHeight - fromBottom; // keep the reader's place
      const hadFocus = document.activeElement === ui.older;
      setOlder(links.prev);
      if (hadFocus && ui.older.hidden) ui.list.focus(); // the button is gone: keep focus nearby
      ui.announcer.textContent = `${data.length} older message${data.length === 1 ? "" : "s"} loaded.`;
    } catch (err) {
      showError(`Could not load older messages: ${err.message}`);
    } finally {
      loadingOlder = false;
      K.setBusy(ui.older, false);
    }
  }

  /** After a join that replayed only part of what was missed: page on forwards by REST. */
  async function catchUp() {
    live.catchingUp = true;
    try {
      let url = `${base}/messages?after=${encodeURIComponent(state.lastSeenId)}&limit=200`;
      while (url) {
        const { data, links } = await K.api(url);
        for (const message of data) addMessage(message, { stream: true });
        url = links.next || null;
      }
    } catch (err) {
      showError(`Could not load every missed message: ${err.message}`);
    } finally {
      live.catchingUp = false;
    }
  }

  /** A message was restored by a moderator: fetch it again (the live frame has only its id). */
  async function refreshMessage(id) {
    const li = state.byId.get(id);
    if (!li) return;
    const next = li.nextElementSibling && li.nextElementSibling.dataset.id;
    const prev = li.previousElementSibling && li.previousElementSibling.dataset.id;
    const query = next ? `before=${encodeURIComponent(next)}` : prev ? `after=${encodeURIComponent(prev)}` : "";
    try {
      const { data } = await K.api(`${base}/messages?${query}${query ? "&" : ""}limit=1`);
      for (const message of data) if (message.id === id) fillMessage(li, message);
    } catch (err) {
      /* it shows its placeholder until the next visit */
    }
  }

  // --- Sending -------------------------------------------------------------------------------

  function dropPendingCopy(message) {
    // Our own message can come back live before the POST's answer: drop its "sending" copy.
    if (!isMine(message)) return;
    for (const pending of state.pending.values()) {
      if (pending.li.isConnected && pending.text === message.text) {
        pending.li.remove();
        return;
      }
    }
  }

  function pendingElement(text) {
    return K.el(
      "li",
      { className: "msg mine pending" },
      K.el("p", { className: "msg-meta" }, K.el("span", { className: "msg-state" }, "Sending…")),
      K.el("p", { className: "msg-text" }, text),
    );
  }

  function sendMessage(text) {
    const clientId = K.uuid4();
    const pending = { text, li: pendingElement(text), timer: null, attempt: 0, inFlight: false };
    state.pending.set(clientId, pending);
    ui.list.append(pending.li);
    ui.empty.hidden = true;
    scrollToEnd();
    deliver(clientId);
  }

  async function deliver(clientId) {
    const pending = state.pending.get(clientId);
    if (!pending || pending.inFlight) return;
    clearTimeout(pending.timer);
    pending.inFlight = true;
    try {
      const { data } = await K.api(`${base}/messages`, {
        method: "POST",
        body: { text: pending.text, client_id: clientId },
      });
      state.pending.delete(clientId);
      pending.li.remove();
      addMessage(data);
    } catch (err) {
      const label = pending.li.querySelector(".msg-state");
      const transient = err.status === 0 || err.status === 429 || err.status >= 500;
      if (!transient) {
        state.pending.delete(clientId);
        pending.li.classList.add("failed");
        label.textContent = `Not sent: ${err.message}`;
        return;
      }
      pending.attempt += 1;
      const delay = err.retryAfter ? err.retryAfter * 1000 : backoff(pending.attempt);
      label.textContent = navigator.onLine ? "Not sent yet, retrying…" : "Waiting for the network…";
      pending.timer = setTimeout(() => deliver(clientId), delay);
    } finally {
      pending.inFlight = false;
    }
  }

  function retryPendingNow() {
    for (const clientId of state.pending.keys()) deliver(clientId);
  }

  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.text.value.trim();
    ui.composerError.textContent = "";
    if (!text) {
      ui.composerError.textContent = "Write a message first.";
      return;
    }
    // the limit is the server's, in the composer's maxlength (the typed text is capped by it,
    // but a pasted or trimmed one is checked here, before a round trip)
    if (text.length > ui.text.maxLength) {
      ui.composerError.textContent = `A message has at most ${ui.text.maxLength} characters.`;
      return;
    }
    ui.text.value = "";
    sendMessage(text);
    ui.text.focus();
  });

  ui.text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.composer.requestSubmit();
    }
  });

  let lastTypingSent = 0;
  ui.text.addEventListener("input", () => {
    const now = Date.now();
    if (live.joined && now - lastTypingSent > TYPING_EVERY_MS) {
      lastTypingSent = now;
      sendFrame({ type: "typing", sessionId });
    }
  });

  ui.older.addEventListener("click", loadOlder);

  // --- Read marks (the unread badges on "My sessions") ---------------------------------------

  let readTimer = null;
  let lastMarked = null;

  function scheduleRead() {
    if (document.visibilityState !== "visible" || !state.lastSeenId || state.lastSeenId === lastMarked) return;
    clearTimeout(readTimer);
    readTimer = setTimeout(async () => {
      const upTo = state.lastSeenId;
      try {
        await K.api(`${base}/read`, { method: "POST", body: { up_to: upTo } });
        lastMarked = upTo;
      } catch (err) {
        /* a badge that stays a little longer; the next message tries again */
      }
    }, READ_DELAY_MS);
  }

  document.addEventListener("visibilitychange", scheduleRead);

  // --- The live room -------------------------------------------------------------------------

  const live = {
    ws: null,
    joined: false,
    attempt: 0, // failures since the last successful join
    retryTimer: null,
    joinTimer: null,
    stopped: false,
    catchingUp: false,
    everJoined: false,
  };

  const CONN_TEXT = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    offline: "Offline",
  };

  function setConn(name, text) {
    ui.conn.dataset.state = name;
    ui.conn.textContent = text || CONN_TEXT[name];
  }

  function backoff(attempt) {
    // Exponential with jitter, so a server restart is not met by every client at once.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, attempt - 1));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  function wsUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${root.dataset.wsPath}`;
  }

  function sendFrame(frame) {
    if (live.ws && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify(frame));
  }

  function connect() {
    clearTimeout(live.retryTimer);
    if (live.stopped || live.ws) return;
    if (!navigator.onLine) {
      setConn("offline", "Offline: waiting for the network");
      return;
    }
    setConn(live.everJoined ? "reconnecting" : "connecting");
    const ws = new WebSocket(wsUrl());
    live.ws = ws;
    live.joined = false;
    // A socket that opens but never gets as far as `joined` is as good as closed.
    live.joinTimer = setTimeout(() => ws.close(), JOIN_TIMEOUT_MS);
    ws.addEventListener("message", (event) => {
      if (ws !== live.ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== live.ws) return; // a socket we already gave up on
      clearTimeout(live.joinTimer);
      live.ws = null;
      live.joined = false;
      onClosed(event.code);
    });
  }

  /** Forget the socket now (the network went away) and close it without waiting. */
  function dropSocket() {
    const ws = live.ws;
    live.ws = null;
    live.joined = false;
    clearTimeout(live.joinTimer);
    if (ws) ws.close();
  }

  function onClosed(code) {
    if (code === 4401) {
      // The session cookie no longer authenticates (logged out, or expired).
      stop("Signed out: log in again to chat.");
      location.assign(K.loginUrl());
      return;
    }
    if (code === 4403) {
      stop("This account can no longer use the live room.");
      return;
    }
    if (!navigator.onLine) {
      setConn("offline", "Offline: waiting for the network");
      return;
    }
    live.attempt += 1;
    const delay = backoff(live.attempt);
    setConn("reconnecting", `Reconnecting in ${Math.ceil(delay / 1000)} s…`);
    live.retryTimer = setTimeout(connect, delay);
  }

  function stop(message) {
    live.stopped = true;
    clearTimeout(live.retryTimer);
    dropSocket();
    setConn("offline", message);
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "ready": {
        const join = { type: "joinSession", sessionId };
        if (state.lastSeenId) join.after = state.lastSeenId;
        sendFrame(join);
        break;
      }
      case "joined": {
        if (frame.sessionId !== sessionId) break;
        clearTimeout(live.joinTimer);
        live.joined = true;
        const rejoin = live.everJoined;
        live.everJoined = true;
        live.attempt = 0;
        let added = 0;
        for (const message of frame.missed) if (addMessage(message, { stream: true })) added += 1;
        if (rejoin && added) {
          ui.announcer.textContent = `${added} new message${added === 1 ? "" : "s"} while the connection was down.`;
        }
        if (frame.hasMore) catchUp();
        setConn("live");
        retryPendingNow();
        break;
      }
      case "newMessage":
        if (frame.sessionId !== sessionId) break;
        // While a catch-up by REST is still paging, the stream position is the catch-up's.
        addMessage(frame.message, { stream: !live.catchingUp, announce: true });
        hideTyping(frame.message.user_id);
        break;
      case "typing":
        if (frame.sessionId === sessionId) showTyping(frame.user);
        break;
      case "messageHidden": {
        const li = state.byId.get(frame.messageId);
        const staff = state.session && state.session.can && state.session.can.moderate;
        if (li && !staff) fillMessage(li, { hidden: true, text: "" });
        else if (li) li.classList.add("is-hidden");
        break;
      }
      case "messageRestored":
        refreshMessage(frame.messageId);
        break;
      case "error":
        if ((frame.code === "forbidden" || frame.code === "not_found") && frame.sessionId === sessionId) {
          stop(frame.code === "forbidden" ? "You no longer have access to this session." : "This session is gone.");
        }
        break;
      case "notification":
        // The page's bell (app.js) shows it: one socket per page.
        document.dispatchEvent(new CustomEvent("k12:notification", { detail: frame.notification }));
        break;
      default:
        break; // frames this page does not use
    }
  }

  const typers = new Map(); // user id → {name, timer}

  function renderTyping() {
    const names = Array.from(typers.values(), (t) => t.name);
    const text = names.length ? `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…` : "";
    if (ui.typing.textContent !== text) ui.typing.textContent = text;
  }

  function showTyping(user) {
    if (!user || (state.me && user.id === state.me.id)) return;
    const known = typers.get(user.id);
    if (known) clearTimeout(known.timer);
    typers.set(user.id, { name: user.name, timer: setTimeout(() => hideTyping(user.id), TYPING_SHOWN_MS) });
    renderTyping();
  }

  function hideTyping(userId) {
    const known = typers.get(userId);
    if (!known) return;
    clearTimeout(known.timer);
    typers.delete(userId);
    renderTyping();
  }

  // Browsers keep a socket open for a long time after the network is gone; the offline and
  // online events are the early warning. Back online, rejoin at once and resume from `after`.
  window.addEventListener("offline", () => {
    dropSocket();
    clearTimeout(live.retryTimer);
    if (!live.stopped) setConn("offline", "Offline: waiting for the network");
  });
  window.addEventListener("online", () => {
    live.attempt = 0;
    connect();
    retryPendingNow();
  });

  // --- Recordings ----------------------------------------------------------------------------

  let recordingsNext = null;
  let lastPlayerRefresh = 0;
  let processingPoll = null; // a worker is preparing a recording: look again shortly

  function recordingElement(recording) {
    const name = recording.filename || "Recording";
    const headingId = `recording-${recording.id}`;
    const details = [
      K.fmtDateTime(recording.created_at),
      recording.duration_seconds != null ? K.fmtDuration(recording.duration_seconds) : null,
      K.fmtBytes(recording.file_size_bytes),
    ].filter(Boolean);
    const li = K.el(
      "li",
      { className: "recording", "data-recording-id": recording.id },
      K.el("h3", { id: headingId }, name),
      K.el("p", { className: "muted" }, details.join(" · ")),
    );
    if (recording.file_url) {
      const kind = (recording.content_type || "").startsWith("audio/") ? "audio" : "video";
      const player = K.el(kind, {
        controls: true,
        preload: "metadata",
        src: recording.file_url,
        "aria-labelledby": headingId,
      });
      if (kind === "video") player.setAttribute("playsinline", "");
      if (kind === "video" && recording.poster_url) player.setAttribute("poster", recording.poster_url);
      // The signed link expires (RECORDING_URL_TTL_SECONDS): a player that fails asks for a
      // fresh list, at most every 30 s so a file that cannot play does not loop.
      player.addEventListener("error", () => {
        if (Date.now() - lastPlayerRefresh > 30000) {
          lastPlayerRefresh = Date.now();
          loadRecordings();
        }
      });
      li.append(player);
    } else {
      li.append(K.el("p", { className: "muted" }, `Not playable yet (${recording.status}).`));
    }
    if (recording.can && recording.can.delete) {
      const button = K.el("button", { type: "button", className: "secondary danger" }, "Delete");
      button.setAttribute("aria-label", `Delete ${name}`);
      button.addEventListener("click", () => deleteRecording(recording, li, button));
      li.append(button);
    }
    return li;
  }

  async function deleteRecording(recording, li, button) {
    if (K.isBusy(button)) return;
    if (!window.confirm(`Delete ${recording.filename || "this recording"}? This cannot be undone.`)) return;
    K.setBusy(button, true);
    try {
      await K.api(`/api/recordings/${encodeURIComponent(recording.id)}`, { method: "DELETE" });
      const hadFocus = document.activeElement === button;
      li.remove();
      countRecordings();
      if (hadFocus) ui.recordingsRefresh.focus();
    } catch (err) {
      ui.recordingsStatus.textContent = `Could not delete: ${err.message}`;
    } finally {
      K.setBusy(button, false);
    }
  }

  function countRecordings() {
    const n = ui.recordings.children.length;
    ui.recordingsStatus.textContent = n ? `${n} recording${n === 1 ? "" : "s"}.` : "No recordings yet.";
  }

  async function loadRecordings(url) {
    const more = Boolean(url);
    if (K.isBusy(ui.recordingsRefresh)) return;
    K.setBusy(ui.recordingsRefresh, true);
    try {
      const { data, links } = await K.api(url || `${base}/recordings`);
      if (!more) ui.recordings.replaceChildren();
      for (const recording of data) ui.recordings.append(recordingElement(recording));
      if (!more && !processingPoll && data.some((recording) => recording.status === "processing")) {
        processingPoll = setTimeout(() => {
          processingPoll = null;
          loadRecordings();
        }, 5000);
      }
      recordingsNext = links.next || null;
      ui.recordingsMore.hidden = !recordingsNext;
      countRecordings();
    } catch (err) {
      ui.recordingsStatus.textContent = `Could not load recordings: ${err.message}`;
    } finally {
      K.setBusy(ui.recordingsRefresh, false);
    }
  }

  ui.recordingsRefresh.addEventListener("click", () => loadRecordings());
  ui.recordingsMore.addEventListener("click", () => recordingsNext && loadRecordings(recordingsNext));

  function setProgress(fraction) {
    const percent = Math.round(fraction * 100);
    ui.progress.value = percent;
    ui.percent.textContent = `${percent}%`;
  }

  ui.upload.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = ui.uploadFile.files[0];
    if (!file) {
      ui.uploadStatus.textContent = "Choose a file first.";
      return;
    }
    const button = ui.upload.querySelector("button[type=submit]");
    if (K.isBusy(button)) return; // one upload at a time
    K.setBusy(button, true);
    setProgress(0);
    ui.uploadStatus.textContent = `Uploading ${file.name}…`;
    // XMLHttpRequest, not fetch(): only it reports upload progress.
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${base}/recordings`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", K.csrfToken());
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) setProgress(e.loaded / e.total);
    });
    xhr.upload.addEventListener("load", () => {
      setProgress(1);
      ui.uploadStatus.textContent = "Uploaded; the server is checking the file…";
    });
    xhr.addEventListener("load", () => {
      K.setBusy(button, false);
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (err) {
        body = null;
      }
      if (xhr.status === 201) {
        ui.uploadStatus.textContent = `Added ${body.filename || file.name}.`;
        ui.upload.reset();
        ui.recordings.prepend(recordingElement(body));
        countRecordings();
      } else {
        // The bytes arrived but were refused: the bar must not claim the upload is done.
        setProgress(0);
        ui.uploadStatus.textContent = `Upload failed: ${new K.ApiError(xhr.status, body).message}`;
      }
    });
    xhr.addEventListener("error", () => {
      K.setBusy(button, false);
      setProgress(0);
      ui.uploadStatus.textContent = "Upload failed: the network is unreachable.";
    });
    const form = new FormData();
    form.append("file", file);
    xhr.send(form);
  });

  // --- Reporting a message -------------------------------------------------------------------

  let reporting = null; // {message, li, button}

  function openReport(message, li, button) {
    reporting = { message, li, button };
    ui.reportForm.reset();
    ui.reportStatus.textContent = "";
    $("report-quote").textContent = `${message.from}: ${message.hidden ? "(hidden message)" : message.text}`;
    ui.reportDialog.showModal();
  }

  ui.reportForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (event.submitter && event.submitter.value === "cancel") {
      ui.reportDialog.close();
      return;
    }
    const reason = new FormData(ui.reportForm).get("reason");
    const description = ui.reportDescription.value.trim();
    if (!reason) {
      ui.reportStatus.textContent = "Choose a reason.";
      return;
    }
    if (reason === "other" && !description) {
      ui.reportStatus.textContent = "Say what is wrong when the reason is “Something else”.";
      ui.reportDescription.focus();
      return;
    }
    const send = ui.reportForm.querySelector('button[value="send"]');
    if (K.isBusy(send)) return;
    K.setBusy(send, true);
    const { message, li, button } = reporting;
    try {
      await K.api(`/api/messages/${encodeURIComponent(message.id)}/report`, {
        method: "POST",
        body: { reason, description },
      });
      markReported(li, button, "Reported");
      ui.reportDialog.close();
      ui.announcer.textContent = "Thank you. The report was sent to the safeguarding team.";
    } catch (err) {
      if (err.status === 409) {
        markReported(li, button, "Already reported");
        ui.reportDialog.close();
        ui.announcer.textContent = "You have already reported this message.";
      } else {
        ui.reportStatus.textContent = `Could not send the report: ${err.message}`;
      }
    } finally {
      K.setBusy(send, false);
    }
  });

  function markReported(li, button, text) {
    const note = K.el("span", { className: "reported-note" }, text);
    button.replaceWith(note);
    li.classList.add("reported");
    ui.list.focus();
  }

  // --- Layout --------------------------------------------------------------------------------

  const oneColumn = window.matchMedia("(max-width: 899px)");

  /** In one column (a phone) the chat takes what is left of the screen above the composer, so
   * the composer is in view without scrolling the page. */
  function fitChat() {
    if (!oneColumn.matches) {
      ui.list.style.removeProperty("height");
      return;
    }
    const top = ui.list.getBoundingClientRect().top + window.scrollY;
    const below = ui.composer.getBoundingClientRect().bottom - ui.list.getBoundingClientRect().bottom;
    const height = Math.max(144, Math.floor(window.innerHeight - top - below - 12));
    ui.list.style.height = `${height}px`;
  }

  window.addEventListener("resize", fitChat);
  oneColumn.addEventListener("change", fitChat);

  // --- Start ---------------------------------------------------------------------------------

  function describeSession(session) {
    const student = K.personName(session.student);
    const tutor = K.personName(session.tutor);
    ui.title.textContent = `${session.subject.name}: ${student} with ${tutor}`;
    document.title = `${session.subject.name} · ${student} · K12 tutoring`;
    ui.meta.replaceChildren(
      K.el("time", { dateTime: session.starts_at }, K.fmtDateTime(session.starts_at)),
      ` · ${session.duration_minutes} min · ${session.status}`,
    );
  }

  async function start() {
    try {
      const [me, session] = await Promise.all([K.me(), K.api(base).then((r) => r.data)]);
      state.me = me;
      state.session = session;
      describeSession(session);
      fitChat();
      // Offered only when the upload would be accepted (the tutor or staff, with consent).
      ui.upload.hidden = !(session.can && session.can.upload_recording);
      loadRecordings();
      await loadNewest();
    } catch (err) {
      showError(`Could not open this session: ${err.message}`);
      setConn("offline", "Not connected");
      return;
    }
    connect();
  }

  start();
})();
