// utils/api.js against a live server (QRL_BASE_URL), with a fake `wx` doing real HTTP.
// The PC's side is played with fetch: it creates the ticket and long-polls it.
// Run by tests/test_miniprogram.py, which starts the server: `node --test miniprogram/tests/`.
const test = require('node:test');
const assert = require('node:assert/strict');

const config = require('../config.js');
const api = require('../utils/api.js');
const {fakeWx, loadPage, WX_METHODS} = require('./fake_wx.js');

const BASE = process.env.QRL_BASE_URL;
const live = BASE ? {} : {skip: 'QRL_BASE_URL is not set (tests/test_miniprogram.py starts a server and sets it)'};
if (BASE) { config.baseUrl = BASE; }

// A fresh phone: its own WeChat identity and storage. The test server's fake WeChat turns
// "ok-<name>" into an openid; a development server (`make run`) takes "dev:<name>".
const CODE_PREFIX = process.env.QRL_WX_CODE_PREFIX || 'ok-';

function newPhone(name) {
  global.wx = fakeWx(CODE_PREFIX + name);
  return global.wx;
}

// The PC browser: creates a ticket (keeping its binding cookie) and long-polls it.
async function newPc() {
  const res = await fetch(BASE + '/api/tickets', {method: 'POST'});
  assert.equal(res.status, 201);
  const ticket = await res.json();
  const cookies = [res.headers.get('set-cookie').split(';')[0]];
  return {
    ticket: ticket,
    poll(since) {
      const url = BASE + '/api/tickets/' + ticket.ticket_id + '?wait=10&since=' + since;
      return fetch(url, {headers: {Cookie: cookies.join('; ')}}).then(async (r) => {
        const login = r.headers.get('set-cookie');
        if (login) { cookies.push(login.split(';')[0]); }
        return {status: r.status, body: await r.json()};
      });
    },
    me() {
      return fetch(BASE + '/api/me', {headers: {Cookie: cookies.join('; ')}}).then((r) => r.json());
    }
  };
}

function onlyWeChatMethods(wx) {
  for (const r of wx.requests) { assert.ok(WX_METHODS.includes(r.method), r.method + ' ' + r.url); }
}

test('login, scan, confirm: the waiting PC is logged in as this user', live, async () => {
  const wx = newPhone('node-alice');
  const user = await api.login();
  assert.match(user.id, /^u_/);
  const profile = await api.updateProfile({nickname: 'Node Alice', avatarUrl: 'https://thirdwx.qlogo.cn/mmopen/alice/132'});
  assert.equal(profile.nickname, 'Node Alice');
  assert.equal(profile.avatar_url, 'https://thirdwx.qlogo.cn/mmopen/alice/132');

  const pc = await newPc();
  const ticketId = api.ticketIdFromQr(pc.ticket.qr_content);
  assert.equal(ticketId, pc.ticket.ticket_id);

  const waiting = pc.poll('pending');
  const scanned = await api.scan(ticketId);
  assert.equal(scanned.status, 'scanned');
  assert.equal(scanned.pc.ip, '127.0.0.1');
  assert.equal(scanned.pc.ip_differs, false);
  assert.ok(Date.parse(scanned.pc.created_at) > 0);
  const seen = await waiting;
  assert.equal(seen.body.status, 'scanned');
  assert.deepEqual(seen.body.scanned_by, {nickname: 'Node Alice', avatar_url: 'https://thirdwx.qlogo.cn/mmopen/alice/132'});

  const waitingForConfirm = pc.poll('scanned');
  assert.equal((await api.confirm(ticketId)).status, 'confirmed');
  assert.equal((await waitingForConfirm).body.status, 'confirmed');
  const me = await pc.me();
  assert.equal(me.user.id, user.id);
  assert.equal(me.user.nickname, 'Node Alice');
  onlyWeChatMethods(wx);
});

test('login, scan, cancel: the waiting PC sees the cancel and is not logged in', live, async () => {
  const wx = newPhone('node-bob');
  await api.login();
  const pc = await newPc();
  const ticketId = api.ticketIdFromQr(pc.ticket.qr_content);
  await api.scan(ticketId);
  const waiting = pc.poll('scanned');
  assert.equal((await api.cancel(ticketId)).status, 'cancelled');
  assert.equal((await waiting).body.status, 'cancelled');
  assert.equal((await pc.me()).error.code, 'not_authenticated');
  // The code cannot be used afterwards, and the error says why.
  await assert.rejects(api.confirm(ticketId), {name: 'ApiError', status: 410, code: 'ticket_cancelled'});
  onlyWeChatMethods(wx);
});

test('an expired or broken token is replaced by signing in again, silently', live, async () => {
  const wx = newPhone('node-carol');
  const user = await api.login();
  wx.setStorageSync('qrl_token', 'not-a-valid-token');
  const pc = await newPc();
  const scanned = await api.scan(pc.ticket.ticket_id);
  assert.equal(scanned.status, 'scanned');
  assert.equal(api.currentUser().id, user.id);
});

test('a non-https avatar is refused before anything is sent', live, async () => {
  const wx = newPhone('node-dave');
  await api.login();
  const sent = wx.requests.length;
  await assert.rejects(api.updateProfile({avatarUrl: 'http://tmp/wxfile-avatar.png'}), {code: 'avatar_not_https'});
  assert.equal(wx.requests.length, sent);
});

