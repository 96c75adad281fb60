// The development switch (config.development) against a development server (QRL_DEV_BASE_URL:
// `make run` / `make run-lan`, no WeChat credentials), and the words in the phone's language.
// Run by tests/test_miniprogram.py, which starts that server: `node --test miniprogram/tests/`.
const test = require('node:test');
const assert = require('node:assert/strict');

const config = require('../config.js');
const api = require('../utils/api.js');
const i18n = require('../utils/i18n.js');
const {fakeWx, loadPage} = require('./fake_wx.js');

const DEV = process.env.QRL_DEV_BASE_URL;
const live = DEV ? {} : {skip: 'QRL_DEV_BASE_URL is not set (tests/test_miniprogram.py starts a server and sets it)'};

// Runs `body` with the development switch on, pointed at the development server.
async function inDevelopment(devName, language, body) {
  const saved = Object.assign({}, config);
  Object.assign(config, {development: true, baseUrl: DEV, devName: devName});
  global.wx = fakeWx('never-used', language);
  try {
    return await body(global.wx);
  } finally {
    Object.assign(config, saved);
  }
}

test('the shipped config is production: https and wx.login, development off', () => {
  assert.equal(config.development, false);
  assert.match(config.baseUrl, /^https:\/\//);
});

test('with the development switch on, sign-in uses a dev: code over http and never wx.login', live, async () => {
  await inDevelopment('Mei', 'zh_CN', async (wx) => {
    const user = await api.login();
    assert.equal(user.nickname, 'Mei');
    assert.equal(wx.logins, 0);
    assert.equal(wx.requests[0].url, DEV + '/api/mp/login');
    assert.match(wx.requests[0].url, /^http:\/\//);
  });
});

test('with the switch off, the same server is asked with a wx.login code (and refuses it)', live, async () => {
  const saved = config.baseUrl;
  config.baseUrl = DEV;
  global.wx = fakeWx('a-real-wx-code', 'en');
  try {
    await assert.rejects(api.login(), (err) => err.code === 'invalid_request');
    assert.equal(global.wx.logins, 1);
  } finally {
    config.baseUrl = saved;
    api.forget();
  }
});

test('the phone\'s language picks the words: Simplified, Traditional (Taiwan, Hong Kong) or English', () => {
  for (const [system, expected] of [['zh_CN', 'zh_CN'], ['zh_TW', 'zh_TW'], ['zh_HK', 'zh_TW'], ['en', 'en'],
                                     ['en_US', 'en'], ['fr', 'en']]) {
    global.wx = fakeWx('x', system);
    assert.equal(i18n.language(), expected, system);
  }
  for (const lang of ['zh_CN', 'zh_TW']) {
    assert.deepEqual(Object.keys(i18n.TEXT[lang]).sort(), Object.keys(i18n.TEXT.en).sort());
    assert.deepEqual(Object.keys(i18n.TEXT[lang].errors).sort(), Object.keys(i18n.TEXT.en.errors).sort());
  }
  global.wx = fakeWx('x', 'zh_CN');
  const chrome = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
  assert.equal(api.describeBrowser(chrome), 'Windows 上的 Chrome 120');
});


async function until(predicate, what) {
  for (let i = 0; i < 200; i += 1) {
    if (predicate()) { return; }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail('gave up waiting for ' + what);
}

for (const [system, title, cancelled, accept] of [
  ['zh_CN', '在这台电脑上登录？', '此次登录已取消', 'zh-CN'],
  ['zh_HK', '在這台電腦上登入？', '此次登入已取消', 'zh-TW']
]) {
  test('the confirm page speaks ' + system + ' from scan to a refused second try', live, async () => {
    await inDevelopment('Confirm-' + system, system, async (wx) => {
      const pc = await (await fetch(DEV + '/api/tickets', {method: 'POST'})).json();
      const page = loadPage('pages/login/confirm');
      page.onLoad({q: encodeURIComponent(DEV + '/qr/' + pc.ticket_id)});
      assert.equal(page.data.title, title);
      await until(() => !page.data.loading, 'the scan');
      assert.equal(page.data.error, '');
      page.onCancel();
      await until(() => page.data.done, 'the cancel');
      assert.equal(page.data.done, i18n.TEXT[system === 'zh_CN' ? 'zh_CN' : 'zh_TW'].cancelled);

      const again = loadPage('pages/login/confirm');
      again.onLoad({ticket: pc.ticket_id});
      await until(() => !again.data.loading, 'the second scan');
      assert.equal(again.data.error, cancelled);
      assert.ok(wx.requests.every((r) => r.header['Accept-Language'] === accept));
    });
  });
}
