// Live leaderboard: one EventSource on leaderboard/stream?window=..., which reconnects by itself (with
// Last-Event-ID). Each leaderboard_update event carries the whole board, so rendering is "replace the table",
// with rows that moved up/down or are new briefly highlighted. User data only ever goes through textContent.
"use strict";

(() => {
  const WINDOWS = ["alltime", "daily", "weekly"];
  const LABELS = { connecting: "Connecting", live: "Live", reconnecting: "Reconnecting" };
  const rowsEl = document.getElementById("rows");
  const emptyEl = document.getElementById("empty");
  const statusEl = document.getElementById("status");
  const updatedEl = document.getElementById("updated");
  const versionEl = document.getElementById("version");
  const subtitleEl = document.getElementById("subtitle");
  const tabs = Array.from(document.querySelectorAll("[data-window]"));
  const numbers = new Intl.NumberFormat();

  let source = null;
  let retryTimer = null;
  let current = WINDOWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "alltime";
  let previous = null; // Map user_id -> {rank, score} of the board last rendered for this window

  function setStatus(state) {
    statusEl.dataset.state = state;
    statusEl.querySelector(".label").textContent = LABELS[state];
  }

  function describe(board) {
    if (board.window === "daily") return `Today · ${board.period}`;
    if (board.window === "weekly") return `This week · ${board.period.replace("-W", " · week ")}`;
    return "All-time leaderboard";
  }

  function cell(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
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
      const rank = cell("td", `rank r${Math.min(row.rank, 4)}`);
      rank.append(cell("span", "pill", String(row.rank)));
      const who = cell("td", "player");
      who.append(cell("span", "name", row.username || row.user_id));
      if (row.username && row.username !== row.user_id) who.append(cell("span", "uid", row.user_id));
      tr.append(rank, who, cell("td", `move ${move.cls}`, move.text), cell("td", "score", numbers.format(row.score)));
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

  function connect() {
    clearTimeout(retryTimer);
    if (source) source.close();
    setStatus("connecting");
    const es = new EventSource(`leaderboard/stream?window=${encodeURIComponent(current)}`);
    source = es;
    es.onopen = () => { if (source === es) setStatus("live"); };
    es.addEventListener("leaderboard_update", (event) => {
      if (source !== es) return;
      setStatus("live");
      render(JSON.parse(event.data));
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
    connect();
  }

  for (const tab of tabs) tab.addEventListener("click", () => select(tab.dataset.window));
  window.addEventListener("hashchange", () => {
    const w = location.hash.slice(1);
    if (WINDOWS.includes(w) && w !== current) select(w);
  });
  select(current);
})();
