// The mini-program's one door to the service: wraps wx.login and wx.request.
// Every call answers a Promise; a failure is an ApiError with the server's
// {"error": {"code", "message"}} (code "network" when the request never arrived).
const config = require('../config.js');
const i18n = require('./i18n.js');

const TOKEN_KEY = 'qrl_token';
const USER_KEY = 'qrl_user';
const TIMEOUT_MS = 10000;
const TICKET_ID = /^[A-Za-z0-9_-]{1,32}$/;

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

function token() {
  return wx.getStorageSync(TOKEN_KEY) || null;
}

function currentUser() {
  return wx.getStorageSync(USER_KEY) || null;
}

function forget() {
  wx.removeStorageSync(TOKEN_KEY);
  wx.removeStorageSync(USER_KEY);
}

// wx.request cannot send PATCH (it knows GET, POST, PUT, DELETE, HEAD, OPTIONS,
// TRACE, CONNECT); the service takes the profile update as POST as well.
function send(method, path, data, bearer) {
  // Errors come back in the phone's language.
  const header = {'Accept': 'application/json', 'Content-Type': 'application/json',
                  'Accept-Language': i18n.acceptLanguage()};
  const wireMethod = method === 'PATCH' ? 'POST' : method;
  if (bearer) { header.Authorization = 'Bearer ' + bearer; }
  return new Promise((resolve, reject) => {
    wx.request({
      url: config.baseUrl + path,
      method: wireMethod,
      // A POST always carries a JSON body: the service refuses anything else.
      data: data === undefined ? (wireMethod === 'POST' ? {} : undefined) : data,
      header: header,
      timeout: TIMEOUT_MS,
      success(res) {
        if (res.statusCode >= 200 && res.statusCode < 300) {
          resolve(res.data);
          return;
        }
        const error = (res.data && res.data.error) || {};
        reject(new ApiError(res.statusCode, error.code || 'http_' + res.statusCode,
                            error.message || 'The server answered ' + res.statusCode + '.'));
      },
      fail(err) {
        reject(new ApiError(0, 'network', (err && err.errMsg) || 'The request failed.'));
      }
    });
  });
}

// The sign-in code: wx.login's, or in development (config.development) `dev:<devName>`,
// which only a development server (no WeChat credentials) accepts.
function wxLogin() {
  if (config.development) {
    return Promise.resolve('dev:' + (config.devName || 'DevTools'));
  }
  return new Promise((resolve, reject) => {
    wx.login({
      success(res) {
        if (res.code) { resolve(res.code); } else { reject(new ApiError(0, 'wx_login', 'wx.login gave no code.')); }
      },
      fail(err) { reject(new ApiError(0, 'wx_login', (err && err.errMsg) || 'wx.login failed.')); }
    });
  });
}

// wx.login -> POST /api/mp/login; keeps the token and the user in storage.
function login() {
  return wxLogin()
    .then((code) => send('POST', '/api/mp/login', {code: code}))
    .then((body) => {
      wx.setStorageSync(TOKEN_KEY, body.token);
      wx.setStorageSync(USER_KEY, body.user);
      return body.user;
    });
}

function ensureLogin() {
  return token() ? Promise.resolve(currentUser()) : login();
}

// A call as the signed-in user. wx.login needs no tap, so a missing or expired
// token is replaced silently and the call is made once more.
function call(method, path, data) {
  return ensureLogin()
    .then(() => send(method, path, data, token()))
    .catch((err) => {
      if (!(err instanceof ApiError) || err.status !== 401) { throw err; }
      forget();
      return login().then(() => send(method, path, data, token()));
    });
}

// Profile shown on the PC while it waits ("scanned by <nickname>").
// avatarUrl must be https (uploaded to your own storage first, see uploadAvatar).
function updateProfile(profile) {
  const body = {};
  if (profile.nickname) { body.nickname = profile.nickname; }
  if (profile.avatarUrl) {
    if (!/^https:\/\/[^/]+/.test(profile.avatarUrl)) {
      return Promise.reject(new ApiError(0, 'avatar_not_https', 'Upload the avatar first; only https URLs are accepted.'));
    }
    body.avatar_url = profile.avatarUrl;
  }
  return call('PATCH', '/api/mp/me', body).then((res) => {
    wx.setStorageSync(USER_KEY, res.user);
    return res.user;
  });
}

