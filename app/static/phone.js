// Development stand-in for the mini-program: sign in with a name, scan, confirm or cancel.
// It calls the same /api/mp/* endpoints the real mini-program calls, and says what
// went wrong in the page's language (by the server's error code).
(function () {
  'use strict';
  var T = JSON.parse(document.getElementById('qrl-text').textContent);
  var ticketId = document.getElementById('phone').getAttribute('data-ticket');
  var el = function (id) { return document.getElementById(id); };
  var token = sessionStorage.getItem('qrl_mp_token');

  function api(method, path, body) {
    var headers = {'Accept': 'application/json'};
    if (token) { headers.Authorization = 'Bearer ' + token; }
    if (body !== undefined) { headers['Content-Type'] = 'application/json'; }
    return fetch(path, {method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body)})
      .catch(function () { throw {code: 'network'}; })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) { throw {code: (data.error && data.error.code) || 'other', status: r.status}; }
          return data;
        });
      });
  }

  function fail(err) { el('result').textContent = T.phone_errors[err.code] || T.phone_errors.other; }

  // "Chrome 120 on Windows" rather than the raw User-Agent header.
  var BROWSERS = [['Edge', /Edg\/(\d+)/], ['Firefox', /Firefox\/(\d+)/], ['Chrome', /Chrome\/(\d+)/],
                  ['Safari', /Version\/(\d+).*Safari/]];
  var SYSTEMS = [['Windows', /Windows/], ['iOS', /iPhone|iPad/], ['macOS', /Mac OS X/], ['Android', /Android/],
                 ['ChromeOS', /CrOS/], ['Linux', /Linux/]];

  function readable(userAgent) {
    var ua = userAgent || '';
    var browser = BROWSERS.filter(function (b) { return b[1].test(ua); })[0];
    var system = SYSTEMS.filter(function (s) { return s[1].test(ua); })[0];
    if (!browser) { return ua.slice(0, 60) || '?'; }
    var name = browser[0] + ' ' + ua.match(browser[1])[1];
    return system ? T.phone_browser_on.replace('{browser}', name).replace('{system}', system[0]) : name;
  }

  function scan() {
    return api('POST', '/api/mp/tickets/' + encodeURIComponent(ticketId) + '/scan').then(function (data) {
      el('signin').hidden = true;
      el('approve').hidden = false;
      el('pc-ip').textContent = data.pc.ip;
      el('pc-ua').textContent = readable(data.pc.user_agent);
      el('pc-ua').title = data.pc.user_agent;
      el('pc-time').textContent = new Date(data.pc.created_at).toLocaleString(document.documentElement.lang);
      el('ip-warning').hidden = !data.pc.ip_differs;
      if (data.app) {
        el('app').textContent = T.phone_app.replace('{app}', data.app.name);
        el('app').hidden = false;
      }
    });
  }

  function decide(action, message) {
    el('confirm').disabled = el('cancel').disabled = true;
    api('POST', '/api/mp/tickets/' + encodeURIComponent(ticketId) + '/' + action).then(function () {
      el('approve').hidden = true;
      el('result').textContent = message;
    }).catch(function (err) {
      el('confirm').disabled = el('cancel').disabled = false;
      fail(err);
    });
  }

  el('signin').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var name = el('name').value.trim();
    api('POST', '/api/mp/login', {code: 'dev:' + name}).then(function (data) {
      token = data.token;
      sessionStorage.setItem('qrl_mp_token', token);
      return api('PATCH', '/api/mp/me', {nickname: name});
    }).then(scan).catch(fail);
  });
  el('confirm').addEventListener('click', function () { decide('confirm', T.phone_done); });
  el('cancel').addEventListener('click', function () { decide('cancel', T.phone_cancelled); });

  if (token) { scan().catch(function () { token = null; sessionStorage.removeItem('qrl_mp_token'); }); }
}());
