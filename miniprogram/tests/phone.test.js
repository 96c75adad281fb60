// The confirm page's phone-number button, against a live server that requires a
// verified phone number (REQUIRE_PHONE=1). Run by tests/test_miniprogram.py.
const test = require('node:test');
const assert = require('node:assert/strict');

const config = require('../config.js');
const api = require('../utils/api.js');
const {fakeWx, loadPage} = require('./fake_wx.js');

const BASE = process.env.QRL_BASE_URL;
const live = BASE && process.env.QRL_REQUIRE_PHONE === '1' ? {}
  : {skip: 'needs QRL_BASE_URL of a server started with REQUIRE_PHONE=1 (tests/test_miniprogram.py does it)'};
if (BASE) { config.baseUrl = BASE; }
const CODE_PREFIX = process.env.QRL_WX_CODE_PREFIX || 'ok-';
// Codes the test server's fake WeChat answers for getuserphonenumber ("phone-<digits>").
const PHONE_CODE_PREFIX = process.env.QRL_PHONE_CODE_PREFIX || 'phone-';

async function newTicket() {
  const res = await fetch(BASE + '/api/tickets', {method: 'POST'});
  assert.equal(res.status, 201);
  return (await res.json()).ticket_id;
}

async function until(predicate, what) {
  for (let i = 0; i < 200; i += 1) {
    if (predicate()) { return; }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail('gave up waiting for ' + what);
}

test('the phone-number button appears when the service asks, and the scan goes on after it', live, async () => {
  global.wx = fakeWx(CODE_PREFIX + 'node-phone-yes');
  const user = await api.login();
  assert.equal(user.needs_phone, true);
  const page = loadPage('pages/login/confirm');
  page.onLoad({ticket: await newTicket()});
  await until(() => !page.data.loading, 'the scan');
  assert.equal(page.data.askPhone, true);
  assert.equal(page.data.pc, null);
  assert.equal(page.data.error, '');

  await page.onPhoneNumber({detail: {code: PHONE_CODE_PREFIX + '13811112222', errMsg: 'getPhoneNumber:ok'}});
  assert.equal(page.data.error, '');
  assert.equal(page.data.askPhone, false);
  assert.equal(page.data.pc.ip, '127.0.0.1');
  assert.equal(api.currentUser().phone, '+8613811112222');
  assert.equal(api.currentUser().needs_phone, false);
});

test('declining to share the number says why the login cannot go on, and asks nothing of the server', live,
  async () => {
    const wx = global.wx = fakeWx(CODE_PREFIX + 'node-phone-no');
    const page = loadPage('pages/login/confirm');
    page.onLoad({ticket: await newTicket()});
    await until(() => !page.data.loading, 'the scan');
    const sent = wx.requests.length;
    await page.onPhoneNumber({detail: {errMsg: 'getPhoneNumber:fail user deny'}});
    assert.equal(page.data.error, 'Without your phone number you cannot log in here.');
    assert.equal(page.data.askPhone, true);
    assert.equal(wx.requests.length, sent);
  });

test('a user whose number is known is not shown the button', live, async () => {
  global.wx = fakeWx(CODE_PREFIX + 'node-phone-known');
  await api.login();
  await api.sharePhone(PHONE_CODE_PREFIX + '13833334444');
  const page = loadPage('pages/login/confirm');
  page.onLoad({ticket: await newTicket()});
  await until(() => !page.data.loading, 'the scan');
  assert.equal(page.data.askPhone, false);
  assert.equal(page.data.pc.ip, '127.0.0.1');
});