// The getPhoneNumber button's code -> POST /api/mp/phone. The service asks WeChat
// for the verified number (a paid call) only while it does not know it yet.
function sharePhone(code) {
  if (!code) {
    return Promise.reject(new ApiError(0, 'phone_declined', 'No phone number was shared.'));
  }
  return call('POST', '/api/mp/phone', {code: code}).then((res) => {
    wx.setStorageSync(USER_KEY, res.user);
    return res.user;
  });
}

// chooseAvatar gives a temporary local file; put it on your own storage
// (config.avatarUploadUrl) and get back the https URL to send.
function uploadAvatar(tempFilePath) {
  if (!config.avatarUploadUrl) { return Promise.resolve(null); }
  return new Promise((resolve, reject) => {
    wx.uploadFile({
      url: config.avatarUploadUrl,
      filePath: tempFilePath,
      name: 'file',
      success(res) {
        let url = null;
        try { url = JSON.parse(res.data).url; } catch (e) { /* not JSON */ }
        if (res.statusCode === 200 && url) { resolve(url); } else { reject(new ApiError(res.statusCode, 'upload', 'Avatar upload failed.')); }
      },
      fail(err) { reject(new ApiError(0, 'network', (err && err.errMsg) || 'Avatar upload failed.')); }
    });
  });
}

function ticketPath(ticketId, action) {
  return '/api/mp/tickets/' + encodeURIComponent(ticketId) + '/' + action;
}

// -> {status: "scanned", pc: {ip, user_agent, created_at, ip_differs}}
function scan(ticketId) { return call('POST', ticketPath(ticketId, 'scan')); }
function confirm(ticketId) { return call('POST', ticketPath(ticketId, 'confirm')); }
function cancel(ticketId) { return call('POST', ticketPath(ticketId, 'cancel')); }

// The PCs logged in as this user: {sessions: [{id, ip, user_agent, created_at, last_seen_at}]}
function sessions() { return call('GET', '/api/mp/sessions').then((body) => body.sessions); }
function endSession(id) { return call('DELETE', '/api/mp/sessions/' + encodeURIComponent(id)); }

// The QR on the PC encodes "<baseUrl>/qr/<ticket_id>". Codes from any other site are
// refused, so a look-alike code cannot send the person somewhere else.
function ticketIdFromQr(text) {
  const prefix = config.baseUrl.replace(/\/+$/, '') + '/qr/';
  if (typeof text !== 'string' || text.indexOf(prefix) !== 0) { return null; }
  const id = text.slice(prefix.length).split(/[?#]/)[0];
  return TICKET_ID.test(id) ? id : null;
}

// The confirm page's onLoad options: "scene" when opened from the mini-program code
// (wxacode, the ticket id itself), "q" when WeChat's own scanner opened an
// ordinary-link QR (the URL-encoded QR text), "ticket" from our scan page.
function ticketIdFromOptions(options) {
  options = options || {};
  if (options.scene) {
    const id = decodeURIComponent(options.scene);
    return TICKET_ID.test(id) ? id : null;
  }
  if (options.q) { return ticketIdFromQr(decodeURIComponent(options.q)); }
  if (options.ticket) { return TICKET_ID.test(options.ticket) ? options.ticket : null; }
  return null;
}

// A short name for a user agent: "Chrome 120 on Windows".
function describeBrowser(userAgent) {
  const ua = userAgent || '';
  const browsers = [['Edge', /Edg\/(\d+)/], ['Firefox', /Firefox\/(\d+)/], ['Chrome', /Chrome\/(\d+)/],
                    ['Safari', /Version\/(\d+).*Safari/]];
  const systems = [['Windows', /Windows/], ['macOS', /Mac OS X/], ['Android', /Android/], ['iOS', /iPhone|iPad/],
                   ['Linux', /Linux/]];
  const browser = browsers.find((b) => b[1].test(ua));
  const system = systems.find((s) => s[1].test(ua));
  if (!browser) { return ua.slice(0, 60) || '?'; }
  const name = browser[0] + ' ' + ua.match(browser[1])[1];
  return system ? i18n.fill(i18n.text().browserOn, {browser: name, system: system[0]}) : name;
}

module.exports = {
  ApiError, login, ensureLogin, currentUser, forget, updateProfile, uploadAvatar, sharePhone,
  scan, confirm, cancel, sessions, endSession, ticketIdFromQr, ticketIdFromOptions, describeBrowser
};
