// Signs in silently at launch (wx.login needs no tap), so a scan can go straight on.
const api = require('./utils/api.js');

App({
  onLaunch() {
    api.ensureLogin().catch((err) => console.warn('sign-in failed, will retry on first call', err));
  }
});
