// Where this mini-program's server lives.
//
// Production: your deployment of the service (https, and listed under "request legal
// domain" in the mini-program's admin console); people sign in with wx.login.
//
// Development (development: true): the server `make run-lan` starts on your computer, over
// plain http (in WeChat DevTools tick "Do not verify request domains, TLS versions and HTTPS
// certificates"); the mini-program signs in with a development code `dev:<devName>` instead
// of wx.login, which a development server accepts (it has no WeChat credentials).
const development = false;

module.exports = {
  development: development,
  baseUrl: development ? 'http://192.168.1.20:8000' : 'https://login.example.com',
  // The name a development sign-in uses (each name is its own user).
  devName: 'DevTools',
  // Your own storage for avatars: an https endpoint that takes a multipart upload
  // (field "file") and answers {"url": "https://..."}. Empty: avatars are not sent.
  // chooseAvatar gives only a temporary local file; the service accepts https URLs only.
  avatarUploadUrl: ''
};
