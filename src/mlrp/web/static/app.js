// mlrp web UI: login and logout through the API, and live updates over server-sent
// events. Everything else is plain links and forms that work without this script.
"use strict";

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

async function errorMessage(reply) {
  try {
    const body = await reply.json();
    return body.error ? body.error.message : reply.statusText;
  } catch (e) {
    return reply.status + " " + reply.statusText;
  }
}

function setUpLogin() {
  const form = document.getElementById("login");
  if (!form) return;
  const shown = document.getElementById("login-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new URLSearchParams();
    data.set("user", form.elements.user.value);
    data.set(form.elements.kind.value, form.elements.secret.value);
    const reply = await fetch("/api/v1/login", { method: "POST", body: data, credentials: "same-origin" });
    if (reply.ok) {
      window.location.assign(form.dataset.next || "/");
      return;
    }
    shown.textContent = await errorMessage(reply);
    shown.hidden = false;
    form.elements.secret.focus();
  });
}

function setUpLogout() {
  for (const form of document.querySelectorAll("form[data-logout]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      await fetch("/api/v1/logout", {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": cookie("mlrp_csrf") },
      });
      window.location.assign("/login");
    });
  }
}

// The live part of a page (#live) is fetched again when the queue changes: at most one
// fetch at a time and one a second (a long queue costs the daemon a moment to render),
// none while the tab is hidden (one when it is shown again).
const REFRESH_GAP_MS = 1000;

function setUpLiveRegion() {
  const url = document.body.dataset.live;
  const region = document.getElementById("live");
  const status = document.getElementById("live-status");
  if (!url || !region || !window.EventSource) return;
  const jobId = document.body.dataset.jobId;
  let busy = false, wanted = false, last = 0;

  async function refresh() {
    wanted = true;
    if (busy || document.hidden) return;
    const wait = last + REFRESH_GAP_MS - Date.now();
    if (wait > 0) { busy = true; setTimeout(() => { busy = false; refresh(); }, wait); return; }
    busy = true; wanted = false; last = Date.now();
    try {
      const reply = await fetch(url, { credentials: "same-origin" });
      if (reply.ok) replaceKeepingFocus(region, await reply.text());
    } finally {
      busy = false;
      if (wanted) refresh();
    }
  }

  document.addEventListener("visibilitychange", () => { if (!document.hidden && wanted) refresh(); });
  const source = new EventSource("/api/v1/events");
  source.addEventListener("hello", () => { status.textContent = "Live updates: on"; refresh(); });
  source.addEventListener("jobs", (event) => {
    const change = JSON.parse(event.data);
    const mine = !jobId || change.resync || change.jobs.some((job) => String(job.id) === jobId);
    if (mine) refresh();
  });
  source.addEventListener("error", () => { status.textContent = "Live updates: reconnecting…"; });
}

function replaceKeepingFocus(region, html) {
  const focused = document.activeElement;
  const id = focused && region.contains(focused) ? focused.id : null;
  region.innerHTML = html;
  if (id) {
    const again = document.getElementById(id);
    if (again) again.focus();
  }
}

// The job's log, appended as it grows; the newest 256 KiB are kept on the page.
const LOG_KEPT = 256 * 1024;

function setUpLog() {
  const pre = document.getElementById("log");
  const status = document.getElementById("log-status");
  if (!pre || !window.EventSource) return;
  const source = new EventSource(pre.dataset.stream);
  source.addEventListener("hello", () => { status.textContent = "Following the log live."; });
  source.addEventListener("log", (event) => {
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    let text = pre.textContent + JSON.parse(event.data).text;
    if (text.length > LOG_KEPT) text = text.slice(text.length - LOG_KEPT);
    pre.textContent = text;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("end", (event) => {
    source.close();
    status.textContent = "The job ended (" + JSON.parse(event.data).state + "): this is the whole log.";
  });
  source.addEventListener("error", (event) => {
    if (event.data) {  // the server's own error event: it will not get better
      source.close();
      status.textContent = "The log cannot be shown: " + JSON.parse(event.data).message;
    } else {
      status.textContent = "Log: reconnecting…";
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpLogin();
  setUpLogout();
  setUpLiveRegion();
  setUpLog();
});
