/* The national announcement's search: a registration number's data shard is its 32-bit
   FNV-1a hash (UTF-8 bytes) mod the shard count, as cat_engine/services/announce.py wrote
   them; shards are <script> files, so the page also works opened from a disk. */
var announce = (function () {
  "use strict";
  var config = JSON.parse(document.getElementById("announce-config").textContent);
  var T = config.strings;
  var shards = {};
  var waiting = {};

  function shardOf(text) {
    var bytes = new TextEncoder().encode(text);
    var h = 2166136261;
    for (var i = 0; i < bytes.length; i++) {
      h ^= bytes[i];
      h = Math.imul(h, 16777619) >>> 0;
    }
    return h % config.shards;
  }

  function hex(n) { return (n < 16 ? "0" : "") + n.toString(16); }

  function withShard(n, done) {
    if (shards[n]) { done(shards[n]); return; }
    (waiting[n] = waiting[n] || []).push(done);
    if (waiting[n].length > 1) return;
    var s = document.createElement("script");
    s.src = "data/" + hex(n) + ".js";
    document.body.appendChild(s);
  }

  function load(n, data) {
    shards[n] = data;
    (waiting[n] || []).forEach(function (done) { done(data); });
    waiting[n] = [];
  }

  function show(data, reg) {
    var out = document.getElementById("result");
    out.textContent = "";
    var i = data.registration.indexOf(reg);
    if (i < 0) { out.textContent = T.not_found; return; }
    var node = document.getElementById("found").content.firstElementChild.cloneNode(true);
    function put(field, text) { node.querySelector('[data-f="' + field + '"]').textContent = text; }
    put("name", data.name[i]);
    put("registration", data.registration[i]);
    var verdict = data.rank[i] === null ? T.not_ranked
      : (data.next_stage[i] ? T.next_stage : T.not_next);
    if (data.tie_at_cut[i]) verdict += " · " + T.tie_at_cut;
    put("verdict", verdict);
    node.classList.add(data.next_stage[i] ? "go" : "stop");
    put("formation", data.formation[i]);
    put("rank", data.rank[i] === null ? "–" : String(data.rank[i]) + (data.tied[i] ? " (=)" : ""));
    put("scores", config.sections.map(function (s) { return s + " " + data[s][i]; }).join(" · "));
    put("total", String(data.total[i]));
    put("receipt", data.receipt[i] || "–");
    put("where", data.site[i] + " · " + data.session[i]);
    out.appendChild(node);
  }

  document.getElementById("search").addEventListener("submit", function (event) {
    event.preventDefault();
    var reg = document.getElementById("registration").value.trim();
    if (!reg) return;
    document.getElementById("result").textContent = T.loading;
    withShard(shardOf(reg), function (data) { show(data, reg); });
  });

  return { load: load };
})();
