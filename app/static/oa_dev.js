// Development only: this page plays WeChat. It asks the server for the event WeChat would
// push for this scan (signed with the development token), sends it to the callback exactly
// as WeChat does, and shows the reply the person would read in their chat with the account.
(function () {
  'use strict';
  var T = JSON.parse(document.getElementById('qrl-text').textContent);
  var root = document.getElementById('oa-dev');
  var el = function (id) { return document.getElementById(id); };

  function post(url, body, type) {
    return fetch(url, {method: 'POST', credentials: 'same-origin', body: body,
                       headers: {'Content-Type': type}});
  }

  el('scan').addEventListener('submit', function (event) {
    event.preventDefault();
    el('result').textContent = '';
    var ticketId = root.getAttribute('data-ticket');
    var ask = JSON.stringify({name: el('name').value, following: el('following').checked});
    post('/oa/dev/' + encodeURIComponent(ticketId) + '/push', ask, 'application/json')
      .then(function (r) { if (!r.ok) { throw r; } return r.json(); })
      .then(function (push) {
        return post('/api/oa/callback?' + new URLSearchParams(push.query).toString(), push.body, 'text/xml');
      })
      .then(function (r) { if (!r.ok) { throw r; } return r.text(); })
      .then(showReply)
      .catch(function () { el('result').textContent = T.oa_dev_failed; });
  });

  function showReply(text) {
    var content = '';
    if (text !== 'success') {
      var xml = new DOMParser().parseFromString(text, 'application/xml');
      var node = xml.getElementsByTagName('Content')[0];
      content = node ? node.textContent : '';
    }
    el('chat').hidden = false;
    el('reply').textContent = content || T.oa_dev_no_reply;
    var link = el('reply-link');
    var found = content.match(/https?:\/\/\S+\/oa\/confirm\/[\w-]+/);
    link.hidden = !found;
    if (found) { link.href = found[0]; }
  }
}());
