// Live leaderboard: one EventSource on leaderboard/stream?window=..., which reconnects by itself (with
// Last-Event-ID). Each leaderboard_update event carries the whole board. Rows are kept per player and moved to
// their new place (a FLIP slide, none with prefers-reduced-motion). User data only ever goes through textContent.
//
// Movement is shown against what the viewer last SAW, not against the previous update: `seen` holds each player's
// rank and score as last settled on screen. A player whose rank or score differs from it is marked (arrow, NEW,
// score gain) and the mark stays until HOLD_MS after its latest step (MAX_HOLD_MS after its first at most) while
// the page is visible; only then does what is shown become the new `seen`. A burst of updates moving a player from
// 7th to 1st therefore shows "▲ 6", however many boards came in between.
//
// Find me: once a player id is chosen (kept in ?me= and in localStorage), that one EventSource is the personal
// stream (...&user_id=<id>), which also carries `standing` events (the GET leaderboard/users/<id> body) at
// connect and whenever the player's rank or score moves. Each standing is shown at once; the neighbours are
// refreshed with GET leaderboard/around/<id>, coalesced: one request at a time, at most one per AROUND_GAP_MS.
//
// Boards: GET leaderboards lists the deployment's boards; with more than one, a picker chooses the board (kept in
// ?board=, absent for `global`), the stream is opened again with board=<name>, and the window tabs are that board's
// windows (all-time, daily, weekly, monthly).
//
// The title and accent colour come from GET page-config.json (SCOREBOARD_PAGE_TITLE, SCOREBOARD_PAGE_ACCENT), set
// as text and as a CSS custom property.
"use strict";

