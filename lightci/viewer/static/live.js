// Live updates for a run in progress, and relative times that stay current.
//
// The server sends "log" events with HTML it has already escaped and
// coloured, "status" events with the statuses of the run, its jobs and
// steps, and "end" once the run is finished. Nothing here builds markup from
// text without escaping it: statuses and durations are set as textContent.
(function () {
  "use strict";

  var ICONS = {
    passed: "✓", failed: "✗", error: "!", "timed-out": "⊗",
    running: "●", queued: "○", cancelled: "⊘", skipped: "⤼"
  };

  function pill(status) {
    var outer = document.createElement("span");
    outer.className = "status st-" + (ICONS[status] ? status : "none");
    outer.dataset.status = status;
    var icon = document.createElement("span");
    icon.className = "status-icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = ICONS[status] || "·";
    var text = document.createElement("span");
    text.className = "status-text";
    text.textContent = status;
    outer.appendChild(icon);
    outer.appendChild(text);
    return outer;
  }

  function setStatus(holder, status) {
    if (!holder) return;
    var current = holder.querySelector(".status");
    if (current && current.dataset.status === status) return;
    var large = current && current.classList.contains("status-large");
    var fresh = pill(status);
    if (large) fresh.classList.add("status-large");
    holder.replaceChildren(fresh);
  }

  function setText(element, text) {
    if (element && element.textContent !== text) element.textContent = text;
  }

  function relativeTime(iso) {
    var seconds = (Date.now() - Date.parse(iso)) / 1000;
    if (isNaN(seconds)) return null;
    if (seconds < 0) return "in the future";
    if (seconds < 45) return "just now";
    var units = [["year", 31536000], ["month", 2592000], ["week", 604800],
                 ["day", 86400], ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i++) {
      var count = Math.floor(seconds / units[i][1]);
      if (count >= 1) return count + " " + units[i][0] + (count === 1 ? "" : "s") + " ago";
    }
    return "1 minute ago";
  }

  function refreshTimes() {
    document.querySelectorAll("time[datetime]").forEach(function (element) {
      var text = relativeTime(element.getAttribute("datetime"));
      if (text) setText(element, text);
    });
  }
  setInterval(refreshTimes, 30000);

  var eventsUrl = document.body.dataset.events;
  if (!eventsUrl || !window.EventSource) return;

  var source = null;
  var structureChanged = false;

  function logElements() {
    return Array.prototype.slice.call(document.querySelectorAll("pre.log[data-offset]"));
  }

  function streamUrl() {
    var parts = logElements().map(function (element) {
      return element.dataset.job + ":" + element.dataset.offset;
    });
    return eventsUrl + "?logs=" + encodeURIComponent(parts.join(","));
  }

  function nearBottom(element) {
    var page = document.scrollingElement || document.documentElement;
    var pageBottom = page.scrollHeight - page.scrollTop - window.innerHeight < 80;
    var boxBottom = element.scrollHeight - element.scrollTop - element.clientHeight < 40;
    return { page: pageBottom, box: boxBottom };
  }

  function onLog(event) {
    var data = JSON.parse(event.data);
    logElements().forEach(function (element) {
      if (element.dataset.job !== data.job) return;
      var stick = nearBottom(element);
      // The server escaped the log text; only its own <span> tags are markup.
      element.insertAdjacentHTML("beforeend", data.html);
      element.dataset.offset = String(data.offset);
      if (stick.box) element.scrollTop = element.scrollHeight;
      if (stick.page && element.classList.contains("log-full")) {
        window.scrollTo(0, document.documentElement.scrollHeight);
      }
    });
  }

  function updateJob(job) {
    var holders = document.querySelectorAll('[data-job="' + CSS.escape(job.slug) + '"], [data-live-job="' + CSS.escape(job.slug) + '"]');
    var article = document.querySelector('article[data-job="' + CSS.escape(job.slug) + '"]');
    if (!article) {
      if (document.querySelector("section.jobs")) structureChanged = true;
      return;
    }
    holders.forEach(function (holder) {
      setStatus(holder.querySelector('[data-live="job-status"]'), job.status);
    });
    setText(article.querySelector('[data-live="job-duration"]'), job.duration);
    var reason = article.querySelector('[data-live="job-reason"]');
    if (reason) {
      setText(reason, job.reason || "");
      reason.hidden = !job.reason;
    }
    var rows = article.querySelectorAll("li.step");
    if (rows.length !== job.steps.length) structureChanged = true;
    job.steps.forEach(function (step, index) {
      var row = rows[index];
      if (!row) return;
      setStatus(row.querySelector('[data-live="step-status"]'), step.status);
      setText(row.querySelector('[data-live="step-exit"]'),
        step.exit_code === null ? "" : "exit " + step.exit_code);
      setText(row.querySelector('[data-live="step-duration"]'), step.duration);
    });
  }

  function updateArtifacts(list) {
    var holder = document.querySelector('[data-live="artifacts"]');
    if (!holder) return;
    var items = list.map(function (artifact) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = artifact.url;
      link.setAttribute("download", "");
      link.textContent = artifact.name + (artifact.kind === "tree" ? "/" : "");
      var about = document.createElement("span");
      about.className = "muted";
      about.textContent = (artifact.kind === "tree" ? "folder · " : "") + "from " + artifact.job;
      item.appendChild(link);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(about);
      return item;
    });
    if (!items.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = "None.";
      items.push(none);
    }
    holder.replaceChildren.apply(holder, items);
  }

  function onStatus(event) {
    var data = JSON.parse(event.data);
    document.querySelectorAll('[data-live="run-status"]').forEach(function (holder) {
      setStatus(holder, data.run.status);
    });
    setText(document.querySelector('[data-live="run-duration"]'), data.run.duration || "–");
    if (data.run.message) {
      var box = document.querySelector('[data-live="run-message"]');
      if (box && !box.textContent.trim()) structureChanged = true;
    }
    data.jobs.forEach(updateJob);
    if (data.artifacts) updateArtifacts(data.artifacts);
    if (structureChanged && !data.run.finished) reloadSoon();
  }

  // Jobs or steps that the page does not show yet (a queued run whose jobs
  // were just planned) need the server's markup: load the page again, but
  // at most once every few seconds.
  function reloadSoon() {
    var last = Number(sessionStorage.getItem("lightci-reload") || 0);
    if (Date.now() - last < 5000) return;
    sessionStorage.setItem("lightci-reload", String(Date.now()));
    window.location.reload();
  }

  function connect() {
    source = new EventSource(streamUrl());
    source.addEventListener("log", onLog);
    source.addEventListener("status", onStatus);
    source.addEventListener("end", function () {
      source.close();
      document.body.dataset.finished = "true";
      if (structureChanged) window.location.reload();
    });
    source.addEventListener("reconnect", function () {
      source.close();
      if (structureChanged) window.location.reload();
      else connect();
    });
    source.onerror = function () {
      // Reopen with the offsets reached so far, so no line is shown twice.
      source.close();
      setTimeout(connect, 3000);
    };
  }

  connect();
})();
