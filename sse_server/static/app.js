// Live leaderboard: one EventSource on leaderboard/stream?window=..., which reconnects by itself (with
// Last-Event-ID). Each leaderboard_update event carries the whole board, so rendering is "replace the table",
// with rows that moved up/down or are new briefly highlighted. User data only ever goes through textContent.
//
// Find me: once a player id is chosen (kept in ?me= and in localStorage), that one EventSource is the personal
// stream (...&user_id=<id>), which also carries `standing` events (the GET leaderboard/users/<id> body) at
// connect and whenever the player's rank or score moves. Each standing is shown at once; the neighbours are
// refreshed with GET leaderboard/around/<id>, coalesced: one request at a time, at most one per AROUND_GAP_MS.
"use strict";

(() => {
  const WINDOWS = ["alltime", "daily", "weekly"];
  const LABELS = { connecting: "Connecting", live: "Live", reconnecting: "Reconnecting" };
  const AROUND_RADIUS = 3;
  const AROUND_GAP_MS = 400; // at most ~2.5 neighbour refreshes a second, however fast standings arrive
  const MAX_ID = 128; // the read API's limit on a user_id (code points)
  const STORE_KEY = "scoreboard.me";
  const rowsEl = document.getElementById("rows");
  const emptyEl = document.getElementById("empty");
  const statusEl = document.getElementById("status");
  const updatedEl = document.getElementById("updated");
  const versionEl = document.getElementById("version");
  const subtitleEl = document.getElementById("subtitle");
  const findForm = document.getElementById("findme-form");
  const findInput = document.getElementById("findme-id");
  const findClear = document.getElementById("findme-clear");
  const standingEl = document.getElementById("findme-standing");
  const aroundEl = document.getElementById("findme-around");
  const aroundRows = document.getElementById("findme-rows");
  const tabs = Array.from(document.querySelectorAll("[data-window]"));
  const numbers = new Intl.NumberFormat();
  const percent = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

  let source = null;
  let retryTimer = null;
  let current = WINDOWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "alltime";
  let previous = null; // Map user_id -> {rank, score} of the board last rendered for this window
  let me = null; // the player followed by the find-me box, or null
  let standing = null; // the last standing event's body for (me, current)
  let generation = 0; // bumped when the player or the window changes: answers for the old ones are dropped
  const around = { timer: null, busy: false, wanted: false, last: -Infinity };

  function setStatus(state) {
    statusEl.dataset.state = state;
    statusEl.querySelector(".label").textContent = LABELS[state];
  }

  function describe(board) {
    if (board.window === "daily") return `Today · ${board.period}`;
    if (board.window === "weekly") return `This week · ${board.period.replace("-W", " · week ")}`;
    return "All-time leaderboard";
  }

  function where(windowName) {
    if (windowName === "daily") return "today";
    if (windowName === "weekly") return "this week";
    return "on the all-time board";
  }

  function cell(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function player(row) {
    const who = cell("td", "player");
    who.title = row.username ? `${row.username} (${row.user_id})` : row.user_id;
    who.append(cell("span", "name", row.username || row.user_id));
    if (row.username && row.username !== row.user_id) who.append(cell("span", "uid", row.user_id));
    return who;
  }

  function rankCell(rank) {
    const td = cell("td", `rank r${Math.min(rank, 4)}`);
    td.append(cell("span", "pill", String(rank)));
    return td;
  }

  function markMe(tr) {
    if (me !== null && tr.dataset.userId === me) tr.setAttribute("aria-current", "true");
    else tr.removeAttribute("aria-current");
  }

  function movement(row) {
    if (previous === null) return { cls: "", text: "" };
    const before = previous.get(row.user_id);
    if (!before) return { cls: "new", text: "NEW" };
    if (row.rank < before.rank) return { cls: "up", text: `▲ ${before.rank - row.rank}` };
    if (row.rank > before.rank) return { cls: "down", text: `▼ ${row.rank - before.rank}` };
    if (row.score !== before.score) return { cls: "bump", text: "" };
    return { cls: "", text: "" };
  }

  function render(board) {
    const fragment = document.createDocumentFragment();
    for (const row of board.data) {
      const move = movement(row);
      const tr = cell("tr", move.cls);
      tr.dataset.userId = row.user_id;
      tr.dataset.rank = String(row.rank);
      markMe(tr);
      tr.append(rankCell(row.rank), player(row), cell("td", `move ${move.cls}`, move.text),
                cell("td", "score", numbers.format(row.score)));
      fragment.append(tr);
    }
    rowsEl.replaceChildren(fragment);
    emptyEl.hidden = board.data.length > 0;
    previous = new Map(board.data.map((r) => [r.user_id, { rank: r.rank, score: r.score }]));
    subtitleEl.textContent = describe(board);
    const at = new Date(board.timestamp);
    updatedEl.textContent = `Updated ${isNaN(at) ? board.timestamp : at.toLocaleTimeString()}`;
    versionEl.textContent = `v${board.version}`;
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
    if (body.user_id !== me || body.window !== current) return;
    standing = body;
    const who = cell("span", "name", body.username || body.user_id);
    const uid = body.username && body.username !== body.user_id ? [" (", cell("span", "uid", body.user_id), ")"] : [];
    if (body.rank === null) {
      say("unranked", who, ...uid, ` has no score ${where(body.window)}, so is not on the board.`);
      hideAround();
      return;
    }
    const pill = cell("span", `pill r${Math.min(body.rank, 4)}`, `#${body.rank}`);
    pill.setAttribute("aria-hidden", "true");
    const summary = cell("strong", "rank-line",
                         `rank ${numbers.format(body.rank)} of ${numbers.format(body.total_players)}`);
    say("ranked", pill, who, ...uid, " is at ", summary,
        ` · top ${percent.format(body.top_percent)}% · ${numbers.format(body.score)} points`);
    wantAround();
  }

  function showAround(body) {
    if (standing === null || standing.rank === null || body === null) {
      hideAround();
      return;
    }
    const fragment = document.createDocumentFragment();
    for (const row of body.data) {
      const tr = cell("tr");
      tr.dataset.userId = row.user_id;
      tr.dataset.rank = String(row.rank);
      markMe(tr);
      tr.append(rankCell(row.rank), player(row), cell("td", "score", numbers.format(row.score)));
      fragment.append(tr);
    }
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
                `&radius=${AROUND_RADIUS}`;
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
    const es = new EventSource(`leaderboard/stream?window=${encodeURIComponent(current)}${personal}`);
    source = es;
    es.onopen = () => { if (source === es) setStatus("live"); };
    es.addEventListener("leaderboard_update", (event) => {
      if (source !== es) return;
      setStatus("live");
      const board = JSON.parse(event.data);
      render(board);
      // neighbours in the top board move with it even when the player's own rank and score do not
      if (standing !== null && standing.rank !== null && previous.has(me)) wantAround();
    });
    es.addEventListener("standing", (event) => {
      if (source !== es) return;
      showStanding(JSON.parse(event.data));
    });
    es.onerror = () => {
      if (source !== es) return;
      setStatus("reconnecting");
      // The browser retries by itself while CONNECTING; after a fatal error (CLOSED) we start over.
      if (es.readyState === EventSource.CLOSED) retryTimer = setTimeout(connect, 3000);
    };
  }

  function select(windowName) {
    current = windowName;
    previous = null; // a different board: no movement highlights on the first render
    for (const tab of tabs) tab.setAttribute("aria-selected", String(tab.dataset.window === windowName));
    rowsEl.replaceChildren();
    emptyEl.hidden = true;
    updatedEl.textContent = "Waiting for the first update…";
    versionEl.textContent = "";
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
  for (const tab of tabs) tab.addEventListener("click", () => select(tab.dataset.window));
  window.addEventListener("hashchange", () => {
    const w = location.hash.slice(1);
    if (WINDOWS.includes(w) && w !== current) select(w);
  });

  const fromUrl = new URLSearchParams(location.search).get("me");
  const initial = (fromUrl ?? storedMe() ?? "").trim();
  me = initial !== "" && problemWith(initial) === null ? initial : null;
  remember(me);
  findInput.value = me ?? "";
  findClear.hidden = me === null;
  select(current);
})();
