// Development stand-in for the mini-program: sign in with a name, scan, confirm or cancel.
// It calls the same /api/mp/* endpoints the real mini-program calls.
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
      .then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) { throw new Error((data.error && data.error.message) || ('HTTP ' + r.status)); }
          return data;
        });
      });
  }

  function fail(err) { el('result').textContent = err.message; }

  function scan() {
    return api('POST', '/api/mp/tickets/' + encodeURIComponent(ticketId) + '/scan').then(function (data) {
      el('signin').hidden = true;
      el('approve').hidden = false;
      el('pc-ip').textContent = data.pc.ip;
      el('pc-ua').textContent = data.pc.user_agent;
      el('pc-time').textContent = new Date(data.pc.created_at).toLocaleString();
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
