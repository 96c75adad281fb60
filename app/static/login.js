// The PC login page: get a ticket, show its QR, long-poll until the phone decides.
// One poll in flight at a time; answers for an older ticket are ignored; backs off
// when the network or server fails, saying which (the server's error code, in the
// page's language); pauses while the tab is hidden for long.
(function () {
  'use strict';
  var T = JSON.parse(document.getElementById('qrl-text').textContent);
  var root = document.getElementById('qrl');
  var nextUrl = root.getAttribute('data-next') || '/';
  // Set when another app sent the person here: the ticket names that app's pending request.
  var authorize = root.getAttribute('data-authorize');
  var el = function (id) { return document.getElementById(id); };
  var qrImg = el('qrl-qr'), statusEl = el('qrl-status'), countdownEl = el('qrl-countdown');
  var refreshBtn = el('qrl-refresh'), scannedEl = el('qrl-scanned');
  var phoneLink = el('qrl-phone-link');  // development sign-in only: the QR's page, for a tryout without a phone

  var HIDDEN_PAUSE_MS = 60000;  // stop polling once the tab has been hidden this long
  var MAX_AUTO_REFRESH = 5;     // fresh codes fetched by themselves before asking for a click

  var ticket = null;            // the current ticket's creation answer
  var status = null;            // its last known status
  var generation = 0;           // bumps with every new ticket; older answers are dropped
  var controller = null;        // the request in flight, if any
  var failures = 0;
  var autoRefreshes = 0;
  var expiresAt = 0;            // local clock, ms
  var paused = false;
  var hiddenTimer = null;
  var retryTimer = null;
  var retryAt = 0;              // local clock, ms, of the next attempt after a failure
  var problem = null;           // what the server said went wrong, or null when it was not reached

  function fmt(s, vars) {
    return s.replace(/\{(\w+)\}/g, function (_, k) { return vars[k]; });
  }

  function say(text) {
    statusEl.textContent = text;
    statusEl.classList.toggle('offline', retryTimer !== null && problem === null);
    statusEl.classList.toggle('problem', retryTimer !== null && problem !== null);
  }

  // A refusal or server error, with its code when the service sent one ({"error": {"code"}}).
  function refused(r) {
    return r.json().catch(function () { return null; }).then(function (body) {
      throw {status: r.status, headers: r.headers, code: body && body.error && body.error.code};
    });
  }

  function explain(err) {
    if (!err || !err.status) { return null; }  // never reached the server: the connection is lost
    if (err.code && err.code.indexOf('wechat_') === 0) { return T.wechat_down; }  // says when it retries
    return T.errors[err.code] || fmt(T.errors.server, {status: err.status});
  }

  function abortInFlight() {
    if (controller) { controller.abort(); controller = null; }
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
  }

  function newTicket() {
    abortInFlight();
    var gen = ++generation;
    status = null;
    refreshBtn.hidden = true;
    scannedEl.hidden = true;
    if (phoneLink) { phoneLink.hidden = true; }
    say(T.loading);
    controller = new AbortController();
    var headers = {'Accept': 'application/json'};
    if (authorize) { headers['Content-Type'] = 'application/json'; }
    fetch('/api/tickets', {method: 'POST', credentials: 'same-origin', signal: controller.signal, headers: headers,
                           body: authorize ? JSON.stringify({authorization_request: authorize}) : undefined})
      .then(function (r) {
        if (!r.ok) { return refused(r); }
        return r.json();
      })
      .then(function (t) {
        if (gen !== generation) { return; }
        controller = null;
        failures = 0;
        problem = null;
        ticket = t;
        // The SVG comes inline with the ticket (no second request); in wxacode
        // mode the image is WeChat's mini-program code, fetched by URL.
        qrImg.src = t.qr_svg ? 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(t.qr_svg)
                             : (t.qr_image_url || t.qr_svg_url);
        qrImg.hidden = false;
        if (phoneLink) { phoneLink.href = t.qr_content; phoneLink.hidden = false; }
        apply(gen, t);
      })
      .catch(function (err) {
        if (gen !== generation || isAbort(err)) { return; }
        controller = null;
        retryLater(gen, err, newTicket);
      });
  }

  // WeChat could not make the code (a 502/503 "wechat_*" error): say so, not "connection lost".
  function poll(gen) {
    if (gen !== generation || paused) { return; }
    controller = new AbortController();
    // After a failure, first ask without waiting: the answer proves the connection is
    // back (the status line says so at once) and brings any change missed meanwhile.
    var wait = failures > 0 ? 0 : (ticket.poll_max_wait || 25);
    var url = '/api/tickets/' + encodeURIComponent(ticket.ticket_id) +
      '?wait=' + wait + '&since=' + encodeURIComponent(status);
    fetch(url, {credentials: 'same-origin', cache: 'no-store', signal: controller.signal})
      .then(function (r) {
        if (gen !== generation) { return null; }
        if (r.status === 403 || r.status === 404) {
          // The ticket is gone or this browser lost its binding: start over.
          newTicket();
          return null;
        }
        if (!r.ok) { return refused(r); }
        return r.json();
      })
      .then(function (body) {
        if (!body || gen !== generation) { return; }
        controller = null;
        failures = 0;
        problem = null;
        apply(gen, body);
      })
      .catch(function (err) {
        if (gen !== generation || isAbort(err)) { return; }
        controller = null;
        retryLater(gen, err, function () { poll(gen); });
      });
  }

  function apply(gen, body) {
    status = body.status;
    expiresAt = Date.now() + (body.expires_in || 0) * 1000;
    root.setAttribute('data-status', status);
    if (phoneLink) { phoneLink.hidden = !(status === 'pending' || status === 'scanned'); }
    tick();
    switch (status) {
      case 'pending':
        scannedEl.hidden = true;
        qrImg.hidden = false;
        say(T.pending);
        poll(gen);
        break;
      case 'scanned':
        showScanned(body.scanned_by || {});
        poll(gen);
        break;
      case 'confirmed':
      case 'consumed':
        // The answer that said "confirmed" carried the session cookie.
        say(T.confirmed);
        countdownEl.textContent = '';
        location.assign(nextUrl);
        break;
      case 'cancelled':
      case 'denied':  // the account that scanned may not log in here
        scannedEl.hidden = true;
        qrImg.hidden = true;
        say(T[status]);
        countdownEl.textContent = '';
        refreshBtn.hidden = false;
        break;
      case 'expired':
        countdownEl.textContent = '';
        if (autoRefreshes < MAX_AUTO_REFRESH && !document.hidden) {
          autoRefreshes += 1;
          say(T.expired);
          newTicket();
        } else {
          qrImg.hidden = true;
          scannedEl.hidden = true;
          say(T.expired_stopped);
          refreshBtn.hidden = false;
        }
        break;
    }
  }

  function showScanned(who) {
    qrImg.hidden = true;
    scannedEl.hidden = false;
    var avatar = el('qrl-avatar');
    if (!who.avatar_url) {
      avatar.hidden = true;
      avatar.removeAttribute('src');
    } else if (avatar.getAttribute('src') !== who.avatar_url) {
      avatar.hidden = false;  // hidden again by the error handler if it does not load
      avatar.src = who.avatar_url;
    }
    el('qrl-nickname').textContent = who.nickname || '';
    // Someone who never set a nickname is not shown as "?".
    say(who.nickname ? fmt(T.scanned, {name: who.nickname}) : T.scanned_anonymous);
    autoRefreshes = 0;
  }

  function retryLater(gen, err, again) {
    failures += 1;
    problem = explain(err);
    var delay = Math.min(30, Math.pow(2, failures - 1)) * 1000;
    var retryAfter = err && err.headers && parseInt(err.headers.get('Retry-After'), 10);
    if (retryAfter > 0) { delay = Math.max(delay, retryAfter * 1000); }
    delay = delay * (0.8 + Math.random() * 0.4);  // spread reconnects after an outage
    retryAt = Date.now() + delay;
    retryTimer = setTimeout(function () {
      retryTimer = null;
      if (gen === generation) { again(); }
    }, delay);
    tick();
  }

  function isAbort(err) { return err && err.name === 'AbortError'; }

  function tick() {
    if (retryTimer) {
      var s = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
      if (problem === null) {
        say(fmt(T.offline, {s: s}));
      } else {
        say(problem.indexOf('{s}') >= 0 ? fmt(problem, {s: s}) : problem + ' ' + fmt(T.retry_in, {s: s}));
      }
    }
    if (status === 'pending' || status === 'scanned') {
      var left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
      countdownEl.textContent = fmt(T.expires_in, {s: left});
    }
  }
  setInterval(tick, 1000);

  // A broken avatar link shows no broken-image icon, just the nickname.
  el('qrl-avatar').addEventListener('error', function () { this.hidden = true; });

  // "Not you?": the scanned code is cancelled on the server (so whoever scanned it
  // can no longer confirm it), then a fresh code is shown.
  el('qrl-not-you').addEventListener('click', function () {
    abortInFlight();
    generation += 1;  // whatever the old poll still answers is ignored
    autoRefreshes = 0;
    say(T.loading);
    fetch('/api/tickets/' + encodeURIComponent(ticket.ticket_id) + '/cancel',
          {method: 'POST', credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .catch(function () { return null; })
      .then(function () { newTicket(); });
  });

  refreshBtn.addEventListener('click', function () {
    autoRefreshes = 0;
    newTicket();
  });

  document.addEventListener('visibilitychange', function () {
    if (document.hidden) {
      hiddenTimer = setTimeout(function () {
        paused = true;
        abortInFlight();
        say(T.paused);
      }, HIDDEN_PAUSE_MS);
      return;
    }
    clearTimeout(hiddenTimer);
    if (paused) {
      paused = false;
      if (!ticket || Date.now() >= expiresAt) { autoRefreshes = 0; newTicket(); return; }
      // Ask for the current state at once (since = null), then go on waiting.
      status = 'unknown';
      var gen = generation;
      controller = new AbortController();
      fetch('/api/tickets/' + encodeURIComponent(ticket.ticket_id), {credentials: 'same-origin', cache: 'no-store',
                                                                       signal: controller.signal})
        .then(function (r) { if (!r.ok) { throw r; } return r.json(); })
        .then(function (body) { if (gen === generation) { controller = null; apply(gen, body); } })
        .catch(function (err) { if (gen === generation && !isAbort(err)) { controller = null; newTicket(); } });
    }
  });

  newTicket();
}());