test('"my logged-in PCs" lists the PC session and can end it', live, async () => {
  newPhone('node-erin');
  await api.login();
  const pc = await newPc();
  await api.scan(pc.ticket.ticket_id);
  const waiting = pc.poll('scanned');
  await api.confirm(pc.ticket.ticket_id);
  await waiting;
  assert.equal((await pc.me()).user.nickname !== undefined, true);

  const sessions = await api.sessions();
  assert.equal(sessions.length, 1);
  for (const key of ['id', 'ip', 'user_agent', 'created_at', 'last_seen_at']) { assert.ok(key in sessions[0], key); }
  await api.endSession(sessions[0].id);
  assert.equal((await pc.me()).error.code, 'not_authenticated');
  assert.deepEqual(await api.sessions(), []);
});

test('the ticket id comes only from this service\'s QR URL', () => {
  const saved = config.baseUrl;
  config.baseUrl = 'https://login.example.com';
  try {
    assert.equal(api.ticketIdFromQr('https://login.example.com/qr/AbC-_123'), 'AbC-_123');
    assert.equal(api.ticketIdFromQr('https://login.example.com/qr/AbC?utm=x'), 'AbC');
    assert.equal(api.ticketIdFromQr('https://evil.example.com/qr/AbC'), null);
    assert.equal(api.ticketIdFromQr('https://login.example.com.evil.cn/qr/AbC'), null);
    assert.equal(api.ticketIdFromQr('https://login.example.com/qr/../../x'), null);
    assert.equal(api.ticketIdFromQr(undefined), null);
  } finally {
    config.baseUrl = saved;
  }
});

test('the confirm page finds the ticket in scene, q or ticket', () => {
  const saved = config.baseUrl;
  config.baseUrl = 'https://login.example.com';
  try {
    assert.equal(api.ticketIdFromOptions({scene: encodeURIComponent('AbC-_123')}), 'AbC-_123');
    assert.equal(api.ticketIdFromOptions({q: encodeURIComponent('https://login.example.com/qr/XyZ')}), 'XyZ');
    assert.equal(api.ticketIdFromOptions({q: encodeURIComponent('https://other.example.com/qr/XyZ')}), null);
    assert.equal(api.ticketIdFromOptions({ticket: 'T1'}), 'T1');
    assert.equal(api.ticketIdFromOptions({scene: 'a%20b'}), null);
    assert.equal(api.ticketIdFromOptions({}), null);
  } finally {
    config.baseUrl = saved;
  }
});

test('the PC\'s browser is named in words a person knows', () => {
  const chrome = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
  assert.equal(api.describeBrowser(chrome), 'Chrome 120 on Windows');
  assert.equal(api.describeBrowser('Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'),
               'Firefox 128 on Linux');
  assert.equal(api.describeBrowser(''), '?');
});

test('every page in app.json has its four files, and the confirm page is where the codes point', () => {
  const fs = require('node:fs');
  const path = require('node:path');
  const root = path.join(__dirname, '..');
  const app = JSON.parse(fs.readFileSync(path.join(root, 'app.json'), 'utf8'));
  assert.ok(app.pages.includes('pages/login/confirm'));
  for (const page of app.pages) {
    for (const ext of ['.js', '.json', '.wxml', '.wxss']) {
      assert.ok(fs.existsSync(path.join(root, page + ext)), page + ext);
    }
  }
});

async function until(predicate, what) {
  for (let i = 0; i < 200; i += 1) {
    if (predicate()) { return; }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail('gave up waiting for ' + what);
}

for (const [opener, how, options] of [
  ['q', 'the ordinary-link QR (options.q)', (qr) => ({q: encodeURIComponent(qr)})],
  ['scene', 'the mini-program code (options.scene)', (qr, id) => ({scene: encodeURIComponent(id)})]
]) {
  test('the confirm page opened from ' + how + ' shows the PC and confirms', live, async () => {
    newPhone('node-page-' + opener);
    const pc = await newPc();
    const page = loadPage('pages/login/confirm');
    page.onLoad(options(pc.ticket.qr_content, pc.ticket.ticket_id));
    await until(() => !page.data.loading, 'the scan');
    assert.equal(page.data.error, '');
    assert.equal(page.data.pc.ip, '127.0.0.1');
    assert.equal(page.data.pc.ip_differs, false);
    assert.ok(page.data.browser.length > 0 && page.data.time.length > 0);

    const waiting = pc.poll('scanned');
    page.onConfirm();
    await until(() => page.data.done, 'the confirm');
    assert.equal(page.data.done, 'Done. The computer is logged in.');
    assert.equal((await waiting).body.status, 'confirmed');
  });
}

test('the confirm page refuses a code from another site without calling the server', live, async () => {
  const wx = newPhone('node-page-foreign');
  const page = loadPage('pages/login/confirm');
  page.onLoad({q: encodeURIComponent('https://evil.example.com/qr/AAAAAAAAAAAAAAAAAAAAAA')});
  assert.equal(page.data.error, 'This is not a login code of this service.');
  assert.equal(wx.requests.length, 0);
});

test('the confirm page explains an expired or cancelled code in words', live, async () => {
  newPhone('node-page-cancelled');
  const pc = await newPc();
  await api.scan(pc.ticket.ticket_id);
  await api.cancel(pc.ticket.ticket_id);
  const page = loadPage('pages/login/confirm');
  page.onLoad({scene: pc.ticket.ticket_id});
  await until(() => !page.data.loading, 'the scan');
  assert.equal(page.data.error, 'This login was cancelled.');
  assert.equal(page.data.pc, null);
});
