// A stand-in for the mini-program runtime's `wx`: wx.request does real HTTP with
// node's http module, as strictly as WeChat does (its methods only, JSON data
// encoding, success for every HTTP status, fail only when the network fails).
const http = require('node:http');
const https = require('node:https');

const WX_METHODS = ['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT'];

function encodeQuery(data) {
  return Object.keys(data).map((k) => encodeURIComponent(k) + '=' + encodeURIComponent(data[k])).join('&');
}

// `language` is what wx.getSystemInfoSync() reports, e.g. "zh_CN" or "en".
function fakeWx(code, language) {
  const storage = new Map();
  const requests = [];

  function request(options) {
    const method = (options.method || 'GET').toUpperCase();
    const header = Object.assign({}, options.header || {});
    requests.push({method: method, url: options.url, header: header});
    if (!WX_METHODS.includes(method)) {
      setImmediate(() => options.fail && options.fail({errMsg: 'request:fail method is invalid'}));
      return;
    }
    let url = options.url;
    let body = null;
    if (options.data !== undefined && options.data !== null) {
      if (method === 'GET') {
        url += (url.includes('?') ? '&' : '?') + encodeQuery(options.data);
      } else {
        body = typeof options.data === 'string' ? options.data : JSON.stringify(options.data);
      }
    }
    if (body !== null) { header['Content-Length'] = Buffer.byteLength(body); }
    const transport = url.startsWith('https:') ? https : http;
    const req = transport.request(url, {method: method, headers: header, timeout: options.timeout || 60000}, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let data = text;
        try { data = JSON.parse(text); } catch (e) { /* dataType json falls back to the text */ }
        options.success && options.success({statusCode: res.statusCode, data: data, header: res.headers});
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => options.fail && options.fail({errMsg: 'request:fail ' + err.message}));
    if (body !== null) { req.write(body); }
    req.end();
  }

  return {
    requests: requests,
    request: request,
    logins: 0,
    login(options) { this.logins += 1; setImmediate(() => options.success({code: code, errMsg: 'login:ok'})); },
    getSystemInfoSync() { return {language: language || 'en', platform: 'devtools'}; },
    getStorageSync(key) { return storage.has(key) ? storage.get(key) : ''; },
    setStorageSync(key, value) { storage.set(key, value); },
    removeStorageSync(key) { storage.delete(key); }
  };
}

// Loads a page's script the way the mini-program runtime does (it calls Page({...}))
// and gives back an instance whose setData merges into data, as WeChat's does.
function loadPage(pagePath) {
  let definition = null;
  global.Page = (def) => { definition = def; };
  const file = require.resolve('../' + pagePath + '.js');
  delete require.cache[file];
  require(file);
  const page = Object.assign({}, definition, {data: Object.assign({}, definition.data)});
  page.setData = function (changes) { Object.assign(this.data, changes); };
  return page;
}

module.exports = {fakeWx, loadPage, WX_METHODS};
