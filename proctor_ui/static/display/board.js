/* cat-engine public scoreboard: draws what the /display namespace sends.
   A display only ever sends "subscribe"; on every (re)connect it subscribes again and gets a
   full snapshot, then small "board" diffs: rows whose shown content changed. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("board-config").textContent);
  var T = config.strings;
  var main = document.getElementById("main");
  var stateEl = document.getElementById("board-state");
  var modeEl = document.getElementById("board-mode");
  var template = document.getElementById("board-template");
  var boards = {};      // session id -> board
  var order = [];       // session ids in display order
  var rotateAt = 0;
  // An enrolled screen's credential (issue 11): sent with every (re)connection.
  var DEVICE_KEY = "cat.display.device";
  var pairing = document.getElementById("pairing");
  var socket = io(config.namespace, {
    reconnectionDelayMax: 5000,
    auth: function (cb) { cb({ device: localStorage.getItem(DEVICE_KEY) || "" }); }
  });

  // Not enrolled: show a pairing code for a proctor to confirm in the console; the secret
  // stays in this browser and becomes the screen's credential once confirmed.
  function pair() {
    if (!pairing.hidden) return;
    socket.emit("pair", {}, function (reply) {
      if (!reply || !reply.ok) {
        stateEl.textContent = (reply && reply.error && reply.error.message) || T.offline;
        return;
      }
      localStorage.setItem(DEVICE_KEY, reply.secret);
      document.getElementById("pairing-code").textContent = reply.code;
      pairing.hidden = false;
    });
  }
  socket.on("enrolled", function () { location.reload(); });

  function refused(reply) {
    if (reply && reply.error && reply.error.code === "not_enrolled") pair();
    else stateEl.textContent = (reply && reply.error && reply.error.message) || T.offline;
  }

  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_m, key) { return values[key]; });
  }

  function num(value) {
    if (value === null || value === undefined) return "–";
    return String(Math.round(value * 100) / 100);
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function makeBoard(snapshot) {
    var id = snapshot.session.id;
    var board = boards[id];
    if (!board) {
      var node = template.content.firstElementChild.cloneNode(true);
      node.dataset.session = snapshot.session.name;
      main.appendChild(node);
      board = boards[id] = { node: node, rows: {}, trs: {}, columns: 1,
                             tables: [node.querySelector(".board-table")] };
      order.push(id);
    }
    board.sections = snapshot.sections;
    board.settings = snapshot.settings;
    board.node.querySelector(".board-title").textContent =
      snapshot.session.name + " · " + snapshot.session.room + " · " + snapshot.session.exam;
    var header = board.node.querySelector(".board-header");
    header.querySelectorAll("th.section").forEach(function (th) { th.remove(); });
    var total = header.querySelector("th.total");
    snapshot.sections.forEach(function (name) {
      header.insertBefore(el("th", "num section", name), total);
    });
    board.rows = {};
    board.trs = {};
    board.tables.slice(1).forEach(function (table) { table.remove(); });
    board.tables = board.tables.slice(0, 1);
    board.tables[0].querySelector("tbody").textContent = "";
    board.columns = 1;
    snapshot.rows.forEach(function (row) { board.rows[row.id] = row; });
    // The number of the last diff this snapshot includes (null: the next one received),
    // and the numbering it belongs to.
    board.seq = snapshot.seq === undefined ? null : snapshot.seq;
    board.epoch = snapshot.epoch === undefined ? null : snapshot.epoch;
    if (snapshot.anchor !== undefined) anchor(board, snapshot.anchor);
    note(board);
    render(board, Object.keys(board.rows));
    layout();
  }

  /* The audit log's latest signed head: a photograph of it anchors the log off the site. */
  function anchor(board, head) {
    var node = board.node.querySelector(".board-anchor");
    if (!head) { node.textContent = ""; return; }
    node.textContent = fmt(T.anchor, {
      session: board.node.dataset.session, seq: head.seq, fp: head.fingerprint,
      time: new Date(head.signed_ms).toLocaleTimeString() });
  }

  function note(board) {
    var s = board.settings;
    var text = s.frozen ? T.frozen : (s.scoreboard === "finish" ? T.reveal_at_finish : T.live);
    board.node.querySelector(".board-note").textContent =
      fmt(T.candidates, { n: Object.keys(board.rows).length }) + " · " + text;
    var c = { working: 0, finished: 0, passed: 0 };
    Object.keys(board.rows).forEach(function (id) {
      var row = board.rows[id];
      if (row.status === "working") c.working += 1;
      if (row.status === "finished") c.finished += 1;
      if (row.status === "finished" && row.passed === true) c.passed += 1;
    });
    board.node.querySelector(".board-summary").textContent = fmt(T.summary, c);
    board.node.classList.toggle("frozen", !!s.frozen);
    if (order.length === 1) modeEl.textContent = s.frozen ? T.frozen : "";
  }

  function cellsOf(board, row) {
    var tr = board.trs[row.id];
    if (!tr) {
      tr = board.trs[row.id] = el("tr");
      tr.dataset.id = row.id;
      tr.appendChild(el("td", "num rank"));
      tr.appendChild(el("td", "who"));
      board.sections.forEach(function (name) {
        var td = el("td", "num section");
        td.dataset.section = name;
        tr.appendChild(td);
      });
      tr.appendChild(el("td", "num total"));
      tr.appendChild(el("td", "status"));
    }
    return tr;
  }

  function fill(board, row, flash) {
    var tr = cellsOf(board, row);
    var cells = tr.children;
    cells[0].textContent = row.rank === null ? "" : row.rank + (row.tied ? "=" : "");
    cells[0].title = row.tied ? T.tied : "";
    cells[1].textContent = row.label;
    board.sections.forEach(function (name, i) {
      var td = cells[2 + i];
      // A finished row shows every mark; a working one only the thresholds already reached.
      var passed = !!row.marks && row.marks[name] === true;
      var marked = passed || (row.status === "finished" && !!row.marks && name in row.marks);
      // The pass mark is a sign as well as a colour: ✓ reached the threshold, ✗ did not.
      td.textContent = (row.sections ? num(row.sections[name]) : "–") + (marked ? (passed ? " ✓" : " ✗") : "");
      td.classList.toggle("pass", passed);
      td.classList.toggle("fail", marked && !passed);
      td.title = marked ? (passed ? T.passed : T.not_passed) : "";
    });
    var status = cells[3 + board.sections.length];
    var verdict = row.status === "finished" && row.passed !== null && row.passed !== undefined;
    // A finished candidate's verdict says more than "finished" (and is shorter).
    status.textContent = verdict ? (row.passed ? T.passed : T.not_passed) : (T[row.status] || row.status);
    status.className = "status status-" + row.status + (verdict ? (row.passed ? " verdict-pass" : " verdict-fail") : "");
    var total = cells[2 + board.sections.length];
    total.textContent = num(row.total);
    total.classList.toggle("pass", row.passed === true);
    total.title = row.passed === null ? "" : (row.passed ? T.passed : T.not_passed);
    if (flash) {
      tr.classList.add("changed");
      setTimeout(function () { tr.classList.remove("changed"); }, 1200);
    }
  }

  function sortKey(row) {
    return [row.rank === null ? 1 : 0, row.rank || 0, row.label];
  }

  function compare(a, b) {
    var ka = sortKey(a), kb = sortKey(b);
    for (var i = 0; i < ka.length; i++) {
      if (ka[i] < kb[i]) return -1;
      if (ka[i] > kb[i]) return 1;
    }
    return 0;
  }

  function render(board, ids, flash) {
    ids.forEach(function (id) { fill(board, board.rows[id], flash); });
    place(board);
    note(board);
  }

  // The ranking read down the first column, then the next: rank 1 is always top left.
  function place(board) {
    var sorted = Object.keys(board.rows).map(function (id) { return board.rows[id]; }).sort(compare);
    while (board.tables.length < board.columns) {
      var table = board.tables[0].cloneNode(true);
      table.querySelector("tbody").textContent = "";
      board.tables[0].parentNode.appendChild(table);
      board.tables.push(table);
    }
    var per = Math.max(1, Math.ceil(sorted.length / board.columns));
    board.tables.forEach(function (table, c) {
      table.hidden = c >= board.columns;
      var tbody = table.querySelector("tbody");
      // Move only the rows that are out of place: cheap for hundreds of rows.
      var current = tbody.firstElementChild;
      sorted.slice(c * per, (c + 1) * per).forEach(function (row) {
        var tr = board.trs[row.id];
        if (tr === current) current = current.nextElementSibling;
        else tbody.insertBefore(tr, current);
      });
    });
  }

  // A diff or a board_seq push that does not follow the last number seen: some push was lost
  // (a message-queue restart), or the board is numbered anew (another server took the
  // session): take a fresh snapshot instead of showing a wrong board. A diff of the same
  // numbering at or below the last number seen is already in the snapshot (it was still in
  // the message queue when the snapshot came straight from the server): skip it.
  function inSequence(board, msg, isDiff) {
    var seq = msg.seq;
    if (typeof seq !== "number") return true;
    if (board.seq === null || board.seq === undefined) {
      board.seq = seq;
      board.epoch = msg.epoch;
      return true;
    }
    if (msg.epoch === board.epoch) {
      if (seq === (isDiff ? board.seq + 1 : board.seq)) return (board.seq = seq, true);
      if (seq <= board.seq) return false;
    }
    board.seq = null;
    subscribe(board.node.dataset.session);
    return false;
  }

  function applyDiff(diff) {
    var board = boards[diff.session_id];
    if (!board || !inSequence(board, diff, true)) return;
    var ids = diff.rows.map(function (row) { board.rows[row.id] = row; return row.id; });
    // Rows that only moved come as {id: [rank, tied]}.
    Object.keys(diff.ranks || {}).forEach(function (id) {
      var row = board.rows[id];
      if (!row) return;
      row.rank = diff.ranks[id][0];
      row.tied = diff.ranks[id][1];
      var cell = board.trs[id] && board.trs[id].firstElementChild;
      if (cell) {
        cell.textContent = row.rank === null ? "" : row.rank + (row.tied ? "=" : "");
        cell.title = row.tied ? T.tied : "";
      }
    });
    render(board, ids, true);
    document.body.dataset.lastUpdate = String(Date.now());
  }

  // A wall screen read from five metres: rows in large type, the ranking in as many columns
  // as the width allows before the type shrinks (down to a floor); only what still does not
  // fit scrolls, slowly, and the top of the ranking stays in the first column.
  var MIN_COLUMN_EM = 30;
  function fit(board) {
    var scroller = board.node.querySelector(".board-scroll");
    var columns = board.node.querySelector(".board-columns");
    var fontPx = parseFloat(getComputedStyle(columns).fontSize) || 16;
    var most = Math.max(1, Math.min(4, Math.floor(scroller.clientWidth / (MIN_COLUMN_EM * fontPx))));
    var ratio = function () {  // < 1: what the widest or tallest column must shrink by
      var width = (columns.clientWidth - 16 * (board.columns - 1)) / board.columns;
      return Math.min.apply(null, board.tables.filter(function (t) { return !t.hidden; })
        .map(function (t) {
          return Math.min((scroller.clientHeight - 2) / t.offsetHeight, width / t.offsetWidth);
        }));
    };
    var fits = function () { return ratio() >= 1; };
    columns.style.setProperty("--scale", "1");
    for (var k = 1; k <= most; k++) {
      board.columns = k;
      columns.style.setProperty("--columns", String(k));
      place(board);
      if (fits()) return;
    }
    var size = 1;
    for (var i = 0; i < 3 && !fits(); i++) {
      size = Math.max(0.75, size * ratio());
      columns.style.setProperty("--scale", String(size));
    }
  }

  function fitAll() {
    order.forEach(function (id) { if (!boards[id].node.hidden) fit(boards[id]); });
  }

  var pauseUntil = 0;
  setInterval(function () {
    if (Date.now() < pauseUntil) return;
    order.forEach(function (id) {
      if (boards[id].node.hidden) return;
      var node = boards[id].node.querySelector(".board-scroll");
      if (node.scrollHeight <= node.clientHeight + 2) return;
      if (node.scrollTop + node.clientHeight >= node.scrollHeight - 1) {
        pauseUntil = Date.now() + 4000;
        setTimeout(function () { node.scrollTop = 0; }, 3000);
      } else {
        node.scrollTop += 1;
      }
    });
  }, 60);
  window.addEventListener("resize", fitAll);

  function layout() {
    var mode = config.layout;
    if (mode === "auto") mode = order.length > 2 ? "rotate" : "side";
    if (mode === "single") mode = "side";
    document.body.classList.toggle("rotating", mode === "rotate");
    document.body.classList.toggle("side", mode === "side");
    document.body.style.setProperty("--boards", String(Math.max(1, Math.min(order.length, 3))));
    if (mode === "rotate") {
      order.forEach(function (id, i) { boards[id].node.hidden = i !== rotateAt % order.length; });
    } else {
      order.forEach(function (id) { boards[id].node.hidden = false; });
    }
    document.getElementById("no-rooms").hidden = order.length > 0 || !!config.session;
    fitAll();
  }

  function subscribe(name) {
    socket.emit("subscribe", { session: name }, function (reply) {
      if (reply && reply.ok) makeBoard(reply);
      else refused(reply);
    });
  }

  function rooms(list) {
    var wanted = {};
    list.forEach(function (room) { wanted[room.id] = true; });
    order.slice().forEach(function (id) {
      if (!wanted[id]) {
        boards[id].node.remove();
        delete boards[id];
        order.splice(order.indexOf(id), 1);
      }
    });
    list.forEach(function (room) { subscribe(room.name); });
    layout();
  }

  socket.on("connect", function () {
    stateEl.textContent = "";
    document.body.classList.remove("offline");
    if (config.session) {
      subscribe(config.session);
    } else {
      socket.emit("subscribe", { site: true }, function (reply) {
        if (reply && reply.ok) rooms(reply.rooms);
        else refused(reply);
      });
    }
  });
  socket.on("disconnect", function () {
    stateEl.textContent = T.offline;
    document.body.classList.add("offline");
  });
  socket.on("board", applyDiff);
  socket.on("board_seq", function (msg) {
    var board = msg && boards[msg.session_id];
    if (board) inSequence(board, msg, false);
  });
  socket.on("snapshot", makeBoard);
  socket.on("anchor", function (head) {
    if (boards[head.session_id]) anchor(boards[head.session_id], head);
  });
  socket.on("rooms", function (data) { rooms(data.rooms); });

  setInterval(function () {
    rotateAt += 1;
    if (document.body.classList.contains("rotating")) layout();
  }, config.rotate_s * 1000);
  setInterval(function () {
    document.getElementById("board-clock").textContent = new Date().toLocaleTimeString();
  }, 1000);
})();
