/* cat-engine proctor console: the live seat grid and every proctor action.
   All actions go through the /proctor namespace; each asks for a reason first. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("console-config").textContent);
  var T = config.strings;
  var sessionId = config.session.id;
  var seats = {};          // candidate id -> seat
  var cards = {};          // candidate id -> <li>
  var selected = null;
  var session = config.session;
  var nItems = 0;
  var pending = null;      // the action waiting in the dialog
  // Routed by its session to the server that runs it (docs/deploy.md, "Routing").
  var socket = io(config.namespace, { reconnectionDelayMax: 5000,
                                      query: { session: String(sessionId) } });

  var $ = function (id) { return document.getElementById(id); };
  var grid = $("seats");
  var dialog = $("action-dialog");

  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_m, key) { return values[key]; });
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function clock(ms) {
    if (ms === null || ms === undefined) return "";
    var s = Math.max(0, Math.round(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ":" : "") + String(m).padStart(h ? 2 : 1, "0") + ":" + String(r).padStart(2, "0");
  }

  function notice(text, bad) {
    var n = $("notice");
    n.textContent = text;
    n.className = "notice" + (bad ? " bad" : "");
    n.hidden = false;
    clearTimeout(notice.timer);
    notice.timer = setTimeout(function () { n.hidden = true; }, 6000);
  }

  // ------------------------------------------------------------------ seats

  function card(seat) {
    var li = cards[seat.id];
    if (!li) {
      li = cards[seat.id] = el("li", "seat");
      li.tabIndex = 0;
      li.dataset.id = seat.id;
      li.setAttribute("role", "button");
      var photo = el("div", "photo");
      if (seat.has_photo) {
        var img = el("img");
        img.alt = "";
        img.loading = "lazy";
        img.src = config.photo + seat.id;
        photo.appendChild(img);
      } else {
        photo.textContent = seat.name.split(/\s+/).map(function (w) { return w[0]; }).join("").slice(0, 2);
      }
      li.appendChild(photo);
      var body = el("div", "seat-body");
      var head = el("div", "seat-head");
      head.appendChild(el("span", "seat-name", seat.name));
      var time = el("span", "seat-time");
      time.title = T.time_left;
      head.appendChild(time);
      body.appendChild(head);
      var where = seat.seat != null ? fmt(T.seat, { n: seat.seat }) + " · " : "";
      body.appendChild(el("div", "seat-reg", where + seat.registration + " · " + (seat.formation_title || seat.formation)));
      body.appendChild(el("div", "seat-status"));
      body.appendChild(el("div", "seat-progress"));
      li.appendChild(body);
      li.appendChild(el("div", "seat-alert"));
      li.addEventListener("click", function () { select(seat.id); });
      li.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(seat.id); }
      });
      grid.appendChild(li);
    }
    return li;
  }

  function draw(seat) {
    var li = card(seat);
    // A disqualified candidate's terminal may still be open: that seat is not "online".
    var online = seat.connected && seat.status !== "disqualified";
    li.className = "seat status-" + seat.status + (online ? " online" : " offline") +
      (seat.paused ? " paused" : "") + (selected === seat.id ? " selected" : "") +
      (seat.alert ? " alerted" : "");
    var status = li.querySelector(".seat-status");
    status.textContent = "";
    status.appendChild(el("span", "chip chip-" + seat.status, T["status_" + seat.status]));
    if (seat.status !== "disqualified") {
      status.appendChild(el("span", "conn " + (online ? "on" : "off"), online ? T.online : T.offline));
    }
    if (seat.paused) status.appendChild(el("span", "chip chip-paused", T.paused));
    var progress = li.querySelector(".seat-progress");
    var parts = [];
    if (seat.answered !== null && seat.answered !== undefined) {
      parts.push(fmt(T.answered, { n: seat.answered, total: nItems }));
      if (seat.doubtful) parts.push(fmt(T.doubtful, { n: seat.doubtful }));
      if (seat.status === "in_progress") parts.push(fmt(T.item, { n: seat.position + 1 }));
    }
    progress.textContent = parts.join(" · ");
    li.querySelector(".seat-time").textContent =
      seat.status === "in_progress" ? clock(seat.remaining_ms) : "";
    var bar = li.querySelector(".seat-alert");
    bar.textContent = seat.alert || "";
    li.hidden = !matches(seat);
    if (selected === seat.id) showSelected();
  }

  function matches(seat) {
    var q = $("seat-filter").value.trim().toLowerCase();
    return !q || seat.name.toLowerCase().indexOf(q) >= 0 || seat.registration.toLowerCase().indexOf(q) >= 0;
  }

  function counts() {
    var c = { registered: 0, admitted: 0, in_progress: 0, finished: 0, online: 0 };
    Object.keys(seats).forEach(function (id) {
      var s = seats[id];
      if (s.status in c) c[s.status] += 1;
      if (s.connected && s.status !== "disqualified") c.online += 1;
    });
    document.querySelectorAll("[data-count]").forEach(function (dd) {
      dd.textContent = c[dd.dataset.count];
    });
  }

  function select(id) {
    var before = selected;
    selected = id;
    if (before && seats[before]) draw(seats[before]);
    draw(seats[id]);
    showSelected();
  }

  function showSelected() {
    var seat = seats[selected];
    $("selected-bar").hidden = !seat;
    if (!seat) return;
    $("selected-name").textContent = seat.name + " · " + seat.registration;
    var can = {
      admit: seat.status === "registered",
      release: seat.status !== "disqualified",
      unlock_login: !!seat.locked,
      pause: seat.status === "in_progress" && !seat.paused,
      resume: seat.status === "in_progress" && seat.paused,
      extend: seat.status === "in_progress",
      finish: seat.status === "in_progress",
      disqualify: seat.status !== "disqualified"
    };
    document.querySelectorAll("#selected-bar [data-action]").forEach(function (b) {
      b.disabled = !can[b.dataset.action];
    });
  }

  // ------------------------------------------------------------------ alerts and log

  function alertText(a) {
    var seat = seats[a.candidate_id];
    var who = seat ? seat.name + " (" + seat.registration + ")" : "#" + a.candidate_id;
    return fmt(T["alert_" + a.kind] || a.kind, { who: who });
  }

  function addAlert(a, quiet) {
    var list = $("alerts");
    var empty = list.querySelector(".empty");
    if (empty) empty.remove();
    var li = el("li", "alert alert-" + a.kind);
    li.dataset.candidate = a.candidate_id;
    li.appendChild(el("time", null, new Date(a.at_ms || Date.now()).toLocaleTimeString()));
    li.appendChild(el("span", null, " " + alertText(a)));
    list.insertBefore(li, list.firstChild);
    var seat = seats[a.candidate_id];
    if (seat && !quiet) {
      seat.alert = alertText(a);
      seat.alertKind = a.kind;
      draw(seat);
    }
  }

  var lastLog = 0;         // the newest record entry shown (audit id)
  var fetchingLog = false, logAgain = false;

  function addLog(entry) {
    if (entry.id <= lastLog) return;
    lastLog = entry.id;
    var li = el("li", "log-" + entry.action);
    li.dataset.action = entry.action;
    li.appendChild(el("time", null, new Date(entry.at_ms).toLocaleTimeString()));
    var who = entry.registration ? entry.registration + " " + entry.name + " · " : "";
    li.appendChild(el("span", null, " " + who + entry.event + " · " + entry.by));
    $("log").insertBefore(li, $("log").firstChild);
  }

  // The record grew (an action here or on another console): fetch what is new, one at a time.
  function fetchLog() {
    if (fetchingLog) { logAgain = true; return; }
    fetchingLog = true;
    socket.emit("log", { session_id: sessionId, after: lastLog }, function (reply) {
      fetchingLog = false;
      if (reply && reply.ok) reply.log.forEach(addLog);
      if (logAgain) { logAgain = false; fetchLog(); }
    });
  }

  function clearAlerts(candidateId, kind) {
    document.querySelectorAll("#alerts li[data-candidate='" + candidateId + "'].alert-" + kind)
      .forEach(function (li) { li.remove(); });
    if (!$("alerts").children.length) $("alerts").appendChild(el("li", "empty muted", T.no_alerts));
    var seat = seats[candidateId];
    if (seat && seat.alertKind === kind) { seat.alert = ""; seat.alertKind = ""; draw(seat); }
  }

  // ------------------------------------------------------------------ session and settings

  function showSession(info) {
    session = info;
    nItems = info.n_items;
    $("token").textContent = info.token;
    $("session-state").textContent = T["state_" + info.state] || info.state;
    $("session-state").className = "state state-" + info.state;
    $("unlock-box").hidden = !info.locked && info.state !== "scheduled";
    settings(info.settings);
  }

  function settings(s) {
    var form = $("settings-form");
    form.auto_admit.checked = !!s.auto_admit;
    form.public_names.checked = !!s.public_names;
    form.scoreboard.value = s.scoreboard;
    var binding = $("binding-form");
    binding.enrolled_terminals.checked = !!s.enrolled_terminals;
    binding.networks.value = (s.networks || []).join(", ");
    document.body.classList.toggle("board-frozen", !!s.frozen);
  }

  // Every push for the console is numbered by the server that runs the session, in that
  // server's epoch. One that does not follow the last (a push lost while the message queue
  // restarted) or comes from another epoch (another server took the session) reloads the
  // grid; one of the same epoch at or below the last number is already in the grid (it was
  // still in the message queue when the watch reply came straight from the server): skipped.
  var lastSeq = null;
  var lastEpoch = null;
  function inSequence(msg) {
    if (!msg || typeof msg.seq !== "number") return true;
    if (lastSeq === null) { lastSeq = msg.seq; lastEpoch = msg.epoch; return true; }
    if (msg.epoch === lastEpoch) {
      if (msg.seq === lastSeq + 1) { lastSeq = msg.seq; return true; }
      if (msg.seq <= lastSeq) return false;
    }
    lastSeq = null;
    watch();
    return false;
  }

  function watch() {
    socket.emit("watch", { session_id: sessionId }, function (reply) {
      if (!reply || !reply.ok) {
        notice(fmt(T.failed, { message: reply ? reply.error.message : "?" }), true);
        return;
      }
      lastSeq = typeof reply.seq === "number" ? reply.seq : null;
      lastEpoch = reply.epoch === undefined ? null : reply.epoch;
      showSession(reply.session);
      grid.textContent = "";
      cards = {};
      seats = {};
      reply.seats.forEach(function (seat) {
        seats[seat.id] = seat;
        // A wrong-PIN lockout is server state: show it on the seat until a release.
        if (seat.locked) { seat.alertKind = "locked"; seat.alert = alertText({ candidate_id: seat.id, kind: "locked" }); }
        draw(seat);
      });
      $("alerts").textContent = "";
      $("alerts").appendChild(el("li", "empty muted", T.no_alerts));
      reply.alerts.forEach(function (a) { addAlert(a, true); });
      $("log").textContent = "";
      lastLog = 0;
      reply.log.forEach(addLog);
      counts();
      devices(reply.devices || []);
    });
  }

  socket.on("connect", function () {
    $("live-state").textContent = T.connected;
    $("live-state").className = "live-state on";
    watch();
  });
  socket.on("disconnect", function () {
    $("live-state").textContent = T.disconnected;
    $("live-state").className = "live-state off";
  });
  socket.on("connect_error", function () {
    $("live-state").textContent = T.disconnected;
    $("live-state").className = "live-state off";
  });
  socket.on("progress", function (p) {
    if (!inSequence(p)) return;
    var seat = seats[p.candidate_id];
    if (!seat) { watch(); return; }   // a candidate added since: reload the grid
    var before = seat.status;
    seat.status = p.status;
    seat.connected = p.connected;
    seat.position = p.position;
    seat.answered = p.answered;
    seat.doubtful = p.doubtful;
    seat.remaining_ms = p.remaining_ms;
    seat.remaining_at = Date.now();
    seat.paused = p.paused;
    if (p.connected) clearAlerts(p.candidate_id, "disconnected");
    var ended = p.status !== before && (p.status === "finished" || p.status === "disqualified");
    draw(seat);
    counts();
    if (ended) fetchLog();  // a finish by the candidate or the clock is in the record too
  });
  socket.on("alert", function (a) { if (inSequence(a)) addAlert(a); });
  socket.on("alert_cleared", function (a) {
    if (inSequence(a)) clearAlerts(a.candidate_id, a.kind);
  });
  socket.on("log_changed", function (m) { if (inSequence(m)) fetchLog(); });
  socket.on("console_seq", function (m) {
    if (!m || lastSeq === null || (m.epoch === lastEpoch && m.seq <= lastSeq)) return;
    lastSeq = null;
    watch();
  });
  // The server of the session had not been sending its pushes to this server (no console
  // here watched it when they went out): a fresh grid, whatever the numbers say.
  socket.on("console_resync", function () {
    lastSeq = null;
    watch();
  });
  socket.on("token", function (t) { $("token").textContent = t.token; });
  socket.on("settings", settings);
  socket.on("devices", function (d) { devices(d.devices); });

  // ------------------------------------------------------------------ enrolled devices

  function devices(list) {
    var ul = $("devices");
    ul.textContent = "";
    list.forEach(function (d) {
      var li = el("li", "device device-" + d.state);
      li.appendChild(el("span", null, (T["device_" + d.kind] || d.kind) + " · " + d.name + " · " +
        (d.room || T.device_site) + (d.state === "revoked" ? " · " + T.device_revoked : "")));
      if (d.state === "enrolled") {
        var b = el("button", null, T.action_revoke_device);
        b.type = "button";
        b.addEventListener("click", function () {
          ask("revoke_device", { session_id: sessionId, device_id: d.id }, d.name);
        });
        li.appendChild(b);
      }
      ul.appendChild(li);
    });
  }

  $("enrol-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var payload = { session_id: sessionId, code: $("enrol-code").value.trim(),
                    scope: $("enrol-scope").value, name: $("enrol-name").value.trim() };
    socket.emit("enrol_device", payload, function (reply) {
      if (reply && reply.ok) {
        $("enrol-code").value = "";
        $("enrol-name").value = "";
        notice(fmt(T.done, { action: T.action_enrol_device }));
      } else {
        notice(fmt(T.failed, { message: reply ? reply.error.message : "?" }), true);
      }
    });
  });
  $("binding-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = ev.target;
    var ranges = form.networks.value.split(/[\s,]+/).filter(function (r) { return r; });
    ask("settings", { session_id: sessionId, enrolled_terminals: form.enrolled_terminals.checked,
                      networks: ranges });
  });

  // Remaining time ticks locally between pushes (the server's value is the truth).
  setInterval(function () {
    Object.keys(seats).forEach(function (id) {
      var s = seats[id];
      if (s.status === "in_progress" && !s.paused && s.remaining_ms) {
        s.remaining_ms = Math.max(0, s.remaining_ms - 1000);
        var li = cards[id];
        if (li) li.querySelector(".seat-time").textContent = clock(s.remaining_ms);
      }
    });
  }, 1000);

  // ------------------------------------------------------------------ actions

  function ask(action, payload, who) {
    pending = { action: action, payload: payload };
    $("action-title").textContent = T["action_" + action];
    $("action-who").textContent = who || (session.name + " · " + session.room);
    $("action-reason-label").textContent = fmt(T.ask_reason, { action: T["action_" + action] });
    $("action-reason").value = "";
    $("action-reason").required = action !== "unlock";
    $("action-reason").parentNode.querySelector("label[for=action-reason]").hidden = action === "unlock";
    $("action-reason").hidden = action === "unlock";
    $("minutes-box").hidden = action !== "extend";
    $("passphrase-box").hidden = action !== "unlock";
    $("action-passphrase").value = "";
    $("action-error").hidden = true;
    dialog.showModal();
    (action === "unlock" ? $("action-passphrase") : $("action-reason")).focus();
  }

  function send(action, payload) {
    socket.emit(action, payload, function (reply) {
      if (reply && reply.ok) {
        dialog.close();
        notice(fmt(T.done, { action: T["action_" + action] }));
        if (reply.token) $("token").textContent = reply.token;
        if (action === "unlock" || action === "close_session") watch();
        var seat = payload.candidate_id && seats[payload.candidate_id];
        if ((action === "release" || action === "unlock_login") && seat && seat.locked) {
          seat.alert = ""; seat.alertKind = ""; seat.locked = false; draw(seat);
        }
      } else {
        var msg = reply && reply.error ? reply.error.message : "?";
        $("action-error").textContent = fmt(T.failed, { message: msg });
        $("action-error").hidden = false;
        if (!dialog.open) notice(fmt(T.failed, { message: msg }), true);
      }
    });
  }

  $("action-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!pending) return;
    var payload = Object.assign({}, pending.payload);
    var reason = $("action-reason").value.trim();
    if (pending.action === "unlock") {
      payload.passphrase = $("action-passphrase").value;
      if (!payload.passphrase) return;
    } else {
      if (!reason) { $("action-reason").focus(); return; }
      payload.reason = reason;
    }
    if (pending.action === "extend") payload.minutes = parseInt($("action-minutes").value, 10) || 0;
    send(pending.action, payload);
  });
  $("action-cancel").addEventListener("click", function () { dialog.close(); pending = null; });

  document.querySelectorAll("#selected-bar [data-action]").forEach(function (b) {
    b.addEventListener("click", function () {
      var seat = seats[selected];
      if (seat) ask(b.dataset.action, { candidate_id: seat.id }, seat.name + " · " + seat.registration);
    });
  });
  document.querySelectorAll("[data-room-action]").forEach(function (b) {
    b.addEventListener("click", function () { ask(b.dataset.roomAction, { session_id: sessionId }); });
  });
  $("settings-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = ev.target;
    ask("settings", { session_id: sessionId, auto_admit: form.auto_admit.checked,
                      public_names: form.public_names.checked, scoreboard: form.scoreboard.value });
  });
  $("incident-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = $("incident-text").value.trim();
    if (!text) return;
    var payload = { session_id: sessionId, text: text };
    socket.emit("incident", payload, function (reply) {
      if (reply && reply.ok) { $("incident-text").value = ""; notice(fmt(T.done, { action: T.action_incident })); }
      else notice(fmt(T.failed, { message: reply ? reply.error.message : "?" }), true);
    });
  });
  $("seat-filter").addEventListener("input", function () {
    Object.keys(seats).forEach(function (id) { cards[id].hidden = !matches(seats[id]); });
  });
})();
