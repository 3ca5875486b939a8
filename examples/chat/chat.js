// chat.js - the page of the wsgated chat demo.
//
// The user's name travels in the "user" cookie: a browser cannot set
// headers on a WebSocket, but it sends the cookies of the host, and
// wsgated puts this one in the context as userId (examples/chat/wsgate.conf).
// The backend names every message's sender from that context, so the
// page never says who it is in what it sends.
//
// The gateway's URL is ws://<this host>:8080/ws, or the "ws" query
// parameter: index.html?ws=ws://127.0.0.1:9000/ws.

"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  const wsUrl = params.get("ws") || "ws://" + location.hostname + ":8080/ws";
  const $ = (id) => document.getElementById(id);
  let ws = null;
  let me = null;                        // our userId, as the backend saw it

  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === name)
        return part.slice(eq + 1).trim();
    }
    return null;
  }

  function setStatus(state, text) {
    $("status").dataset.state = state;
    $("status").textContent = text;
  }

  // One line in the list; textContent, so nothing a user types is markup.
  function show(cls, user, text) {
    const li = document.createElement("li");
    if (cls)
      li.className = cls;
    if (user !== null) {
      const u = document.createElement("span");
      u.className = "user";
      u.textContent = user;
      li.appendChild(u);
    }
    const t = document.createElement("span");
    t.className = "text";
    t.textContent = text;
    li.appendChild(t);
    $("messages").appendChild(li);
    li.scrollIntoView({ block: "end" });
  }

  function onMessage(ev) {
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch (e) {
      return;                           // not from the chat backend
    }
    switch (m.type) {
    case "welcome":
      me = m.user;
      setStatus("connected", "connected as " + me);
      show("system", null, "online: " + m.online.join(", "));
      break;
    case "join":
      show("system", null, m.user + " joined");
      break;
    case "leave":
      show("system", null, m.user + " left");
      break;
    case "message":
      show(m.from === me ? "mine" : "", m.from, m.text);
      break;
    }
  }

  function connect() {
    setStatus("connecting", "connecting to " + wsUrl);
    ws = new WebSocket(wsUrl);
    ws.onmessage = onMessage;
    ws.onclose = (ev) => {
      setStatus("closed", "disconnected (" + ev.code + "), retrying");
      setTimeout(connect, 2000);
    };
  }

  $("send").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("text").value;
    if (text && ws && ws.readyState === WebSocket.OPEN) {
      ws.send(text);
      $("text").value = "";
    }
  });

  // A real site would set the cookie at login, HttpOnly; the demo lets you
  // pick a name. Cookies of 127.0.0.1 go to every port of it.
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    document.cookie = "user=" + $("name").value + "; path=/; SameSite=Strict";
    start();
  });

  function start() {
    if (cookie("user") === null) {
      $("login").hidden = false;
      $("name").focus();
      return;
    }
    $("login").hidden = true;
    $("chat").hidden = false;
    $("text").focus();
    connect();
  }

  start();
})();