(() => {
  const DEFAULT_BOARD = "global";
  const DEFAULT_WINDOWS = ["alltime", "daily", "weekly"]; // the global board's, until GET leaderboards says
  const WINDOW_LABELS = { alltime: "All-time", daily: "Daily", weekly: "Weekly", monthly: "Monthly" };
  const BOARD_NAME = /^[a-z0-9-]{1,64}$/;
  const LABELS = { connecting: "Connecting", live: "Live", reconnecting: "Reconnecting" };
  const AROUND_RADIUS = 3;
  const AROUND_GAP_MS = 400; // at most ~2.5 neighbour refreshes a second, however fast standings arrive
  const HOLD_MS = 4000; // a change stays marked this long after its latest step...
  const MAX_HOLD_MS = 15000; // ...and at most this long after its first, then what is shown is the new baseline
  const SLIDE_MS = 450;
  const TIE_RULE = "Equal scores: who reached it first ranks higher.";
  const MAX_ID = 128; // the read API's limit on a user_id (code points)
  const STORE_KEY = "scoreboard.me";
  const root = document.documentElement;
  const titleEl = document.getElementById("page-title");
  const rowsEl = document.getElementById("rows");
  const emptyEl = document.getElementById("empty");
  const tieNoteEl = document.getElementById("tie-note");
  const statusEl = document.getElementById("status");
  const updatedEl = document.getElementById("updated");
  const playersEl = document.getElementById("players");
  const resetEl = document.getElementById("reset");
  const resetInEl = document.getElementById("reset-in");
  const resetAtEl = document.getElementById("reset-at");
  const subtitleEl = document.getElementById("subtitle");
  const findForm = document.getElementById("findme-form");
  const findInput = document.getElementById("findme-id");
  const findClear = document.getElementById("findme-clear");
  const standingEl = document.getElementById("findme-standing");
  const aroundEl = document.getElementById("findme-around");
  const aroundRows = document.getElementById("findme-rows");
  const tabsEl = document.getElementById("tabs");
  const pickerEl = document.getElementById("board-picker");
  const boardSelect = document.getElementById("board");
  const boardOrderEl = document.getElementById("board-order");
  const numbers = new Intl.NumberFormat();
  const percent = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dayClock = new Intl.DateTimeFormat(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
  const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
  const reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");

  let source = null;
  let retryTimer = null;
  let failures = 0; // fatal stream errors in a row: the next start-over waits longer (see connect)
  let boards = null; // GET leaderboards' data: [{board, definition: {windows, order, ...}, ...}], null before
  const fromQuery = new URLSearchParams(location.search).get("board");
  let board = fromQuery !== null && BOARD_NAME.test(fromQuery) ? fromQuery : DEFAULT_BOARD;
  let windows = DEFAULT_WINDOWS;
  let current = Object.hasOwn(WINDOW_LABELS, location.hash.slice(1)) ? location.hash.slice(1) : "alltime";
  let shown = null; // the board last rendered for this window
  let seen = null; // Map user_id -> {rank, score}: what the viewer last saw settle; null before the first board
  const marks = new Map(); // user_id -> {since, until, rank, score}: players shown as changed against `seen`
  const rowEls = new Map(); // user_id -> its <tr> in the board
  let sweepTimer = null;
  let resetAt = null; // Date of the next reset of the window shown (period_end), or null (alltime)
  let resetTimer = null;
  let me = null; // the player followed by the find-me box, or null
  let standing = null; // the last standing event's body for (me, current)
  let generation = 0; // bumped when the player or the window changes: answers for the old ones are dropped
  const around = { timer: null, busy: false, wanted: false, last: -Infinity };

  function setStatus(state) {
    statusEl.dataset.state = state;
    statusEl.querySelector(".label").textContent = LABELS[state];
  }

  // ---- page settings ---------------------------------------------------------------------------------------

  function luminance(colour) {
    const probe = document.createElement("span");
    probe.style.color = colour;
    probe.hidden = true;
    document.body.append(probe);
    const channels = (getComputedStyle(probe).color.match(/[\d.]+/g) || ["0", "0", "0"]).slice(0, 3).map(Number);
    probe.remove();
    const [r, g, b] = channels.map((c) => {
      const v = c / 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }

  function applyConfig(config) {
    if (typeof config.title === "string" && config.title.trim() !== "") {
      titleEl.textContent = config.title;
      document.title = `${config.title} · live leaderboard`;
    }
    if (typeof config.accent === "string" && CSS.supports("color", config.accent)) {
      root.style.setProperty("--accent", config.accent);
      // white on the accent unless that is hard to read (contrast under 3:1) and dark text reads better
      const lum = luminance(config.accent);
      const onWhite = 1.05 / (lum + 0.05);
      const onDark = (lum + 0.05) / 0.056;
      root.style.setProperty("--on-accent", onWhite < 3 && onDark > onWhite ? "#0b1020" : "#fff");
    }
  }

  function loadConfig() {
    fetch("page-config.json", { cache: "no-cache", headers: { Accept: "application/json" } })
      .then((response) => {
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        return response.json();
      })
      .then(applyConfig)
      .catch((error) => console.warn("page settings not loaded, defaults kept:", error));
  }

  // ---- the board -------------------------------------------------------------------------------------------

  function describe(body) {
    const prefix = body.board && body.board !== DEFAULT_BOARD ? `${body.board} · ` : "";
    if (body.window === "daily") return `${prefix}Today · ${body.period}`;
    if (body.window === "weekly") return `${prefix}This week · ${body.period.replace("-W", " · week ")}`;
    if (body.window === "monthly") return `${prefix}This month · ${body.period}`;
    return `${prefix}All-time leaderboard`;
  }

  function where(windowName) {
    if (windowName === "daily") return "today";
    if (windowName === "weekly") return "this week";
    if (windowName === "monthly") return "this month";
    return "on the all-time board";
  }

  function boardQuery() {
    return board === DEFAULT_BOARD ? "" : `&board=${encodeURIComponent(board)}`;
  }

  function cell(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function nameOf(row) {
    return cell("span", "name", row.username || row.user_id);
  }

  function titleOf(row) {
    return row.username ? `${row.username} (id: ${row.user_id})` : row.user_id;
  }

  function player(row) {
    const who = cell("td", "player");
    who.title = titleOf(row); // the id is kept here only: players see names
    who.append(nameOf(row));
    return who;
  }

  function rankCell(rank, tied) {
    const td = cell("td", `rank r${Math.min(rank, 4)}`);
    td.append(cell("span", "pill", String(rank)));
    if (tied) {
      td.title = `Tied on score. ${TIE_RULE}`;
      const mark = cell("span", "tie", "=");
      mark.setAttribute("aria-hidden", "true");
      td.append(mark, cell("span", "sr-only", " tied"));
    }
    return td;
  }

  function tiedAt(rows, i) {
    return (i > 0 && rows[i - 1].score === rows[i].score) ||
           (i + 1 < rows.length && rows[i + 1].score === rows[i].score);
  }

  function markMe(tr) {
    if (me !== null && tr.dataset.userId === me) tr.setAttribute("aria-current", "true");
    else tr.removeAttribute("aria-current");
  }

  function movement(row, base) {
    if (!base) return { cls: "new", text: "NEW", label: "new on the board" };
    if (row.rank < base.rank) {
      const n = base.rank - row.rank;
      return { cls: "up", text: `▲ ${n}`, label: `up ${n} since you last looked` };
    }
    if (row.rank > base.rank) {
      const n = row.rank - base.rank;
      return { cls: "down", text: `▼ ${n}`, label: `down ${n} since you last looked` };
    }
    return { cls: "", text: "", label: "" };
  }

  function gainOf(row, base, move) {
    if (!base || row.score === base.score) return null;
    const diff = row.score - base.score;
    const text = `${diff > 0 ? "+" : "−"}${numbers.format(Math.abs(diff))}`;
    // green only for a gain without a fall: a player who scored but was passed is not flashed green
    const cls = diff < 0 ? "loss" : move.cls === "down" ? "gain-quiet" : "gain";
    return { cls, text };
  }

  function scoreCell(row, gain, step) {
    const td = cell("td", "score");
    if (gain) {
      const chip = cell("span", `delta ${gain.cls}${step ? " fresh" : ""}`, gain.text);
      chip.title = "Points since you last looked";
      td.append(chip);
    }
    td.append(cell("span", "value", numbers.format(row.score)));
    return td;
  }

  function positions() {
    const tops = new Map();
    for (const tr of rowsEl.children) tops.set(tr.dataset.userId, tr.getBoundingClientRect().top);
    return tops;
  }

  function slide(before) {
    // FLIP: every row that moved starts where it was drawn and slides to its new place
    const slides = [];
    for (const tr of rowsEl.children) {
      for (const animation of tr.getAnimations()) if (animation.id === "slide") animation.cancel();
    }
    for (const tr of rowsEl.children) {
      const top = before.get(tr.dataset.userId);
      if (top === undefined) continue;
      const dy = top - tr.getBoundingClientRect().top;
      if (Math.abs(dy) >= 1) slides.push([tr, dy]);
    }
    for (const [tr, dy] of slides) {
      const animation = tr.animate([{ transform: `translateY(${dy}px)` }, { transform: "translateY(0)" }],
                                   { duration: SLIDE_MS, easing: "cubic-bezier(0.2, 0.8, 0.2, 1)" });
      animation.id = "slide";
    }
  }

  function place(order) {
    // move only the rows out of place: a row taken out of the document and put back restarts its highlight
    let next = rowsEl.firstChild;
    for (const tr of order) {
      if (tr === next) next = next.nextSibling;
      else rowsEl.insertBefore(tr, next);
    }
    while (next !== null) {
      const gone = next;
      next = next.nextSibling;
      gone.remove();
    }
  }

  function flash(tr, cls) {
    tr.className = "";
    if (cls) {
      void tr.offsetWidth; // restart the row's highlight animation for a new step
      tr.className = cls;
    }
  }

  function viewing() {
    return document.visibilityState === "visible";
  }

  // fresh: a new board from the stream (rows slide, new steps flash); otherwise a repaint as marks expire
  function render(board, fresh) {
    const now = performance.now();
    const rows = board.data;
    if (shown !== null && shown.period !== board.period) { // a new day or week: a new board, nothing moved on it
      seen = null;
      marks.clear();
    }
    if (seen === null) seen = new Map(rows.map((r) => [r.user_id, { rank: r.rank, score: r.score }]));
    const present = new Set(rows.map((r) => r.user_id));
    for (const id of [...seen.keys()]) if (!present.has(id)) seen.delete(id);
    for (const id of [...marks.keys()]) if (!present.has(id)) marks.delete(id);
    for (const id of [...rowEls.keys()]) if (!present.has(id)) rowEls.delete(id);
    const animate = fresh && viewing() && !reducedMotion.matches && rowsEl.children.length > 0;
    const before = animate ? positions() : null;

    const order = [];
    let ties = false;
    rows.forEach((row, i) => {
      const id = row.user_id;
      const base = seen.get(id);
      const changed = !base || base.rank !== row.rank || base.score !== row.score;
      let mark = marks.get(id);
      let step = false;
      if (!changed) {
        marks.delete(id);
      } else if (!mark || mark.rank !== row.rank || mark.score !== row.score) {
        mark = { since: mark ? mark.since : now, until: now + HOLD_MS, rank: row.rank, score: row.score };
        marks.set(id, mark);
        step = fresh;
      }
      const move = changed ? movement(row, base) : { cls: "", text: "", label: "" };
      const gain = changed ? gainOf(row, base, move) : null;
      const tied = tiedAt(rows, i);
      ties ||= tied;
      let tr = rowEls.get(id);
      if (!tr) {
        tr = cell("tr");
        tr.dataset.userId = id;
        rowEls.set(id, tr);
      }
      if (step || tr.className !== move.cls) flash(tr, move.cls);
      if (!move.cls) tr.removeAttribute("class");
      tr.dataset.rank = String(row.rank);
      if (tied) tr.dataset.tie = "true";
      else delete tr.dataset.tie;
      markMe(tr);
      const moveCell = cell("td", `move ${move.cls}`.trim(), move.text);
      if (move.label) moveCell.title = move.label;
      tr.replaceChildren(rankCell(row.rank, tied), player(row), moveCell, scoreCell(row, gain, step));
      order.push(tr);
    });
    place(order);
    if (before !== null) slide(before);
    emptyEl.hidden = rows.length > 0;
    tieNoteEl.hidden = !ties;
    shown = board;
    if (fresh) {
      subtitleEl.textContent = describe(board);
      const players = Math.max(Number(board.total_players) || 0, rows.length);
      playersEl.textContent = `${numbers.format(players)} ${players === 1 ? "player" : "players"}`;
      playersEl.hidden = players === 0;
      showReset(board.period_end);
      const at = new Date(board.timestamp);
      updatedEl.textContent = `Updated ${isNaN(at) ? board.timestamp : at.toLocaleTimeString()}`;
    }
    scheduleSweep();
  }

  function scheduleSweep() {
    clearTimeout(sweepTimer);
    sweepTimer = null;
    if (marks.size === 0 || !viewing()) return; // a hidden page shows nothing: its marks wait for the viewer
    let next = Infinity;
    for (const mark of marks.values()) next = Math.min(next, mark.until, mark.since + MAX_HOLD_MS);
    sweepTimer = setTimeout(sweep, Math.max(0, next - performance.now()) + 20);
  }

  function sweep() {
    sweepTimer = null;
    if (shown === null || !viewing()) return;
    const now = performance.now();
    for (const [id, mark] of [...marks]) {
      if (now >= mark.until || now >= mark.since + MAX_HOLD_MS) {
        seen.set(id, { rank: mark.rank, score: mark.score }); // seen long enough: the new baseline
        marks.delete(id);
      }
    }
    render(shown, false);
  }

  document.addEventListener("visibilitychange", () => {
    if (!viewing()) {
      clearTimeout(sweepTimer);
      sweepTimer = null;
      return;
    }
    const now = performance.now(); // back: what changed meanwhile stays marked long enough to be seen
    for (const mark of marks.values()) {
      mark.since = now;
      mark.until = now + HOLD_MS;
    }
    scheduleSweep();
  });

  // ---- the next reset --------------------------------------------------------------------------------------

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function duration(ms) {
    const s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d > 0) return `${d}d ${h}h ${pad(m)}m`;
    if (h > 0) return `${h}h ${pad(m)}m ${pad(s % 60)}s`;
    if (m > 0) return `${m}m ${pad(s % 60)}s`;
    return `${s % 60}s`;
  }

  function showReset(periodEnd) {
    const end = periodEnd ? new Date(periodEnd) : null;
    resetAt = end !== null && !isNaN(end) ? end : null;
    resetEl.hidden = resetAt === null;
    if (resetAt !== null) {
      const today = new Date().toDateString() === resetAt.toDateString();
      resetAtEl.dateTime = resetAt.toISOString();
      resetAtEl.textContent = `at ${(today ? clock : dayClock).format(resetAt)}`;
      const span = current === "weekly" ? "week" : current === "monthly" ? "month" : "day";
      resetEl.title = `The ${span} ends ${fullDate.format(resetAt)} (your time)`;
    }
    tickReset();
  }

  function tickReset() {
    clearTimeout(resetTimer);
    resetTimer = null;
    if (resetAt === null) return;
    const left = resetAt.getTime() - Date.now();
    resetInEl.textContent = left > 0 ? duration(left) : "a moment"; // the next period's board is on its way
    if (left > 0) resetTimer = setTimeout(tickReset, (left % 1000) + 5);
  }

  // ---- find me -------------------------------------------------------------------------------------------

  function problemWith(id) {
    // what the read API answers 400 to, the write API's rules for a user_id: more than MAX_ID code points, control
    // characters, line/paragraph separators, unpaired surrogates, bidirectional overrides and isolates
    if ([...id].length > MAX_ID) return `A user id has at most ${MAX_ID} characters.`;
    if (/[\p{Cc}\p{Zl}\p{Zp}\p{Cs}\u202A-\u202E\u2066-\u2069]/u.test(id)) {
      return "A user id cannot contain control characters or bidirectional overrides.";
    }
    return null;
  }

  function storedMe() {
    try { return localStorage.getItem(STORE_KEY); } catch { return null; }
  }

  function remember(id) {
    const url = new URL(location.href);
    if (id === null) url.searchParams.delete("me");
    else url.searchParams.set("me", id);
    if (url.href !== location.href) history.replaceState(null, "", url);
    try {
      if (id === null) localStorage.removeItem(STORE_KEY);
      else localStorage.setItem(STORE_KEY, id);
    } catch { /* storage unavailable: the address alone remembers */ }
  }

  function say(state, ...parts) {
    standingEl.dataset.state = state;
    standingEl.dataset.rank = state === "ranked" ? String(standing.rank) : "";
    standingEl.replaceChildren(...parts);
  }

  function hideAround() {
    aroundEl.hidden = true;
    aroundRows.replaceChildren();
  }

  function forgetAround() {
    generation += 1;
    clearTimeout(around.timer);
    around.timer = null;
    around.wanted = false; // a request still running finishes, its answer is dropped (older generation)
    standing = null;
    hideAround();
  }

  function lookingUp() {
    if (me === null) say("none");
    else say("loading", `Looking up ${me} ${where(current)}…`);
  }

  function showStanding(body) {
    if (body.user_id !== me || body.window !== current || (body.board ?? DEFAULT_BOARD) !== board) return;
    standing = body;
    const who = nameOf(body);
    who.title = titleOf(body);
    if (body.rank === null) {
      say("unranked", who, ` has no score ${where(body.window)}, so is not on the board.`);
      hideAround();
      return;
    }
    const pill = cell("span", `pill r${Math.min(body.rank, 4)}`, `#${body.rank}`);
    pill.setAttribute("aria-hidden", "true");
    const summary = cell("strong", "rank-line",
                         `rank ${numbers.format(body.rank)} of ${numbers.format(body.total_players)}`);
    say("ranked", pill, who, " is at ", summary,
        ` · top ${percent.format(body.top_percent)}% · ${numbers.format(body.score)} points`);
    wantAround();
  }

  function showAround(body) {
    if (standing === null || standing.rank === null || body === null) {
      hideAround();
      return;
    }
    const fragment = document.createDocumentFragment();
    body.data.forEach((row, i) => {
      const tr = cell("tr");
      tr.dataset.userId = row.user_id;
      tr.dataset.rank = String(row.rank);
      markMe(tr);
      tr.append(rankCell(row.rank, tiedAt(body.data, i)), player(row), scoreCell(row, null, false));
      fragment.append(tr);
    });
    aroundRows.replaceChildren(fragment);
    aroundEl.hidden = body.data.length === 0;
  }

  function wantAround() {
    around.wanted = true;
    pumpAround();
  }

  function pumpAround() {
    if (!around.wanted || around.busy || around.timer !== null || me === null) return;
    const wait = around.last + AROUND_GAP_MS - performance.now();
    if (wait > 0) {
      around.timer = setTimeout(() => { around.timer = null; pumpAround(); }, wait);
      return;
    }
    around.wanted = false;
    around.busy = true;
    around.last = performance.now();
    const asked = generation;
    const url = `leaderboard/around/${encodeURIComponent(me)}?window=${encodeURIComponent(current)}` +
                `${boardQuery()}&radius=${AROUND_RADIUS}`;
    fetch(url, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(async (response) => {
        if (asked !== generation) return;
        if (response.status === 404) return showAround(null); // no score (any more): the standing says so
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const body = await response.json();
        if (asked === generation) showAround(body);
      })
      .catch((error) => console.warn("neighbours not refreshed:", error)) // the next standing tries again
      .finally(() => { around.busy = false; pumpAround(); });
  }

  function follow(id) {
    me = id;
    remember(id);
    findInput.value = id ?? "";
    findClear.hidden = id === null;
    forgetAround();
    lookingUp();
    for (const tr of rowsEl.children) markMe(tr);
    connect();
  }

  // ---- the stream ----------------------------------------------------------------------------------------

  function connect() {
    clearTimeout(retryTimer);
    if (source) source.close();
    setStatus("connecting");
    const personal = me === null ? "" : `&user_id=${encodeURIComponent(me)}`;
    const es = new EventSource(`leaderboard/stream?window=${encodeURIComponent(current)}${boardQuery()}${personal}`);
    source = es;
    es.onopen = () => { if (source === es) { failures = 0; setStatus("live"); } };
    es.addEventListener("leaderboard_update", (event) => {
      if (source !== es) return;
      setStatus("live");
      render(JSON.parse(event.data), true);
      // neighbours in the top board move with it even when the player's own rank and score do not
      if (standing !== null && standing.rank !== null && rowEls.has(me)) wantAround();
    });
    es.addEventListener("standing", (event) => {
      if (source !== es) return;
      showStanding(JSON.parse(event.data));
    });
    es.onerror = () => {
      if (source !== es) return;
      setStatus("reconnecting");
      // The browser retries by itself while CONNECTING; after a fatal error (CLOSED: a 429 or 503 from a full
      // server among others, whose Retry-After an EventSource cannot read) we start over, later each time and with
      // jitter, so that the clients of a full server do not all come back at the same instant.
      if (es.readyState === EventSource.CLOSED) {
        const delay = Math.min(60000, 3000 * 2 ** failures) * (1 + Math.random());
        failures = Math.min(failures + 1, 5);
        retryTimer = setTimeout(connect, delay);
      }
    };
  }

  function select(windowName) {
    current = windowName;
    shown = null;
    seen = null; // a different board: no movement marks on its first render
    marks.clear();
    rowEls.clear();
    clearTimeout(sweepTimer);
    sweepTimer = null;
    for (const tab of tabsEl.querySelectorAll("[data-window]")) {
      tab.setAttribute("aria-selected", String(tab.dataset.window === windowName));
    }
    rowsEl.replaceChildren();
    emptyEl.hidden = true;
    tieNoteEl.hidden = true;
    playersEl.hidden = true;
    showReset(null);
    updatedEl.textContent = "Waiting for the first update…";
    if (location.hash.slice(1) !== windowName) history.replaceState(null, "", `#${windowName}`);
    forgetAround();
    lookingUp();
    connect();
  }

  findForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = findInput.value.trim();
    if (id === "") {
      if (me !== null) follow(null);
      return;
    }
    const problem = problemWith(id);
    if (problem !== null) {
      say("invalid", problem);
      return;
    }
    if (id !== me) follow(id);
    else if (standing !== null) showStanding(standing); // the same player: put their standing back
    else lookingUp();
  });
  findClear.addEventListener("click", () => {
    follow(null);
    findInput.focus();
  });
  tabsEl.addEventListener("click", (event) => {
    const tab = event.target.closest("[data-window]");
    if (tab !== null) select(tab.dataset.window);
  });
  window.addEventListener("hashchange", () => {
    const w = location.hash.slice(1);
    if (windows.includes(w) && w !== current) select(w);
  });

  // ---- boards --------------------------------------------------------------------------------------------

  function buildTabs() {
    const buttons = windows.map((w) => {
      const tab = cell("button", "", WINDOW_LABELS[w] || w);
      tab.setAttribute("role", "tab");
      tab.dataset.window = w;
      tab.setAttribute("aria-selected", String(w === current));
      return tab;
    });
    tabsEl.replaceChildren(...buttons);
  }

  function definitionOf(name) {
    const found = (boards || []).find((b) => b.board === name);
    return found ? found.definition : null;
  }

  function showOrder() {
    const definition = definitionOf(board);
    boardOrderEl.textContent = definition && definition.order === "asc" ? "Lowest score ranks first" : "";
  }

  // Show `name`'s windows and open its stream (on the window shown, when the board has it).
  function chooseBoard(name) {
    const definition = definitionOf(name);
    board = definition === null ? DEFAULT_BOARD : name;
    windows = definition === null ? DEFAULT_WINDOWS : definition.windows;
    boardSelect.value = board;
    const url = new URL(location.href);
    if (board === DEFAULT_BOARD) url.searchParams.delete("board");
    else url.searchParams.set("board", board);
    if (url.href !== location.href) history.replaceState(null, "", url);
    showOrder();
    buildTabs();
    select(windows.includes(current) ? current : windows.includes("alltime") ? "alltime" : windows[0]);
  }

  function showBoards(list) {
    boards = list;
    boardSelect.replaceChildren(...list.map((b) => {
      const option = cell("option", "", b.board);
      option.value = b.board;
      return option;
    }));
    pickerEl.hidden = list.length < 2;
  }

  // The board list; null when it could not be read (the page then shows the global board).
  function loadBoards() {
    return fetch("leaderboards", { cache: "no-store", headers: { Accept: "application/json" } })
      .then((response) => {
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        return response.json();
      })
      .then((body) => { showBoards(body.data); return body.data; })
      .catch((error) => { console.warn("boards not loaded, the global board is shown:", error); return null; });
  }

  boardSelect.addEventListener("change", () => {
    if (boardSelect.value !== board) chooseBoard(boardSelect.value);
  });

  const fromUrl = new URLSearchParams(location.search).get("me");
  const initial = (fromUrl ?? storedMe() ?? "").trim();
  me = initial !== "" && problemWith(initial) === null ? initial : null;
  remember(me);
  findInput.value = me ?? "";
  findClear.hidden = me === null;
  loadConfig();
  if (board === DEFAULT_BOARD) { // the default board's windows are known: no wait for the board list
    if (!windows.includes(current)) current = "alltime";
    buildTabs();
    select(current);
    loadBoards().then((list) => {
      const definition = list === null ? null : definitionOf(board);
      if (definition !== null && definition.windows.join() !== windows.join()) chooseBoard(board);
      else showOrder();
    });
  } else {
    loadBoards().then(() => chooseBoard(board));
  }
})();
