/* cat-engine candidate terminal: a thin client of the /candidate namespace (docs/protocol.md).
 *
 * The server is the truth for answers, marks and the clock. This page shows what it was told,
 * and keeps every change the server has not acknowledged yet in a journal in localStorage, so a
 * lost connection, a reload or a browser crash loses nothing: the journal is resent, in order and
 * with its original sequence numbers, as soon as the candidate is logged in again.
 *
 * Plain JS, no build step. Every sentence comes from the page's translated dictionary.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("terminal-config").textContent);
  var T = config.strings;

  var ACK_TIMEOUT_MS = 15000;
  var RETRY_MS = 2000;
  var TICK_MS = 250;
  var REPORT_MS = 300;
  var FONT_STEPS = [87.5, 100, 112.5, 125, 137.5, 150, 175];
  var DEFAULT_FONT_STEP = 2;
  var STORE = {
    terminal: "cat.terminal.id",
    font: "cat.terminal.font",
    session: "cat.terminal.session",
    journal: "cat.terminal.journal:",
  };
  // Error codes after which the same event may simply be sent again later.
  // elsewhere: the session moved to another server (a failover); the reconnect reaches it.
  var TRANSIENT = { timeout: 1, offline: 1, rate_limited: 1, internal: 1, elsewhere: 1 };

  // ---------------------------------------------------------------- small helpers

  function $(id) { return document.getElementById(id); }

  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function optionLabel(index) { return String.fromCharCode(65 + index); }

  function load(storage, key, fallback) {
    try {
      var raw = storage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return fallback;
    }
  }

  function store(storage, key, value) {
    try {
      if (value === null) storage.removeItem(key);
      else storage.setItem(key, JSON.stringify(value));
    } catch (e) {
      // A full or disabled storage must not stop the exam: the journal still lives in memory.
    }
  }

  // A random id for this browser profile; crypto.randomUUID needs a secure context, which a
  // test room served over plain http on the LAN is not.
  function terminalId() {
    var id = load(localStorage, STORE.terminal, null);
    if (typeof id !== "string" || !/^[0-9a-f]{32}$/.test(id)) {
      var bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);
      id = Array.prototype.map.call(bytes, function (b) {
        return (b < 16 ? "0" : "") + b.toString(16);
      }).join("");
      store(localStorage, STORE.terminal, id);
    }
    return id;
  }

  // ---------------------------------------------------------------- state

  var roving = null;       // the grid box the arrow keys reached (its one Tab stop)
  var state = {
    creds: load(sessionStorage, STORE.session, null), // {registration, pin, token}
    loggedIn: false,
    loggingIn: false,
    status: null,
    candidate: null,
    exam: null,
    journal: null,       // {next: seq, ops: [{seq, event, payload}]}, persisted per candidate
    journalKey: null,
    resync: false,       // a duplicate ack: the server may hold a newer change than this page
    inflight: null,      // the journal op awaiting its ack
    retryTimers: {},
    sheet: null,         // {n, sections, answers, doubtful}: acknowledged state + journal
    position: 0,
    items: {},           // position -> item; memory only, item text never touches the disk
    loading: {},         // position -> true while get_item is on its way
    clock: null,         // {remaining, at, paused}
    block: null,         // {index, count, sections}: the open time block (docs/protocol.md)
    warned: {},
    paused: false,
    finishing: false,
    finished: false,
    savedOnce: false,
    replaced: false,
    view: "login",
  };
  var TERMINAL = terminalId();

  // ---------------------------------------------------------------- the connection

  // ?session=<route> lets a proxy in front of several servers send this terminal to the one
  // that runs its session (docs/deploy.md, "Routing"); the login reply names the route.
  var socket = io(config.namespace, { autoConnect: false, reconnectionDelayMax: 5000,
                                      query: {} });

  function reroute(route) {
    if (!route || socket.io.opts.query.session === route) return false;
    socket.io.opts.query = { session: route };
    socket.disconnect();
    socket.connect();  // the connect handler logs in again on the routed connection
    return true;
  }

  function call(event, payload) {
    return new Promise(function (resolve) {
      if (!socket.connected) {
        resolve({ ok: false, error: { code: "offline", message: "" } });
        return;
      }
      socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, function (err, reply) {
        if (err) resolve({ ok: false, error: { code: "timeout", message: "" } });
        else if (!reply || typeof reply !== "object") resolve({ ok: false, error: { code: "internal", message: "" } });
        else resolve(reply);
      });
    });
  }

  function errorOf(reply) {
    var error = (reply && reply.error) || {};
    return { code: String(error.code || "internal"), message: String(error.message || "") };
  }

  socket.on("connect", function () {
    if ("disconnected" in banners) flash(T.reconnected);
    clearBanner("disconnected");
    if (state.creds) login(state.creds, true);
  });

  socket.on("disconnect", function (reason) {
    state.loggedIn = false;
    state.inflight = null;
    if (state.replaced || reason === "io client disconnect") return;
    if (state.creds && !state.finished) showBanner("disconnected", T.disconnected);
    renderSaveStates();
  });

  socket.on("clock", function (msg) {
    if (msg && typeof msg.remaining_ms === "number") setClock(msg.remaining_ms, !!msg.paused);
    if (msg && msg.block) setBlock(msg.block, false);
  });

  // The server moved the candidate to the next time block: by time, or after next_block.
  socket.on("block", function (msg) {
    if (!msg || typeof msg.index !== "number") return;
    if (typeof msg.remaining_ms === "number") setClock(msg.remaining_ms, state.paused);
    setBlock(msg, true);
    if (msg.reason === "time") { flash(T.block_moved); announce(T.block_moved); }
  });

  // The proctor extended the time: the clock jumps, so say why, on screen and aloud.
  socket.on("extended", function (msg) {
    var text = fmt(T.extended, { n: msg && msg.minutes });
    flash(text);
    announce(text);
  });

  socket.on("admitted", function () {
    if (state.view === "confirm") showConfirm(false);
  });

  socket.on("paused", function () {
    setPaused(true);
  });

  socket.on("resumed", function () {
    setPaused(false);
    if (state.view === "exam") {
      goTo(state.position);
      pump();
    }
  });

  socket.on("finished", function (msg) {
    if (msg && msg.result) showResult(msg.result, msg.reason);
  });

  socket.on("released", function () {
    logout();
    showBanner("released", T.released);
  });

  socket.on("disqualified", function (msg) {
    var reason = msg && msg.reason ? " " + String(msg.reason) : "";
    dropJournal();
    logout();
    showBanner("released", T.disqualified + reason);
  });

  socket.on("error", function (msg) {
    if (msg && msg.code === "replaced") {
      // Another tab of this PC took the exam over: stop here instead of taking it back.
      state.replaced = true;
      socket.disconnect();
      clearBanner("disconnected");
      showBanner("released", msg.message || T.error);
      return;
    }
    if (msg && msg.message) flash(msg.message);
  });

  // ---------------------------------------------------------------- login and start

  function credsFromForm() {
    return {
      registration: $("registration").value.trim(),
      pin: $("pin").value.trim(),
      token: $("token").value.trim(),
    };
  }

  // Enrolment of this PC (issue 11): its secret stays in localStorage; the code is shown
  // until a proctor confirms it in the console.
  var DEVICE_KEY = "cat.terminal.device";
  async function pairThisPc(creds) {
    var reply = await call("pair", { lang: config.lang });
    if (!reply.ok) return;
    localStorage.setItem(DEVICE_KEY, reply.secret);
    var box = $("pairing-code");
    box.textContent = reply.code;
    box.hidden = false;
    socket.off("enrolled");
    socket.on("enrolled", function () {
      box.hidden = true;
      showLoginError("");
      login(creds, false);
    });
  }

  function showLoginError(text) {
    var box = $("login-error");
    box.textContent = text;
    box.hidden = !text;
  }

  async function login(creds, automatic) {
    if (state.loggingIn) return;
    state.loggingIn = true;
    $("login-submit").disabled = true;
    var message = {
      registration: creds.registration,
      pin: creds.pin,
      token: creds.token,
      terminal: TERMINAL,
      lang: config.lang,
    };
    var device = localStorage.getItem(DEVICE_KEY);
    if (device) message.device = device;
    var reply = await call("login", message);
    state.loggingIn = false;
    $("login-submit").disabled = false;
    if (!reply.ok) {
      var error = errorOf(reply);
      if (error.code === "elsewhere") {
        // Another server runs this session: reconnect by its route, or wait for the handover.
        if (!reroute(reply.route)) retry("login", function () { login(creds, automatic); });
        if (!automatic) showLoginError(T.connecting);
        return;
      }
      if (TRANSIENT[error.code]) {
        // The connect handler logs in again after a reconnect; a timeout retries here.
        if (error.code !== "offline") retry("login", function () { login(creds, automatic); });
        else if (!automatic) showLoginError(T.connecting);
        return;
      }
      if (error.code === "device_not_enrolled") {
        // The session takes enrolled PCs only: show a pairing code for the proctor; once it
        // is confirmed the login goes on by itself.
        pairThisPc(creds);
        showLoginError(error.message);
        return;
      }
      // A typo keeps the form as typed; a refused automatic login (closed session, a release
      // and a login elsewhere) clears the exam off this screen.
      if (automatic) logout();
      else forgetCredentials();
      showLoginError(error.message || (error.code === "already_active" ? T.already_active : T.error));
      return;
    }
    state.creds = creds;
    state.loggedIn = true;
    if (reply.route) socket.io.opts.query = { session: reply.route };  // for every reconnect
    store(sessionStorage, STORE.session, creds);
    showLoginError("");
    clearBanner("released");
    state.candidate = reply.candidate || {};
    state.exam = reply.exam || { title: "", sections: [], duration_s: 0 };
    if (state.journalKey !== journalKey(creds)) {
      state.journalKey = journalKey(creds);
      state.journal = loadJournal(creds);
    }
    state.status = reply.status;
    renderCandidate();
    if (reply.status === "finished") {
      if (reply.result) showResult(reply.result, null);
      else { forgetCredentials(); showView("login"); showLoginError(T.error); }
    }
    else if (reply.status === "in_progress") start();
    else showConfirm(reply.status === "waiting_admission");
  }

  async function start() {
    $("start").disabled = true;
    var reply = await call("start", {});
    if (!reply.ok) {
      var error = errorOf(reply);
      $("start").disabled = !$("rules-read").checked;
      if (error.code === "finished" && reply.result) showResult(reply.result, null);
      else if (error.code === "not_admitted") showConfirm(true);
      else if (error.code === "not_logged_in") { if (state.creds) login(state.creds, true); }
      else if (TRANSIENT[error.code]) { if (error.code !== "offline") retry("start", start); }
      else flash(error.message || T.error);
      return;
    }
    if (!reply.sheet) {
      // The deadline passed while nobody was connected: the server finished the exam just now.
      if (reply.result) showResult(reply.result, "time");
      return;
    }
    applySheet(reply.sheet);
    var entering = state.view !== "exam";
    showView("exam");
    goTo(state.position);
    // Keyboard and screen-reader users start at the item, not on a button that is gone.
    if (entering) $("item-heading").focus();
    pump();
  }

  function forgetCredentials() {
    state.creds = null;
    state.loggedIn = false;
    store(sessionStorage, STORE.session, null);
  }

  // Back to an empty login form; the journal stays on disk for this candidate's next login.
  function logout() {
    forgetCredentials();
    state.sheet = null;
    state.items = {};
    state.inflight = null;
    state.clock = null;
    state.block = null;
    state.finishing = false;
    setPaused(false);
    $("login-form").reset();
    $("topbar-candidate").hidden = true;
    $("clock-box").hidden = true;
    if ($("finish-dialog").open) $("finish-dialog").close();
    if ($("block-dialog").open) $("block-dialog").close();
    showView("login");
  }

  // ---------------------------------------------------------------- the journal

  function journalKey(creds) {
    return STORE.journal + creds.token.toUpperCase() + "|" + creds.registration;
  }

  function loadJournal(creds) {
    var journal = load(localStorage, journalKey(creds), null);
    if (!journal || !Array.isArray(journal.ops) || typeof journal.next !== "number") {
      journal = { next: 1, ops: [] };
    }
    return journal;
  }

  function saveJournal() {
    if (state.creds && state.journal) store(localStorage, journalKey(state.creds), state.journal);
  }

  function dropJournal() {
    if (state.creds) store(localStorage, journalKey(state.creds), null);
    state.journal = { next: 1, ops: [] };
    state.journalKey = null;
  }

  function record(event, payload) {
    var seq = state.journal.next;
    state.journal.next = seq + 1;
    payload.seq = seq;
    state.journal.ops.push({ seq: seq, event: event, payload: payload });
    saveJournal();
    pump();
  }

  function applyOp(op) {
    var p = op.payload.position;
    if (!state.sheet || typeof p !== "number" || p < 0 || p >= state.sheet.n) return;
    if (op.event === "answer") state.sheet.answers[p] = op.payload.choice;
    else if (op.event === "flag") state.sheet.doubtful[p] = !!op.payload.doubtful;
  }

  function pendingAt(position) {
    if (!state.journal) return false;
    return state.journal.ops.some(function (op) { return op.payload.position === position; });
  }

  // One pending retry per kind of work, so a retry of one never cancels another's.
  function retry(kind, fn, delay) {
    clearTimeout(state.retryTimers[kind]);
    state.retryTimers[kind] = setTimeout(fn, delay || RETRY_MS);
  }

  // One event in flight at a time, oldest first: the server then sees the candidate's changes
  // in the order they were made, whatever happens to the connection in between.
  function pump() {
    if (!state.loggedIn || !state.sheet || state.inflight || state.paused || state.finished) return;
    if (!socket.connected || !state.journal.ops.length) {
      renderSaveStates();
      if (state.resync && socket.connected && !state.journal.ops.length) {
        // Another terminal of this candidate (a spare PC) may have changed what we resent:
        // show the server's sheet rather than our memory of it.
        state.resync = false;
        start();
      }
      return;
    }
    var op = state.journal.ops[0];
    var ticket = { op: op };
    state.inflight = ticket;
    renderSaveStates();
    call(op.event, op.payload).then(function (reply) {
      if (state.inflight !== ticket) return; // a reconnect started over and sent it again
      state.inflight = null;
      if (reply.ok) {
        state.journal.ops = state.journal.ops.filter(function (o) { return o.seq !== op.seq; });
        saveJournal();
        state.savedOnce = true;
        if (reply.duplicate) state.resync = true;
        if (op.event === "finish") { showResult(reply.result, "candidate"); return; }
        if (op.event === "next_block" && reply.block) setBlock(reply.block, true);
        if (reply.adaptive) adaptiveAnswered(op.payload.position, reply.adaptive);
        renderSaveStates();
        pump();
        return;
      }
      rejected(op, errorOf(reply), reply);
    });
  }

  function rejected(op, error, reply) {
    if (TRANSIENT[error.code]) { renderSaveStates(); if (error.code !== "offline") retry("pump", pump); return; }
    if (error.code === "paused") { setPaused(true); return; }
    if (error.code === "not_logged_in" || error.code === "not_started") {
      if (state.creds) login(state.creds, true);
      return;
    }
    if (error.code === "finished" || error.code === "time_up") {
      // A finished push carries the result; ask for it too in case the push was missed.
      if (reply && reply.result) showResult(reply.result, null);
      else start();
      return;
    }
    // The server refused this change for good: drop it and show the server's state again.
    state.journal.ops = state.journal.ops.filter(function (o) { return o.seq !== op.seq; });
    saveJournal();
    if (op.event === "finish") { state.finishing = false; clearBanner("info"); }
    flash(fmt(T.rejected, { message: error.message || error.code }));
    start();
  }

  // ---------------------------------------------------------------- the answer sheet

  function applySheet(sheet) {
    var n = sheet.n_items;
    var fresh = !state.sheet;
    state.sheet = {
      n: n,
      sections: sheet.sections || [],
      answers: (sheet.answers || []).slice(0, n),
      doubtful: (sheet.doubtful || []).slice(0, n),
    };
    while (state.sheet.answers.length < n) state.sheet.answers.push(null);
    while (state.sheet.doubtful.length < n) state.sheet.doubtful.push(false);
    if (typeof sheet.next_seq === "number" && sheet.next_seq > state.journal.next) {
      state.journal.next = sheet.next_seq;
      saveJournal();
    }
    // What the candidate sees is what the server holds plus what is still on its way.
    state.journal.ops.forEach(applyOp);
    // A reconnect within this page keeps the item on screen; a fresh page resumes the server's.
    if (fresh) state.position = Math.min(Math.max(sheet.position | 0, 0), Math.max(n - 1, 0));
    state.finished = false;
    state.finishing = state.journal.ops.some(function (op) { return op.event === "finish"; });
    setClock(sheet.remaining_ms, !!sheet.paused);
    setPaused(!!sheet.paused);
    state.block = sheet.block || null;
    renderBlock();
    buildGrid();
  }

  function choose(index) {
    if (!canChange()) return;
    var p = state.position;
    var item = state.items[p];
    if (index !== null && (!item || index < 0 || index >= item.options.length)) return;
    if (state.sheet.answers[p] === index) return;
    if (locked(p)) return; // an adaptive item is answered once
    state.sheet.answers[p] = index;
    record("answer", { position: p, choice: index });
    renderItemState();
  }

  function toggleDoubtful() {
    if (!canChange()) return;
    var p = state.position;
    state.sheet.doubtful[p] = !state.sheet.doubtful[p];
    record("flag", { position: p, doubtful: state.sheet.doubtful[p] });
    renderItemState();
  }

  function canChange() {
    return state.view === "exam" && state.sheet && !state.paused && !state.finishing && !state.finished;
  }

  // ---------------------------------------------------------------- items

  // get_item is also how the server learns where the candidate is (resume, the proctor's
  // grid), so every move asks for the item, even one already in memory. Items are not
  // prefetched for the same reason.
  function goTo(position) {
    if (!state.sheet) return;
    var p = reachable(Math.min(Math.max(position, 0), state.sheet.n - 1),
                      position < state.position ? -1 : 1);
    if (p === null) return;
    state.position = p;
    roving = null;
    renderItem();
    clearTimeout(state.retryTimers.item);
    if (!state.items[p]) requestItem(p);
    // A cached item is shown at once; its position is reported once the candidate stays,
    // so holding an arrow key does not flood the server.
    else retry("item", function () { if (state.position === p) requestItem(p); }, REPORT_MS);
  }

  async function requestItem(p) {
    if (state.loading[p] || !state.loggedIn || state.paused) return;
    state.loading[p] = true;
    var reply = await call("get_item", { position: p });
    delete state.loading[p];
    if (reply.ok) {
      if (!Array.isArray(reply.options)) reply.options = [];
      var shown = state.items[p];
      state.items[p] = reply;
      if (state.position === p && !shown) renderItem();
      return;
    }
    var error = errorOf(reply);
    if (error.code === "paused") setPaused(true);
    else if (error.code === "not_logged_in" || error.code === "not_started") {
      if (state.creds) login(state.creds, true);
    } else if (error.code === "finished" || error.code === "time_up") start();
    else if (state.position === p) {
      if (!state.items[p]) $("item-stem").textContent = T.item_unavailable;
      if (error.code !== "offline") {
        retry("item", function () { if (state.position === p) requestItem(p); });
      }
    }
  }

  // ---------------------------------------------------------------- rendering

  function showView(name) {
    state.view = name;
    ["login", "confirm", "exam", "result"].forEach(function (v) {
      $("view-" + v).hidden = v !== name;
    });
    document.body.dataset.view = name;
    if (name === "login") setTimeout(function () { $("registration").focus(); }, 0);
  }

  function renderCandidate() {
    var c = state.candidate;
    $("topbar-name").textContent = c.name || "";
    $("topbar-registration").textContent = c.registration || "";
    $("topbar-candidate").hidden = false;
    if (state.exam.title) $("exam-title").textContent = state.exam.title;
  }

  function showConfirm(waiting) {
    var c = state.candidate;
    var exam = state.exam;
    $("candidate-name").textContent = c.name || "";
    $("candidate-registration").textContent = c.registration || "";
    $("candidate-formation").textContent = c.formation_title || c.formation || "";
    var photo = $("candidate-photo");
    var hasPhoto = typeof c.photo === "string" && c.photo.indexOf("data:image/") === 0;
    if (hasPhoto) photo.src = c.photo;
    photo.hidden = !hasPhoto;
    $("candidate-photo-missing").hidden = hasPhoto;
    $("confirm-exam").textContent = exam.title || "";
    $("confirm-duration").textContent = fmt(T.minutes, { n: Math.round((exam.duration_s || 0) / 60) });
    var list = $("confirm-sections");
    list.textContent = "";
    (exam.sections || []).forEach(function (s) {
      var li = document.createElement("li");
      li.textContent = s.name + ": " + fmt(T.items, { n: s.items });
      list.appendChild(li);
    });
    $("waiting-box").hidden = !waiting;
    $("start-box").hidden = waiting;
    $("start").disabled = !$("rules-read").checked;
    var wasConfirm = state.view === "confirm";
    showView("confirm");
    if (!wasConfirm) $("confirm-heading").focus();
  }

  function buildGrid() {
    var grid = $("grid");
    grid.textContent = "";
    var sections = state.sheet.sections.length
      ? state.sheet.sections
      : [{ name: "", first: 0, count: state.sheet.n }];
    sections.forEach(function (section) {
      var group = document.createElement("div");
      group.className = "grid-section";
      if (section.name) {
        var title = document.createElement("h2");
        title.className = "grid-title";
        title.textContent = section.name;
        group.appendChild(title);
      }
      var boxes = document.createElement("div");
      boxes.className = "grid-boxes";
      // An adaptive section shows only the items given so far; only its current one opens.
      var shown = section.adaptive ? section.adaptive.given : section.count;
      for (var p = section.first; p < section.first + shown && p < state.sheet.n; p++) {
        var box = document.createElement("button");
        box.type = "button";
        box.className = "box";
        box.disabled = locked(p);
        box.dataset.position = String(p);
        box.id = "box-" + p;
        box.tabIndex = -1;  // one Tab stop for the whole grid (renderBox picks it)
        var num = document.createElement("span");
        num.className = "num";
        num.textContent = String(p + 1);
        var mark = document.createElement("span");
        mark.className = "mark";
        mark.setAttribute("aria-hidden", "true");
        box.appendChild(num);
        box.appendChild(mark);
        boxes.appendChild(box);
      }
      group.appendChild(boxes);
      grid.appendChild(group);
    });
    for (var i = 0; i < state.sheet.n; i++) renderBox(i);
  }

  // The box an arrow key leads to from ``box`` (null at an edge; undefined: not a moving key).
  // Up and down go to the nearest box of the row above or below, across section titles.
  function gridNeighbour(box, key) {
    var boxes = Array.prototype.slice.call(document.querySelectorAll("#grid .box:not(:disabled)"));
    var i = boxes.indexOf(box);
    if (key === "ArrowRight") return boxes[i + 1] || null;
    if (key === "ArrowLeft") return boxes[i - 1] || null;
    if (key === "Home") return boxes[0] || null;
    if (key === "End") return boxes[boxes.length - 1] || null;
    if (key !== "ArrowUp" && key !== "ArrowDown") return undefined;
    var from = box.getBoundingClientRect(), best = null, bestScore = Infinity;
    boxes.forEach(function (b) {
      var r = b.getBoundingClientRect();
      var dy = key === "ArrowDown" ? r.top - from.top : from.top - r.top;
      if (dy < 2) return;
      var score = dy * 1000 + Math.abs(r.left - from.left);
      if (score < bestScore) { best = b; bestScore = score; }
    });
    return best;
  }

  function renderBox(p) {
    var box = $("box-" + p);
    if (!box) return;
    var answer = state.sheet.answers[p];
    var answered = answer !== null && answer !== undefined;
    var doubtful = !!state.sheet.doubtful[p];
    box.classList.toggle("answered", answered);
    box.classList.toggle("doubtful", doubtful);
    box.classList.toggle("current", p === state.position);
    box.classList.toggle("saving", pendingAt(p));
    box.querySelector(".mark").textContent = answered ? optionLabel(answer) : "";
    // The grid's one Tab stop: the box the arrow keys last reached, else the current item.
    var stop = roving !== null && $("box-" + roving) ? roving : state.position;
    box.tabIndex = p === stop ? 0 : -1;
    if (p === state.position) box.setAttribute("aria-current", "step");
    else box.removeAttribute("aria-current");
    var key = (answered ? "grid_answered" : "grid_unanswered") + (doubtful ? "_doubtful" : "");
    box.setAttribute("aria-label", fmt(T[key], { n: p + 1, label: answered ? optionLabel(answer) : "" }));
  }

  // ---------------------------------------------------------------- adaptive sections
  // The server picks each next item when an answer is saved (docs/protocol.md): an answered
  // item cannot be reopened, and the next one exists only once the answer is acknowledged.

  function adaptiveSectionOf(p) {
    var found = null;
    state.sheet.sections.forEach(function (s) {
      if (s.adaptive && p >= s.first && p < s.first + s.count) found = s;
    });
    return found;
  }

  function locked(p) {
    if (outsideBlock(p)) return true;
    var s = state.sheet && adaptiveSectionOf(p);
    if (!s) return false;
    return s.adaptive.done || p !== s.first + s.adaptive.given - 1 ||
      (state.sheet.answers[p] !== null && state.sheet.answers[p] !== undefined);
  }

  // The nearest position from p (moving by dir) that may be opened, or null.
  function reachable(p, dir) {
    for (var q = p; q >= 0 && q < state.sheet.n; q += dir) if (!locked(q)) return q;
    for (var r = p; r >= 0 && r < state.sheet.n; r -= dir) if (!locked(r)) return r;
    return null;
  }

  // ---------------------------------------------------------------- time blocks
  // Sections with their own clock run one block after the other (docs/protocol.md): only the
  // open block's items can be opened; a closed block never reopens.

  function blockOf(p) {
    var found = 0;
    state.sheet.sections.forEach(function (s) {
      if (p >= s.first && p < s.first + s.count) found = s.block | 0;
    });
    return found;
  }

  function outsideBlock(p) {
    return !!(state.sheet && state.block && state.block.count > 1 && blockOf(p) !== state.block.index);
  }

  function setBlock(info, move) {
    var before = state.block ? state.block.index : null;
    state.block = { index: info.index | 0, count: info.count | 0, sections: info.sections || [] };
    renderBlock();
    if (!state.sheet || before === state.block.index) return;
    state.warned = {};
    buildGrid();
    if (move && state.view === "exam") {
      var first = null;
      state.sheet.sections.forEach(function (s) {
        if (first === null && (s.block | 0) === state.block.index) first = s.first;
      });
      if (first !== null) goTo(first);
    }
  }

  function renderBlock() {
    var b = state.block;
    var several = !!(b && b.count > 1);
    $("block-label").textContent = several ? fmt(T.block_of, { n: b.index + 1, total: b.count }) : "";
    var closing = !!(state.journal && state.journal.ops.some(function (op) { return op.event === "next_block"; }));
    $("next-block").hidden = !several || b.index >= b.count - 1;
    $("next-block").disabled = closing || state.finishing || state.finished;
  }

  function openBlockDialog() {
    if (!state.sheet || !state.block || state.finishing || state.finished) return;
    var unanswered = 0, doubtful = 0;
    for (var p = 0; p < state.sheet.n; p++) {
      if (outsideBlock(p)) continue;
      if (state.sheet.answers[p] === null || state.sheet.answers[p] === undefined) unanswered++;
      if (state.sheet.doubtful[p]) doubtful++;
    }
    $("block-summary").textContent = fmt(T.block_summary, { unanswered: unanswered, doubtful: doubtful });
    $("block-dialog").showModal();
    $("block-cancel").focus();
  }

  function confirmNextBlock() {
    $("block-dialog").close();
    if (!state.block || state.finishing || state.finished) return;
    // Queued behind every unsaved answer of this part, and naming the part it closes, so a
    // click that crosses the server's own move by time closes nothing more.
    if (state.journal.ops.length) flash(T.block_waiting);
    record("next_block", { block: state.block.index });
    renderBlock();
  }

  function adaptiveAnswered(position, info) {
    var s = adaptiveSectionOf(position);
    if (!s) return;
    s.adaptive = { given: info.given, done: info.done };
    buildGrid();
    if (state.position === position) goTo(info.done ? s.first + s.count : s.first + info.given - 1);
  }

  function sectionOf(p) {
    var found = "";
    state.sheet.sections.forEach(function (s) {
      if (p >= s.first && p < s.first + s.count) found = s.name;
    });
    return found;
  }

  function renderItem() {
    var p = state.position;
    var item = state.items[p];
    $("item-heading").textContent = fmt(T.item_of, { n: p + 1, total: state.sheet.n });
    $("item-section").textContent = (item && item.section) || sectionOf(p);
    var body = $("item-body");
    var options = $("item-options");
    options.textContent = "";
    if (!item) {
      body.setAttribute("aria-busy", "true");
      $("item-stem").textContent = T.loading_item;
    } else {
      body.setAttribute("aria-busy", "false");
      // Sanitized on the server (item_bank.render); images are data: URIs.
      $("item-stem").innerHTML = item.stem_html;
      item.options.forEach(function (option, index) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "option";
        button.dataset.index = String(index);
        var letter = option.label || optionLabel(index);
        var spoken = document.createElement("span");
        spoken.className = "visually-hidden";
        spoken.textContent = fmt(T.option_label, { label: letter }) + ": ";
        var label = document.createElement("span");
        label.className = "option-label";
        label.setAttribute("aria-hidden", "true");
        label.textContent = letter;
        var html = document.createElement("span");
        html.className = "option-html";
        html.innerHTML = option.html;
        button.appendChild(spoken);
        button.appendChild(label);
        button.appendChild(html);
        options.appendChild(button);
      });
      $("item-body").scrollTop = 0;
    }
    renderAccess(item);
    $("prev").disabled = p === 0;
    $("next").disabled = p === state.sheet.n - 1;
    renderItemState();
    for (var i = 0; i < state.sheet.n; i++) renderBox(i);
    var box = $("box-" + p);
    if (box) box.scrollIntoView({ block: "nearest" });
  }

  // Accessibility supports of the candidate's accommodation (item.access, from the items'
  // QTI catalogs): the alternative text shown, and the item read aloud. Texts only, no HTML.
  function renderAccess(item) {
    var old = $("item-access");
    if (old) old.parentNode.removeChild(old);
    var access = item && item.access;
    if (!access) return;
    var holder = document.createElement("div");
    holder.id = "item-access";
    holder.className = "access";
    var stem = $("item-stem");
    stem.parentNode.insertBefore(holder, stem.nextSibling);
    var simple = access["simplified-language"];
    if (simple) {
      simple.stem.forEach(function (pair) { holder.appendChild(altText(pair)); });
      Array.prototype.forEach.call($("item-options").children, function (button, index) {
        (simple.options[index] || []).forEach(function (pair) { button.appendChild(altText(pair)); });
      });
    }
    if (access.spoken) {
      var listen = document.createElement("button");
      listen.type = "button";
      listen.id = "item-listen";
      listen.className = "listen";
      listen.textContent = T.listen;
      listen.addEventListener("click", function () { speak(spokenText(access.spoken)); });
      holder.appendChild(listen);
    }
  }

  function altText(pair) {
    var p = document.createElement("p");
    p.className = "alt-text";
    p.textContent = (pair[0] ? pair[0] + ": " : "") + pair[1];
    return p;
  }

  function readable(element) {
    var parts = [];
    (function walk(node) {
      if (node.nodeType === 3) parts.push(node.nodeValue);
      else if (node.nodeName === "IMG") parts.push(" " + (node.getAttribute("alt") || "") + " ");
      else if (!(node.classList && node.classList.contains("alt-text"))) {
        Array.prototype.forEach.call(node.childNodes, walk);
      }
    })(element);
    return parts.join("").replace(/\s+/g, " ").trim();
  }

  function withCards(text, pairs) {
    var whole = (pairs || []).filter(function (pair) { return !pair[0]; })[0];
    if (whole) return whole[1];
    (pairs || []).forEach(function (pair) {
      var at = text.indexOf(pair[0]);
      if (at >= 0) text = text.slice(0, at) + pair[1] + text.slice(at + pair[0].length);
      else text += " " + pair[1];
    });
    return text;
  }

  function spokenText(spoken) {
    var parts = [withCards(readable($("item-stem")), spoken.stem)];
    Array.prototype.forEach.call($("item-options").children, function (button, index) {
      var letter = button.querySelector(".option-label").textContent;
      var text = withCards(readable(button.querySelector(".option-html")), spoken.options[index]);
      parts.push(fmt(T.option_label, { label: letter }) + ": " + text);
    });
    return parts.join(". ");
  }

  function speak(text) {
    var synth = window.speechSynthesis;
    if (!synth || typeof window.SpeechSynthesisUtterance !== "function") {
      flash(T.no_speech);
      return;
    }
    synth.cancel();
    var utterance = new window.SpeechSynthesisUtterance(text);
    utterance.lang = config.lang === "en" ? "en-US" : "id-ID";
    synth.speak(utterance);
  }

  function renderItemState() {
    var p = state.position;
    var answer = state.sheet.answers[p];
    Array.prototype.forEach.call($("item-options").children, function (button, index) {
      var chosen = answer === index;
      button.setAttribute("aria-pressed", chosen ? "true" : "false");
      button.classList.toggle("chosen", chosen);
      button.disabled = !canChange() || locked(p);
    });
    var doubt = $("doubtful");
    doubt.setAttribute("aria-pressed", state.sheet.doubtful[p] ? "true" : "false");
    doubt.disabled = !canChange();
    $("clear").disabled = !canChange() || answer === null || answer === undefined ||
      !!adaptiveSectionOf(p);
    $("finish").disabled = state.finishing || state.finished;
    renderBox(p);
    renderSaveStates();
  }

  function renderSaveStates() {
    if (!state.sheet || !state.journal) return;
    var unsaved = state.journal.ops.length;
    var summary = $("save-summary");
    summary.classList.toggle("saving", unsaved > 0);
    summary.textContent = unsaved ? fmt(T.unsaved_count, { n: unsaved }) : (state.savedOnce ? T.saved : "");
    var p = state.position;
    var here = $("item-save");
    var pending = pendingAt(p);
    var touched = state.sheet.answers[p] !== null && state.sheet.answers[p] !== undefined;
    here.classList.toggle("saving", pending);
    here.textContent = pending ? T.saving : (touched || state.sheet.doubtful[p] ? T.saved : "");
    document.querySelectorAll(".box.saving").forEach(function (box) {
      box.classList.toggle("saving", pendingAt(Number(box.dataset.position)));
    });
    state.journal.ops.forEach(function (op) {
      var box = $("box-" + op.payload.position);
      if (box) box.classList.add("saving");
    });
  }

  // ---------------------------------------------------------------- clock

  function setClock(remainingMs, paused) {
    if (state.finished) return; // a late push must not bring the clock back over the result
    state.clock = { remaining: Math.max(0, remainingMs | 0), at: performance.now(), paused: paused };
    $("clock-box").hidden = false;
    tick();
  }

  function remainingNow() {
    var c = state.clock;
    if (!c) return null;
    if (c.paused) return c.remaining;
    return Math.max(0, c.remaining - (performance.now() - c.at));
  }

  function formatClock(ms) {
    var total = Math.ceil(ms / 1000);
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    var mm = (m < 10 ? "0" : "") + m;
    var ss = (s < 10 ? "0" : "") + s;
    return h ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }

  function tick() {
    var ms = remainingNow();
    if (ms === null || state.finished) return;
    var clock = $("clock");
    var text = formatClock(ms);
    if (state.clock.paused) text += " (" + T.clock_paused + ")";
    if (clock.textContent !== text) clock.textContent = text;
    clock.classList.toggle("low", ms <= 5 * 60000);
    clock.classList.toggle("paused", state.clock.paused);
    // Tell screen-reader users once, not every second.
    if (ms <= 5 * 60000 && ms > 60000 && !state.warned.five) { state.warned.five = true; announce(T.time_left_5); }
    if (ms <= 60000 && ms > 0 && !state.warned.one) { state.warned.one = true; announce(T.time_left_1); }
    if (ms === 0 && state.view === "exam") showBanner("timeup", T.time_up);
    else clearBanner("timeup");
  }
  setInterval(tick, TICK_MS);

  function setPaused(paused) {
    state.paused = paused;
    var c = state.clock;
    if (c && c.paused !== paused) {
      // Stop (or restart) the countdown now; the server's clock push confirms the value.
      c.remaining = remainingNow();
      c.at = performance.now();
      c.paused = paused;
    }
    document.body.classList.toggle("is-paused", paused);
    if (paused && state.sheet) showBanner("paused", T.paused);
    else clearBanner("paused");
    if (state.sheet && state.view === "exam") renderItemState();
  }

  // ---------------------------------------------------------------- finish and result

  function openFinishDialog() {
    if (!state.sheet || state.finishing || state.finished) return;
    var unanswered = state.sheet.answers.filter(function (a) { return a === null || a === undefined; }).length;
    var doubtful = state.sheet.doubtful.filter(Boolean).length;
    $("finish-summary").textContent = unanswered || doubtful
      ? fmt(T.finish_summary, { unanswered: unanswered, doubtful: doubtful })
      : T.finish_complete;
    var unsaved = state.journal.ops.length;
    $("finish-unsaved").hidden = !unsaved;
    $("finish-unsaved").textContent = unsaved ? fmt(T.finish_unsaved, { n: unsaved }) : "";
    $("finish-dialog").showModal();
    $("finish-cancel").focus();
  }

  function confirmFinish() {
    $("finish-dialog").close();
    if (state.finishing || state.finished) return;
    state.finishing = true;
    showBanner("info", T.finishing);
    // Queued behind every unsaved answer, so the server holds them all before it scores.
    record("finish", {});
    renderItemState();
  }

  function showResult(result, reason) {
    if (!result) return;
    state.finished = true;
    state.finishing = false;
    dropJournal();
    forgetCredentials();
    state.items = {};
    state.sheet = null;
    clearBanner("info");
    clearBanner("timeup");
    clearBanner("paused");
    clearBanner("disconnected");
    if ($("finish-dialog").open) $("finish-dialog").close();
    $("clock-box").hidden = true;
    var reasons = { time: T.finished_time, proctor: T.finished_proctor, candidate: T.finished_candidate };
    $("result-reason").textContent = reasons[reason] || "";
    $("result-verdict").textContent = result.passed ? T.passed : T.failed;
    $("result-verdict").className = "verdict " + (result.passed ? "pass" : "fail");
    var c = state.candidate || {};
    var ruleSet = result.rule_set === c.formation ? (c.formation_title || result.rule_set) : result.rule_set;
    $("result-caption").textContent = ruleSet ? fmt(T.rule_set, { name: ruleSet }) : "";
    var rows = $("result-rows");
    rows.textContent = "";
    var maxTotal = 0;
    (result.sections || []).forEach(function (s) {
      var tr = document.createElement("tr");
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = s.name;
      tr.appendChild(th);
      var threshold = s.threshold === null || s.threshold === undefined ? T.no_threshold : String(s.threshold);
      [String(s.score), String(s.max), threshold].forEach(function (text) {
        var td = document.createElement("td");
        td.className = "num";
        td.textContent = text;
        tr.appendChild(td);
      });
      var status = document.createElement("td");
      if (s.threshold !== null && s.threshold !== undefined) {
        status.className = s.passed ? "pass" : "fail";
        status.textContent = (s.passed ? "\u2714 " : "\u2716 ") + (s.passed ? T.section_passed : T.section_failed);
      }
      tr.appendChild(status);
      rows.appendChild(tr);
      maxTotal += Number(s.max) || 0;
    });
    $("result-total").textContent = String(result.total);
    $("result-total-max").textContent = String(result.max_total || maxTotal);
    // The signed receipt's short code (docs/integrity.md): the candidate copies it down.
    $("result-receipt").hidden = !result.receipt;
    $("result-receipt-code").textContent = result.receipt ? result.receipt.code : "";
    showView("result");
    $("result-heading").focus();
  }

  // ---------------------------------------------------------------- banners and messages

  // Several conditions can hold at once; the banner shows the most serious one.
  var BANNER_ORDER = ["released", "disconnected", "paused", "timeup", "info"];
  var banners = {};
  var flashTimer = null;

  function showBanner(kind, text) {
    banners[kind] = text;
    renderBanner();
  }

  function clearBanner(kind) {
    if (!(kind in banners)) return;
    delete banners[kind];
    renderBanner();
  }

  function renderBanner() {
    var el = $("banner");
    var kind = BANNER_ORDER.find(function (k) { return k in banners; });
    el.hidden = !kind;
    el.className = "banner" + (kind ? " banner-" + kind : "");
    el.textContent = kind ? banners[kind] : "";
  }

  function flash(text) {
    showBanner("info", text);
    clearTimeout(flashTimer);
    flashTimer = setTimeout(function () { if (!state.finishing) clearBanner("info"); }, 6000);
  }

  function announce(text) {
    $("announcer").textContent = text;
  }

  // ---------------------------------------------------------------- font size

  function applyFont(step) {
    var i = Math.min(Math.max(step, 0), FONT_STEPS.length - 1);
    document.documentElement.style.fontSize = FONT_STEPS[i] + "%";
    $("font-down").disabled = i === 0;
    $("font-up").disabled = i === FONT_STEPS.length - 1;
    store(localStorage, STORE.font, i);
    return i;
  }
  var fontStep = load(localStorage, STORE.font, DEFAULT_FONT_STEP);
  fontStep = applyFont(typeof fontStep === "number" ? fontStep : DEFAULT_FONT_STEP);

  // ---------------------------------------------------------------- input

  $("font-down").addEventListener("click", function () { fontStep = applyFont(fontStep - 1); });
  $("font-up").addEventListener("click", function () { fontStep = applyFont(fontStep + 1); });

  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var creds = credsFromForm();
    if (!creds.registration || !creds.pin || !creds.token) {
      showLoginError(T.fields_missing);
      return;
    }
    showLoginError("");
    state.replaced = false;
    state.creds = creds;
    if (!socket.connected) {
      // The connect handler logs in with these credentials as soon as the socket is up.
      showLoginError(T.connecting);
      if (!socket.active) socket.connect();
      return;
    }
    login(creds, false);
  });

  $("rules-read").addEventListener("change", function () {
    $("start").disabled = !this.checked;
  });
  $("start").addEventListener("click", start);
  $("not-me").addEventListener("click", logout);
  $("result-done").addEventListener("click", function () {
    logout();
    state.finished = false;
  });

  $("item-options").addEventListener("click", function (ev) {
    var button = ev.target.closest(".option");
    if (button) choose(Number(button.dataset.index));
  });
  $("grid").addEventListener("click", function (ev) {
    var box = ev.target.closest(".box");
    if (box) { roving = null; goTo(Number(box.dataset.position)); }
  });
  // Inside the grid the arrow keys move between boxes (a roving tab index); Enter opens one.
  $("grid").addEventListener("keydown", function (ev) {
    var box = ev.target.closest(".box");
    if (!box || ev.ctrlKey || ev.altKey || ev.metaKey) return;
    var next = gridNeighbour(box, ev.key);
    if (next === undefined) return;  // not a moving key: letters still choose an answer
    ev.preventDefault();
    ev.stopPropagation();
    if (!next) return;
    box.tabIndex = -1;
    next.tabIndex = 0;
    roving = Number(next.dataset.position);
    next.focus();
  });
  $("prev").addEventListener("click", function () { goTo(state.position - 1); });
  $("next").addEventListener("click", function () { goTo(state.position + 1); });
  $("doubtful").addEventListener("click", toggleDoubtful);
  $("clear").addEventListener("click", function () { choose(null); });
  $("finish").addEventListener("click", openFinishDialog);
  $("finish-cancel").addEventListener("click", function () { $("finish-dialog").close(); });
  $("finish-confirm").addEventListener("click", confirmFinish);
  $("next-block").addEventListener("click", openBlockDialog);
  $("block-cancel").addEventListener("click", function () { $("block-dialog").close(); });
  $("block-confirm").addEventListener("click", confirmNextBlock);

  document.addEventListener("keydown", function (ev) {
    if (state.view !== "exam" || !state.sheet || ev.ctrlKey || ev.altKey || ev.metaKey) return;
    if ($("finish-dialog").open || $("block-dialog").open) return;
    var tag = ev.target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    var key = ev.key;
    var item = state.items[state.position];
    var count = item ? item.options.length : 0;
    var handled = true;
    // Up and down stay with the browser: they scroll a long item.
    if (key === "ArrowRight") goTo(state.position + 1);
    else if (key === "ArrowLeft") goTo(state.position - 1);
    // D is an answer on five-option items, so the doubtful mark is R or Shift+D.
    else if (key === "r" || key === "R" || (key === "D" && ev.shiftKey)) toggleDoubtful();
    else if (key === "Delete") choose(null);
    else if (/^[a-hA-H]$/.test(key) && key.toUpperCase().charCodeAt(0) - 65 < count) {
      choose(key.toUpperCase().charCodeAt(0) - 65);
    } else if (/^[1-8]$/.test(key) && Number(key) <= count) choose(Number(key) - 1);
    else handled = false;
    if (handled) ev.preventDefault();
  });

  // ---------------------------------------------------------------- boot

  showView("login");
  if (state.creds) $("registration").value = state.creds.registration || "";
  socket.connect();
})();
